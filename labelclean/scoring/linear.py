"""Multinomial logistic regression: full-batch L-BFGS (numpy + scipy on CPU, torch on CUDA) or minibatch Adam (torch).

``fit`` fits by full-batch L-BFGS; ``fit_minibatch`` streams minibatches of rows of a
float16 or float32 ``X`` (no float32 copy of the fitting rows), in torch on any device, for
the large fits where L-BFGS's full passes cost too much (see logreg.MINIBATCH_ABOVE).

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
        """(N, K) float32 class probabilities of rows of ``X`` (float16 or float32), block by block."""
        out = np.empty((X.shape[0], self.W.shape[1]), dtype=np.float32)
        block_size = max(1, min(block_size, (1 << 24) // max(self.W.shape[1], 1)))
        for start in range(0, X.shape[0], block_size):
            z = X[start : start + block_size].astype(np.float32) @ self.W + self.b
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            out[start : start + block_size] = z / z.sum(axis=1, keepdims=True)
        return out

    def given_proba(self, X: np.ndarray, rows: np.ndarray, given: np.ndarray, block_size: int = 65536) -> np.ndarray:
        """(len(rows),) float32 p(given[i] | X[rows[i]]), reading ``block_size`` rows at a time (no copy of X[rows])."""
        out = np.empty(rows.shape[0], dtype=np.float32)
        block_size = max(1, min(block_size, (1 << 24) // max(self.W.shape[1], 1)))
        for start in range(0, rows.shape[0], block_size):
            p = self.predict_proba(X[rows[start : start + block_size]], block_size)
            out[start : start + p.shape[0]] = p[np.arange(p.shape[0]), given[start : start + block_size]]
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
    X = np.ascontiguousarray(X, dtype=np.float32)
    W0 = init.W if init is not None else _centroid_init(X, labels, n_classes)
    b0 = init.b if init is not None else np.zeros(n_classes, dtype=np.float32)
    if dev == "cpu":
        return _fit_numpy(X, labels, n_classes, W0, b0, l2, max_iter, tol)
    return _fit_torch(X, labels, n_classes, W0, b0, l2, max_iter, tol, dev)


def fit_minibatch(
    X: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    *,
    n_classes: int,
    device: str = "auto",
    l2: float,
    init: LinearModel | None = None,
    epochs: int = 1,
    batch_size: int = 8192,
    lr: float = 0.005,
    seed: int = 0,
    engine: str = "auto",
) -> LinearModel:
    """Fit W, b on rows ``rows`` of ``X`` by minibatch Adam on the same objective as ``fit``.

    Each epoch visits the rows in a seeded random order, ``batch_size`` at a time (each
    batch copied to float32 on its own; memory does not grow with N); the learning rate
    decays linearly to zero over all steps, so the last iterate settles near the optimum.
    The gradient is written out (softmax minus one-hot) and Adam is done by hand, so the
    same code runs on numpy arrays (``engine`` "numpy", the CPU default: its BLAS is faster
    here) and torch tensors ("torch", the default on CUDA; also runs on the CPU). Class
    weights are those of ``fit`` over ``rows``. Starts from ``init`` or class centroids.
    """
    dev = resolve_device(device)
    engine = ("numpy" if dev == "cpu" else "torch") if engine == "auto" else engine
    rows = np.asarray(rows, dtype=np.int64)
    y_all = labels[rows]
    n = rows.size
    cw = (_balanced_weights(y_all, n_classes) * n).astype(np.float32)  # mean 1: a batch mean is unbiased
    W0 = init.W if init is not None else _centroid_init_rows(X, rows, y_all, n_classes)
    b0 = init.b if init is not None else np.zeros(n_classes, dtype=np.float32)
    ops = _TorchOps(dev) if engine == "torch" else _NumpyOps()
    params = [ops.put(np.array(W0, dtype=np.float32)), ops.put(np.array(b0, dtype=np.float32))]
    moments = [[ops.zeros_like(p), ops.zeros_like(p)] for p in params]
    batch_size = max(256, min(batch_size, (1 << 24) // max(n_classes, 1)))
    steps = max(1, epochs * -(-n // batch_size))
    rng = np.random.default_rng(seed)
    step, beta1, beta2, eps = 0, 0.9, 0.999, 1e-8
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            pick = np.sort(order[start : start + batch_size])
            xb = ops.put(X[rows[pick]].astype(np.float32))
            W, b = params
            p = ops.softmax(xb @ W + b)
            p[ops.arange(p.shape[0]), ops.put(y_all[pick])] -= 1.0
            p *= ops.put(cw[pick] / pick.size)[:, None]
            grads = [xb.T @ p + l2 * W, p.sum(0)]
            step += 1
            rate = lr * max(0.0, 1.0 - (step - 1) / steps)
            for param, g, m in zip(params, grads, moments):
                m[0] *= beta1
                m[0] += (1 - beta1) * g
                m[1] *= beta2
                m[1] += (1 - beta2) * g * g
                param -= (rate / (1 - beta1**step)) * m[0] / ((m[1] / (1 - beta2**step)) ** 0.5 + eps)
    return LinearModel(ops.get(params[0]), ops.get(params[1]), steps)


class _NumpyOps:
    put = staticmethod(lambda a: a)
    get = staticmethod(lambda a: np.asarray(a, dtype=np.float32))
    zeros_like = staticmethod(np.zeros_like)
    arange = staticmethod(np.arange)

    @staticmethod
    def softmax(z):
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z


class _TorchOps:
    def __init__(self, device: str):
        import torch

        self.torch, self.device = torch, torch.device(device)

    def put(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def get(self, t):
        return t.detach().cpu().numpy().astype(np.float32)

    def zeros_like(self, t):
        return self.torch.zeros_like(t)

    def arange(self, n):
        return self.torch.arange(n, device=self.device)

    def softmax(self, z):
        return self.torch.softmax(z, dim=1)


def _centroid_init_rows(X: np.ndarray, rows: np.ndarray, y: np.ndarray, n_classes: int, block: int = 65536):
    from scipy.sparse import csr_matrix

    sums = np.zeros((n_classes, X.shape[1]), dtype=np.float64)
    for start in range(0, rows.size, block):
        yb = y[start : start + block]
        onehot = csr_matrix((np.ones(yb.size, np.float32), (yb, np.arange(yb.size))), shape=(n_classes, yb.size))
        sums += onehot @ X[rows[start : start + block]].astype(np.float32)
    means = sums / np.maximum(np.bincount(y, minlength=n_classes), 1)[:, None]
    return ((means - means.mean(axis=0, keepdims=True)).T * 10.0).astype(np.float32)


def _balanced_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = np.count_nonzero(counts)
    class_w = np.where(counts > 0, counts.sum() / (present * np.maximum(counts, 1)), 0.0)
    w = class_w[labels]
    return (w / w.sum()).astype(np.float32)


def _centroid_init(X: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    return _centroid_init_rows(X, np.arange(labels.size), labels, n_classes)


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
