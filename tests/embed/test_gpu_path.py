"""Choices for the GPU path that can be checked without a GPU (the GPU itself: gpu_check.sh)."""

from __future__ import annotations

from types import SimpleNamespace

from labelclean.embed.images import auto_batch_size, auto_workers, vit_cost


def _vit(grid: int, width: int, layers: int):
    transformer = SimpleNamespace(width=width, resblocks=[None] * layers)
    return SimpleNamespace(visual=SimpleNamespace(grid_size=(grid, grid), transformer=transformer))


def test_cuda_batch_size_follows_the_model():
    b32, b16, l14, h14 = _vit(7, 768, 12), _vit(14, 768, 12), _vit(16, 1024, 24), _vit(16, 1280, 32)
    assert vit_cost(b32) == 50 * 768 * 12
    assert [auto_batch_size("cuda", m) for m in (b32, b16, l14, h14)] == [512, 512, 128, 64]
    assert auto_batch_size("cuda", SimpleNamespace(visual=SimpleNamespace())) == 256  # not a ViT
    assert auto_batch_size("cuda") == 256
    assert auto_batch_size("cpu", l14) == 64


def test_decode_workers_follow_the_cores():
    assert auto_workers("cuda", 16) == 15 and auto_workers("cuda", 1) == 0
    assert auto_workers("cpu", 2) == 0 and auto_workers("cpu", 16) == 4
