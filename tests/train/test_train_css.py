"""CSS: the per-epoch split, the losses and their guards, CoOp prompts, presets, and CPU smoke runs."""

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from labelclean.core.errors import ModelError, UsageError
from labelclean.stages.train import TrainConfig, run_train
from labelclean.store.parquet_io import read_meta
from labelclean.store.schemas import css_schema
from labelclean.train.css.method import (
    css_split, fixmatch_loss, given_loss, masked_ce, nt_xent, split_quality, uniform_prior,
)
from imagegen import make_image_folder
from labelclean.stages.predict import PredictConfig, run_predict
from trainkit import make_train_workdir


pytestmark = pytest.mark.usefixtures("quiet_console")


def _separable(n=200, noisy=0.3, seed=0, k=4):
    """Clean samples: low loss, high p(given); noisy ones the reverse."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    bad = rng.random(n) < noisy
    loss = np.where(bad, rng.normal(3.0, 0.3, n), rng.normal(0.3, 0.2, n)).clip(0)
    p = np.where(bad, rng.normal(0.1, 0.05, n), rng.normal(0.8, 0.08, n)).clip(0, 1)
    return loss, p, labels, bad


# ---- the split -------------------------------------------------------------------------


def test_split_puts_low_loss_high_p_samples_in_x():
    loss, p, labels, bad = _separable()
    pool = np.ones(len(labels), bool)
    sp = css_split(loss, p, labels, pool, seed=0)
    assert (sp.x == ~bad).all()
    assert ((sp.posterior >= 0) & (sp.posterior <= 1)).all()
    assert sp.fit["gmm_fits"] == 1 and sp.fit["gmm_degenerate"] == 0
    assert sp.fit["gmm_clean_loss"] < sp.fit["gmm_noisy_loss"] and sp.fit["gmm_clean_p"] > sp.fit["gmm_noisy_p"]
    assert 0.6 < sp.fit["gmm_clean_weight"] < 0.8  # 70 % clean
    truth = np.where(bad, (labels + 1) % 4, labels)
    q = split_quality(sp.x, pool, labels, truth)
    assert q == {"x_precision": 1.0, "x_recall": 1.0}


def test_split_per_class_fits_one_gmm_per_class_and_respects_pool_and_forced():
    loss, p, labels, bad = _separable(seed=1)
    pool = np.ones(len(labels), bool)
    pool[:10] = False
    forced = np.zeros(len(labels), bool)
    forced[np.flatnonzero(bad & pool)[:3]] = True
    sp = css_split(loss, p, labels, pool, per_class=True, forced=forced, seed=0)
    assert sp.fit["gmm_fits"] == 4
    assert not sp.x[:10].any() and (sp.posterior[:10] == 0).all()
    assert sp.x[forced].all()
    assert (sp.x[pool & ~forced] == ~bad[pool & ~forced]).all()


def test_a_class_absent_from_x_gets_its_best_samples_back():
    loss, p, labels, bad = _separable(seed=2)
    cls0 = labels == 0
    loss[cls0], p[cls0] = 3.0 + 0.1 * np.arange(cls0.sum()), 0.05  # every class-0 sample looks noisy
    sp = css_split(loss, p, labels, np.ones(len(labels), bool), seed=0)
    assert sp.fallback_classes == 1 and sp.x[cls0].any()
    kept = np.flatnonzero(sp.x & cls0)
    assert sp.posterior[kept].min() >= sp.posterior[cls0 & ~sp.x].max()


def test_degenerate_fit_warns_and_falls_back_to_the_loss():
    loss, p, labels, bad = _separable(seed=3)
    sp = css_split(loss, 1.0 - p, labels, np.ones(len(labels), bool), seed=0)  # p disagrees with the loss
    assert sp.fit["gmm_degenerate"] == 1 and sp.notes and "1-D GMM" in sp.notes[0]
    assert (sp.x == ~bad).mean() > 0.95  # the 1-D loss GMM still separates them


def test_given_loss_direction_and_clipping():
    probs = np.array([[0.9, 0.1], [0.0, 1.0]])
    out = given_loss(probs, np.array([0, 0]))
    assert out[0] == pytest.approx(-np.log(0.9)) and out[1] == pytest.approx(-np.log(1e-6))


# ---- losses and guards -----------------------------------------------------------------


def test_masked_ce_is_zero_with_a_gradient_when_the_batch_has_no_x():
    logits = torch.randn(0, 3, requires_grad=True)
    out = masked_ce(logits, torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool))
    assert out.item() == 0.0
    out.backward()
    logits2 = torch.randn(2, 3, requires_grad=True)
    out2 = masked_ce(logits2, torch.tensor([0, 1]), torch.tensor([False, False]))  # nothing valid
    assert out2.item() == 0.0 and torch.isfinite(out2)


def test_fixmatch_is_zero_when_every_pseudo_label_is_under_delta():
    weak = torch.zeros(4, 3)  # uniform: max p = 1/3
    strong = torch.randn(4, 3, requires_grad=True)
    loss, mask = fixmatch_loss(strong, weak, torch.ones(4, dtype=torch.bool), delta=0.95)
    assert loss.item() == 0.0 and not mask.any()
    loss.backward()
    assert torch.isfinite(strong.grad).all()


def test_fixmatch_hand_case_uses_hard_labels_above_delta_over_all_valid_rows():
    weak = torch.tensor([[10.0, 0.0], [0.0, 0.0], [0.0, 10.0]])
    strong = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 0.0]])
    loss, mask = fixmatch_loss(strong, weak, torch.ones(3, dtype=torch.bool), delta=0.95)
    assert mask.tolist() == [True, False, True]
    assert loss.item() == pytest.approx(2 * np.log(2) / 3, rel=1e-5)  # CE of a uniform 2-way output, twice, / 3


def test_fixmatch_with_an_empty_u_part():
    loss, mask = fixmatch_loss(torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, dtype=torch.bool), delta=0.95)
    assert loss.item() == 0.0 and mask.numel() == 0


def test_nt_xent_prefers_matching_pairs_and_needs_two_of_them():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(8, 16, generator=g)
    matched = nt_xent(z, z + 0.01 * torch.randn(8, 16, generator=g))
    shuffled = nt_xent(z, z[torch.randperm(8, generator=g)])
    assert matched.item() < shuffled.item()
    one = torch.randn(1, 16, requires_grad=True)
    out = nt_xent(one, one)
    assert out.item() == 0.0
    out.backward()


def test_uniform_prior_is_zero_for_a_uniform_mean_and_positive_for_collapse():
    assert uniform_prior(torch.tensor([[5.0, 0.0], [0.0, 5.0]])).item() == pytest.approx(0.0, abs=1e-6)
    assert uniform_prior(torch.tensor([[5.0, 0.0], [5.0, 0.0]])).item() > 0.5
    assert uniform_prior(torch.zeros(0, 2)).item() == 0.0


class _Tiny(nn.Module):
    def __init__(self, k=3):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, k)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


class _Stub:
    """Just what _Run's per-batch methods read."""

    def __init__(self):
        from labelclean.train.common.images import Preprocess
        from labelclean.train.common.loop import Runtime
        from labelclean.train.css.trainer import CssNet

        torch.manual_seed(0)
        self.net = CssNet(_Tiny())
        self.cfg = TrainConfig(method="css").resolved()
        self.rt = Runtime(torch.device("cpu"), amp=False)
        self.pp = Preprocess(8)
        self.labels_t = torch.tensor([0, 1, 2, 0, 1, 2])
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=0.1)


