"""Run a trained model (``train/<method>/model.pt`` + ``model.json``) on images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from labelclean.core import console
from labelclean.core.errors import WorkdirError
from labelclean.ingest.types import ClassInfo
from labelclean.train.common.artifact import card_classes, load_weights, read_card
from labelclean.train.common.images import ImageDataset, Preprocess, eval_transform, loader
from labelclean.train.common.loop import Runtime, predict_probs
from labelclean.train.common.models import build_classifier


@dataclass
class Trained:
    model: torch.nn.Module
    classes: list[ClassInfo]
    preprocess: Preprocess
    card: dict[str, Any]


def load_trained(folder: Path, rt: Runtime) -> Trained:
    """Rebuild the architecture described by model.json and load model.pt into it."""
    card = read_card(folder)
    classes = card_classes(card)
    spec = card["backbone"]
    encoder = None
    if spec["kind"] == "clip":
        encoder = _clip_loader(spec, rt)
    built = build_classifier(
        spec["name"], int(spec["num_classes"]), image_size=spec.get("image_size") if spec["kind"] != "clip" else None,
        clip_encoder=encoder,
    )
    try:
        built.model.load_state_dict(load_weights(folder))
    except RuntimeError as e:
        raise WorkdirError(f"{folder / 'model.pt'} does not match {folder / 'model.json'}: {str(e)[:200]}",
                           "train the model again") from e
    model = built.model.to(rt.device).eval()
    return Trained(model, classes, Preprocess.from_json(card["preprocessing"]), card)


def _clip_loader(spec: dict[str, Any], rt: Runtime):
    from labelclean.train.common.context import model_args

    def load():
        from labelclean.model.encoder import load_encoder

        model, pretrained = model_args(spec["identity"])
        return load_encoder(model, pretrained, device=str(rt.device), precision="fp32")

    return load


@dataclass
class Predictions:
    probs: np.ndarray  # (N, K) float32 softmax; rows of failed images are zeros
    ok: np.ndarray  # (N,) bool: the image decoded


def predict_paths(trained: Trained, paths: Sequence[str], rt: Runtime, *, batch_size: int = 64,
                  workers: int = 0) -> Predictions:
    pp = trained.preprocess
    ds = ImageDataset(list(paths), eval_transform(pp), pp.size)
    if len(ds) == 0:
        return Predictions(np.zeros((0, len(trained.classes)), np.float32), np.zeros(0, bool))
    with console.progress("predict", total=len(ds)) as bar:
        probs, ok = predict_probs(trained.model, loader(ds, np.arange(len(ds)), batch_size, workers), rt, len(ds), bar)
    probs[~ok] = 0.0
    return Predictions(probs, ok)


def top_k(probs: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(ids, probs) of the k most probable classes per row, most probable first."""
    k = min(k, probs.shape[1])
    ids = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(probs, ids, axis=1)


def method_folder(train_dir: Path, method: Optional[str]) -> Path:
    """train/<method>/ holding a finished model; without ``method``, the only one there is."""
    if method is not None:
        folder = train_dir / method
        if not (folder / "model.json").exists():
            raise WorkdirError(f"no trained {method} model in {folder}",
                               f"run `labelclean train --method {method}` first")
        return folder
    found = sorted(p.parent for p in train_dir.glob("*/model.json"))
    if not found:
        raise WorkdirError(f"no trained model in {train_dir}", "run `labelclean train` first")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        from labelclean.core.errors import UsageError

        raise UsageError(f"{train_dir} holds several trained models ({names})", "choose one with --method")
    return found[0]
