"""Training configuration: one dataclass, method defaults from the official code, validation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from labelclean.core.errors import InputError, UsageError

METHODS = ("mixfix", "deft", "css")
SCHEDULES = ("step", "cosine")
AUGMENTS = ("auto", "strong", "light", "none")
PROMPT_TRAININGS = ("ssl", "sl", "none")  # CSS prompts: L^P_X + lambda_u L^P_U, L^P_X only, fixed prompts

# Per-method defaults. MixFix: CLIPCleaner's main.py (lr 0.02, batch 128, 300 epochs, step decay
# at 2/3 and 5/6 of the run, PreAct ResNet-18). DeFT: phase 1 SGD 0.03 cosine, 10 epochs, batch 64;
# phase 2 full fine-tuning SGD 5e-4 cosine, 10 epochs, on the CLIP image tower.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mixfix": {"backbone": "preact_resnet18", "epochs": 300, "batch_size": 128, "lr": 0.02, "schedule": "step"},
    "deft": {"backbone": "clip", "epochs": 10, "batch_size": 64, "lr": 0.03, "schedule": "cosine", "warmup": 1},
    # CSS: the paper's CIFAR schedule (its section 4.1): 10 warm-up + 300 epochs, lr 0.02 / 10 after
    # 150 of them, batch 128, PreAct ResNet-18, 800 epochs of contrastive pre-training from scratch.
    "css": {"backbone": "preact_resnet18", "epochs": 310, "batch_size": 128, "lr": 0.02, "schedule": "step",
            "warmup": 10},
}
CSS_PRETRAIN_FROM_SCRATCH = 800  # --pretrain-epochs default when the backbone starts from random weights

# `--preset`: the CSS paper's three schedules (its section 4.1). --epochs counts the warm-up epochs too,
# milestones are 0-based epochs at which the lr is divided by 10. Values the paper leaves open are
# marked; an option given explicitly overrides its preset value.
PRESETS: dict[str, dict[str, Any]] = {
    # CIFAR-10 (CIFAR-100 warms up 30 epochs: add --warmup 30 --epochs 330)
    "cifar": {"backbone": "preact_resnet18", "pretrain_epochs": 800, "warmup": 10, "epochs": 310,
              "batch_size": 128, "lr": 0.02, "weight_decay": 5e-4, "milestones": [160]},
    # ResNet-50 ImageNet-pretrained (pass its weights with --pretrained-backbone); SGD assumed
    "clothing1m": {"backbone": "resnet50", "pretrain_epochs": 0, "warmup": 1, "epochs": 81, "batch_size": 32,
                   "lr": 0.001, "weight_decay": 1e-3, "milestones": [41]},
    # warm-up, batch size and lr decay are not stated: DivideMix's WebVision values (1, 32, at epoch 40)
    "webvision": {"backbone": "inception_resnet_v2", "pretrain_epochs": 0, "warmup": 1, "epochs": 81,
                  "batch_size": 32, "lr": 0.01, "weight_decay": 5e-4, "milestones": [41]},
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
    weight_decay: Optional[float] = None  # default 5e-4 (--preset clothing1m: 1e-3)
    augment: str = "auto"
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    resume: bool = False
    # MixFix
    beta: float = 1.0  # mixup Beta(beta, beta); the official default (its help text says 4)
    theta_r: float = 0.8  # absorb: prediction == given label and confidence >= theta_r
    theta_r2: float = 0.8  # relabel: prediction != given label and confidence >= theta_r2
    # DeFT and CSS
    warmup: Optional[int] = None  # epochs on every sample with its given label before selecting (deft 1, css 10)
    vpt_tokens: int = 20  # VPT-deep prompt tokens per visual block
    ctx_tokens: int = 16  # learned context vectors per text prompt (positive and negative)
    ft_epochs: Optional[int] = None  # phase 2; default: same as epochs
    ft_lr: float = 5e-4
    detect_only: bool = False  # stop after phase 1 (writes deft.parquet)
    # CSS (the paper's values)
    preset: Optional[str] = None  # cifar | clothing1m | webvision: the paper's schedules (PRESETS)
    pretrain_epochs: Optional[int] = None  # contrastive pre-training; default 800 from scratch, else 0
    lambda_u: float = 0.5  # weight of the FixMatch loss on U (network and prompts)
    lambda_c: float = 0.025  # weight of the NT-Xent loss
    lambda_r: float = 1.0  # weight of the uniform-prior regulariser
    delta: float = 0.95  # pseudo-label confidence threshold
    css_eps: float = 0.5  # X = {clean posterior >= css_eps}
    css_per_class: bool = False  # one 2-D GMM per given class instead of one global GMM
    prompt_training: str = "ssl"  # ssl | sl | none (PROMPT_TRAININGS)
    prompt_lr: float = 0.002  # SGD lr of the prompt context (CoOp's)
    prompt_guard: bool = True  # undo prompt updates that leave mean p(given) over X > GUARD_DROP below the start's
    con_temperature: float = 0.5  # NT-Xent temperature
    # Testing hook: stop (as if interrupted) after this many completed epochs in total.
    stop_after: Optional[int] = None
    milestones: list[int] = field(default_factory=list)  # step schedule; default 2/3 and 5/6 of epochs

    def resolved(self) -> "TrainConfig":
        """A copy with method defaults filled in, validated."""
        if self.method not in METHODS:
            raise UsageError(f"unknown --method '{self.method}'", f"choose one of: {', '.join(METHODS)}")
        if self.preset is not None and (self.method != "css" or self.preset not in PRESETS):
            raise UsageError(f"unknown --preset '{self.preset}' for --method {self.method}",
                             f"--preset takes one of {', '.join(PRESETS)}, with --method css")
        d = {"weight_decay": 5e-4, "warmup": 0, **DEFAULTS[self.method], **PRESETS.get(self.preset or "", {})}
        pick = lambda name: getattr(self, name) if getattr(self, name) is not None else d[name]  # noqa: E731
        cfg = dataclasses.replace(
            self, **{k: pick(k) for k in ("backbone", "epochs", "batch_size", "lr", "weight_decay", "warmup")},
            schedule=self.schedule or d["schedule"],
        )
        if cfg.ft_epochs is None:
            cfg.ft_epochs = cfg.epochs
        if cfg.method == "css" and cfg.pretrain_epochs is None:
            scratch = cfg.pretrained_backbone is None and cfg.backbone != "clip"
            cfg.pretrain_epochs = d.get("pretrain_epochs", CSS_PRETRAIN_FROM_SCRATCH if scratch else 0)
        if not cfg.milestones and "milestones" in d and cfg.epochs == d["epochs"] and cfg.warmup == d["warmup"]:
            cfg.milestones = list(d["milestones"])
        if not cfg.milestones and cfg.method == "css":  # the lr drops halfway through the epochs after warm-up
            cfg.milestones = [cfg.warmup + max(1, (cfg.epochs - cfg.warmup) // 2)]
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
        (cfg.weight_decay >= 0, f"--weight-decay must be >= 0, got {cfg.weight_decay}"),
        (cfg.pretrain_epochs is None or cfg.pretrain_epochs >= 0, f"--pretrain-epochs must be >= 0, got {cfg.pretrain_epochs}"),
        (0.0 <= cfg.delta <= 1.0, f"--delta must be in [0, 1], got {cfg.delta}"),
        (0.0 <= cfg.css_eps <= 1.0, f"--css-eps must be in [0, 1], got {cfg.css_eps}"),
        (min(cfg.lambda_u, cfg.lambda_c, cfg.lambda_r) >= 0, "--lambda-u, --lambda-c and --lambda-r must be >= 0"),
        (cfg.prompt_lr > 0, f"--prompt-lr must be > 0, got {cfg.prompt_lr}"),
        (cfg.con_temperature > 0, f"--con-temperature must be > 0, got {cfg.con_temperature}"),
        (cfg.image_size is None or cfg.image_size >= 8, f"--image-size must be >= 8, got {cfg.image_size}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    if cfg.schedule not in SCHEDULES:
        raise UsageError(f"unknown --schedule '{cfg.schedule}'", f"choose one of: {', '.join(SCHEDULES)}")
    if cfg.prompt_training not in PROMPT_TRAININGS:
        raise UsageError(f"unknown --prompt-training '{cfg.prompt_training}'",
                         f"choose one of: {', '.join(PROMPT_TRAININGS)}")
    if cfg.augment not in AUGMENTS:
        raise UsageError(f"unknown --augment '{cfg.augment}'", f"choose one of: {', '.join(AUGMENTS)}")
    if cfg.pretrained_backbone is not None and not Path(cfg.pretrained_backbone).is_file():
        raise InputError(
            f"--pretrained-backbone {cfg.pretrained_backbone} is not a file",
            "pass a local state dict (.pt/.pth/.safetensors); weights are never downloaded",
        )