def _batch(idx, size=8):
    n = len(idx)
    views = tuple(torch.randn(n, 3, size, size) for _ in range(3))
    return views, torch.tensor(idx), torch.ones(n, dtype=torch.bool)


def test_a_batch_with_no_u_or_no_x_gives_finite_losses():
    from labelclean.train.css.trainer import _Run

    stub = _Stub()
    only_x = _Run._batch_losses(stub, _batch([0, 1, 2]), None)
    assert torch.isfinite(only_x["loss"]) and only_x["loss_u"] == 0.0 and only_x["mask_rate"] == 0.0
    only_u = _Run._batch_losses(stub, None, _batch([3, 4, 5]))
    assert torch.isfinite(only_u["loss"]) and only_u["loss_x"] == 0.0 and only_u["n_x"] == 0
    only_u["loss"].backward()


def test_a_nan_loss_skips_the_step_and_an_all_nan_epoch_is_an_error():
    from labelclean.train.css.trainer import _Run

    stub = _Stub()
    before = {k: v.clone() for k, v in stub.net.state_dict().items()}
    skipped = [0]
    loss = stub.net(torch.randn(2, 3, 8, 8))[0].sum() * float("nan")
    assert not _Run._step(stub, loss, skipped) and skipped == [1]
    assert all(torch.equal(before[k], v) for k, v in stub.net.state_dict().items())
    with pytest.raises(ModelError, match="not finite in any of its 1 batches"):
        _Run._check_skipped(stub, skipped, 1, "css 3/10")
    _Run._check_skipped(stub, skipped, 2, "css 3/10")  # one good batch is enough


