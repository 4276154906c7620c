"""The open_clip adapter: the only module in labelclean that imports open_clip.

`load_encoder` resolves where the model's config and weights come from *before* calling
open_clip (see `labelclean.model.source`), so a missing download fails at once with a
message naming the cache searched, instead of a minute of network retries. Weights are
loaded with ``weights_only=True``; the sha256 of the weights file actually used is part
of the model identity.

Precision: the model is kept in fp32 and run under autocast. ``auto`` means fp16 on
CUDA, bf16 on a CPU with native bf16 (AVX512-BF16 or AMX; about 3.7x faster than fp32
for ViT-B-32 on the development machine), and fp32 otherwise, including on Apple MPS
(whose fp16 autocast is numerically less tested; pass ``--precision fp16`` to opt in).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from labelclean.core.errors import ModelError, UsageError
from labelclean.model.source import ModelSource, resolve_source

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass
class Encoder:
    """An open_clip model ready for inference, with its own preprocessing and tokenizer."""

    model: Any = field(repr=False)  # the open_clip CLIP model, eval mode, on device
    preprocess: Callable = field(repr=False)  # open_clip's val transform (PIL -> tensor)
    tokenizer: Callable | None = field(repr=False)
    image_size: int
    device: Any  # torch.device
    precision: str  # resolved: fp32 | fp16 | bf16
    identity: dict
    model_id: str
    has_text: bool

    @property
    def dim(self) -> int:
        return int(self.identity["embed_dim"])

    def encode_images(self, batch: Any) -> np.ndarray:
        """Embed a preprocessed image batch.

        Parameters
        ----------
        batch : torch.Tensor
            ``(B, 3, H, W)`` tensor produced by ``self.preprocess``.

        Returns
        -------
        np.ndarray
            ``(B, D)`` float32, each row L2-normalised.
        """
        import torch

        with torch.inference_mode(), _autocast(self.device, self.precision):
            feats = self.model.encode_image(batch.to(self.device, non_blocking=True))
        return _normalised(feats)

    def encode_texts(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Embed prompts; returns ``(len(texts), D)`` float32, each row L2-normalised."""
        import torch

        if not self.has_text:
            raise ModelError(f"model {self.model_id} has no text encoder", "use a CLIP model with a text tower")
        out = [np.zeros((0, self.dim), dtype=np.float32)]
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(texts[start : start + batch_size]).to(self.device)
            with torch.inference_mode(), _autocast(self.device, self.precision):
                out.append(_normalised(self.model.encode_text(tokens)))
        return np.concatenate(out)


def resolve_device(device: str) -> Any:
    """``auto`` -> cuda, then mps, then cpu; otherwise check that the named device exists."""
    import torch

    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise UsageError(f"unknown device '{device}'", "use auto, cpu, cuda, cuda:N or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device '{device}' requested but CUDA is not available", "use --device auto or cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ModelError(
            f"device '{device}' requested but only {torch.cuda.device_count()} CUDA device(s) exist",
            "use --device cuda:0 or auto",
        )
    if dev.type == "mps" and not _mps_available():
        raise ModelError(f"device '{device}' requested but MPS is not available", "use --device auto or cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unsupported device '{device}'", "use auto, cpu, cuda, cuda:N or mps")
    return dev


def resolve_precision(precision: str, device: Any) -> str:
    """``auto`` -> fp16 on CUDA, bf16 on a CPU with native bf16, else fp32."""
    name = (precision or "auto").strip().lower()
    if name not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'", f"use one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def cpu_has_native_bf16() -> bool:
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, p, lambda: False)()) for p in probes)


