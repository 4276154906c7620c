"""Train the tiny CLIP model that ships with labelclean's demo domain (labelclean/demo/model/).

Contrastive (CLIP) training on generated image-caption pairs of the synthetic demo domain.
The script is seeded, logs progress, checkpoints periodically (rerun the same command to resume),
writes the final open_clip ``local-dir`` folder (config JSON + float16 safetensors), reloads it
through ``open_clip.create_model_and_transforms("local-dir:...")`` and prints the zero-shot
accuracy on a freshly generated test set with the simple prompt and with the demo descriptions.

Example (the shipped model; about 45-60 minutes on 2 CPU cores):

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 python scripts/train_demo_clip.py \
        --steps 4000 --log /tmp/demo_clip.log
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from labelclean.demo.domain import (  # noqa: E402
    CLASSES, TRAIN_STREAM, caption, prompt_name, render_indexed,
)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
DESCRIPTIONS = REPO / "templates" / "descriptions" / "demo.yaml"
PROMPTS_DIR = REPO / "templates" / "prompts"
FALLBACK_TEMPLATES = ["a photo of a {}.", "a bad photo of a {}.", "a blurry photo of the {}.",
                      "a close-up photo of a {}.", "a rendering of a {}.", "itap of a {}.",
                      "a cropped photo of the {}.", "art of the {}.", "a drawing of a {}."]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "labelclean" / "demo" / "model")
    p.add_argument("--ckpt", type=Path, default=Path("/tmp/demo_clip_ckpt.pt"))
    p.add_argument("--pool-cache", type=Path, default=Path("/tmp"))
    p.add_argument("--log", type=Path, default=None, help="also append log lines to this file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pool", type=int, default=60_000, help="pre-rendered training images")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--positives", choices=["pair", "class"], default="class",
                   help="pair: standard CLIP targets; class: every same-class caption is a positive")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward pass")
    p.add_argument("--ckpt-every", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-seed", type=int, default=20_250)
    p.add_argument("--eval-size", type=int, default=2000)
    p.add_argument("--vision-width", type=int, default=128)
    p.add_argument("--vision-layers", type=int, default=4)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--text-width", type=int, default=64)
    p.add_argument("--text-layers", type=int, default=3)
    p.add_argument("--context", type=int, default=24)
    p.add_argument("--embed-dim", type=int, default=64)
    return p.parse_args(argv)


def model_config(a: argparse.Namespace) -> dict:
    return {
        "embed_dim": a.embed_dim,
        "vision_cfg": {"image_size": 64, "layers": a.vision_layers, "width": a.vision_width,
                       "patch_size": a.patch, "head_width": 32},
        "text_cfg": {"context_length": a.context, "vocab_size": 49408, "width": a.text_width,
                     "heads": max(1, a.text_width // 16), "layers": a.text_layers},
    }


class Logger:
    def __init__(self, path: Path | None):
        self.path, self.t0 = path, time.time()

    def __call__(self, msg: str) -> None:
        line = f"[{time.time() - self.t0:7.0f}s] {msg}"
        print(line, flush=True)
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")


# ----------------------------------------------------------------------------- data
def _render_chunk(args: tuple[int, int, int, int]) -> tuple[np.ndarray, list]:
    seed, start, stop, stream = args
    images, scenes = [], []
    for i in range(start, stop):
        image, scene = render_indexed(CLASSES[i % len(CLASSES)], seed, i, stream=stream)
        images.append(np.asarray(image))
        scenes.append(scene)
    return np.stack(images), scenes


def render_pool(seed: int, n: int, workers: int, stream: int = 0) -> tuple[np.ndarray, list]:
    """Images ``0..n-1`` of ``seed`` (class ``i % 10``) as a uint8 (n, 64, 64, 3) array + scenes.

    The training pool uses ``TRAIN_STREAM``; test sets use stream 0, like user-made demo datasets.
    """
    chunks = [(seed, s, min(s + 2000, n), stream) for s in range(0, n, 2000)]
    with mp.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_render_chunk, chunks)
    return np.concatenate([p[0] for p in parts]), [s for p in parts for s in p[1]]


def load_pool(a, log) -> tuple[np.ndarray, list]:
    import pickle

    cache = a.pool_cache / f"demo_pool_t{TRAIN_STREAM}_s{a.seed}_n{a.pool}.pkl"
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    t = time.time()
    pool = render_pool(a.seed, a.pool, max(1, a.threads), stream=TRAIN_STREAM)
    log(f"rendered {a.pool} training images in {time.time() - t:.0f}s")
    with open(cache, "wb") as f:
        pickle.dump(pool, f, protocol=4)
    return pool


def load_texts() -> tuple[list[str], dict[str, list[str]]]:
    """Prompt templates (``{}`` = class prompt name) and the demo description clauses per class."""
    templates = []
    for name in ("simple.txt", "imagenet80.txt"):
        path = PROMPTS_DIR / name
        if path.exists():
            templates += [t.strip() for t in path.read_text().splitlines()
                          if "{}" in t and not t.lstrip().startswith("#")]
    clauses = yaml.safe_load(DESCRIPTIONS.read_text())["classes"]
    return templates or FALLBACK_TEMPLATES, clauses


def batch_captions(scenes, rng, templates, clauses) -> list[str]:
    """Domain captions, mixed with prompt-template and description forms of the same class."""
    out = []
    for scene in scenes:
        u, name = rng.random(), prompt_name(scene.class_name)
        if u < 0.2:
            out.append(templates[rng.integers(len(templates))].format(name))
        elif u < 0.4:
            options = clauses[scene.class_name]
            out.append(f"a photo of a {name} {options[rng.integers(len(options))]}.")
        else:
            out.append(caption(scene, rng))
    return out


def to_tensor(images: np.ndarray, rng: np.random.Generator | None = None):
    import torch

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
    if rng is not None:  # cheap augmentation: the shapes are symmetric under flips and 90° turns
        x = torch.rot90(x, int(rng.integers(4)), dims=(2, 3))
        if rng.random() < 0.5:
            x = x.flip(3)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


# ----------------------------------------------------------------------------- training
def clip_loss(model_out, labels, positives: str):
    import torch
    import torch.nn.functional as F

    img, txt, scale = model_out["image_features"], model_out["text_features"], model_out["logit_scale"]
    logits = scale * img @ txt.T
    if positives == "pair":
        target = torch.arange(len(img))
    else:
        same = (labels[:, None] == labels[None, :]).float()
        target = same / same.sum(1, keepdim=True)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def lr_at(step: int, a) -> float:
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    progress = (step - a.warmup) / max(1, a.steps - a.warmup)
    return a.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build(a):
    import open_clip
    import torch

    torch.manual_seed(a.seed)
    cfg_file = a.pool_cache / "demo-clip-train-cfg" / "demo-clip.json"
    cfg_file.parent.mkdir(parents=True, exist_ok=True)
    cfg_file.write_text(json.dumps(model_config(a)))
    open_clip.add_model_config(cfg_file)
    model = open_clip.create_model("demo-clip", pretrained=None, output_dict=True)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": rest, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.98))
    return model, opt, CachedTokenizer(open_clip.get_tokenizer("demo-clip"))


class CachedTokenizer:
    """Tokenize each distinct caption once: the caption vocabulary is finite and small."""

    def __init__(self, tokenizer):
        self.tokenizer, self.cache = tokenizer, {}

    def __call__(self, texts: list[str]):
        import torch

        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.tokenizer(missing)))
        return torch.stack([self.cache[t] for t in texts])


def train_step(model, opt, tokenizer, pool, step, a, texts):
    import torch

    images, scenes = pool
    rng = np.random.default_rng([a.seed, 1, step])
    idx = rng.integers(0, len(images), a.batch)
    x = to_tensor(images[idx], rng)
    labels = torch.tensor([CLASSES.index(scenes[i].class_name) for i in idx])
    tokens = tokenizer(batch_captions([scenes[i] for i in idx], rng, *texts))
    for group in opt.param_groups:
        group["lr"] = lr_at(step, a)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        out = model(x, tokens)
    loss = clip_loss({k: v.float() for k, v in out.items()}, labels, a.positives)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    return loss.item()


# ----------------------------------------------------------------------------- evaluation
def class_text_features(model, tokenizer, texts_per_class: list[list[str]]):
    import torch

    with torch.no_grad():
        feats = []
        for texts in texts_per_class:
            f = model.encode_text(tokenizer(texts), normalize=True).mean(0)
            feats.append(f / f.norm())
    return torch.stack(feats)


def zero_shot_accuracy(model, tokenizer, images: np.ndarray, labels: np.ndarray, texts_per_class) -> float:
    import torch

    model.eval()
    text = class_text_features(model, tokenizer, texts_per_class)
    with torch.no_grad():
        preds = []
        for s in range(0, len(images), 500):
            img = model.encode_image(to_tensor(images[s:s + 500]), normalize=True)
            preds.append((img @ text.T).argmax(1).numpy())
    model.train()
    return float((np.concatenate(preds) == labels).mean())


def prompt_sets(clauses: dict[str, list[str]]) -> dict[str, list[list[str]]]:
    simple = [[f"a photo of a {prompt_name(c)}."] for c in CLASSES]
    described = [[f"a photo of a {prompt_name(c)} {cl}." for cl in clauses[c]] for c in CLASSES]
    return {"simple": simple, "descriptions": described}


def test_set(a) -> tuple[np.ndarray, np.ndarray]:
    images, scenes = render_pool(a.eval_seed, a.eval_size, max(1, a.threads))
    return images, np.array([CLASSES.index(s.class_name) for s in scenes])


# ----------------------------------------------------------------------------- checkpoints/export
def save_checkpoint(path: Path, model, opt, step: int) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({"step": step, "model": model.state_dict(), "opt": opt.state_dict()}, tmp)
    os.replace(tmp, path)


def export_local_dir(model, a) -> None:
    from safetensors.torch import save_file

    a.out.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_config(a), "preprocess_cfg": {"mean": CLIP_MEAN, "std": CLIP_STD}}
    (a.out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(a.out / "open_clip_model.safetensors"), metadata={"format": "pt"})
    os.chmod(a.out / "open_clip_model.safetensors", 0o644)


def evaluate_export(a, log, clauses) -> dict[str, float]:
    """Reload the exported folder through open_clip's public local-dir path and measure zero-shot."""
    import open_clip
    from PIL import Image

    spec = f"local-dir:{a.out}"
    model, _, preprocess = open_clip.create_model_and_transforms(spec)
    tokenizer = open_clip.get_tokenizer(spec)
    images, labels = test_set(a)
    # through open_clip's own preprocess, as labelclean's embed stage will do
    x = np.stack([preprocess(Image.fromarray(im)).permute(1, 2, 0).numpy() for im in images[:8]])
    ours = to_tensor(images[:8]).permute(0, 2, 3, 1).numpy()
    log(f"preprocess check: max |open_clip - train| = {np.abs(x - ours).max():.2e}")
    results = {name: zero_shot_accuracy(model, tokenizer, images, labels, texts)
               for name, texts in prompt_sets(clauses).items()}
    for name, acc in results.items():
        log(f"exported model zero-shot accuracy ({name}, {len(labels)} fresh images): {acc:.4f}")
    return results


