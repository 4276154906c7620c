"""`labelclean select`: methods, re-selection without re-scoring, deft, duplicates, errors."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner
from workdirgen import make_clustered, make_workdir

from labelclean.store import parquet_io, schemas
from labelclean.cli import app
from labelclean.evaluation.noise import symmetric_noise

runner = CliRunner()


@pytest.fixture
def scored(tmp_path):
    d = make_clustered(400, dim=16, n_classes=4, seed=0)
    noisy = symmetric_noise(d.labels, n_classes=4, rate=0.2, seed=0).labels
    ids = [f"c{y}/img{i:06d}.png" for i, y in enumerate(noisy)]
    dup = [None] * 400
    X = d.X.copy()
    other = next(i for i in range(1, 400) if noisy[i] != noisy[0])
    X[other], dup[other] = X[0], ids[0]  # identical files with different labels
    wd = make_workdir(tmp_path / "w", X, noisy, d.class_names, T=d.T, prompt_class_ids=d.prompt_class_ids,
                      sample_ids=ids, duplicate_of=dup,
                      extras={"clean_label": [d.class_names[i] for i in d.labels]})
    assert runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "zeroshot,logreg,knn"]).exit_code == 0
    wd.conflict = (ids[0], ids[other])
    return wd


def _selection(wd):
    return pq.read_table(wd.selection).to_pydict()


def test_default_select_writes_every_column_and_a_summary(scored):
    r = runner.invoke(app, ["select", "-w", str(scored.root), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    s = out["summary"]
    assert s["method"] == "ensemble" and s["samples"] == 400 and s["kept"] + s["flagged"] == 400
    assert 40 <= s["flagged"] <= 160 and len(s["per_class"]) == 4
    assert pq.read_schema(scored.selection).names == schemas.selection_schema().names
    sel = _selection(scored)
    assert set(sel["decision"]) <= {"keep", "flag", "relabel"}
    assert all(0 <= v <= 1 for v in sel["clean_score"])
    assert all((d == "relabel") == (s is not None) for d, s in zip(sel["decision"], sel["suggested_label_id"]))
    assert "Selection" in r.stderr and "Estimated noise rate" in r.stderr
    meta = parquet_io.read_meta(scored.selection)  # what export and report need of select
    assert (meta["method"], meta["estimators"], meta["weights"]) == ("ensemble", s["estimators"], s["weights"])
    assert sum(meta["weights"].values()) > 0 and out == {**out, "summary": scored.stage_record("select")["summary"]}


def test_duplicate_conflict_is_flagged(scored):
    assert runner.invoke(app, ["select", "-w", str(scored.root)]).exit_code == 0
    sel = _selection(scored)
    for sid in scored.conflict:
        i = sel["sample_id"].index(sid)
        assert not sel["clean"][i] and "duplicate_conflict" in sel["failed"][i]


def test_reselect_without_recomputing(scored):
    shutil.rmtree(scored.embeddings_dir)  # select must not need the embeddings
    probs_mtime = {p.name: p.stat().st_mtime_ns for p in scored.probs_dir.iterdir()}
    loose = runner.invoke(app, ["select", "-w", str(scored.root), "--method", "criteria", "--combine", "any",
                                "--json"])
    strict = runner.invoke(app, ["select", "-w", str(scored.root), "--method", "criteria", "--combine", "all",
                                 "--theta-cons", "1.0", "--json"])
    assert loose.exit_code == 0 and strict.exit_code == 0, strict.output
    assert json.loads(strict.stdout)["summary"]["kept"] < json.loads(loose.stdout)["summary"]["kept"]
    assert {p.name: p.stat().st_mtime_ns for p in scored.probs_dir.iterdir()} == probs_mtime
    assert scored.stage_record("select")["config"]["theta_cons"] == 1.0


def test_select_is_deterministic(scored):
    for method in ("ensemble", "criteria", "css"):
        assert runner.invoke(app, ["select", "-w", str(scored.root), "--method", method]).exit_code == 0
        first = _selection(scored)
        assert runner.invoke(app, ["select", "-w", str(scored.root), "--method", method]).exit_code == 0
        assert _selection(scored) == first


def test_deft_is_used_when_present(scored):
    ids = _ids(scored)
    p_clean = np.full(len(ids), 0.9, dtype=np.float32)
    p_clean[5] = 0.1
    probs = np.full((len(ids), 4), 0.25, dtype=np.float32)
    table = pa.table({"sample_id": pa.array(ids), "p_clean": pa.array(p_clean), "pred": pa.array(np.zeros(len(ids), np.int32)),
                      "probs": parquet_io.fixed_list(probs, pa.float32())}, schema=schemas.deft_schema(4))
    parquet_io.write_table(scored.deft, table, "deft", model_id="test-model")
    r = runner.invoke(app, ["select", "-w", str(scored.root), "--json"])
    assert r.exit_code == 0, r.output
    assert "deft" in json.loads(r.stdout)["summary"]["estimators"]
    sel = _selection(scored)
    assert "deft:p_clean" in sel["failed"][5] and not sel["clean"][5]
    r = runner.invoke(app, ["select", "-w", str(scored.root), "--estimators", "logreg", "--json"])
    assert json.loads(r.stdout)["summary"]["estimators"] == ["logreg"]


def _ids(wd):
    return pq.read_table(wd.scores, columns=["sample_id"])["sample_id"].to_pylist()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "criteria", "--combine", "most"], "combine must be"),
        (["--method", "magic"], "--method must be one of"),
        (["--method", "criteria", "--theta-cons", "1.5"], "--theta-cons must be in [0, 1]"),
        (["--estimators", "deft"], "estimator(s) deft not available"),
        (["--method", "criteria", "--criteria", "loss"], "--criteria must list"),
    ],
)
def test_usage_errors(scored, args, message):
    r = runner.invoke(app, ["select", "-w", str(scored.root), *args])
    assert r.exit_code == 2 and message in r.stderr


@pytest.mark.parametrize(
    "args, stderr",
    [
        (["--theta-cons", "0.5"], "Error: --theta-cons only has an effect with --method criteria (got --method "
                                  "ensemble)\nHint: add --method criteria, or drop --theta-cons\n"),
        (["--method", "criteria", "--css-eps", "0.3"], "Error: --css-eps only has an effect with --method ensemble "
                                                       "or --method css (got --method criteria)\nHint: add --method "
                                                       "ensemble, or drop --css-eps\n"),
    ],
)
def test_option_of_another_method_is_a_usage_error(tmp_path, args, stderr):
    r = runner.invoke(app, ["select", "-w", str(tmp_path / "none"), *args])
    assert (r.exit_code, r.stderr) == (2, stderr)


def test_select_before_score(tmp_path):
    d = make_clustered(50, dim=8, n_classes=2, seed=0)
    wd = make_workdir(tmp_path / "w", d.X, d.labels, d.class_names)
    r = runner.invoke(app, ["select", "-w", str(wd.root)])
    assert r.exit_code == 1 and "scores.parquet does not exist" in r.stderr and "labelclean score" in r.stderr


def test_css_without_zeroshot_uses_knn_and_says_so(tmp_path):
    d = make_clustered(200, dim=8, n_classes=3, seed=0)
    wd = make_workdir(tmp_path / "w", d.X, d.labels, d.class_names)
    assert runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "logreg,knn"]).exit_code == 0
    r = runner.invoke(app, ["select", "-w", str(wd.root), "--method", "css", "--json"])
    assert r.exit_code == 0
    assert any("used knn" in n for n in json.loads(r.stdout)["summary"]["notes"])


def test_reliability_weights_are_reported_and_stored(scored):
    r = runner.invoke(app, ["select", "-w", str(scored.root), "--weighting", "reliability", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)["summary"]
    assert s["weighting"] == "reliability" and set(s["weights"]) == {"zeroshot", "logreg", "knn"}
    assert abs(sum(s["weights"].values()) - 1) < 1e-3
    # mixture shares; the uniform "wrong label" component has the rest
    assert 0.6 < sum(s["reliability"].values()) <= 1.0 and max(s["weights"], key=s["weights"].get) == "logreg"
    meta = parquet_io.read_meta(scored.selection)
    assert set(meta["weights"]) == {"zeroshot", "logreg", "knn"} and meta["reliability"]
    assert 0.1 < meta["estimated_noise_rate"] < 0.3 and s["estimated_noise_rate"] == round(meta["estimated_noise_rate"], 6)


def test_mixture_flag_count_reports_both_noise_estimates_and_what_set_the_count(scored):
    r = runner.invoke(app, ["select", "-w", str(scored.root), "--flag-count", "mixture", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)["summary"]
    assert s["flag_count"] == "mixture" and s["flag_rule"] in ("mixture", "criteria")
    assert 0.0 < s["mixture_noise_rate"] < 0.5 and "uniform mixture" in r.stderr
    if s["flag_rule"] == "mixture":  # the estimated share, plus a duplicate conflict or two
        assert round(s["mixture_noise_rate"] * 400) <= s["flagged"] <= round(s["mixture_noise_rate"] * 400) + 2
    meta = parquet_io.read_meta(scored.selection)
    assert meta["mixture_noise_rate"] == pytest.approx(s["mixture_noise_rate"], abs=1e-6)
    assert meta["flag_rule"] == s["flag_rule"]


def test_noise_rate_flag_count_flags_the_estimated_share(scored):
    r = runner.invoke(app, ["select", "-w", str(scored.root), "--flag-count", "noise-rate", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)["summary"]
    assert s["flagged"] == round(s["estimated_noise_rate"] * 400)
    bad = runner.invoke(app, ["select", "-w", str(scored.root), "--weighting", "votes"])
    assert bad.exit_code == 2 and "--weighting must be one of reliability, fixed, got 'votes'" in bad.stderr
    bad = runner.invoke(app, ["select", "-w", str(scored.root), "--method", "css", "--flag-count", "noise-rate"])
    assert bad.exit_code == 2 and "--flag-count" in bad.stderr