def test_css_net_projects_the_input_of_the_last_linear_layer():
    from labelclean.train.css.trainer import CssNet, classifier_head

    net = CssNet(_Tiny())
    logits, z = net(torch.randn(5, 3, 8, 8))
    assert logits.shape == (5, 3) and z.shape == (5, 128)
    with pytest.raises(ModelError, match="one linear layer"):
        classifier_head(nn.Sequential(nn.Conv2d(3, 3, 1)))


# ---- CoOp prompts ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder(tiny_model):
    from labelclean.model.encoder import load_encoder

    return load_encoder(tiny_model, device="cpu", precision="fp32")


def test_coop_context_starts_from_a_photo_of_a_and_only_it_trains(encoder):
    from labelclean.model.context import CoopPrompts

    torch.manual_seed(0)
    p = CoopPrompts(encoder.model, encoder.tokenizer, ["red", "green apple"], n_ctx=16)
    ids = encoder.tokenizer(["a photo of a"])[0][1:5]
    assert p.n_init == 4
    torch.testing.assert_close(p.ctx[:4].detach(), encoder.model.token_embedding(ids).detach())
    assert 0.01 < float(p.ctx[4:].detach().std()) < 0.03
    feats = p()
    assert feats.shape == (2, encoder.dim)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(2))
    feats.sum().backward()
    assert p.ctx.grad is not None and p.ctx.grad.abs().sum() > 0
    assert all(q.grad is None for q in encoder.model.parameters())


def test_coop_with_the_placeholder_word_reproduces_open_clip(encoder):
    from labelclean.model.context import PLACEHOLDER, CoopPrompts

    p = CoopPrompts(encoder.model, encoder.tokenizer, ["red", "green apple"], n_ctx=4)
    with torch.no_grad():
        word = encoder.model.token_embedding(encoder.tokenizer([PLACEHOLDER])[0, 1:2])[0]
        p.ctx.copy_(word.expand_as(p.ctx))
        ours = p()
        ref = encoder.model.encode_text(encoder.tokenizer([f"X X X X {n}." for n in ["red", "green apple"]]))
    torch.testing.assert_close(ours, torch.nn.functional.normalize(ref, dim=-1), rtol=1e-5, atol=1e-6)


def test_too_many_context_vectors_for_the_text_context_is_a_model_error(encoder):
    from labelclean.model.context import CoopPrompts

    with pytest.raises(ModelError, match="context"):
        CoopPrompts(encoder.model, encoder.tokenizer, ["red"], n_ctx=200)


def _prompt_side(encoder, names, *, guard=True, lr=0.5):
    """A PromptSide over given cached embeddings, without a workdir (what the guard reads)."""
    from labelclean.model.context import CoopPrompts
    from labelclean.train.common.loop import Runtime
    from labelclean.train.css.prompts import PromptSide

    torch.manual_seed(0)
    side = object.__new__(PromptSide)
    side.cfg = TrainConfig(method="css", prompt_guard=guard).resolved()
    side.rt, side.fixed, side._before, side.scale = Runtime(torch.device("cpu"), amp=False), None, None, 100.0
    side.coop = CoopPrompts(encoder.model, encoder.tokenizer, names, n_ctx=4)
    side.optimizer = torch.optim.SGD([side.coop.ctx], lr=lr, momentum=0.9)
    with torch.no_grad():  # each class's cached images sit on its text feature: p(own class) is high
        side.start_text = side.coop()
        noise = 0.01 * torch.randn(4 * len(names), side.start_text.shape[1])
        side.cached = torch.nn.functional.normalize(side.start_text.repeat(4, 1) + noise, dim=1)
    return side


