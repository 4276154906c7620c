"""DeFT's clean decision and losses.

Clean probability of sample i with given label y_i (s = CLIP's frozen logit scale):

    p_clean_i = exp(s cos(I_i, T+_y)) / (exp(s cos(I_i, T+_y)) + exp(s cos(I_i, T-_y)))
              = sigmoid(s (cos(I_i, T+_y) - cos(I_i, T-_y)))

and i is clean iff p_clean_i > 0.5, i.e. cos(I_i, T+_y) > cos(I_i, T-_y): the negative prompt
acts as a learned, sample-dependent threshold.

Losses (no weights, as in the official code): L = L_sim + L_dp.

- L_sim: cross-entropy of the positive-prompt logits against the given label, over every
  sample during warm-up and over the samples selected as clean afterwards (0 when a batch
  selects none; the official code returns NaN there).
- L_dp: -log p_no(i, ybar_i) - log p_yes(i, y'_i), with ybar_i a random complementary label
  and y'_i the given label (warm-up, or selected as clean) or the current prediction. The
  positive logit is detached inside the 2-way softmax and the image is detached in the negative
  logits, so L_dp trains only the negative context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.core.vectors import unit_rows

EPS = 1e-5


@dataclass
class DeftScores:
    p_clean: np.ndarray  # (N,) float32 in [0, 1]; higher = more likely correctly labelled
    clean: np.ndarray  # (N,) bool: p_clean > 0.5
    pred: np.ndarray  # (N,) int64 argmax of the positive-prompt logits
    probs: np.ndarray  # (N, K) float32 softmax over the positive-prompt logits


def deft_scores(img: np.ndarray, t_pos: np.ndarray, t_neg: np.ndarray, labels: np.ndarray, *, scale: float) -> DeftScores:
    """DeFT's clean probability of the given labels from fixed embeddings.

    Parameters
    ----------
    img : (N, D) float array
        Image features (L2-normalised here).
    t_pos, t_neg : (K, D) float arrays
        Positive and negative class prompt features (L2-normalised here).
    labels : (N,) int array
        Given label ids in [0, K).
    scale : float
        Logit scale s (CLIP's exp(logit_scale), 100 for trained CLIP models).

    Returns
    -------
    DeftScores
    """
    img, t_pos, t_neg = (unit_rows(np.asarray(a, dtype=np.float64)) for a in (img, t_pos, t_neg))
    labels = np.asarray(labels, dtype=np.int64)
    if img.shape[1] != t_pos.shape[1] or t_pos.shape != t_neg.shape:
        raise ValueError(f"shape mismatch: img {img.shape}, t_pos {t_pos.shape}, t_neg {t_neg.shape}")
    if labels.shape != (img.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() >= t_pos.shape[0])):
        raise ValueError(f"labels must be ({img.shape[0]},) ids in [0, {t_pos.shape[0]})")
    rows = np.arange(len(labels))
    cos_pos, cos_neg = img @ t_pos.T, img @ t_neg.T
    margin = cos_pos[rows, labels] - cos_neg[rows, labels]
    p_clean = 1.0 / (1.0 + np.exp(-scale * margin))
    logits = scale * cos_pos
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return DeftScores(p_clean.astype(np.float32), margin > 0, cos_pos.argmax(axis=1), probs.astype(np.float32))


@dataclass
class DeftLoss:
    loss: "object"  # torch scalar: l_sim + l_dp
    l_sim: float
    l_dp: float
    clean: "object"  # (B,) bool tensor: selected as clean in this batch (online)


def deft_loss(pos_logits, neg_logits, labels, complementary, valid, *, warm: bool) -> DeftLoss:
    """L_sim + L_dp for one batch (torch tensors; see the module docstring).

    ``valid`` (B,) bool masks out images that failed to decode; ``complementary`` holds a
    random label != the given one per sample.
    """
    import torch
    import torch.nn.functional as F

    rows = torch.arange(len(labels), device=labels.device)
    p_yes = torch.sigmoid(pos_logits.detach().float() - neg_logits.float())  # (B, K) 2-way softmax
    clean = (p_yes[rows, labels] > 0.5) & valid
    ce = F.cross_entropy(pos_logits.float(), labels, reduction="none")
    use = valid if warm else clean
    l_sim = (ce * use).sum() / use.sum() if use.any() else pos_logits.sum() * 0.0
    target = labels if warm else torch.where(clean, labels, pos_logits.detach().argmax(1))
    w = valid.float()
    n = w.sum().clamp(min=1.0)
    l_no = -(torch.log((1.0 - p_yes[rows, complementary]).clamp(EPS, 1.0)) * w).sum() / n
    l_yes = -(torch.log(p_yes[rows, target].clamp(EPS, 1.0)) * w).sum() / n
    l_dp = l_no + l_yes
    return DeftLoss(l_sim + l_dp, l_sim.item(), l_dp.item(), clean)


def complementary_labels(labels, n_classes: int, generator=None):
    """A uniformly random label different from each given label (torch)."""
    import torch

    offset = torch.randint(1, n_classes, labels.shape, generator=generator, device=labels.device)
    return (labels + offset) % n_classes


def selection_quality(selected: np.ndarray, given: np.ndarray, truth: np.ndarray | None) -> dict[str, float]:
    """Precision and recall of a clean selection against true labels (rows with truth >= 0)."""
    if truth is None:
        return {"clean_precision": float("nan"), "clean_recall": float("nan")}
    known = truth >= 0
    correct = (given == truth) & known
    sel = selected & known
    tp = float((sel & correct).sum())
    return {
        "clean_precision": tp / float(sel.sum()) if sel.any() else float("nan"),
        "clean_recall": tp / float(correct.sum()) if correct.any() else float("nan"),
    }
