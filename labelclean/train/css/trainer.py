"""The CSS training loop (Algorithm 1 of the CSS paper).

Epochs, in order, each followed by a checkpoint and a metrics row:

1. ``pretrain`` (``--pretrain-epochs``): NT-Xent on two weak views of every pool sample, through
   the backbone and a projection head (SimCLR-style self-supervised pre-training);
2. ``warmup`` (``--warmup``, counted in ``--epochs``): CE on weak views with the given labels;
3. ``css``: the split of `css.method.css_split` on [network CE of the given label, CLIP
   p(given) under the current prompts], then one epoch of L_X + lambda_u L_U + lambda_c L_con
   + lambda_r L_reg over X and U (``len(pool) // batch`` iterations, each with a batch of X and
   a batch of U), and the prompt update of ``--prompt-training`` (`css.prompts`), undone by the
   prompt guard when it leaves CLIP less sure of X's labels than the starting prompts.

After the last epoch a final split with the final network and prompts gives the clean
posterior written to ``W/css.parquet``; the learned prompts go to ``W/prompts/css.parquet``
(their class text features, for `score --prompts learned:css`) and ``train/css/prompts.pt``.
Reviewer decisions: reviewed-kept samples are always in X with their reviewed label, reviewer-
dropped ones are never trained on. A batch whose loss is not finite is skipped (counted in
``nan_skipped``); an epoch in which every batch was skipped stops training with an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from labelclean.core import console
from labelclean.core.errors import ModelError, WorkdirError
from labelclean.train.common.artifact import ModelCard, save_model
from labelclean.train.common.context import MethodResult, TrainContext
from labelclean.train.common.images import ImageDataset, eval_transform, load_image, loader, train_transform
from labelclean.train.common.loop import EpochStats, lr_at, predict_probs, seed_epoch, seed_init, set_lr, sgd
from labelclean.train.common.metrics import best_and_last, nan_to_none
from labelclean.train.common.models import build_classifier, clip_preprocess
from labelclean.train.common.sampling import fill_epoch, shuffled
from labelclean.train.css.method import (
    css_split, fixmatch_loss, given_loss, masked_ce, nt_xent, split_quality, uniform_prior,
)
from labelclean.train.css.prompts import PromptSide

PRETRAIN, MAIN = 3, 0  # seed_epoch phases: pre-training has its own stream, warm-up and css epochs share one
PROJ_DIM = 128
LOSS_KEYS = ("loss_x", "loss_u", "loss_con", "loss_reg", "mask_rate", "loss_prompt")


class CssNet(nn.Module):
    """The classifier plus a projection head on the input of its last linear layer (for NT-Xent)."""

    def __init__(self, classifier: nn.Module, proj_dim: int = PROJ_DIM):
        super().__init__()
        self.backbone = classifier
        head = classifier_head(classifier)
        d = head.in_features
        self.proj = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, proj_dim))
        self._feats: Any = None
        head.register_forward_pre_hook(self._keep)

    def _keep(self, module: nn.Module, args: tuple) -> None:
        self._feats = args[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.backbone(x)
        return logits, self.proj(self._feats.float())


def classifier_head(model: nn.Module) -> nn.Linear:
    """The final linear layer of a timm model, our PreAct ResNet-18 or the CLIP classifier."""
    get = getattr(model, "get_classifier", None)
    for head in (get() if callable(get) else None, getattr(model, "fc", None), getattr(model, "head", None)):
        if isinstance(head, nn.Linear):
            return head
    raise ModelError(f"CSS needs a backbone whose classifier is one linear layer; {type(model).__name__} has none",
                     "use preact_resnet18, clip or a timm CNN such as resnet18")


class Views(Dataset):
    """Item i is ``(tuple of views, i, ok)``: one decode, one tensor per transform (sizes may differ)."""

    def __init__(self, paths, transforms: list, sizes: list[int]):
        self.paths, self.transforms, self.sizes = list(paths), transforms, sizes

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        image = load_image(self.paths[i], target_size=int(max(self.sizes) * 1.25) + 1)
        if image is None:
            return tuple(torch.zeros(3, s, s) for s in self.sizes), i, False
        return tuple(t(image) for t in self.transforms), i, True


def _weak_strong(pp, augment: str, *, strong_kind: str = "strong"):
    weak = train_transform(pp, "none" if augment == "none" else "light")
    strong = train_transform(pp, strong_kind) if augment in ("auto", "strong") else weak
    return weak, strong


def run_css(ctx: TrainContext) -> MethodResult:
    cfg, data, rt = ctx.cfg, ctx.data, ctx.rt
    enc = ctx.clip_encoder()
    labels = np.where(data.locked, data.labels0, data.given).astype(np.int64)
    seed_init(cfg.seed, 0)
    built = build_classifier(cfg.backbone, len(data.classes), image_size=cfg.image_size,
                             pretrained_backbone=cfg.pretrained_backbone, clip_encoder=ctx.clip_encoder)
    net = CssNet(built.model).to(rt.device)
    optimizer = sgd(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    seed_init(cfg.seed, 1)
    clip_pp = clip_preprocess(enc)
    prompts = PromptSide(ctx, enc, pp=clip_pp)
    pool = ~data.dropped & prompts.ok
    if not pool.any():
        raise WorkdirError("no sample can be trained on (all dropped by review or unreadable)",
                           "check the images and the review decisions")
    history: list[dict] = []
    start = 0
    state = ctx.resume_state()
    if state is not None:
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        prompts.load(state.get("prompts") or {})
        ctx.restore_scaler(state)
        history, start = list(state["history"]), int(state["epoch"])
    pp = built.preprocess
    weak, strong = _weak_strong(pp, cfg.augment)
    run = _Run(ctx, net, optimizer, prompts, labels, pool, pp)
    # the prompts' strong views keep colours: with AutoAugment's, ssl prompts learnt to ignore colour and
    # X grew from 54 % to 92 % of the hard demo at 0.60 precision (README, CSS training)
    run.datasets(weak, strong, *(_weak_strong(clip_pp, cfg.augment, strong_kind="strong-keep-colour")), clip_pp)
    total = cfg.pretrain_epochs + cfg.epochs
    for step in range(start, total):
        if ctx.should_stop(step):
            return MethodResult(False, {"completed_epochs": step, **_best(history)})
        row = run.epoch(step)
        history.append(nan_to_none(row))
        ctx.save({"method": "css", "epoch": step + 1, "net": net.state_dict(), "optimizer": optimizer.state_dict(),
                  "prompts": prompts.state()}, history)
        _log(row)
    final = run.split()  # with the final network and prompts: css.parquet
    from labelclean.train.css.io import save_prompts, write_scores

    outputs = write_scores(ctx, final, enc) + save_prompts(ctx, prompts, enc)
    summary = {**_best(history), "n_pool": int(pool.sum()), **_split_summary(history, final)}
    card = ModelCard("css", built.spec, data.classes, pp, summary, cfg.fingerprint_dict())
    return MethodResult(True, summary, save_model(ctx.out_dir, net.backbone, card) + outputs + [ctx.metrics_path])


def _best(history: list[dict]) -> dict:
    return best_and_last([r for r in history if r.get("phase") != "pretrain"])


def _split_summary(history: list[dict], final: dict) -> dict:
    css_rows = [r for r in history if r.get("phase") == "css"]
    first = css_rows[0] if css_rows else {}
    return {"n_x_first": first.get("n_x"), "x_precision_first": first.get("x_precision"),
            "x_recall_first": first.get("x_recall"), "n_x_final": final["n_x"],
            "x_precision_final": final["x_precision"], "x_recall_final": final["x_recall"],
            "prompt_reverted_epochs": sum(int(r.get("prompt_reverted") or 0) for r in css_rows),
            "gmm_degenerate_final": final["fit"].get("gmm_degenerate", 0)}


class _Run:
    """One CSS run's moving parts, so that each epoch kind is one short method."""

    def __init__(self, ctx, net, optimizer, prompts, labels, pool, pp):
        self.ctx, self.cfg, self.rt, self.data = ctx, ctx.cfg, ctx.rt, ctx.data
        self.net, self.optimizer, self.prompts, self.labels, self.pool, self.pp = net, optimizer, prompts, labels, pool, pp
        self.labels_t = torch.from_numpy(labels)

    def datasets(self, weak, strong, clip_weak, clip_strong, clip_pp) -> None:
        paths, s, cs = self.data.paths, self.pp.size, clip_pp.size
        self.eval_ds = ImageDataset(paths, eval_transform(self.pp), s)
        self.one = Views(paths, [weak], [s])
        self.two = Views(paths, [weak, weak], [s, s])
        ssl = self.cfg.prompt_training == "ssl"
        self.main = Views(paths, [weak, weak, strong] + ([clip_weak, clip_strong] if ssl else []),
                          [s, s, s] + ([cs, cs] if ssl else []))

    # ---- epochs ------------------------------------------------------------------------

    def epoch(self, step: int) -> dict:
        cfg = self.cfg
        if step < cfg.pretrain_epochs:
            rng = seed_epoch(cfg.seed, PRETRAIN, step)
            set_lr(self.optimizer, lr_at(step, base=cfg.lr, epochs=cfg.pretrain_epochs, schedule="cosine"))
            stats, extra = self._pretrain(rng, f"pretrain {step + 1}/{cfg.pretrain_epochs}")
            return self._row("pretrain", step + 1, stats, extra, lr=self.optimizer.param_groups[0]["lr"], val=False)
        e = step - cfg.pretrain_epochs
        rng = seed_epoch(cfg.seed, MAIN, e)
        lr = lr_at(e, base=cfg.lr, epochs=cfg.epochs, schedule=cfg.schedule, milestones=cfg.milestones)
        set_lr(self.optimizer, lr)
        if e < cfg.warmup:
            stats, extra = self._warmup(rng, f"warm-up {e + 1}/{cfg.epochs}")
            return self._row("warmup", e + 1, stats, extra, lr=lr)
        split = self.split()
        x_idx = np.flatnonzero(split["x"])
        self.prompts.set_epoch(e - cfg.warmup, cfg.epochs - cfg.warmup)
        self.prompts.begin_epoch()
        stats, extra = self._css(split, rng, f"css {e + 1}/{cfg.epochs}")
        if cfg.prompt_training == "sl":
            extra.update(self.prompts.sl_epoch(x_idx, self.labels, rng))
        guard = self.prompts.end_epoch(x_idx, self.labels)
        if guard.get("prompt_reverted"):
            console.warn(f"CSS epoch {e + 1}: the prompt updates left the mean CLIP p(given) over X at "
                         f"{guard['prompt_x_conf']:.3f}, against {guard['prompt_x_conf_start']:.3f} with the starting "
                         "prompts; undid them (--no-prompt-guard keeps them)")
        extra.update(guard)
        sizes = {k: split[k] for k in ("n_x", "n_u", "x_precision", "x_recall", "x_fallback_classes")}
        return self._row("css", e + 1, stats, {**extra, **sizes, **split["fit"]}, lr=lr)

    def _row(self, phase, epoch, stats: EpochStats, extra: dict, *, lr: float, val: bool = True) -> dict:
        self.net.eval()
        val_acc = self.ctx.val_accuracy(self.net.backbone, self.pp) if val else float("nan")
        return {"phase": phase, "epoch": epoch, "loss": stats.loss, "train_acc": stats.acc, "val_acc": val_acc,
                "lr": lr, "n_train": int(self.pool.sum()), "images_per_s": stats.images_per_s(),
                "seconds": stats.seconds, "decode_failed": stats.failed, **extra}

    def _step(self, loss: torch.Tensor, skipped: list) -> bool:
        if not torch.isfinite(loss):
            self.optimizer.zero_grad(set_to_none=True)
            skipped[0] += 1
            return False
        self.rt.step(loss, self.optimizer)
        return True

    def _check_skipped(self, skipped: list, batches: int, title: str) -> None:
        if batches and skipped[0] == batches:
            raise ModelError(f"CSS {title}: the loss was not finite in any of its {batches} batches",
                             "lower --lr (or --prompt-lr), or check the images")

    def _order(self, rng) -> np.ndarray:
        return shuffled(np.flatnonzero(self.pool), rng)

    def _pretrain(self, rng, title):
        stats, skipped, batches = EpochStats(), [0], 0
        order = self._order(rng)
        self.net.train()
        with console.progress(title, total=len(order)) as bar:
            for (w1, w2), idx, ok in loader(self.two, order, self.cfg.batch_size, self.cfg.workers,
                                            drop_last=len(order) > self.cfg.batch_size):
                ok = ok.to(self.rt.device)
                with self.rt.autocast():
                    _, z = self.net(torch.cat([w1, w2]).to(self.rt.device))
                z1, z2 = z[: len(w1)][ok], z[len(w1) :][ok]
                loss = nt_xent(z1, z2, temperature=self.cfg.con_temperature)
                batches += 1
                if self._step(loss, skipped):
                    stats.add(loss.item(), 0, len(w1), int((~ok).sum()))
                bar.advance(len(w1))
        self._check_skipped(skipped, batches, title)
        return stats, {"nan_skipped": skipped[0], "loss_con": stats.loss}

    def _warmup(self, rng, title):
        stats, skipped, batches = EpochStats(), [0], 0
        order = self._order(rng)
        self.net.train()
        with console.progress(title, total=len(order)) as bar:
            for (w,), idx, ok in loader(self.one, order, self.cfg.batch_size, self.cfg.workers,
                                        drop_last=len(order) > self.cfg.batch_size):
                y, ok = self.labels_t[idx].to(self.rt.device), ok.to(self.rt.device)
                with self.rt.autocast():
                    logits, _ = self.net(w.to(self.rt.device))
                loss = masked_ce(logits, y, ok)
                batches += 1
                if self._step(loss, skipped):
                    stats.add(loss.item(), int(((logits.argmax(1) == y) & ok).sum()), len(w), int((~ok).sum()))
                bar.advance(len(w), description=f"{title} loss {stats.loss:.3f}")
        self._check_skipped(skipped, batches, title)
        return stats, {"nan_skipped": skipped[0], "loss_x": stats.loss}

    def _css(self, split: dict, rng, title):
        cfg, rt = self.cfg, self.rt
        b = cfg.batch_size
        iters = max(1, int(self.pool.sum()) // b)
        x_idx, u_idx = np.flatnonzero(split["x"]), np.flatnonzero(self.pool & ~split["x"])
        x_order = fill_epoch(shuffled(x_idx, rng), iters * b, rng)
        u_order = fill_epoch(shuffled(u_idx, rng), iters * b, rng)
        x_batches = iter(loader(self.main, x_order, b, cfg.workers)) if len(x_order) else None
        u_batches = iter(loader(self.main, u_order, b, cfg.workers)) if len(u_order) else None
        stats, skipped, sums = EpochStats(), [0], dict.fromkeys(LOSS_KEYS, 0.0)
        self.net.train()
        with console.progress(title, total=iters) as bar:
            for _ in range(iters):
                xb = next(x_batches) if x_batches is not None else None
                ub = next(u_batches) if u_batches is not None else None
                parts = self._batch_losses(xb, ub)
                if self._step(parts["loss"], skipped):
                    for k in ("loss_x", "loss_u", "loss_con", "loss_reg", "mask_rate"):
                        sums[k] += float(parts[k])
                    stats.add(parts["loss"].item(), parts["correct"], parts["n_x"], parts["failed"])
                    if cfg.prompt_training == "ssl":
                        sums["loss_prompt"] += self._prompt_ssl(xb, ub)["loss_prompt"]
                bar.advance(1, description=f"{title} loss {stats.loss:.3f}")
        self._check_skipped(skipped, iters, title)
        done = max(1, iters - skipped[0])
        extra = {k: v / done for k, v in sums.items()}
        if cfg.prompt_training != "ssl":
            extra.pop("loss_prompt")
        return stats, {**extra, "nan_skipped": skipped[0]}

    def _batch_losses(self, xb, ub) -> dict:
        """L_X + lambda_u L_U + lambda_c L_con + lambda_r L_reg for one batch of X and one of U."""
        cfg, dev = self.cfg, self.rt.device
        empty = torch.zeros(0, 3, self.pp.size, self.pp.size)
        xw1, xw2, _ = (xb[0][0], xb[0][1], xb[0][2]) if xb is not None else (empty, empty, empty)
        uw1, uw2, us = (ub[0][0], ub[0][1], ub[0][2]) if ub is not None else (empty, empty, empty)
        okx = xb[2].to(dev) if xb is not None else torch.zeros(0, dtype=torch.bool, device=dev)
        oku = ub[2].to(dev) if ub is not None else torch.zeros(0, dtype=torch.bool, device=dev)
        y = self.labels_t[xb[1]].to(dev) if xb is not None else torch.zeros(0, dtype=torch.long, device=dev)
        nx, nu = len(xw1), len(uw1)
        with self.rt.autocast():
            logits, z = self.net(torch.cat([xw1, uw1, xw2, uw2, us]).to(dev))
        lx, lu_w = logits[:nx], logits[nx : nx + nu]
        lu_s = logits[2 * (nx + nu) :]
        ok = torch.cat([okx, oku])
        z1, z2 = z[: nx + nu][ok], z[nx + nu : 2 * (nx + nu)][ok]
        l_x = masked_ce(lx, y, okx)
        l_u, mask = fixmatch_loss(lu_s, lu_w, oku, delta=cfg.delta)
        l_con = nt_xent(z1, z2, temperature=cfg.con_temperature)
        l_reg = uniform_prior(logits[: nx + nu][ok])
        loss = l_x + cfg.lambda_u * l_u + cfg.lambda_c * l_con + cfg.lambda_r * l_reg
        return {"loss": loss, "loss_x": l_x.item(), "loss_u": l_u.item(), "loss_con": l_con.item(),
                "loss_reg": l_reg.item(), "mask_rate": float(mask.float().mean()) if nu else 0.0,
                "correct": int(((lx.argmax(1) == y) & okx).sum()), "n_x": nx,
                "failed": int((~ok).sum())}

    def _prompt_ssl(self, xb, ub) -> dict:
        dev, cs = self.rt.device, None
        none = lambda: torch.zeros(0, dtype=torch.bool, device=dev)  # noqa: E731
        if xb is not None:
            cs = xb[0][3].shape[-1]
        elif ub is not None:
            cs = ub[0][3].shape[-1]
        empty = torch.zeros(0, 3, cs, cs)
        xw = xb[0][3] if xb is not None else empty
        y = self.labels_t[xb[1]].to(dev) if xb is not None else torch.zeros(0, dtype=torch.long, device=dev)
        uw, us = (ub[0][3], ub[0][4]) if ub is not None else (empty, empty)
        okx = xb[2].to(dev) if xb is not None else none()
        oku = ub[2].to(dev) if ub is not None else none()
        return self.prompts.ssl_step(xw, y, okx, uw, us, oku)

    # ---- the split ---------------------------------------------------------------------

    def split(self) -> dict:
        """omega = [network CE of the given label, CLIP p(given)] -> 2-D GMM -> X / U."""
        cfg, n = self.cfg, len(self.data)
        self.net.eval()
        with console.progress("CSS split", total=n) as bar:
            probs, ok = predict_probs(self.net.backbone, loader(self.eval_ds, np.arange(n), cfg.batch_size, cfg.workers),
                                      self.rt, n, bar)
        pool = self.pool & ok
        p_clip = self.prompts.probs()
        p_given = p_clip[np.arange(n), self.labels]
        sp = css_split(given_loss(probs, self.labels), p_given, self.labels, pool, eps=cfg.css_eps,
                       per_class=cfg.css_per_class, seed=cfg.seed, forced=self.data.locked)
        for note in sp.notes[:3]:
            console.warn(f"CSS split: {note}")
        quality = split_quality(sp.x, pool, self.data.given, self.data.truth)
        return {"x": sp.x, "posterior": sp.posterior, "fit": sp.fit, "n_x": int(sp.x.sum()),
                "n_u": int((pool & ~sp.x).sum()), "x_fallback_classes": sp.fallback_classes, "probs": probs,
                "pool": pool, **quality}


def _log(row: dict) -> None:
    def f(v):
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"

    extra = ""
    if row["phase"] == "css":
        extra = f"  X {row['n_x']} (precision {f(row.get('x_precision'))}) U {row['n_u']}"
    console.info(f"{row['phase']} epoch {row['epoch']}: loss {f(row['loss'])}  train_acc {f(row['train_acc'])}  "
                 f"val_acc {f(row['val_acc'])}{extra}  {row['images_per_s']:.1f} img/s")
