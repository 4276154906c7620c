"""Classifiers: any timm model, our PreAct ResNet-18, or the CLIP image tower plus a linear head.

Every classifier maps a normalised image batch to logits. ``Built.spec`` is the JSON that
model.json stores so that `predict` can rebuild the same architecture.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from labelclean.core.errors import InputError, ModelError, UsageError
from labelclean.train.common.images import Preprocess

PREACT = "preact_resnet18"
CLIP = "clip"


@dataclass
class Built:
    model: nn.Module
    preprocess: Preprocess
    spec: dict[str, Any]
    load_report: dict[str, Any] = field(default_factory=dict)


def build_classifier(
    backbone: str,
    num_classes: int,
    *,
    image_size: Optional[int] = None,
    pretrained_backbone: Optional[Path] = None,
    clip_encoder: Optional[Callable[[], Any]] = None,
) -> Built:
    """Build ``backbone`` with a ``num_classes``-way head (random head, backbone as described).

    ``clip_encoder`` is called (only for ``backbone == "clip"``) to get a loaded
    ``labelclean.model.encoder.Encoder`` whose image tower is fine-tuned.
    """
    if num_classes < 2:
        raise InputError(f"training needs at least 2 classes, found {num_classes}")
    if backbone == CLIP:
        if clip_encoder is None:
            raise UsageError("--backbone clip needs the workdir's CLIP model")
        if pretrained_backbone is not None:
            raise UsageError("--pretrained-backbone applies to timm backbones, not --backbone clip")
        return _clip(clip_encoder(), num_classes, image_size)
    if backbone == PREACT:
        if pretrained_backbone is not None:
            raise UsageError(f"--pretrained-backbone is not supported for {PREACT} (it trains from scratch)")
        from labelclean.train.common.preact import PreActResNet18

        size = image_size or 32
        spec = {"kind": "preact", "name": PREACT, "num_classes": num_classes, "image_size": size}
        return Built(PreActResNet18(num_classes), Preprocess(size), spec)
    return _timm(backbone, num_classes, image_size, pretrained_backbone)


def _timm(name: str, num_classes: int, image_size: Optional[int], weights: Optional[Path]) -> Built:
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models() + [PREACT, CLIP], n=5)
        raise UsageError(
            f"unknown --backbone '{name}'",
            f"use {CLIP}, {PREACT} or a timm model name" + (f"; close matches: {', '.join(close)}" if close else ""),
        )
    model = _create_timm(timm, name, num_classes, image_size)
    cfg = timm.data.resolve_model_data_config(model)
    size = image_size or int(cfg["input_size"][-1])
    pp = Preprocess(size, tuple(cfg["mean"]), tuple(cfg["std"]), cfg.get("interpolation", "bilinear"),
                    float(cfg.get("crop_pct", 0.875)))
    report = load_pretrained(model, weights) if weights is not None else {}
    spec = {"kind": "timm", "name": name, "num_classes": num_classes, "image_size": image_size}
    return Built(model, pp, spec, report)


def _create_timm(timm, name: str, num_classes: int, image_size: Optional[int]) -> nn.Module:
    if image_size is not None:
        try:  # ViT-like models fix their position embeddings to img_size
            return timm.create_model(name, pretrained=False, num_classes=num_classes, img_size=image_size)
        except TypeError:
            pass
    return timm.create_model(name, pretrained=False, num_classes=num_classes)


def load_pretrained(model: nn.Module, path: Path) -> dict[str, Any]:
    """Load a local state dict non-strictly; tensors whose shape differs (the old head) are dropped.

    Returns counts and the first few names of loaded, missing, unexpected and dropped keys.
    """
    state = _read_state_dict(Path(path))
    own = model.state_dict()
    dropped = [k for k, v in state.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    for k in dropped:
        del state[k]
    result = model.load_state_dict(state, strict=False)
    loaded = len(state) - len(result.unexpected_keys)
    if loaded == 0:
        raise ModelError(
            f"--pretrained-backbone {path}: none of its {len(state)} tensors match the model's parameter names",
            "pass weights saved from the same timm architecture as --backbone",
        )
    return {
        "file": str(path),
        "loaded": loaded,
        "missing": list(result.missing_keys),
        "unexpected": list(result.unexpected_keys),
        "dropped_shape_mismatch": dropped,
    }


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise ModelError(f"cannot read --pretrained-backbone {path}: {e}", "pass a torch state dict or .safetensors") from e
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"--pretrained-backbone {path} does not hold a state dict", "save model.state_dict()")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


class ClipClassifier(nn.Module):
    """CLIP image tower + linear head on the pre-projection pooled feature (DeFT phase 2).

    Trainable: the transformer blocks and the head. Frozen, as in DeFT's code: the patch
    embedding, class and position embeddings, ln_pre, ln_post and the projection. Towers that
    are not open_clip ViTs are fine-tuned whole, with the head on their output.
    """

    def __init__(self, visual: nn.Module, num_classes: int, image_size: int):
        super().__init__()
        self.visual = visual
        self.vit = hasattr(visual, "_embeds") and hasattr(visual, "_pool") and hasattr(visual, "transformer")
        if self.vit:
            for name in ("conv1", "class_embedding", "positional_embedding", "ln_pre", "ln_post", "proj"):
                _freeze(getattr(visual, name, None))
        with torch.no_grad():
            param = next(visual.parameters())
            dim = self.features(torch.zeros(1, 3, image_size, image_size, dtype=param.dtype, device=param.device))
        self.head = nn.Linear(dim.shape[-1], num_classes).to(param.device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if not self.vit:
            return self.visual(x)
        v = self.visual
        pooled, _ = v._pool(v.transformer(v._embeds(x)))
        return pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).float())


def _freeze(part: Any) -> None:
    if isinstance(part, nn.Module):
        part.requires_grad_(False)
    elif isinstance(part, torch.Tensor):
        part.requires_grad_(False)


def _clip(encoder: Any, num_classes: int, image_size: Optional[int]) -> Built:
    import copy

    pp = clip_preprocess(encoder)
    if image_size is not None and image_size != pp.size:
        raise UsageError(
            f"--image-size {image_size} does not match the CLIP model's input size {pp.size}",
            "leave --image-size out with --backbone clip",
        )
    visual = copy.deepcopy(encoder.model.visual).float().train()
    for p in visual.parameters():
        p.requires_grad_(True)
    identity = dict(getattr(encoder, "identity", {}) or {})
    spec = {"kind": "clip", "name": CLIP, "num_classes": num_classes, "image_size": pp.size,
            "model_id": encoder.model_id, "identity": identity}
    return Built(ClipClassifier(visual, num_classes, pp.size), pp, spec)


def clip_preprocess(encoder: Any) -> Preprocess:
    """Size, interpolation and mean/std read from the encoder's open_clip eval transform."""
    size = encoder.image_size
    size = int(size[-1] if isinstance(size, (tuple, list)) else size)
    mean, std, interp = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711), "bicubic"
    for t in getattr(encoder.preprocess, "transforms", []):
        if hasattr(t, "mean") and hasattr(t, "std"):
            mean, std = tuple(float(m) for m in t.mean), tuple(float(s) for s in t.std)
        if hasattr(t, "interpolation") and hasattr(t.interpolation, "value"):
            interp = str(t.interpolation.value)
    return Preprocess(size, mean, std, interp, 1.0)

