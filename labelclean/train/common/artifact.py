"""The final model: ``model.pt`` (state dict) + ``model.json`` (everything needed to use it)."""

from __future__ import annotations

import datetime as _dt
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from labelclean import __version__
from labelclean.core.errors import WorkdirError
from labelclean.ingest.types import ClassInfo
from labelclean.train.common.images import Preprocess
from labelclean.store.workdir import atomic_path, atomic_write_text

MODEL_FILE = "model.pt"
CARD_FILE = "model.json"
CARD_VERSION = 1


@dataclass
class ModelCard:
    method: str
    backbone: dict[str, Any]  # models.Built.spec
    classes: list[ClassInfo]
    preprocess: Preprocess
    metrics: dict[str, Any]
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "card_version": CARD_VERSION,
            "labelclean_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "method": self.method,
            "backbone": self.backbone,
            "classes": [{"id": c.id, "name": c.name, "prompt_name": c.prompt_name} for c in self.classes],
            "preprocessing": self.preprocess.to_json(),
            "metrics": self.metrics,
            "config": self.config,
            "weights": MODEL_FILE,
        }


def save_model(folder: Path, model: torch.nn.Module, card: ModelCard) -> list[Path]:
    """Write model.pt then model.json (the card last, so its presence means the model is complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(folder / MODEL_FILE) as tmp:
        torch.save(state, tmp)
    atomic_write_text(folder / CARD_FILE, json.dumps(card.to_json(), indent=2, sort_keys=True, default=str))
    return [folder / MODEL_FILE, folder / CARD_FILE]


def read_card(folder: Path) -> dict[str, Any]:
    path = folder / CARD_FILE
    if not path.exists():
        raise WorkdirError(f"{path} does not exist", "train a model first with `labelclean train`")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise WorkdirError(f"{path} is not valid JSON ({e.msg})", "train the model again") from e
    if card.get("card_version") != CARD_VERSION:
        raise WorkdirError(f"{path} has card version {card.get('card_version')}, expected {CARD_VERSION}",
                           "train the model again with this labelclean version")
    return card


def card_classes(card: dict[str, Any]) -> list[ClassInfo]:
    return [ClassInfo(int(c["id"]), c["name"], c.get("prompt_name", c["name"])) for c in card["classes"]]


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / MODEL_FILE
    if not path.exists():
        raise WorkdirError(f"{path} does not exist", "train the model again")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as e:
        raise WorkdirError(f"{path} cannot be read ({e})", "train the model again") from e
