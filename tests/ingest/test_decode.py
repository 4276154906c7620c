"""labelclean.ingest.decode: every reason code, every Pillow mode, EXIF, draft, digests."""

from __future__ import annotations

import hashlib
import os

import imagegen as g
import numpy as np
import pytest
from PIL import Image, ImageFile

from labelclean.ingest import decode
from labelclean.ingest.decode import DEFAULT_MAX_PIXELS, file_digest, load_rgb, to_rgb
from labelclean.core.reasons import Reason


@pytest.mark.parametrize("case", sorted(g.BAD_CASES))
def test_every_case_gets_its_reason(tmp_path, case):
    maker, name, expected = g.BAD_CASES[case]
    res = load_rgb(maker(tmp_path / name), max_pixels=g.LARGE_MAX_PIXELS)
    assert res.reason == Reason(expected)
    if expected == "ok":
        assert res.image is not None and res.image.mode == "RGB"
        assert res.detail == ""
    else:
        assert res.image is None
        assert res.detail


@pytest.mark.parametrize("mode", sorted(g.MODE_PIXELS))
def test_every_mode_converts_to_known_rgb(tmp_path, mode):
    path = g.make_mode_image(tmp_path / f"img_{mode.replace(';', '_')}", mode)
    with Image.open(path) as raw:
        assert raw.mode == mode
    first, second = load_rgb(path), load_rgb(path)
    assert first.reason is Reason.ok and first.image.mode == "RGB"
    pixels = np.asarray(first.image)
    assert (pixels == np.array(g.MODE_PIXELS[mode][1], np.uint8)).all()
    assert first.image.tobytes() == second.image.tobytes()


@pytest.mark.parametrize("mode", ["La", "PA", "RGBa", "RGBX", "HSV", "I;16B"])
def test_in_memory_modes_convert(mode):
    img = Image.new(mode, (4, 4))
    assert to_rgb(img).mode == "RGB"


def test_png16_scaled_by_16bit_range_not_clipped(tmp_path):
    res = load_rgb(g.make_png16(tmp_path / "d16.png", size=(16, 2)))
    row = np.asarray(res.image)[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert (np.diff(row.astype(int)) > 0).all()  # a full gradient survives


def test_int_image_outside_16bit_range_is_min_max_scaled(tmp_path):
    a = np.array([[-1000, 49500, 100000]], dtype=np.int32)
    Image.fromarray(a, "I").save(tmp_path / "wide.tif")
    assert list(np.asarray(load_rgb(tmp_path / "wide.tif").image)[0, :, 0]) == [0, 128, 255]


def test_float_image_outside_unit_range_is_min_max_scaled_and_nan_is_black(tmp_path):
    a = np.array([[0.0, 5.0, 10.0, np.nan]], dtype=np.float32)
    Image.fromarray(a, "F").save(tmp_path / "wide.tif")
    assert list(np.asarray(load_rgb(tmp_path / "wide.tif").image)[0, :, 0]) == [0, 128, 255, 0]


def test_constant_float_image_outside_unit_range_is_black(tmp_path):
    Image.new("F", (2, 2), 7.0).save(tmp_path / "flat.tif")
    assert np.asarray(load_rgb(tmp_path / "flat.tif").image).max() == 0


def test_exif_orientation_is_applied(tmp_path):
    res = load_rgb(g.make_exif_rotated_jpeg(tmp_path / "r.jpg", size=(40, 20), orientation=6))
    assert res.image.size == (20, 40)
    assert (res.width, res.height) == (20, 40)
    pixels = np.asarray(res.image).astype(int)
    assert pixels[2, 10, 2] > 150 and pixels[2, 10, 0] < 80  # stored-left blue band is now on top
    assert pixels[-3, 10, 0] > 150 and pixels[-3, 10, 2] < 80


def test_gif_named_jpg_decodes_its_first_frame(tmp_path):
    res = load_rgb(g.make_gif_as_jpg(tmp_path / "a.jpg"))
    assert res.reason is Reason.ok
    assert res.image.getpixel((0, 0)) == (255, 0, 0)


def test_cmyk_jpeg_becomes_red(tmp_path):
    r, gr, b = load_rgb(g.make_cmyk_jpeg(tmp_path / "c.jpg")).image.getpixel((8, 8))
    assert r > 240 and gr < 15 and b < 15


def test_palette_transparency_is_composited_on_white(tmp_path):
    img = load_rgb(g.make_palette_png_transparent(tmp_path / "p.png", size=(8, 8))).image
    assert img.getpixel((1, 1)) == (255, 0, 0)
    assert img.getpixel((6, 1)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("target", "decoded"),
    [(100, (200, 150)), (224, (400, 300)), (300, (400, 300)), (301, (800, 600)), (None, (800, 600))],
)
def test_draft_reduces_large_jpegs_but_keeps_the_short_side(tmp_path, target, decoded):
    res = load_rgb(g.make_jpeg(tmp_path / "big.jpg", size=(800, 600), noise_seed=1), target_size=target)
    assert res.image.size == decoded
    assert (res.width, res.height) == (800, 600)
    if target:
        assert min(res.image.size) >= target


def test_draft_is_for_jpeg_only(tmp_path):
    res = load_rgb(g.make_png(tmp_path / "big.png", size=(800, 600)), target_size=100)
    assert res.image.size == (800, 600)


def test_too_large_is_refused_before_decoding(tmp_path, monkeypatch):
    path = g.make_large_png(tmp_path / "huge.png", size=(300, 200))

    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1) or real_load(self))
    res = load_rgb(path, max_pixels=59_999)
    assert loads == []
    assert res.reason is Reason.too_large
    assert "300x200" in res.detail and "59,999" in res.detail
    assert (res.width, res.height) == (300, 200)


