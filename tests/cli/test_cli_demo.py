"""`labelclean demo`: the bundled model does real work offline, deterministically."""

import csv
import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from labelclean.cli import app
from labelclean.demo import MODEL_DIR

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (MODEL_DIR / "open_clip_model.safetensors").exists(),
                                                   reason="bundled demo model missing")]
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--size", "400", "--noise", "0.3", "--seed", "3", "-w", str(wd), "--json"])
    assert result.exit_code == 0, result.output
    return wd, json.loads(result.stdout)


def test_demo_quality(demo_run):
    _, m = demo_run
    assert m["auroc"] >= 0.93
    assert m["kept_precision"] >= 0.95
    assert m["flagged_recall"] >= 0.8
    assert m["n_flagged"] > 0


def test_demo_outputs_agree_with_each_other(demo_run):
    wd, m = demo_run
    manifest = pq.read_table(wd / "manifest.parquet", columns=["sample_id", "status"]).to_pydict()
    assert len(manifest["sample_id"]) == 400 and set(manifest["status"]) == {"ok"}
    sel = pq.read_table(wd / "selection.parquet", columns=["sample_id", "clean"]).to_pydict()
    assert sorted(sel["sample_id"]) == sorted(manifest["sample_id"])
    with open(wd / "export" / "clean.csv", newline="") as f:
        clean = list(csv.DictReader(f))
    assert len(clean) == sum(sel["clean"]) == 400 - m["n_flagged"]
    truth = dict(csv.reader((wd / "demo-data" / "true_labels.csv").open()))
    wrong = sum(truth[r["path"]] != r["label"] for r in clean)
    assert wrong / len(clean) == pytest.approx(1 - m["kept_precision"])  # the metrics describe the export
    run = json.loads((wd / "run.json").read_text())
    assert all(run["stages"][s]["fingerprint"] for s in ("embed", "score", "select", "export", "report"))
    assert run["stages"]["evaluate"]["summary"]["auroc"] == m["auroc"]
    html = (wd / "report.html").read_text()
    assert "<html" in html and f"{m['n_flagged']}" in html


def test_demo_prints_the_metrics(demo_run):
    wd, m = demo_run
    r = runner.invoke(app, ["demo", "--size", "400", "--noise", "0.3", "--seed", "3", "-w", str(wd)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "400 images, 120 wrong labels (30%)"
    assert f"  {'ROC-AUC of clean_score':<28} {m['auroc']:.3f}" in lines
    assert lines[-2:] == [f"report: {wd / 'report.html'}", f"cleaned data: {wd / 'export'}"]


def test_demo_rerun_is_deterministic_and_skips(demo_run):
    wd, first = demo_run
    result = runner.invoke(app, ["demo", "--size", "400", "--noise", "0.3", "--seed", "3", "-w", str(wd), "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again == first
    assert "embed: unchanged, skipped" in result.stderr


def test_demo_rejects_bad_noise(tmp_path):
    result = runner.invoke(app, ["demo", "--noise", "1.5", "-w", str(tmp_path)])
    assert result.exit_code == 2
    assert "--noise must be in [0, 0.9)" in result.stderr


def test_demo_is_deterministic_across_fresh_workdirs(demo_run, tmp_path):
    _, first = demo_run
    result = runner.invoke(app, ["demo", "--size", "400", "--noise", "0.3", "--seed", "3", "-w", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    second = json.loads(result.stdout)
    for key in ("auroc", "kept_precision", "n_flagged", "relabel_accuracy", "flagged_f1"):
        assert second[key] == first[key], key


ESTIMATOR_ROWS = ["zeroshot", "robust", "ensemble", "clean_score"]  # the default estimators, then their mean


def test_demo_reports_each_estimator(demo_run):
    _, m = demo_run
    assert m["domain"] == "easy"
    rows = {e["name"]: e for e in m["estimators"]}
    assert [e["name"] for e in m["estimators"]] == ESTIMATOR_ROWS
    assert rows["zeroshot"]["accuracy"] >= 0.97  # the bundled model on its own render style
    assert rows["clean_score"]["auroc"] == m["auroc"] and rows["clean_score"]["accuracy"] is None


@pytest.mark.slow
def test_hard_demo_has_an_imperfect_zero_shot_model_and_look_alike_noise(tmp_path):
    result = runner.invoke(app, ["demo", "--domain", "hard", "--size", "400", "--seed", "3", "-w", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("400 images (hard domain), 120 wrong labels (30%)\n")
    assert "    zeroshot " in result.stdout and "    clean_score " in result.stdout
    rerun = runner.invoke(app, ["demo", "--domain", "hard", "--size", "400", "--seed", "3", "-w", str(tmp_path),
                                "--json"])
    m = json.loads(rerun.stdout)
    rows = {e["name"]: e for e in m["estimators"]}
    assert m["domain"] == "hard" and list(rows) == ESTIMATOR_ROWS
    assert 0.72 <= rows["zeroshot"]["accuracy"] <= 0.92
    assert rows["zeroshot"]["auroc"] < 0.97 and m["n_noisy"] == 120
    truth = (tmp_path / "demo-data" / "truth.csv").read_text().splitlines()[1:]
    flips = [line.split(",") for line in truth if line.split(",")[1] != line.split(",")[2]]
    assert all(given.split("_")[0] == clean.split("_")[0] for _, given, clean in flips)  # same colour


def test_demo_rejects_unknown_domain(tmp_path):
    result = runner.invoke(app, ["demo", "--domain", "medium", "-w", str(tmp_path)])
    assert result.exit_code == 2
    assert "--domain must be one of easy, hard, got 'medium'" in result.stderr


def test_demo_domains_match_the_dataset_module():
    from labelclean.demo.dataset import DOMAINS
    from labelclean.stages.configs import DEMO_DOMAINS

    assert DEMO_DOMAINS == DOMAINS


def test_hard_domain_has_its_own_default_workdir(tmp_path, monkeypatch):
    """Without -w, --domain hard leaves the easy demo's labelclean-demo/ alone."""
    seen = []
    monkeypatch.setattr("labelclean.demo.run.run_demo", lambda wd, cfg, on_stage=None: seen.append(wd.root) or 1 / 0)
    monkeypatch.chdir(tmp_path)
    runner.invoke(app, ["demo", "--domain", "hard"])
    runner.invoke(app, ["demo", "--domain", "hard", "-w", "mine"])
    runner.invoke(app, ["demo"])
    assert [p.name for p in seen] == ["labelclean-demo-hard", "mine", "labelclean-demo"]
