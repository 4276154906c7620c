"""An image model and imported features behind one `Source` protocol: the same names, the same rows."""

from __future__ import annotations

import typing
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labelclean.core.errors import ModelError
from labelclean.embed.features import Features
from labelclean.embed.images import ImageSource
from labelclean.embed.source import Source
from labelclean.ingest.types import Candidate

MEMBERS = sorted(set(typing.get_type_hints(Source)) | {"summary", "rows", "encode_texts"})


def _features() -> Features:
    vec = np.array([0.6, 0.8], np.float32)
    return Features(Path("/data/feats.npy"), "ab" * 32, {"a.png": vec}, 2, unmatched=1)


def _image_source() -> ImageSource:
    class Device(SimpleNamespace):
        def __str__(self) -> str:
            return self.type

    enc = SimpleNamespace(device=Device(type="cpu"), model_id="m@1", identity={"embed_dim": 4}, dim=4,
                          has_text=True, precision="fp32", encode_texts=lambda texts: np.ones((len(texts), 4)))
    return ImageSource(enc, workers=0)


@pytest.mark.parametrize("make", [_features, _image_source])
def test_both_sources_have_every_member(make):
    src = make()
    missing = [m for m in MEMBERS if not hasattr(src, m)]
    assert not missing, missing


def test_features_rows_and_summary():
    src = _features()
    items = [Candidate("a.png", Path("/data/a.png"), "cat", {}), Candidate("b.png", Path("/data/b.png"), "dog", {})]
    (rows,) = list(src.rows(items, {"a.png": "h1", "b.png": None}))
    assert rows.status == ["ok", "no_features"] and rows.vectors[0].tolist() == pytest.approx([0.6, 0.8])
    assert (src.dim, src.has_text, src.decodes_files) == (2, False, False)
    assert src.summary() == {"features_file": "/data/feats.npy", "unmatched_feature_rows": 1}
    with pytest.raises(ModelError, match="features have no text encoder"):
        src.encode_texts(["a photo of a cat."])


def test_image_source_resolves_batch_size_and_delegates_to_the_model():
    src = _image_source()
    assert (src.dim, src.model_id, src.has_text, src.decodes_files) == (4, "m@1", True, True)
    assert src.summary() == {"device": "cpu", "precision": "fp32", "batch_size": 64, "workers": 0}
    assert src.encode_texts(["x", "y"]).shape == (2, 4)