def load_encoder(
    model: str = "ViT-B-32", pretrained: str | None = None, *, device: str = "auto", precision: str = "auto",
    text_only: bool = False,
) -> Encoder:
    """Load an open_clip model for inference.

    Parameters
    ----------
    model : str
        open_clip model name (``ViT-B-32``), ``local-dir:PATH``, ``hf-hub:ORG/REPO`` or ``demo``.
    pretrained : str, optional
        Pretrained tag (default: the usual one for the model) or a weights file
        (``.pt``/``.pth``/``.bin``/``.safetensors``). Only for built-in model names.
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"}
    precision : {"auto", "fp32", "fp16", "bf16"}
    text_only : bool
        Keep only the text tower (the image tower is freed and `encode_images` is unusable):
        for prompt embeddings of image features computed elsewhere.

    Raises
    ------
    ModelError
        Unknown model or tag, weights missing offline, or a weights file that won't load.
    """
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    import open_clip

    source = resolve_source(model, pretrained, open_clip)
    oc_model, preprocess = _create(source, dev)
    tokenizer = _tokenizer(source)
    weights = source.weights_file()
    sha = sha256_file(weights)
    image_size = _image_size(oc_model)
    if text_only and tokenizer is None:
        raise ModelError(f"model {source.display} has no text tower", "use a CLIP model with a text encoder")
    if text_only:
        oc_model.visual = None
    enc = Encoder(oc_model, preprocess, tokenizer, image_size, dev, prec, {}, "", tokenizer is not None)
    dim = _text_dim(oc_model, tokenizer, dev) if text_only else int(enc.encode_images(_zeros(image_size)).shape[1])
    enc.identity = {
        "model": source.display,
        "pretrained": source.tag,
        "weights_file": str(weights),
        "weights_sha256": sha,
        "embed_dim": dim,
        "image_size": image_size,
        "logit_scale": _logit_scale(oc_model),
    }
    enc.model_id = f"{source.display}@{sha[:12]}"
    return enc


def peek_model_id(model: str = "ViT-B-32", pretrained: str | None = None) -> str:
    """The ``model_id`` `load_encoder` would give, without building the model (hashes the
    weights file only: about 0.4 s for ViT-B-32)."""
    import open_clip

    source = resolve_source(model, pretrained, open_clip)
    return f"{source.display}@{sha256_file(source.weights_file())[:12]}"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """sha256 of a file (about 1.7 GB/s here: 0.4 s for ViT-B-32's 605 MB, so not cached)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _create(source: ModelSource, device: Any) -> tuple[Any, Callable]:
    import open_clip

    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            source.name,
            pretrained=source.pretrained,
            precision="fp32",
            device=device,
            force_quick_gelu=source.quick_gelu,
            weights_only=True,
            **source.preprocess,
        )
    except pickle.UnpicklingError as e:
        raise ModelError(
            f"cannot load weights {source.weights}: not a checkpoint that loads with weights_only=True",
            "convert it to .safetensors or a plain state_dict saved with torch.save",
        ) from e
    except (RuntimeError, ValueError, KeyError, OSError, _SafetensorError) as e:
        where = source.weights or source.name
        raise ModelError(
            f"cannot load model {source.display} from {where}: {_first_line(e)}",
            "check that the weights file matches the model architecture (--model) and is not truncated",
        ) from e
    model.eval()
    return model, preprocess


def _logit_scale(model: Any) -> float | None:
    """The model's learned softmax scale exp(logit_scale) (CLIP: 100, i.e. temperature 0.01), or None."""
    scale = getattr(model, "logit_scale", None)
    if scale is None:
        return None
    try:
        value = float(scale.detach().float().exp().reshape(-1)[0])
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def _tokenizer(source: ModelSource) -> Callable | None:
    import open_clip

    try:
        return open_clip.get_tokenizer(source.name)
    except (RuntimeError, ValueError, OSError) as e:
        raise ModelError(
            f"cannot load the tokenizer of {source.display}: {_first_line(e)}",
            "run once with network access so the tokenizer is cached, or set HF_HOME to a cache holding it",
        ) from e


def _image_size(model: Any) -> int:
    size = model.visual.preprocess_cfg.get("size") or model.visual.image_size
    return int(max(size) if isinstance(size, (tuple, list)) else size)


def _text_dim(model: Any, tokenizer: Callable, device: Any) -> int:
    import torch

    with torch.inference_mode():
        return int(model.encode_text(tokenizer(["a photo."]).to(device)).shape[-1])


def _zeros(size: int) -> Any:
    import torch

    return torch.zeros(1, 3, size, size)


def _normalised(feats: Any) -> np.ndarray:
    import torch

    feats = torch.nn.functional.normalize(feats.float(), dim=-1)
    return feats.cpu().numpy().astype(np.float32, copy=False)


def _autocast(device: Any, precision: str) -> Any:
    import torch

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=precision != "fp32")


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


try:  # safetensors raises its own error type for truncated or foreign files
    from safetensors import SafetensorError as _SafetensorError
except ImportError:  # pragma: no cover - safetensors ships with open_clip
    _SafetensorError = RuntimeError
