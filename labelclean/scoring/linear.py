"""Multinomial logistic regression fitted by full-batch L-BFGS (numpy + scipy on CPU, torch on CUDA).

The objective is the class-balanced mean cross-entropy plus ``l2/2 ||W||^2``: class k's
samples weigh n / (K_present * n_k), as scikit-learn's ``class_weight="balanced"``. On the
CPU numpy's BLAS is faster than torch's on the development machine (AMD), so the
objective runs in numpy under scipy's L-BFGS-B; on CUDA it runs in torch.
"""

from __future__ import annotations

import numpy as np


class LinearModel:
    """Weights of a fitted multinomial logistic regression (numpy; no torch needed to predict)."""

    def __init__(self, W: np.ndarray, b: np.ndarray, iterations: int):
        self.W, self.b, self.iterations = W, b, iterations

    def predict_proba(self, X: np.ndarray, block_size: int = 65536) -> np.ndarray:
        out = np.empty((X.shape[0], self.W.shape[1]), dtype=np.float32)
        for start in range(0, X.shape[0], block_size):
            z = X[start : start + block_size] @ self.W + self.b
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            out[start : start + block_size] = z / z.sum(axis=1, keepdims=True)
        return out


def fit(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    device: str = "auto",
    l2: float,
    max_iter: int = 60,
    tol: float = 1e-5,
    init: LinearModel | None = None,
) -> LinearModel:
    """Fit W (D, K), b (K) by full-batch L-BFGS on the class-balanced penalised cross-entropy.

    Class weights are n / (K_present * n_k), as scikit-learn's ``class_weight="balanced"``.
    Starts from ``init`` (a model fitted on the same data, e.g. with another l2) or from
    scaled class centroids of the fitting data (no other data leaks in).
    On the CPU the objective runs in numpy (its BLAS is faster here than torch's) under
    scipy's L-BFGS-B; on CUDA it runs in torch.
    """
    dev = resolve_device(device)
    W0 = init.W if init is not None else _centroid_init(X, labels, n_classes)
    b0 = init.b if init is not None else np.zeros(n_classes, dtype=np.float32)
    if dev == "cpu":
        return _fit_numpy(X, labels, n_classes, W0, b0, l2, max_iter, tol)
    return _fit_torch(X, labels, n_classes, W0, b0, l2, max_iter, tol, dev)


def _balanced_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = np.count_nonzero(counts)
    class_w = np.where(counts > 0, counts.sum() / (present * np.maximum(counts, 1)), 0.0)
    w = class_w[labels]
    return (w / w.sum()).astype(np.float32)


def _centroid_init(X: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    sums = np.zeros((n_classes, X.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, X)
    means = sums / np.maximum(np.bincount(labels, minlength=n_classes), 1)[:, None]
    return ((means - means.mean(axis=0, keepdims=True)).T * 10.0).astype(np.float32)


def _fit_numpy(X, labels, n_classes, W0, b0, l2, max_iter, tol) -> LinearModel:
    from scipy.optimize import minimize

    n, d = X.shape
    w = _balanced_weights(labels, n_classes)
    rows = np.arange(n)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta[: d * n_classes].reshape(d, n_classes).astype(np.float32)
        z = X @ W
        z += theta[d * n_classes :].astype(np.float32)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        loss = -float(np.dot(w, np.log(np.maximum(z[rows, labels], 1e-30))))
        loss += 0.5 * l2 * float(np.dot(theta[: d * n_classes], theta[: d * n_classes]))
        z[rows, labels] -= 1.0
        z *= w[:, None]
        grad_w = (X.T @ z).astype(np.float64).ravel() + l2 * theta[: d * n_classes]
        return loss, np.concatenate([grad_w, z.sum(axis=0, dtype=np.float64)])

    theta0 = np.concatenate([W0.ravel(), b0]).astype(np.float64)
    with _scipy_blas_one_thread():
        res = minimize(
            objective, theta0, jac=True, method="L-BFGS-B",
            options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-7, "maxcor": 10},
        )
    W = res.x[: d * n_classes].reshape(d, n_classes).astype(np.float32)
    return LinearModel(W, res.x[d * n_classes :].astype(np.float32), int(res.nit))


def _scipy_blas_one_thread():
    """L-BFGS-B's own BLAS calls work on short vectors: threads only add spin-waiting.

    Measured on 2 busy cores: 0.15 s of overhead per iteration with 2 threads, none with 1.
    Limits scipy's bundled OpenBLAS only (numpy's, used by the objective, is untouched).
    """
    import contextlib

    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    ctl = ThreadpoolController()
    own = [i["filepath"] for i in ctl.info() if "scipy.libs" in i["filepath"] and i["user_api"] == "blas"]
    return ctl.select(filepath=own).limit(limits=1) if own else contextlib.nullcontext()


def _fit_torch(X, labels, n_classes, W0, b0, l2, max_iter, tol, device) -> LinearModel:
    import torch

    dev = torch.device(device)
    Xt = torch.from_numpy(np.ascontiguousarray(X)).to(dev)
    yt = torch.from_numpy(labels).to(dev)
    wt = torch.from_numpy(_balanced_weights(labels, n_classes)).to(dev)
    W = torch.from_numpy(np.array(W0, dtype=np.float32)).to(dev).requires_grad_(True)
    b = torch.from_numpy(np.array(b0, dtype=np.float32)).to(dev).requires_grad_(True)
    opt = torch.optim.LBFGS(
        [W, b], lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe",
        tolerance_grad=1e-7, tolerance_change=tol,
    )

    def closure():
        opt.zero_grad()
        ce = torch.nn.functional.cross_entropy(Xt @ W + b, yt, reduction="none")
        loss = (wt * ce).sum() + 0.5 * l2 * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    iterations = int(opt.state[opt._params[0]].get("n_iter", 0))
    return LinearModel(W.detach().cpu().numpy(), b.detach().cpu().numpy(), iterations)


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "cpu"; anything else passes through.

    Without an NVIDIA device node (/dev/nvidiactl) "auto" is "cpu" at once, so CPU-only
    runs never pay torch's import time (about 3 s).
    """
    if device != "auto":
        return device
    return "cuda" if cuda_available() else "cpu"


def cuda_available() -> bool:
    import os
    import sys

    if "torch" not in sys.modules and not os.path.exists("/dev/nvidiactl"):
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but the CPU path needs none
        return False
    return bool(torch.cuda.is_available())