def _fit(side, labels, steps=15):
    y = torch.from_numpy(labels)
    for _ in range(steps):
        side._step(torch.nn.functional.cross_entropy(side.scale * side.cached @ side.text().t(), y))


@pytest.mark.parametrize("guard", [True, False])
def test_the_prompt_guard_undoes_an_epoch_that_fits_wrong_labels_in_x(encoder, guard):
    from labelclean.train.css.prompts import GUARD_DROP

    names = ["red", "green", "blue"]
    side = _prompt_side(encoder, names, guard=guard)
    labels = np.tile(np.arange(3), 4)
    x_idx = np.arange(len(labels))
    side.begin_epoch()
    ctx0, before = side.coop.ctx.detach().clone(), side.x_confidence(x_idx, labels)
    _fit(side, (labels + 1) % 3)  # the updates learn X's labels shifted by one class
    out = side.end_epoch(x_idx, labels)
    assert out["prompt_x_conf_start"] == pytest.approx(before) and out["prompt_x_conf"] < before - GUARD_DROP
    assert out["prompt_reverted"] == int(guard)
    assert torch.equal(side.coop.ctx.detach(), ctx0) == guard
    if guard:  # the momentum of the undone updates is gone too
        assert side.optimizer.state_dict()["state"] == {}
        assert side.x_confidence(x_idx, labels) == pytest.approx(before)


def test_the_prompt_guard_keeps_an_epoch_that_moves_x_confidence_by_less_than_its_limit(encoder):
    from labelclean.train.css.prompts import GUARD_DROP

    side = _prompt_side(encoder, ["red", "green", "blue"])
    labels = np.tile(np.arange(3), 4)
    side.begin_epoch()
    with torch.no_grad():
        side.coop.ctx.add_(1e-4 * torch.randn_like(side.coop.ctx))
    moved = side.coop.ctx.detach().clone()
    out = side.end_epoch(np.arange(12), labels)
    assert out["prompt_reverted"] == 0 and abs(out["prompt_x_conf"] - out["prompt_x_conf_start"]) < GUARD_DROP
    assert torch.equal(side.coop.ctx.detach(), moved)
    assert side.end_epoch(np.arange(12), labels) == {}  # nothing to undo without begin_epoch


def test_the_prompt_guard_bounds_the_fall_from_the_starting_prompts_not_from_the_last_epoch(encoder):
    from labelclean.train.css.prompts import GUARD_DROP

    side = _prompt_side(encoder, ["red", "green", "blue"])
    labels, x_idx = np.tile(np.arange(3), 4), np.arange(12)
    side.begin_epoch()
    _fit(side, (labels + 1) % 3, steps=1)  # an earlier epoch's drift, kept with the guard off
    side.cfg.prompt_guard = False
    assert side.end_epoch(x_idx, labels)["prompt_reverted"] == 0
    side.cfg.prompt_guard = True
    drifted = side.coop.ctx.detach().clone()
    side.begin_epoch()
    with torch.no_grad():  # this epoch moves the prompts by next to nothing ...
        side.coop.ctx.add_(1e-6 * torch.randn_like(side.coop.ctx))
    out = side.end_epoch(x_idx, labels)
    # ... but they stay far below where they started, so this epoch's updates are undone
    assert out["prompt_x_conf"] < out["prompt_x_conf_start"] - GUARD_DROP and out["prompt_reverted"] == 1
    assert torch.equal(side.coop.ctx.detach(), drifted)


# ---- configuration ---------------------------------------------------------------------


def test_css_defaults_are_the_papers():
    cfg = TrainConfig(method="css").resolved()
    assert (cfg.lambda_u, cfg.lambda_c, cfg.lambda_r, cfg.delta, cfg.css_eps) == (0.5, 0.025, 1.0, 0.95, 0.5)
    assert (cfg.backbone, cfg.epochs, cfg.warmup, cfg.batch_size, cfg.lr) == ("preact_resnet18", 310, 10, 128, 0.02)
    assert cfg.pretrain_epochs == 800 and cfg.milestones == [160] and cfg.weight_decay == 5e-4
    assert cfg.ctx_tokens == 16 and cfg.prompt_training == "ssl"
    assert TrainConfig(method="css", backbone="clip").resolved().pretrain_epochs == 0
    assert TrainConfig(method="css", epochs=20, warmup=4).resolved().milestones == [12]


