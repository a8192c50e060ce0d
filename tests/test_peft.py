"""Lesson 09's helpers: the shifted task, learning rates by depth, BatchNorm-and-bias training, LoRA."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models import mobilenet_v2, resnet18, resnet50

from finetune_course import lora
from finetune_course.data import TASKS, make_shapes
from finetune_course.models import (batchnorm_and_bias_only, batchnorm_statistics_eval, frozen_batchnorm_eval,
                                    lr_by_depth)
from finetune_course.train import train_one_epoch


def test_the_shifted_task_has_the_target_classes_and_other_pictures():
    assert TASKS["target_shifted"].classes == TASKS["target"].classes
    shifted, plain = make_shapes("target_shifted", "val", per_class=4), make_shapes("target", "val", per_class=4)
    again = make_shapes("target_shifted", "val", per_class=4)
    assert torch.equal(shifted.images, again.images), "deterministic"
    assert torch.equal(shifted.targets, plain.targets)
    # striped backgrounds and more noise: neighbouring pixels differ far more than in the plain task
    def roughness(images):
        return (images[:, :, :, 1:].float() - images[:, :, :, :-1].float()).abs().mean().item()
    assert roughness(shifted.images) > 1.5 * roughness(plain.images)
    # (the other tasks' pictures are pinned by their sha256 in test_data.py)


@pytest.mark.parametrize("builder", [resnet18, resnet50])
def test_lr_by_depth_gives_each_block_its_rate_and_skips_frozen(builder):
    model = builder(weights=None, num_classes=3)
    model.layer1.requires_grad_(False)
    model.conv1.requires_grad_(False)
    groups = lr_by_depth(model, 1e-3, 0.5)
    assert [g["name"] for g in groups] == ["fc", "layer4", "layer3", "layer2", "stem"]
    depth = {"fc": 0, "layer4": 1, "layer3": 2, "layer2": 3, "stem": 5}
    assert all(math.isclose(g["lr"], 1e-3 * 0.5 ** depth[g["name"]]) for g in groups)
    held = [id(p) for g in groups for p in g["params"]]
    assert len(held) == len(set(held)) and set(held) == {id(p) for p in model.parameters() if p.requires_grad}
    assert [g["name"] for g in groups if any(p is model.bn1.weight for p in g["params"])] == ["stem"]
    torch.optim.AdamW(groups)


def test_lr_by_depth_refuses_a_model_that_is_not_a_resnet():
    with pytest.raises(ValueError, match="features"):
        lr_by_depth(mobilenet_v2(weights=None), 1e-3, 0.5)


def test_batchnorm_and_bias_only_trains_exactly_those_and_the_head():
    model = batchnorm_and_bias_only(mobilenet_v2(weights=None, num_classes=4))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    bn = {f"{n}.{w}" for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d) for w in ("weight", "bias")}
    assert trainable == bn | {"classifier.1.weight", "classifier.1.bias"}
    # frozen_batchnorm_eval switches none of these layers: their weights train
    model.train()
    assert frozen_batchnorm_eval(model) == []


def test_batchnorm_statistics_eval_keeps_statistics_and_gradients_through_train_one_epoch():
    torch.manual_seed(0)
    model = batchnorm_and_bias_only(resnet18(weights=None, num_classes=2))
    stats = {n: b.clone() for n, b in model.named_buffers() if "running" in n}
    weight = model.layer2[0].bn1.weight.detach().clone()
    loader = [(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 0, 1]))]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, progress=False, train_mode=batchnorm_statistics_eval)
    assert all(torch.equal(b, stats[n]) for n, b in model.named_buffers() if "running" in n)
    assert not torch.equal(weight, model.layer2[0].bn1.weight), "the BatchNorm weights still train"
    # without it, the statistics drift (what the lesson warns about)
    train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, progress=False)
    assert not torch.equal(stats["bn1.running_mean"], model.bn1.running_mean)


@pytest.mark.parametrize("base", [nn.Linear(12, 5), nn.Conv2d(6, 9, 3, stride=2, padding=1, groups=3),
                                  nn.Conv2d(4, 4, 3, groups=4, bias=False)], ids=["linear", "grouped", "depthwise"])
def test_lora_starts_equal_computes_w_plus_scaled_ba_and_merges_to_the_same_outputs(base):
    torch.manual_seed(0)
    x = torch.randn(2, 12) if isinstance(base, nn.Linear) else torch.randn(2, base.in_channels, 7, 7)
    wrapped = lora.LoRA(base, 2, 6)
    assert torch.equal(wrapped(x), base(x))
    assert [n for n, p in wrapped.named_parameters() if p.requires_grad] == ["A", "B"]
    with torch.no_grad():
        wrapped.B.normal_()
    delta = (3.0 * wrapped.B @ wrapped.A).detach().reshape(base.weight.shape)  # alpha / rank = 3
    if isinstance(base, nn.Linear):
        want = F.linear(x, base.weight + delta, base.bias)
    else:
        want = F.conv2d(x, base.weight + delta, base.bias, base.stride, base.padding, base.dilation, base.groups)
    assert torch.allclose(wrapped(x), want, atol=1e-5)
    merged = wrapped.merge()
    assert type(merged) is type(base) and torch.allclose(merged(x), want, atol=1e-5)


def test_add_lora_wraps_by_name_and_merge_lora_restores_plain_layers():
    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=3).eval()
    model.requires_grad_(False)
    names = lora.add_lora(model, r"^layer4\.\d+\.(conv\d|downsample\.0)$", rank=2, alpha=4)
    assert names == ["layer4.0.conv1", "layer4.0.conv2", "layer4.0.downsample.0", "layer4.1.conv1", "layer4.1.conv2"]
    adapter = lora.trainable_state(model)
    numbers = sum(t.numel() for t in adapter.values())
    assert len(adapter) == 10 and numbers == sum(2 * (m.base.weight[0].numel() + m.base.weight.shape[0])
                                                 for m in model.modules() if isinstance(m, lora.LoRA))
    assert 4 * numbers < lora.stored_bytes(adapter) < 4 * numbers + 16_384  # float32, plus the file's own overhead
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, lora.LoRA):
                module.B.normal_(std=0.01)
        before = model(x)
        lora.merge_lora(model)
        assert torch.allclose(model(x), before, atol=1e-4)
    assert not any(isinstance(m, lora.LoRA) for m in model.modules())
    with pytest.raises(ValueError, match="matches no"):
        lora.add_lora(model, "nothing_here", rank=1, alpha=1)
    with pytest.raises(ValueError, match="rank"):
        lora.LoRA(nn.Linear(2, 2), 0, 1)
