"""Cosine nearest-neighbour search over L2-normalised embeddings, with bounded memory.

Backends: faiss (exact ``IndexFlatIP`` up to ``exact_max`` vectors, an approximate index
above: IVF with 8-bit scalar-quantised lists by default, or float32 IVF lists, or HNSW; on a
GPU when the faiss build has one), else a blocked matrix-product search in torch (on CUDA
when available; "auto" prefers it to faiss-cpu there) or numpy. faiss and torch are imported
only when used. float16 input is converted to float32 block by block when added or searched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BACKENDS = ("auto", "faiss", "torch", "numpy")
# Above this many vectors faiss uses IVF. Measured (2 quiet cores, 512-d): exact 2.6 s at 20k and
# 16.4 s at 50k, IVF 1.4 s and 7.2 s with top-10 recall 0.97; at 1M exact would take ~2 h.
EXACT_MAX = 20_000
APPROX_KINDS = ("ivf", "ivfsq", "hnsw")
# The approximate index above EXACT_MAX. Measured on 100k x 512-d clustered data (20 % noise, load
# average 10-12 on the 2 cores; benchmarks/score_scale.py --knn-compare): exact 700 s; ivf 446 s,
# top-10 recall 0.976; ivfsq 283 s, recall 0.972; hnsw (M 32, ef 64) 709 s, recall 0.987. The kNN
# estimator's detection AUROC moved +0.0006, +0.0006 and +0.0001 against exact neighbours. ivfsq is
# the fastest and stores 1 byte a dimension (1M x 512: 0.5 GB instead of 2 GB).
APPROX = "ivfsq"


@dataclass
class Neighbors:
    sims: np.ndarray  # (N, k) float32 cosine similarities, best first
    idx: np.ndarray  # (N, k) int64 row indices into the searched matrix
    method: str  # e.g. "faiss-flat", "faiss-ivf(nlist=1264,nprobe=24)", "numpy"


def self_search(
    X: np.ndarray,
    *,
    k: int,
    backend: str = "auto",
    exact_max: int = EXACT_MAX,
    nprobe: int | None = None,
    seed: int = 0,
    block_size: int = 2048,
    approx: str | None = None,
) -> Neighbors:
    """The ``k`` most similar rows of ``X`` for every row of ``X`` (itself usually first).

    Parameters
    ----------
    X : (N, D) float32, L2-normalised (inner product = cosine similarity).
    k : neighbours per row, 1 <= k <= N.
    backend : {"auto", "faiss", "torch", "numpy"}; "auto" = faiss when importable.
    exact_max : faiss searches exactly up to this N, approximately (IVF) above; 0 forces
        IVF, a huge value forces exact search.
    nprobe : IVF lists visited per query (default: chosen from nlist for recall >= 0.95).
    approx : the approximate faiss index above ``exact_max``: "ivf" (IVF, float32 lists),
        "ivfsq" (IVF, 8-bit scalar-quantised lists) or "hnsw"; default APPROX.

    Returns
    -------
    Neighbors with sims (N, k), higher = closer, and their row indices.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    X = X if X.dtype in (np.float16, np.float32) else np.asarray(X, dtype=np.float32)  # blocks become float32
    if not 1 <= k <= X.shape[0]:
        raise ValueError(f"k must be in [1, {X.shape[0]}], got {k}")
    if backend == "auto":
        backend = auto_backend()
    if backend == "faiss":
        if X.shape[0] > max(exact_max, 0) and X.shape[0] >= 1000:
            kind = approx or APPROX
            if kind == "hnsw":
                return _faiss_hnsw(X, k)
            return _faiss_ivf(X, k, nprobe, seed, quantized=kind == "ivfsq")
        return _faiss_flat(X, k)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if backend == "torch":
        return _torch_search(X, k, block_size)
    return _numpy_search(X, k, block_size)


def auto_backend() -> str:
    """faiss-gpu when importable with a GPU; else blocked torch matmul on CUDA; else faiss-cpu; else numpy."""
    faiss = _faiss()
    if faiss is not None and _faiss_gpu(faiss):  # pragma: no cover - no GPU on the test machine
        return "faiss"
    if _cuda():  # pragma: no cover
        return "torch"
    return "faiss" if faiss is not None else "numpy"


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _cuda() -> bool:
    from labelclean.scoring.linear import cuda_available

    return cuda_available()


def _faiss_gpu(faiss) -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _maybe_gpu(faiss, index):
    if _faiss_gpu(faiss):  # pragma: no cover - no GPU on the test machine
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index), "-gpu"
    return index, ""


