"""DeFT phase 1 output: the final un-augmented scoring pass and ``deft.parquet``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import torch

from labelclean.core import console

from labelclean.store import parquet_io, schemas
from labelclean.train.common.learned import output_path, write_learned_prompts
from labelclean.train.deft.method import DeftScores, deft_scores


@dataclass
class ScoredPool:
    scores: DeftScores
    ok: np.ndarray  # (N,) bool: the image decoded (rows with False get null scores)
    t_pos: Optional[np.ndarray] = None  # (K, D) text features of the learned positive prompts


@torch.no_grad()
def final_pass(ctx: Any, det: Any, eval_ds: Any) -> ScoredPool:
    """Image features of every pool sample on un-augmented views, then `deft_scores`."""
    from labelclean.train.common.images import loader

    det.eval()
    rt, n = ctx.rt, len(eval_ds)
    feats, oks = [], []
    with console.progress("DeFT clean pass", total=n) as bar:
        for x, _, ok in loader(eval_ds, np.arange(n), ctx.cfg.batch_size, ctx.cfg.workers):
            with rt.autocast():
                feats.append(det.encode_image(x.to(rt.device)).float().cpu().numpy())
            oks.append(ok.numpy().astype(bool))
            bar.advance(len(x))
        t_pos, t_neg = (t.float().cpu().numpy() for t in det.encode_prompts())
    img = np.concatenate(feats) if feats else np.zeros((0, t_pos.shape[1]), np.float32)
    ok = np.concatenate(oks) if oks else np.zeros(0, bool)
    scores = deft_scores(img, t_pos, t_neg, ctx.data.given, scale=det.logit_scale)
    scores.clean &= ok
    return ScoredPool(scores, ok, t_pos)


def write_scores(ctx: Any, pool: ScoredPool, encoder: Any) -> None:
    """``W/deft.parquet`` for a workdir pool (model id = the workdir's), else ``train/deft/deft_scores.parquet``."""
    s, ok = pool.scores, pool.ok
    k = s.probs.shape[1] if s.probs.ndim == 2 else len(ctx.data.classes)
    probs = parquet_io.fixed_list(s.probs.astype(np.float32), pa.float32())
    mask = pa.array(~ok)
    table = pa.table(
        {
            "sample_id": pa.array(list(ctx.data.sample_ids), pa.string()),
            "p_clean": pa.array(s.p_clean.astype(np.float32), pa.float32(), mask=~ok),
            "pred": pa.array(s.pred.astype(np.int32), pa.int32(), mask=~ok),
            "probs": pa.FixedSizeListArray.from_arrays(probs.values, k, mask=mask),
        },
        schema=schemas.deft_schema(k),
    )
    path, mid = output_path(ctx, encoder, ctx.wd.deft, "deft_scores.parquet")
    if pool.t_pos is not None:  # `score --prompts learned:deft`
        write_learned_prompts(ctx, "deft", pool.t_pos, f"learned:deft (positive, {ctx.cfg.ctx_tokens} context vectors)",
                              encoder)
    parquet_io.write_table(path, table, "deft", model_id=mid, clean_rule="p_clean > 0.5",
                           vpt_tokens=ctx.cfg.vpt_tokens, ctx_tokens=ctx.cfg.ctx_tokens, epochs=ctx.cfg.epochs)
    console.info(f"DeFT: {int(s.clean.sum())} of {len(s.clean)} samples detected clean; wrote {path}")
