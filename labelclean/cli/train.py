"""`labelclean train`: train a classifier on the cleaned data (MixFix or DeFT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import DEFAULT_WD, DeviceOpt, JsonOpt, SeedOpt, WorkdirOpt
from labelclean.store.workdir import Workdir

_Opt = typer.Option


@app.command()
@command_boundary
def train(
    workdir: WorkdirOpt = DEFAULT_WD,
    method: Annotated[str, _Opt("--method", help="mixfix (CLIPCleaner) or deft (DeFT).")] = "mixfix",
    manifest: Annotated[Optional[Path], _Opt("--manifest", help="Train on an exported manifest "
                        "(path,label[,clean_score]; all rows clean) instead of the workdir selection.")] = None,
    val: Annotated[Optional[Path], _Opt("--val", help="Held-out labelled folder or manifest; accuracy per epoch.")] = None,
    truth: Annotated[Optional[str], _Opt("--truth", help="Manifest column with true labels, for "
                     "absorb/relabel and detection accuracy (default: clean_label if present).")] = None,
    backbone: Annotated[Optional[str], _Opt("--backbone", help="clip (the workdir's CLIP image tower), "
                        "preact_resnet18 (32 px), or a timm name such as resnet18, resnet50, vit_small_patch16_224. "
                        "Default: preact_resnet18 for mixfix, clip for deft.")] = None,
    pretrained_backbone: Annotated[Optional[Path], _Opt("--pretrained-backbone",
                                   help="Local state dict for a timm backbone (never downloaded).")] = None,
    image_size: Annotated[Optional[int], _Opt("--image-size", help="Input size (default: the backbone's).")] = None,
    epochs: Annotated[Optional[int], _Opt("--epochs", help="Epochs (mixfix 300; deft 10 per phase).")] = None,
    batch_size: Annotated[Optional[int], _Opt("--batch-size", help="Batch size (mixfix 128, deft 64).")] = None,
    lr: Annotated[Optional[float], _Opt("--lr", help="Learning rate (mixfix 0.02; deft phase 1 0.03).")] = None,
    schedule: Annotated[Optional[str], _Opt("--schedule", help="step (x0.1 at 2/3 and 5/6) or cosine.")] = None,
    augment: Annotated[str, _Opt("--augment", help="auto, strong (AutoAugment/RandAugment), light or none.")] = "auto",
    beta: Annotated[float, _Opt("--beta", help="MixFix: mixup Beta(beta, beta).")] = 1.0,
    theta_r: Annotated[float, _Opt("--theta-r", help="MixFix: absorb threshold.")] = 0.8,
    theta_r2: Annotated[float, _Opt("--theta-r2", help="MixFix: relabel threshold.")] = 0.8,
    warmup: Annotated[int, _Opt("--warmup", help="DeFT: warm-up epochs on all samples.")] = 1,
    ft_epochs: Annotated[Optional[int], _Opt("--ft-epochs", help="DeFT phase 2 epochs (default: --epochs).")] = None,
    ft_lr: Annotated[float, _Opt("--ft-lr", help="DeFT phase 2 learning rate.")] = 5e-4,
    detect_only: Annotated[bool, _Opt("--detect-only", help="DeFT: stop after detection (writes deft.parquet).")] = False,
    workers: Annotated[int, _Opt("--workers", help="Image loading processes (0: in the main process).")] = 0,
    resume: Annotated[bool, _Opt("--resume", help="Continue from train/<method>/last.pt.")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Train a classifier on the cleaned data; checkpoints and metrics go to W/train/<method>/.

    mixfix trains on the selection (after review) and, after every epoch, absorbs or relabels
    confident samples outside it. deft detects noisy labels with dual prompts on CLIP (writing
    W/deft.parquet for `select --estimators ...,deft`), then fine-tunes on the clean subset.
    Mixed precision on CUDA; runs on CPU too, slowly.

    Example:

    \b
      labelclean train -w work --method mixfix --backbone resnet18 --epochs 100 --val test/
      labelclean train -w work --method deft --epochs 10 --resume
    """
    from labelclean.stages.train import TrainConfig, run_train

    cfg = TrainConfig(
        method=method, manifest=manifest, val=val, truth=truth, backbone=backbone,
        pretrained_backbone=pretrained_backbone, image_size=image_size, epochs=epochs, batch_size=batch_size,
        lr=lr, schedule=schedule, augment=augment, seed=seed, device=device, workers=workers, resume=resume,
        beta=beta, theta_r=theta_r, theta_r2=theta_r2, warmup=warmup, ft_epochs=ft_epochs, ft_lr=ft_lr,
        detect_only=detect_only,
    )
    report = run_train(Workdir(workdir), cfg)
    if json_out:
        console.emit_json(report.to_json())
        return
    _render(report.summary)


def _render(s: dict) -> None:
    rows = [(k, v) for k, v in _flat(s).items() if k not in ("note", "method")]
    console.table(f"train --method {s['method']}", ["", "value"], rows)
    if s.get("note"):
        console.info(s["note"])


def _flat(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = "-" if v is None else v
    return out
