"""`labelclean evaluate`: truth from a manifest column or a file, JSON keys, errors."""

import csv
import json

import pytest
from typer.testing import CliRunner
from workdirgen import make_clustered, make_workdir

from labelclean.cli import app
from labelclean.evaluation.noise import symmetric_noise

runner = CliRunner()
KEYS = {"auroc", "average_precision", "flagged_precision", "flagged_recall", "flagged_f1", "kept_precision",
        "kept_recall", "n_flagged", "relabel_accuracy"}


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    d = make_clustered(500, dim=16, n_classes=4, seed=3)
    noise = symmetric_noise(d.labels, n_classes=4, rate=0.25, seed=0)
    wd = make_workdir(tmp_path_factory.mktemp("eval") / "w", d.X, noise.labels, d.class_names, T=d.T,
                      prompt_class_ids=d.prompt_class_ids,
                      extras={"clean_label": [d.class_names[i] for i in d.labels], "note": ["x"] * 500})
    for cmd in ("score", "select"):
        assert runner.invoke(app, [cmd, "-w", str(wd.root)]).exit_code == 0
    wd.truth = [d.class_names[i] for i in d.labels]
    return wd


def test_evaluate_json_has_the_documented_keys_and_good_values(selected):
    r = runner.invoke(app, ["evaluate", "-w", str(selected.root), "--truth", "clean_label", "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert KEYS <= set(m)
    assert m["n"] == 500 and m["n_noisy"] == 125
    assert m["auroc"] > 0.95 and m["flagged_f1"] > 0.8 and m["kept_precision"] > 0.95
    assert len(m["per_class"]) == 4 and m["without_truth"] == 0
    assert selected.stage_record("evaluate")["summary"]["auroc"] == m["auroc"]


def test_truth_from_a_csv_file(selected, tmp_path):
    ids = [f"c{y}/img{i:06d}.png" for i, y in enumerate(_given(selected))]
    path = tmp_path / "truth.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        w.writerows([(s, t) for s, t in zip(ids, selected.truth)][:400])  # 100 samples without truth
    r = runner.invoke(app, ["evaluate", "-w", str(selected.root), "--truth", str(path), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["n"] == 400 and m["without_truth"] == 100
    assert "100 samples have no true label" in r.stderr


def _given(wd):
    import pyarrow.parquet as pq

    return pq.read_table(wd.manifest, columns=["label_id"])["label_id"].to_pylist()


def test_unknown_truth_column_lists_the_extra_columns(selected):
    r = runner.invoke(app, ["evaluate", "-w", str(selected.root), "--truth", "true_label"])
    assert r.exit_code == 1
    assert "no column 'true_label'" in r.stderr and "clean_label, note" in r.stderr


def test_missing_truth_file(selected, tmp_path):
    r = runner.invoke(app, ["evaluate", "-w", str(selected.root), "--truth", str(tmp_path / "nope.csv")])
    assert r.exit_code == 1 and "does not exist" in r.stderr


def test_evaluate_reports_the_estimated_beside_the_true_noise_rate(selected):
    r = runner.invoke(app, ["evaluate", "-w", str(selected.root), "--truth", "clean_label", "--json"])
    m = json.loads(r.stdout)
    assert m["true_noise_rate"] == 0.25 and 0.15 < m["estimated_noise_rate"] < 0.4  # the confident joint over-counts a little
    assert m["noise_rate_error"] == pytest.approx(m["estimated_noise_rate"] - 0.25)
    # the uniform-noise mixture under-counts a little here; the default lets the criteria set the count
    assert 0.15 < m["mixture_noise_rate"] < 0.25 and m["flag_rule"] == "criteria"
    assert m["mixture_noise_rate_error"] == pytest.approx(m["mixture_noise_rate"] - 0.25)
    assert "estimated_noise_rate" in r.stderr and "mixture_noise_rate" in r.stderr
