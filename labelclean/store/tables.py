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
from labelclean.store.parquet_io import read_parts, read_table, to_numpy_2d
from labelclean.store.workdir import Workdir


@dataclass
class Embedded:
    """Image embeddings of the usable samples (status ok), L2-normalised, float32."""

    sample_ids: np.ndarray  # (N,) object
    labels: np.ndarray  # (N,) int64 given label ids
    X: np.ndarray  # (N, D) float32 (float16 when loaded so, as `score` does)
    canonical: np.ndarray  # (N,) object: sample_id whose file is identical (itself if unique)
    model_id: str


def gather_unit_rows(column: pa.ChunkedArray, order: np.ndarray, dtype, block: int = 65536) -> np.ndarray:
    """Rows ``order`` of an Arrow embedding column as unit vectors of ``dtype``, block by block.

    Only one block is ever float32, so loading 1M x 512 as float16 needs the table plus 1 GB.
    """
    width = column.type.list_size
    out = np.empty((order.size, width), dtype=dtype)
    for start in range(0, order.size, block):
        part = to_numpy_2d(column.take(pa.array(order[start : start + block])), np.float32)
        out[start : start + block] = unit_rows(part)
    return out


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
    emb, _ = read_parts(wd.embeddings_dir, "embeddings", mid)
    if emb is None:
        raise WorkdirError(f"{wd.embeddings_dir} holds no embeddings", f"run `labelclean embed DATA -w {wd.root}`")
    sample_ids = np.asarray(manifest["sample_id"].to_pylist(), dtype=object)
    dup = manifest["duplicate_of"].to_pylist()
    canonical = np.asarray([d if d is not None else s for s, d in zip(sample_ids, dup)], dtype=object)
    keys = [f"{c}\x00{h}" for c, h in zip(canonical, manifest["sha256"].to_pylist())]
    emb_keys = {
        f"{s}\x00{h}": i for i, (s, h, st) in enumerate(zip(emb["sample_id"].to_pylist(), emb["sha256"].to_pylist(),
                                                            emb["status"].to_pylist())) if st == "ok"
    }
    missing = [s for s, k in zip(sample_ids, keys) if k not in emb_keys]
    if missing:
        raise WorkdirError(
            f"{len(missing)} usable samples have no embedding yet (first: {missing[0]})",
            f"run `labelclean embed` again with -w {wd.root} to finish (it resumes)",
        )
    order = np.fromiter((emb_keys[k] for k in keys), dtype=np.int64, count=len(keys))
    del emb_keys
    X = gather_unit_rows(emb["embedding"], order, dtype)
    labels = manifest["label_id"].to_numpy().astype(np.int64)
    return Embedded(sample_ids, labels, X, canonical, mid)


def load_text(wd: Workdir) -> TextEmbedded | None:
    """Prompt embeddings, or None when the workdir has no text encoder (--from-features)."""
    if not wd.text.exists():
        return None
    table, meta = read_table(wd.text, "text", model_id(wd))
    T = to_numpy_2d(table["embedding"])
    T = unit_rows(T)
    return TextEmbedded(table["class_id"].to_numpy().astype(np.int64), table["prompt"].to_pylist(), T, meta["model_id"])
