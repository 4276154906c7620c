"""Turn one image file into an RGB Pillow image, or a reason code saying why not.

Failures are returned as values (`DecodeResult` with ``image=None``), never raised, and
Pillow's global state (``ImageFile.LOAD_TRUNCATED_IMAGES``, ``Image.MAX_IMAGE_PIXELS``) is
left untouched.

Decoding steps, in order:

1. open the file (``missing`` / ``unreadable`` / ``empty``) and identify it (``not_image``);
2. read the size from the header and refuse more than ``max_pixels`` (``too_large``) before
   any pixel is decompressed;
3. JPEG (and MPO) only: ``draft()`` to ``target_size`` when the short side is at least
   twice as big, so the decoded short side stays >= ``target_size``;
4. decode the first frame fully (``truncated`` / ``corrupt``);
5. apply the EXIF orientation, then convert to RGB with `to_rgb`.

Mode conversion (`to_rgb`), the same for every file:

- ``RGB``: unchanged. ``1``, ``L``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX`` and
  palette images without transparency: Pillow's ``convert("RGB")``.
- Anything with alpha (``LA``, ``La``, ``PA``, ``RGBA``, ``RGBa``) or a transparency key
  (``P``/``L``/``RGB`` with ``transparency`` in ``info``): alpha-composited over white.
- 16/32-bit integers (``I;16*``, ``I``): when every value lies in [0, 65535] they are scaled
  by the 16-bit range, ``round(v * 255 / 65535)``; otherwise min-max scaled to [0, 255].
  A transparency key is ignored for these modes.
- 32-bit float (``F``): when every finite value lies in [0, 1], ``round(v * 255)``; otherwise
  min-max over the finite values. NaN and infinities become 0.
- A constant image that needs min-max scaling becomes black.

Embedded ICC colour profiles are not applied. Multi-frame files (GIF, APNG, TIFF, MPO)
give their first frame. Warnings Pillow raises while decoding a usable image (e.g. corrupt
EXIF) end up in ``detail``. ``load_rgb`` records warnings with ``warnings.catch_warnings``,
which is not thread-safe: decode in processes (DataLoader workers) or one thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from labelclean.core.reasons import Reason

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold
BACKGROUND = (255, 255, 255)  # transparent pixels are composited over white
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_INT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})  # MPO: multi-picture JPEG from some cameras
_CHUNK = 1 << 20
_SIGNATURES = (  # (format, offset, magic bytes): tells a damaged image from a non-image
    ("JPEG", 0, b"\xff\xd8\xff"),
    ("PNG", 0, b"\x89PNG\r\n\x1a\n"),
    ("GIF", 0, b"GIF8"),
    ("TIFF", 0, b"II*\x00"),
    ("TIFF", 0, b"MM\x00*"),
    ("WEBP", 8, b"WEBP"),
)


@dataclass
class DecodeResult:
    """The outcome of `load_rgb`.

    ``width``/``height`` are the full-resolution size as displayed (after the EXIF
    orientation, before any ``draft()``); for ``too_large`` the size in the header (never
    decoded); None when the header could not be read.
    """

    image: Image.Image | None
    reason: Reason
    detail: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class FileDigest:
    """Content hash and size of a file; ``reason`` is ok, missing, unreadable or empty."""

    sha256: str | None
    size: int | None
    reason: Reason
    detail: str


def file_digest(path: Path) -> FileDigest:
    """Hash a file in 1 MiB chunks; report missing, unreadable and zero-byte files."""
    h = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
                size += len(chunk)
    except OSError as e:
        reason, detail = _open_failure(e)
        return FileDigest(None, None, reason, detail)
    if size == 0:
        return FileDigest(h.hexdigest(), 0, Reason.empty, "the file is empty (0 bytes)")
    return FileDigest(h.hexdigest(), size, Reason.ok, "")


def load_rgb(
    path: Path, *, target_size: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> DecodeResult:
    """Decode the first frame of an image file into an EXIF-oriented RGB image.

    Parameters
    ----------
    path : Path
        The image file. Its content decides the format, not its extension.
    target_size : int, optional
        The model's input resolution. Large JPEGs are decoded at a reduced scale whose
        short side stays >= ``target_size``. None decodes at full resolution.
    max_pixels : int, default=DEFAULT_MAX_PIXELS
        Images with more pixels than this (read from the header) are ``too_large`` and
        never decompressed.

    Returns
    -------
    DecodeResult
        ``reason`` is ``Reason.ok`` with an RGB ``image``, or a failure code with
        ``image=None`` and a human-readable ``detail``.
    """
    try:
        f = open(path, "rb")
    except OSError as e:
        return _failure(*_open_failure(e))
    with f:
        if os.fstat(f.fileno()).st_size == 0:
            return _failure(Reason.empty, "the file is empty (0 bytes)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _decode_open_file(f, target_size, max_pixels)
    notes = _warning_notes(caught)
    if result.reason is Reason.ok and notes:
        result.detail = notes
    return result


def load_rgb_bytes(
    data: bytes | None, *, target_size: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> DecodeResult:
    """`load_rgb` for an image held in memory (a tar or Parquet member)."""
    import io

    if not data:
        return _failure(Reason.empty, "the member is empty (0 bytes)" if data is not None else "the image cell is null")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _decode_open_file(io.BytesIO(data), target_size, max_pixels)
    notes = _warning_notes(caught)
    if result.reason is Reason.ok and notes:
        result.detail = notes
    return result


def _decode_open_file(f, target_size: int | None, max_pixels: int) -> DecodeResult:
    try:
        img = Image.open(f)
    except UnidentifiedImageError:
        return _failure(*_unidentified(f))
    except Image.DecompressionBombError as e:
        return _failure(Reason.too_large, _bomb_detail(e, max_pixels))
    except Exception as e:  # Pillow plugins raise many types on malformed headers
        return _failure(*_decode_failure(e))
    width, height = img.size
    if width * height > max_pixels:
        return _failure(
            Reason.too_large,
            f"{width}x{height} = {width * height:,} pixels exceeds --max-pixels {max_pixels:,} ({_RAISE})",
            width,
            height,
        )
    if target_size and img.format in _DRAFT_FORMATS and min(img.size) >= 2 * target_size:
        img.draft("RGB", (target_size, target_size))
    try:
        img.load()
        if _orientation(img) in _ROTATED_ORIENTATIONS:
            width, height = height, width
        rgb = _oriented_rgb(img)
    except Image.DecompressionBombError as e:
        return _failure(Reason.too_large, _bomb_detail(e, max_pixels), width, height)
    except MemoryError:
        return _failure(Reason.too_large, "not enough memory to decode the image", width, height)
    except Exception as e:  # a decoder failing on bad data; classified, never raised
        return _failure(*_decode_failure(e), width, height)
    return DecodeResult(rgb, Reason.ok, "", width, height)


def _oriented_rgb(img: Image.Image) -> Image.Image:
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception:  # unreadable EXIF: keep the stored orientation rather than drop the image
        pass
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB deterministically (see the module docstring)."""
    if img.mode == "RGB" and "transparency" not in img.info:
        return img
    if img.mode in _INT_MODES or img.mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(img), img.mode == "F"), "L").convert("RGB")
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = (img.convert("LA") if img.mode == "La" else img).convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _to_uint8(a: np.ndarray, is_float: bool) -> np.ndarray:
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    values = a[finite]
    if values.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(values.min()), float(values.max())
    if is_float and lo >= 0.0 and hi <= 1.0:
        scaled = a * 255.0
    elif not is_float and lo >= 0 and hi <= 65535:
        scaled = a * (255.0 / 65535.0)
    elif hi > lo:
        scaled = (a - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(a)
    scaled[~finite] = 0.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


_RAISE = "pass a larger value to decode it"


def _bomb_detail(e: Exception, max_pixels: int) -> str:
    """Pillow's own refusal (above twice ``Image.MAX_IMAGE_PIXELS``) in --max-pixels terms."""
    found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(e))
    if found is None:
        return f"the image exceeds Pillow's decompression-bomb limit ({e})"
    pixels, limit = int(found.group(1)), int(found.group(2))
    if pixels > max_pixels:
        return f"{pixels:,} pixels exceeds --max-pixels {max_pixels:,} ({_RAISE})"
    return f"{pixels:,} pixels exceeds Pillow's decompression-bomb limit of {limit:,}, which --max-pixels cannot raise"


