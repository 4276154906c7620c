"""4 shard processes at once into one workdir, one SIGKILLed and re-run: same as one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pyarrow.parquet as pq
import pytest

from imagegen import make_image_folder
from labelclean.stages.configs import ScoreConfig, SelectConfig
from labelclean.stages.score import run_score
from labelclean.stages.select import run_select
from labelclean.store.parquet_io import part_files
from labelclean.store.tables import load_manifest
from labelclean.store.workdir import Workdir

pytestmark = pytest.mark.slow
N_SHARDS, VICTIM = 4, 2
SLOW_RUN = (
    "import runpy, sys, time\n"
    "import labelclean.model.encoder as e\n"
    "orig = e.Encoder.encode_images\n"
    "e.Encoder.encode_images = lambda self, b: (time.sleep(0.08), orig(self, b))[1]\n"
    "sys.argv = ['labelclean'] + sys.argv[1:]\n"
    "runpy.run_module('labelclean', run_name='__main__')\n"
)


def _embed(data, wd, model, *extra, slow=False):
    # batch size 1: every vector is computed alone, so it is bit-identical however the work is split
    args = ["embed", str(data), "-w", str(wd.root), "-m", model, "--device", "cpu", "--precision", "fp32",
            "--batch-size", "1", "--chunk-size", "3", *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    code = SLOW_RUN if slow else "import sys, runpy; sys.argv = ['labelclean'] + sys.argv[1:]; " \
                                 "runpy.run_module('labelclean', run_name='__main__')"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _ok(proc, timeout=240):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return out


def _parts_of(wd, shard):
    return [p for p in part_files(wd.embeddings_dir) if p.name.startswith(f"part-{shard:05d}-")]


def _score_select(wd):
    run_score(wd, ScoreConfig(seed=0, folds=2, device="cpu"))
    run_select(wd, SelectConfig(seed=0))
    return wd.selection.read_bytes()


def test_four_concurrent_shards_with_a_kill_equal_one_process(tmp_path, tiny_model):
    data = make_image_folder(tmp_path / "data", {"a": 16, "b": 16, "c": 16}, size=32)
    single = Workdir(tmp_path / "single")
    _ok(_embed(data, single, tiny_model))

    wd = Workdir(tmp_path / "sharded")
    procs = {i: _embed(data, wd, tiny_model, "--shard", f"{i}/{N_SHARDS}", slow=True) for i in range(N_SHARDS)}
    deadline = time.monotonic() + 120
    while not _parts_of(wd, VICTIM):
        assert procs[VICTIM].poll() is None, procs[VICTIM].communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the victim wrote no part file in time"
        time.sleep(0.02)
    procs[VICTIM].send_signal(signal.SIGKILL)
    procs[VICTIM].communicate(timeout=30)
    assert procs[VICTIM].returncode == -signal.SIGKILL
    for i, p in procs.items():
        if i != VICTIM:
            _ok(p)
    assert not wd.manifest.exists()  # the killed shard is not finished: nobody may write the manifest
    before = {p.name for p in _parts_of(wd, VICTIM)}
    _ok(_embed(data, wd, tiny_model, "--shard", f"{VICTIM}/{N_SHARDS}"))
    assert before < {p.name for p in _parts_of(wd, VICTIM)}  # resumed: kept its finished parts, added more
    assert wd.manifest.exists()

    ids = [s for p in part_files(wd.embeddings_dir) for s in pq.read_table(p, columns=["sample_id"])["sample_id"]
           .to_pylist()]
    assert len(ids) == 48 and max(Counter(ids).values()) == 1  # exactly one row per file
    assert not list(wd.embeddings_dir.glob(".*.tmp"))
    assert load_manifest(wd)[0].drop(["path"]).equals(load_manifest(single)[0].drop(["path"]))
    assert _score_select(wd) == _score_select(single)  # byte-identical selection.parquet
