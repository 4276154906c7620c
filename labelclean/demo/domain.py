"""The synthetic demo domain: ten coloured shapes on cluttered backgrounds, plus their captions.

Every class is a (colour, shape) pair, and every colour and every shape occurs in exactly two
classes, so neither colour nor shape alone identifies a class. Images are drawn with Pillow at
twice the output size and downsampled (anti-aliasing), with varied position, scale, rotation,
outline, background pattern, small distractor shapes in other colours, blur and pixel noise.

Rendering is a pure function of a numpy ``Generator``: :func:`render_indexed` seeds one from
``(seed, index)``, so image ``index`` is the same bytes whatever order images are made in.
Only Pillow and numpy are used here (no torch).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (35, 165, 55),
    "blue": (35, 75, 215),
    "yellow": (240, 205, 30),
    "purple": (140, 50, 185),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
_PAIRS = (
    ("red", "circle"), ("red", "square"), ("green", "square"), ("green", "triangle"),
    ("blue", "triangle"), ("blue", "star"), ("yellow", "star"), ("yellow", "cross"),
    ("purple", "cross"), ("purple", "circle"),
)
CLASSES: list[str] = sorted(f"{c}_{s}" for c, s in _PAIRS)
"""Class (folder) names in label-id order, e.g. ``"red_circle"``."""

BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "striped", "dotted", "checkered")
_NEUTRALS = ((245, 245, 245), (20, 20, 20), (128, 128, 128), (120, 80, 45))


@dataclass(frozen=True)
class Scene:
    """What one rendered image shows; the source of its captions."""

    class_name: str
    colour: str
    shape: str
    size: str  # "small" or "large"
    background: str  # one of BACKGROUNDS
    outlined: bool
    n_distractors: int


def class_parts(class_name: str) -> tuple[str, str]:
    """Split a class name into ``(colour, shape)``; raise ValueError for unknown names."""
    if class_name not in CLASSES:
        raise ValueError(f"unknown demo class {class_name!r}; expected one of {CLASSES}")
    colour, shape = class_name.split("_")
    return colour, shape


def prompt_name(class_name: str) -> str:
    """The name used in prompts: ``"red_circle"`` -> ``"red circle"``."""
    class_parts(class_name)
    return class_name.replace("_", " ")


def shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of ``shape`` centred at (cx, cy) with outer radius ``r``, rotated by ``angle`` radians."""
    if shape == "square":
        radii, angles = [r] * 4, np.pi / 4 + np.arange(4) * np.pi / 2
    elif shape == "triangle":
        radii, angles = [r * 1.15] * 3, -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
    elif shape == "star":
        radii = [r * 1.1 if i % 2 == 0 else r * 0.45 for i in range(10)]
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
    elif shape == "cross":
        w = 0.34 * r
        pts = [(w, r), (w, w), (r, w), (r, -w), (w, -w), (w, -r),
               (-w, -r), (-w, -w), (-r, -w), (-r, w), (-w, w), (-w, r)]
        radii = [np.hypot(x, y) for x, y in pts]
        angles = [np.arctan2(y, x) for x, y in pts]
    else:
        raise ValueError(f"no polygon for shape {shape!r}")
    a = np.asarray(angles) + angle
    return [(cx + q * np.cos(t), cy + q * np.sin(t)) for q, t in zip(radii, a)]


def draw_shape(draw: ImageDraw.ImageDraw, shape, cx, cy, r, angle, fill, outline=None, width=0):
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=width)
    else:
        draw.polygon(shape_polygon(shape, cx, cy, r, angle), fill=fill, outline=outline, width=width)


def _muted_colour(rng: np.random.Generator) -> np.ndarray:
    h, s, v = rng.random(), rng.uniform(0.0, 0.28), rng.uniform(0.3, 0.95)
    return np.array(colorsys.hsv_to_rgb(h, s, v)) * 255


@lru_cache(maxsize=4)
def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return xx, yy


