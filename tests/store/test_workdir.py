import json
import multiprocessing as mp
import os

import pytest

from labelclean.core.errors import WorkdirError
from labelclean.store.workdir import Workdir, atomic_path, atomic_write_text


def _hold_lock(path, ready, release):
    wd = Workdir(path)
    with wd.lock():
        ready.set()
        release.wait(10)


def test_lock_refuses_second_writer(tmp_path):
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(tmp_path / "w", ready, release))
    p.start()
    try:
        assert ready.wait(10)
        with pytest.raises(WorkdirError, match=r"in use by another labelclean process \(pid \d+\)"):
            with Workdir(tmp_path / "w").lock():
                pass
    finally:
        release.set()
        p.join(10)
    with Workdir(tmp_path / "w").lock():  # released once the holder exits
        pass


def test_lock_released_when_holder_is_killed(tmp_path):
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(tmp_path / "w", ready, release))
    p.start()
    assert ready.wait(10)
    p.kill()
    p.join(10)
    with Workdir(tmp_path / "w").lock():
        pass


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


def test_run_json_records_stages(tmp_path):
    wd = Workdir(tmp_path / "w").ensure()
    wd.update_run("embed", {"seconds": 1.5}, model={"model_id": "m1"})
    wd.update_run("score", {"seconds": 2.0})
    run = json.loads(wd.run_json.read_text())
    assert run["model"]["model_id"] == "m1"
    assert set(run["stages"]) == {"embed", "score"}
    assert "numpy" in run["versions"] and run["labelclean_version"]
    assert wd.stage_record("score")["seconds"] == 2.0


def test_require_names_the_stage(tmp_path):
    wd = Workdir(tmp_path / "w").ensure()
    with pytest.raises(WorkdirError) as e:
        wd.require(wd.scores, "score")
    assert "scores.parquet does not exist" in e.value.message
    assert "labelclean score -w" in e.value.hint


def test_corrupt_run_json_is_a_clear_error(tmp_path):
    wd = Workdir(tmp_path / "w").ensure()
    wd.run_json.write_text("{not json")
    with pytest.raises(WorkdirError, match="run.json is not valid JSON"):
        wd.read_run()
