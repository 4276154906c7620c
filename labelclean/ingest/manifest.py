"""Read a dataset manifest (CSV, TSV, JSONL or Parquet) into discovery candidates.

Columns:

- the path column is the first present of ``path``, ``filepath``, ``file_path``, ``file``,
  ``filename``, ``image``, ``image_path``; the label column the first present of ``label``,
  ``class``, ``class_name``, ``target``. All other columns are carried through as extras
  (an empty CSV cell becomes null).
- Labels are text: numbers become their decimal string (3.0 -> "3"), spaces are trimmed,
  and an empty or null label means ``unlabeled``. Classes are the sorted unique labels,
  numerically when every label is an integer ("2" before "10"), else in string order
  (labels of missing or outside-root files count too);
  ``--classes`` fixes them instead, and labels it does not list become ``unlabeled``.

Paths: relative paths resolve against the manifest's folder (or an explicit root). The
path is normalised lexically (``a/../b`` -> ``b``; symlinks are not resolved); one that
then lies outside the root gets ``outside_root`` unless ``allow_outside_root`` (its sample
id is then the absolute path). Files not on disk get ``missing``. Listing the same file
twice is an error naming both rows. Row positions are reported as ``line N`` for CSV/JSONL
and ``row N`` (1-based) for Parquet.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from labelclean.ingest.classes_file import default_prompt_name
from labelclean.ingest.types import DATA_HINT, Candidate, ClassInfo, Discovered, nfc, sort_unique
from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason

KINDS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
PATH_COLUMNS = ("path", "filepath", "file_path", "file", "filename", "image", "image_path")
LABEL_COLUMNS = ("label", "class", "class_name", "target")
JSONL_HINT = "write one JSON object per line"

Row = tuple[str, dict[str, Any]]  # (where, values), e.g. ("line 3", {...})


def discover_manifest(
    source: Path, named: list[tuple[str, str]] | None, *, root: Path | None, allow_outside_root: bool
) -> Discovered:
    kind = KINDS.get(source.suffix.lower())
    if kind is None:
        raise InputError(
            f"{source} is neither a folder nor a manifest (unknown extension {source.suffix!r})", DATA_HINT
        )
    rows, columns = _read_rows(source, kind)
    if not rows:
        raise InputError(f"the manifest {source} has no rows", "add one row per image with path and label columns")
    path_col, label_col = _pick_columns(columns, source)
    extra_columns = [c for c in columns if c not in (path_col, label_col)]
    root = Path(root).expanduser().resolve() if root is not None else source.parent
    seen: dict[str, str] = {}
    candidates: list[Candidate] = []
    for where, values in rows:
        c = _candidate(values, where, path_col, label_col, extra_columns, root, allow_outside_root, source)
        if c.sample_id in seen:
            raise InputError(
                f"the manifest {source} lists {c.sample_id} twice ({seen[c.sample_id]} and {where})",
                "keep one row per file",
            )
        seen[c.sample_id] = where
        candidates.append(c)
    classes = _classes(candidates, named, source)
    return Discovered(root, source, kind, classes, sort_unique(candidates, root), extra_columns)


def _read_rows(source: Path, kind: str) -> tuple[list[Row], list[str]]:
    try:
        if kind == "parquet":
            return _parquet_rows(source)
        with open(source, encoding="utf-8-sig", newline="") as f:
            if kind == "csv":
                return _csv_rows(f, source, "\t" if source.suffix.lower() == ".tsv" else ",")
            return _jsonl_rows(f, source)
    except UnicodeDecodeError as e:
        raise InputError(f"the manifest {source} is not UTF-8 text", "save it as UTF-8") from e
    except OSError as e:
        hint = "check the path and permissions"
        raise InputError(f"cannot read the manifest {source}: {e.strerror or e}", hint) from e


def _csv_rows(f, source: Path, delimiter: str) -> tuple[list[Row], list[str]]:
    reader = csv.DictReader(f, delimiter=delimiter)
    try:
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        rows = []
        for values in reader:
            if None in values:
                raise InputError(
                    f"the manifest {source} has more fields than header columns on line {reader.line_num}",
                    "quote values that contain the delimiter",
                )
            rows.append((f"line {reader.line_num}", {k: (v if v != "" else None) for k, v in values.items()}))
    except csv.Error as e:
        raise InputError(f"the manifest {source} is not valid CSV (line {reader.line_num}): {e}", DATA_HINT) from e
    return rows, columns


def _jsonl_rows(f, source: Path) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    columns: dict[str, None] = {}
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"the manifest {source} has invalid JSON on line {n}: {e.msg}", JSONL_HINT) from e
        if not isinstance(values, dict):
            raise InputError(f"line {n} of the manifest {source} is not a JSON object", JSONL_HINT)
        columns.update(dict.fromkeys(values))
        rows.append((f"line {n}", values))
    return rows, list(columns)


def _parquet_rows(source: Path) -> tuple[list[Row], list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"cannot read the Parquet manifest {source}: {e}", "check that it is a Parquet file") from e
    return [(f"row {n}", values) for n, values in enumerate(table.to_pylist(), 1)], table.column_names


def _pick_columns(columns: list[str], source: Path) -> tuple[str, str]:
    path_col = next((c for c in PATH_COLUMNS if c in columns), None)
    label_col = next((c for c in LABEL_COLUMNS if c in columns), None)
    if path_col is None or label_col is None:
        raise InputError(
            f"the manifest {source} needs a path and a label column; it has: {', '.join(columns) or 'none'}",
            f"name them `path` and `label` (also accepted: {', '.join(PATH_COLUMNS[1:])}; "
            f"{', '.join(LABEL_COLUMNS[1:])})",
        )
    return path_col, label_col


def _candidate(values, where, path_col, label_col, extra_columns, root, allow_outside_root, source) -> Candidate:
    raw = values.get(path_col)
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(
            f"the manifest {source} has no path on {where} (found {raw!r})",
            f"fill the `{path_col}` column with a file path on every row",
        )
    full = Path(os.path.normpath(root / raw))
    label = _label(values.get(label_col))
    extras = {c: values.get(c) for c in extra_columns}
    rel = os.path.relpath(full, root)
    if rel == ".." or rel.startswith(".." + os.sep):
        if not allow_outside_root:
            detail = f"{where} points outside the data root {root}"
            return Candidate(nfc(full.as_posix()), full, label, extras, Reason.outside_root, detail)
        sample_id = nfc(full.as_posix())
    else:
        sample_id = nfc(Path(rel).as_posix())
    if not os.path.exists(full):
        return Candidate(sample_id, full, label, extras, Reason.missing, f"listed on {where} but not on disk")
    if label is None:
        return Candidate(sample_id, full, None, extras, Reason.unlabeled, f"no label on {where}")
    return Candidate(sample_id, full, label, extras)


def _label(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = nfc(str(value).strip())
    return text or None


def _classes(candidates: list[Candidate], named: list[tuple[str, str]] | None, source: Path) -> list[ClassInfo]:
    if named is not None:
        listed = {n for n, _ in named}
        for c in candidates:
            if c.status is None and c.label is not None and c.label not in listed:
                c.status, c.detail = Reason.unlabeled, f"label {c.label!r} is not in the --classes file"
        return [ClassInfo(i, n, p) for i, (n, p) in enumerate(named)]
    labels = {c.label for c in candidates if c.label is not None}
    if not labels:
        raise InputError(f"the manifest {source} has no labelled rows", "fill the label column")
    numeric = all(_is_int(x) for x in labels)
    names = sorted(labels, key=lambda x: (int(x), x)) if numeric else sorted(labels)
    return [ClassInfo(i, n, default_prompt_name(n)) for i, n in enumerate(names)]


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()
