"""Shared training machinery: device and mixed precision, per-epoch seeding, LR schedule, eval passes."""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from labelclean.core.errors import UsageError


@dataclass
class Runtime:
    """Where tensors live and whether to train in fp16 autocast with loss scaling (CUDA only)."""

    device: torch.device
    amp: bool
    scaler: "torch.amp.GradScaler" = field(init=False)

    def __post_init__(self) -> None:
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


def make_runtime(device: str) -> Runtime:
    """``auto`` picks CUDA when available; fp16 autocast on CUDA, fp32 on CPU."""
    from labelclean.model.encoder import resolve_device

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = resolve_device(device)
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {device} is not supported for training", "use auto, cpu or cuda")
    return Runtime(dev, amp=dev.type == "cuda")


INIT = 1 << 20  # the "epoch" slot used to seed model initialisation


def seed_init(seed: int, phase: int) -> None:
    """Seed torch/numpy/python before building a model, so fresh runs start identically."""
    seed_epoch(seed, phase, INIT)


def seed_epoch(seed: int, phase: int, epoch: int) -> np.random.Generator:
    """Seed torch/numpy/python for one epoch and return its numpy Generator.

    Every epoch's randomness (sampler order, augmentation, mixup) depends only on
    (seed, phase, epoch), so a run resumed at an epoch boundary replays exactly.
    """
    seq = np.random.SeedSequence([seed, phase, epoch])
    a, b, c = (int(x) for x in seq.generate_state(3))
    torch.manual_seed(a)
    np.random.seed(b)
    random.seed(c)
    return np.random.default_rng(seq)


def lr_at(epoch: int, *, base: float, epochs: int, schedule: str, milestones: Sequence[int] = ()) -> float:
    """Learning rate for a 0-based ``epoch``: cosine annealing to 0, or x0.1 at each milestone."""
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))
    return base * 0.1 ** sum(1 for m in milestones if epoch >= m)


def sgd(params, *, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD([p for p in params if p.requires_grad], lr=lr, momentum=momentum, weight_decay=weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@dataclass
class EpochStats:
    """Running totals of one training epoch."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    batches: int = 0
    failed: int = 0  # images that could not be decoded
    start: float = field(default_factory=time.perf_counter)

    def add(self, loss: float, correct: int, n: int, failed: int = 0) -> None:
        self.loss_sum += loss
        self.correct += correct
        self.seen += n
        self.batches += 1
        self.failed += failed

    @property
    def loss(self) -> float:
        return self.loss_sum / self.batches if self.batches else float("nan")

    @property
    def acc(self) -> float:
        return self.correct / self.seen if self.seen else float("nan")

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def images_per_s(self) -> float:
        return self.seen / max(self.seconds, 1e-9)


@torch.no_grad()
def predict_probs(
    forward: Callable[[torch.Tensor], torch.Tensor], batches, rt: Runtime, n: int, bar=None
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax outputs over a loader of ``(x, i, ok)`` batches.

    Returns ``(probs (n, K) float32, ok (n,) bool)`` indexed by the position of each item in the
    loader's order (0..n-1), not by dataset index.
    """
    probs: list[np.ndarray] = []
    oks: list[np.ndarray] = []
    for x, _, ok in batches:
        with rt.autocast():
            logits = forward(x.to(rt.device, non_blocking=True))
        probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        oks.append(ok.numpy().astype(bool))
        if bar is not None:
            bar.advance(len(x))
    if not probs:
        return np.zeros((0, 0), np.float32), np.zeros(0, bool)
    out = np.concatenate(probs).astype(np.float32)
    if out.shape[0] != n:
        raise RuntimeError(f"evaluation produced {out.shape[0]} rows for {n} samples")
    return out, np.concatenate(oks)


def accuracy(probs: np.ndarray, labels: np.ndarray, ok: np.ndarray | None = None) -> float:
    """Top-1 accuracy over rows with a known label (>= 0) that decoded; NaN when there are none."""
    keep = labels >= 0
    if ok is not None:
        keep &= ok
    if not keep.any():
        return float("nan")
    return float((probs[keep].argmax(1) == labels[keep]).mean())
