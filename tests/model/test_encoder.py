"""The open_clip adapter: loading, identity, precision, and fast offline failures."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from labelclean.model import encoder, source as model_source
from labelclean.model.encoder import load_encoder, resolve_device, resolve_precision
from labelclean.core.errors import ModelError, UsageError


@pytest.fixture(scope="module")
def tiny(tiny_model):
    return load_encoder(tiny_model, device="cpu", precision="fp32")


def _batch(enc, n=4, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    import torch

    imgs = [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]
    return torch.stack([enc.preprocess(im) for im in imgs])


def test_tiny_model_identity(tiny, tiny_model_dir):
    sha = encoder.sha256_file(tiny_model_dir / "open_clip_model.safetensors")
    identity = dict(tiny.identity)
    # open_clip initialises logit_scale to log(1 / 0.07); exp of it is the model's softmax scale
    assert identity.pop("logit_scale") == pytest.approx(1 / 0.07, rel=1e-5)
    assert identity == {
        "model": f"local-dir:{tiny_model_dir.name}",
        "pretrained": None,
        "weights_file": str(tiny_model_dir / "open_clip_model.safetensors"),
        "weights_sha256": sha,
        "embed_dim": 32,
        "image_size": 32,
    }
    assert tiny.model_id == f"local-dir:{tiny_model_dir.name}@{sha[:12]}"
    assert tiny.has_text and tiny.precision == "fp32" and tiny.device.type == "cpu"


def test_image_embeddings_are_unit_float32_and_deterministic(tiny):
    x = _batch(tiny)
    a, b = tiny.encode_images(x), tiny.encode_images(x)
    assert a.shape == (4, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])


def test_text_embeddings(tiny):
    t = tiny.encode_texts(["a photo of a cat", "a photo of a dog", "x"], batch_size=2)
    assert t.shape == (3, 32) and t.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert tiny.encode_texts([]).shape == (0, 32)


def test_bf16_autocast_close_to_fp32(tiny, tiny_model):
    bf = load_encoder(tiny_model, device="cpu", precision="bf16")
    x = _batch(tiny)
    cos = np.sum(tiny.encode_images(x) * bf.encode_images(x), axis=1)
    assert bf.model_id == tiny.model_id
    assert cos.min() > 0.98


def test_weights_file_for_builtin_name(tiny, tiny_model_dir):
    # tinyclip registered the "tiny-test" config in this process, as add_model_config would.
    enc = load_encoder("tiny-test", str(tiny_model_dir / "open_clip_model.safetensors"), device="cpu", precision="fp32")
    assert enc.identity["pretrained"] == "open_clip_model.safetensors"
    assert enc.model_id == f"tiny-test@{tiny.identity['weights_sha256'][:12]}"
    x = _batch(tiny)
    np.testing.assert_allclose(enc.encode_images(x), tiny.encode_images(x), atol=1e-6)


def test_demo_alias(monkeypatch, tmp_path, tiny_model_dir):
    monkeypatch.setattr(model_source, "demo_dir", lambda: tmp_path / "absent")
    with pytest.raises(ModelError, match=r"the demo model is not part of this install \(looked in .*absent\)"):
        load_encoder("demo")
    monkeypatch.setattr(model_source, "demo_dir", lambda: tiny_model_dir)
    assert load_encoder("demo", device="cpu").model_id.startswith("demo@")


@pytest.mark.parametrize(
    "model, pretrained, pattern",
    [
        ("ViT-B-33", None, r"unknown model 'ViT-B-33'; did you mean: ViT-B-32"),
        ("ViT-B-32", "no_such_tag", r"unknown pretrained tag 'no_such_tag' for ViT-B-32"),
        ("ViT-B-32", "/nonexistent/w.safetensors", r"weights file /nonexistent/w.safetensors does not exist"),
        ("local-dir:/nonexistent/m", None, r"model folder /nonexistent/m does not exist"),
    ],
)
def test_bad_model_or_weights(model, pretrained, pattern):
    with pytest.raises(ModelError, match=pattern):
        load_encoder(model, pretrained)


def test_unknown_tag_lists_tags():
    with pytest.raises(ModelError) as e:
        load_encoder("ViT-B-32", "no_such_tag")
    assert "laion2b_s34b_b79k" in e.value.hint


def test_missing_weights_offline_fail_fast(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.perf_counter()
    with pytest.raises(ModelError) as e:
        load_encoder("ViT-B-32")
    assert time.perf_counter() - start < 5
    assert e.value.message.startswith("weights for ViT-B-32 'laion2b_s34b_b79k' are not downloaded")
    assert str(tmp_path / "hub") in e.value.message
    assert "--pretrained /path/to/weights.safetensors" in e.value.hint and "HF_HOME" in e.value.hint
    with pytest.raises(ModelError, match=r"hf-hub:org/absent is not downloaded"):
        load_encoder("hf-hub:org/absent")


def test_cached_tag_loads_offline(monkeypatch, tmp_path, tiny, tiny_model_dir):
    import open_clip
    from huggingface_hub import constants

    snap = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("abc123")
    shutil.copy(tiny_model_dir / "open_clip_model.safetensors", snap / "open_clip_model.safetensors")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = {"hf_hub": "org/tiny/", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
    monkeypatch.setattr(open_clip, "list_pretrained_tags_by_model", lambda m: ["fake_tag"] if m == "tiny-test" else [])
    monkeypatch.setattr(open_clip, "get_pretrained_cfg", lambda m, t: cfg if (m, t) == ("tiny-test", "fake_tag") else {})
    enc = load_encoder("tiny-test", device="cpu")
    assert enc.identity["pretrained"] == "fake_tag"
    assert enc.identity["weights_file"] == str(snap / "open_clip_model.safetensors")
    assert enc.identity["weights_sha256"] == tiny.identity["weights_sha256"]
    assert "0.5" in repr(enc.preprocess)  # the tag's normalisation, not the default


def test_unloadable_weights_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file" * 4)
    with pytest.raises(ModelError, match=r"cannot load model tiny-test from .*bad\.safetensors"):
        load_encoder("tiny-test", str(bad))


def test_local_dir_without_weights(tmp_path, tiny_model_dir):
    shutil.copy(tiny_model_dir / "open_clip_config.json", tmp_path / "open_clip_config.json")
    with pytest.raises(ModelError, match=r"has no weights file"):
        load_encoder(f"local-dir:{tmp_path}")


def test_pretrained_with_local_dir_is_usage_error(tiny_model):
    with pytest.raises(UsageError, match=r"--pretrained cannot be combined with --model local-dir:"):
        load_encoder(tiny_model, "x.safetensors")


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    import torch

    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ModelError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(UsageError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


def test_resolve_precision(monkeypatch):
    import torch

    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    assert resolve_precision("auto", torch.device("mps")) == "fp32"
    monkeypatch.setattr(encoder, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    monkeypatch.setattr(encoder, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("FP16", torch.device("cpu")) == "fp16"
    with pytest.raises(UsageError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", torch.device("cpu"))


def test_registry_offline_probe_respects_env(monkeypatch):
    model_source.is_offline.cache_clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        assert model_source.is_offline()
    finally:
        model_source.is_offline.cache_clear()


def test_only_encoder_imports_open_clip():
    import ast

    import labelclean

    pkg = Path(labelclean.__file__).parent
    importers = set()
    for path in pkg.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "open_clip" for n in names):
                importers.add(path.relative_to(pkg).as_posix())
    assert importers == {"model/encoder.py"}


def test_cached_hf_hub_model_loads_offline(monkeypatch, tmp_path, tiny, tiny_model_dir):
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--org--tinyhub"
    snap = repo / "snapshots" / "rev1"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("rev1")
    for name in ("open_clip_config.json", "open_clip_model.safetensors"):
        shutil.copy(tiny_model_dir / name, snap / name)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = load_encoder("hf-hub:org/tinyhub", device="cpu", precision="fp32")
    assert enc.identity["model"] == "hf-hub:org/tinyhub"
    assert enc.model_id == f"hf-hub:org/tinyhub@{tiny.identity['weights_sha256'][:12]}"
    x = _batch(tiny)
    np.testing.assert_allclose(enc.encode_images(x), tiny.encode_images(x), atol=1e-6)
