"""Checkpoints: atomic torch.save of plain tensors and primitives, loaded with weights_only=True.

A checkpoint is a dict with at least ``config`` (JSON string of the resolved TrainConfig's
resume-relevant fields), ``epoch`` (completed epochs), ``rng`` (torch/numpy/python states) and
whatever model/optimizer/method state the caller adds. Numpy arrays are stored as tensors so
that ``weights_only=True`` loading works.
"""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelclean.core.errors import UsageError, WorkdirError
from labelclean.store.workdir import atomic_path


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states as tensors and lists."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached": float(cached)},
        "python": {"version": int(version), "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically (temp file + rename), adding the current RNG states."""
    state = {**state, "rng": rng_state()}
    with atomic_path(Path(path)) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as e:
        raise WorkdirError(
            f"checkpoint {path} cannot be read ({str(e).splitlines()[0][:200]})",
            "delete it and start again without --resume",
        ) from e


def check_resumable(ckpt: dict[str, Any], config: dict[str, Any], path: Path) -> None:
    """Refuse to resume a checkpoint made with different options (other than device/workers)."""
    saved = json.loads(ckpt.get("config", "{}"))
    config = json.loads(config_json(config))
    diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if "pool" in diff:
        raise UsageError(
            f"cannot --resume {path}: the training data (manifest, selection or review decisions) changed since",
            "drop --resume to start over on the current data",
        )
    if diff:
        shown = ", ".join(f"{k}: {saved.get(k)!r} -> {config.get(k)!r}" for k in diff[:4])
        raise UsageError(
            f"cannot --resume {path}: options differ from the interrupted run ({shown})",
            "repeat the original options, or drop --resume to start over",
        )


def config_json(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)
