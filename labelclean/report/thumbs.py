"""Embedded thumbnails: small JPEGs as base64 data URIs, never failing on a bad file."""

from __future__ import annotations

import base64
from pathlib import Path

THUMB_PX = 80  # longest side
JPEG_QUALITY = 70


def thumbnail_uri(path: str | Path, *, size: int = THUMB_PX, quality: int = JPEG_QUALITY) -> str | None:
    """``data:image/jpeg;base64,...`` of the image at ``path``, or None when it cannot be decoded.

    The file is decoded with `labelclean.ingest.decode.load_rgb` (EXIF orientation, bomb limit,
    JPEG draft mode); a missing or broken file gives None and the report shows a placeholder.
    """
    from labelclean.review.server.thumbs import jpeg_thumbnail

    data = jpeg_thumbnail(path, size=size, quality=quality)
    return None if data is None else "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
