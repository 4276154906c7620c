"""Where a model's config and weights come from, resolved before open_clip runs.

A ``--model``/``--pretrained`` pair becomes a `ModelSource`: the name and ``pretrained``
value to give open_clip, and the weights file that will be read. Weights already in the
Hugging Face cache (or open_clip's ``~/.cache/clip``) are passed to open_clip as a file, so
no network is touched; weights not cached while offline (``HF_HUB_OFFLINE=1`` or
huggingface.co:443 unreachable within 2 s) raise a ModelError at once.

This module does not import open_clip: `encoder` passes open_clip's tag registry in.
"""

from __future__ import annotations

import difflib
import os
import socket
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import labelclean
from labelclean.core.errors import ModelError, UsageError

DEMO = "demo"
LOCAL_DIR, HF_HUB = "local-dir:", "hf-hub:"
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
DIR_WEIGHTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
    "model.pth",
)
HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
DEFAULT_TAGS = {
    "ViT-B-32": "laion2b_s34b_b79k",
    "ViT-B-16": "laion2b_s34b_b88k",
    "ViT-L-14": "laion2b_s32b_b82k",
    "ViT-H-14": "laion2b_s32b_b79k",
    "ViT-g-14": "laion2b_s34b_b88k",
    "RN50": "openai",
    "RN101": "openai",
    "convnext_base_w": "laion2b_s13b_b82k",
}
PROVIDE_HINT = (
    "pass --pretrained /path/to/weights.safetensors, set HF_HOME to a folder whose hub cache holds them, "
    "or run once with network access"
)


class Registry(Protocol):
    """The part of open_clip's API used here (the open_clip module satisfies it)."""

    def list_models(self) -> list[str]: ...
    def list_pretrained_tags_by_model(self, model: str) -> list[str]: ...
    def get_pretrained_cfg(self, model: str, tag: str) -> dict: ...


@dataclass
class ModelSource:
    name: str  # model_name for open_clip (built-in name or local-dir:/abs/path)
    display: str  # recorded identity: "ViT-B-32", "demo", "local-dir:<folder>", "hf-hub:org/repo"
    pretrained: str | None = None  # a weights file or tag for open_clip (built-in names only)
    tag: str | None = None  # tag or weights file name, for run.json
    weights: Path | None = None  # file open_clip will read; None until downloaded
    hub_files: list[tuple[str, str]] = field(default_factory=list)  # (repo, filename) to find after download
    preprocess: dict[str, Any] = field(default_factory=dict)  # create_model_and_transforms overrides
    quick_gelu: bool = False

    def weights_file(self) -> Path:
        """The weights file actually used (looked up in the cache after a download)."""
        if self.weights is None:
            self.weights = _first_cached(self.hub_files)
        if self.weights is None:
            raise ModelError(f"cannot find the weights file of {self.display} after loading it", PROVIDE_HINT)
        return self.weights


def resolve_source(model: str, pretrained: str | None, registry: Registry) -> ModelSource:
    """Turn ``--model``/``--pretrained`` into a `ModelSource`, failing fast when offline."""
    model = (model or "").strip()
    if not model:
        raise UsageError("--model is empty", "pass an open_clip model name such as ViT-B-32")
    schema = model == DEMO or model.startswith((LOCAL_DIR, HF_HUB))
    if schema and pretrained:
        raise UsageError(
            f"--pretrained cannot be combined with --model {model}: that model brings its own weights",
            "drop --pretrained, or use a built-in model name such as ViT-B-32 with --pretrained FILE",
        )
    if model == DEMO:
        return _demo_source()
    if model.startswith(LOCAL_DIR):
        path = Path(model.removeprefix(LOCAL_DIR)).expanduser().resolve()
        return local_dir_source(path, DEMO if path == demo_dir() else f"{LOCAL_DIR}{path.name}")
    if model.startswith(HF_HUB):
        return _hub_source(model.removeprefix(HF_HUB).strip("/"))
    return _builtin_source(model, pretrained, registry)


def demo_dir() -> Path:
    return Path(labelclean.__file__).resolve().parent / "demo" / "model"


def _demo_source() -> ModelSource:
    path = demo_dir()
    if not (path / "open_clip_config.json").is_file():
        raise ModelError(
            f"the demo model is not part of this install (looked in {path})",
            "reinstall labelclean, or pass an open_clip model with --model",
        )
    return local_dir_source(path, DEMO)


def local_dir_source(path: Path, display: str) -> ModelSource:
    hint = "pass --model local-dir:PATH to a folder holding open_clip_config.json and open_clip_model.safetensors"
    if not path.is_dir():
        raise ModelError(f"model folder {path} does not exist", hint)
    if not (path / "open_clip_config.json").is_file():
        raise ModelError(f"model folder {path} has no open_clip_config.json", hint)
    weights = next((path / n for n in DIR_WEIGHTS if (path / n).is_file()), None)
    if weights is None:
        raise ModelError(f"model folder {path} has no weights file (looked for {', '.join(DIR_WEIGHTS[:3])}, ...)", hint)
    return ModelSource(name=f"{LOCAL_DIR}{path}", display=display, weights=weights)


