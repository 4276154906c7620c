"""Zero-shot class probabilities from image and prompt embeddings (CLIPCleaner eq. 4)."""

from __future__ import annotations

import numpy as np

from labelclean.core.vectors import unit_rows
from labelclean.scoring.rowprobs import RowProbs

AGGREGATIONS = ("mean", "sum", "mean-embedding")
CLIPCLEANER_TEMPERATURE = 0.07  # CLIPCleaner's tau, used when the model has no logit scale


def resolve_temperature(requested: float | None, logit_scale: float | None) -> tuple[float, str]:
    """The zero-shot temperature to use and where it came from.

    ``requested`` (the user's --temperature) wins; else 1 / the model's learned logit
    scale (100 for released CLIP models, i.e. 0.01); else CLIPCleaner's 0.07. Returns
    (temperature, source) with source "option", "model" or "default".
    """
    if requested is not None:
        if not requested > 0:
            raise ValueError(f"temperature must be > 0, got {requested}")
        return float(requested), "option"
    if logit_scale is not None and np.isfinite(logit_scale) and logit_scale > 0:
        return 1.0 / float(logit_scale), "model"
    return CLIPCLEANER_TEMPERATURE, "default"


def class_probs(
    X: np.ndarray,
    T: np.ndarray,
    prompt_class_ids: np.ndarray,
    *,
    n_classes: int | None = None,
    temperature: float = 0.07,
    aggregation: str = "mean",
    block_size: int = 16384,
) -> np.ndarray:
    """p(k | x) from cosine similarities between images and the prompts of each class.

    Parameters
    ----------
    X : (N, D) image embeddings, L2-normalised; float16 stays float16 (converted block by block).
    T : (P, D) prompt embeddings, L2-normalised.
    prompt_class_ids : (P,) class id of each prompt; every class in [0, K) needs one.
    n_classes : K, default ``prompt_class_ids.max() + 1``.
    temperature : tau in exp(cos / tau); 0.07 as in CLIPCleaner (see resolve_temperature).
    aggregation : {"mean", "sum", "mean-embedding"}, default "mean"
        ``sum``: p(k|x) ∝ Σ_j exp(cos(x, t_kj)/τ), the paper and official code (a class with
        more prompts gets a log(n_k) bonus). ``mean``: the same divided by n_k (no bonus).
        ``mean-embedding``: average each class's prompt embeddings, re-normalise, then
        softmax(cos/τ) (the classic CLIP prompt ensemble).

    Returns
    -------
    (N, K) float32 probabilities; rows sum to 1. Higher = more likely that class.
    ``class_prob_rows`` gives the same rows block by block without the matrix.
    """
    return class_prob_rows(X, T, prompt_class_ids, n_classes=n_classes, temperature=temperature,
                           aggregation=aggregation, block_size=block_size).dense()


def class_prob_rows(
    X: np.ndarray,
    T: np.ndarray,
    prompt_class_ids: np.ndarray,
    *,
    n_classes: int | None = None,
    temperature: float = 0.07,
    aggregation: str = "mean",
    block_size: int = 16384,
) -> "ZeroShotRows":
    """``class_probs`` as a ``RowProbs``: each block is computed from X when it is read."""
    X = X if X.dtype in (np.float16, np.float32) else np.asarray(X, dtype=np.float32)  # blocks become float32
    T = np.asarray(T, dtype=np.float32)
    pcid = np.asarray(prompt_class_ids, dtype=np.int64)
    n_classes = int(pcid.max()) + 1 if n_classes is None else int(n_classes)
    _validate(X, T, pcid, n_classes, temperature, aggregation)
    if aggregation == "mean-embedding":
        T = class_text_embeddings(T, pcid, n_classes)
        pcid = np.arange(n_classes)
        aggregation = "sum"
    counts = np.bincount(pcid, minlength=n_classes).astype(np.float64)
    log_bias = -np.log(counts) if aggregation == "mean" else np.zeros(n_classes)
    return ZeroShotRows(X, T, pcid, n_classes, temperature, log_bias,
                        max(1, min(block_size, (1 << 24) // max(T.shape[0], 1))))  # a float64 chunk <= 128 MB


class ZeroShotRows(RowProbs):
    """Zero-shot probabilities of rows of X, computed ``chunk`` rows at a time when a block is read."""

    def __init__(self, X, T, pcid, n_classes, temperature, log_bias, chunk):
        self.X, self.T, self.pcid, self.temperature, self.log_bias, self.chunk = X, T, pcid, temperature, log_bias, chunk
        self.n, self.k = int(X.shape[0]), int(n_classes)

    def block(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.k), dtype=np.float32)
        for lo in range(start, stop, self.chunk):
            hi = min(stop, lo + self.chunk)
            logits = (self.X[lo:hi].astype(np.float32) @ self.T.T).astype(np.float64) / self.temperature
            out[lo - start : hi - start] = _class_softmax(logits, self.pcid, self.k, self.log_bias)
        return out


def _validate(X, T, pcid, n_classes, temperature, aggregation) -> None:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if X.ndim != 2 or T.ndim != 2 or X.shape[1] != T.shape[1]:
        raise ValueError(f"X (N, D) and T (P, D) must share D, got {X.shape} and {T.shape}")
    if pcid.shape != (T.shape[0],):
        raise ValueError(f"prompt_class_ids must be ({T.shape[0]},), got {pcid.shape}")
    if pcid.size == 0 or pcid.min() < 0 or pcid.max() >= n_classes:
        raise ValueError(f"prompt_class_ids must lie in [0, {n_classes - 1}]")
    missing = np.setdiff1d(np.arange(n_classes), pcid)
    if missing.size:
        raise ValueError(f"classes {missing[:10].tolist()} have no prompt")


def class_text_embeddings(T: np.ndarray, pcid: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, D) the L2-normalised mean of each class's prompt embeddings."""
    sums = np.zeros((n_classes, T.shape[1]), dtype=np.float64)
    np.add.at(sums, pcid, T)
    return unit_rows(sums).astype(np.float32)


def _class_softmax(logits: np.ndarray, pcid: np.ndarray, n_classes: int, log_bias: np.ndarray) -> np.ndarray:
    """log Σ_j exp(logit_j) per class (+ bias), then softmax over classes; stable in float64."""
    order = np.argsort(pcid, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(pcid[order]) != 0])
    row_max = logits.max(axis=1, keepdims=True)
    per_class = np.add.reduceat(np.exp(logits[:, order] - row_max), starts, axis=1)
    per_class = per_class * np.exp(log_bias)[None, :]
    total = per_class.sum(axis=1, keepdims=True)
    return (per_class / np.maximum(total, 1e-300)).astype(np.float32)
