"""Write small test images, good and broken, into a folder. Shared by every test module.

Every ``make_*`` function takes the destination path first, writes exactly one file there
(creating parent folders) and returns the path. Pixel values are fixed so tests can assert
them. `BAD_CASES` maps a case name to ``(maker, file name, expected reason code)`` and
`write_bad_cases` writes all of them into one folder; `make_image_folder` builds a small
ImageFolder dataset of distinct images (no two files identical).

Stable names: make_jpeg, make_png, make_truncated_jpeg, make_empty, make_text_as_jpg,
make_gif_as_jpg, make_cmyk_jpeg, make_png16, make_palette_png_transparent,
make_exif_rotated_jpeg, make_large_png, make_mode_image, make_unreadable, make_image_folder,
write_bad_cases, class_color, write_manifest (a CSV/TSV/JSONL/Parquet manifest of rows).
"""

from __future__ import annotations

import colorsys
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

RED = (200, 30, 30)
UNICODE_NAME = "café au lait ☕ 1.jpg"  # spaces, a non-ASCII letter and a symbol


def _prepare(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def make_jpeg(path: Path, color=RED, size=(32, 32), quality: int = 95, noise_seed: int | None = None) -> Path:
    """A JPEG of one colour (plus seeded noise when ``noise_seed`` is given)."""
    _solid(color, size, noise_seed).save(_prepare(path), "JPEG", quality=quality)
    return Path(path)


def make_png(path: Path, color=RED, size=(32, 32), noise_seed: int | None = None) -> Path:
    """A lossless RGB PNG of one colour (plus seeded noise when ``noise_seed`` is given)."""
    _solid(color, size, noise_seed).save(_prepare(path), "PNG")
    return Path(path)


def make_truncated_jpeg(path: Path, size=(64, 64), keep: float = 0.5) -> Path:
    """A noisy JPEG cut to ``keep`` of its bytes: the header is intact, the scan data is not."""
    full = _prepare(path).with_suffix(".full.tmp")
    _solid(RED, size, noise_seed=1).save(full, "JPEG", quality=95)
    data = full.read_bytes()
    full.unlink()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return Path(path)


def make_empty(path: Path) -> Path:
    """A zero-byte file."""
    _prepare(path).write_bytes(b"")
    return Path(path)


def make_text_as_jpg(path: Path, text: str = "this is not an image\n") -> Path:
    """A text file (usually given an image name such as ``notes.jpg``)."""
    _prepare(path).write_text(text, encoding="utf-8")
    return Path(path)


def make_gif_as_jpg(path: Path, size=(16, 16)) -> Path:
    """A two-frame GIF saved under a .jpg name; the first frame is pure red, the second blue."""
    frames = [Image.new("RGB", size, (255, 0, 0)), Image.new("RGB", size, (0, 0, 255))]
    frames[0].save(_prepare(path), "GIF", save_all=True, append_images=frames[1:], duration=100)
    return Path(path)


def make_cmyk_jpeg(path: Path, cmyk=(0, 255, 255, 0), size=(16, 16)) -> Path:
    """A CMYK JPEG (default: full magenta and yellow, i.e. red)."""
    Image.new("CMYK", size, cmyk).save(_prepare(path), "JPEG", quality=100)
    return Path(path)


def make_png16(path: Path, size=(16, 8)) -> Path:
    """A 16-bit grayscale PNG (mode I;16): column x holds x * 65535 // (width - 1)."""
    w, h = size
    row = (np.arange(w, dtype=np.int64) * 65535 // (w - 1)).astype(np.uint16)
    Image.fromarray(np.tile(row, (h, 1))).save(_prepare(path), "PNG")
    return Path(path)


def make_palette_png_transparent(path: Path, size=(8, 8)) -> Path:
    """A palette PNG: left half index 1 (red, opaque), right half index 0 (transparent)."""
    img = Image.new("P", size, 0)
    img.putpalette([0, 255, 0] + [255, 0, 0] + [0, 0, 0] * 254)
    img.paste(1, (0, 0, size[0] // 2, size[1]))
    img.save(_prepare(path), "PNG", transparency=0)
    return Path(path)


def make_exif_rotated_jpeg(path: Path, size=(40, 20), orientation: int = 6) -> Path:
    """A JPEG stored ``size`` wide whose EXIF orientation says to rotate it (6: 90° clockwise)."""
    img = _solid(RED, size, None)
    img.paste((30, 30, 200), (0, 0, size[0] // 4, size[1]))  # a blue band on the stored left
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(_prepare(path), "JPEG", quality=95, exif=exif)
    return Path(path)


def make_large_png(path: Path, size=(300, 200)) -> Path:
    """An image meant to exceed a small ``max_pixels`` passed in the test (no real bomb)."""
    return make_png(path, (10, 120, 10), size)


def make_mode_image(path: Path, mode: str, size=(8, 8)) -> Path:
    """An image in a given Pillow mode with known pixels (see `MODE_PIXELS`)."""
    img = _mode_image(mode, size)
    fmt = "TIFF" if mode in ("I", "F", "CMYK", "YCbCr") else "PNG"
    img.save(_prepare(path), fmt)
    return Path(path)


def make_unreadable(path: Path) -> Path:
    """A file with no read permission (root can still read it: tests skip that case)."""
    make_png(path)
    os.chmod(path, 0)
    return Path(path)


# mode -> (fill value written by _mode_image, expected RGB after labelclean.ingest.decode.to_rgb)
MODE_PIXELS: dict[str, tuple[object, tuple[int, int, int]]] = {
    "1": (1, (255, 255, 255)),
    "L": (100, (100, 100, 100)),
    "LA": ((100, 0), (255, 255, 255)),  # fully transparent -> white background
    "RGBA": ((200, 0, 0, 128), (227, 127, 127)),  # 128/255 alpha over white
    "P": (1, (255, 0, 0)),
    "I;16": (32768, (128, 128, 128)),  # 32768 * 255 / 65535 = 127.5 -> 128
    "I": (65535, (255, 255, 255)),  # within the 16-bit range
    "F": (0.25, (64, 64, 64)),  # within [0, 1]: 63.75 -> 64
    "CMYK": ((0, 0, 0, 0), (255, 255, 255)),
    "YCbCr": ((128, 128, 128), (128, 128, 128)),
    "RGB": ((10, 20, 30), (10, 20, 30)),
}


def _mode_image(mode: str, size) -> Image.Image:
    fill = MODE_PIXELS[mode][0]
    if mode == "P":
        img = Image.new("P", size, fill)
        img.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
        return img
    if mode == "I;16":
        return Image.fromarray(np.full(size[::-1], fill, dtype=np.uint16))
    return Image.new(mode, size, fill)


def class_color(index: int, n_classes: int) -> tuple[int, int, int]:
    """A saturated colour per class, evenly spaced in hue."""
    r, g, b = colorsys.hsv_to_rgb(index / max(n_classes, 1), 0.8, 0.85)
    return int(r * 255), int(g * 255), int(b * 255)


def make_image_folder(root: Path, classes: dict[str, int], size: int = 32, seed: int = 0, fmt: str = "png") -> Path:
    """An ImageFolder ``root/<class>/<class>_<i>.<fmt>``; ``classes`` maps name -> image count.

    Each class has its own base colour; each image adds seeded noise so no two files are
    identical. A count of 0 creates an empty class folder.
    """
    root = Path(root)
    maker = make_png if fmt == "png" else make_jpeg
    for c, (name, count) in enumerate(sorted(classes.items())):
        (root / name).mkdir(parents=True, exist_ok=True)
        base = class_color(c, len(classes))
        for i in range(count):
            maker(root / name / f"{name}_{i:03d}.{fmt}", base, (size, size), noise_seed=seed * 100_003 + c * 1009 + i)
    return root


# case name -> (maker, file name, expected reason). Decoded with max_pixels=LARGE_MAX_PIXELS.
LARGE_MAX_PIXELS = 10_000
BAD_CASES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "truncated_jpeg": (make_truncated_jpeg, "truncated.jpg", "truncated"),
    "zero_byte": (make_empty, "empty.jpg", "empty"),
    "text_as_jpg": (make_text_as_jpg, "notes.jpg", "not_image"),
    "stray_txt": (make_text_as_jpg, "readme.txt", "not_image"),
    "gif_as_jpg": (make_gif_as_jpg, "animated.jpg", "ok"),
    "cmyk_jpeg": (make_cmyk_jpeg, "cmyk.jpg", "ok"),
    "png16": (make_png16, "depth16.png", "ok"),
    "palette_transparent": (make_palette_png_transparent, "palette.png", "ok"),
    "exif_rotated": (make_exif_rotated_jpeg, "rotated.jpg", "ok"),
    "too_large": (make_large_png, "huge.png", "too_large"),
    "unicode_name": (make_jpeg, UNICODE_NAME, "ok"),
}


def write_bad_cases(folder: Path) -> dict[str, str]:
    """Write every `BAD_CASES` file into ``folder``; return file name -> expected reason."""
    expected = {}
    for maker, name, reason in BAD_CASES.values():
        maker(Path(folder) / name)
        expected[name] = reason
    return expected


def _solid(color, size, noise_seed: int | None) -> Image.Image:
    w, h = size
    a = np.empty((h, w, 3), np.int16)
    a[:] = color
    if noise_seed is not None:
        a += np.random.default_rng(noise_seed).integers(-12, 13, size=(h, w, 3), dtype=np.int16)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def write_manifest(path: Path, rows: list[dict], kind: str | None = None) -> Path:
    """Write ``rows`` (dicts with the same keys) as a manifest of ``kind`` (default: the suffix):
    csv/tsv (None as an empty cell), jsonl, or Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kind = kind or path.suffix.lstrip(".")
    if kind in ("csv", "tsv"):
        sep = "," if kind == "csv" else "\t"
        cols = list(rows[0])
        lines = [sep.join(cols)] + [sep.join("" if r.get(c) is None else str(r[c]) for c in cols) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path
