"""`labelclean train` and `labelclean predict` through the CLI: exit codes, messages, --json."""

import csv
import json

import pytest
from typer.testing import CliRunner

from imagegen import make_image_folder
from labelclean.cli import app
from trainkit import make_train_workdir

runner = CliRunner()
FAST = ["--backbone", "test_resnet", "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--device", "cpu"]


def invoke(*args):
    return runner.invoke(app, ["--quiet", *[str(a) for a in args]])


def test_train_json_then_predict(tmp_path):
    td = make_train_workdir(tmp_path / "w")
    result = invoke("train", "-w", td.wd.root, *FAST, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["stage"] == "train" and out["summary"]["method"] == "mixfix" and out["summary"]["complete"]
    data = make_image_folder(tmp_path / "test", {"apple": 2, "banana": 2, "cherry": 2})
    pred = tmp_path / "pred.csv"
    result = invoke("predict", "-w", td.wd.root, data, "--out", pred, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["counts"] == {"images": 6, "predicted": 6, "failed": 0} and out["summary"]["labelled"] == 6
    with open(pred, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {r["label"] for r in rows} == {"apple", "banana", "cherry"}


def test_train_from_exported_manifest(tmp_path):
    td = make_train_workdir(tmp_path / "w")
    manifest = tmp_path / "clean.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "clean_score"])
        for sid, y in zip(td.sample_ids[:20], td.given[:20]):
            w.writerow([td.wd.root / "data" / sid, td.class_names[y], 0.9])
    result = invoke("train", "-w", td.wd.root, *FAST, "--manifest", manifest, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["source"] == "manifest" and summary["n_pool"] == 20 and summary["n_clean0"] == 20


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--method", "nope"], 2, "unknown --method 'nope'"),
        (["--backbone", "resnet1"], 2, "unknown --backbone 'resnet1'"),
        (["--theta-r", "1.5"], 2, "--theta-r must be in [0, 1], got 1.5"),
        (["--pretrained-backbone", "missing.pt"], 1, "--pretrained-backbone missing.pt is not a file"),
    ],
)
def test_train_option_errors(tmp_path, args, code, message):
    td = make_train_workdir(tmp_path / "w")
    result = invoke("train", "-w", td.wd.root, *FAST, *args)
    assert result.exit_code == code, result.stderr
    assert f"Error: {message}" in result.stderr


def test_unknown_backbone_suggests_close_names(tmp_path):
    td = make_train_workdir(tmp_path / "w")
    result = invoke("train", "-w", td.wd.root, *FAST, "--backbone", "resnet1")
    assert "close matches:" in result.stderr and "resnet18" in result.stderr


def test_train_without_embed_says_what_to_run(tmp_path):
    result = invoke("train", "-w", tmp_path / "empty", *FAST)
    assert result.exit_code == 1
    assert "manifest.parquet does not exist" in result.stderr and "labelclean embed" in result.stderr


def test_predict_without_a_model(tmp_path):
    td = make_train_workdir(tmp_path / "w")
    data = make_image_folder(tmp_path / "d", {"apple": 1})
    result = invoke("predict", "-w", td.wd.root, data)
    assert result.exit_code == 1
    assert "no trained model" in result.stderr and "labelclean train" in result.stderr


def test_resume_with_nothing_to_resume_starts_fresh(tmp_path):
    td = make_train_workdir(tmp_path / "w")
    result = runner.invoke(app, ["train", "-w", str(td.wd.root), *FAST, "--resume"])
    assert result.exit_code == 0, result.stderr
    assert "Nothing to resume" in result.stderr
    assert "best_val_acc" not in result.stderr  # no --val: no best/last accuracy row
