"""The synthetic demo domain and the labelled noisy dataset generator (no torch needed)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from labelclean.demo import CLASSES, MODEL_DIR, model_spec
from labelclean.demo.dataset import TRUTH_COLUMNS, flip_labels, make_demo_dataset
from labelclean.demo.domain import COLOURS, SHAPES, caption, class_parts, prompt_name, render_indexed
from labelclean.core.errors import InputError, UsageError
from labelclean.core.templates import template_path


def _png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read_truth(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_classes_need_both_colour_and_shape():
    assert len(CLASSES) == 10 and CLASSES == sorted(CLASSES)
    parts = [class_parts(c) for c in CLASSES]
    assert Counter(c for c, _ in parts) == {c: 2 for c in COLOURS}
    assert Counter(s for _, s in parts) == {s: 2 for s in SHAPES}
    assert prompt_name("red_circle") == "red circle"
    with pytest.raises(ValueError, match="unknown demo class"):
        class_parts("orange_circle")


def test_model_spec_points_at_the_bundled_folder():
    assert model_spec() == f"local-dir:{MODEL_DIR}"
    assert MODEL_DIR.name == "model" and MODEL_DIR.parent.name == "demo"


def test_render_is_reproducible_and_varied():
    a, scene = render_indexed("blue_star", 3, 7)
    b, _ = render_indexed("blue_star", 3, 7)
    assert a.size == (64, 64) and a.mode == "RGB"
    assert _png_bytes(a) == _png_bytes(b)
    assert scene.colour == "blue" and scene.shape == "star"
    others = {_png_bytes(render_indexed("blue_star", 3, i)[0]) for i in range(8, 12)}
    others.add(_png_bytes(render_indexed("blue_star", 3, 7, stream=1)[0]))
    assert len(others | {_png_bytes(a)}) == 6
    assert render_indexed("red_square", 0, 0, image_size=32)[0].size == (32, 32)


def test_main_object_colour_dominates_the_image():
    """Backgrounds are muted, so most saturated pixels belong to the object: colour is visible."""
    palette = np.array(list(COLOURS.values()), np.float32)
    hits = 0
    for i, name in enumerate(CLASSES * 2):
        image, scene = render_indexed(name, 11, i)
        px = np.asarray(image, np.float32).reshape(-1, 3)
        saturated = px[(px.max(1) - px.min(1)) > 90]
        nearest = np.linalg.norm(saturated[:, None] - palette[None], axis=2).argmin(1)
        hits += list(COLOURS)[np.bincount(nearest, minlength=5).argmax()] == scene.colour
    assert hits >= 19


def test_captions_name_colour_and_shape():
    rng = np.random.default_rng(0)
    for i in range(200):
        _, scene = render_indexed(CLASSES[i % 10], 5, i)
        text = caption(scene, rng)
        assert scene.colour in text and scene.shape in text, text


def test_flip_labels_flips_exactly_n_to_other_classes():
    clean = np.arange(1000) % 10
    given = flip_labels(clean, 300, 10, np.random.default_rng(1))
    flipped = given != clean
    assert flipped.sum() == 300
    assert set(Counter(given[flipped]).keys()) == set(range(10))
    assert np.array_equal(flip_labels(clean, 0, 10, np.random.default_rng(1)), clean)


def test_make_demo_dataset_layout_counts_and_truth(tmp_path):
    ds = make_demo_dataset(tmp_path / "d", size=63, noise=0.3, seed=2)
    assert ds.n_flipped == round(0.3 * 63) == 19
    assert ds.classes == CLASSES
    assert ds.images_dir == tmp_path / "d" / "images" and ds.truth_csv == tmp_path / "d" / "truth.csv"
    rows = _read_truth(ds.truth_csv)
    assert list(rows[0]) == list(TRUTH_COLUMNS) and len(rows) == 63
    files = sorted(p.relative_to(ds.images_dir).as_posix() for p in ds.images_dir.rglob("*.png"))
    assert files == sorted(r["path"] for r in rows)
    assert all(r["path"].split("/")[0] == r["label"] for r in rows)
    assert sum(r["label"] != r["clean_label"] for r in rows) == 19
    assert set(Counter(r["clean_label"] for r in rows).values()) <= {6, 7}
    assert sorted(p.name for p in ds.images_dir.iterdir()) == CLASSES


def test_make_demo_dataset_is_deterministic_for_a_seed(tmp_path):
    a = make_demo_dataset(tmp_path / "a", size=30, noise=0.5, seed=4)
    b = make_demo_dataset(tmp_path / "b", size=30, noise=0.5, seed=4)
    c = make_demo_dataset(tmp_path / "c", size=30, noise=0.5, seed=5)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c")
    assert a.n_flipped == b.n_flipped == c.n_flipped == 15


def test_make_demo_dataset_refuses_bad_options_and_existing_output(tmp_path):
    with pytest.raises(UsageError, match="--noise"):
        make_demo_dataset(tmp_path / "x", size=20, noise=1.5)
    with pytest.raises(UsageError, match="--size"):
        make_demo_dataset(tmp_path / "x", size=3)
    make_demo_dataset(tmp_path / "x", size=20, noise=0.0)
    with pytest.raises(InputError, match="already exists"):
        make_demo_dataset(tmp_path / "x", size=20)
    (tmp_path / "x" / "keep.txt").write_text("mine")
    ds = make_demo_dataset(tmp_path / "x", size=10, noise=0.2, overwrite=True)
    assert len(list(ds.images_dir.rglob("*.png"))) == 10 and ds.n_flipped == 2
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_demo_descriptions_cover_every_class():
    data = yaml.safe_load(template_path("descriptions", "demo.yaml").read_text())
    assert data["suffix"] == "."
    assert sorted(data["classes"]) == CLASSES
    for name, clauses in data["classes"].items():
        assert 5 <= len(clauses) <= 8, name
        assert all(c.startswith("which ") and not c.endswith(".") for c in clauses), name
        colour, shape = class_parts(name)
        assert any(colour in c for c in clauses), name
