"""Sharded embedding: disjoint slices whose union equals a full run, row for row."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from imagegen import make_image_folder
from labelclean.core.errors import WorkdirError
from labelclean.store.parquet_io import part_files, read_meta
from labelclean.stages.embed import EmbedConfig, run_embed
from labelclean.store.tables import load_embeddings, load_manifest
from labelclean.store.workdir import Workdir


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("shards") / "data", {"a": 9, "b": 8, "c": 7}, size=36)


def _cfg(data, model, shard=None):
    return EmbedConfig(data=data, model=model, device="cpu", precision="fp32", chunk_size=5, shard=shard)


@pytest.mark.slow
def test_union_of_shards_equals_full_run(tmp_path, data, tiny_model):
    full = Workdir(tmp_path / "full")
    run_embed(full, _cfg(data, tiny_model))
    wd = Workdir(tmp_path / "sharded")
    first = run_embed(wd, _cfg(data, tiny_model, "0/2"))
    assert not first.summary["finished"] and not wd.manifest.exists()
    second = run_embed(wd, _cfg(data, tiny_model, "1/2"))
    assert second.summary["finished"] and wd.manifest.exists() and wd.text.exists()
    assert first.summary["embedded_now"] + second.summary["embedded_now"] == 24
    assert min(first.summary["embedded_now"], second.summary["embedded_now"]) > 0

    ids_by_shard = {}
    for p in part_files(wd.embeddings_dir):
        ids_by_shard.setdefault(p.name[5:10], set()).update(pq.read_table(p)["sample_id"].to_pylist())
        assert read_meta(p)["num_shards"] == 2
    assert set(ids_by_shard) == {"00000", "00001"}
    assert not ids_by_shard["00000"] & ids_by_shard["00001"]

    a, b = load_embeddings(full), load_embeddings(wd)
    assert list(a.sample_ids) == list(b.sample_ids)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.X, b.X, atol=2e-3)  # float16 storage; batches differ
    assert load_manifest(full)[0].drop(["path"]).equals(load_manifest(wd)[0].drop(["path"]))

    last = run_embed(wd, _cfg(data, tiny_model))
    assert last.summary["embedded_now"] == 0 and last.summary["reused"] == 24


def test_full_run_finishes_what_shards_left(tmp_path, data, tiny_model):
    wd = Workdir(tmp_path / "w")
    one = run_embed(wd, _cfg(data, tiny_model, "1/3"))
    rest = run_embed(wd, _cfg(data, tiny_model))
    assert one.summary["embedded_now"] + rest.summary["embedded_now"] == 24
    assert len(load_embeddings(wd).sample_ids) == 24


def test_other_shard_count_is_refused(tmp_path, data, tiny_model):
    wd = Workdir(tmp_path / "w")
    run_embed(wd, _cfg(data, tiny_model, "0/2"))
    with pytest.raises(WorkdirError, match=r"made by a run with 2 shards, not 3"):
        run_embed(wd, _cfg(data, tiny_model, "1/3"))


def test_shard_locks(tmp_path):
    wd = Workdir(tmp_path / "w")
    with wd.lock(shard=0):
        with wd.lock(shard=1):
            pass  # another shard may run alongside
        with pytest.raises(WorkdirError, match=r"shard 0 of .* is already being embedded"):
            with wd.lock(shard=0):
                pass
        with pytest.raises(WorkdirError, match=r"is in use: shard 0 is being embedded by another process"):
            with wd.lock():
                pass
    with wd.lock():
        with pytest.raises(WorkdirError, match="in use by another labelclean process"):
            with wd.lock(shard=1):
                pass


def _take_shard(path, index, barrier, results):
    barrier.wait(10)
    try:
        for _ in range(100):  # many take/release rounds at once: any refusal is a race
            with Workdir(path).lock(shard=index):
                pass
        results.put((index, "ok"))
    except WorkdirError as e:
        results.put((index, str(e)))


def test_shards_started_at_the_same_moment_never_refuse_each_other(tmp_path):
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    n = 6
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_take_shard, args=(tmp_path / "w", i, barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert sorted(results.get(timeout=5) for _ in range(n)) == [(i, "ok") for i in range(n)]
