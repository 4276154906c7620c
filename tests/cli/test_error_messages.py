"""The error messages users meet most, asserted as exact text: one `Error:` line, one `Hint:` line, exit code."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from imagegen import make_image_folder
from labelclean.cli import app
from labelclean.store.workdir import Workdir

runner = CliRunner()
DATA_HINT = ("Hint: pass an image folder laid out as root/<class>/<image>, or a .csv/.tsv/.jsonl/.parquet manifest "
             "with path and label columns\n")

CASES = [
    (["embed", "{tmp}/nope", "-w", "{tmp}/w"], 1, "Error: {tmp}/nope does not exist\n" + DATA_HINT),
    (["score", "-w", "{tmp}/w"], 1,
     "Error: {tmp}/w/manifest.parquet does not exist\nHint: run `labelclean embed DATA -w {tmp}/w` first\n"),
    (["select", "-w", "{tmp}/w"], 1,
     "Error: {tmp}/w/scores.parquet does not exist\nHint: run `labelclean score -w {tmp}/w` first\n"),
    (["export", "-w", "{tmp}/w"], 1,
     "Error: {tmp}/w/selection.parquet does not exist\nHint: run `labelclean select -w {tmp}/w` first\n"),
    (["embed", "{tmp}/data", "-w", "{tmp}/w", "--dtype", "int8"], 2,
     "Error: --dtype int8 is not one of: float16, float32\n"),
    (["embed", "{tmp}/data", "-w", "{tmp}/w", "--from-features", "f.npy", "--pretrained", "x"], 2,
     "Error: --pretrained cannot be combined with --from-features\nHint: drop one of them\n"),
    (["export", "-w", "{tmp}/w", "--format", "xml"], 2,
     "Error: --format xml is not one of: csv, jsonl, parquet, hf, imagefolder\n"),
    (["run", "{tmp}/data", "-w", "{tmp}/w", "--combine", "any"], 2,
     "Error: --combine only has an effect with --method criteria (got --method ensemble)\n"
     "Hint: add --method criteria, or drop --combine\n"),
    (["noise", "{tmp}/data", "--out", "{tmp}/noisy.txt"], 2, "Error: --out must end in .csv, .tsv, .jsonl, .parquet, got noisy.txt\n"),
    (["noise", "{tmp}/data", "--out", "{tmp}/noisy.csv", "--sharpness", "3"], 2,
     "Error: --sharpness only has an effect with --mode instance (got --mode sym)\n"
     "Hint: add --mode instance, or drop --sharpness\n"),
]


@pytest.fixture
def tmp(tmp_path):
    make_image_folder(tmp_path / "data", {"cat": 2, "dog": 2})
    return tmp_path


@pytest.mark.parametrize("args, code, stderr", CASES, ids=[" ".join(c[0][:2]) + f" {i}" for i, c in enumerate(CASES)])
def test_exact_error_text(tmp, args, code, stderr):
    r = runner.invoke(app, [a.format(tmp=tmp) for a in args])
    assert (r.exit_code, r.stderr) == (code, stderr.format(tmp=tmp))


def test_a_busy_workdir_names_the_other_process(tmp):
    wd = Workdir(tmp / "w")
    with wd.lock():
        r = runner.invoke(app, ["review", "-w", str(wd.root), "--decisions", str(tmp / "d.csv")])
    assert (r.exit_code, r.stderr) == (1, f"Error: work directory {wd.root} is in use by another labelclean "
                                          f"process (pid {os.getpid()})\nHint: wait for it to finish, or use another "
                                          "--workdir\n")
