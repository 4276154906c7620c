"""Reviewer decisions and the effective selection every later stage uses.

Reviewing suspected mislabels
-----------------------------
``labelclean export`` writes ``relabels.csv`` with an empty ``decision`` column. Fill it in
(spreadsheet or editor) and import it with ``labelclean review -w W --decisions relabels.csv``.
Any CSV or JSONL file works as long as it has a ``decision`` column and either ``sample_id``
or ``path`` (the path as written by export: relative to the data root, or absolute).

Decision values (case-insensitive; a blank decision means "not reviewed"):

``accept``
    Accept the automatic choice. A flagged sample with a suggested label is kept with the
    suggested label; a flagged sample without a suggestion is confirmed wrong and not kept;
    a clean sample is kept with its given label.
``reject``
    The given label is right: keep the sample with its given label.
``relabel:<class>``
    Keep the sample with ``<class>`` (a class name, or its prompt name).
``drop``
    Do not keep the sample.

Decisions are stored in ``W/decisions.parquet``. ``score`` and ``select`` never touch that
file, so decisions survive re-running them; they override the automatic choice in every
later ``export``, ``train`` and ``report``. Importing again updates decisions per sample
(``--replace`` discards earlier ones first).

Without a decision, the automatic choice applies: a sample is kept iff ``select`` found it
clean. With ``apply_relabels`` (``export --apply-relabels``), flagged samples with a suggested
label whose ``suggested_confidence >= min_confidence`` are kept with the suggested label too.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import pyarrow as pa

from labelclean.core.errors import InputError, WorkdirError
from labelclean.store.parquet_io import read_table
from labelclean.store.schemas import DECISIONS
from labelclean.ingest.types import ClassInfo
from labelclean.store.tables import load_classes
from labelclean.store.workdir import Workdir

DECISION_CHOICES = ("accept", "reject", "drop", "relabel:<class>")
EFFECTIVE_COLUMNS = ("final_label_id", "keep", "reviewed", "review_decision")


@dataclass(frozen=True)
class _Decision:
    decision: str  # accept | reject | drop | relabel
    label: str | None  # class name for relabel


def parse_decision(value: str, classes: list[ClassInfo]) -> _Decision | None:
    """Parse one decision cell; None for a blank cell. Raises ValueError with the valid choices."""
    text = (value or "").strip()
    if not text:
        return None
    kind, sep, target = text.partition(":")
    kind = kind.strip().lower()
    if kind in ("accept", "reject", "drop") and not sep:
        return _Decision(kind, None)
    if kind == "relabel" and sep:
        return _Decision("relabel", _class_name(target.strip(), classes))
    raise ValueError(f"unknown decision '{text}'; use one of: {', '.join(DECISION_CHOICES)}")


def _class_name(target: str, classes: list[ClassInfo]) -> str:
    for c in classes:
        if target == c.name:
            return c.name
    for c in classes:
        if target == c.prompt_name:
            return c.name
    names = ", ".join(c.name for c in classes)
    raise ValueError(f"unknown class '{target}' in relabel:{target}; valid classes: {names}")


def _iter_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, row dict) from a CSV or JSONL file."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{lineno}: expected a JSON object per line")
                yield lineno, {k: "" if v is None else str(v) for k, v in row.items()}
        return
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        _check_header(path, reader.fieldnames or [])
        for row in reader:
            yield reader.line_num, {k: v or "" for k, v in row.items() if k is not None}


def _check_header(path: Path, names: list[str]) -> None:
    if "decision" not in names or not ({"sample_id", "path"} & set(names)):
        raise InputError(
            f"{path}: needs a 'decision' column and a 'sample_id' or 'path' column (found: {', '.join(names) or 'none'})",
            "edit the relabels.csv written by `labelclean export` and keep its header line",
        )


def read_decisions(
    path: Path, classes: list[ClassInfo], *, path_to_id: Mapping[str, str] | None = None
) -> pa.Table:
    """Parse a reviewer's decisions file into a ``schemas.DECISIONS`` table.

    Parameters
    ----------
    path : Path
        CSV (e.g. the edited ``relabels.csv``) or JSONL with ``decision`` and ``sample_id`` or
        ``path`` columns. Rows with a blank decision are skipped (not reviewed).
    classes : list of ClassInfo
        Valid targets for ``relabel:<class>``.
    path_to_id : mapping, optional
        Maps a ``path`` value (relative or absolute, as export wrote it) to its sample_id;
        used only for rows without a ``sample_id``.

    Returns
    -------
    pa.Table
        One row per reviewed sample, sorted by sample_id. Raises InputError naming the file
        and line for an unknown decision or class, or for conflicting duplicate rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"decisions file {path} does not exist", "pass the edited relabels.csv with --decisions")
    seen: dict[str, tuple[int, _Decision]] = {}
    for lineno, row in _iter_rows(path):
        try:
            dec = parse_decision(row.get("decision", ""), classes)
        except ValueError as e:
            raise InputError(f"{path}:{lineno}: {e}") from None
        if dec is None:
            continue
        sid = _sample_id(row, path_to_id)
        if not sid:
            raise InputError(f"{path}:{lineno}: the row has a decision but no sample_id or path")
        if sid in seen and seen[sid][1] != dec:
            raise InputError(
                f"{path}:{lineno}: conflicting decisions for {sid} (also on line {seen[sid][0]})",
                "keep one decision per sample",
            )
        seen[sid] = (lineno, dec)
    ids = sorted(seen)
    return pa.table(
        {
            "sample_id": ids,
            "decision": [seen[s][1].decision for s in ids],
            "label": [seen[s][1].label for s in ids],
            "source": [str(path)] * len(ids),
        },
        schema=DECISIONS,
    )


