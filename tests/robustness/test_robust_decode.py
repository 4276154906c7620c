"""Issue 14 item 8: the decompression-bomb detail names --max-pixels, not Pillow's limit."""

from __future__ import annotations

import imagegen as g
from PIL import Image

from labelclean.core.reasons import Reason
from labelclean.ingest.decode import load_rgb


def test_own_limit_names_max_pixels(tmp_path):
    res = load_rgb(g.make_large_png(tmp_path / "huge.png", size=(300, 200)), max_pixels=59_999)
    assert res.detail == "300x200 = 60,000 pixels exceeds --max-pixels 59,999 (pass a larger value to decode it)"


def test_pillow_refusal_below_max_pixels_names_max_pixels(tmp_path, monkeypatch):
    path = g.make_png(tmp_path / "big.png", size=(100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow raises at open above 2x this
    res = load_rgb(path, max_pixels=500)
    assert res.reason is Reason.too_large
    assert res.detail == "10,000 pixels exceeds --max-pixels 500 (pass a larger value to decode it)"


def test_pillow_refusal_above_max_pixels_says_it_cannot_be_raised(tmp_path, monkeypatch):
    path = g.make_png(tmp_path / "big.png", size=(100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    res = load_rgb(path, max_pixels=10**9)
    assert res.detail == "10,000 pixels exceeds Pillow's decompression-bomb limit of 2,000, which --max-pixels cannot raise"