def test_pillow_bomb_error_becomes_too_large(tmp_path, monkeypatch):
    path = g.make_png(tmp_path / "big.png", size=(100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow raises above 2x this
    res = load_rgb(path, max_pixels=10**9)
    assert res.reason is Reason.too_large


def test_default_limit_is_pillows():
    assert DEFAULT_MAX_PIXELS == Image.MAX_IMAGE_PIXELS == 89_478_485


def test_pillow_global_state_is_untouched(tmp_path):
    before = (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS)
    g.write_bad_cases(tmp_path)
    for p in tmp_path.iterdir():
        load_rgb(p, max_pixels=g.LARGE_MAX_PIXELS, target_size=8)
    assert (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS) == before


def test_truncated_png(tmp_path):
    data = g.make_png(tmp_path / "a.png", size=(64, 64), noise_seed=3).read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    assert load_rgb(tmp_path / "t.png").reason is Reason.truncated


def test_garbage_inside_jpeg_is_corrupt(tmp_path):
    data = bytearray(g.make_jpeg(tmp_path / "a.jpg", size=(64, 64), noise_seed=2).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = b"\xff" * 200
    (tmp_path / "c.jpg").write_bytes(bytes(data))
    res = load_rgb(tmp_path / "c.jpg")
    assert res.reason is Reason.corrupt
    assert (res.width, res.height) == (64, 64)


def test_damaged_header_of_a_known_format_is_corrupt_not_non_image(tmp_path):
    data = g.make_png(tmp_path / "a.png").read_bytes()
    (tmp_path / "h.png").write_bytes(data[:40])
    res = load_rgb(tmp_path / "h.png")
    assert res.reason is Reason.corrupt and "PNG" in res.detail


def test_missing_file(tmp_path):
    res = load_rgb(tmp_path / "nope.jpg")
    assert (res.reason, res.image, res.width) == (Reason.missing, None, None)


def test_directory_is_unreadable(tmp_path):
    (tmp_path / "folder.jpg").mkdir()
    assert load_rgb(tmp_path / "folder.jpg").reason is Reason.unreadable


def test_permission_denied_is_unreadable(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(decode, "open", denied, raising=False)
    assert load_rgb(tmp_path / "x.jpg").reason is Reason.unreadable
    assert file_digest(tmp_path / "x.jpg").reason is Reason.unreadable


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_chmod_000_is_unreadable(tmp_path):
    path = g.make_unreadable(tmp_path / "locked.png")
    assert load_rgb(path).reason is Reason.unreadable
    assert file_digest(path).reason is Reason.unreadable


def test_returned_image_is_usable_after_the_file_is_closed(tmp_path):
    img = load_rgb(g.make_jpeg(tmp_path / "a.jpg", size=(40, 30))).image
    assert img.resize((8, 8)).size == (8, 8)
    assert np.asarray(img).shape == (30, 40, 3)


def test_unicode_and_spaces_in_the_name(tmp_path):
    res = load_rgb(g.make_jpeg(tmp_path / "sub dir" / g.UNICODE_NAME))
    assert res.reason is Reason.ok


def test_file_digest_streams_the_sha256(tmp_path):
    path = g.make_png(tmp_path / "a.png", size=(64, 64), noise_seed=4)
    d = file_digest(path)
    assert d.reason is Reason.ok
    assert d.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert d.size == path.stat().st_size


@pytest.mark.parametrize(
    ("setup", "reason"),
    [("empty", Reason.empty), ("missing", Reason.missing), ("directory", Reason.unreadable)],
)
def test_file_digest_failures(tmp_path, setup, reason):
    path = tmp_path / "x.jpg"
    if setup == "empty":
        g.make_empty(path)
    elif setup == "directory":
        path.mkdir()
    d = file_digest(path)
    assert d.reason is reason and d.detail
    assert d.sha256 is None or reason is Reason.empty
