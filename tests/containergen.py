"""Write WebDataset tars and image bytes for tests (shared by tests/ingest and tests/embed)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from PIL import Image


def jpeg_bytes(color, size=(20, 20)) -> bytes:
    """A JPEG of one colour, as bytes."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    """An uncompressed tar holding ``members`` (name -> bytes), in the given order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path
