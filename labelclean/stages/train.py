"""`train`: fit a classifier on the cleaned data with MixFix or DeFT, into ``W/train/<method>/``."""

from __future__ import annotations

from labelclean.stages.base import StageReport, Timer
from labelclean.train.common.config import TrainConfig
from labelclean.store.workdir import Workdir

__all__ = ["TrainConfig", "run_train"]

BEST_NOTE = (
    "best_val_acc is the maximum over epochs, chosen on --val itself: it is optimistic when --val is "
    "your test set (as in the papers). last_val_acc, of the saved final model, does not depend on that choice."
)


def run_train(wd: Workdir, cfg: TrainConfig) -> StageReport:
    """Train with ``cfg.method``; checkpoints every epoch, resumable with ``cfg.resume``.

    Returns a StageReport whose summary holds best/last validation accuracy, MixFix or DeFT
    counts, and ``complete`` (False when stopped early by ``stop_after``).
    """
    cfg = cfg.resolved()
    if cfg.manifest is None:
        wd.require(wd.manifest, "embed")
    with Timer() as timer, wd.lock():
        result, data = _fit(wd, cfg)
    summary = _json_safe({
        "method": cfg.method,
        "backbone": cfg.backbone,
        "complete": result.complete,
        "source": data.source,
        "n_pool": int((~data.dropped).sum()),
        **result.summary,
    })
    if cfg.val is not None:
        summary["note"] = BEST_NOTE
    counts = {"pool": len(data), **{f"skipped_{k}": v for k, v in data.skipped.items()}}
    wd.update_run(f"train_{cfg.method}", {"config": cfg.fingerprint_dict(), "summary": summary,
                                          "seconds": round(timer.seconds, 3)})
    return StageReport("train", counts, summary, result.outputs, timer.seconds)


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
