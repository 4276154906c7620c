"""Backbones: timm models, PreAct ResNet-18, local pretrained weights, the CLIP classifier, checkpoints."""

import numpy as np
import pytest
import torch

from labelclean.core.errors import ModelError, UsageError, WorkdirError
from labelclean.train.common.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from labelclean.train.common.models import build_classifier


def test_preact_resnet18_shapes():
    built = build_classifier("preact_resnet18", 5)
    assert built.preprocess.size == 32 and built.spec["kind"] == "preact"
    built.model.eval()
    with torch.no_grad():
        assert built.model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    n = sum(p.numel() for p in built.model.parameters())
    assert 11_000_000 < n < 11_300_000  # ResNet-18 size


def test_timm_backbone_uses_its_data_config():
    built = build_classifier("test_resnet", 3, image_size=32)
    assert built.preprocess.size == 32 and built.preprocess.mean == (0.5, 0.5, 0.5)
    assert built.spec == {"kind": "timm", "name": "test_resnet", "num_classes": 3, "image_size": 32}


def test_unknown_backbone_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown --backbone 'resnet1'"):
        build_classifier("resnet1", 3)


def test_pretrained_weights_load_and_the_old_head_is_dropped(tmp_path):
    torch.manual_seed(0)
    source = build_classifier("test_resnet", 10).model  # e.g. an ImageNet-style head of another size
    path = tmp_path / "w.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    built = build_classifier("test_resnet", 3, pretrained_backbone=path)
    r = built.load_report
    assert r["dropped_shape_mismatch"] == ["fc.weight", "fc.bias"] and not r["unexpected"]
    assert set(r["missing"]) == {"fc.weight", "fc.bias"}
    own = built.model.state_dict()
    assert torch.equal(own["conv1.0.weight"], source.state_dict()["conv1.0.weight"])


def test_pretrained_weights_of_another_architecture_fail(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"foo.weight": torch.zeros(3)}, path)
    with pytest.raises(ModelError, match="none of its 1 tensors match"):
        build_classifier("test_resnet", 3, pretrained_backbone=path)


def test_clip_classifier_freezes_embeddings_and_trains_blocks(tiny_model):
    from labelclean.model.encoder import load_encoder

    enc = load_encoder(tiny_model, device="cpu", precision="fp32")
    built = build_classifier("clip", 4, clip_encoder=lambda: enc)
    trainable = {n.split(".")[1] for n, p in built.model.named_parameters() if p.requires_grad and n.startswith("visual")}
    assert trainable == {"transformer"}
    assert built.model.head.in_features == 32  # pre-projection width of the tiny ViT
    assert built.spec["kind"] == "clip" and built.spec["model_id"] == enc.model_id
    out = built.model(torch.zeros(2, 3, enc.image_size, enc.image_size))
    assert out.shape == (2, 4)
    assert built.model.visual is not enc.model.visual  # a copy: the encoder itself is not modified
    assert enc.model.visual.conv1.weight.requires_grad


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    saved = rng_state()
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 2, "mask": torch.tensor([True, False]), "config": "{}"})
    a = (torch.rand(2), np.random.rand())
    set_rng_state(load_checkpoint(path)["rng"])
    b = (torch.rand(2), np.random.rand())
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    assert torch.equal(saved["torch"], load_checkpoint(path)["rng"]["torch"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_unreadable_checkpoint_is_a_workdir_error(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(WorkdirError, match="cannot be read"):
        load_checkpoint(path)