def _sample_id(row: dict, path_to_id: Mapping[str, str] | None) -> str:
    sid = row.get("sample_id", "").strip()
    if sid:
        return sid
    p = row.get("path", "").strip()
    if path_to_id is not None and p in path_to_id:
        return path_to_id[p]
    return p.removeprefix("./")


def merge_decisions(old: pa.Table | None, new: pa.Table) -> pa.Table:
    """Upsert: decisions in ``new`` replace those in ``old`` for the same sample_id."""
    if old is None or old.num_rows == 0:
        return new
    replaced = set(new["sample_id"].to_pylist())
    keep = [i for i, s in enumerate(old["sample_id"].to_pylist()) if s not in replaced]
    merged = pa.concat_tables([old.select(DECISIONS.names).cast(DECISIONS).take(keep), new])
    order = np.argsort(np.asarray(merged["sample_id"].to_pylist(), dtype=object), kind="stable")
    return merged.take(order)


def load_decisions(wd: Workdir) -> pa.Table | None:
    """W/decisions.parquet, or None when nothing was reviewed yet."""
    if not wd.decisions.exists():
        return None
    table, _ = read_table(wd.decisions, "decisions")
    return table


def describe(decision: str, label: str | None) -> str:
    """The text form of a stored decision: accept, reject, drop or relabel:<class>."""
    return f"relabel:{label}" if decision == "relabel" else decision


def effective_selection(wd: Workdir, *, apply_relabels: bool = False, min_confidence: float = 0.0) -> pa.Table:
    """selection.parquet with reviewer decisions applied (see the module docstring).

    Returns every SELECTION column plus ``final_label_id`` (int32, the label a trainer should
    use), ``keep`` (bool, the sample belongs in the cleaned set), ``reviewed`` (bool) and
    ``review_decision`` (str or null: accept, reject, drop, relabel:<class>).
    """
    wd.require(wd.selection, "select")
    selection, _ = read_table(wd.selection, "selection")
    return resolve(
        selection, load_decisions(wd), load_classes(wd), apply_relabels=apply_relabels, min_confidence=min_confidence
    )


def resolve(
    selection: pa.Table,
    decisions: pa.Table | None,
    classes: list[ClassInfo],
    *,
    apply_relabels: bool = False,
    min_confidence: float = 0.0,
) -> pa.Table:
    """Pure part of :func:`effective_selection`: join on sample_id and apply the rules."""
    clean = selection["clean"].to_numpy(zero_copy_only=False).astype(bool)
    given = selection["label_id"].to_numpy(zero_copy_only=False).astype(np.int32)
    sugg_col = selection["suggested_label_id"]
    has_sugg = ~np.asarray(sugg_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    sugg = sugg_col.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    conf = selection["suggested_confidence"].fill_null(0.0).to_numpy(zero_copy_only=False)

    keep, final = clean.copy(), given.copy()
    if apply_relabels:
        auto = ~clean & has_sugg & (conf >= min_confidence)
        keep[auto], final[auto] = True, sugg[auto]
    reviewed = np.zeros(len(clean), dtype=bool)
    texts: list[str | None] = [None] * len(clean)
    if decisions is not None and decisions.num_rows:
        index = {s: i for i, s in enumerate(selection["sample_id"].to_pylist())}
        ids_by_name = {c.name: c.id for c in classes}
        for sid, dec, label in zip(*(decisions[c].to_pylist() for c in ("sample_id", "decision", "label"))):
            i = index.get(sid)
            if i is None:
                continue
            keep[i], final[i] = _apply(dec, label, clean[i], given[i], sugg[i] if has_sugg[i] else None, ids_by_name)
            reviewed[i], texts[i] = True, describe(dec, label)
    extra = {
        "final_label_id": pa.array(final, pa.int32()),
        "keep": pa.array(keep, pa.bool_()),
        "reviewed": pa.array(reviewed, pa.bool_()),
        "review_decision": pa.array(texts, pa.string()),
    }
    table = selection.drop_columns([c for c in EFFECTIVE_COLUMNS if c in selection.column_names])
    for name, col in extra.items():
        table = table.append_column(name, col)
    return table


def _apply(
    decision: str, label: str | None, clean: bool, given: int, sugg: int | None, ids_by_name: dict[str, int]
) -> tuple[bool, int]:
    """(keep, final label id) for one reviewed sample."""
    if decision == "reject":
        return True, given
    if decision == "drop":
        return False, given
    if decision == "accept":
        if clean:
            return True, given
        return (True, sugg) if sugg is not None else (False, given)
    if decision == "relabel":
        if label not in ids_by_name:
            raise WorkdirError(
                f"a stored decision relabels to '{label}', which is not a class of this workdir",
                "import the decisions again with `labelclean review --replace`",
            )
        return True, ids_by_name[label]
    raise WorkdirError(f"decisions.parquet holds an unknown decision '{decision}'", "re-import the decisions")
