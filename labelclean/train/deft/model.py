"""DeFT's detector: VPT-deep on the CLIP image tower and dual (positive/negative) learned prompts.

The open_clip forward passes are reproduced from open_clip 3.3 (``VisionTransformer.forward``
and ``CLIP.encode_text``) with two insertions:

- image: before every transformer block, the previous block's prompt tokens are dropped and
  ``vpt_tokens`` fresh learned tokens are appended (VPT-deep); pooling sees only the original
  tokens;
- text: the token embeddings of the ``ctx_tokens`` placeholder words in
  ``"X X ... X {class prompt name}."`` are replaced by the shared learned context, one context
  for the positive prompts and one for the negative prompts (CoOp-style, class name at the end).

Everything in CLIP stays frozen (including ``logit_scale``); only the VPT tokens and the two
contexts train.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from labelclean.core.errors import ModelError
from labelclean.model.context import PLACEHOLDER, ContextTemplate, TextTower

__all__ = ["PLACEHOLDER", "DeftDetector", "DualPrompts", "TextTower"]


class DualPrompts(nn.Module):
    """Positive and negative learned contexts shared across classes (N(0, 0.02) init)."""

    def __init__(self, text: TextTower, tokenizer: Any, prompt_names: Sequence[str], n_ctx: int):
        super().__init__()
        self.template = ContextTemplate(text, tokenizer, prompt_names, n_ctx)
        device = text.token_embedding.weight.device
        width = self.template.width
        self.ctx_pos = nn.Parameter(torch.randn(n_ctx, width, device=device) * 0.02)
        self.ctx_neg = nn.Parameter(torch.randn(n_ctx, width, device=device) * 0.02)

    @property
    def tokens(self) -> torch.Tensor:
        return self.template.tokens

    def embeddings(self, ctx: torch.Tensor) -> torch.Tensor:
        return self.template.embeddings(ctx)


class DeftDetector(nn.Module):
    """Frozen CLIP + VPT-deep tokens + dual prompts. ``forward`` returns (pos_logits, neg_logits)."""

    def __init__(self, clip: nn.Module, tokenizer: Any, prompt_names: Sequence[str], *, vpt_tokens: int, ctx_tokens: int):
        super().__init__()
        visual = clip.visual
        if not all(hasattr(visual, a) for a in ("_embeds", "_pool", "transformer", "conv1")):
            raise ModelError("DeFT's visual prompts need an open_clip ViT image tower", "use a ViT CLIP model")
        clip.requires_grad_(False)
        clip.eval()
        self.clip = [clip]  # a list keeps the frozen model out of state_dict()
        self.text = TextTower(clip)
        width = visual.conv1.out_channels
        patch = visual.conv1.kernel_size[0]
        bound = math.sqrt(6.0 / float(3 * patch * patch + width))
        layers = len(visual.transformer.resblocks)
        device = visual.conv1.weight.device
        self.vpt = nn.Parameter(torch.empty(layers, vpt_tokens, width, device=device).uniform_(-bound, bound))
        self.prompts = DualPrompts(self.text, tokenizer, prompt_names, ctx_tokens)
        self.logit_scale = float(clip.logit_scale.detach().exp().clamp(max=100.0))

    def train(self, mode: bool = True) -> "DeftDetector":
        super().train(mode)
        self.clip[0].eval()  # CLIP stays in eval mode (no patch dropout) while the prompts train
        return self

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        v = self.clip[0].visual
        x = v._embeds(x)
        n = x.shape[1]
        batch_first = getattr(v.transformer, "batch_first", True)
        for i, block in enumerate(v.transformer.resblocks):
            prompts = self.vpt[i].to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
            x = torch.cat([x[:, :n], prompts], dim=1)
            x = block(x) if batch_first else block(x.transpose(0, 1)).transpose(0, 1)
        pooled, _ = v._pool(x[:, :n])
        if v.proj is not None:
            pooled = pooled @ v.proj
        return F.normalize(pooled.float(), dim=-1)

    def encode_prompts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, D) positive and negative class text features, L2-normalised."""
        p = self.prompts
        both = torch.cat([p.embeddings(p.ctx_pos), p.embeddings(p.ctx_neg)], dim=0)
        feats = F.normalize(self.text.encode(both, p.tokens.repeat(2, 1)).float(), dim=-1)
        k = p.tokens.shape[0]
        return feats[:k], feats[k:]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Positive logits s*cos(I, T+) (grads reach VPT and the positive context) and negative
        logits s*cos(stopgrad(I), T-) (grads reach only the negative context)."""
        img = self.encode_image(x)
        t_pos, t_neg = self.encode_prompts()
        s = self.logit_scale
        return s * img @ t_pos.t(), s * img.detach() @ t_neg.t()
