"""DeFT training: phase 1 (noisy-label detection) then phase 2 (fine-tuning on the clean subset).

Phase 1 trains VPT-deep tokens and dual prompts (SGD 0.03, cosine, batch 64, 10 epochs, 1
warm-up epoch by default) on every usable sample with its given label. The clean set handed on
is decided by a final pass over un-augmented views after the last epoch (the official code
keeps the online per-batch mask of the last, augmented epoch; that count is reported too as
``online_clean_last_epoch``). The per-sample clean probability goes to ``W/deft.parquet``
(``select --estimators ...,deft`` reads it).

Phase 2 fine-tunes ``--backbone`` (default: the CLIP image tower + a new linear head) with
cross-entropy on the detected clean samples (SGD 5e-4, cosine, 10 epochs). Reviewer
decisions override DeFT there: reviewed-kept samples train with their reviewed label,
reviewer-dropped samples never train.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from labelclean.core import console
from labelclean.core.errors import WorkdirError
from labelclean.train.common.artifact import ModelCard, save_model
from labelclean.train.common.checkpoint import to_tensor
from labelclean.train.common.context import MethodResult, TrainContext
from labelclean.train.deft.method import complementary_labels, deft_loss, selection_quality
from labelclean.train.deft.io import final_pass, write_scores
from labelclean.train.deft.model import DeftDetector
from labelclean.train.common.images import ImageDataset, eval_transform, loader, train_transform
from labelclean.train.common.loop import EpochStats, lr_at, seed_epoch, seed_init, set_lr, sgd
from labelclean.train.common.metrics import best_and_last, nan_to_none
from labelclean.train.common.models import build_classifier, clip_preprocess
from labelclean.train.common.sampling import shuffled


def run_deft(ctx: TrainContext) -> MethodResult:
    state = ctx.resume_state() or {"phase": 1, "epoch": 0, "history": []}
    history = list(state["history"])
    if state["phase"] == 1:
        p1 = _phase1(ctx, state, history)
        if p1 is None:
            return MethodResult(False, {"completed_epochs": len(history), **best_and_last(history, "detect")})
        state = {"phase": 2, "epoch": 0, "phase1": p1}
        ctx.save(state, history)
    p1 = state["phase1"]
    summary = {"phase1": {**best_and_last(history, "detect"), **_p1_summary(p1)}}
    outputs = [ctx.wd.deft if ctx.data.source == "workdir" else ctx.out_dir / "deft_scores.parquet"]
    if ctx.cfg.detect_only or ctx.cfg.ft_epochs == 0:
        return MethodResult(True, summary, outputs + [ctx.metrics_path])
    done = _phase2(ctx, state, history)
    if done is None:
        return MethodResult(False, {"completed_epochs": len(history), **summary})
    summary["phase2"] = {**best_and_last(history, "finetune"), **done[0]}
    summary.update(best_and_last(history, "finetune"))
    return MethodResult(True, summary, outputs + done[1] + [ctx.metrics_path])


def _phase1(ctx: TrainContext, state: dict, history: list):
    cfg, data, rt = ctx.cfg, ctx.data, ctx.rt
    enc = ctx.clip_encoder()
    seed_init(cfg.seed, 1)
    det = DeftDetector(enc.model, enc.tokenizer, [c.prompt_name for c in data.classes],
                       vpt_tokens=cfg.vpt_tokens, ctx_tokens=cfg.ctx_tokens)
    optimizer = sgd(det.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if state.get("detector") is not None:
        det.load_state_dict(state["detector"])
        optimizer.load_state_dict(state["optimizer"])
        ctx.restore_scaler(state)
    pp = clip_preprocess(enc)
    ds = ImageDataset(data.paths, train_transform(pp, "light" if cfg.augment == "auto" else cfg.augment), pp.size)
    online = np.zeros(len(data), bool)
    for epoch in range(int(state["epoch"]), cfg.epochs):
        if ctx.should_stop(epoch):
            return None
        rng = seed_epoch(cfg.seed, 1, epoch)
        lr = lr_at(epoch, base=cfg.lr, epochs=cfg.epochs, schedule=cfg.schedule, milestones=cfg.milestones)
        set_lr(optimizer, lr)
        stats, online = _detect_epoch(ctx, det, optimizer, ds, rng, epoch)
        det.eval()
        val_acc = ctx.val_accuracy(lambda x: det(x)[0], pp)
        row = {"phase": "detect", "epoch": epoch + 1, "loss": stats.loss, "train_acc": stats.acc, "val_acc": val_acc,
               "lr": lr, "n_train": len(data), "n_clean": int(online.sum()), "images_per_s": stats.images_per_s(),
               "seconds": stats.seconds, "decode_failed": stats.failed,
               **selection_quality(online, data.given, data.truth)}
        history.append(nan_to_none(row))
        ctx.save({"phase": 1, "epoch": epoch + 1, "detector": det.state_dict(), "optimizer": optimizer.state_dict()},
                 history)
        _log(row)
    pool = final_pass(ctx, det, ImageDataset(data.paths, eval_transform(pp), pp.size))
    write_scores(ctx, pool, enc)
    clean = pool.scores.clean
    return {"p_clean": to_tensor(pool.scores.p_clean), "clean": to_tensor(clean),
            "online_clean_last_epoch": int(online.sum()), **selection_quality(clean, data.given, data.truth)}


def _detect_epoch(ctx, det, optimizer, ds, rng, epoch):
    cfg, rt, data = ctx.cfg, ctx.rt, ctx.data
    order = shuffled(np.arange(len(data)), rng)
    given = torch.from_numpy(data.given)
    online = np.zeros(len(data), bool)
    warm = epoch < cfg.warmup
    stats = EpochStats()
    det.train()
    title = f"detect {epoch + 1}/{cfg.epochs}" + (" (warm-up)" if warm else "")
    with console.progress(title, total=len(order)) as bar:
        for x, idx, ok in loader(ds, order, cfg.batch_size, cfg.workers):
            y, ok = given[idx].to(rt.device), ok.to(rt.device)
            comp = complementary_labels(y, len(data.classes))
            with rt.autocast():
                pos, neg = det(x.to(rt.device))
            out = deft_loss(pos, neg, y, comp, ok, warm=warm)
            rt.step(out.loss, optimizer)
            online[idx.numpy()] = out.clean.cpu().numpy()
            stats.add(out.loss.item(), int(((pos.argmax(1) == y) & ok).sum()), len(x), int((~ok).sum()))
            bar.advance(len(x), description=f"{title} loss {stats.loss:.3f} clean {int(online.sum())}")
    return stats, online


def _phase2(ctx: TrainContext, state: dict, history: list):
    cfg, data, rt = ctx.cfg, ctx.data, ctx.rt
    clean = state["phase1"]["clean"].numpy().astype(bool)
    mask = ((clean & ~data.locked) | data.locked) & ~data.dropped
    labels = np.where(data.locked, data.labels0, data.given)
    if not mask.any():
        raise WorkdirError("DeFT detected no clean sample, so phase 2 has nothing to fine-tune on",
                           "check the class names, train phase 1 longer (--epochs), or use --detect-only")
    seed_init(cfg.seed, 2)
    built = build_classifier(cfg.backbone, len(data.classes), image_size=cfg.image_size,
                             pretrained_backbone=cfg.pretrained_backbone, clip_encoder=ctx.clip_encoder)
    model = built.model.to(rt.device)
    optimizer = sgd(model.parameters(), lr=cfg.ft_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if state.get("model") is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        ctx.restore_scaler(state)
    pp = built.preprocess
    ds = ImageDataset(data.paths, train_transform(pp, "light" if cfg.augment == "auto" else cfg.augment), pp.size)
    for epoch in range(int(state["epoch"]), cfg.ft_epochs):
        if ctx.should_stop(cfg.epochs + epoch):
            return None
        rng = seed_epoch(cfg.seed, 2, epoch)
        lr = lr_at(epoch, base=cfg.ft_lr, epochs=cfg.ft_epochs, schedule="cosine")
        set_lr(optimizer, lr)
        stats = _finetune_epoch(ctx, model, optimizer, ds, mask, labels, rng, f"finetune {epoch + 1}/{cfg.ft_epochs}")
        model.eval()
        row = {"phase": "finetune", "epoch": epoch + 1, "loss": stats.loss, "train_acc": stats.acc,
               "val_acc": ctx.val_accuracy(model, pp), "lr": lr, "n_train": int(mask.sum()),
               "images_per_s": stats.images_per_s(), "seconds": stats.seconds, "decode_failed": stats.failed}
        history.append(nan_to_none(row))
        ctx.save({**state, "epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict()},
                 history)
        _log(row)
    info = {"n_train": int(mask.sum())}
    card = ModelCard("deft", built.spec, data.classes, pp, {**best_and_last(history, "finetune"), **info},
                     cfg.fingerprint_dict())
    return info, save_model(ctx.out_dir, model, card)


def _finetune_epoch(ctx, model, optimizer, ds, mask, labels, rng, title) -> EpochStats:
    cfg, rt = ctx.cfg, ctx.rt
    order = shuffled(np.flatnonzero(mask), rng)
    labels_t = torch.from_numpy(labels)
    stats = EpochStats()
    model.train()
    with console.progress(title, total=len(order)) as bar:
        for x, idx, ok in loader(ds, order, cfg.batch_size, cfg.workers, drop_last=len(order) > cfg.batch_size):
            y, ok = labels_t[idx].to(rt.device), ok.to(rt.device)
            with rt.autocast():
                logits = model(x.to(rt.device))
            per = F.cross_entropy(logits.float(), y, reduction="none")
            loss = (per * ok).sum() / ok.sum().clamp(min=1)
            rt.step(loss, optimizer)
            stats.add(loss.item(), int(((logits.argmax(1) == y) & ok).sum()), len(x), int((~ok).sum()))
            bar.advance(len(x), description=f"{title} loss {stats.loss:.3f} acc {stats.acc:.3f}")
    return stats


def _p1_summary(p1: dict) -> dict:
    out = {k: v for k, v in p1.items() if k not in ("p_clean", "clean")}
    out["n_clean"] = int(p1["clean"].sum())
    return out


def _log(row: dict) -> None:
    def f(v):
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"

    extra = f"  clean {row['n_clean']}" if row.get("n_clean") is not None else f"  train set {row['n_train']}"
    console.info(f"{row['phase']} epoch {row['epoch']}: loss {f(row['loss'])}  train_acc {f(row['train_acc'])}  "
                 f"val_acc {f(row['val_acc'])}{extra}  {row['images_per_s']:.1f} img/s")
