"""DeFT: the clean decision on fixed embeddings, the losses, and the VPT / prompt forward passes."""

import numpy as np
import pytest
import torch

from labelclean.train.deft.method import complementary_labels, deft_loss, deft_scores, selection_quality


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_clean_decision_matches_the_formula_on_fixed_embeddings():
    rng = np.random.default_rng(0)
    img, t_pos, t_neg = _unit(rng.normal(size=(50, 8))), _unit(rng.normal(size=(4, 8))), _unit(rng.normal(size=(4, 8)))
    labels = rng.integers(0, 4, size=50)
    s = deft_scores(img, t_pos, t_neg, labels, scale=100.0)
    cos_pos = (img * t_pos[labels]).sum(1)
    cos_neg = (img * t_neg[labels]).sum(1)
    expected = np.exp(100 * cos_pos) / (np.exp(100 * cos_pos) + np.exp(100 * cos_neg))
    np.testing.assert_allclose(s.p_clean, expected, rtol=1e-5, atol=1e-7)
    assert s.clean.tolist() == (cos_pos > cos_neg).tolist()
    assert s.clean.tolist() == (s.p_clean > 0.5).tolist()
    assert s.pred.tolist() == (img @ t_pos.T).argmax(1).tolist()
    np.testing.assert_allclose(s.probs.sum(1), 1.0, rtol=1e-5)


def test_clean_decision_hand_case():
    img = np.array([[1.0, 0.0], [0.0, 1.0]])
    t_pos = np.array([[1.0, 0.0], [0.0, 1.0]])
    t_neg = np.array([[0.6, 0.8], [0.8, 0.6]])
    s = deft_scores(img, t_pos, t_neg, np.array([0, 0]), scale=10.0)
    # sample 0: cos+ = 1.0, cos- = 0.6 -> clean; sample 1: cos+ = 0.0, cos- = 0.8 -> noisy
    assert s.clean.tolist() == [True, False]
    np.testing.assert_allclose(s.p_clean, 1 / (1 + np.exp(-10 * np.array([0.4, -0.8]))), rtol=1e-6)


def test_scores_reject_bad_labels():
    with pytest.raises(ValueError, match="labels"):
        deft_scores(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), np.array([0, 2]), scale=1.0)


def _logits(b=6, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(b, k, generator=g, requires_grad=True)
    neg = torch.randn(b, k, generator=g, requires_grad=True)
    return pos, neg


def test_loss_grads_reach_negative_logits_only_through_l_dp():
    pos, neg = _logits()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    comp = complementary_labels(y, 3, torch.Generator().manual_seed(1))
    assert (comp != y).all()
    out = deft_loss(pos, neg, y, comp, torch.ones(6, dtype=torch.bool), warm=True)
    out.loss.backward()
    # L_dp uses the detached positive logit, so positive grads equal those of L_sim (CE) alone
    pos2 = pos.detach().clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(pos2, y).backward()
    torch.testing.assert_close(pos.grad, pos2.grad)
    assert neg.grad.abs().sum() > 0


def test_empty_selection_after_warmup_gives_zero_sim_loss_not_nan():
    pos = torch.zeros(4, 2, requires_grad=True)
    neg = torch.full((4, 2), 5.0, requires_grad=True)  # negative prompt wins everywhere -> nothing clean
    y = torch.tensor([0, 1, 0, 1])
    out = deft_loss(pos, neg, y, 1 - y, torch.ones(4, dtype=torch.bool), warm=False)
    assert out.clean.sum() == 0
    assert out.l_sim == 0.0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert torch.isfinite(pos.grad).all()


def test_undecodable_images_are_left_out_of_the_loss():
    pos, neg = _logits()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    comp = (y + 1) % 3
    valid = torch.tensor([True, True, True, False, False, False])
    part = deft_loss(pos, neg, y, comp, valid, warm=True)
    first = deft_loss(pos[:3], neg[:3], y[:3], comp[:3], torch.ones(3, dtype=torch.bool), warm=True)
    assert part.loss.item() == pytest.approx(first.loss.item(), rel=1e-6)
    assert not part.clean[3:].any()


def test_selection_quality():
    q = selection_quality(np.array([True, True, False, False]), np.array([0, 1, 1, 0]), np.array([0, 0, 1, -1]))
    assert q["clean_precision"] == pytest.approx(0.5) and q["clean_recall"] == pytest.approx(0.5)


@pytest.fixture(scope="module")
def encoder(tiny_model):
    from labelclean.model.encoder import load_encoder

    return load_encoder(tiny_model, device="cpu", precision="fp32")


def test_vpt_forward_reproduces_open_clip_without_prompt_tokens(encoder):
    from labelclean.train.deft.model import DeftDetector

    det = DeftDetector(encoder.model, encoder.tokenizer, ["red", "green"], vpt_tokens=0, ctx_tokens=4)
    x = torch.randn(3, 3, encoder.image_size, encoder.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = det.encode_image(x)
        ref = torch.nn.functional.normalize(encoder.model.encode_image(x), dim=-1)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_prompt_forward_reproduces_open_clip_text_encoder(encoder):
    from labelclean.train.deft.model import PLACEHOLDER, DeftDetector

    det = DeftDetector(encoder.model, encoder.tokenizer, ["red", "green apple"], vpt_tokens=2, ctx_tokens=4)
    p = det.prompts
    with torch.no_grad():  # put the placeholder word's own embedding into the context: plain text again
        word = encoder.model.token_embedding(encoder.tokenizer([PLACEHOLDER])[0, 1:2])[0]
        p.ctx_pos.copy_(word.expand_as(p.ctx_pos))
        t_pos, _ = det.encode_prompts()
        ref = encoder.model.encode_text(encoder.tokenizer([f"X X X X {n}." for n in ["red", "green apple"]]))
    torch.testing.assert_close(t_pos, torch.nn.functional.normalize(ref, dim=-1), rtol=1e-5, atol=1e-6)


def test_detector_trains_only_prompts_and_vpt(encoder):
    from labelclean.train.deft.model import DeftDetector

    det = DeftDetector(encoder.model, encoder.tokenizer, ["a", "b", "c"], vpt_tokens=5, ctx_tokens=3)
    names = sorted(n for n, p in det.named_parameters() if p.requires_grad)
    assert names == ["prompts.ctx_neg", "prompts.ctx_pos", "vpt"]
    assert tuple(det.vpt.shape) == (len(encoder.model.visual.transformer.resblocks), 5, 32)
    assert not any(p.requires_grad for p in encoder.model.parameters())
    x = torch.randn(2, 3, encoder.image_size, encoder.image_size)
    pos, neg = det(x)
    assert pos.shape == neg.shape == (2, 3)
    det.train()
    assert not encoder.model.training  # CLIP stays in eval mode
