"""Outputs a trainer leaves in the workdir for later stages: learned prompts (prompts/<method>.parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from labelclean.store import parquet_io, schemas


def output_path(ctx: Any, encoder: Any, workdir_path: Path, own_name: str) -> tuple[Path, str]:
    """A workdir pool writes into the workdir (its model id); a --manifest pool into train/<method>/."""
    from labelclean.store.tables import model_id

    if ctx.data.source == "workdir":
        return workdir_path, model_id(ctx.wd)
    return ctx.out_dir / own_name, encoder.model_id


def write_learned_prompts(ctx: Any, method: str, text: np.ndarray, label: str, encoder: Any) -> Path:
    """prompts/<method>.parquet (workdir pools) or train/<method>/prompts.parquet: one row per class."""
    classes = ctx.data.classes
    table = pa.table(
        {
            "class_id": pa.array([c.id for c in classes], pa.int32()),
            "class_name": pa.array([c.name for c in classes], pa.string()),
            "prompt": pa.array([f"{label}: {c.prompt_name}" for c in classes], pa.string()),
            "source": pa.array([label] * len(classes), pa.string()),
            "embedding": parquet_io.fixed_list(text.astype(np.float32), pa.float32()),
        },
        schema=schemas.learned_prompts_schema(text.shape[1]),
    )
    path, mid = output_path(ctx, encoder, ctx.wd.learned_prompts(method), "prompts.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    parquet_io.write_table(path, table, "learned_prompts", model_id=mid, method=method)
    return path
