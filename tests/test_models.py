"""Freezing, counting, heads and parameter groups do exactly what they say, on the right tensors."""

import copy

import pytest
import torch
from torch import nn
from torchvision.models import efficientnet_b0, mobilenet_v2, resnet18

from finetune_course.models import (count_trainable, freeze, freeze_all, frozen_batchnorm_eval, get_head,
                                    head_name, load_model, param_groups, replace_head, unfreeze, weight_change)


@pytest.fixture
def model():
    return resnet18(weights=None, num_classes=12)


def trainable_names(model):
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_load_model_returns_a_standard_resnet18_with_the_course_weights():
    model = load_model()
    assert type(model).__name__ == "ResNet" and model.fc.out_features == 12
    assert len(list(model.parameters())) == 62
    assert model.training and all(p.requires_grad for p in model.parameters())
    scratch = load_model(weights=None, num_classes=5)
    assert scratch.fc.out_features == 5 and not torch.equal(scratch.conv1.weight, model.conv1.weight)


def test_load_model_with_num_classes_replaces_only_the_head():
    pretrained = load_model()
    model = load_model(num_classes=5)
    assert model.fc.out_features == 5 and model.fc.weight.requires_grad
    assert torch.equal(model.layer4[1].conv2.weight, pretrained.layer4[1].conv2.weight)
    with pytest.raises(ValueError, match="positive int"):
        load_model(num_classes=0)


def test_freeze_all_then_count(model, capsys):
    count = freeze_all(model)
    assert (count.params, count.tensors) == (0, 0)
    assert count.total_params == sum(p.numel() for p in model.parameters()) and count.total_tensors == 62
    assert capsys.readouterr().out.strip() == "trainable: 0 of 11,182,668 parameters (0 of 62 tensors)"


def test_count_distinguishes_tensors_from_parameters(model, capsys):
    freeze_all(model, verbose=False)
    replace_head(model, 5)
    assert capsys.readouterr().out.strip() == "trainable: 2,565 of 11,179,077 parameters (2 of 62 tensors)"
    count = count_trainable(model)
    # the seed's idiom counts tensors; numel counts numbers
    assert count.tensors == sum(p.requires_grad for p in model.parameters()) == 2
    assert count.params == sum(p.numel() for p in model.parameters() if p.requires_grad) == 512 * 5 + 5


def test_unfreeze_by_name_touches_exactly_the_matching_tensors(model):
    freeze_all(model, verbose=False)
    unfreeze(model, "layer4|fc", verbose=False)
    expected = {n for n, _ in model.named_parameters() if n.startswith(("layer4.", "fc."))}
    assert trainable_names(model) == expected and len(expected) == 17


def test_freeze_by_pattern_leaves_the_rest(model):
    freeze(model, r"^(conv1|bn1|layer1)\.", verbose=False)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters() if n.startswith(("conv1.", "bn1.", "layer1."))}


def test_pattern_that_matches_nothing_is_an_error_not_a_silent_noop(model):
    with pytest.raises(ValueError, match="'layr4' matches no parameter name; names look like conv1.weight"):
        unfreeze(model, "layr4")
    assert all(p.requires_grad for p in model.parameters())


def test_get_and_replace_head_of_a_resnet(model):
    assert get_head(model) is model.fc and head_name(model) == "fc"
    freeze_all(model, verbose=False)
    head = replace_head(model, 10, verbose=False)
    assert model.fc is head and (head.in_features, head.out_features) == (512, 10)
    assert trainable_names(model) == {"fc.weight", "fc.bias"}
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("build, path", [(mobilenet_v2, "classifier.1"), (efficientnet_b0, "classifier.1")])
def test_heads_of_other_architectures(build, path):
    net = build(weights=None, num_classes=7)
    assert head_name(net) == path and get_head(net) is net.classifier[1]
    head = replace_head(net, 3, verbose=False)
    assert net.classifier[1] is head and head.out_features == 3
    net.eval()
    assert net(torch.randn(1, 3, 64, 64)).shape == (1, 3)


