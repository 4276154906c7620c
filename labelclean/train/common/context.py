"""What every training method shares: data, device, output folder, checkpoints, validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from labelclean.core import console
from labelclean.core.errors import WorkdirError
from labelclean.train.common import checkpoint as ck
from labelclean.train.common.config import TrainConfig
from labelclean.train.common.data import EvalSet, TrainSet
from labelclean.train.common.images import ImageDataset, Preprocess, eval_transform, loader
from labelclean.train.common.loop import Runtime, accuracy, predict_probs
from labelclean.train.common.metrics import write_csv
from labelclean.store.workdir import Workdir


@dataclass
class MethodResult:
    """What a method hands back to the stage."""

    complete: bool  # False when stopped early (``stop_after``)
    summary: dict[str, Any]
    outputs: list[Path] = field(default_factory=list)


@dataclass
class TrainContext:
    wd: Workdir
    cfg: TrainConfig  # resolved
    data: TrainSet
    rt: Runtime
    val: Optional[EvalSet] = None
    _encoder: Any = None

    @property
    def out_dir(self) -> Path:
        return self.wd.train_dir / self.cfg.method

    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / "metrics.csv"

    def clip_encoder(self) -> Any:
        """The workdir's CLIP model (loaded once, fp32, on the training device)."""
        if self._encoder is None:
            from labelclean.model.encoder import load_encoder

            model, pretrained = encoder_args(self.wd)
            self._encoder = load_encoder(model, pretrained, device=str(self.rt.device), precision="fp32")
        return self._encoder

    def resume_state(self) -> Optional[dict[str, Any]]:
        """The checkpoint to continue from, or None for a fresh start."""
        if not self.cfg.resume:
            if self.ckpt_path.exists():
                console.info(f"Starting over; {self.ckpt_path} will be replaced (pass --resume to continue it).")
            return None
        if not self.ckpt_path.exists():
            console.info(f"Nothing to resume in {self.out_dir}; starting from epoch 1.")
            return None
        state = ck.load_checkpoint(self.ckpt_path)
        ck.check_resumable(state, self.fingerprint(), self.ckpt_path)
        ck.set_rng_state(state["rng"])
        return state

    def save(self, state: dict[str, Any], history: list[dict[str, Any]]) -> None:
        state = {**state, "history": history, "config": ck.config_json(self.fingerprint())}
        if self.rt.amp:
            state["scaler"] = self.rt.scaler.state_dict()
        ck.save_checkpoint(self.ckpt_path, state)
        write_csv(self.metrics_path, history)

    def fingerprint(self) -> dict[str, Any]:
        """Options plus a hash of the pool (sample ids, given and initial labels, clean set)."""
        import hashlib

        h = hashlib.sha256("\x00".join(self.data.sample_ids.tolist()).encode())
        for arr in (self.data.given, self.data.labels0, self.data.clean0, self.data.dropped):
            h.update(np.ascontiguousarray(arr).tobytes())
        return {**self.cfg.fingerprint_dict(), "pool": h.hexdigest()[:16]}

    def restore_scaler(self, state: dict[str, Any]) -> None:
        if self.rt.amp and state.get("scaler"):
            self.rt.scaler.load_state_dict(state["scaler"])

    def should_stop(self, completed: int) -> bool:
        """Testing hook: act as if interrupted after ``completed`` epochs in total."""
        return self.cfg.stop_after is not None and completed >= self.cfg.stop_after

    def val_accuracy(self, forward: Callable, pp: Preprocess) -> float:
        """Top-1 accuracy on --val (NaN without --val)."""
        if self.val is None:
            return float("nan")
        ds = ImageDataset(self.val.paths, eval_transform(pp), pp.size)
        order = np.arange(len(ds))
        probs, ok = predict_probs(forward, loader(ds, order, self.cfg.batch_size, self.cfg.workers), self.rt, len(ds))
        return accuracy(probs, self.val.labels, ok)


def encoder_args(wd: Workdir) -> tuple[str, Optional[str]]:
    """(model, pretrained) to reload the CLIP model recorded in run.json by `embed`."""
    ident = wd.read_run().get("model") or {}
    model = ident.get("model")
    if not model:
        raise WorkdirError(
            f"{wd.run_json} does not record which CLIP model `embed` used",
            f"run `labelclean embed DATA -w {wd.root}` first (CLIP backbones need a model with weights)",
        )
    return model_args(ident)


def model_args(ident: dict[str, Any]) -> tuple[str, Optional[str]]:
    """(model, pretrained) from an encoder identity: a weights file when one was passed, else the tag."""
    model, tag, weights = ident["model"], ident.get("pretrained"), ident.get("weights_file")
    if model.startswith("local-dir:") and weights:  # the identity keeps only the folder name
        return f"local-dir:{Path(weights).parent}", None
    if model.startswith(("local-dir:", "hf-hub:")) or model == "demo":
        return model, None
    if tag and weights and Path(weights).name == tag:
        return model, weights
    return model, tag
