"""Per-epoch metrics: one row per epoch, rewritten to ``metrics.csv`` after every epoch."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Optional, Sequence

from labelclean.store.workdir import atomic_write_text

COLUMNS = (
    "epoch", "loss", "train_acc", "val_acc", "lr", "n_train",
    "absorbed", "relabelled", "dropped", "absorbed_acc", "relabelled_acc",
    "images_per_s", "seconds",
    "phase", "n_clean", "clean_precision", "clean_recall", "decode_failed",
    "n_x", "n_u", "x_precision", "x_recall", "x_fallback_classes",
    "gmm_clean_loss", "gmm_clean_p", "gmm_noisy_loss", "gmm_noisy_p", "gmm_clean_weight", "gmm_fits", "gmm_degenerate",
    "loss_x", "loss_u", "loss_con", "loss_reg", "mask_rate", "loss_prompt", "prompt_acc",
    "prompt_x_conf_start", "prompt_x_conf", "prompt_reverted", "nan_skipped",
)  # fmt: skip


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts keyed by COLUMNS; missing keys and NaN become empty cells) atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    atomic_write_text(path, buf.getvalue())


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def best_and_last(rows: Sequence[dict[str, Any]], phase: Optional[str] = None) -> dict[str, Any]:
    """Best (highest val_acc, earliest on ties) and last validation accuracy of ``phase``'s rows."""
    rows = [r for r in rows if phase is None or r.get("phase") == phase]
    scored = [r for r in rows if _finite(r.get("val_acc"))]
    out: dict[str, Any] = {"epochs": len(rows)}
    if rows:
        out["last_val_acc"] = rows[-1].get("val_acc") if _finite(rows[-1].get("val_acc")) else None
        out["last_train_acc"] = rows[-1].get("train_acc")
    if scored:
        best = max(scored, key=lambda r: (r["val_acc"], -r["epoch"]))
        out["best_val_acc"], out["best_epoch"] = best["val_acc"], best["epoch"]
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not math.isnan(float(v))


def nan_to_none(row: dict[str, Any]) -> dict[str, Any]:
    """JSON/checkpoint-friendly copy of a metrics row (NaN -> None)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
