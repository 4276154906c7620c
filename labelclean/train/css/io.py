"""CSS outputs: ``W/css.parquet`` (final clean posterior) and the learned prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from labelclean.core import console
from labelclean.store import parquet_io, schemas
from labelclean.store.workdir import atomic_path
from labelclean.train.common.learned import output_path, write_learned_prompts


def write_scores(ctx: Any, final: dict, encoder: Any) -> list[Path]:
    """``W/css.parquet`` for a workdir pool (model id = the workdir's), else ``train/css/css_scores.parquet``.

    Rows outside the final pool (reviewer-dropped, unreadable) get null scores.
    """
    pool, probs = final["pool"], final["probs"].astype(np.float32)
    k = len(ctx.data.classes)
    if probs.shape != (len(pool), k):
        probs = np.zeros((len(pool), k), np.float32)
    flat = parquet_io.fixed_list(probs, pa.float32())
    table = pa.table(
        {
            "sample_id": pa.array(list(ctx.data.sample_ids), pa.string()),
            "p_clean": pa.array(final["posterior"].astype(np.float32), pa.float32(), mask=~pool),
            "pred": pa.array(probs.argmax(1).astype(np.int32), pa.int32(), mask=~pool),
            "probs": pa.FixedSizeListArray.from_arrays(flat.values, k, mask=pa.array(~pool)),
        },
        schema=schemas.css_schema(k),
    )
    path, mid = output_path(ctx, encoder, ctx.wd.css, "css_scores.parquet")
    cfg = ctx.cfg
    parquet_io.write_table(path, table, "css", model_id=mid, clean_rule=f"p_clean >= {cfg.css_eps}",
                           css_eps=cfg.css_eps, per_class=cfg.css_per_class, prompt_training=cfg.prompt_training,
                           epochs=cfg.epochs, gmm=final["fit"])
    console.info(f"CSS: {final['n_x']} of {int(pool.sum())} samples in the final clean set X; wrote {path}")
    return [path]


def save_prompts(ctx: Any, prompts: Any, encoder: Any) -> list[Path]:
    """The context vectors (``train/css/prompts.pt``) and their class text features (``W/prompts/css.parquet``)."""
    outputs = []
    if prompts.coop is not None:
        path = ctx.out_dir / "prompts.pt"
        with atomic_path(path) as tmp:
            torch.save({"ctx": prompts.coop.ctx.detach().cpu(), "n_init": prompts.coop.n_init,
                        "prompt_names": prompts.names, "model_id": encoder.model_id}, tmp)
        outputs.append(path)
    with torch.no_grad():
        text = prompts.text().float().cpu().numpy()
    label = f"learned:css ({ctx.cfg.prompt_training}, {ctx.cfg.ctx_tokens} context vectors)"
    outputs.append(write_learned_prompts(ctx, "css", text, label, encoder))
    return outputs
