"""CSS's prompt side: CoOp context co-trained on the epoch's X / U split, frozen CLIP towers.

- ``ssl`` (the paper's, eq. 15): L^P = L^P_X + lambda_u L^P_U per batch, with CLIP features of
  weak and strong views (the image tower runs in every step, without gradients);
- ``sl`` (Table 6, "prompt fine-tuning by SL"): L^P_X only, on the cached un-augmented image
  embeddings, one pass over X per epoch: no image tower in the loop;
- ``none``: the fixed prompt "a photo of a {}." (Table 6's zero-shot selection).

p(given | x) for the split always comes from the cached un-augmented embeddings and the current
prompts, with CLIP's own logit scale (at most 100, i.e. temperature 0.01).

The guard (``--prompt-guard``, on by default; labelclean's, not the paper's): an epoch's prompt
updates are undone when, on that epoch's X and the cached un-augmented embeddings, they leave the
mean CLIP p(given) more than `GUARD_DROP` below what the starting prompts give. X is where CLIP
and the network agree that the label is right, so a fall there means the context fitted
something else: on the hard demo, the 8 % of mislabelled look-alikes in X. Without the guard the
prompts merged each look-alike pair, p(given) over X fell from 0.97 to 0.55 in one epoch and X
grew to 92 % of the data at 0.60 precision (README, CSS training). The bound is against the
starting prompts, not the previous epoch: a per-epoch bound let the same fall happen in steps
of 0.04. The CE that the updates minimise does not show it (a mislabelled sample weighs up to
-log 1e-6, a clean one little), so the check is the mean of p, which is bounded per sample.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from labelclean.core import console
from labelclean.model.context import INIT_PHRASE, CoopPrompts
from labelclean.train.common.images import ImageDataset, eval_transform, loader
from labelclean.train.common.loop import lr_at, set_lr
from labelclean.train.css.method import fixmatch_loss, masked_ce

GUARD_DROP = 0.05  # how far below the starting prompts' mean p(given) over X the learned prompts may go


class PromptSide:
    """The prompts, their optimiser and the cached image embeddings of the pool."""

    def __init__(self, ctx: Any, encoder: Any, *, pp: Any):
        cfg = ctx.cfg
        self.cfg, self.rt, self.enc = cfg, ctx.rt, encoder
        self.names = [c.prompt_name for c in ctx.data.classes]
        clip = encoder.model
        clip.requires_grad_(False)
        clip.eval()
        self.scale = float(clip.logit_scale.detach().exp().clamp(max=100.0))
        self.coop: Optional[CoopPrompts] = None
        self.optimizer = None
        self.fixed: Optional[torch.Tensor] = None
        if cfg.prompt_training == "none":
            texts = [f"{INIT_PHRASE} {n}." for n in self.names]
            self.fixed = torch.from_numpy(encoder.encode_texts(texts)).to(self.rt.device)
        else:
            self.coop = CoopPrompts(clip, encoder.tokenizer, self.names, cfg.ctx_tokens)
            self.optimizer = torch.optim.SGD([self.coop.ctx], lr=cfg.prompt_lr, momentum=0.9)
        self.cached, self.ok = self._cache(ctx, pp)
        self._before: Optional[dict[str, Any]] = None
        with torch.no_grad():  # before any update and before `load`: the same on resume
            self.start_text = self.text().detach().clone()

    def _cache(self, ctx: Any, pp: Any) -> tuple[torch.Tensor, np.ndarray]:
        ds = ImageDataset(ctx.data.paths, eval_transform(pp), pp.size)
        feats, oks = [], []
        with console.progress("CLIP image embeddings", total=len(ds)) as bar, torch.no_grad():
            for x, _, ok in loader(ds, np.arange(len(ds)), self.cfg.batch_size, self.cfg.workers):
                feats.append(self.image_features(x))
                oks.append(ok.numpy().astype(bool))
                bar.advance(len(x))
        return torch.cat(feats), np.concatenate(oks)

    @torch.no_grad()
    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        with self.rt.autocast():
            f = self.enc.model.encode_image(x.to(self.rt.device))
        return F.normalize(f.float(), dim=-1)

    def text(self) -> torch.Tensor:
        """(K, D) class text features (with gradients to the context when training)."""
        return self.fixed if self.coop is None else self.coop()

    @torch.no_grad()
    def probs(self) -> np.ndarray:
        """(N, K) CLIP softmax of every pool sample under the current prompts."""
        return torch.softmax(self.scale * self.cached @ self.text().t(), dim=1).cpu().numpy()

    @torch.no_grad()
    def x_confidence(self, x_idx: np.ndarray, labels: np.ndarray, text: Optional[torch.Tensor] = None) -> float:
        """Mean CLIP p(given) over the samples ``x_idx`` (cached embeddings; the current prompts unless
        ``text``); higher = surer."""
        if len(x_idx) == 0:
            return float("nan")
        idx = torch.from_numpy(np.asarray(x_idx, np.int64)).to(self.cached.device)
        y = torch.from_numpy(np.asarray(labels, np.int64)[x_idx]).to(self.cached.device)
        text = self.text() if text is None else text
        p = torch.softmax(self.scale * self.cached[idx] @ text.t(), dim=1)
        return float(p.gather(1, y[:, None]).mean())

    def begin_epoch(self) -> None:
        """Remember the context and its optimiser state (a copy of `state`), for `end_epoch`'s guard."""
        if self.coop is not None:
            self._before = copy.deepcopy(self.state())  # state() shares storage with what the steps update

    def end_epoch(self, x_idx: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """The guard: undo this epoch's prompt updates when they leave mean p(given) over X more than
        GUARD_DROP below the starting prompts' (a non-finite value counts as below)."""
        if self.coop is None or self._before is None:
            return {}
        before, self._before = self._before, None
        start, after = self.x_confidence(x_idx, labels, self.start_text), self.x_confidence(x_idx, labels)
        reverted = bool(self.cfg.prompt_guard and len(x_idx) and not after >= start - GUARD_DROP)
        if reverted:
            self.load(before)
        return {"prompt_x_conf_start": start, "prompt_x_conf": after, "prompt_reverted": int(reverted)}

    def set_epoch(self, epoch: int, epochs: int) -> None:
        if self.optimizer is not None:
            set_lr(self.optimizer, lr_at(epoch, base=self.cfg.prompt_lr, epochs=epochs, schedule="cosine"))

    def _step(self, loss: torch.Tensor) -> bool:
        if not torch.isfinite(loss):
            self.optimizer.zero_grad(set_to_none=True)
            return False
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return True

    def ssl_step(self, xw, y, okx, uw, us, oku) -> dict[str, float]:
        """One L^P_X + lambda_u L^P_U step on CLIP views of the batch's X and U parts."""
        text = self.text()
        lx = self.scale * self.image_features(xw) @ text.t() if len(xw) else text.new_zeros(0, text.shape[0])
        lu_w = self.scale * self.image_features(uw) @ text.t() if len(uw) else text.new_zeros(0, text.shape[0])
        lu_s = self.scale * self.image_features(us) @ text.t() if len(us) else text.new_zeros(0, text.shape[0])
        l_x = masked_ce(lx, y, okx)
        l_u, _ = fixmatch_loss(lu_s, lu_w, oku, delta=self.cfg.delta)
        loss = l_x + self.cfg.lambda_u * l_u
        ok = self._step(loss)
        return {"loss_prompt": float(loss.item()) if ok else float("nan")}

    def sl_epoch(self, x_idx: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """One pass of L^P_X over X on the cached embeddings (shuffled, batches of --batch-size)."""
        order = x_idx.copy()
        rng.shuffle(order)
        total, steps, correct = 0.0, 0, 0
        y_all = torch.from_numpy(labels).to(self.rt.device)
        for start in range(0, len(order), self.cfg.batch_size):
            b = torch.from_numpy(order[start : start + self.cfg.batch_size]).to(self.rt.device)
            logits = self.scale * self.cached[b] @ self.text().t()
            loss = F.cross_entropy(logits, y_all[b])
            if self._step(loss):
                total, steps = total + float(loss.item()), steps + 1
                correct += int((logits.argmax(1) == y_all[b]).sum())
        return {"loss_prompt": total / steps if steps else float("nan"),
                "prompt_acc": correct / len(order) if len(order) else float("nan")}

    def state(self) -> dict[str, Any]:
        if self.coop is None:
            return {}
        return {"ctx": self.coop.ctx.detach().cpu(), "optimizer": self.optimizer.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        if self.coop is not None and state:
            with torch.no_grad():
                self.coop.ctx.copy_(state["ctx"].to(self.coop.ctx.device))
            self.optimizer.load_state_dict(state["optimizer"])
