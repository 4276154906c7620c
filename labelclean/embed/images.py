"""Images -> embedding rows: a torch DataLoader that decodes, then batched inference.

Decoding happens only here (in the loader's workers, or in the main process with
``workers=0``): `labelclean.ingest.decode.load_rgb` at the model's resolution, then open_clip's own
preprocess. A file that fails to decode becomes a row with its reason and no vector.

When open_clip's transform ends with ToTensor + Normalize (it does for every built-in
model), the PIL steps run per image and those two run once per batch on a uint8 tensor,
with the transform's own mean and std: the same arithmetic, bit for bit (CPU time per
224 px JPEG, one thread: 0.6 ms decode + PIL steps and 0.5 ms batched ToTensor + Normalize,
against 1.5 ms for the whole transform per image). With ``workers=0`` the per-image steps run with one torch thread: on a
busy 2-core machine a two-thread ToTensor took 10-48 ms per image instead of 0.6 ms.

Worker count (``workers=None``): on CPU the model is the bottleneck and loader processes
compete with it for cores, so 0 on machines with <= 2 cores (measured on the 2-core
development machine: 0 workers 72 img/s, 1 worker 58, 2 workers 64 for ViT-B-32 bf16),
else ``min(4, cores // 4)`` (at least 1); on CUDA/MPS decoding is the bottleneck:
``min(32, cores - 1)`` (one core left for collation, host-to-device copies and writing).
On CUDA, batches are collated as uint8 in the workers, pinned and copied asynchronously; the
normalisation runs on the GPU and the forward pass under fp16 autocast (``--precision auto``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Optional, Sequence

import numpy as np

from labelclean.core.reasons import Reason
from labelclean.ingest.decode import DEFAULT_MAX_PIXELS, DecodeResult, load_rgb, load_rgb_bytes
from labelclean.ingest.members import read_member
from labelclean.ingest.types import Candidate
from labelclean.embed.parts import Rows


def auto_workers(device_type: str, cpus: int | None = None) -> int:
    cpus = cpus or os.cpu_count() or 1
    if device_type == "cpu":
        return 0 if cpus <= 2 else min(4, max(1, cpus // 4))
    return max(0, min(32, cpus - 1))


def auto_batch_size(device_type: str, model: Any = None) -> int:
    """64 on CPU/MPS. On CUDA, chosen for the model's image tower: a power of two in
    [32, 512] inversely proportional to tokens x width x layers (ViT-B-32 512, ViT-B-16 512,
    ViT-L-14 128, ViT-H-14 64); 256 for towers that are not ViTs."""
    if device_type != "cuda":
        return 64
    cost = vit_cost(model)
    if cost is None:
        return 256
    size = 1 << max(0, int(1e9 // cost).bit_length() - 1)
    return int(min(512, max(32, size)))


def vit_cost(model: Any) -> int | None:
    """tokens x width x layers of an open_clip ViT image tower, or None."""
    visual = getattr(model, "visual", None)
    grid = getattr(visual, "grid_size", None)
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    width = getattr(getattr(visual, "transformer", None), "width", None)
    if grid is None or blocks is None or width is None:
        return None
    return (int(grid[0]) * int(grid[1]) + 1) * int(width) * len(blocks)


class SplitPreprocess:
    """open_clip's val transform as per-image PIL steps plus a per-batch ToTensor + Normalize."""

    def __init__(self, preprocess: Callable):
        from torchvision.transforms import Compose, Normalize, ToTensor

        steps = list(getattr(preprocess, "transforms", []))
        self.split = len(steps) >= 2 and isinstance(steps[-2], ToTensor) and isinstance(steps[-1], Normalize)
        self.per_image = Compose(steps[:-2]) if self.split else preprocess
        self.mean = tuple(steps[-1].mean) if self.split else None
        self.std = tuple(steps[-1].std) if self.split else None

    def image(self, img: Any) -> Any:
        """PIL image -> HWC uint8 array (split) or the full transform's tensor."""
        out = self.per_image(img)
        return np.asarray(out.convert("RGB"), dtype=np.uint8) if self.split else out

    def batch(self, stacked: Any, device: Any = None) -> Any:
        """Finish a collated batch on ``device``: uint8 BHWC -> normalised float BCHW."""
        import torch

        if stacked.dtype != torch.uint8:
            return stacked
        x = stacked.to(device or "cpu", non_blocking=True).permute(0, 3, 1, 2).contiguous().float().div_(255)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std)


@dataclass
class Decoded:
    index: int
    status: str
    detail: str
    width: int | None
    height: int | None
    pixels: Any  # uint8 HWC array, a tensor, or None


