"""embed --from-features with a text side: imported prompt embeddings, or a text tower only."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imagegen import make_image_folder
from labelclean.core.errors import InputError, UsageError
from labelclean.stages.configs import EmbedConfig, ScoreConfig
from labelclean.stages.embed import run_embed
from labelclean.stages.score import run_score
from labelclean.store.tables import load_embeddings, load_text
from labelclean.store.workdir import Workdir


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model):
    """A workdir embedded with the tiny model, and its image + prompt embeddings exported as files."""
    tmp = tmp_path_factory.mktemp("text-side")
    data = make_image_folder(tmp / "data", {"cat": 5, "dog": 4}, size=40)
    src = Workdir(tmp / "src")
    run_embed(src, _cfg(data, tiny_model))
    emb, text = load_embeddings(src), load_text(src)
    img = tmp / "img.parquet"
    pq.write_table(pa.table({"sample_id": list(emb.sample_ids), "embedding": emb.X.tolist()}), img)
    names = ["cat", "dog"]
    txt = tmp / "text.parquet"
    pq.write_table(pa.table({"class": [names[i] for i in text.class_ids], "prompt": text.prompts,
                             "embedding": text.T.tolist()}), txt)
    return data, img, txt, text


def _cfg(data, model, **kw):
    return EmbedConfig(data=data, model=model, device="cpu", precision="fp32", dtype="float32", **kw)


def test_text_features_round_trip_enables_zero_shot(tmp_path, exported):
    data, img, txt, text = exported
    wd = Workdir(tmp_path / "w")
    rep = run_embed(wd, _cfg(data, None, from_features=img, text_features=txt))
    back = load_text(wd)
    assert back.prompts == text.prompts and back.class_ids.tolist() == text.class_ids.tolist()
    np.testing.assert_allclose(back.T, text.T, atol=1e-6)
    assert rep.summary["text_features"] == str(txt) and rep.summary["text"]["prompts"] == len(text.prompts)
    assert wd.read_run()["model"]["text_features_sha256"]
    assert run_score(wd, ScoreConfig()).summary["estimators"] == ["zeroshot", "robust"]


def test_npy_text_features_with_prompts_file(tmp_path, exported):
    data, img, _, text = exported
    np.save(tmp_path / "t.npy", text.T)
    rows = ["class,prompt"] + [f"{['cat', 'dog'][c]},{p}" for c, p in zip(text.class_ids, text.prompts)]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    wd = Workdir(tmp_path / "w")
    run_embed(wd, _cfg(data, None, from_features=img, text_features=tmp_path / "t.npy",
                       text_prompts=tmp_path / "p.csv"))
    np.testing.assert_allclose(load_text(wd).T, text.T, atol=1e-6)


def test_text_tower_only_embeds_the_prompts(tmp_path, exported, tiny_model):
    data, img, _, text = exported
    wd = Workdir(tmp_path / "w")
    rep = run_embed(wd, _cfg(data, tiny_model, from_features=img))
    back = load_text(wd)
    np.testing.assert_allclose(back.T, text.T, atol=1e-5)
    assert back.model_id.startswith("features:")  # the workdir's identity is the image features'
    assert rep.summary["text_model"].startswith("local-dir:")
    rerun = run_embed(wd, _cfg(data, None, from_features=img))  # no text side any more: no stale prompts
    assert load_text(wd) is None and rerun.summary["text"]["skipped"]


def test_dimension_mismatch_is_refused_before_anything_is_written(tmp_path, exported):
    data, img, _, _ = exported
    bad = tmp_path / "text16.parquet"
    pq.write_table(pa.table({"class": ["cat", "dog"], "embedding": np.ones((2, 16)).tolist()}), bad)
    wd = Workdir(tmp_path / "w")
    with pytest.raises(InputError) as e:
        run_embed(wd, _cfg(data, None, from_features=img, text_features=bad))
    assert str(e.value) == (f"text features file {bad} has 16-dimensional embeddings but image features file {img} "
                            "has 32")
    assert not wd.manifest.exists()


def test_text_tower_dimension_mismatch(tmp_path, exported, tiny_model):
    data, _, _, _ = exported
    img64 = tmp_path / "img64.npy"
    np.save(img64, np.ones((9, 64), np.float32))
    with pytest.raises(InputError, match=r"^the text tower of local-dir:.* has 32-dimensional embeddings but image "
                                         r"features file .*img64\.npy has 64$"):
        run_embed(Workdir(tmp_path / "w"), _cfg(data, tiny_model, from_features=img64))


@pytest.mark.parametrize(("kw", "message"), [
    ({"text_features": "t.parquet"}, "--text-features needs --from-features"),
    ({"from_features": "i.npy", "text_features": "t.parquet", "model": "m"},
     "--text-features and --model both give the prompt embeddings"),
    ({"from_features": "i.npy", "pretrained": "p.pt"},
     "--pretrained with --from-features needs --model (the text tower to load)"),
    ({"from_features": "i.npy", "text_prompts": "p.csv"}, "--text-prompts needs --text-features TXT.npy"),
])
def test_text_side_usage_errors(tmp_path, kw, message):
    kw = {"model": None, **kw}
    with pytest.raises(UsageError) as e:
        run_embed(Workdir(tmp_path / "w"), _cfg(tmp_path, **kw))
    assert str(e.value) == message


def test_clip_retrieval_folder_of_image_embeddings(tmp_path, exported, tiny_model):
    """img_emb/img_emb_<n>.npy + metadata/metadata_<n>.parquet (image_path), shards in numeric order."""
    data, img, _, text = exported
    table = pq.read_table(img)
    ids, X = table["sample_id"].to_pylist(), np.asarray(table["embedding"].to_pylist(), np.float32)
    folder = tmp_path / "embeddings"
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    for n, rows in ((10, slice(4, None)), (2, slice(0, 4))):  # rows are matched by image_path, whatever the shard order
        np.save(folder / "img_emb" / f"img_emb_{n}.npy", X[rows])
        pq.write_table(pa.table({"image_path": [str(data / s) for s in ids[rows]]}),
                       folder / "metadata" / f"metadata_{n}.parquet")
    wd = Workdir(tmp_path / "w")
    rep = run_embed(wd, _cfg(data, tiny_model, from_features=folder))
    back = load_embeddings(wd)
    assert list(back.sample_ids) == ids and rep.summary["unmatched_feature_rows"] == 0
    np.testing.assert_allclose(back.X, X / np.linalg.norm(X, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(load_text(wd).T, text.T, atol=1e-5)
    pq.write_table(pa.table({"image_path": ["a.png"]}), folder / "metadata" / "metadata_2.parquet")
    with pytest.raises(InputError, match=r"metadata_2\.parquet has 1 rows but .*img_emb_2\.npy has 4$"):
        run_embed(Workdir(tmp_path / "w2"), _cfg(data, None, from_features=folder))
