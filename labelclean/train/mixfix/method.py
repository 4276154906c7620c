"""MixFix (CLIPCleaner): mixup training on the clean set, absorbing and relabelling the rest.

After every epoch the samples outside the initial clean set S0 are classified on
un-augmented views, starting again from their *given* labels (nothing carries over):

- **absorb**: prediction == given label and confidence >= theta_r -> trained next epoch, given label;
- **relabel**: prediction != given label and confidence >= theta_r2 -> trained next epoch, predicted label;
- **drop** otherwise -> not trained next epoch.

This is eq. 7 of the CLIPCleaner paper with the official code's ``>=`` (the paper writes ``>``),
so a threshold of 1 only passes outputs that saturate to exactly 1.0. Unlike the official code,
S0 itself (the selection after review) keeps its labels: the rules apply only outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

DROP, ABSORB, RELABEL = 0, 1, 2


@dataclass
class MixFixUpdate:
    action: np.ndarray  # (M,) int8: DROP, ABSORB or RELABEL
    labels: np.ndarray  # (M,) int64: given label (absorb, drop) or prediction (relabel)
    pred: np.ndarray  # (M,) int64 argmax class
    confidence: np.ndarray  # (M,) float32 max probability; higher = more confident


def mixfix_rules(given: np.ndarray, probs: np.ndarray, *, theta_r: float, theta_r2: float) -> MixFixUpdate:
    """Absorb / relabel / drop decisions for samples outside the clean set.

    Parameters
    ----------
    given : (M,) int array
        Given (noisy) label of each sample.
    probs : (M, K) float array
        Softmax output of the in-training model on un-augmented views.
    theta_r : float in [0, 1]
        Absorbing threshold (prediction agrees with the given label).
    theta_r2 : float in [0, 1]
        Relabelling threshold (prediction disagrees); the paper recommends theta_r <= theta_r2.

    Returns
    -------
    MixFixUpdate
    """
    given = np.asarray(given, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[0] != given.shape[0]:
        raise ValueError(f"probs must be (M, K) with M = len(given) = {given.shape[0]}, got {probs.shape}")
    for name, t in (("theta_r", theta_r), ("theta_r2", theta_r2)):
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {t}")
    if given.size and (given.min() < 0 or given.max() >= probs.shape[1]):
        raise ValueError(f"given labels must lie in [0, {probs.shape[1]}), got [{given.min()}, {given.max()}]")
    pred = probs.argmax(axis=1).astype(np.int64) if probs.shape[1] else np.zeros(len(given), np.int64)
    conf = probs.max(axis=1) if probs.shape[1] else np.zeros(len(given), np.float32)
    agree = pred == given
    action = np.full(len(given), DROP, dtype=np.int8)
    action[agree & (conf >= theta_r)] = ABSORB
    action[~agree & (conf >= theta_r2)] = RELABEL
    labels = np.where(action == RELABEL, pred, given)
    return MixFixUpdate(action, labels, pred, conf.astype(np.float32))


def next_training_set(
    clean0: np.ndarray, labels0: np.ndarray, outside: np.ndarray, update: MixFixUpdate
) -> tuple[np.ndarray, np.ndarray]:
    """Training mask and labels for the next epoch: S0 with its labels, plus absorbed and relabelled.

    ``outside`` holds the positions (into the pool) that ``update`` describes.
    """
    mask = np.asarray(clean0, dtype=bool).copy()
    labels = np.asarray(labels0, dtype=np.int64).copy()
    mask[outside] = update.action != DROP
    labels[outside] = update.labels
    return mask, labels


def update_counts(update: MixFixUpdate, given: np.ndarray, truth: Optional[np.ndarray]) -> dict[str, Any]:
    """Counts of each action and, where true labels are known (>= 0), the accuracy of the label used.

    absorbed_acc: fraction of absorbed samples whose given label is the true one;
    relabelled_acc: fraction of relabelled samples whose new label is the true one. NaN when unknown.
    """
    out: dict[str, Any] = {
        "absorbed": int((update.action == ABSORB).sum()),
        "relabelled": int((update.action == RELABEL).sum()),
        "dropped": int((update.action == DROP).sum()),
        "absorbed_acc": float("nan"),
        "relabelled_acc": float("nan"),
    }
    if truth is None:
        return out
    for name, code, labels in (("absorbed_acc", ABSORB, given), ("relabelled_acc", RELABEL, update.labels)):
        sel = (update.action == code) & (truth >= 0)
        if sel.any():
            out[name] = float((labels[sel] == truth[sel]).mean())
    return out
