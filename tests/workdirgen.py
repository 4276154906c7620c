"""Fabricate labelclean work directories and synthetic embeddings without running `embed`.

Tests (and benchmarks) use these to exercise `score`, `select`, `evaluate`, `export`, ...
on data whose answer is known, in milliseconds and without a model:

    from workdirgen import make_clustered, make_workdir

    data = make_clustered(600, dim=32, n_classes=4, seed=0)
    noisy = data.labels.copy(); noisy[:60] = (noisy[:60] + 1) % 4
    wd = make_workdir(tmp_path / "w", data.X, noisy, data.class_names, T=data.T,
                      prompt_class_ids=data.prompt_class_ids,
                      extras={"clean_label": [data.class_names[i] for i in data.labels]})

The workdir holds what `embed` writes: ``manifest.parquet`` (classes in its metadata, extra
columns carried through), one embeddings part file, ``text.parquet`` when ``T`` is given,
and ``run.json`` with the model identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from labelclean.store import parquet_io, schemas
from labelclean.store.workdir import Workdir


@dataclass
class Synthetic:
    """Clustered unit vectors with known labels and matching 'text' prompt embeddings."""

    X: np.ndarray  # (N, D) float32, L2-normalised
    labels: np.ndarray  # (N,) int64 true class ids
    centroids: np.ndarray  # (K, D) float32
    T: np.ndarray  # (P, D) float32 prompt embeddings
    prompt_class_ids: np.ndarray  # (P,) int64
    class_names: list[str]


def make_clustered(
    n: int,
    *,
    dim: int = 64,
    n_classes: int = 10,
    spread: float = 1.0,
    intrinsic_dim: int = 32,
    prompts_per_class: int = 2,
    text_noise: float = 0.3,
    seed: int = 0,
) -> Synthetic:
    """Overlapping Gaussian clusters in a low-dimensional subspace, mapped onto the unit sphere.

    Like real embeddings, the class structure lives in few dimensions (``intrinsic_dim``),
    so nearest neighbours and linear probes see the same geometry. Classes come in pairs
    whose centroids are close (like cat/dog), so noise between them is harder to detect.
    ``spread`` scales the within-class spread (1.0: roughly 90 % of samples are closest
    to their own centroid; larger overlaps more). Prompt embeddings sit near their class
    centroid (``text_noise``).
    """
    rng = np.random.default_rng(seed)
    basis, centroids_low = _centroids(rng, dim, n_classes, intrinsic_dim)
    r = basis.shape[1]
    labels = rng.integers(0, n_classes, size=n).astype(np.int64)
    X = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 65536):
        stop = min(n, start + 65536)
        low = centroids_low[labels[start:stop]] + rng.standard_normal((stop - start, r)).astype(np.float32) * (0.6 * spread)
        ambient = rng.standard_normal((stop - start, dim)).astype(np.float32) * (0.3 / np.sqrt(dim))
        X[start:stop] = _unit(low @ basis.T / 3.0 + ambient)
    centroids = _unit(centroids_low @ basis.T)
    T, prompt_class_ids = _prompts(rng, centroids, prompts_per_class, text_noise)
    names = [f"class{c:03d}" for c in range(n_classes)]
    return Synthetic(X, labels, centroids, T, prompt_class_ids, names)


def _centroids(rng: np.random.Generator, dim: int, n_classes: int, intrinsic_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(D, r) orthonormal basis of the class subspace and (K, r) class centroids in it, in look-alike pairs."""
    r = min(intrinsic_dim, dim)
    basis = np.linalg.qr(rng.standard_normal((dim, r)))[0].astype(np.float32)
    base = rng.standard_normal((n_classes, r)).astype(np.float32)
    pair = np.repeat(rng.standard_normal(((n_classes + 1) // 2, r)).astype(np.float32), 2, axis=0)[:n_classes]
    return basis, _unit(base + 1.5 * pair) * 3.0


def _prompts(rng: np.random.Generator, centroids: np.ndarray, per_class: int, text_noise: float):
    """(P, D) prompt embeddings near their class centroid and their (P,) class ids."""
    dim = centroids.shape[1]
    pcid = np.repeat(np.arange(len(centroids)), per_class).astype(np.int64)
    tn = rng.standard_normal((len(pcid), dim)).astype(np.float32) * text_noise / np.sqrt(dim) * 3
    return _unit(centroids[pcid] + tn), pcid


def write_clustered_workdir(
    path: str | Path,
    n: int,
    *,
    dim: int = 512,
    n_classes: int = 100,
    noise_rate: float = 0.2,
    seed: int = 0,
    block: int = 100_000,
    workers: int = 1,
    spread: float = 1.0,
    intrinsic_dim: int = 32,
    prompts_per_class: int = 2,
    text_noise: float = 0.3,
) -> dict:
    """A ``make_clustered`` workdir of ``n`` samples written block by block (benchmarks at 10M).

    Same geometry as ``make_clustered`` (not the same draws): class centroids and prompts from
    ``seed``, then every ``block`` rows their own seeded true labels, points and symmetric label
    noise (``noise_rate`` of the labels moved to a uniformly drawn other class), written as
    float16 embeddings and manifest rows with a ``clean_label`` column. Memory is a block per
    worker, never the (N, D) matrix; ``workers`` > 1 makes blocks in forked processes (the
    output is the same). Returns counts: n, noisy, and the sum of the given labels (a checksum).
    """
    import pyarrow.parquet as pq

    from labelclean.store.parquet_io import COMPRESSION, dictionary_columns

    rng = np.random.default_rng(seed)
    basis, centroids_low = _centroids(rng, dim, n_classes, intrinsic_dim)
    T, pcid = _prompts(rng, _unit(centroids_low @ basis.T), prompts_per_class, text_noise)
    names = [f"class{c:03d}" for c in range(n_classes)]
    wd = Workdir(path).ensure()
    wd.embeddings_dir.mkdir(parents=True, exist_ok=True)
    gen = _ClusterBlocks(n, block, seed, noise_rate, spread, basis, centroids_low, names, f"{wd.root / 'data'}/")
    counts = {"n": n, "noisy": 0, "labels_sha": 0}
    starts = list(range(0, n, block))
    with pq.ParquetWriter(wd.manifest, gen.mschema, compression=COMPRESSION,
                          use_dictionary=dictionary_columns(gen.mschema)) as mw, \
            pq.ParquetWriter(wd.embeddings_dir / "part-00000-00000.parquet", gen.eschema, compression=COMPRESSION,
                             use_dictionary=dictionary_columns(gen.eschema)) as ew:
        for manifest, embeddings, noisy, label_sum in _blocks_in_order(gen, starts, workers):
            mw.write_table(manifest)
            ew.write_table(embeddings)
            counts["noisy"] += noisy
            counts["labels_sha"] += label_sum
    _write_text(wd, T, pcid, names, "test-model")
    wd.update_run("embed", {"fabricated": True, "n": n}, model={"model_id": "test-model"})
    return counts


@dataclass
class _ClusterBlocks:
    """One block of ``write_clustered_workdir``: its manifest and embeddings rows, from its own seed."""

    n: int
    block: int
    seed: int
    noise_rate: float
    spread: float
    basis: np.ndarray
    centroids_low: np.ndarray
    names: list[str]
    data: str  # path prefix of the (never written) image files

    def __post_init__(self):
        from labelclean.store.parquet_io import with_meta

        classes = [{"id": i, "name": c, "prompt_name": c} for i, c in enumerate(self.names)]
        self.mschema = with_meta(schemas.MANIFEST.append(pa.field("clean_label", pa.string())).empty_table(),
                                 "manifest", None, classes=classes).schema
        self.eschema = with_meta(schemas.embeddings_schema(self.basis.shape[0], pa.float16()).empty_table(),
                                 "embeddings", "test-model").schema

    def make(self, start: int) -> tuple[pa.Table, pa.Table, int, int]:
        m, k = min(self.n, start + self.block) - start, len(self.names)
        dim, r = self.basis.shape
        brng = np.random.default_rng([self.seed, start // self.block])
        truth = brng.integers(0, k, size=m)
        low = self.centroids_low[truth] + brng.standard_normal((m, r), dtype=np.float32) * np.float32(0.6 * self.spread)
        X = brng.standard_normal((m, dim), dtype=np.float32)
        X *= np.float32(0.3 / np.sqrt(dim))
        X += low @ (self.basis.T / np.float32(3.0))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        flip = brng.random(m) < self.noise_rate
        given = np.where(flip, (truth + brng.integers(1, k, size=m)) % k, truth)
        ids = [f"c{int(y)}/img{start + i:08d}.png" for i, y in enumerate(given)]
        sha = pa.array([hashlib.sha256(s.encode()).hexdigest() for s in ids], pa.string())
        ids_a, none, name_of = pa.array(ids, pa.string()), pa.nulls(m, pa.string()), pa.array(self.names, pa.string())
        manifest = pa.table({
            "sample_id": ids_a, "path": pa.array([self.data + s for s in ids], pa.string()),
            "label": name_of.take(pa.array(given)), "label_id": pa.array(given.astype(np.int32), pa.int32()),
            "sha256": sha, "size_bytes": pa.array(np.full(m, 1000), pa.int64()),
            "width": pa.array(np.full(m, 32, np.int32)), "height": pa.array(np.full(m, 32, np.int32)),
            "status": pa.array(["ok"] * m, pa.string()), "detail": none, "duplicate_of": none,
            "clean_label": name_of.take(pa.array(truth))}, schema=self.mschema)
        embeddings = pa.table({
            "sample_id": ids_a, "sha256": sha, "status": pa.array(["ok"] * m, pa.string()), "detail": none,
            "width": pa.array(np.full(m, 32, np.int32)), "height": pa.array(np.full(m, 32, np.int32)),
            "embedding": parquet_io.fixed_list(X, pa.float16())}, schema=self.eschema)
        return manifest, embeddings, int(flip.sum()), int(given.sum())


def _blocks_in_order(gen: "_ClusterBlocks", starts: list[int], workers: int):
    """``gen.make(start)`` for every start, in order; with workers > 1 at most 2 x workers blocks in flight."""
    if workers <= 1:
        yield from map(gen.make, starts)
        return
    import multiprocessing
    from collections import deque

    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_set_generator, initargs=(gen,))
    try:
        pending: deque = deque()
        for start in starts:
            pending.append(pool.apply_async(_make_block, (start,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
    finally:
        pool.terminate()


_GENERATOR: list = []


def _set_generator(gen: _ClusterBlocks) -> None:
    _GENERATOR[:] = [gen]


def _make_block(start: int):
    return _GENERATOR[0].make(start)


def make_workdir(
    path: str | Path,
    X: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    T: np.ndarray | None = None,
    prompt_class_ids: Sequence[int] | np.ndarray | None = None,
    extras: Mapping[str, Sequence[Any]] | None = None,
    sample_ids: Sequence[str] | None = None,
    duplicate_of: Sequence[str | None] | None = None,
    status: Sequence[str] | None = None,
    model_id: str = "test-model",
    embedding_dtype: pa.DataType = pa.float32(),
) -> Workdir:
    """Write a work directory as `labelclean embed` would have made it.

    Parameters
    ----------
    X : (N, D) embeddings, one per sample (rows of duplicates are ignored: they share
        their canonical sample's row, as in a real workdir).
    labels : (N,) given class ids (-1 for unlabelled rows).
    class_names : the K class names; ids are positions in this list.
    T, prompt_class_ids : (P, D) prompt embeddings and their class ids; omit both for a
        ``--from-features`` workdir without a text encoder.
    extras : extra manifest columns (e.g. ``{"clean_label": [...]}``), carried through.
    sample_ids : default ``c{label}/img{i:06d}.png``.
    duplicate_of : per sample, the sample_id of the identical file, or None.
    status : per sample, "ok" (default) or a reason code; non-ok rows get no embedding.
    """
    wd = Workdir(path).ensure()
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if X.shape[0] != n:
        raise ValueError(f"X has {X.shape[0]} rows but labels has {n}")
    ids = list(sample_ids) if sample_ids is not None else [f"c{int(y)}/img{i:06d}.png" for i, y in enumerate(labels)]
    dup = list(duplicate_of) if duplicate_of is not None else [None] * n
    stat = list(status) if status is not None else ["ok"] * n
    sha = _hashes(ids, dup)
    _write_manifest(wd, ids, labels, class_names, sha, stat, dup, extras or {}, model_id)
    _write_embeddings(wd, ids, X, sha, stat, dup, model_id, embedding_dtype)
    if T is not None:
        if prompt_class_ids is None:
            raise ValueError("T needs prompt_class_ids")
        _write_text(wd, np.asarray(T, np.float32), np.asarray(prompt_class_ids, np.int64), class_names, model_id)
    wd.update_run("embed", {"fabricated": True, "n": n}, model={"model_id": model_id})
    return wd


def _hashes(ids: list[str], dup: list[str | None]) -> list[str]:
    own = {s: hashlib.sha256(s.encode()).hexdigest() for s in ids}
    return [own[d] if d is not None else own[s] for s, d in zip(ids, dup)]


def _write_manifest(wd, ids, labels, class_names, sha, stat, dup, extras, model_id) -> None:
    n = len(ids)
    names = [class_names[y] if y >= 0 else None for y in labels]
    cols = {
        "sample_id": pa.array(ids, pa.string()),
        "path": pa.array([str(wd.root / "data" / s) for s in ids], pa.string()),
        "label": pa.array(names, pa.string()),
        "label_id": pa.array(labels, pa.int32()),
        "sha256": pa.array(sha, pa.string()),
        "size_bytes": pa.array([1000] * n, pa.int64()),
        "width": pa.array([32] * n, pa.int32()),
        "height": pa.array([32] * n, pa.int32()),
        "status": pa.array(stat, pa.string()),
        "detail": pa.array([None] * n, pa.string()),
        "duplicate_of": pa.array(dup, pa.string()),
    }
    table = pa.table(cols, schema=schemas.MANIFEST)
    for name, values in extras.items():
        table = table.append_column(name, pa.array(list(values)))
    classes = [{"id": i, "name": c, "prompt_name": c.replace("_", " ")} for i, c in enumerate(class_names)]
    parquet_io.write_table(wd.manifest, table, "manifest", model_id=None, classes=classes)


def _write_embeddings(wd, ids, X, sha, stat, dup, model_id, dtype) -> None:
    keep = [i for i in range(len(ids)) if stat[i] == "ok" and dup[i] is None]
    schema = schemas.embeddings_schema(X.shape[1], dtype)
    table = pa.table(
        {
            "sample_id": pa.array([ids[i] for i in keep], pa.string()),
            "sha256": pa.array([sha[i] for i in keep], pa.string()),
            "status": pa.array(["ok"] * len(keep), pa.string()),
            "detail": pa.array([None] * len(keep), pa.string()),
            "width": pa.array([32] * len(keep), pa.int32()),
            "height": pa.array([32] * len(keep), pa.int32()),
            "embedding": parquet_io.fixed_list(X[keep], dtype),
        },
        schema=schema,
    )
    wd.embeddings_dir.mkdir(parents=True, exist_ok=True)
    parquet_io.write_table(wd.embeddings_dir / "part-00000-00000.parquet", table, "embeddings", model_id=model_id)


def _write_text(wd, T, pcid, class_names, model_id) -> None:
    table = pa.table(
        {
            "class_id": pa.array(pcid, pa.int32()),
            "class_name": pa.array([class_names[c] for c in pcid], pa.string()),
            "prompt": pa.array([f"a photo of a {class_names[c]} #{j}" for j, c in enumerate(pcid)], pa.string()),
            "source": pa.array(["synthetic"] * len(pcid), pa.string()),
            "embedding": parquet_io.fixed_list(T, pa.float32()),
        },
        schema=schemas.text_schema(T.shape[1]),
    )
    parquet_io.write_table(wd.text, table, "text", model_id=model_id)


def _unit(a: np.ndarray) -> np.ndarray:
    return (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)).astype(np.float32)