def test_vgg_style_classifier_uses_the_last_linear():
    class Tiny(nn.Module):  # VGG's layout, small enough for a test
        def __init__(self):
            super().__init__()
            self.features = nn.Conv2d(3, 4, 3)
            self.classifier = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(), nn.Linear(8, 6))

    net = Tiny()
    assert head_name(net) == "classifier.3"
    replace_head(net, 2, verbose=False)
    assert net.classifier[3].out_features == 2 and net.classifier[0].out_features == 8


def test_model_without_a_known_head():
    with pytest.raises(TypeError, match="model.fc.*classifier"):
        get_head(nn.Sequential(nn.Conv2d(3, 3, 1)))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_replace_head_rejects_bad_num_classes(model, bad):
    with pytest.raises(ValueError, match="positive int"):
        replace_head(model, bad)


def test_param_groups_hold_exactly_the_trainable_parameters(model, capsys):
    freeze_all(model, verbose=False)
    unfreeze(model, "layer4", verbose=False)
    replace_head(model, 5, verbose=False)
    groups = param_groups(model, head_lr=1e-3, backbone_lr=1e-4)
    assert [g["name"] for g in groups] == ["head", "backbone"]
    assert [g["lr"] for g in groups] == [1e-3, 1e-4]
    grouped = {id(p) for g in groups for p in g["params"]}
    assert grouped == {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in groups[0]["params"]} == {id(model.fc.weight), id(model.fc.bias)}
    assert "param group head: 2 tensors, 2,565 parameters, lr 0.001" in capsys.readouterr().out
    optimizer = torch.optim.SGD(groups, lr=0.5)  # torch.optim takes the list as it is
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 1e-4]


def test_param_groups_skip_an_empty_group_and_refuse_nothing_trainable(model):
    freeze_all(model, verbose=False)
    unfreeze(model, "fc", verbose=False)
    assert [g["name"] for g in param_groups(model, head_lr=0.01, verbose=False)] == ["head"]
    freeze_all(model, verbose=False)
    with pytest.raises(ValueError, match="no parameter of the model is trainable"):
        param_groups(model, head_lr=0.01)


def test_frozen_batchnorm_keeps_running_statistics(model):
    freeze_all(model, verbose=False)
    replace_head(model, 3, verbose=False)
    before = copy.deepcopy(model.state_dict())
    inputs = torch.randn(8, 3, 64, 64) * 3 + 1

    model.train()
    model(inputs)  # the pitfall: frozen weights, but running stats still move in train mode
    assert not torch.equal(model.bn1.running_mean, before["bn1.running_mean"])

    model.load_state_dict(before)
    model.train()
    switched = frozen_batchnorm_eval(model)
    assert "bn1" in switched and "layer4.1.bn2" in switched and len(switched) == 20
    model(inputs)
    assert torch.equal(model.bn1.running_mean, before["bn1.running_mean"])
    assert model.fc.training, "only BatchNorm layers go to eval mode"


def test_frozen_batchnorm_leaves_trainable_ones_in_train_mode(model):
    freeze_all(model, verbose=False)
    unfreeze(model, "layer4", verbose=False)
    model.train()
    switched = frozen_batchnorm_eval(model)
    assert not any(name.startswith("layer4") for name in switched)
    assert model.layer4[0].bn1.training and not model.layer3[0].bn1.training


def test_weight_change_measures_relative_movement(model):
    before = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        model.layer4[0].conv1.weight.mul_(1.5)
    replace_head(model, 3, verbose=False)
    changes = weight_change(before, model)
    assert changes["layer4.0.conv1.weight"] == pytest.approx(0.5, rel=1e-5)
    assert changes["conv1.weight"] == 0.0
    assert "fc.weight" not in changes  # a new head has a new shape: nothing to compare


def test_weight_change_skips_tensors_that_started_at_zero(model):
    before = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        model.bn1.bias.add_(0.1)
    changes = weight_change(before, model)
    assert "bn1.bias" not in changes and changes["bn1.weight"] == 0.0
