"""probs/<estimator>.parquet: each estimator's (N, K) class probabilities, stored compactly.

The one writer (``write_probs``) and the one reader (``load_probs``) of score's probability
matrices; select, export's top-3 and the report read them only through ``load_probs``.

Two layouts, recorded as ``layout`` in the table's metadata:

- ``dense`` (K <= DENSE_MAX_CLASSES): ``probs`` fixed_size_binary(2K) per sample, the row's K
  little-endian IEEE float16 values (2 bytes a cell, half of float32; one binary value a row
  decodes about 4x faster than a list<float16> column, whose every cell carries Parquet levels),
  plus the given label's probability in float32 (``p_given``), so the number every score is
  built from keeps full precision (float16 flushes p < 6e-8 to 0).
- ``topk`` (K above): the ``top_k`` largest probabilities (``top_ids`` int32, ``top_probs``
  float16), ``p_given`` (float32) and ``rest``, the mass of every class not stored, spread
  evenly over them when read (the normaliser: rows still sum to 1). 100k x 10,000 classes is
  100k x (32 * 6 + 12) bytes instead of 4 GB.

Both carry ``label_id``. A file written by older versions (``probs`` list<float32>[K], no
``layout``) reads as dense.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.core.errors import WorkdirError
from labelclean.core.vectors import block_rows
from labelclean.store import parquet_io
from labelclean.store.workdir import Workdir

DENSE_MAX_CLASSES = 256  # up to here every cell is stored (float16); above, the top-k
TOP_K = 32  # probabilities stored per sample in the topk layout
TABLE = "probs"


def probs_path(wd: Workdir, est: str) -> Path:
    return wd.probs_dir / f"{est}.parquet"


def layout_for(n_classes: int) -> str:
    return "dense" if n_classes <= DENSE_MAX_CLASSES else "topk"


def probs_schema(n_classes: int, layout: str, top_k: int = TOP_K) -> pa.Schema:
    head = [("sample_id", pa.string()), ("label_id", pa.int32()), ("p_given", pa.float32())]
    if layout == "dense":
        return pa.schema(head + [("probs", pa.binary(2 * n_classes))])
    return pa.schema(head + [("top_ids", pa.list_(pa.int32(), top_k)), ("top_probs", pa.list_(pa.float16(), top_k)),
                             ("rest", pa.float32())])


def write_probs(wd: Workdir, est: str, sample_ids: pa.Array, labels: np.ndarray, P: np.ndarray, *,
                model_id: str | None, top_k: int = TOP_K, **meta: Any) -> Path:
    """Write estimator ``est``'s (N, K) probabilities (rows = ``sample_ids``) atomically; returns the path."""
    step = block_rows(P.shape[1])
    with ProbsWriter(wd, est, sample_ids, labels, P.shape[1], model_id=model_id, top_k=top_k, **meta) as w:
        for start in range(0, P.shape[0], step):
            w.add(P[start : start + step])
    return w.path


class ProbsWriter:
    """Writes probs/<estimator>.parquet block by block (a row group per block), atomically.

    ``add`` takes the next rows' (b, K) probabilities in order; leaving the ``with`` block
    renames the file into place when every row arrived, and leaves nothing behind on an error.
    Memory is one block, so `score` can stream an estimator's rows to disk without its
    (N, K) matrix.
    """

    def __init__(self, wd: Workdir, est: str, sample_ids: pa.Array, labels: np.ndarray, n_classes: int, *,
                 model_id: str | None, top_k: int = TOP_K, **meta: Any):
        self.k, self.layout = int(n_classes), layout_for(n_classes)
        self.top_k = min(top_k, self.k)
        self.ids, self.labels = sample_ids, np.asarray(labels, dtype=np.int64)
        self.row = 0
        self.path = probs_path(wd, est)
        self.schema = parquet_io.with_meta(
            probs_schema(self.k, self.layout, self.top_k).empty_table(), TABLE, model_id=model_id, estimator=est,
            layout=self.layout, n_classes=self.k, top_k=self.top_k if self.layout == "topk" else None, **meta).schema
        self._atomic = None
        self._writer = None

    def __enter__(self) -> "ProbsWriter":
        from labelclean.store.workdir import atomic_path

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(tmp, self.schema, compression=parquet_io.COMPRESSION,
                                        use_dictionary=parquet_io.dictionary_columns(self.schema))
        return self

    def add(self, block: np.ndarray) -> None:
        """Append the next ``block.shape[0]`` rows (higher = more likely that class)."""
        block = np.asarray(block, dtype=np.float32)
        b = block.shape[0]
        if self.row + b > self.labels.shape[0] or block.shape[1:] != (self.k,):
            raise ValueError(f"block of shape {block.shape} does not fit rows {self.row}.. of "
                             f"{self.labels.shape[0]} x {self.k}")
        given = self.labels[self.row : self.row + b]
        rows = np.arange(b)
        cols: dict[str, Any] = {"sample_id": self.ids.slice(self.row, b),
                                "label_id": pa.array(given.astype(np.int32), pa.int32()),
                                "p_given": pa.array(block[rows, given], pa.float32())}
        if self.layout == "dense":
            cols["probs"] = half_rows(block.astype(np.float16))
        else:
            top = np.argpartition(-block, self.top_k - 1, axis=1)[:, : self.top_k]
            vals = np.take_along_axis(block, top, axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")
            top, vals = np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)
            stored = vals.sum(axis=1, dtype=np.float64) + np.where((top == given[:, None]).any(axis=1), 0.0,
                                                                    block[rows, given])
            cols["top_ids"] = parquet_io.fixed_list(top.astype(np.int32), pa.int32())
            cols["top_probs"] = parquet_io.fixed_list(vals.astype(np.float16), pa.float16())
            cols["rest"] = pa.array(np.clip(1.0 - stored, 0.0, 1.0).astype(np.float32), pa.float32())
        self._writer.write_table(pa.table(cols, schema=self.schema))
        self.row += b

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.close()
        if exc_type is None and self.row != self.labels.shape[0]:
            exc = ValueError(f"{self.path}: {self.row} of {self.labels.shape[0]} rows were written")
            self._atomic.__exit__(type(exc), exc, None)
            raise exc
        self._atomic.__exit__(exc_type, exc, tb)


