"""Re-runs over unchanged data read no file and build no model; tar shards embed like files."""

from __future__ import annotations

import os
import shutil
import sys
import threading

import pytest

from containergen import jpeg_bytes, write_tar
from imagegen import make_image_folder, make_jpeg
from labelclean.stages.embed import EmbedConfig, run_embed
from labelclean.store.tables import load_embeddings, load_manifest
from labelclean.store.workdir import Workdir

_OPENS: list[str] = []
_WATCH: dict[str, str | None] = {"root": None}


def _audit(event, args):  # registered once per test session; only records while a root is watched
    root = _WATCH["root"]
    if root is not None and event == "open" and isinstance(args[0], str) and args[0].startswith(root):
        if threading.current_thread() is threading.main_thread():
            _OPENS.append(args[0])


sys.addaudithook(_audit)


class watch_opens:
    def __init__(self, root):
        self.root = str(root)

    def __enter__(self):
        _OPENS.clear()
        _WATCH["root"] = self.root
        return _OPENS

    def __exit__(self, *exc):
        _WATCH["root"] = None


@pytest.fixture
def data(tmp_path):
    root = make_image_folder(tmp_path / "data", {"a": 7, "b": 6}, size=24)
    shutil.copy(root / "a" / sorted(os.listdir(root / "a"))[0], root / "b" / "zz_copy.png")
    return root


def _cfg(data, model, **kw):
    return EmbedConfig(data=data, model=model, device="cpu", precision="fp32", chunk_size=4, **kw)


def test_unchanged_rerun_reads_no_file_and_loads_no_model(tmp_path, data, tiny_model, monkeypatch):
    wd = Workdir(tmp_path / "w")
    first = run_embed(wd, _cfg(data, tiny_model))
    assert first.summary["hashed_now"] == 14 and first.summary["model_loaded"] is True
    manifest = load_manifest(wd)[0]

    import labelclean.model.encoder as encoder

    def refuse(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(encoder, "load_encoder", refuse)
    with watch_opens(data) as opens:
        again = run_embed(wd, _cfg(data, tiny_model))
    assert opens == []
    s = again.summary
    assert (s["embedded_now"], s["hashed_now"], s["hash_cache_hits"], s["model_loaded"]) == (0, 0, 14, False)
    assert s["text"]["reused"] is True and s["finished"]
    assert load_manifest(wd)[0].equals(manifest)
    record = wd.read_run()
    assert record["model"]["embed_dim"] == 32
    embed = record["stages"]["embed"]  # --device/--precision as asked and as resolved
    assert (embed["config"]["device"], embed["config"]["precision"]) == ("cpu", "fp32")
    s = embed["summary"]
    assert (s["device"], s["precision"], s["model_loaded"]) == ("cpu", "fp32", False)

    monkeypatch.undo()
    changed = sorted((data / "a").iterdir())[3]
    make_jpeg(changed, color=(10, 200, 10), size=(24, 24))
    with watch_opens(data) as opens:
        third = run_embed(wd, _cfg(data, tiny_model))
    assert third.summary["hashed_now"] == 1 and third.summary["embedded_now"] == 1
    assert set(opens) == {str(changed)}  # hashed, then decoded: the only file read


def test_duplicates_across_shards_match_a_full_run(tmp_path, data, tiny_model):
    from labelclean.embed.plan import Shard

    copy_id, orig_id = "b/zz_copy.png", "a/" + sorted(os.listdir(data / "a"))[0]
    n = next(n for n in range(2, 9) if not Shard(0, n).owns(copy_id) == Shard(0, n).owns(orig_id)
             or any(Shard(i, n).owns(copy_id) != Shard(i, n).owns(orig_id) for i in range(n)))
    full = Workdir(tmp_path / "full")
    run_embed(full, _cfg(data, tiny_model))
    wd = Workdir(tmp_path / "sharded")
    reports = [run_embed(wd, _cfg(data, tiny_model, shard=f"{i}/{n}")) for i in range(n)]
    assert [r.summary["finished"] for r in reports] == [False] * (n - 1) + [True]
    assert sum(r.summary["hashed_now"] for r in reports) == 14  # every file read once in all
    assert reports[-1].summary["duplicates"] == 1
    a, b = load_manifest(full)[0], load_manifest(wd)[0]
    assert a.drop(["path"]).equals(b.drop(["path"]))
    row = b.to_pylist()[b["sample_id"].to_pylist().index(copy_id)]
    assert row["duplicate_of"] == orig_id
    assert list(load_embeddings(wd).sample_ids) == list(load_embeddings(full).sample_ids)


def test_webdataset_tars_embed_in_shards(tmp_path, tiny_model):
    root = tmp_path / "wds"
    for t in range(3):
        members = {}
        for k in range(4):
            members[f"{t}{k:03d}.jpg"] = jpeg_bytes((40 * t + 10 * k, 90, 30 * k))
            members[f"{t}{k:03d}.cls"] = str(k % 2).encode()
        members[f"{t}bad.jpg"], members[f"{t}bad.cls"] = b"\xff\xd8\xff not really", b"0"
        write_tar(root / f"shard-{t:03d}.tar", members)
    full = Workdir(tmp_path / "full")
    rep = run_embed(full, _cfg(root, tiny_model))
    assert rep.counts == {"ok": 12, "corrupt": 3}
    sharded = Workdir(tmp_path / "sharded")
    reps = [run_embed(sharded, _cfg(root, tiny_model, shard=f"{i}/2")) for i in range(2)]
    assert reps[-1].summary["finished"]
    assert sorted(r.summary["hashed_now"] for r in reps) in ([0, 15], [5, 10])  # whole tars per shard
    a, b = load_manifest(full)[0], load_manifest(sharded)[0]
    assert a.drop(["path"]).equals(b.drop(["path"]))
    assert b["sample_id"].to_pylist()[:2] == ["shard-000.tar/0000", "shard-000.tar/0001"]
    again = run_embed(full, _cfg(root, tiny_model))
    assert again.summary["hashed_now"] == 0 and again.summary["model_loaded"] is False


def test_parquet_image_bytes_embed_and_rerun(tmp_path, tiny_model):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "pq"
    folder.mkdir()
    for f in range(2):
        images = [jpeg_bytes((60 * f + 20 * i, 30, 200 - 20 * i)) for i in range(5)] + [None]
        table = pa.table({"key": [f"{f}{i:02d}" for i in range(6)], "jpg": pa.array(images, pa.binary()),
                          "label": ["cat", "dog", "cat", "dog", "cat", "dog"]})
        pq.write_table(table, folder / f"part-{f:05d}.parquet", row_group_size=4)
    wd = Workdir(tmp_path / "w")
    rep = run_embed(wd, _cfg(folder, tiny_model))
    assert rep.counts == {"ok": 10, "empty": 2}
    assert len(load_embeddings(wd).sample_ids) == 10
    again = run_embed(wd, _cfg(folder, tiny_model))
    assert (again.summary["hashed_now"], again.summary["embedded_now"], again.summary["model_loaded"]) == (0, 0, False)