def background_array(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """An (size, size, 3) uint8 array in muted colours, so objects stand out by hue."""
    c1, c2 = _muted_colour(rng), _muted_colour(rng)
    xx, yy = pixel_grid(size)
    theta = rng.uniform(0, np.pi)
    cos, sin = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    u = xx * cos + yy * sin
    if kind == "plain":
        mask = np.zeros((size, size), np.float32)
    elif kind == "gradient":
        mask = (u - u.min()) / (u.max() - u.min())
    elif kind == "striped":
        mask = (u * np.float32(1 / (rng.uniform(0.1, 0.25) * size))) % 1.0 < 0.5
    elif kind == "dotted":
        scale = np.float32(1 / (rng.uniform(0.1, 0.2) * size))
        du, dv = (u * scale) % 1.0 - 0.5, ((yy * cos - xx * sin) * scale) % 1.0 - 0.5
        mask = du * du + dv * dv < np.float32(rng.uniform(0.18, 0.3) ** 2)
    elif kind == "checkered":
        scale = np.float32(1 / (rng.uniform(0.12, 0.25) * size))
        mask = (np.floor(u * scale) + np.floor((yy * cos - xx * sin) * scale)) % 2 > 0.5
    else:
        raise ValueError(f"unknown background {kind!r}")
    mask = mask.astype(np.float32)[..., None]
    out = c1.astype(np.float32) + (c2 - c1).astype(np.float32) * mask
    return np.clip(out, 0, 255).astype(np.uint8)


def object_colour(colour: str, rng: np.random.Generator) -> tuple[int, int, int]:
    base = np.array(COLOURS[colour], np.float64)
    rgb = base * rng.uniform(0.85, 1.12) + rng.normal(0, 10, 3)
    return tuple(int(v) for v in np.clip(rgb, 0, 255))


def _draw_distractors(draw, n: int, colour: str, big: int, rng: np.random.Generator) -> None:
    others = [c for c in COLOURS if c != colour]
    for _ in range(n):
        if rng.random() < 0.5:
            fill = _NEUTRALS[rng.integers(len(_NEUTRALS))]
        else:
            fill = object_colour(others[rng.integers(len(others))], rng)
        r = rng.uniform(0.05, 0.11) * big
        cx, cy = rng.uniform(0, big, 2)
        draw_shape(draw, SHAPES[rng.integers(len(SHAPES))], cx, cy, r, rng.uniform(0, 2 * np.pi), fill)


def render(class_name: str, rng: np.random.Generator, image_size: int = 64) -> tuple[Image.Image, Scene]:
    """Draw one RGB image of ``class_name``; return it with the :class:`Scene` it shows."""
    colour, shape = class_parts(class_name)
    big = 2 * image_size
    background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    canvas = Image.fromarray(background_array(background, big, rng))
    draw = ImageDraw.Draw(canvas)
    n_distractors = int(rng.choice(4, p=[0.3, 0.3, 0.25, 0.15]))
    _draw_distractors(draw, n_distractors, colour, big, rng)
    large = rng.random() < 0.5
    r = rng.uniform(0.27, 0.38) * big if large else rng.uniform(0.17, 0.26) * big
    cx, cy = rng.uniform(r * 0.9, big - r * 0.9, 2)
    fill = object_colour(colour, rng)
    outlined = bool(rng.random() < 0.25)
    outline = tuple(int(v * 0.55) for v in fill) if outlined else None
    draw_shape(draw, shape, cx, cy, r, rng.uniform(0, 2 * np.pi), fill, outline, 3 if outlined else 0)
    image = canvas.resize((image_size, image_size), Image.Resampling.BOX)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    pixels = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(0, 10), (image_size, image_size, 3))
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    scene = Scene(class_name, colour, shape, "large" if large else "small", background, outlined, n_distractors)
    return image, scene


def render_indexed(
    class_name: str, seed: int, index: int, image_size: int = 64, *, stream: int = 0
) -> tuple[Image.Image, Scene]:
    """:func:`render` seeded from ``(stream, seed, index)``: order-independent and reproducible.

    ``stream`` separates uses that share seeds: 0 for datasets and test sets,
    :data:`TRAIN_STREAM` for the images the bundled model was trained on.
    """
    return render(class_name, np.random.default_rng([stream, seed, index]), image_size)


TRAIN_STREAM = 1


_STYLES = ("photo", "picture", "drawing", "image", "rendering", "painting", "render")
_PLAIN_TEMPLATES = (
    "a photo of a {cs}.", "a photo of a {cs}.", "a {style} of a {cs}.", "a {style} of the {cs}.",
    "a {cs}.", "{cs}", "this is a {cs}.", "a {style} showing a {cs}.", "there is a {cs} in the {style}.",
)
_DETAIL_TEMPLATES = (
    "a {style} of a {size} {cs}.", "a {style} of a {cs} on a {bg} background.",
    "a {size} {cs} on a {bg} background.", "a {style} of a {size} {cs} on a {bg} background.",
    "a {shape} coloured {colour}.", "a {colour} coloured {shape}.", "a {shape} in {colour}.",
    "a {style} of a {shape} which is {colour}.", "a {cs} and {few} small shapes.",
)
_FEW = ("no other", "one other", "two other", "three other")


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """One caption that is true of ``scene``, drawn from the domain's caption vocabulary.

    Captions name the colour and the shape together, in the forms users' prompts use
    (``"a photo of a red circle."``) and in descriptive forms (size, background, outline).
    """
    templates = _PLAIN_TEMPLATES if rng.random() < 0.5 else _DETAIL_TEMPLATES
    text = templates[rng.integers(len(templates))]
    if scene.outlined and rng.random() < 0.25:
        text = text.rstrip(".") + " with a dark outline."
    return text.format(
        cs=f"{scene.colour} {scene.shape}", colour=scene.colour, shape=scene.shape,
        size=scene.size if rng.random() < 0.8 else {"small": "little", "large": "big"}[scene.size],
        bg=scene.background, style=_STYLES[rng.integers(len(_STYLES))], few=_FEW[scene.n_distractors],
    )
