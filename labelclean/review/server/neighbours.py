"""The nearest samples of every suspect, cached in W/review/neighbours.parquet.

Computed once from the embeddings (cosine similarity, exact, in blocks of queries so that
memory stays bounded), excluding the sample itself and its identical files (those are shown
as duplicates). The cache records the model and a fingerprint of the embeddings and the
suspect set; a stale or missing cache is recomputed in a background thread while the app
already serves everything else.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa

from labelclean.core import console
from labelclean.core.errors import LabelcleanError
from labelclean.store.parquet_io import part_files, read_meta, read_table, write_table
from labelclean.store.tables import load_classes, load_embeddings, model_id
from labelclean.store.workdir import Workdir

K = 8
TABLE = "review_neighbours"
CACHE_VERSION = 2  # bump when SCHEMA changes: older caches are recomputed
SCHEMA = pa.schema([("sample_id", pa.string()), ("neighbours", pa.list_(pa.string())),
                    ("labels", pa.list_(pa.string())), ("sims", pa.list_(pa.float32()))])
QUERY_BLOCK_BYTES = 128 << 20  # one (queries, N) float32 similarity block


def cache_path(wd: Workdir) -> Path:
    return wd.root / "review" / "neighbours.parquet"


def fingerprint(wd: Workdir, suspects: list[str] | pa.Array) -> str:
    h = hashlib.sha256()
    for p in part_files(wd.embeddings_dir):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    ids = suspects.to_pylist() if isinstance(suspects, pa.Array) else list(suspects)
    h.update("\x00".join(ids).encode())
    return h.hexdigest()


def query_neighbours(X: np.ndarray, queries: np.ndarray, canonical: np.ndarray, k: int = K,
                     backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Rows of the ``k`` most similar samples of ``X`` for each row index in ``queries`` (exact).

    ``X`` is (N, D) float32 L2-normalised; samples with the query's ``canonical`` key (the
    query itself and its identical files) are skipped. ``backend`` is auto (faiss's exact
    inner-product index when faiss is installed), faiss or numpy (blocked matrix products).
    Returns (idx, sims), both (Q, k), best first (higher = closer); idx is -1 where fewer
    than k other samples exist.
    """
    n = X.shape[0]
    kk = min(n, k + 4)  # a few spare for the query and its identical files
    search = _faiss_search(X) if backend in ("auto", "faiss") else None
    if search is None and backend == "faiss":
        raise ImportError("faiss is not installed: pip install faiss-cpu (or use backend='numpy')")
    search = search or _numpy_search(X)
    rows_per_block = max(1, min(4096, QUERY_BLOCK_BYTES // (4 * max(n, 1))))
    out_idx = np.full((len(queries), k), -1, dtype=np.int64)
    out_sim = np.zeros((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), rows_per_block):
        q = queries[start : start + rows_per_block]
        part, vals = search(X[q], kk)
        for j, qi in enumerate(q):
            keep = (part[j] >= 0) & (canonical[np.maximum(part[j], 0)] != canonical[qi])
            if keep.sum() < k and kk < n:  # many identical files: search this one row fully
                s = X[qi] @ X.T
                full = np.argsort(-s, kind="stable")
                sel = full[canonical[full] != canonical[qi]][:k]
                ids, sims = sel, s[sel]
            else:
                ids, sims = part[j][keep][:k], vals[j][keep][:k]
            out_idx[start + j, : len(ids)] = ids
            out_sim[start + j, : len(ids)] = sims
    return out_idx, out_sim


def _numpy_search(X: np.ndarray):
    n = X.shape[0]

    def search(Q: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
        s = Q @ X.T
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (len(Q), 1))
        vals = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        return np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)

    return search


def _faiss_search(X: np.ndarray):
    try:
        import faiss
    except ImportError:
        return None
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(np.ascontiguousarray(X, dtype=np.float32))

    def search(Q: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
        sims, idx = index.search(np.ascontiguousarray(Q, dtype=np.float32), kk)
        return idx, sims

    return search


NEAR_DUP_FRACTION = 0.1


def near_duplicate_threshold(sims: list[list[float]]) -> float:
    """The similarity above which a neighbour counts as a near-duplicate, relative to this
    embedding space: its distance 1 - sim is under a tenth of the median distance to the
    k-th neighbour. (Absolute thresholds do not carry over: the demo model puts most
    neighbours above 0.99, ViT-B-32 typically around 0.85.)"""
    last = [row[-1] for row in sims if row]
    if not last:
        return 1.0
    typical = 1.0 - float(np.median(last))
    return 1.0 - NEAR_DUP_FRACTION * max(typical, 1e-6)


class Neighbours:
    """sample_id -> [(neighbour sample_id, similarity)]; filled from the cache or a background job."""

    def __init__(self, wd: Workdir, suspects: pa.Array):
        self.wd = wd
        self.suspects = suspects
        self.status = "missing"  # missing | computing | ready | unavailable
        self.detail = ""
        self._table: pa.Table | None = None
        self._index = None
        self.near_duplicate = 1.0  # similarity from which a neighbour is shown as a near-duplicate
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, background: bool = True) -> None:
        """Load the cache when it is current, else compute (in a thread when ``background``)."""
        try:
            fp = fingerprint(self.wd, self.suspects)
        except OSError as e:
            self.status, self.detail = "unavailable", str(e)
            return
        path = cache_path(self.wd)
        if path.exists():
            try:
                meta = read_meta(path)
                if (meta.get("fingerprint"), meta.get("cache_version"), meta.get("model_id")) == (
                        fp, CACHE_VERSION, _model(self.wd)):
                    self._load(path)
                    return
            except LabelcleanError:
                pass
        self.status = "computing"
        if background:
            self._thread = threading.Thread(target=self._compute, args=(fp,), daemon=True, name="neighbours")
            self._thread.start()
        else:
            self._compute(fp)

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def of(self, sample_id: str) -> list[tuple[str, str | None, float]] | None:
        """(neighbour sample_id, its label, similarity) for ``sample_id``, best first; None while
        computing or when it is not a suspect."""
        table, index = self._table, self._index
        if table is None:
            return None
        row = index.find(sample_id)
        if row is None:
            return None
        return list(zip(*(table[c][row].as_py() for c in ("neighbours", "labels", "sims"))))

    def _set(self, table: pa.Table) -> None:
        from labelclean.review.server.index import IdIndex

        table = table.combine_chunks()
        self._index = IdIndex(table["sample_id"])
        self.near_duplicate = near_duplicate_threshold(table["sims"].slice(0, 5000).to_pylist())
        self._table = table
        self.status = "ready"

    def _load(self, path: Path) -> None:
        table, _ = read_table(path, TABLE)
        self._set(table)

    def _compute(self, fp: str) -> None:
        try:
            emb = load_embeddings(self.wd)
            pos = {s: i for i, s in enumerate(emb.sample_ids)}
            wanted = [s for s in self.suspects.to_pylist() if s in pos]
            q = np.asarray([pos[s] for s in wanted], dtype=np.int64)
            idx, sims = query_neighbours(emb.X, q, emb.canonical, K) if len(q) else (np.zeros((0, K), int), None)
            names = [c.name for c in load_classes(self.wd)]
            nbr = [[emb.sample_ids[i] for i in row if i >= 0] for row in idx]
            lab = [[names[emb.labels[i]] if 0 <= emb.labels[i] < len(names) else None for i in row if i >= 0]
                   for row in idx]
            sim = [[round(float(x), 4) for x, i in zip(srow, row) if i >= 0] for srow, row in zip(sims, idx)] if len(q) else []
            table = pa.table({"sample_id": wanted, "neighbours": nbr, "labels": lab, "sims": sim}, schema=SCHEMA)
            write_table(cache_path(self.wd), table, TABLE, model_id=emb.model_id, fingerprint=fp,
                        cache_version=CACHE_VERSION)
            self._set(table)
        except LabelcleanError as e:
            self.status, self.detail = "unavailable", e.message
        except Exception as e:  # noqa: BLE001 - the app keeps working without neighbours
            self.status, self.detail = "unavailable", f"{type(e).__name__}: {e}"
            console.warn(f"nearest neighbours could not be computed: {self.detail}")


def _model(wd: Workdir) -> str | None:
    try:
        return model_id(wd)
    except LabelcleanError:
        return None
