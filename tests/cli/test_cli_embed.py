"""`labelclean embed` through the CLI: exit codes, messages, --json, streams."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from imagegen import make_image_folder, make_text_as_jpg
from labelclean.cli import app
from labelclean.stages.configs import DEFAULT_MAX_PIXELS

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = make_image_folder(tmp_path_factory.mktemp("cli") / "data", {"cat": 4, "dog": 3}, size=36)
    make_text_as_jpg(root / "dog" / "notes.jpg")
    return root


def _embed(data, wd, model, *extra, env=None):
    args = ["embed", str(data), "-w", str(wd), "-m", model, "--device", "cpu", *extra]
    return runner.invoke(app, args, env=env)


def test_json_summary_on_stdout_table_on_stderr(tmp_path, data, tiny_model):
    result = _embed(data, tmp_path / "w", tiny_model, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stage"] == "embed" and report["counts"] == {"ok": 7, "not_image": 1}
    assert report["summary"]["embedded_now"] == 8 and report["summary"]["finished"] is True
    assert report["summary"]["model_id"].startswith("local-dir:tiny-clip@")
    assert "Files by status" in result.stderr and "not_image" in result.stderr
    assert "embedded 8 now" in result.stderr and "reused 0" in result.stderr


def test_rerun_reports_reuse(tmp_path, data, tiny_model):
    assert _embed(data, tmp_path / "w", tiny_model).exit_code == 0
    again = _embed(data, tmp_path / "w", tiny_model)
    assert again.exit_code == 0
    assert "embedded 0 now, reused 8" in again.stderr


def test_other_model_exit_1(tmp_path, data, tiny_model):
    from tinyclip import build_tiny_local_dir

    other = build_tiny_local_dir(tmp_path / "second", seed=3)
    assert _embed(data, tmp_path / "w", tiny_model).exit_code == 0
    result = _embed(data, tmp_path / "w", f"local-dir:{other}")
    assert result.exit_code == 1
    assert "Error: work directory" in result.stderr and "already holds embeddings made with model" in result.stderr
    assert "Hint: use another --workdir" in result.stderr
    assert result.stdout == ""


def test_missing_weights_offline_exit_1(tmp_path, data):
    result = _embed(data, tmp_path / "w", "ViT-B-32", "--pretrained", str(tmp_path / "nope.safetensors"))
    assert result.exit_code == 1
    assert f"Error: weights file {tmp_path / 'nope.safetensors'} does not exist" in result.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--shard", "2/2"], "--shard 2/2: the index must be in [0, N)"),
        (["--dtype", "int8"], "--dtype int8 is not one of: float16, float32"),
        (["--precision", "fp8"], "unknown precision 'fp8'"),
        (["--num-shards", "2"], "--num-shards needs --shard auto"),
    ],
)
def test_usage_errors_exit_2(tmp_path, data, tiny_model, extra, message):
    result = _embed(data, tmp_path / "w", tiny_model, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_missing_data_exit_1(tmp_path, tiny_model):
    result = _embed(tmp_path / "absent", tmp_path / "w", tiny_model)
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_shard_auto_from_env(tmp_path, data, tiny_model):
    env = {"JOB_COMPLETION_INDEX": "1", "LABELCLEAN_NUM_SHARDS": "2"}
    result = _embed(data, tmp_path / "w", tiny_model, "--shard", "auto", "--json", env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["shard"] == "1/2" and report["summary"]["finished"] is False
    assert "Shard 1/2:" in result.stderr and "other shards are still missing" in result.stderr


def test_max_pixels_default_matches_decoder():
    from labelclean.ingest.decode import DEFAULT_MAX_PIXELS as decoder_default

    assert DEFAULT_MAX_PIXELS == decoder_default


def test_help_lists_options():
    result = runner.invoke(app, ["embed", "--help"])
    assert result.exit_code == 0
    for opt in ("--workdir", "--model", "--pretrained", "--precision", "--shard", "--from-features", "--dtype"):
        assert opt in result.stdout
    assert "--chunk-size" not in result.stdout
