"""The embed stage: statuses, duplicates, resume bookkeeping, model identity, --from-features."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imagegen import LARGE_MAX_PIXELS, make_image_folder, make_png, write_bad_cases
from labelclean.core.errors import InputError, UsageError, WorkdirError
from labelclean.store.parquet_io import part_files, read_meta, to_numpy_2d
from labelclean.stages.embed import EmbedConfig, run_embed
from labelclean.embed.parts import PartWriter, Rows
from labelclean.embed.plan import Shard, parse_shard, shard_of
from labelclean.store.tables import load_classes, load_embeddings, load_manifest, load_text
from labelclean.store.workdir import Workdir


@pytest.fixture
def data(tmp_path):
    root = make_image_folder(tmp_path / "data", {"cat": 6, "dog": 5}, size=40)
    shutil.copy(root / "dog" / "dog_000.png", root / "cat" / "zz_copy_of_dog.png")  # duplicate, other label
    shutil.copy(root / "cat" / "cat_001.png", root / "cat" / "cat_001_again.png")  # duplicate, same label
    return root


def _cfg(data, model, **kw):
    return EmbedConfig(data=data, model=model, device="cpu", precision="fp32", chunk_size=4, **kw)


def _manifest(wd):
    table, _ = load_manifest(wd)
    return {r["sample_id"]: r for r in table.to_pylist()}


def test_full_run_outputs(tmp_path, data, tiny_model):
    expected = write_bad_cases(data / "cat")
    wd = Workdir(tmp_path / "w")
    rep = run_embed(wd, _cfg(data, tiny_model, max_pixels=LARGE_MAX_PIXELS))
    rows = _manifest(wd)
    assert len(rows) == 11 + 2 + len(expected)
    for name, reason in expected.items():
        assert rows[f"cat/{name}"]["status"] == reason, name
    assert rows["dog/dog_000.png"]["duplicate_of"] == "cat/zz_copy_of_dog.png"  # smallest sample_id is kept
    assert rows["cat/zz_copy_of_dog.png"]["label_id"] == 0 and rows["dog/dog_000.png"]["label_id"] == 1
    assert rows["cat/cat_001_again.png"]["duplicate_of"] == "cat/cat_001.png"
    assert rows["cat/cat_000.png"]["width"] == 40 and rows["cat/cat_000.png"]["sha256"]
    assert rep.counts == {k: v for k, v in _count(rows).items()}
    assert rep.summary["duplicate_label_conflicts"] == 1
    assert rep.summary["conflict_examples"][0]["sample_ids"] == ["cat/zz_copy_of_dog.png", "dog/dog_000.png"]
    assert rep.summary["embedded_now"] == len(rows) - 2 - 2  # 2 duplicates; readme.txt == notes.jpg
    emb = load_embeddings(wd)
    ok = sorted(s for s, r in rows.items() if r["status"] == "ok")
    assert list(emb.sample_ids) == ok
    assert emb.X.shape == (len(ok), 32)
    np.testing.assert_allclose(np.linalg.norm(emb.X, axis=1), 1.0, atol=1e-3)
    i, j = ok.index("cat/zz_copy_of_dog.png"), ok.index("dog/dog_000.png")
    np.testing.assert_array_equal(emb.X[i], emb.X[j])
    assert [c.name for c in load_classes(wd)] == ["cat", "dog"]
    text = load_text(wd)
    assert text.prompts == ["a photo of a cat.", "a photo of a dog."] and text.T.shape == (2, 32)
    run = wd.read_run()
    assert run["model"]["model_id"] == emb.model_id and run["model"]["embed_dim"] == 32
    assert run["stages"]["embed"]["counts"] == rep.counts


def _count(rows):
    out = {}
    for r in rows.values():
        out[r["status"]] = out.get(r["status"], 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def test_parts_are_chunked_float16_with_metadata(tmp_path, data, tiny_model):
    wd = Workdir(tmp_path / "w")
    run_embed(wd, _cfg(data, tiny_model))
    parts = part_files(wd.embeddings_dir)
    assert [p.name for p in parts] == [f"part-00000-0000{i}.parquet" for i in range(3)]  # 11 contents, 4 per part
    assert [pq.read_metadata(p).num_rows for p in parts] == [4, 4, 3]
    meta = read_meta(parts[0])
    assert meta["table"] == "embeddings" and meta["schema_version"] == 1 and meta["num_shards"] == 1
    assert pq.read_schema(parts[0]).field("embedding").type == pa.list_(pa.float16(), 32)


def test_rerun_embeds_nothing_then_only_new_files(tmp_path, data, tiny_model):
    wd = Workdir(tmp_path / "w")
    first = run_embed(wd, _cfg(data, tiny_model))
    before = load_embeddings(wd)
    again = run_embed(wd, _cfg(data, tiny_model))
    assert again.summary["embedded_now"] == 0 and again.summary["reused"] == first.summary["embedded_now"]
    assert again.summary["text"]["reused"] is True
    for i in range(3):
        make_png(data / "dog" / f"new_{i}.png", (10 * i, 200, 30), (40, 40), noise_seed=99 + i)
    shutil.copy(data / "dog" / "dog_001.png", data / "dog" / "a_copy.png")  # sorts first, already embedded
    third = run_embed(wd, _cfg(data, tiny_model))
    assert third.summary["embedded_now"] == 3
    after = load_embeddings(wd)
    assert len(after.sample_ids) == len(before.sample_ids) + 4
    assert _manifest(wd)["dog/a_copy.png"]["duplicate_of"] == "dog/dog_001.png"  # the embedded copy stays canonical
    keep = np.isin(after.sample_ids, before.sample_ids)
    np.testing.assert_array_equal(after.X[keep], before.X)


def test_other_model_is_refused(tmp_path, data, tiny_model, tiny_model_dir):
    from tinyclip import build_tiny_local_dir

    other = build_tiny_local_dir(tmp_path / "other-model", seed=1)
    wd = Workdir(tmp_path / "w")
    run_embed(wd, _cfg(data, tiny_model))
    with pytest.raises(WorkdirError) as e:
        run_embed(wd, _cfg(data, f"local-dir:{other}"))
    assert str(wd.root) in e.value.message
    assert f"local-dir:{tiny_model_dir.name}@" in e.value.message and "local-dir:other-model@" in e.value.message
    assert "--workdir" in e.value.hint and str(wd.embeddings_dir) in e.value.hint


def test_modified_file_is_embedded_again(tmp_path, data, tiny_model):
    wd = Workdir(tmp_path / "w")
    run_embed(wd, _cfg(data, tiny_model))
    make_png(data / "cat" / "cat_002.png", (0, 0, 255), (40, 40), noise_seed=5)
    rep = run_embed(wd, _cfg(data, tiny_model))
    assert rep.summary["embedded_now"] == 1
    assert len(load_embeddings(wd).sample_ids) == 13


def test_from_features_round_trip(tmp_path, data, tiny_model):
    src = Workdir(tmp_path / "src")
    run_embed(src, _cfg(data, tiny_model, dtype="float32"))
    emb = load_embeddings(src)
    feats = tmp_path / "feats.parquet"
    pq.write_table(pa.table({"sample_id": list(emb.sample_ids), "embedding": [list(v) for v in emb.X]}), feats)
    dst = Workdir(tmp_path / "dst")
    rep = run_embed(dst, _cfg(data, None, from_features=feats, dtype="float32"))
    back = load_embeddings(dst)
    assert list(back.sample_ids) == list(emb.sample_ids)
    np.testing.assert_allclose(back.X, emb.X, atol=1e-6)
    np.testing.assert_array_equal(back.labels, emb.labels)
    assert back.model_id.startswith("features:") and len(back.model_id) == len("features:") + 12
    assert load_text(dst) is None and rep.summary["text"]["skipped"]
    assert rep.counts == {"ok": 13}


def test_from_features_npy_in_sample_id_order_and_missing_rows(tmp_path, data):
    manifest_order = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    vecs = np.random.default_rng(0).normal(size=(len(manifest_order), 8)).astype(np.float32)
    gap = manifest_order.index("cat/cat_003.png")
    vecs[gap] = 0.0  # no features for this file
    np.save(tmp_path / "f.npy", vecs)
    wd = Workdir(tmp_path / "w")
    rep = run_embed(wd, _cfg(data, None, from_features=tmp_path / "f.npy", dtype="float32"))
    rows = _manifest(wd)
    assert rows["cat/cat_003.png"]["status"] == "no_features"
    emb = load_embeddings(wd)
    k = list(emb.sample_ids).index(manifest_order[0])
    np.testing.assert_allclose(emb.X[k], vecs[0] / np.linalg.norm(vecs[0]), atol=1e-6)
    assert rep.counts["no_features"] == 1


def test_from_features_by_path_and_bad_files(tmp_path, data):
    ids = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    feats = tmp_path / "f.parquet"
    paths = [str(data / s) for s in ids[:-1]] + ["elsewhere.png"]
    pq.write_table(pa.table({"path": paths, "embedding": [[1.0, float(i)] for i in range(len(ids))]}), feats)
    rep = run_embed(Workdir(tmp_path / "w"), _cfg(data, None, from_features=feats))
    assert rep.summary["unmatched_feature_rows"] == 1 and rep.counts == {"ok": len(ids) - 1, "no_features": 1}
    np.save(tmp_path / "short.npy", np.ones((3, 4), np.float32))
    with pytest.raises(InputError, match=r"short\.npy has 3 rows but DATA has 13 files"):
        run_embed(Workdir(tmp_path / "w2"), _cfg(data, None, from_features=tmp_path / "short.npy"))


def test_config_validation(tmp_path, data, tiny_model):
    with pytest.raises(UsageError, match="--dtype float64 is not one of: float16, float32"):
        run_embed(Workdir(tmp_path / "w"), _cfg(data, tiny_model, dtype="float64"))
    with pytest.raises(UsageError, match="--batch-size must be at least 1"):
        run_embed(Workdir(tmp_path / "w"), _cfg(data, tiny_model, batch_size=0))


def test_parse_shard():
    assert parse_shard(None, None) is None
    assert parse_shard("1/3", None) == Shard(1, 3)
    assert parse_shard("auto", None, {"JOB_COMPLETION_INDEX": "2", "LABELCLEAN_NUM_SHARDS": "4"}) == Shard(2, 4)
    assert parse_shard("auto", 5, {"AWS_BATCH_JOB_ARRAY_INDEX": "4"}) == Shard(4, 5)
    for bad, pattern in [("3/3", r"index must be in \[0, N\)"), ("a/b", "not of the form I/N"), ("1", "I/N")]:
        with pytest.raises(UsageError, match=pattern):
            parse_shard(bad, None)
    with pytest.raises(UsageError, match="found none of JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX, SLURM_ARRAY_TASK_ID"):
        parse_shard("auto", 2, {})
    with pytest.raises(UsageError, match="needs the number of shards"):
        parse_shard("auto", None, {"JOB_COMPLETION_INDEX": "0"})


def test_shard_of_is_stable_and_balanced():
    keys = [f"{i:064x}" for i in range(2000)]
    counts = np.bincount([shard_of(k, 4) for k in keys], minlength=4)
    assert counts.min() > 400
    assert shard_of("abc", 7) == shard_of("abc", 7)


def test_part_writer_rotates_and_aborts(tmp_path):
    def rows(n, start):
        ids = [f"s{start + i:03d}" for i in range(n)]
        return Rows(ids, ids, ["ok"] * n, [""] * n, [1] * n, [1] * n, np.ones((n, 3), np.float32))

    with PartWriter(tmp_path, Shard(2, 3), 3, pa.float32(), "m", chunk_size=5, row_group=2) as w:
        w.write(rows(7, 0))
        w.write(rows(4, 7))
    assert [p.name for p in part_files(tmp_path)] == ["part-00002-00000.parquet", "part-00002-00001.parquet",
                                                       "part-00002-00002.parquet"]
    assert pq.read_table(part_files(tmp_path)[2])["sample_id"].to_pylist() == ["s010"]
    with pytest.raises(RuntimeError):
        with PartWriter(tmp_path, Shard(2, 3), 3, pa.float32(), "m", chunk_size=5, row_group=2) as w:
            w.write(rows(3, 11))
            raise RuntimeError("boom")
    assert len(part_files(tmp_path)) == 3 and not list(tmp_path.glob(".*.tmp"))
    assert to_numpy_2d(pq.read_table(part_files(tmp_path)[0])["embedding"]).shape == (5, 3)


def test_split_preprocess_is_bit_identical(tiny_model):
    import torch
    from PIL import Image

    from labelclean.model.encoder import load_encoder
    from labelclean.embed.images import SplitPreprocess, collate, Decoded

    enc = load_encoder(tiny_model, device="cpu", precision="fp32")
    rng = np.random.default_rng(1)
    imgs = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(40, 50), (64, 33)]]
    prep = SplitPreprocess(enc.preprocess)
    assert prep.split
    _, stacked = collate([Decoded(i, "ok", "", 1, 1, prep.image(im)) for i, im in enumerate(imgs)])
    expected = torch.stack([enc.preprocess(im) for im in imgs])
    assert torch.equal(prep.batch(stacked), expected)
    whole = SplitPreprocess(lambda im: enc.preprocess(im))  # not a Compose: used as is
    assert not whole.split and torch.equal(whole.batch(torch.stack([whole.image(im) for im in imgs])), expected)


def test_auto_workers_rule():
    from labelclean.embed.images import auto_workers

    assert auto_workers("cpu", 2) == 0 and auto_workers("cpu", 8) == 2 and auto_workers("cpu", 4) == 1
    assert auto_workers("cuda", 2) == 1 and auto_workers("cuda", 16) == 15 and auto_workers("cuda", 64) == 32
