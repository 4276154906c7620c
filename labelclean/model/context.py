"""Learned prompt context on a frozen open_clip text tower (CoOp-style), shared by DeFT and CSS.

A prompt for class c is ``[SOS] V_1 ... V_M <prompt name of c> . [EOS]``: the token embeddings of
M placeholder words in ``"X X ... X {prompt name}."`` are replaced by learned vectors shared
across classes, and the rest of ``CLIP.encode_text`` (open_clip 3.3) runs unchanged. Nothing
here imports open_clip: `TextTower` keeps references to the parts of a model that
``labelclean.model.encoder.load_encoder`` loaded, and nothing is copied or unfrozen.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from labelclean.core.errors import ModelError

PLACEHOLDER = "X"
INIT_PHRASE = "a photo of a"  # CSS / CoOp initialisation of the first context vectors


class TextTower:
    """The text half of an open_clip model, as plain references (nothing is copied)."""

    def __init__(self, clip: nn.Module):
        src = clip if hasattr(clip, "token_embedding") else getattr(clip, "text", None)
        if src is None or not hasattr(src, "token_embedding"):
            raise ModelError("learned prompts need a CLIP model with a text tower", "use an open_clip CLIP model for `embed`")
        if getattr(src, "cls_emb", None) is not None or getattr(src, "use_pad_mask", False):
            raise ModelError("learned prompts do not support text towers with a class token or padding mask (CoCa-style)",
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


class ContextTemplate(nn.Module):
    """The fixed parts of ``"X X ... X {name}."`` for every class: token ids, [SOS] and name embeddings.

    ``embeddings(ctx)`` puts a (M, W) context between them and returns (K, L, W).
    """

    def __init__(self, text: TextTower, tokenizer: Any, prompt_names: Sequence[str], n_ctx: int):
        super().__init__()
        if n_ctx < 1:
            raise ModelError(f"the prompt context needs at least 1 vector, got {n_ctx}")
        device = text.token_embedding.weight.device
        placeholder = " ".join([PLACEHOLDER] * n_ctx)
        probe = tokenizer([placeholder])[0]
        if int((probe != 0).sum()) != n_ctx + 2:
            raise ModelError(f"the tokenizer does not map '{PLACEHOLDER}' to one token, or {n_ctx} context vectors do "
                             "not fit its context length", "use a CLIP BPE tokenizer and fewer --ctx-tokens")
        tokens = tokenizer([f"{placeholder} {name}." for name in prompt_names]).to(device)
        if bool((tokens[:, -1] != 0).any()):
            raise ModelError(f"{n_ctx} context vectors and the longest class name do not fit the text context "
                             f"length ({tokens.shape[1]} tokens)", "use fewer --ctx-tokens or shorter prompt names")
        with torch.no_grad():
            emb = text.token_embedding(tokens).float()
        self.width = emb.shape[-1]
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("prefix", emb[:, :1], persistent=False)
        self.register_buffer("suffix", emb[:, 1 + n_ctx :], persistent=False)

    def embeddings(self, ctx: torch.Tensor) -> torch.Tensor:
        k = self.prefix.shape[0]
        return torch.cat([self.prefix, ctx.unsqueeze(0).expand(k, -1, -1).to(self.prefix.dtype), self.suffix], dim=1)


class CoopPrompts(nn.Module):
    """CSS's learned prompts: M context vectors shared across classes, frozen CLIP text tower.

    The first ``min(M, 4)`` vectors start as the token embeddings of "a photo of a", the rest
    as N(0, 0.02). ``forward()`` returns the (K, D) L2-normalised class
    text features; only ``ctx`` has gradients.
    """

    def __init__(self, clip: nn.Module, tokenizer: Any, prompt_names: Sequence[str], n_ctx: int = 16):
        super().__init__()
        clip.requires_grad_(False)  # both towers stay frozen; only the context learns
        self.text = TextTower(clip)
        self.template = ContextTemplate(self.text, tokenizer, prompt_names, n_ctx)
        device = self.text.token_embedding.weight.device
        init = tokenizer([INIT_PHRASE])[0]
        init_ids = init[1 : 1 + int((init != 0).sum()) - 2][:n_ctx].to(device)
        ctx = torch.randn(n_ctx, self.template.width, device=device) * 0.02
        with torch.no_grad():
            ctx[: len(init_ids)] = self.text.token_embedding(init_ids).float()
        self.ctx = nn.Parameter(ctx)
        self.n_init = int(len(init_ids))

    def forward(self) -> torch.Tensor:
        feats = self.text.encode(self.template.embeddings(self.ctx), self.template.tokens)
        return torch.nn.functional.normalize(feats.float(), dim=-1)