def test_presets_fill_what_is_not_given(tmp_path):
    c = TrainConfig(method="css", preset="clothing1m").resolved()
    assert (c.backbone, c.pretrain_epochs, c.warmup, c.epochs, c.batch_size, c.lr, c.weight_decay, c.milestones) == \
        ("resnet50", 0, 1, 81, 32, 0.001, 1e-3, [41])
    c = TrainConfig(method="css", preset="cifar", lr=0.05, epochs=40).resolved()
    assert (c.lr, c.epochs, c.pretrain_epochs, c.milestones) == (0.05, 40, 800, [25])
    assert "preset" in c.fingerprint_dict() and c.fingerprint_dict()["lambda_c"] == 0.025
    with pytest.raises(UsageError, match="unknown --preset"):
        TrainConfig(method="css", preset="imagenet").resolved()
    with pytest.raises(UsageError, match="--preset"):
        TrainConfig(method="mixfix", preset="cifar").resolved()
    with pytest.raises(UsageError, match="--prompt-training"):
        TrainConfig(method="css", prompt_training="full").resolved()


def test_css_options_under_another_method_are_usage_errors(tmp_path):
    from typer.testing import CliRunner

    from labelclean.cli import app

    r = CliRunner().invoke(app, ["train", "-w", str(tmp_path), "--lambda-u", "1"])
    assert r.exit_code == 2 and "--lambda-u only has an effect with --method css" in r.stderr
    r = CliRunner().invoke(app, ["train", "--help"])
    assert "--prompt-training" in r.stdout and "--css-per-class" in r.stdout and "css" in r.stdout


# ---- runs ------------------------------------------------------------------------------


def css_cfg(**kw):
    base = dict(method="css", backbone="test_resnet", image_size=32, epochs=3, warmup=1, pretrain_epochs=1,
                batch_size=8, device="cpu", prompt_training="sl", ctx_tokens=4)
    return TrainConfig(**{**base, **kw})


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_css_run_writes_metrics_css_parquet_and_learned_prompts(tmp_path, tiny_model):
    td = make_train_workdir(tmp_path / "w", tiny_model=tiny_model, selection=False)
    report = run_train(td.wd, css_cfg())
    s = report.summary
    assert s["complete"] and s["n_pool"] == 36 and s["n_x_first"] is not None and s["n_x_final"] >= 1
    assert s["prompt_reverted_epochs"] in (0, 1, 2)
    rows = _rows(td.wd.train_dir / "css" / "metrics.csv")
    assert [r["phase"] for r in rows] == ["pretrain", "warmup", "css", "css"]
    for r in rows[2:]:
        assert int(r["n_x"]) + int(r["n_u"]) == 36 and r["x_precision"] != "" and r["gmm_fits"] == "1"
        for key in ("loss_x", "loss_u", "loss_con", "loss_reg", "loss_prompt", "mask_rate", "gmm_clean_weight",
                    "prompt_x_conf", "prompt_x_conf_start", "prompt_reverted"):
            assert r[key] != "", key
    table = pq.read_table(td.wd.css)
    assert table.schema.remove_metadata() == css_schema(3)
    assert sorted(table["sample_id"].to_pylist()) == sorted(td.sample_ids)
    meta = read_meta(td.wd.css)
    mid = json.loads(td.wd.run_json.read_text())["model"]["model_id"]
    assert meta["table"] == "css" and meta["model_id"] == mid and meta["prompt_training"] == "sl"
    assert int((table["p_clean"].to_numpy() >= 0.5).sum()) == s["n_x_final"] or s["x_precision_final"] is not None
    prompts = pq.read_table(td.wd.learned_prompts("css"))
    assert prompts.num_rows == 3 and read_meta(td.wd.learned_prompts("css"))["model_id"] == mid
    assert torch.load(td.wd.train_dir / "css" / "prompts.pt", weights_only=True)["ctx"].shape[0] == 4
    record = json.loads(td.wd.run_json.read_text())["stages"]["train_css"]["config"]
    assert record["lambda_u"] == 0.5 and record["pretrain_epochs"] == 1 and record["prompt_training"] == "sl"
    assert (td.wd.train_dir / "css" / "model.json").exists()
    data = make_image_folder(tmp_path / "new", {"apple": 2, "banana": 2, "cherry": 2})
    pred = run_predict(td.wd, PredictConfig(data=data, method="css", device="cpu"))  # the saved network
    assert pred.counts == {"images": 6, "predicted": 6, "failed": 0}


