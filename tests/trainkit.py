"""Tiny labelled image workdirs for the `train` / `predict` tests (no `embed` run needed).

`make_train_workdir` writes small PNGs (one colour per class plus noise, from imagegen),
a manifest via workdirgen with a ``clean_label`` truth column, optionally a selection, and
optionally the CLIP identity `embed` records in run.json (needed by DeFT and --backbone clip).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pyarrow as pa

from imagegen import class_color, make_png
from labelclean.store import parquet_io, schemas
from labelclean.store.workdir import Workdir
from workdirgen import make_workdir


@dataclass
class TrainData:
    wd: Workdir
    class_names: list[str]
    truth: np.ndarray  # (N,) true ids
    given: np.ndarray  # (N,) given ids (some flipped)
    sample_ids: list[str]


def make_train_workdir(
    path: Path,
    *,
    classes: Sequence[str] = ("apple", "banana", "cherry"),
    per_class: int = 12,
    n_noisy: int = 6,
    size: int = 32,
    seed: int = 0,
    selection: bool = True,
    tiny_model: Optional[str] = None,
) -> TrainData:
    """``per_class`` images per class; the first ``n_noisy`` samples get a wrong given label.

    The selection (when written) marks exactly the correctly labelled samples as clean,
    except the last correct one of each class, so MixFix has clean samples to absorb too.
    """
    rng = np.random.default_rng(seed)
    names = list(classes)
    truth = np.repeat(np.arange(len(names)), per_class)
    order = rng.permutation(len(truth))
    truth = truth[order]
    given = truth.copy()
    given[:n_noisy] = (truth[:n_noisy] + 1) % len(names)
    ids = [f"{names[t]}/{names[t]}_{i:03d}.png" for i, t in enumerate(truth)]
    X = rng.standard_normal((len(ids), 8)).astype(np.float32)
    wd = make_workdir(path, X, given, names, sample_ids=ids, extras={"clean_label": [names[t] for t in truth]})
    for i, (sid, t) in enumerate(zip(ids, truth)):
        make_png(wd.root / "data" / sid, class_color(int(t), len(names)), (size, size), noise_seed=seed * 1000 + i)
    if selection:
        clean = given == truth
        for c in range(len(names)):
            members = np.flatnonzero(clean & (truth == c))
            if len(members) > 1:
                clean[members[-1]] = False
        write_selection(wd, ids, given, clean)
    if tiny_model is not None:
        record_encoder(wd, tiny_model)
    return TrainData(wd, names, truth, given, ids)


def write_selection(wd: Workdir, ids: Sequence[str], given: np.ndarray, clean: np.ndarray) -> None:
    n = len(ids)
    table = pa.table(
        {
            "sample_id": pa.array(list(ids), pa.string()),
            "label_id": pa.array(given.astype(np.int32), pa.int32()),
            "clean": pa.array(clean.astype(bool), pa.bool_()),
            "clean_score": pa.array(np.where(clean, 0.9, 0.1).astype(np.float32), pa.float32()),
            "failed": pa.array(["" if c else "consistency" for c in clean], pa.string()),
            "suggested_label_id": pa.array([None] * n, pa.int32()),
            "suggested_confidence": pa.array([None] * n, pa.float32()),
            "outlier": pa.array([False] * n, pa.bool_()),
            "decision": pa.array(["keep" if c else "flag" for c in clean], pa.string()),
        },
        schema=schemas.SELECTION,
    )
    parquet_io.write_table(wd.selection, table, "selection", model_id=None)


def record_encoder(wd: Workdir, model: str) -> str:
    """Write the CLIP identity into run.json as `embed` does; returns the model id."""
    from labelclean.model.encoder import load_encoder

    enc = load_encoder(model, device="cpu", precision="fp32")
    wd.update_run("embed", {"fabricated": True}, model={**enc.identity, "model_id": enc.model_id})
    return enc.model_id


def write_decisions(wd: Workdir, decisions: dict) -> None:
    """decisions.parquet from ``{sample_id: (decision, label or None)}`` (as `review` stores them)."""
    ids = sorted(decisions)
    table = pa.table(
        {
            "sample_id": pa.array(ids, pa.string()),
            "decision": pa.array([decisions[s][0] for s in ids], pa.string()),
            "label": pa.array([decisions[s][1] for s in ids], pa.string()),
            "source": pa.array(["test"] * len(ids), pa.string()),
        },
        schema=schemas.DECISIONS,
    )
    parquet_io.write_table(wd.decisions, table, "decisions")
