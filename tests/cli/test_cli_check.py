"""`check`: the CI gate. Exit 0 at or below --max-noise, 1 above (worst offenders listed), 2 on usage."""

from __future__ import annotations

import csv
import json
import shutil

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from imagegen import make_image_folder
from labelclean.store import parquet_io
from labelclean.cli import app
from labelclean.stages.pipeline import estimate_noise
from labelclean.stages.review import ReviewConfig, run_review
from reportgen import make_selected_workdir

runner = CliRunner()


def test_estimate_noise_counts_flagged_and_reviews(tmp_path):
    fx = make_selected_workdir(tmp_path, n_per_class=10, noise=0.3, seed=11)
    est = estimate_noise(fx.wd, top=3)
    assert est.usable == 30 and est.noisy == len(fx.flagged) and est.rate == pytest.approx(len(fx.flagged) / 30)
    assert [w["clean_score"] for w in est.worst] == sorted(w["clean_score"] for w in est.worst)
    assert len(est.worst) == 3 and {w["sample_id"] for w in est.worst} <= set(fx.flagged)
    clean = [s for s in fx.sample_ids if s not in fx.flagged]
    dec = tmp_path / "d.csv"
    with dec.open("w", newline="") as f:
        csv.writer(f).writerows([("sample_id", "decision"), (fx.flagged[0], "reject"), (fx.flagged[1], "reject"),
                                 (clean[0], "drop"), (clean[1], "relabel:" + _other(fx, clean[1])),
                                 (clean[2], "reject")])
    run_review(fx.wd, ReviewConfig(decisions=dec))
    after = estimate_noise(fx.wd, top=30)
    # two flags rejected (the label is right), one clean sample dropped and one relabelled (both noisy)
    assert after.noisy == est.noisy - 2 + 2 and after.usable == 30
    noisy_ids = {w["sample_id"] for w in after.worst}
    assert {fx.flagged[0], fx.flagged[1], clean[2]}.isdisjoint(noisy_ids) and {clean[0], clean[1]} <= noisy_ids


def _other(fx, sample_id: str) -> str:
    return next(c for c in fx.classes if c != fx.given[sample_id])


def test_max_noise_out_of_range_is_a_usage_error(tmp_path):
    r = runner.invoke(app, ["check", str(tmp_path), "--max-noise", "1.5"])
    assert r.exit_code == 2
    assert "--max-noise" in r.stderr
    r = runner.invoke(app, ["check", str(tmp_path)])
    assert r.exit_code == 2 and "--max-noise" in r.stderr


@pytest.fixture(scope="module")
def checked(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("check")
    data = make_image_folder(root / "data", {"cat": 8, "dog": 8, "fox": 8})
    wd = root / "work"
    r = runner.invoke(app, ["check", str(data), "--max-noise", "1.0", "-w", str(wd), "-m", tiny_model])
    return data, wd, r


@pytest.mark.slow
def test_check_passes_and_reuses_the_workdir(checked, tiny_model):
    data, wd, first = checked
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("check passed: estimated noise rate ")
    assert "<= --max-noise 100.00%" in first.stdout
    again = runner.invoke(app, ["check", str(data), "--max-noise", "1.0", "-w", str(wd), "-m", tiny_model])
    assert again.exit_code == 0, again.output
    for stage in ("embed", "score", "select"):
        assert f"{stage}: unchanged, skipped" in again.stderr
    assert "export" not in again.stderr


@pytest.fixture
def six_flagged(checked, tmp_path):
    """A copy of the checked workdir whose selection flags exactly the first 6 of 24 samples."""
    data, wd, _ = checked
    copy = tmp_path / "work"
    shutil.copytree(wd, copy)
    sel, meta = parquet_io.read_table(copy / "selection.parquet", "selection")
    ids = sel["sample_id"].to_pylist()
    sel = sel.set_column(sel.schema.get_field_index("clean"), "clean", pa.array([i >= 6 for i in range(len(ids))]))
    extra = {k: v for k, v in meta.items() if k not in ("table", "schema_version", "model_id")}
    parquet_io.write_table(copy / "selection.parquet", sel, "selection", meta.get("model_id"), **extra)
    return data, copy, ids


@pytest.mark.slow
def test_check_fails_above_max_noise_with_worst_offenders(six_flagged, tiny_model):
    data, wd, ids = six_flagged
    args = ["check", str(data), "-w", str(wd), "-m", tiny_model]
    r = runner.invoke(app, [*args, "--max-noise", "0.2"])
    assert r.exit_code == 1, r.output
    assert r.stdout == "check FAILED: estimated noise rate 25.00% (6 of 24 samples) > --max-noise 20.00%\n"
    assert "worst offenders (lowest clean_score, 6 of 6)" in r.stderr and ids[0] in r.stderr
    r = runner.invoke(app, [*args, "--max-noise", "0.25", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["passed"] is True and doc["noisy"] == 6 and doc["usable"] == 24 and len(doc["worst"]) == 6


@pytest.mark.slow
def test_check_counts_reviewer_decisions(six_flagged, tiny_model, tmp_path):
    data, wd, ids = six_flagged
    dec = tmp_path / "d.csv"
    dec.write_text("sample_id,decision\n" + "".join(f"{s},reject\n" for s in ids[:3]) + f"{ids[10]},drop\n")
    assert runner.invoke(app, ["review", "-w", str(wd), "--decisions", str(dec)]).exit_code == 0
    r = runner.invoke(app, ["check", str(data), "-w", str(wd), "-m", tiny_model, "--max-noise", "0.2", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # 6 flagged - 3 rejected + 1 dropped = 4 of 24
    assert (doc["passed"], doc["noisy"], doc["usable"]) == (True, 4, 24)
    assert {w["sample_id"] for w in doc["worst"]} == {*ids[3:6], ids[10]}
