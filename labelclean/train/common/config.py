"""Training configuration: one dataclass, method defaults from the official code, validation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from labelclean.core.errors import InputError, UsageError

METHODS = ("mixfix", "deft")
SCHEDULES = ("step", "cosine")
AUGMENTS = ("auto", "strong", "light", "none")

# Per-method defaults. MixFix: CLIPCleaner's main.py (lr 0.02, batch 128, 300 epochs, step decay
# at 2/3 and 5/6 of the run, PreAct ResNet-18). DeFT: phase 1 SGD 0.03 cosine, 10 epochs, batch 64;
# phase 2 full fine-tuning SGD 5e-4 cosine, 10 epochs, on the CLIP image tower.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mixfix": {"backbone": "preact_resnet18", "epochs": 300, "batch_size": 128, "lr": 0.02, "schedule": "step"},
    "deft": {"backbone": "clip", "epochs": 10, "batch_size": 64, "lr": 0.03, "schedule": "cosine"},
}

# Options that may change between an interrupted run and its --resume.
# --detect-only may be dropped on --resume to go on with DeFT phase 2 after a detection-only run.
RESUME_FREE = ("resume", "device", "workers", "stop_after", "detect_only")


@dataclass
class TrainConfig:
    """Everything `labelclean train` needs; ``None`` means "the method's default"."""

    method: str = "mixfix"
    manifest: Optional[Path] = None  # exported manifest used instead of the workdir selection
    val: Optional[Path] = None  # held-out folder or manifest for per-epoch accuracy
    truth: Optional[str] = None  # manifest column with true labels (default: clean_label if present)
    backbone: Optional[str] = None  # timm name, preact_resnet18 or clip
    pretrained_backbone: Optional[Path] = None  # local state dict for a timm backbone
    image_size: Optional[int] = None
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    schedule: Optional[str] = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: str = "auto"
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    resume: bool = False
    # MixFix
    beta: float = 1.0  # mixup Beta(beta, beta); the official default (its help text says 4)
    theta_r: float = 0.8  # absorb: prediction == given label and confidence >= theta_r
    theta_r2: float = 0.8  # relabel: prediction != given label and confidence >= theta_r2
    # DeFT
    warmup: int = 1  # epochs of phase 1 training on every sample before selecting
    vpt_tokens: int = 20  # VPT-deep prompt tokens per visual block
    ctx_tokens: int = 16  # learned context vectors per text prompt (positive and negative)
    ft_epochs: Optional[int] = None  # phase 2; default: same as epochs
    ft_lr: float = 5e-4
    detect_only: bool = False  # stop after phase 1 (writes deft.parquet)
    # Testing hook: stop (as if interrupted) after this many completed epochs in total.
    stop_after: Optional[int] = None
    milestones: list[int] = field(default_factory=list)  # step schedule; default 2/3 and 5/6 of epochs

    def resolved(self) -> "TrainConfig":
        """A copy with method defaults filled in, validated."""
        if self.method not in METHODS:
            raise UsageError(f"unknown --method '{self.method}'", f"choose one of: {', '.join(METHODS)}")
        d = DEFAULTS[self.method]
        cfg = dataclasses.replace(
            self,
            backbone=self.backbone or d["backbone"],
            epochs=self.epochs if self.epochs is not None else d["epochs"],
            batch_size=self.batch_size if self.batch_size is not None else d["batch_size"],
            lr=self.lr if self.lr is not None else d["lr"],
            schedule=self.schedule or d["schedule"],
        )
        if cfg.ft_epochs is None:
            cfg.ft_epochs = cfg.epochs
        if not cfg.milestones:
            cfg.milestones = sorted({max(1, round(cfg.epochs * 2 / 3)), max(1, round(cfg.epochs * 5 / 6))})
        _validate(cfg)
        return cfg

    def fingerprint_dict(self) -> dict[str, Any]:
        """The options a resumed run must share with the run it continues."""
        d = dataclasses.asdict(self)
        for k in RESUME_FREE:
            d.pop(k, None)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def _validate(cfg: TrainConfig) -> None:
    checks = [
        (cfg.epochs >= 1, f"--epochs must be >= 1, got {cfg.epochs}"),
        (cfg.ft_epochs >= 0, f"--ft-epochs must be >= 0, got {cfg.ft_epochs}"),
        (cfg.batch_size >= 2, f"--batch-size must be >= 2, got {cfg.batch_size}"),
        (cfg.lr > 0, f"--lr must be > 0, got {cfg.lr}"),
        (cfg.beta > 0, f"--beta must be > 0, got {cfg.beta}"),
        (0.0 <= cfg.theta_r <= 1.0, f"--theta-r must be in [0, 1], got {cfg.theta_r}"),
        (0.0 <= cfg.theta_r2 <= 1.0, f"--theta-r2 must be in [0, 1], got {cfg.theta_r2}"),
        (cfg.warmup >= 0, f"--warmup must be >= 0, got {cfg.warmup}"),
        (cfg.workers >= 0, f"--workers must be >= 0, got {cfg.workers}"),
        (cfg.image_size is None or cfg.image_size >= 8, f"--image-size must be >= 8, got {cfg.image_size}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    if cfg.schedule not in SCHEDULES:
        raise UsageError(f"unknown --schedule '{cfg.schedule}'", f"choose one of: {', '.join(SCHEDULES)}")
    if cfg.augment not in AUGMENTS:
        raise UsageError(f"unknown --augment '{cfg.augment}'", f"choose one of: {', '.join(AUGMENTS)}")
    if cfg.pretrained_backbone is not None and not Path(cfg.pretrained_backbone).is_file():
        raise InputError(
            f"--pretrained-backbone {cfg.pretrained_backbone} is not a file",
            "pass a local state dict (.pt/.pth/.safetensors); weights are never downloaded",
        )
