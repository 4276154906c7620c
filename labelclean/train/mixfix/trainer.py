"""The MixFix training loop: class-balanced sampling, strong augmentation, mixup, per-epoch update.

Metrics per epoch: ``n_train`` is the training set of that epoch; ``absorbed``/``relabelled``/
``dropped`` describe the update made after it (the next epoch trains on S0 plus the first two);
``train_acc`` compares predictions on the mixed images with their dominant label (lambda >= 0.5).

Per the official code: one mixup loss (lambda ~ Beta(beta, beta), lambda = max(lambda, 1 - lambda),
one lambda and one in-batch permutation per batch) on the current MixFix labels; SGD with
momentum and weight decay; ``len(pool) // batch_size`` iterations per epoch whatever the size
of the current training set; after each epoch the absorb/relabel/drop pass (`mixfix.py`).
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
from labelclean.train.common.images import ImageDataset, eval_transform, loader, train_transform
from labelclean.train.common.loop import EpochStats, lr_at, predict_probs, seed_epoch, seed_init, set_lr, sgd
from labelclean.train.common.metrics import best_and_last, nan_to_none
from labelclean.train.mixfix.method import DROP, mixfix_rules, next_training_set, update_counts
from labelclean.train.common.models import build_classifier
from labelclean.train.common.sampling import class_balanced_indices, fill_epoch


def run_mixfix(ctx: TrainContext) -> MethodResult:
    cfg, data = ctx.cfg, ctx.data
    if not data.clean0.any():
        raise WorkdirError("the selection keeps no sample, so there is nothing to train on",
                           "loosen `labelclean select`, or review some samples as accept/reject")
    seed_init(cfg.seed, 0)
    built = build_classifier(cfg.backbone, len(data.classes), image_size=cfg.image_size,
                             pretrained_backbone=cfg.pretrained_backbone, clip_encoder=ctx.clip_encoder)
    _report_pretrained(built.load_report)
    model = built.model.to(ctx.rt.device)
    optimizer = sgd(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    mask, labels, history, start = data.clean0.copy(), data.labels0.copy(), [], 0
    state = ctx.resume_state()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        ctx.restore_scaler(state)
        mask, labels = state["train_mask"].numpy().astype(bool), state["train_labels"].numpy().astype(np.int64)
        history, start = list(state["history"]), int(state["epoch"])
    pp = built.preprocess
    kind = "strong" if cfg.augment == "auto" else cfg.augment
    train_ds = ImageDataset(data.paths, train_transform(pp, kind), pp.size)
    eval_ds = ImageDataset(data.paths, eval_transform(pp), pp.size)
    outside = np.flatnonzero(~data.clean0 & ~data.dropped)
    for epoch in range(start, cfg.epochs):
        if ctx.should_stop(epoch):
            return MethodResult(False, {"completed_epochs": epoch, **best_and_last(history)})
        rng = seed_epoch(cfg.seed, 0, epoch)
        lr = lr_at(epoch, base=cfg.lr, epochs=cfg.epochs, schedule=cfg.schedule, milestones=cfg.milestones)
        set_lr(optimizer, lr)
        stats = _train_epoch(ctx, model, optimizer, train_ds, mask, labels, rng, f"epoch {epoch + 1}/{cfg.epochs}")
        model.eval()
        val_acc = ctx.val_accuracy(model, pp)
        n_train = int(mask.sum())
        counts, mask, labels = _update(ctx, model, eval_ds, outside)
        row = {"phase": "mixfix", "epoch": epoch + 1, "loss": stats.loss, "train_acc": stats.acc, "val_acc": val_acc,
               "lr": lr, "n_train": n_train, **counts, "images_per_s": stats.images_per_s(),
               "seconds": stats.seconds, "decode_failed": stats.failed}
        history.append(nan_to_none(row))
        ctx.save({"method": "mixfix", "epoch": epoch + 1, "model": model.state_dict(),
                  "optimizer": optimizer.state_dict(), "train_mask": to_tensor(mask),
                  "train_labels": to_tensor(labels)}, history)
        _log(row)
    summary = {**best_and_last(history), "n_pool": int((~data.dropped).sum()), "n_clean0": int(data.clean0.sum()),
               "n_train_last": history[-1]["n_train"] if history else int(data.clean0.sum())}
    card = ModelCard("mixfix", built.spec, data.classes, pp, summary, ctx.cfg.fingerprint_dict())
    return MethodResult(True, summary, save_model(ctx.out_dir, model, card) + [ctx.metrics_path])


def _train_epoch(ctx, model, optimizer, ds, mask, labels, rng, title) -> EpochStats:
    cfg, rt = ctx.cfg, ctx.rt
    members = np.flatnonzero(mask)
    order = class_balanced_indices(members, labels[members], rng)
    iters = max(1, int((~ctx.data.dropped).sum()) // cfg.batch_size)
    order = fill_epoch(order, iters * cfg.batch_size, rng)
    labels_t = torch.from_numpy(labels)
    stats = EpochStats()
    model.train()
    with console.progress(title, total=len(order)) as bar:
        for x, idx, ok in loader(ds, order, cfg.batch_size, cfg.workers):
            lam = float(rng.beta(cfg.beta, cfg.beta))
            lam = max(lam, 1.0 - lam)
            perm = torch.randperm(len(x))
            x, y, ok = x.to(rt.device), labels_t[idx].to(rt.device), ok.to(rt.device)
            with rt.autocast():
                logits = model(lam * x + (1.0 - lam) * x[perm])
            logp = F.log_softmax(logits.float(), dim=1)
            per = -(lam * logp.gather(1, y[:, None]) + (1.0 - lam) * logp.gather(1, y[perm][:, None])).squeeze(1)
            weight = (ok & ok[perm]).float()
            loss = (per * weight).sum() / weight.sum().clamp(min=1.0)
            rt.step(loss, optimizer)
            stats.add(loss.item(), int((logits.argmax(1) == y).sum()), len(x), int((~ok).sum()))
            bar.advance(len(x), description=f"{title} loss {stats.loss:.3f} acc {stats.acc:.3f}")
    return stats


def _update(ctx: TrainContext, model, eval_ds, outside: np.ndarray):
    """The absorb/relabel/drop pass over samples outside S0; returns (counts, next mask, next labels)."""
    data, cfg = ctx.data, ctx.cfg
    probs = np.zeros((len(outside), len(data.classes)), np.float32)
    ok = np.zeros(len(outside), bool)
    if len(outside):
        with console.progress("relabel pass", total=len(outside)) as bar:
            probs, ok = predict_probs(model, loader(eval_ds, outside, cfg.batch_size, cfg.workers), ctx.rt,
                                      len(outside), bar)
    update = mixfix_rules(data.given[outside], probs, theta_r=cfg.theta_r, theta_r2=cfg.theta_r2)
    update.action[~ok] = DROP  # undecodable files are never trained on
    truth = data.truth[outside] if data.truth is not None else None
    counts = update_counts(update, data.given[outside], truth)
    mask, labels = next_training_set(data.clean0, data.labels0, outside, update)
    return counts, mask, labels


def _report_pretrained(report: dict) -> None:
    if not report:
        return
    console.info(f"Loaded {report['loaded']} tensors from {report['file']}.")
    for key in ("missing", "unexpected", "dropped_shape_mismatch"):
        names = report.get(key) or []
        if names:
            shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
            console.warn(f"--pretrained-backbone: {len(names)} {key.replace('_', ' ')} keys ({shown})")


def _log(row: dict) -> None:
    def f(v):
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"

    console.info(
        f"epoch {row['epoch']}: loss {f(row['loss'])}  train_acc {f(row['train_acc'])}  val_acc {f(row['val_acc'])}  "
        f"trained on {row['n_train']}; next: absorbed {row['absorbed']}, relabelled {row['relabelled']}, "
        f"dropped {row['dropped']}  {row['images_per_s']:.1f} img/s"
    )
