"""Thumbnails made on demand and cached under W/thumbs/, never failing on a bad file.

The cache key is the sample_id plus the file's size and mtime, so an edited image gets a
new thumbnail; files are written atomically, so two requests for one image cannot clash.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from labelclean.store.workdir import atomic_path

SIZES = {"thumb": 192, "large": 768}
JPEG_QUALITY = 82


def thumbs_dir(root: Path) -> Path:
    return Path(root) / "thumbs"


def thumbnail(root: Path, sample_id: str, path: str, size: str) -> Path | None:
    """The cached JPEG of ``path`` at ``size`` (thumb or large), made if needed; None when
    the file is missing or cannot be decoded."""
    px = SIZES[size]
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = hashlib.sha256(f"{sample_id}\x00{st.st_size}\x00{st.st_mtime_ns}\x00{px}".encode()).hexdigest()
    cached = thumbs_dir(root) / size / key[:2] / f"{key}.jpg"
    if cached.exists():
        return cached
    data = _render(Path(path), px)
    if data is None:
        return None
    with atomic_path(cached) as tmp:
        tmp.write_bytes(data)
    return cached


def _render(path: Path, px: int) -> bytes | None:
    return jpeg_thumbnail(path, size=px, quality=JPEG_QUALITY, resample="LANCZOS")


def jpeg_thumbnail(path: str | Path, *, size: int, quality: int = JPEG_QUALITY,
                   resample: str = "BILINEAR") -> bytes | None:
    """JPEG bytes of the image at ``path`` fitted into ``size`` x ``size``; None when undecodable.

    Decoded with `labelclean.ingest.decode.load_rgb` (EXIF orientation, bomb limit, JPEG draft
    mode). The HTML report's embedded thumbnails use it too (report/thumbs.py).
    """
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