class ImageDataset:
    """Map-style dataset over files and container members; never raises for a bad one."""

    def __init__(self, items: Sequence[tuple[str, str | None]], prep: SplitPreprocess, image_size: int,
                 max_pixels: int):
        self.items, self.prep = list(items), prep  # (path, member locator or None)
        self.image_size, self.max_pixels = image_size, max_pixels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Decoded:
        path, member = self.items[i]
        if member is None:
            res = load_rgb(path, target_size=self.image_size, max_pixels=self.max_pixels)
        else:
            res = self._member(path, member)
        pixels = self.prep.image(res.image) if res.image is not None else None
        return Decoded(i, res.reason.value, res.detail, res.width, res.height, pixels)

    def _member(self, path: str, member: str) -> DecodeResult:
        try:
            data = read_member(Path(path), member)
        except EOFError as e:
            return DecodeResult(None, Reason.truncated, str(e), None, None)
        except OSError as e:
            return DecodeResult(None, Reason.unreadable, f"cannot read the container: {e.strerror or e}", None, None)
        return load_rgb_bytes(data, target_size=self.image_size, max_pixels=self.max_pixels)


def collate(batch: list[Decoded]) -> tuple[list[Decoded], Any]:
    """Keep every item's status; stack only the decoded images (None when there is none)."""
    import torch

    pixels = [d.pixels for d in batch if d.pixels is not None]
    for d in batch:
        d.pixels = None
    if not pixels:
        return batch, None
    if isinstance(pixels[0], np.ndarray):
        return batch, torch.from_numpy(np.stack(pixels))
    return batch, torch.stack(pixels)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with ``n`` torch threads (None: unchanged)."""
    import torch

    old = torch.get_num_threads()
    if n is None or n == old:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass
class ImageSource:
    """The `Source` (embed/source.py) of a CLIP model: decodes every file and runs the image tower."""

    encoder: Any  # model.encoder.Encoder, or embed.lazy_model.LazyEncoder (built on first use)
    batch_size: Optional[int] = None  # None: auto_batch_size for the device and model, once it is built
    workers: Optional[int] = None  # None: auto_workers for the encoder's device
    max_pixels: int = DEFAULT_MAX_PIXELS
    decodes_files: ClassVar[bool] = True
    no_text: ClassVar[str] = "the model has no text encoder"

    def __post_init__(self) -> None:
        self.workers = self.workers if self.workers is not None else auto_workers(self.encoder.device.type)

    @property
    def loaded(self) -> bool:
        """Whether the model is built (a LazyEncoder builds it only when needed)."""
        return getattr(self.encoder, "loaded", True)

    def load(self) -> None:
        getattr(self.encoder, "load", lambda: None)()

    def _batch_size(self) -> int:
        if self.batch_size is None and self.loaded:
            self.batch_size = auto_batch_size(self.encoder.device.type, getattr(self.encoder, "model", None))
        return self.batch_size or auto_batch_size(self.encoder.device.type)

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    @property
    def identity(self) -> dict:
        return self.encoder.identity

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def has_text(self) -> bool:
        return self.encoder.has_text

    @property
    def logit_scale(self) -> float | None:
        return self.encoder.identity.get("logit_scale")

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode_texts(texts)

    def summary(self) -> dict[str, Any]:
        return {"device": str(self.encoder.device), "precision": self.encoder.precision,
                "batch_size": self._batch_size(), "workers": self.workers, "model_loaded": self.loaded}

    def rows(self, items: list[Candidate], sha256: dict[str, str | None]) -> Iterator[Rows]:
        self.load()
        return embed_images(self.encoder, items, sha256, batch_size=self._batch_size(), workers=self.workers,
                            max_pixels=self.max_pixels)


def embed_images(
    encoder: Any,
    items: list[Candidate],
    sha256: dict[str, str | None],
    *,
    batch_size: int,
    workers: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[Rows]:
    """Yield one `Rows` per batch, in the order of ``items``."""
    from torch.utils.data import DataLoader

    prep = SplitPreprocess(encoder.preprocess)
    pairs, sample_ids = [], []  # one pass over ``items`` (a CandidateTable makes its Candidates per batch)
    for c in items:
        pairs.append((str(c.path), c.member))
        sample_ids.append(c.sample_id)
    dataset = ImageDataset(pairs, prep, encoder.image_size, max_pixels)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=encoder.device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    batches = iter(loader)
    while True:
        with torch_threads(1 if workers == 0 else None):
            batch = next(batches, None)
        if batch is None:
            return
        decoded, stacked = batch
        vectors = np.zeros((len(decoded), encoder.dim), dtype=np.float32)
        if stacked is not None:
            ok = [k for k, d in enumerate(decoded) if d.status == "ok"]
            vectors[ok] = encoder.encode_images(prep.batch(stacked, encoder.device))
        ids = [sample_ids[d.index] for d in decoded]
        yield Rows(
            sample_ids=ids,
            sha256=[sha256[s] for s in ids],
            status=[d.status for d in decoded],
            detail=[d.detail for d in decoded],
            width=[d.width for d in decoded],
            height=[d.height for d in decoded],
            vectors=vectors,
        )