def _faiss_flat(X: np.ndarray, k: int) -> Neighbors:
    faiss = _faiss()
    if faiss is None:
        raise ImportError("faiss is not installed: pip install faiss-cpu (or use backend='numpy')")
    index, suffix = _maybe_gpu(faiss, faiss.IndexFlatIP(X.shape[1]))
    _blocked_add(index, X)
    sims, idx = _blocked_faiss_search(index, X, k)
    return Neighbors(sims, idx, f"faiss-flat{suffix}")


def ivf_params(n: int, nprobe: int | None = None) -> tuple[int, int]:
    """(nlist, nprobe) for an IVF index over n vectors: nlist ≈ 2·sqrt(n), nprobe ≈ 0.75·sqrt(nlist).

    Measured top-10 recall on clustered 512-d data (benchmarks/score_scale.py): 0.966 at 10k
    (nprobe 11), 0.972 at 20k, 0.974 at 50k, 0.978 at 1M (nlist 2000, nprobe 34).
    """
    nlist = int(min(65536, max(16, 2 * math.sqrt(n))))
    return nlist, int(nprobe) if nprobe else int(min(nlist, max(8, round(0.75 * math.sqrt(nlist)))))


def _faiss_ivf(X: np.ndarray, k: int, nprobe: int | None, seed: int, quantized: bool = False) -> Neighbors:
    faiss = _faiss()
    if faiss is None:
        raise ImportError("faiss is not installed: pip install faiss-cpu (or use backend='numpy')")
    n, d = X.shape
    nlist, nprobe = ivf_params(n, nprobe)
    quantizer = faiss.IndexFlatIP(d)
    if quantized:
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    train = np.asarray(X[np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))], dtype=np.float32)
    index.cp.seed = int(seed)
    index.cp.niter = 10
    index.cp.min_points_per_centroid = 1
    index.train(train)
    del train
    _blocked_add(index, X)
    index.nprobe = nprobe
    index, suffix = _maybe_gpu(faiss, index)
    sims, idx = _blocked_faiss_search(index, X, k)
    name = "faiss-ivfsq8" if quantized else "faiss-ivf"
    return Neighbors(sims, idx, f"{name}{suffix}(nlist={nlist},nprobe={nprobe})")


HNSW_M, HNSW_EF_SEARCH, HNSW_EF_CONSTRUCTION = 32, 64, 40


def _faiss_hnsw(X: np.ndarray, k: int) -> Neighbors:
    faiss = _faiss()
    if faiss is None:
        raise ImportError("faiss is not installed: pip install faiss-cpu (or use backend='numpy')")
    index = faiss.IndexHNSWFlat(X.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    _blocked_add(index, X)
    index.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
    sims, idx = _blocked_faiss_search(index, X, k)
    return Neighbors(sims, idx, f"faiss-hnsw(M={HNSW_M},ef={index.hnsw.efSearch})")


def _blocked_add(index, X: np.ndarray, block: int = 65536) -> None:
    for start in range(0, X.shape[0], block):
        index.add(np.ascontiguousarray(X[start : start + block], dtype=np.float32))


def _blocked_faiss_search(index, X: np.ndarray, k: int, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    sims = np.empty((X.shape[0], k), dtype=np.float32)
    idx = np.empty((X.shape[0], k), dtype=np.int64)
    for start in range(0, X.shape[0], block):
        s, i = index.search(np.ascontiguousarray(X[start : start + block], dtype=np.float32), k)
        sims[start : start + block], idx[start : start + block] = s, i
    return sims, idx


def _rows_per_block(n: int, block_size: int, budget_bytes: int = 256 << 20) -> int:
    """Query rows per block so that one (rows, n) float32 similarity block stays within budget."""
    return max(1, min(block_size, budget_bytes // (4 * max(n, 1))))


def _numpy_search(X: np.ndarray, k: int, block_size: int) -> Neighbors:
    n = X.shape[0]
    block_size = _rows_per_block(n, block_size)
    sims = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block_size):
        s = X[start : start + block_size] @ X.T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (s.shape[0], 1))
        vals = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        sims[start : start + block_size] = np.take_along_axis(vals, order, axis=1)
        idx[start : start + block_size] = np.take_along_axis(part, order, axis=1)
    return Neighbors(sims, idx, "numpy")


def _torch_search(X: np.ndarray, k: int, block_size: int) -> Neighbors:
    import torch

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    block_size = _rows_per_block(X.shape[0], block_size)
    base = torch.from_numpy(X).to(dev)
    sims = np.empty((X.shape[0], k), dtype=np.float32)
    idx = np.empty((X.shape[0], k), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, X.shape[0], block_size):
            s, i = torch.topk(base[start : start + block_size] @ base.T, k, dim=1)
            sims[start : start + block_size], idx[start : start + block_size] = s.cpu().numpy(), i.cpu().numpy()
    return Neighbors(sims, idx, f"torch-{dev.type}")
