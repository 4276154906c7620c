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

PLACEHOLDER = "X"


class TextTower:
    """The text half of an open_clip model, as plain references (nothing is copied)."""

    def __init__(self, clip: nn.Module):
        src = clip if hasattr(clip, "token_embedding") else getattr(clip, "text", None)
        if src is None or not hasattr(src, "token_embedding"):
            raise ModelError("DeFT needs a CLIP model with a text tower", "use an open_clip CLIP model for `embed`")
        if getattr(src, "cls_emb", None) is not None or getattr(src, "use_pad_mask", False):
            raise ModelError("DeFT does not support text towers with a class token or padding mask (CoCa-style)",
                             "use a plain CLIP model (e.g. ViT-B-32) for `embed`")
        self.token_embedding = src.token_embedding
        self.positional_embedding = src.positional_embedding
        self.transformer = src.transformer
        self.ln_final = src.ln_final
        self.projection = src.text_projection
        self.attn_mask = getattr(clip, "attn_mask", None) if src is clip else src.attn_mask
        self.pool_type = getattr(src, "text_pool_type", None) or getattr(src, "pool_type", "argmax")
        self.eos_id = getattr(src, "text_eos_id", None) if src is clip else getattr(src, "eos_id", None)

    def encode(self, embeddings: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(P, L, W) token embeddings of prompts with ids ``tokens`` -> (P, D) text features."""
        x = embeddings + self.positional_embedding.to(embeddings.dtype)
        x = self.transformer(x, attn_mask=self.attn_mask)
        x = self.ln_final(x)
        x = _pool_text(x, tokens, self.pool_type, self.eos_id)
        if self.projection is None:
            return x
        return self.projection(x) if isinstance(self.projection, nn.Linear) else x @ self.projection


def _pool_text(x: torch.Tensor, tokens: torch.Tensor, pool_type: str, eos_id: Any) -> torch.Tensor:
    rows = torch.arange(x.shape[0], device=x.device)
    if pool_type == "first":
        return x[:, 0]
    if pool_type == "last":
        return x[:, -1]
    if pool_type == "eos":
        return x[rows, (tokens == eos_id).int().argmax(dim=-1)]
    if pool_type == "argmax":
        return x[rows, tokens.argmax(dim=-1)]
    return x


class DualPrompts(nn.Module):
    """Positive and negative learned contexts shared across classes (N(0, 0.02) init)."""

    def __init__(self, text: TextTower, tokenizer: Any, prompt_names: Sequence[str], n_ctx: int):
        super().__init__()
        device = text.token_embedding.weight.device
        placeholder = " ".join([PLACEHOLDER] * n_ctx)
        probe = tokenizer([placeholder])[0]
        if int((probe != 0).sum()) != n_ctx + 2:
            raise ModelError(f"the tokenizer does not map '{PLACEHOLDER}' to one token", "DeFT needs a CLIP BPE tokenizer")
        tokens = tokenizer([f"{placeholder} {name}." for name in prompt_names]).to(device)
        with torch.no_grad():
            emb = text.token_embedding(tokens).float()
        width = emb.shape[-1]
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("prefix", emb[:, :1], persistent=False)
        self.register_buffer("suffix", emb[:, 1 + n_ctx :], persistent=False)
        self.ctx_pos = nn.Parameter(torch.randn(n_ctx, width, device=device) * 0.02)
        self.ctx_neg = nn.Parameter(torch.randn(n_ctx, width, device=device) * 0.02)

    def embeddings(self, ctx: torch.Tensor) -> torch.Tensor:
        k = self.prefix.shape[0]
        return torch.cat([self.prefix, ctx.unsqueeze(0).expand(k, -1, -1), self.suffix], dim=1)


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
