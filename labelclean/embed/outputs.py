"""The tables `embed` finishes with: manifest.parquet (every file found, with its status)
and text.parquet (one row per class prompt)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa

from labelclean.ingest.table import CHUNK_ROWS, EXTRA, extra_array
from labelclean.ingest.types import Discovered
from labelclean.core.errors import WorkdirError
from labelclean.core.reasons import Reason
from labelclean.store.parquet_io import fixed_list, read_meta, write_table
from labelclean.store.schemas import MANIFEST, text_schema
from labelclean.core.report import fingerprint
from labelclean.embed.plan import Scan
from labelclean.store.workdir import Workdir


def done_lookup(done: pa.Table) -> dict[tuple[str, str | None], tuple]:
    """(sample_id, sha256) -> (status, detail, width, height) from finished part rows."""
    cols = [done[c].to_pylist() for c in ("sample_id", "sha256", "status", "detail", "width", "height")]
    return {(s, h): rest for s, h, *rest in zip(*cols)}


def missing_canonical(sc: Scan, lookup: dict) -> list[str]:
    """Canonical samples that still have no finished embedding row."""
    return [s for s, c in sc.canonical.items() if s == c and (s, sc.digests[s].sha256) not in lookup]


def build_manifest(found: Discovered, sc: Scan, lookup: dict, *, features: bool) -> pa.Table:
    """One row per discovered file: discovery, hashing and decoding statuses combined.

    Built in Arrow chunks of `CHUNK_ROWS` rows from the candidate table's columns (no
    `Candidate` object is made); extra manifest columns are taken over as they are."""
    class_ids = {c.name: c.id for c in found.classes}
    usable = {None, Reason.missing.value} if features else {None}
    chunks: list[pa.Table] = []
    for ids, paths, labels, statuses, details in _candidate_columns(found.candidates):
        rows: dict[str, list] = {name: [] for name in MANIFEST.names}
        for sid, path, label, given, given_detail in zip(ids, paths, labels, statuses, details):
            d = sc.digests.get(sid) if given in usable else None
            canon = sc.canonical.get(sid)
            if d is None:
                status, detail, width, height = given or "ok", given_detail, None, None
            elif canon is None:
                status, detail, width, height = d.reason.value, d.detail, None, None
            else:
                hit = lookup.get((canon, d.sha256))
                if hit is None:
                    raise WorkdirError(f"{canon} has no embedding row yet", "run `labelclean embed` again; it resumes")
                status, detail, width, height = hit
            for name, value in (
                ("sample_id", sid), ("path", path), ("label", label), ("label_id", class_ids.get(label, -1)),
                ("sha256", d.sha256 if d else None), ("size_bytes", d.size if d else None),
                ("width", width), ("height", height), ("status", status), ("detail", detail or ""),
                ("duplicate_of", canon if canon not in (None, sid) else None),
            ):
                rows[name].append(value)
        chunks.append(pa.Table.from_pydict(rows, schema=MANIFEST))
    table = pa.concat_tables(chunks) if chunks else MANIFEST.empty_table()
    column = getattr(found.candidates, "column", None)
    for name in found.extra_columns:
        values = column(EXTRA + name) if column is not None else extra_array([c.extras.get(name) for c in found.candidates])
        table = table.append_column(name, values)
    return table


def _candidate_columns(candidates) -> Iterator[tuple[list, ...]]:
    """(sample_ids, paths as text, labels, status values or None, details) per batch."""
    if not hasattr(candidates, "column"):
        cs = list(candidates)
        yield ([c.sample_id for c in cs], [str(c.path) for c in cs], [c.label for c in cs],
               [c.status.value if c.status else None for c in cs], [c.detail for c in cs])
        return
    table = candidates.table.select(["sample_id", "label", "status", "detail"]).append_column(
        "full_path", candidates.paths())
    for batch in table.to_batches(max_chunksize=CHUNK_ROWS):
        yield tuple(batch.column(n).to_pylist() for n in ("sample_id", "full_path", "label", "status", "detail"))


def write_manifest(wd: Workdir, found: Discovered, table: pa.Table, model_id: str) -> dict[str, int]:
    """Write manifest.parquet atomically; return counts by status."""
    classes = [{"id": c.id, "name": c.name, "prompt_name": c.prompt_name} for c in found.classes]
    write_table(
        wd.manifest, table, "manifest", model_id,
        classes=classes, data_root=str(found.root), source=str(found.source), kind=found.kind,
    )
    return dict(Counter(table["status"].to_pylist()).most_common())


@dataclass
class TextResult:
    prompts: int = 0
    reused: bool = False
    fallback_classes: list[str] = field(default_factory=list)
    skipped: str = ""  # why no text.parquet was written


def write_text(wd: Workdir, encoder: Any, found: Discovered, *, templates: str, descriptions: str | None) -> TextResult:
    """Embed every (class, prompt) into text.parquet, unless an identical one exists.

    ``encoder`` is the embed `Source`. The table carries its ``model_id``; the model that
    embedded the prompts (``text_model_id``: another one when image features were imported and
    ``--model`` gave the text tower) is recorded as ``text_model`` and is part of the fingerprint.
    """
    from labelclean.model.prompts import build_prompts, missing_description_classes

    if not found.classes:
        return TextResult(skipped="no classes")
    prompts = build_prompts(found.classes, templates=templates, descriptions=descriptions)
    fallback = [c.name for c in missing_description_classes(found.classes, descriptions)] if descriptions else []
    text_model = getattr(encoder, "text_model_id", encoder.model_id)
    fp = fingerprint([(p.class_id, p.text, p.source) for p in prompts] + [text_model])
    if _unchanged(wd, encoder.model_id, fp):
        return TextResult(len(prompts), True, fallback)
    T = encoder.encode_texts([p.text for p in prompts])
    table = text_table(found, [p.class_id for p in prompts], [p.text for p in prompts], [p.source for p in prompts], T)
    write_table(wd.text, table, "text", encoder.model_id, prompts_fingerprint=fp,
                templates=templates, descriptions=descriptions, text_model=text_model,
                logit_scale=encoder.logit_scale)
    return TextResult(len(prompts), False, fallback)


def write_imported_text(wd: Workdir, text: Any, found: Discovered, model_id: str) -> TextResult:
    """Write imported prompt embeddings (`embed.text_features.TextFeatures`) as text.parquet."""
    fp = fingerprint([text.sha256, text.class_ids.tolist(), text.prompts])
    if _unchanged(wd, model_id, fp):
        return TextResult(len(text.prompts), True)
    table = text_table(found, text.class_ids.tolist(), text.prompts, [text.source] * len(text.prompts), text.vectors)
    write_table(wd.text, table, "text", model_id, prompts_fingerprint=fp, **text.identity)
    return TextResult(len(text.prompts), False)


def text_table(found: Discovered, class_ids: list[int], prompts: list[str], sources: list[str], T) -> pa.Table:
    """The text.parquet table: one row per (class, prompt) with its unit embedding."""
    names = {c.id: c.name for c in found.classes}
    return pa.Table.from_arrays(
        [
            pa.array(class_ids, pa.int32()),
            pa.array([names[i] for i in class_ids], pa.string()),
            pa.array(prompts, pa.string()),
            pa.array(sources, pa.string()),
            fixed_list(T, pa.float32()),
        ],
        schema=text_schema(T.shape[1]),
    )


def _unchanged(wd: Workdir, model_id: str, fp: str) -> bool:
    if not wd.text.exists():
        return False
    meta = read_meta(wd.text)
    return meta.get("model_id") == model_id and meta.get("prompts_fingerprint") == fp


def drop_text(wd: Workdir) -> bool:
    """Remove text.parquet (the source has no text side now: another model, or no --text-features)."""
    if wd.text.exists():
        wd.text.unlink()
        return True
    return False
