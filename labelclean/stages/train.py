"""`train`: fit a classifier on the cleaned data with MixFix, DeFT or CSS, into ``W/train/<method>/``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from labelclean.core.report import StageReport, Timer, summary_field
from labelclean.train.common.config import TrainConfig
from labelclean.store.workdir import Workdir

__all__ = ["TrainConfig", "run_train"]

BEST_NOTE = (
    "best_val_acc is the maximum over epochs, chosen on --val itself: it is optimistic when --val is "
    "your test set (as in the papers). last_val_acc, of the saved final model, does not depend on that choice."
)


@dataclass(kw_only=True)
class TrainReport(StageReport):
    stage: str = "train"
    method: str
    backbone: str
    complete: bool  # False when stopped early by stop_after
    source: str  # what the training set came from
    n_pool: int
    results: dict[str, Any] = summary_field(flatten=True)  # the method's figures (accuracies, MixFix/DeFT/CSS counts)
    note: Optional[str] = None


def run_train(wd: Workdir, cfg: TrainConfig) -> TrainReport:
    """Train with ``cfg.method``; checkpoints every epoch, resumable with ``cfg.resume``.

    Returns a StageReport whose summary holds best/last validation accuracy, MixFix or DeFT
    counts, and ``complete`` (False when stopped early by ``stop_after``).
    """
    cfg = cfg.resolved()
    if cfg.manifest is None:
        wd.require(wd.manifest, "embed")
    with Timer() as timer, wd.lock():
        result, data = _fit(wd, cfg)
    counts = {"pool": len(data), **{f"skipped_{k}": v for k, v in data.skipped.items()}}
    report = TrainReport(counts=counts, outputs=result.outputs, seconds=timer.seconds, method=cfg.method,
                         backbone=cfg.backbone, complete=result.complete, source=data.source,
                         n_pool=int((~data.dropped).sum()), results=_json_safe(result.summary),
                         note=BEST_NOTE if cfg.val is not None else None)
    wd.update_run(f"train_{cfg.method}", {**report.run_record(cfg), "config": cfg.fingerprint_dict()})
    return report


def _fit(wd: Workdir, cfg: TrainConfig):
    from labelclean.train.common.context import TrainContext
    from labelclean.train.common.data import load_eval_set, load_train_set
    from labelclean.train.common.loop import make_runtime

    rt = make_runtime(cfg.device)
    data = load_train_set(wd, manifest=cfg.manifest, truth=cfg.truth, need_selection=cfg.method == "mixfix")
    val = load_eval_set(cfg.val, data.classes) if cfg.val is not None else None
    ctx = TrainContext(wd, cfg, data, rt, val)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.method == "mixfix":
        from labelclean.train.mixfix.trainer import run_mixfix

        return run_mixfix(ctx), data
    if cfg.method == "css":
        from labelclean.train.css.trainer import run_css

        return run_css(ctx), data
    from labelclean.train.deft.trainer import run_deft

    return run_deft(ctx), data


def _json_safe(value):
    """NaN -> None, numpy scalars -> Python numbers, recursively (for --json and run.json)."""
    import math

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
