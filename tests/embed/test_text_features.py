"""Imported prompt embeddings (embed --text-features) and the text-tower-only encoder."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelclean.core.errors import InputError, UsageError
from labelclean.embed.text_features import load_text_features, read_prompts_file
from labelclean.store.tables import ClassInfo

CLASSES = [ClassInfo(0, "golden_retriever", "golden retriever"), ClassInfo(1, "tabby", "tabby cat")]


def _vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _parquet(path, classes, prompts, vectors):
    pq.write_table(pa.table({"class": classes, "prompt": prompts, "embedding": vectors.tolist()}), path)
    return path


def test_parquet_round_trip_orders_by_class_and_normalises(tmp_path):
    V = _vectors(4, 8)
    path = _parquet(tmp_path / "text.parquet", ["tabby", "Golden Retriever", "tabby cat", "zebra"],
                    ["a tabby.", "a dog.", None, "a zebra."], V)
    tf = load_text_features(path, CLASSES, image_dim=8, image_path=tmp_path / "img.npy")
    assert tf.class_ids.tolist() == [0, 1, 1]
    assert tf.prompts == ["a dog.", "a tabby.", "tabby cat"]  # a missing prompt is the prompt name
    expected = V[[1, 0, 2]] / np.linalg.norm(V[[1, 0, 2]], axis=1, keepdims=True)
    np.testing.assert_allclose(tf.vectors, expected, rtol=1e-6)
    assert tf.unmatched == 1 and tf.dim == 8 and tf.source == "text-features:text.parquet"
    assert len(tf.sha256) == 64


def test_npy_with_prompts_file(tmp_path):
    V = _vectors(3, 6)
    np.save(tmp_path / "text.npy", V)
    (tmp_path / "prompts.csv").write_text("class,prompt\ntabby,a photo of a tabby.\n"
                                          "golden_retriever,a photo of a dog.\ntabby,a cat.\n")
    tf = load_text_features(tmp_path / "text.npy", CLASSES, image_dim=6, image_path=tmp_path / "i.npy",
                            prompts_file=tmp_path / "prompts.csv")
    assert tf.class_ids.tolist() == [0, 1, 1]
    assert tf.prompts == ["a photo of a dog.", "a photo of a tabby.", "a cat."]
    assert tf.identity["text_prompts_file"].endswith("prompts.csv")
    assert read_prompts_file(tmp_path / "prompts.csv")[0] == ["tabby", "golden_retriever", "tabby"]


def test_dimension_mismatch_names_both_files_and_dims(tmp_path):
    path = _parquet(tmp_path / "text.parquet", ["tabby", "golden_retriever"], ["a", "b"], _vectors(2, 512))
    with pytest.raises(InputError) as e:
        load_text_features(path, CLASSES, image_dim=768, image_path=tmp_path / "img.parquet")
    assert str(e.value) == (f"text features file {path} has 512-dimensional embeddings but image features file "
                            f"{tmp_path / 'img.parquet'} has 768")
    assert e.value.hint == "use prompt embeddings from the model that made the image features"


def test_missing_class_and_bad_layouts_are_refused(tmp_path):
    path = _parquet(tmp_path / "text.parquet", ["tabby"], ["a"], _vectors(1, 4))
    with pytest.raises(InputError, match=r"have no prompt for 1 of the data's classes: golden_retriever$"):
        load_text_features(path, CLASSES, image_dim=4, image_path=tmp_path / "i.npy")
    np.save(tmp_path / "t.npy", _vectors(2, 4))
    with pytest.raises(UsageError, match=r"is a \.npy array and needs --text-prompts FILE$"):
        load_text_features(tmp_path / "t.npy", CLASSES, image_dim=4, image_path=tmp_path / "i.npy")
    (tmp_path / "p.csv").write_text("class\ntabby\n")
    with pytest.raises(InputError, match=r"t\.npy has 2 rows but .*p\.csv has 1 prompts$"):
        load_text_features(tmp_path / "t.npy", CLASSES, image_dim=4, image_path=tmp_path / "i.npy",
                           prompts_file=tmp_path / "p.csv")
    (tmp_path / "q.csv").write_text("name,prompt\ntabby,a\n")
    with pytest.raises(InputError, match=r"needs a class column \(class, class_name, label\)$"):
        read_prompts_file(tmp_path / "q.csv")
    with pytest.raises(InputError, match=r"does not exist$"):
        load_text_features(tmp_path / "nope.parquet", CLASSES, image_dim=4, image_path=tmp_path / "i.npy")


def test_text_only_encoder_matches_the_full_model(tiny_model):
    from labelclean.model.encoder import load_encoder

    full = load_encoder(tiny_model, device="cpu", precision="fp32")
    text = load_encoder(tiny_model, device="cpu", precision="fp32", text_only=True)
    assert text.model.visual is None and text.dim == full.dim == 32
    assert text.model_id == full.model_id
    prompts = ["a photo of a cat.", "a photo of a dog."]
    np.testing.assert_allclose(text.encode_texts(prompts), full.encode_texts(prompts), atol=1e-6)
