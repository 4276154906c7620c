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
    X: np.ndarray  # (N, D) float32
    canonical: np.ndarray  # (N,) object: sample_id whose file is identical (itself if unique)
    model_id: str


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


def load_embeddings(wd: Workdir) -> Embedded:
    """Join manifest rows with status ok to their embedding (duplicates share one)."""
    mid = model_id(wd)
    manifest, meta = load_manifest(wd, ["sample_id", "label_id", "sha256", "status", "duplicate_of"])
    statuses = manifest["status"]
    manifest = manifest.filter(pc.equal(manifest["status"], "ok"))
    if manifest.num_rows == 0:
        counts = {s["values"]: s["counts"] for s in pc.value_counts(statuses).to_pylist()}
        raise WorkdirError(no_usable_message(meta.get("source") or wd.root, counts, wd.manifest),
                           "fix or replace those files and run `labelclean embed` again")
    emb, _ = read_parts(wd.embeddings_dir, "embeddings", mid)
    if emb is not None:
        emb = emb.filter(pc.equal(emb["status"], "ok"))
    if emb is None:
        raise WorkdirError(f"{wd.embeddings_dir} holds no embeddings", f"run `labelclean embed DATA -w {wd.root}`")
    sample_ids = np.asarray(manifest["sample_id"].to_pylist(), dtype=object)
    dup = manifest["duplicate_of"].to_pylist()
    canonical = np.asarray([d if d is not None else s for s, d in zip(sample_ids, dup)], dtype=object)
    keys = [f"{c}\x00{h}" for c, h in zip(canonical, manifest["sha256"].to_pylist())]
    emb_keys = {
        f"{s}\x00{h}": i for i, (s, h) in enumerate(zip(emb["sample_id"].to_pylist(), emb["sha256"].to_pylist()))
    }
    missing = [s for s, k in zip(sample_ids, keys) if k not in emb_keys]
    if missing:
        raise WorkdirError(
            f"{len(missing)} usable samples have no embedding yet (first: {missing[0]})",
            f"run `labelclean embed` again with -w {wd.root} to finish (it resumes)",
        )
    X = to_numpy_2d(emb["embedding"])[[emb_keys[k] for k in keys]]
    X = unit_rows(X)
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


def load_learned_prompts(wd: Workdir, method: str) -> TextEmbedded:
    """The class text features a trainer learned (prompts/<method>.parquet), as `load_text` returns them."""
    path = wd.learned_prompts(method)
    if not path.exists():
        raise WorkdirError(f"{path} does not exist", f"run `labelclean train -w {wd.root} --method {method}` first")
    table, meta = read_table(path, "learned_prompts", model_id(wd))
    T = unit_rows(to_numpy_2d(table["embedding"]))
    return TextEmbedded(table["class_id"].to_numpy().astype(np.int64), table["prompt"].to_pylist(), T, meta["model_id"])
