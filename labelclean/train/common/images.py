"""Images for training and prediction: preprocessing settings, augmentations, the Dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SMALL_IMAGE = 64  # at or below this size, CIFAR-style augmentation (pad-crop + AutoAugment CIFAR10)


@dataclass(frozen=True)
class Preprocess:
    """How a backbone expects its input; stored in model.json so `predict` can rebuild it."""

    size: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"  # bilinear | bicubic | nearest
    crop_pct: float = 1.0  # eval: resize the shorter side to size / crop_pct, then center-crop

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Preprocess":
        return cls(int(d["size"]), tuple(d["mean"]), tuple(d["std"]), d["interpolation"], float(d["crop_pct"]))


def _interp(name: str):
    from torchvision.transforms import InterpolationMode

    return {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}.get(
        name, InterpolationMode.NEAREST
    )


def _tail(pp: Preprocess) -> list:
    from torchvision import transforms as T

    return [T.ToTensor(), T.Normalize(pp.mean, pp.std)]


def eval_transform(pp: Preprocess):
    """Un-augmented view: resize the shorter side, center-crop, normalise."""
    from torchvision import transforms as T

    resize = max(pp.size, int(round(pp.size / pp.crop_pct)))
    return T.Compose([T.Resize(resize, interpolation=_interp(pp.interpolation)), T.CenterCrop(pp.size), *_tail(pp)])


def train_transform(pp: Preprocess, kind: str):
    """Training view.

    ``strong`` (MixFix, as in CLIPCleaner): small images get RandomCrop(pad size/8) + flip +
    AutoAugment(CIFAR10 policy); larger ones Resize + RandomCrop + flip + RandAugment.
    ``strong-keep-colour`` (CSS's strong views for the prompts): the same crops and flip with
    RandAugment at every size, without its operations that move hue or saturation
    (`KEEP_COLOUR_DROPPED`; AutoAugment's CIFAR10 policy also inverts colours). CLIP's class
    texts name colours ("a red circle"), so such a view is another caption, not the same image.
    ``light`` (DeFT): Resize(size*256/224) + RandomCrop + flip. ``none``: the eval view.
    """
    from torchvision import transforms as T

    interp = _interp(pp.interpolation)
    if kind == "none":
        return eval_transform(pp)
    if kind == "light":
        ops = [T.Resize(int(round(pp.size * 256 / 224)), interpolation=interp), T.RandomCrop(pp.size)]
        return T.Compose([*ops, T.RandomHorizontalFlip(), *_tail(pp)])
    if kind not in ("strong", "strong-keep-colour"):
        raise ValueError(f"unknown augmentation '{kind}', expected strong, strong-keep-colour, light or none")
    keep_colour = kind == "strong-keep-colour"
    if pp.size <= SMALL_IMAGE:
        ops = [
            T.Resize(pp.size, interpolation=interp),
            T.CenterCrop(pp.size),
            T.RandomCrop(pp.size, padding=max(1, pp.size // 8)),
            T.RandomHorizontalFlip(),
            _keep_colour_randaugment() if keep_colour else T.AutoAugment(T.AutoAugmentPolicy.CIFAR10),
        ]
    else:
        ops = [
            T.Resize(int(round(pp.size / 0.875)), interpolation=interp),
            T.RandomCrop(pp.size),
            T.RandomHorizontalFlip(),
            _keep_colour_randaugment() if keep_colour else T.RandAugment(),
        ]
    return T.Compose([*ops, *_tail(pp)])


KEEP_COLOUR_DROPPED = ("Color", "Posterize", "Solarize", "AutoContrast", "Equalize")
"""RandAugment operations left out of ``strong-keep-colour``: each changes hue or saturation
(AutoContrast and Equalize act per channel). Kept: identity, shear, translate, rotate,
brightness, contrast, sharpness."""


def _keep_colour_randaugment():
    from torchvision import transforms as T

    class KeepColourRandAugment(T.RandAugment):
        def _augmentation_space(self, num_bins, image_size):
            space = super()._augmentation_space(num_bins, image_size)
            return {op: v for op, v in space.items() if op not in KEEP_COLOUR_DROPPED}

    return KeepColourRandAugment()


class ImageDataset(Dataset):
    """Images by position: item i is ``(tensor, i, ok)``.

    A file that fails to decode (it changed after `embed` checked it) yields a blank image and
    ``ok = False``; training loops leave such items out of the loss and count them.
    """

    def __init__(self, paths: Sequence[str], transform, size: int):
        self.paths = list(paths)
        self.transform = transform
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        image = load_image(self.paths[i], target_size=int(self.size * 1.25) + 1)
        if image is None:
            return torch.zeros(3, self.size, self.size), i, False
        return self.transform(image), i, True


def load_image(path: str, target_size: int | None = None):
    """Decode ``path`` to an RGB PIL image, or None when it cannot be decoded.

    ``target_size``: large JPEGs may be decoded at a reduced scale whose short side stays >= it.
    """
    from PIL import Image

    from labelclean.ingest.decode import load_rgb

    result = load_rgb(path, target_size=target_size)
    image = result.image
    if image is None:
        return None
    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    return image.convert("RGB") if image.mode != "RGB" else image


def loader(dataset: Dataset, order: Sequence[int], batch_size: int, workers: int = 0, drop_last: bool = False):
    """A DataLoader visiting ``order`` (positions into ``dataset``) in that order."""
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=[int(i) for i in order],
        num_workers=workers,
        drop_last=drop_last,
        persistent_workers=False,
    )
