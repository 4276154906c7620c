"""Training views: the colour-keeping strong view CSS gives its prompts, against the usual strong view."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from labelclean.train.common.images import KEEP_COLOUR_DROPPED, Preprocess, train_transform

CLIP_PP = Preprocess(64, (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711), "bicubic")


def _red_disc(size=64):
    image = Image.new("RGB", (size, size), (0, 0, 0))
    ImageDraw.Draw(image).ellipse((12, 12, size - 12, size - 12), fill=(230, 20, 20))
    return image


def _channel_sums(view, pp):
    mean, std = torch.tensor(pp.mean)[:, None, None], torch.tensor(pp.std)[:, None, None]
    return (view * std + mean).clamp(0, 1).sum(dim=(1, 2))


def _red_stays_first(kind, pp, draws=300):
    torch.manual_seed(0)
    transform, image = train_transform(pp, kind), _red_disc(pp.size)
    sums = torch.stack([_channel_sums(transform(image), pp) for _ in range(draws)])
    return (sums[:, 0] > sums[:, 1:].max(dim=1).values).numpy()


@pytest.mark.parametrize("size", [64, 96])  # AutoAugment CIFAR10 at <= 64 px, RandAugment above
def test_keep_colour_strong_view_never_moves_the_hue(size):
    pp = Preprocess(size, CLIP_PP.mean, CLIP_PP.std, "bicubic")
    assert _red_stays_first("strong-keep-colour", pp).all()


def test_the_usual_strong_view_does_move_it():
    # what the colour-keeping view is for: AutoAugment's CIFAR10 policy inverts and solarises
    assert not _red_stays_first("strong", CLIP_PP).all()


def test_keep_colour_view_still_augments_geometry():
    torch.manual_seed(1)
    transform, image = train_transform(CLIP_PP, "strong-keep-colour"), _red_disc()
    views = [transform(image) for _ in range(5)]
    assert all(v.shape == (3, 64, 64) for v in views)
    assert any(not torch.allclose(views[0], v) for v in views[1:])
    ops = transform.transforms[4]._augmentation_space(31, (64, 64))
    assert not set(KEEP_COLOUR_DROPPED) & set(ops) and {"Rotate", "ShearX", "Brightness"} <= set(ops)


def test_unknown_augmentation_names_the_choices():
    with pytest.raises(ValueError, match="strong-keep-colour"):
        train_transform(CLIP_PP, "heavy")
