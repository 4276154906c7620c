"""Embedded thumbnails: small JPEGs as base64 data URIs, never failing on a bad file."""

from __future__ import annotations

import base64
import io
from pathlib import Path

THUMB_PX = 80  # longest side
JPEG_QUALITY = 70


def thumbnail_uri(path: str | Path, *, size: int = THUMB_PX, quality: int = JPEG_QUALITY) -> str | None:
    """``data:image/jpeg;base64,...`` of the image at ``path``, or None when it cannot be decoded.

    The file is decoded with `labelclean.ingest.decode.load_rgb` (EXIF orientation, bomb limit,
    JPEG draft mode); a missing or broken file gives None and the report shows a placeholder.
    """
    data = jpeg_thumbnail(path, size=size, quality=quality)
    return None if data is None else "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def jpeg_thumbnail(path: str | Path, *, size: int, quality: int = JPEG_QUALITY,
                   resample: str = "BILINEAR") -> bytes | None:
    """JPEG bytes of the image at ``path`` fitted into ``size`` x ``size``; None when undecodable."""
    from PIL import Image

    from labelclean.ingest.decode import load_rgb

    try:
        result = load_rgb(Path(path), target_size=size)
    except OSError:
        return None
    if result.image is None:
        return None
    img = result.image
    img.thumbnail((size, size), getattr(Image.Resampling, resample))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()
