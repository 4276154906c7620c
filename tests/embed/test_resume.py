"""Resume after `kill -9` and Ctrl-C: no duplicated or missing rows, only the rest embedded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imagegen import make_image_folder
from labelclean.store.parquet_io import part_files
from labelclean.stages.embed import EmbedConfig, run_embed
from labelclean.store.tables import load_embeddings
from labelclean.store.workdir import Workdir

N_IMAGES = 60
# Slow each batch down so the test can stop the process between two part files.
SLOW_RUN = (
    "import runpy, sys, time\n"
    "import labelclean.model.encoder as e\n"
    "orig = e.Encoder.encode_images\n"
    "e.Encoder.encode_images = lambda self, b: (time.sleep(0.15), orig(self, b))[1]\n"
    "sys.argv = ['labelclean'] + sys.argv[1:]\n"
    "runpy.run_module('labelclean', run_name='__main__')\n"
)


@pytest.fixture
def data(tmp_path):
    return make_image_folder(tmp_path / "data", {"x": 30, "y": 30}, size=36)


def _start(data, wd, model):
    args = [str(data), "-w", str(wd.root), "-m", model, "--device", "cpu", "--chunk-size", "8", "--batch-size", "4"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    # SIGINT back to its default in the child: a test run started in the background (``cmd &``)
    # inherits it ignored, and Python then never raises KeyboardInterrupt.
    return subprocess.Popen([sys.executable, "-c", SLOW_RUN, "embed", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_parts(proc, wd, n=1, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(part_files(wd.embeddings_dir)) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"embed ended before writing {n} part files: {proc.stderr.read()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no part file appeared in time")


def _part_ids(wd):
    return [s for p in part_files(wd.embeddings_dir) for s in pq.read_table(p)["sample_id"].to_pylist()]


def _resume_and_check(data, wd, model, done_before):
    rep = run_embed(wd, EmbedConfig(data=data, model=model, device="cpu", chunk_size=8))
    assert rep.summary["embedded_now"] == N_IMAGES - done_before
    assert rep.summary["reused"] == done_before
    ids = _part_ids(wd)
    assert max(Counter(ids).values()) == 1, "duplicated rows"
    assert len(ids) == N_IMAGES and len(load_embeddings(wd).sample_ids) == N_IMAGES
    assert not list(wd.embeddings_dir.glob(".*.tmp"))


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path, data, tiny_model):
    wd = Workdir(tmp_path / "w")
    proc = _start(data, wd, tiny_model)
    _wait_for_parts(proc, wd, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    proc.stderr.close()
    done_before = len(_part_ids(wd))
    assert 16 <= done_before < N_IMAGES and done_before % 8 == 0
    assert not wd.manifest.exists()
    _resume_and_check(data, wd, tiny_model, done_before)


@pytest.mark.slow
def test_ctrl_c_exits_130_and_resumes(tmp_path, data, tiny_model):
    wd = Workdir(tmp_path / "w")
    proc = _start(data, wd, tiny_model)
    _wait_for_parts(proc, wd, 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Error: interrupted" in err and "run the same command again" in err
    assert not list(wd.embeddings_dir.glob(".*.tmp"))
    _resume_and_check(data, wd, tiny_model, len(_part_ids(wd)))


def test_stale_temp_part_is_removed(tmp_path, data, tiny_model):
    wd = Workdir(tmp_path / "w")
    wd.embeddings_dir.mkdir(parents=True)
    stale = wd.embeddings_dir / ".part-00000-00000.parquet.dead.tmp"
    pq.write_table(pa.table({"x": [1]}), stale)
    rep = run_embed(wd, EmbedConfig(data=data, model=tiny_model, device="cpu", chunk_size=8))
    assert rep.summary["removed_temp_parts"] == 1 and not stale.exists()
