"""The bundled demo CLIP model: loads offline through the public paths and does real zero-shot work."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from labelclean.demo import CLASSES, MODEL_DIR, model_spec, prompt_name
from labelclean.demo.dataset import flip_labels
from labelclean.demo.domain import render_indexed
from labelclean.core.templates import template_path

WEIGHTS = MODEL_DIR / "open_clip_model.safetensors"
CONFIG = MODEL_DIR / "open_clip_config.json"


@pytest.fixture(scope="module")
def demo_clip():
    """(model, preprocess, tokenizer) loaded the way a user's ``--model local-dir:...`` is."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(model_spec())
    return model.eval(), preprocess, open_clip.get_tokenizer(model_spec())


def _images(seed: int, n: int) -> tuple[list, np.ndarray]:
    clean = np.arange(n) % len(CLASSES)
    return [render_indexed(CLASSES[c], seed, i)[0] for i, c in enumerate(clean)], clean


def _class_probs(demo_clip, images, prompts_per_class: list[list[str]]) -> np.ndarray:
    """(N, K) softmax over classes of the CLIP logits; prompt embeddings averaged per class."""
    import torch

    model, preprocess, tokenizer = demo_clip
    with torch.no_grad():
        text = torch.stack([model.encode_text(tokenizer(p), normalize=True).mean(0) for p in prompts_per_class])
        text = text / text.norm(dim=1, keepdim=True)
        img = model.encode_image(torch.stack([preprocess(im) for im in images]), normalize=True)
        logits = model.logit_scale.exp() * img @ text.T
    return logits.softmax(1).numpy()


def _simple_prompts() -> list[list[str]]:
    return [[f"a photo of a {prompt_name(c)}."] for c in CLASSES]


def test_bundled_files_are_small_float16_safetensors():
    from safetensors import safe_open

    config = json.loads(CONFIG.read_text())
    assert set(config) == {"model_cfg", "preprocess_cfg"}
    assert WEIGHTS.stat().st_size < 10_000_000
    with safe_open(str(WEIGHTS), framework="pt") as f:
        dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}
    assert dtypes == {"torch.float16"}


def test_loads_offline_as_fp32_with_tokenizer(demo_clip):
    model, preprocess, tokenizer = demo_clip
    assert next(model.parameters()).dtype.is_floating_point
    assert str(next(model.parameters()).dtype) == "torch.float32"
    tokens = tokenizer(["a photo of a red circle."])
    context = json.loads(CONFIG.read_text())["model_cfg"]["text_cfg"]["context_length"]
    assert tuple(tokens.shape) == (1, context)
    assert tuple(preprocess(render_indexed("red_circle", 0, 0)[0]).shape) == (3, 64, 64)


def test_loads_through_labelclean_encoder():
    encoder = pytest.importorskip("labelclean.model.encoder")
    enc = encoder.load_encoder("demo", device="cpu", precision="fp32")
    texts = enc.encode_texts(["a photo of a red circle.", "a photo of a blue star."])
    assert texts.shape == (2, enc.dim)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-4)


def test_shipped_prompts_fit_the_context_without_truncation(demo_clip):
    _, _, tokenizer = demo_clip
    templates = [t for t in template_path("prompts", "imagenet80.txt").read_text().splitlines() if "{}" in t]
    clauses = yaml.safe_load(template_path("descriptions", "demo.yaml").read_text())["classes"]
    texts = [t.format(prompt_name(c)) for t in templates for c in CLASSES]
    texts += [f"a photo of a {prompt_name(c)} {cl}." for c in CLASSES for cl in clauses[c]]
    tokens = tokenizer(texts).numpy()
    assert (tokens[:, -1] == 0).all(), "a shipped prompt fills the whole context and is truncated"


@pytest.fixture(scope="module")
def fresh(demo_clip) -> tuple[np.ndarray, np.ndarray]:
    """300 freshly generated images (a seed the model never saw): clean labels and class probs."""
    images, clean = _images(seed=9001, n=300)
    return clean, _class_probs(demo_clip, images, _simple_prompts())


def test_zero_shot_accuracy_on_fresh_images(fresh):
    clean, probs = fresh
    accuracy = (probs[:200].argmax(1) == clean[:200]).mean()
    assert accuracy >= 0.85, f"zero-shot accuracy {accuracy:.3f} on 200 images"


def test_zero_shot_probability_of_the_given_label_finds_flipped_labels(fresh):
    from sklearn.metrics import roc_auc_score

    clean, probs = fresh
    given = flip_labels(clean, 90, len(CLASSES), np.random.default_rng(0))
    p_given = probs[np.arange(len(given)), given]
    auroc = roc_auc_score(given == clean, p_given)
    assert auroc >= 0.9, f"AUROC {auroc:.3f} (clean above flipped, 30% flipped)"