def main(argv=None) -> None:
    import torch

    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    log = Logger(a.log)
    log(f"config: {vars(a)}")
    pool = load_pool(a, log)
    texts = load_texts()
    model, opt, tokenizer = build(a)
    log(f"model parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M; "
        f"{len(texts[0])} prompt templates")
    step = 0
    if a.ckpt.exists():
        ck = torch.load(a.ckpt, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        log(f"resumed from {a.ckpt} at step {step}")
    quick = render_pool(a.eval_seed + 1, 500, 1)
    quick_labels = np.array([CLASSES.index(s.class_name) for s in quick[1]])
    t, losses = time.time(), []
    while step < a.steps:
        losses.append(train_step(model, opt, tokenizer, pool, step, a, texts))
        step += 1
        if step % 50 == 0:
            rate = 50 * a.batch / (time.time() - t)
            log(f"step {step}/{a.steps} loss {np.mean(losses):.4f} lr {lr_at(step, a):.2e} "
                f"scale {model.logit_scale.exp().item():.1f} {rate:.0f} img/s")
            t, losses = time.time(), []
        if step % a.eval_every == 0 or step == a.steps:
            acc = zero_shot_accuracy(model, tokenizer, quick[0], quick_labels,
                                     prompt_sets(texts[1])["simple"])
            log(f"step {step} quick zero-shot accuracy (500 held-out images): {acc:.4f}")
        if step % a.ckpt_every == 0 or step == a.steps:
            save_checkpoint(a.ckpt, model, opt, step)
    export_local_dir(model, a)
    log(f"wrote {a.out} ({(a.out / 'open_clip_model.safetensors').stat().st_size / 1e6:.2f} MB weights)")
    evaluate_export(a, log, texts[1])


if __name__ == "__main__":
    main()
