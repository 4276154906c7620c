"""The tables `embed` finishes with: manifest.parquet (every file found, with its status)
and text.parquet (one row per class prompt)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labelclean.embed.digests import Done, one_array
from labelclean.ingest.table import EXTRA, sort_unique
from labelclean.ingest.types import Discovered
from labelclean.core.errors import WorkdirError
from labelclean.core.reasons import Reason
from labelclean.store.parquet_io import fixed_list, read_meta, write_table
from labelclean.store.schemas import MANIFEST, text_schema
from labelclean.core.report import fingerprint
from labelclean.embed.plan import Scan
from labelclean.store.workdir import Workdir


def done_lookup(done: pa.Table) -> Done:
    """The finished part rows, to look up by (sample_id, sha256)."""
    return Done(done)


def missing_canonical(sc: Scan, lookup: Done | dict) -> list[str]:
    """Canonical samples that still have no finished embedding row."""
    lookup = Done.of(lookup)
    rows = np.flatnonzero(sc.is_canonical())
    found = lookup.rows(sc.ids.take(pa.array(rows)), sc.digests.sha[rows], sc.digests.has_sha[rows])
    return sc.ids.take(pa.array(rows[found < 0])).to_pylist()


def build_manifest(found: Discovered, sc: Scan, lookup: Done | dict, *, features: bool) -> pa.Table:
    """One row per discovered file: discovery, hashing and decoding statuses combined.

    Built column by column from the candidate table, the scan's arrays and the finished
    part rows (joined on (canonical sample_id, sha256)): no Python object per file; extra
    manifest columns are taken over as they are. ``lookup``: the finished rows (`Done`, or
    a dict (sample_id, sha256) -> (status, detail, width, height))."""
    lookup = Done.of(lookup)
    cands = found.candidates
    if not hasattr(cands, "column"):
        cands = sort_unique(list(cands), found.root)
    n = len(cands)
    ids, given = one_array(cands.column("sample_id")), one_array(cands.column("status"))
    usable = pc.is_null(given)
    if features:
        usable = pc.or_(usable, pc.fill_null(pc.equal(given, Reason.missing.value), False))
    pos = pc.fill_null(pc.index_in(ids, value_set=sc.ids), -1).to_numpy(zero_copy_only=False).astype(np.int64) \
        if n and len(sc.ids) else np.full(n, -1, np.int64)
    pos[~usable.to_numpy(zero_copy_only=False).astype(bool)] = -1
    has = pos >= 0  # hashed in the scan
    d = sc.digests
    canon = np.full(n, -1, dtype=np.int64)
    canon[has] = sc.canon[pos[has]]
    embedded = canon >= 0
    done_row = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(embedded)
    done_row[rows] = lookup.rows(sc.ids.take(pa.array(canon[rows])), d.sha[pos[rows]], d.has_sha[pos[rows]])
    if (embedded & (done_row < 0)).any():
        first = sc.ids[int(canon[np.flatnonzero(embedded & (done_row < 0))[0]])].as_py()
        raise WorkdirError(f"{first} has no embedding row yet", "run `labelclean embed` again; it resumes")
    is_done, is_hashed = pa.array(embedded), pa.array(has)
    status = pc.if_else(is_done, lookup.column("status", done_row),
                        pc.if_else(is_hashed, d.reason_array(pos), pc.fill_null(given, "ok")))
    detail = pc.if_else(is_done, lookup.column("detail", done_row),
                        pc.if_else(is_hashed, d.detail_array(pos), one_array(cands.column("detail"))))
    size = d.size[np.maximum(pos, 0)] if len(d) else np.zeros(n, np.int64)
    class_names = pa.array([c.name for c in found.classes], pa.string())
    class_ids = pa.array([c.id for c in found.classes], pa.int32())
    labels = one_array(cands.column("label"))
    label_id = pc.fill_null(class_ids.take(pc.index_in(labels, value_set=class_names)), -1) if n \
        else pa.array([], pa.int32())
    duplicate = embedded & (canon != pos)
    columns = {
        "sample_id": ids, "path": one_array(cands.paths()), "label": labels, "label_id": label_id,
        "sha256": d.sha_hex(pos), "size_bytes": pa.array(size, pa.int64(), mask=~has | (size < 0)),
        "width": lookup.column("width", done_row), "height": lookup.column("height", done_row),
        "status": status, "detail": pc.fill_null(detail, ""),
        "duplicate_of": sc.ids.take(pa.array(canon, pa.int64(), mask=~duplicate)),
    }
    table = pa.Table.from_arrays([one_array(columns[f.name]).cast(f.type) for f in MANIFEST], schema=MANIFEST)
    for name in found.extra_columns:
        table = table.append_column(name, cands.column(EXTRA + name))
    return table


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
