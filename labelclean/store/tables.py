"""Typed loaders for the tables later stages share: manifest, classes, embeddings, text.

Everything is joined on ``sample_id``; rows keep the manifest's order (sorted by sample_id).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labelclean.core.vectors import unit_rows
from labelclean.core.errors import WorkdirError
from labelclean.ingest.types import ClassInfo
from labelclean.store.joins import last_matching_rows
from labelclean.store.parquet_io import part_files, read_parts, read_table, streaming_file, to_numpy_2d
from labelclean.store.workdir import Workdir


@dataclass
class Embedded:
    """Image embeddings of the usable samples (status ok), L2-normalised, float32."""

    sample_ids: np.ndarray  # (N,) object
    labels: np.ndarray  # (N,) int64 given label ids
    X: np.ndarray  # (N, D) float32 (float16 when loaded so, as `score` does)
    canonical: np.ndarray  # (N,) object: sample_id whose file is identical (itself if unique)
    model_id: str


def gather_unit_rows(directory, order: np.ndarray, dtype, batch_rows: int = 65536) -> np.ndarray:
    """Rows ``order`` (indices into the part files' rows, concatenated) as unit vectors of ``dtype``.

    Streams the part files' embedding column in batches, so memory is the output plus one
    batch: 10M x 512 loads as float16 into 10 GB, never a float32 copy or the whole table.
    """
    out: np.ndarray | None = None
    by_row = np.argsort(order, kind="stable")  # output rows in the order their source rows come
    sorted_src = order[by_row]
    offset = 0
    for path in part_files(directory):
        with streaming_file(path) as f:
            if out is None:
                out = np.empty((order.size, f.schema_arrow.field("embedding").type.list_size), dtype=dtype)
            for batch in f.iter_batches(batch_size=batch_rows, columns=["embedding"]):
                lo, hi = np.searchsorted(sorted_src, [offset, offset + batch.num_rows])
                if hi > lo:
                    local = sorted_src[lo:hi] - offset
                    part = to_numpy_2d(batch.column(0).take(pa.array(local)), np.float32)
                    out[by_row[lo:hi]] = unit_rows(part)
                offset += batch.num_rows
    return out if out is not None else np.zeros((0, 0), dtype=dtype)


@dataclass
class TextEmbedded:
    class_ids: np.ndarray  # (P,) int64
    prompts: list[str]
    T: np.ndarray  # (P, D) float32, L2-normalised
    model_id: str


def load_manifest(wd: Workdir, columns: list[str] | None = None) -> tuple[pa.Table, dict]:
    wd.require(wd.manifest, "embed")
    return read_table(wd.manifest, "manifest", columns=columns)


def load_classes(wd: Workdir) -> list[ClassInfo]:
    wd.require(wd.manifest, "embed")
    from labelclean.store.parquet_io import read_meta

    meta = read_meta(wd.manifest)
    return [ClassInfo(int(c["id"]), c["name"], c["prompt_name"]) for c in meta.get("classes", [])]


def model_id(wd: Workdir) -> str:
    """The model identity recorded by `embed` (raises when nothing is embedded yet)."""
    mid = wd.read_run().get("model", {}).get("model_id")
    if not mid:
        raise WorkdirError(f"{wd.root} has no embeddings yet", f"run `labelclean embed DATA -w {wd.root}` first")
    return mid


def no_usable_message(data: object, counts: dict[str, int], manifest: object) -> str:
    """'no usable image in DATA: 3 not_image, 3 empty (see W/manifest.parquet)'."""
    parts = [f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if status != "ok"]
    return f"no usable image in {data}: {', '.join(parts) or 'no files'} (see {manifest})"


def load_embeddings(wd: Workdir, dtype=np.float32) -> Embedded:
    """Join manifest rows with status ok to their embedding (duplicates share one).

    ``dtype`` float16 keeps X at the 2 bytes a value `embed` stores (score at 1M x 512 holds
    1 GB instead of 2 GB plus temporaries); rows are normalised block by block in float32.
    """
    mid = model_id(wd)
    manifest, meta = load_manifest(wd, ["sample_id", "label_id", "sha256", "status", "duplicate_of"])
    statuses = manifest["status"]
    manifest = manifest.filter(pc.equal(manifest["status"], "ok"))
    if manifest.num_rows == 0:
        counts = {s["values"]: s["counts"] for s in pc.value_counts(statuses).to_pylist()}
        raise WorkdirError(no_usable_message(meta.get("source") or wd.root, counts, wd.manifest),
                           "fix or replace those files and run `labelclean embed` again")
    keyed = read_parts(wd.embeddings_dir, "embeddings", mid, columns=["sample_id", "sha256", "status"])[0]
    if keyed is None:
        raise WorkdirError(f"{wd.embeddings_dir} holds no embeddings", f"run `labelclean embed DATA -w {wd.root}`")
    sample_ids = np.asarray(manifest["sample_id"].to_pylist(), dtype=object)
    canonical = sample_ids.copy()  # the same str objects, not a second copy of every id
    has_dup = np.flatnonzero(manifest["duplicate_of"].is_valid().to_numpy(zero_copy_only=False))
    canonical[has_dup] = manifest["duplicate_of"].take(pa.array(has_dup)).to_pylist()
    order = _embedding_rows(keyed, pc.coalesce(manifest["duplicate_of"], manifest["sample_id"]), manifest["sha256"])
    del keyed
    if (order < 0).any():
        missing = sample_ids[order < 0]
        raise WorkdirError(
            f"{len(missing)} usable samples have no embedding yet (first: {missing[0]})",
            f"run `labelclean embed` again with -w {wd.root} to finish (it resumes)",
        )
    X = gather_unit_rows(wd.embeddings_dir, order, dtype)
    labels = manifest["label_id"].to_numpy().astype(np.int64)
    return Embedded(sample_ids, labels, X, canonical, mid)


def _embedding_rows(keyed: pa.Table, canonical: pa.ChunkedArray, sha256: pa.ChunkedArray) -> np.ndarray:
    """Per manifest row, the row of the part files holding (canonical, sha256) with status ok, or -1.

    The later row of a key wins; a null sha256 (imported features without the file) matches a
    null one of the same sample.
    """
    def key(ids, sha):
        return pa.table({"sample_id": ids.cast(pa.string()), "sha256": pc.fill_null(sha.cast(pa.string()), "")})

    ok = np.flatnonzero(pc.equal(keyed["status"], "ok").to_numpy(zero_copy_only=False))
    stored = key(keyed["sample_id"].take(pa.array(ok)), keyed["sha256"].take(pa.array(ok)))
    found = last_matching_rows(key(canonical, sha256), stored)
    return np.where(found >= 0, ok[np.maximum(found, 0)], -1) if ok.size else found


def load_text(wd: Workdir) -> TextEmbedded | None:
    """Prompt embeddings, or None when the workdir has no text encoder (--from-features)."""
    if not wd.text.exists():
        return None
    table, meta = read_table(wd.text, "text", model_id(wd))
    T = to_numpy_2d(table["embedding"])
    T = unit_rows(T)
    return TextEmbedded(table["class_id"].to_numpy().astype(np.int64), table["prompt"].to_pylist(), T, meta["model_id"])


def load_learned_prompts(wd: Workdir, method: str) -> TextEmbedded:
    """The class text features a trainer learned (prompts/<method>.parquet), as `load_text` returns them."""
    path = wd.learned_prompts(method)
    if not path.exists():
        raise WorkdirError(f"{path} does not exist", f"run `labelclean train -w {wd.root} --method {method}` first")
    table, meta = read_table(path, "learned_prompts", model_id(wd))
    T = unit_rows(to_numpy_2d(table["embedding"]))
    return TextEmbedded(table["class_id"].to_numpy().astype(np.int64), table["prompt"].to_pylist(), T, meta["model_id"])