def _hub_source(repo: str) -> ModelSource:
    if not repo:
        raise UsageError("--model hf-hub: needs a repository, e.g. hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
    config = _first_cached([(repo, "open_clip_config.json")])
    weights = _first_cached([(repo, f) for f in HUB_WEIGHTS])
    display = f"{HF_HUB}{repo}"
    if config is not None and weights is not None and config.parent == weights.parent:
        return ModelSource(name=f"{LOCAL_DIR}{config.parent}", display=display, weights=weights)
    if is_offline():
        raise ModelError(
            f"{display} is not downloaded and the model hub is unreachable (looked in {hub_cache_dir()})",
            "set HF_HOME to a folder whose hub cache holds it, run once with network access, "
            "or pass --model local-dir:PATH to a folder with its open_clip_config.json and weights",
        )
    return ModelSource(name=display, display=display, hub_files=[(repo, f) for f in HUB_WEIGHTS])


def _builtin_source(model: str, pretrained: str | None, registry: Registry) -> ModelSource:
    name = model.replace("/", "-")
    known = registry.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        raise ModelError(
            f"unknown model '{model}'" + (f"; did you mean: {', '.join(close)}?" if close else ""),
            "list them with: python -c 'import open_clip; print(open_clip.list_models())', "
            "or pass local-dir:PATH / hf-hub:ORG/REPO",
        )
    tags = registry.list_pretrained_tags_by_model(name)
    tag = pretrained or DEFAULT_TAGS.get(name) or (tags[0] if tags else None)
    if tag is None:
        raise ModelError(f"open_clip knows no pretrained weights for {name}", "pass --pretrained FILE")
    if _looks_like_file(tag):
        return _file_source(name, Path(tag).expanduser())
    cfg = registry.get_pretrained_cfg(name, tag)
    if not cfg:
        raise ModelError(f"unknown pretrained tag '{tag}' for {name}", f"use one of: {', '.join(tags) or '(none)'}")
    return _tag_source(name, tag, cfg)


def _file_source(name: str, path: Path) -> ModelSource:
    if not path.is_file():
        raise ModelError(f"weights file {path} does not exist", "pass --pretrained with the path of a .pt/.bin/.safetensors file")
    path = path.resolve()
    return ModelSource(name=name, display=name, pretrained=str(path), tag=path.name, weights=path)


def _tag_source(name: str, tag: str, cfg: dict) -> ModelSource:
    files = _tag_files(cfg)
    cached = Path(cfg["file"]) if "file" in cfg else _first_cached(files)
    if cached is None and cfg.get("url"):
        url_file = Path("~/.cache/clip").expanduser() / os.path.basename(cfg["url"])
        cached = url_file if url_file.is_file() else None
    pre = {k: cfg[c] for k, c in _PRE_KEYS.items() if c in cfg}
    source = ModelSource(name=name, display=name, tag=tag, preprocess=pre, quick_gelu=bool(cfg.get("quick_gelu")))
    if cached is not None:
        source.pretrained, source.weights = str(cached), cached
        return source
    if is_offline():
        wanted = ", ".join(f"{r}/{f}" for r, f in files) or cfg.get("url", "?")
        raise ModelError(
            f"weights for {name} '{tag}' are not downloaded and the model hub is unreachable "
            f"(looked for {wanted} in {hub_cache_dir()})",
            PROVIDE_HINT,
        )
    source.pretrained, source.hub_files = tag, files
    return source


_PRE_KEYS = {"image_mean": "mean", "image_std": "std", "image_interpolation": "interpolation", "image_resize_mode": "resize_mode"}


def _tag_files(cfg: dict) -> list[tuple[str, str]]:
    """(repo, filename) candidates open_clip would fetch for a tag, safetensors first."""
    hub = cfg.get("hf_hub", "")
    if not hub:
        return []
    repo, filename = os.path.split(hub)
    filename = filename or "open_clip_pytorch_model.bin"
    safe = ["open_clip_model.safetensors"] if filename == "open_clip_pytorch_model.bin" else []
    if filename.endswith((".bin", ".pth")) and filename != "open_clip_pytorch_model.bin":
        safe = [filename[:-4] + ".safetensors"]
    return [(repo, f) for f in [*safe, filename]]


def _looks_like_file(value: str) -> bool:
    return value.lower().endswith(WEIGHT_SUFFIXES) or os.sep in value or Path(value).expanduser().is_file()


def _first_cached(files: list[tuple[str, str]]) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for repo, filename in files:
        hit = try_to_load_from_cache(repo, filename)
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


@lru_cache(maxsize=1)
def is_offline() -> bool:
    """True when HF_HUB_OFFLINE is set or huggingface.co:443 does not answer within 2 s.

    The probe runs in a daemon thread so that a hanging DNS lookup cannot delay the answer.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    reachable, answered = threading.Event(), threading.Event()

    def probe() -> None:
        try:
            socket.create_connection(("huggingface.co", 443), timeout=2).close()
            reachable.set()
        except OSError:
            pass
        finally:
            answered.set()

    threading.Thread(target=probe, daemon=True).start()
    answered.wait(2.0)
    return not reachable.is_set()
