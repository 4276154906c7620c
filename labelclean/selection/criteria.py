"""Clean/noisy criteria: consistency threshold, per-class loss GMM, CSS 2-D GMM.

Every posterior returned here is P(clean component | scores) in [0, 1]; higher = more
likely correctly labelled. Degenerate inputs (tiny classes, constant scores, a single
class) never raise and never produce NaN: when nothing can be separated the posterior is 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_GMM_SAMPLES = 5  # classes with fewer samples pass the GMM criterion (nothing to fit)


def consistency_pass(consistency: np.ndarray, *, theta: float = 0.8) -> np.ndarray:
    """CLIPCleaner eq. 5: p(given) / max_k p(k) >= theta. (N,) bool, True = looks clean."""
    return np.asarray(consistency) >= theta


def gmm_clean_posterior(scores: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Per given class, a seeded 2-component 1-D GMM on ``scores``; posterior of the higher mean.

    Parameters
    ----------
    scores : (N,) per-class normalised log p(given) (higher = cleaner), e.g. ``norm_logp``.
    labels : (N,) given class ids.

    Returns
    -------
    (N,) float64 in [0, 1], higher = more likely clean. Made non-decreasing in the score
    within each class (a broad noisy component must not claim the very best samples).
    Classes with fewer than MIN_GMM_SAMPLES samples, constant scores or coinciding
    component means get 1.0.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    post = np.ones(scores.shape[0], dtype=np.float64)
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        post[idx] = _gmm_1d(scores[idx], seed)
    return post


def _gmm_1d(x: np.ndarray, seed: int) -> np.ndarray:
    if x.size < MIN_GMM_SAMPLES or np.ptp(x) < 1e-6:
        return np.ones(x.size)
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(2, covariance_type="full", reg_covar=1e-4, max_iter=100, tol=1e-3, random_state=seed)
    gmm.fit(x[:, None])
    means = gmm.means_[:, 0]
    if abs(means[0] - means[1]) < 1e-3:
        return np.ones(x.size)
    post = gmm.predict_proba(x[:, None])[:, int(np.argmax(means))]
    return _monotone(x, post)


def _monotone(x: np.ndarray, post: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    out = np.empty_like(post)
    out[order] = np.maximum.accumulate(post[order])
    return np.nan_to_num(out, nan=1.0)


@dataclass
class GmmFit:
    """One 2-D GMM fit of `css_posterior` (loss in min-max normalised units, in [0, 1])."""

    n: int  # samples fitted
    clean_mean: tuple[float, float] = (float("nan"), float("nan"))  # (loss, p_given) of the clean component
    noisy_mean: tuple[float, float] = (float("nan"), float("nan"))
    clean_weight: float = float("nan")  # mixing weight of the clean component
    degenerate: bool = False  # components disagreed (or coincided): the 1-D loss GMM was used
    fitted: bool = True  # False: too few samples or constant scores, posterior 1


@dataclass
class CssResult:
    posterior: np.ndarray  # (N,) P(clean component), higher = more likely clean
    notes: list[str] = field(default_factory=list)
    fits: list[GmmFit] = field(default_factory=list)  # one (global) or one per class, in class order


def css_posterior(
    loss: np.ndarray,
    p_given: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    seed: int = 0,
    covariance: str = "full",
) -> CssResult:
    """CSS: a 2-component 2-D GMM on (min-max normalised loss, p(given)).

    Parameters
    ----------
    loss : (N,) induced-classifier loss -log p(given), lower = cleaner.
    p_given : (N,) zero-shot p(given), higher = cleaner.
    labels : fit one GMM per given class when given, else one global GMM (the paper's).
    covariance : "full" (one covariance per component) or "tied".

    Returns
    -------
    CssResult: the posterior of the component with the smaller loss mean (higher = more
    likely clean). When that component does not also have the larger p(given) mean, the
    fit is degenerate: a 1-D GMM on the loss alone is used instead and a note says so.
    """
    loss = np.asarray(loss, dtype=np.float64)
    p_given = np.asarray(p_given, dtype=np.float64)
    if covariance not in ("full", "tied"):
        raise ValueError(f"covariance must be 'full' or 'tied', got {covariance!r}")
    if labels is None:
        post, note, fit = _css_fit(loss, p_given, seed, covariance)
        return CssResult(post, [note] if note else [], [fit])
    out, notes, fits = np.ones(loss.shape[0]), [], []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        out[idx], note, fit = _css_fit(loss[idx], p_given[idx], seed, covariance)
        fits.append(fit)
        if note:
            notes.append(f"class {int(k)}: {note}")
    return CssResult(out, notes, fits)


def _css_fit(loss: np.ndarray, p_given: np.ndarray, seed: int, covariance: str) -> tuple[np.ndarray, str | None, GmmFit]:
    if loss.size < MIN_GMM_SAMPLES:
        return np.ones(loss.size), None, GmmFit(int(loss.size), fitted=False)
    span = np.ptp(loss)
    norm_loss = (loss - loss.min()) / span if span > 1e-9 else np.zeros_like(loss)
    if span <= 1e-9 and np.ptp(p_given) <= 1e-9:
        return np.ones(loss.size), None, GmmFit(int(loss.size), fitted=False)
    from sklearn.mixture import GaussianMixture

    feats = np.column_stack([norm_loss, p_given])
    gmm = GaussianMixture(2, covariance_type=covariance, reg_covar=1e-4, random_state=seed).fit(feats)
    clean = int(np.argmin(gmm.means_[:, 0]))
    degenerate = bool(gmm.means_[clean, 1] < gmm.means_[1 - clean, 1] or abs(gmm.means_[0, 0] - gmm.means_[1, 0]) < 1e-3)
    fit = GmmFit(int(loss.size), tuple(float(v) for v in gmm.means_[clean]), tuple(float(v) for v in gmm.means_[1 - clean]),
                 float(gmm.weights_[clean]), degenerate)
    if degenerate:
        return (_gmm_1d(1.0 - norm_loss, seed), "2-D GMM components disagree on which is clean; used a 1-D GMM on the loss",
                fit)
    return np.nan_to_num(gmm.predict_proba(feats)[:, clean], nan=1.0), None, fit
