"""`labelclean score` on fabricated workdirs: outputs, estimator choice, determinism, errors."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner
from workdirgen import make_clustered, make_workdir

from labelclean.cli import app
from labelclean.evaluation.noise import symmetric_noise
from labelclean.store.probs import load_probs

runner = CliRunner()


def _wd(path, text=True, n=400, k=4, seed=0):
    d = make_clustered(n, dim=16, n_classes=k, seed=seed)
    noisy = symmetric_noise(d.labels, n_classes=k, rate=0.2, seed=seed).labels
    extras = {"clean_label": [d.class_names[i] for i in d.labels]}
    if text:
        return make_workdir(path, d.X, noisy, d.class_names, T=d.T, prompt_class_ids=d.prompt_class_ids, extras=extras)
    return make_workdir(path, d.X, noisy, d.class_names, extras=extras)


def test_score_writes_probs_and_scores(tmp_path):
    wd = _wd(tmp_path / "w")
    result = runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "zeroshot,logreg,knn", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["summary"]["estimators"] == ["zeroshot", "logreg", "knn"]
    assert out["counts"] == {"scored": 400, "unlabelled_skipped": 0}
    names = pq.read_schema(wd.scores).names
    for est in ("zeroshot", "logreg", "knn", "ensemble"):
        assert f"{est}_p_given" in names and f"{est}_top3_ids" in names
    assert sorted(p.name for p in wd.probs_dir.iterdir()) == ["knn.parquet", "logreg.parquet", "zeroshot.parquet"]
    record = wd.stage_record("score")
    assert record["config"]["folds"] == 5 and record["summary"]["model_id"] == "test-model"
    assert "zeroshot" in result.stderr  # the human table goes to stderr


def test_from_features_workdir_skips_zeroshot_and_refuses_it(tmp_path):
    wd = _wd(tmp_path / "w", text=False)
    ok = runner.invoke(app, ["score", "-w", str(wd.root), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["summary"]["estimators"] == ["robust"]  # the default minus zeroshot
    bad = runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "zeroshot"])
    assert bad.exit_code == 2
    assert "needs prompt embeddings" in bad.stderr and "text.parquet" in bad.stderr


def test_unknown_estimator_and_bad_option_are_usage_errors(tmp_path):
    wd = _wd(tmp_path / "w")
    r = runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "logreg,svm"])
    assert r.exit_code == 2 and "unknown estimator(s) svm" in r.stderr
    r = runner.invoke(app, ["score", "-w", str(wd.root), "--prompt-aggregation", "max"])
    assert r.exit_code == 2 and "--prompt-aggregation" in r.stderr
    r = runner.invoke(app, ["score", "-w", str(wd.root), "--knn-nprobe", "0"])
    assert r.exit_code == 2 and "--knn-nprobe must be >= 1" in r.stderr


def test_score_is_deterministic(tmp_path):
    wd = _wd(tmp_path / "w", n=1200)
    args = ["score", "-w", str(wd.root), "--estimators", "logreg,knn", "--seed", "7", "--knn-index", "ivf",
            "--knn-nprobe", "4"]
    assert runner.invoke(app, args).exit_code == 0
    assert wd.stage_record("score")["summary"]["estimator_info"]["knn"]["search"] == "faiss-ivf(nlist=69,nprobe=4)"
    first = {p.name: pq.read_table(p).to_pydict() for p in wd.probs_dir.iterdir()}
    assert runner.invoke(app, args).exit_code == 0
    second = {p.name: pq.read_table(p).to_pydict() for p in wd.probs_dir.iterdir()}
    assert first == second


def test_stale_probs_are_removed_when_estimators_change(tmp_path):
    wd = _wd(tmp_path / "w")
    assert runner.invoke(app, ["score", "-w", str(wd.root)]).exit_code == 0
    assert runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "knn"]).exit_code == 0
    assert [p.name for p in wd.probs_dir.iterdir()] == ["knn.parquet"]
    assert "ensemble_p_given" not in pq.read_schema(wd.scores).names


def test_score_without_embeddings_says_what_to_run(tmp_path):
    r = runner.invoke(app, ["score", "-w", str(tmp_path / "empty")])
    assert r.exit_code == 1
    assert "manifest.parquet does not exist" in r.stderr and "labelclean embed" in r.stderr
    assert not (tmp_path / "empty").exists()  # nothing created


def test_duplicates_share_probabilities(tmp_path):
    d = make_clustered(60, dim=8, n_classes=3, seed=1)
    X = d.X.copy()
    X[1] = X[0]
    dup = [None] * 60
    dup[1] = "c%d/img000000.png" % d.labels[0]
    wd = make_workdir(tmp_path / "w", X, d.labels, d.class_names, duplicate_of=dup)
    assert runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "knn"]).exit_code == 0
    probs = load_probs(wd, "knn")[1]
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-3)  # stored as float16 (given labels exact)


@pytest.mark.parametrize("cmd", ["score", "select", "evaluate", "noise"])
def test_help_has_an_example(cmd):
    r = runner.invoke(app, [cmd, "--help"])
    assert r.exit_code == 0 and "Example:" in r.stdout


def _set_logit_scale(wd, scale):
    from labelclean.store import parquet_io

    table, meta = parquet_io.read_table(wd.text, "text")
    extra = {k: v for k, v in meta.items() if k not in ("table", "schema_version", "model_id")}
    parquet_io.write_table(wd.text, table, "text", meta["model_id"], **{**extra, "logit_scale": scale})


def test_default_estimators_are_zeroshot_and_robust(tmp_path):
    wd = _wd(tmp_path / "w")
    r = runner.invoke(app, ["score", "-w", str(wd.root), "--json"])
    assert json.loads(r.stdout)["summary"]["estimators"] == ["zeroshot", "robust"]
    assert sorted(p.name for p in wd.probs_dir.iterdir()) == ["robust.parquet", "zeroshot.parquet"]


def test_zeroshot_temperature_defaults_to_the_models_logit_scale_and_is_recorded(tmp_path):
    wd = _wd(tmp_path / "w")
    r = runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "zeroshot", "--json"])
    info = json.loads(r.stdout)["summary"]["estimator_info"]["zeroshot"]
    assert (info["temperature"], info["temperature_from"]) == (0.07, "default")  # no logit scale recorded
    _set_logit_scale(wd, 100.0)
    r = runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "zeroshot", "--json"])
    info = json.loads(r.stdout)["summary"]["estimator_info"]["zeroshot"]
    assert (info["temperature"], info["temperature_from"]) == (0.01, "model")
    sharp = load_probs(wd, "zeroshot")[1]
    r = runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "zeroshot", "--temperature", "0.07", "--json"])
    info = json.loads(r.stdout)["summary"]["estimator_info"]["zeroshot"]
    assert (info["temperature"], info["temperature_from"]) == (0.07, "option")
    soft = load_probs(wd, "zeroshot")[1]
    assert np.max(sharp, axis=1).mean() > np.max(soft, axis=1).mean()
    assert wd.stage_record("score")["summary"]["estimator_info"]["zeroshot"]["temperature"] == 0.07


@pytest.mark.parametrize("text", [True, False])
def test_robust_and_multimodal_estimators_run_and_rank_noise(tmp_path, text):
    from labelclean.evaluation.metrics import roc_auc

    wd = _wd(tmp_path / "w", text=text)
    r = runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "robust,multimodal", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)["summary"]
    assert s["estimators"] == ["robust", "multimodal"]
    assert s["estimator_info"]["multimodal"]["text"] is text
    assert s["estimator_info"]["robust"]["rounds"] == 1 and 0 < s["estimator_info"]["robust"]["trusted"] < 400
    scores = pq.read_table(wd.scores).to_pydict()
    manifest = pq.read_table(wd.manifest).to_pydict()
    truth = dict(zip(manifest["sample_id"], manifest["clean_label"]))
    names = sorted(set(manifest["label"]))
    correct = np.array([names[y] == truth[sid] for sid, y in zip(scores["sample_id"], scores["label_id"])])
    for est in ("robust", "multimodal"):
        assert roc_auc(correct, np.array(scores[f"{est}_p_given"])) > 0.9, est
    bad = runner.invoke(app, ["score", "-w", str(wd.root), "--estimators", "robust", "--robust-rounds", "0"])
    assert bad.exit_code == 2 and "--robust-rounds must be >= 1, got 0" in bad.stderr