def _orientation(img: Image.Image) -> int | None:
    try:
        return img.getexif().get(ExifTags.Base.Orientation)
    except Exception:  # malformed EXIF block: treat as unoriented
        return None


def _unidentified(f) -> tuple[Reason, str]:
    f.seek(0)
    head = f.read(12)
    for fmt, offset, magic in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return Reason.corrupt, f"starts like a {fmt} file but its header is damaged or cut short"
    return Reason.not_image, "not an image format Pillow can read"


def _open_failure(e: OSError) -> tuple[Reason, str]:
    if isinstance(e, FileNotFoundError):
        return Reason.missing, "the file does not exist"
    if isinstance(e, PermissionError):
        return Reason.unreadable, "permission denied"
    if isinstance(e, IsADirectoryError):
        return Reason.unreadable, "a directory, not a file"
    return Reason.unreadable, f"cannot read the file: {e.strerror or e}"


def _decode_failure(e: Exception) -> tuple[Reason, str]:
    message = str(e) or type(e).__name__
    if isinstance(e, OSError) and e.errno in (errno.EIO, errno.EACCES, errno.EPERM):
        return Reason.unreadable, f"I/O error while reading: {message}"
    if isinstance(e, (EOFError, struct.error)) or "truncated" in message.lower():
        return Reason.truncated, f"the file ends before the image data does ({message})"
    return Reason.corrupt, f"decoding failed: {type(e).__name__}: {message}"


def _warning_notes(caught: list[warnings.WarningMessage]) -> str:
    messages: list[str] = []
    for w in caught:
        text = str(w.message)
        if not issubclass(w.category, Image.DecompressionBombWarning) and text not in messages:
            messages.append(text)
    return "; ".join(messages)


def _failure(
    reason: Reason, detail: str, width: int | None = None, height: int | None = None
) -> DecodeResult:
    return DecodeResult(None, reason, detail, width, height)