@pytest.mark.slow
def test_css_ssl_prompts_and_reviewer_decisions(tmp_path, tiny_model, monkeypatch):
    from trainkit import write_decisions

    import labelclean.train.css.trainer as trainer

    kinds = []
    real = trainer.train_transform
    monkeypatch.setattr(trainer, "train_transform", lambda pp, kind: kinds.append((pp.mean, kind)) or real(pp, kind))
    td = make_train_workdir(tmp_path / "w", tiny_model=tiny_model)
    write_decisions(td.wd, {td.sample_ids[0]: ("drop", None), td.sample_ids[1]: ("relabel", "cherry")})
    s = run_train(td.wd, css_cfg(epochs=2, pretrain_epochs=0, prompt_training="ssl")).summary
    # the network's strong views are the usual ones, the prompts' (CLIP's normalisation) keep colours
    strong = {kind: mean for mean, kind in kinds if kind.startswith("strong")}
    assert set(strong) == {"strong", "strong-keep-colour"} and strong["strong"] != strong["strong-keep-colour"]
    assert s["complete"] and s["n_pool"] == 35  # the dropped sample is out of the pool
    table = pq.read_table(td.wd.css).to_pydict()
    row = {sid: i for i, sid in enumerate(table["sample_id"])}
    assert table["p_clean"][row[td.sample_ids[0]]] is None
    rows = _rows(td.wd.train_dir / "css" / "metrics.csv")
    assert rows[-1]["loss_prompt"] != "" and rows[-1]["prompt_acc"] == ""


def test_select_uses_css_parquet_as_an_estimator(tmp_path, tiny_model):
    from labelclean.stages.configs import ScoreConfig, SelectConfig
    from labelclean.stages.score import run_score
    from labelclean.stages.select import run_select

    td = make_train_workdir(tmp_path / "w", tiny_model=tiny_model, selection=False)
    run_train(td.wd, css_cfg(epochs=2, pretrain_epochs=0, prompt_training="none"))
    mid = json.loads(td.wd.run_json.read_text())["model"]["model_id"]
    _relabel_model_id(td.wd, mid)  # the fabricated embeddings claim the tiny model's identity
    run_score(td.wd, ScoreConfig(estimators="logreg", folds=2))  # score with what select uses
    rep = run_select(td.wd, SelectConfig(estimators="logreg,css"))
    assert rep.estimators == ["logreg", "css"]
    assert any(k.startswith("css:") for k in rep.failed_criteria) or rep.kept == 36
    with pytest.raises(UsageError, match="deft not available") as e:
        run_select(td.wd, SelectConfig(estimators="logreg,deft"))
    assert "train --method deft" in e.value.hint


def _relabel_model_id(wd, mid):
    from labelclean.store import parquet_io

    for path in [wd.manifest, *sorted(wd.embeddings_dir.glob("*.parquet"))]:
        table = pq.read_table(path)
        meta = read_meta(path)
        parquet_io.write_table(path, table.replace_schema_metadata(None), meta.pop("table"),
                               **{**meta, "model_id": mid})


@pytest.mark.slow
def test_css_resume_is_bit_exact(tmp_path, tiny_model):
    a = make_train_workdir(tmp_path / "a", tiny_model=tiny_model, selection=False)
    b = make_train_workdir(tmp_path / "b", tiny_model=tiny_model, selection=False)
    run_train(a.wd, css_cfg())
    assert not run_train(b.wd, css_cfg(stop_after=2)).summary["complete"]
    assert run_train(b.wd, css_cfg(resume=True)).summary["complete"]
    wa = torch.load(a.wd.train_dir / "css" / "model.pt", weights_only=True)
    wb = torch.load(b.wd.train_dir / "css" / "model.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert pq.read_table(a.wd.css).equals(pq.read_table(b.wd.css))
    assert pq.read_table(a.wd.learned_prompts("css")).equals(pq.read_table(b.wd.learned_prompts("css")))
    ra, rb = _rows(a.wd.train_dir / "css" / "metrics.csv"), _rows(b.wd.train_dir / "css" / "metrics.csv")
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb]