def load_probs(wd: Workdir, est: str, ids: np.ndarray | None = None, *, n_classes: int | None = None,
               model_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(sample_ids, (N, K) float32 probabilities) of estimator ``est``, rows in the order of ``ids`` when given.

    Higher = more likely that class; rows sum to 1 (up to float16 rounding in the dense layout;
    the given label's entry is exact). WorkdirError when the file is missing, was made with
    another model, has another class count than ``n_classes`` or lacks some of ``ids``.
    ``ProbFiles`` reads the same numbers in row blocks.
    """
    path = wd.require(probs_path(wd, est), "score")
    table, meta = parquet_io.read_table(path, TABLE, model_id)
    file_ids = np.asarray(table["sample_id"].to_pylist(), dtype=object)
    if ids is not None and not (len(ids) == len(file_ids) and np.array_equal(file_ids, ids)):
        rows = align_rows(file_ids, ids, path)  # only when needed: score writes the order select reads
        table = table.take(pa.array(rows))
        file_ids = file_ids[rows]
    return file_ids, _decode(table, _classes(path, meta, table.schema, n_classes), meta.get("layout", "dense"))


def _classes(path: Path, meta: dict, schema: pa.Schema, n_classes: int | None) -> int:
    k = int(meta.get("n_classes") or schema.field("probs").type.list_size)
    if n_classes is not None and k != n_classes:
        raise WorkdirError(f"{path} has {k} classes, the manifest {n_classes}", "re-run `labelclean score`")
    return k


def _decode(table: pa.Table, k: int, layout: str) -> np.ndarray:
    """(rows, K) float32 of a probs table (or a slice of one) in either layout."""
    if layout == "dense" and pa.types.is_fixed_size_binary(table.schema.field("probs").type):
        P = from_half_rows(table["probs"], k)
    elif layout == "dense":  # older files: list<float32>[K]
        P = parquet_io.to_numpy_2d(table["probs"], np.float32)
    else:
        P = _expand_topk(table, k)
    if "p_given" in table.column_names:
        labels = table["label_id"].to_numpy().astype(np.int64)
        P[np.arange(P.shape[0]), labels] = table["p_given"].to_numpy()
    return P


class ProbFiles:
    """``selection.source.ProbSource`` over probs/<estimator>.parquet, read ``rows`` at a time.

    ``ids`` are the rows wanted, in order (scores.parquet's sample_id). A file whose rows are
    in that very order (what `score` writes) is streamed; one in another order (an edited
    workdir) is loaded whole and aligned, as ``load_probs`` does. ``arrays`` adds estimators
    already in memory (the trained ones' (N, K) matrices, aligned to ``ids``); ``names``
    gives the order of all of them. Checks model identity, class count and row count up front.
    """

    def __init__(self, wd: Workdir, names: list[str], ids: pa.ChunkedArray | pa.Array, *, n_classes: int,
                 model_id: str | None = None, arrays: dict[str, np.ndarray] | None = None, rows: int | None = None):
        self.names, self.n, self.k = list(names), len(ids), int(n_classes)
        self.rows = rows or block_rows(self.k)
        self.arrays = dict(arrays or {})
        self.files: dict[str, tuple[Path, str]] = {}
        for est in self.names:
            if est in self.arrays:
                continue
            path = wd.require(probs_path(wd, est), "score")
            meta = parquet_io.read_meta(path)
            parquet_io.check_meta(path, meta, TABLE, model_id)
            _classes(path, meta, pq.read_schema(path), self.k)
            with pq.ParquetFile(path) as f:
                same = f.metadata.num_rows == self.n and f.read(columns=["sample_id"])["sample_id"].equals(
                    ids if isinstance(ids, pa.ChunkedArray) else pa.chunked_array([ids]))
            if same:
                self.files[est] = (path, meta.get("layout", "dense"))
            else:
                wanted = np.asarray(pa.chunked_array([ids]).to_pylist() if isinstance(ids, pa.Array)
                                    else ids.to_pylist(), dtype=object)
                self.arrays[est] = load_probs(wd, est, wanted, n_classes=self.k, model_id=model_id)[1]

    def shapes(self) -> dict[str, tuple[int, int]]:
        return {e: tuple(self.arrays[e].shape) if e in self.arrays else (self.n, self.k) for e in self.names}

    def blocks(self):
        readers = {e: _RowBlocks(path, layout, self.k, self.rows) for e, (path, layout) in self.files.items()}
        try:
            for start in range(0, self.n, self.rows):
                b = min(self.rows, self.n - start)
                yield start, {e: readers[e].take(b) if e in readers else
                              np.asarray(self.arrays[e][start : start + b], dtype=np.float32) for e in self.names}
        finally:
            for r in readers.values():
                r.close()


class _RowBlocks:
    """Consecutive row blocks of one probs file, decoded to float32, exactly ``b`` rows per ``take(b)``."""

    def __init__(self, path: Path, layout: str, k: int, rows: int):
        self.file = parquet_io.streaming_file(path)
        cols = ["label_id", "p_given"] + (["probs"] if layout == "dense" else ["top_ids", "top_probs", "rest"])
        self.layout, self.k = layout, k
        self.batches = self.file.iter_batches(batch_size=rows, columns=[c for c in cols if c in self.file.schema_arrow.names])
        self.pending: list[pa.RecordBatch] = []
        self.have = 0

    def take(self, b: int) -> np.ndarray:
        while self.have < b:
            batch = next(self.batches)
            self.pending.append(batch)
            self.have += batch.num_rows
        table = pa.Table.from_batches(self.pending)
        head, rest = table.slice(0, b), table.slice(b)
        self.pending = rest.to_batches() if rest.num_rows else []
        self.have -= b
        return _decode(head, self.k, self.layout)

    def close(self) -> None:
        self.file.close()


def probs_shape(wd: Workdir, est: str) -> tuple[int, int] | None:
    """(rows, classes) of a stored matrix without reading it; None when the file is missing."""
    path = probs_path(wd, est)
    if not path.exists():
        return None
    meta = parquet_io.read_meta(path)
    k = meta.get("n_classes") or pq.read_schema(path).field("probs").type.list_size
    return pq.read_metadata(path).num_rows, int(k)


def remove_all(wd: Workdir) -> None:
    """Delete every probs/ file (a later select must not read an earlier run's)."""
    for stale in wd.probs_dir.glob("*.parquet"):
        stale.unlink()


def half_rows(P16: np.ndarray) -> pa.FixedSizeBinaryArray:
    """(N, K) float16 -> one fixed_size_binary(2K) value per row (little-endian)."""
    P16 = np.ascontiguousarray(P16, dtype="<f2")
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(2 * P16.shape[1]), P16.shape[0], [None, pa.py_buffer(P16)])


def from_half_rows(column: pa.ChunkedArray, k: int) -> np.ndarray:
    """Inverse of ``half_rows``, as (N, K) float32."""
    chunks = [c for c in column.chunks if len(c)]
    parts = [np.frombuffer(c.buffers()[1], dtype="<f2", count=len(c) * k, offset=c.offset * 2 * k).reshape(-1, k)
             for c in chunks]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, k), np.float32)


def _expand_topk(table: pa.Table, k: int) -> np.ndarray:
    top = parquet_io.to_numpy_2d(table["top_ids"], np.int64)
    vals = parquet_io.to_numpy_2d(table["top_probs"], np.float32)
    labels = table["label_id"].to_numpy().astype(np.int64)
    rest = table["rest"].to_numpy().astype(np.float32)
    n, t = top.shape
    given_stored = (top == labels[:, None]).any(axis=1)
    others = np.maximum(k - t - (~given_stored), 1)
    P = np.repeat((rest / others)[:, None], k, axis=1) if n else np.zeros((0, k), np.float32)
    np.put_along_axis(P, top, vals, axis=1)
    return P


def align_rows(file_ids: np.ndarray, ids: np.ndarray, path: Path) -> np.ndarray:
    """Row index in ``file_ids`` of every id (WorkdirError naming ``path`` when some are missing)."""
    index = {s: i for i, s in enumerate(file_ids.tolist())}
    rows = np.fromiter((index.get(s, -1) for s in ids), dtype=np.int64, count=len(ids))
    if (rows < 0).any():
        first = ids[np.flatnonzero(rows < 0)[0]]
        raise WorkdirError(f"{path} has no row for {int((rows < 0).sum())} scored samples (first: {first})",
                           "re-run the stage that wrote it (the workdir changed since)")
    return rows
