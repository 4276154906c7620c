"""CSS (collaborative sample selection): the per-epoch split and the network's losses.

Split (the CSS paper's eqs. 1-6). For every pool sample, omega_i = [l_i, p_i] with l_i the
cross-entropy of the given label under the current network (min-max normalised inside
`labelclean.selection.criteria.css_posterior`, lower = cleaner) and p_i the CLIP probability of
the given label under the current prompts (higher = cleaner). A seeded two-component 2-D GMM
(global, or one per given class) gives the posterior of the component with the lower loss mean,
checked against the higher p mean (a degenerate fit falls back to a 1-D loss GMM, as `select
--method css` does). X = {posterior >= eps}, U = the rest; a class left with no sample in X gets
its best-posterior samples back (`labelclean.selection.combine.class_fallback`).

Network losses for one batch (the paper's eq. 7, 10, 12-14; torch):

    L = L_X + lambda_u L_U + lambda_c L_con + lambda_r L_reg

- L_X: CE of the given labels on weak views of X;
- L_U: FixMatch, hard pseudo-labels argmax p(u_weak) where max p > delta, CE on strong views;
- L_con: NT-Xent (SimCLR) between two weak views' projections, over the batch's X and U;
- L_reg: sum_c pi_c log(pi_c / mean_batch p_c) with pi uniform (DivideMix's prior term).

Each loss is 0 (with a gradient path, never NaN) when its part of the batch is empty: no X, no U,
no pseudo-label above delta, fewer than two valid images for the contrastive term.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from labelclean.selection.combine import class_fallback
from labelclean.selection.criteria import css_posterior

LOSS_FLOOR = 1e-6  # p(given) is clipped to [LOSS_FLOOR, 1] before -log


@dataclass
class Split:
    posterior: np.ndarray  # (N,) P(clean component), higher = more likely clean; 0 outside the pool
    x: np.ndarray  # (N,) bool: in X (trained with its label); pool & ~x is U
    fit: dict[str, Any]  # GMM summary for the metrics row (gmm_* keys)
    notes: list[str] = field(default_factory=list)
    fallback_classes: int = 0  # classes absent from X that got their best samples back


def given_loss(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-log p(given) per row, p clipped to [LOSS_FLOOR, 1]; higher = the label looks less right."""
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]
    return -np.log(np.clip(p, LOSS_FLOOR, 1.0))


def css_split(
    loss: np.ndarray, p_given: np.ndarray, labels: np.ndarray, pool: np.ndarray, *, eps: float = 0.5,
    per_class: bool = False, seed: int = 0, forced: Optional[np.ndarray] = None,
) -> Split:
    """The X / U split of one epoch.

    Parameters
    ----------
    loss : (N,) network CE of the given label (lower = cleaner).
    p_given : (N,) CLIP p(given | x) under the current prompts (higher = cleaner).
    labels : (N,) given label ids.
    pool : (N,) bool, the samples taking part (others are in neither X nor U).
    eps : X = {posterior >= eps}.
    per_class : one GMM per given class instead of one global GMM.
    forced : (N,) bool, samples put in X whatever the GMM says (reviewer-kept).

    Returns
    -------
    Split; ``posterior`` is higher = more likely clean.
    """
    loss, p_given = np.asarray(loss, np.float64), np.asarray(p_given, np.float64)
    labels, pool = np.asarray(labels, np.int64), np.asarray(pool, bool)
    idx = np.flatnonzero(pool)
    post = np.zeros(len(labels), np.float64)
    res = css_posterior(loss[idx], p_given[idx], labels=labels[idx] if per_class else None, seed=seed)
    post[idx] = res.posterior
    x = pool & (post >= eps)
    if forced is not None:
        x |= np.asarray(forced, bool) & pool
    fallback = 0
    if idx.size:
        sub, notices = class_fallback(x[idx], labels[idx], post[idx])
        x[idx] = sub
        fallback = len(notices)
    return Split(post, x, _fit_summary(res.fits), list(res.notes), fallback)


def _fit_summary(fits: list) -> dict[str, Any]:
    """Means and weight of the (global) fit; with per-class fits, their means and the degenerate count."""
    fitted = [f for f in fits if f.fitted]
    if not fitted:
        return {"gmm_fits": 0, "gmm_degenerate": 0}
    arr = lambda get: float(np.mean([get(f) for f in fitted]))  # noqa: E731
    return {
        "gmm_fits": len(fitted),
        "gmm_degenerate": int(sum(f.degenerate for f in fitted)),
        "gmm_clean_loss": arr(lambda f: f.clean_mean[0]), "gmm_clean_p": arr(lambda f: f.clean_mean[1]),
        "gmm_noisy_loss": arr(lambda f: f.noisy_mean[0]), "gmm_noisy_p": arr(lambda f: f.noisy_mean[1]),
        "gmm_clean_weight": arr(lambda f: f.clean_weight),
    }


def split_quality(x: np.ndarray, pool: np.ndarray, given: np.ndarray, truth: Optional[np.ndarray]) -> dict[str, float]:
    """Precision and recall of X as the set of correctly labelled pool samples (NaN without truth)."""
    from labelclean.train.deft.method import selection_quality

    q = selection_quality(np.asarray(x, bool), np.where(pool, given, -2), truth)
    return {"x_precision": q["clean_precision"], "x_recall": q["clean_recall"]}


# ---- torch losses (imported lazily by the trainer) -------------------------------------------


def _zero(t):
    return t.sum() * 0.0


def masked_ce(logits, labels, valid):
    """Mean CE over the rows where ``valid``; 0 (with a gradient path) when none is."""
    import torch.nn.functional as F

    if logits.shape[0] == 0 or not bool(valid.any()):
        return _zero(logits)
    per = F.cross_entropy(logits.float(), labels, reduction="none")
    return (per * valid).sum() / valid.sum()


def fixmatch_loss(strong_logits, weak_logits, valid, *, delta: float):
    """FixMatch on U: CE of argmax p(weak) on the strong view where max p(weak) > delta.

    Averaged over all valid rows of the batch (FixMatch's convention: the mask lowers the loss,
    it does not re-weight it). Returns (loss, mask); the loss is 0 when no row passes.
    """
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        probs = torch.softmax(weak_logits.detach().float(), dim=1)
        conf, pseudo = probs.max(dim=1) if probs.shape[0] else (probs.sum(1), probs.sum(1).long())
        mask = (conf > delta) & valid
    if not bool(mask.any()):
        return _zero(strong_logits), mask
    per = F.cross_entropy(strong_logits.float(), pseudo, reduction="none")
    return (per * mask).sum() / valid.sum().clamp(min=1), mask


def nt_xent(z1, z2, *, temperature: float = 0.5):
    """SimCLR's NT-Xent between two views (rows of z1 and z2 are pairs); 0 for fewer than 2 pairs."""
    import torch
    import torch.nn.functional as F

    n = z1.shape[0]
    if n < 2:
        return _zero(z1) + _zero(z2)
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def uniform_prior(logits):
    """sum_c (1/C) log((1/C) / mean_batch softmax_c): 0 when the batch's mean prediction is uniform."""
    import torch

    if logits.shape[0] == 0:
        return _zero(logits)
    mean = torch.softmax(logits.float(), dim=1).mean(0)
    prior = torch.full_like(mean, 1.0 / mean.numel())
    return (prior * torch.log(prior / mean.clamp(min=1e-8))).sum()
