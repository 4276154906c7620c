"""Issue 14 item 9: the demo model pointed at images outside its domain says so."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from labelclean.cli import app
from labelclean.scoring.quality import zero_shot_gap
from labelclean.stages.score import _domain_notes


def test_zero_shot_gap_needs_an_image_estimator_far_ahead():
    assert zero_shot_gap({"zeroshot": 0.6, "robust": 0.62}) is None  # noise lowers both alike
    assert zero_shot_gap({"zeroshot": 0.65, "robust": 1.0, "knn": 0.9}) == ("robust", 1.0)
    assert zero_shot_gap({"zeroshot": 0.3}) is None
    assert zero_shot_gap({"robust": 0.9, "knn": 0.1}) is None


def test_domain_note_text_names_the_demo_model():
    (note,) = _domain_notes({"zeroshot": 0.65, "robust": 1.0}, "demo@bea286be5ff1")
    assert note == (
        "zeroshot agrees with the given labels on 65% of samples against 100% for robust: the model's text side "
        "does not seem to know these images or class names, so zero-shot scores are unreliable here; the demo "
        "model only knows the demo domain (coloured shapes on cluttered backgrounds): use a real CLIP model "
        "(e.g. --model ViT-B-32) for your own data"
    )
    assert _domain_notes({"zeroshot": 0.65, "robust": 1.0}, "ViT-B-32@abc")[0].endswith(
        "; try --descriptions, other --templates, or --estimators robust")
    assert _domain_notes({"zeroshot": 0.9, "robust": 0.95}, "demo@x") == []


def test_demo_model_on_plain_colours_warns(tmp_path):
    rng = np.random.default_rng(0)
    for name, rgb in {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}.items():
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(40):
            colour = np.clip(np.array(rgb) + rng.integers(-25, 25, 3), 0, 255).astype(np.uint8)
            Image.fromarray(np.full((64, 64, 3), colour)).save(tmp_path / "data" / name / f"{i:03d}.png")
    runner = CliRunner()
    wd = str(tmp_path / "w")
    assert runner.invoke(app, ["embed", str(tmp_path / "data"), "-w", wd, "--model", "demo"]).exit_code == 0
    res = runner.invoke(app, ["score", "-w", wd])
    assert res.exit_code == 0, res.output
    assert "the demo model only knows the demo domain" in " ".join(res.output.split())  # rich wraps lines
