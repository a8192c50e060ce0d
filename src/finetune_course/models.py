"""Load a model; freeze, unfreeze and count; find and replace the head; parameter groups.

Everything returns or changes a standard torchvision classifier (``resnet18`` by default,
``mobilenet_v2``, ``resnet50``), so ``model.fc``, ``model.layer4`` and ``model.named_parameters()``
are exactly what you see in any PyTorch tutorial. Helpers that change what trains print one
line saying what is trainable now.

Used in lessons 02, 03, 04, 07 and 09.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from finetune_course.weights import Weights, check_arch, get_weights

# Layer groups of a ResNet as data: name -> regular expression on parameter names.
RESNET_GROUPS = {
    "stem": r"^(conv1|bn1)\.",
    "layer1": r"^layer1\.",
    "layer2": r"^layer2\.",
    "layer3": r"^layer3\.",
    "layer4": r"^layer4\.",
    "head": r"^fc\.",
}


def load_model(*, arch: str = "resnet18", weights: str | Weights | None = "course",
               num_classes: int | None = None) -> nn.Module:
    """A standard torchvision model with the chosen weights.

    Args:
        arch: ``"resnet18"`` (the default), ``"mobilenet_v2"`` or ``"resnet50"``.
        weights: ``"course"`` (the course's checkpoint for that architecture, offline),
            ``"imagenet"`` (its pinned ``IMAGENET1K_V1`` weights; the file must be in
            ``TORCH_HOME``) or None (random initialisation, to train from scratch).
        num_classes: if given and different from the weights' classes, the head is replaced
            by a new trainable ``nn.Linear`` with this many outputs.

    Used in lessons 01, 07 and 08.
    """
    from torchvision import models

    builder = getattr(models, check_arch(arch))
    if isinstance(weights, str) or weights is None:
        weights = get_weights(weights, arch=arch)
    elif weights.arch != arch:
        raise ValueError(f"these are {weights.arch} weights; pass arch={weights.arch!r} or weights for {arch}")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive int; got {num_classes!r}")
    if weights is None:
        return builder(weights=None, num_classes=num_classes or 1000)
    model = builder(weights=None, num_classes=len(weights.categories))
    model.load_state_dict(weights.state_dict())
    if num_classes is not None and num_classes != len(weights.categories):
        replace_head(model, num_classes, verbose=False)
    return model


@dataclass(frozen=True)
class TrainableCount:
    """How much of a model trains: parameters (numbers) and tensors, of each total."""

    params: int
    total_params: int
    tensors: int
    total_tensors: int

    def __str__(self) -> str:
        return (f"trainable: {self.params:,} of {self.total_params:,} parameters "
                f"({self.tensors} of {self.total_tensors} tensors)")


def count_trainable(model: nn.Module) -> TrainableCount:
    """Counts trainable parameters two ways.

    ``sum(p.requires_grad for p in model.parameters())`` counts parameter *tensors* (62 in a
    ResNet-18); ``sum(p.numel() ...)`` counts the numbers inside them (about 11 million).

    Used in lesson 02.
    """
    params = list(model.parameters())
    return TrainableCount(
        params=sum(p.numel() for p in params if p.requires_grad),
        total_params=sum(p.numel() for p in params),
        tensors=sum(p.requires_grad for p in params),
        total_tensors=len(params),
    )


def _report(model: nn.Module, verbose: bool) -> TrainableCount:
    count = count_trainable(model)
    if verbose:
        print(count)
    return count


def freeze_all(model: nn.Module, *, verbose: bool = True) -> TrainableCount:
    """Sets ``requires_grad = False`` on every parameter. Used in lesson 02."""
    for param in model.parameters():
        param.requires_grad = False
    return _report(model, verbose)


def _set_by_pattern(model: nn.Module, pattern: str, requires_grad: bool, verbose: bool) -> TrainableCount:
    regex = re.compile(pattern)
    matched = [param for name, param in model.named_parameters() if regex.search(name)]
    if not matched:
        examples = ", ".join(name for name, _ in list(model.named_parameters())[:3])
        raise ValueError(f"pattern {pattern!r} matches no parameter name; names look like {examples}, ... "
                         "(e.g. 'layer4' or r'^fc\\.')")
    for param in matched:
        param.requires_grad = requires_grad
    return _report(model, verbose)


def freeze(model: nn.Module, pattern: str, *, verbose: bool = True) -> TrainableCount:
    """Freezes the parameters whose name matches ``pattern`` (a regex, e.g. ``'layer4'``).

    Raises:
        ValueError: nothing matched (a typo would otherwise freeze nothing, silently).
    """
    return _set_by_pattern(model, pattern, False, verbose)


def unfreeze(model: nn.Module, pattern: str, *, verbose: bool = True) -> TrainableCount:
    """Unfreezes the parameters whose name matches ``pattern``, e.g. ``unfreeze(model, 'layer4|fc')``.

    Used in lessons 02 and 07.
    """
    return _set_by_pattern(model, pattern, True, verbose)


def head_name(model: nn.Module) -> str:
    """The attribute path of the classifier layer: ``"fc"`` (ResNet) or ``"classifier.N"``."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        return "fc"
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Linear):
        return "classifier"
    if isinstance(classifier, nn.Sequential):
        for index in reversed(range(len(classifier))):
            if isinstance(classifier[index], nn.Linear):
                return f"classifier.{index}"
    raise TypeError(f"{type(model).__name__} has no head this course knows: expected an nn.Linear at "
                    "model.fc (ResNet) or model.classifier[-1] (MobileNetV2, VGG, EfficientNet)")


def get_head(model: nn.Module) -> nn.Linear:
    """The final ``nn.Linear``: ``model.fc`` or the last Linear in ``model.classifier``. Used in lesson 03."""
    return model.get_submodule(head_name(model))


def replace_head(model: nn.Module, num_classes: int, *, verbose: bool = True) -> nn.Linear:
    """Puts a new ``nn.Linear(in_features, num_classes)`` where the head was, and returns it.

    The new layer is trainable (``requires_grad=True``) whatever was frozen before.

    Used in lesson 03.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int (how many classes your task has); got {num_classes!r}")
    path = head_name(model)
    old = model.get_submodule(path)
    new = nn.Linear(old.in_features, num_classes)
    set_submodule(model, path, new)
    _report(model, verbose)
    return new


def set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    """Put ``module`` at ``path`` ("fc", "classifier.6", "layer4.1.conv2") in place of what is there."""
    parent_path, _, child = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    if isinstance(parent, nn.Sequential) and child.isdigit():
        parent[int(child)] = module
    else:
        setattr(parent, child, module)


def param_groups(model: nn.Module, *, head_lr: float, backbone_lr: float | None = None,
                 weight_decay: float = 0.0, verbose: bool = True) -> list[dict]:
    """Parameter groups for ``torch.optim``: the head at ``head_lr``, the rest at ``backbone_lr``.

    Frozen parameters are left out, and so is a group with nothing trainable in it. With
    ``backbone_lr=None`` the backbone gets ``head_lr`` too.

    Raises:
        ValueError: nothing in the model is trainable (the optimizer would have nothing to do).

    Used in lessons 04 and 07.
    """
    prefix = head_name(model) + "."
    head, backbone = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (head if name.startswith(prefix) else backbone).append(param)
    if not head and not backbone:
        raise ValueError("no parameter of the model is trainable, so an optimizer would have nothing to "
                         "update; unfreeze the head (or more) first")
    lrs = {"head": head_lr, "backbone": head_lr if backbone_lr is None else backbone_lr}
    groups = [{"name": name, "params": params, "lr": lrs[name], "weight_decay": weight_decay}
              for name, params in (("head", head), ("backbone", backbone)) if params]
    if verbose:
        for group in groups:
            n = sum(p.numel() for p in group["params"])
            print(f"param group {group['name']}: {len(group['params'])} tensors, {n:,} parameters, lr {group['lr']:g}")
    return groups


def _block_of(name: str) -> str:
    first = name.split(".")[0]
    return "stem" if first in ("conv1", "bn1") else first


RESNET_DEPTH = ("fc", "layer4", "layer3", "layer2", "layer1", "stem")  # from the head down


def lr_by_depth(model: nn.Module, lr: float, decay: float) -> list[dict]:
    """Parameter groups for a ResNet whose rates fall by ``decay`` per block below the head.

    ``fc`` at ``lr``, ``layer4`` at ``lr * decay``, ``layer3`` at ``lr * decay ** 2`` and so on
    down to the stem (``conv1``, ``bn1``) at ``lr * decay ** 5``: layers near the input hold the
    most general features, so they move least (timm's ``layer_decay``, 0.75 by default, does this
    per block; fast.ai's ``slice(lr / 100, lr)`` spreads rates the same way). Frozen parameters
    are left out, and so is a group with nothing trainable.

    Used in lesson 09 (Exercise 1 writes it).
    """
    names = [name for name, _ in model.named_parameters()]
    unknown = sorted({_block_of(n) for n in names} - set(RESNET_DEPTH))
    if unknown:
        raise ValueError(f"lr_by_depth knows a ResNet's blocks {RESNET_DEPTH}; this model also has {unknown}")
    groups = []
    for depth, block in enumerate(RESNET_DEPTH):
        params = [p for n, p in model.named_parameters() if p.requires_grad and _block_of(n) == block]
        if params:
            groups.append({"name": block, "params": params, "lr": lr * decay ** depth})
    return groups


def batchnorm_and_bias_only(model: nn.Module) -> nn.Module:
    """Leaves trainable only every bias, every BatchNorm weight and the head (BitFit with BatchNorm).

    Everything else is frozen. Train it with :func:`batchnorm_statistics_eval` as the switch to
    training mode, so that the BatchNorm layers keep their pretrained statistics.

    Used in lesson 09 (Exercise 2 writes it).
    """
    head = head_name(model) + "."
    for name, param in model.named_parameters():
        param.requires_grad = name.endswith(".bias") or name.startswith(head)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None:
            module.weight.requires_grad = True
    return model


def batchnorm_statistics_eval(model: nn.Module) -> nn.Module:
    """``model.train()``, except that every BatchNorm layer runs in eval mode.

    Its running statistics stay the pretrained ones while its weight and bias still train (if
    they require gradients): what BatchNorm-and-bias fine-tuning needs, since
    :func:`frozen_batchnorm_eval` only switches layers whose parameters are all frozen.
    mmdetection calls this ``norm_eval``. Pass it to ``fit(..., train_mode=...)``.

    Used in lesson 09 (Exercise 2 writes it).
    """
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def frozen_batchnorm_eval(model: nn.Module) -> list[str]:
    """Puts every BatchNorm layer whose parameters are all frozen into eval mode.

    ``requires_grad = False`` stops the optimizer changing a BatchNorm's weight and bias, but
    in ``model.train()`` the layer still updates its running mean and variance from each
    batch. Call this after ``model.train()`` to keep a frozen part truly frozen.

    Returns:
        The names of the layers it switched to eval mode.

    Used in lesson 02.
    """
    switched = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                module.eval()
                switched.append(name)
    return switched


def weight_change(before: dict[str, torch.Tensor], model: nn.Module) -> dict[str, float]:
    """Relative change ``||w - w0|| / ||w0||`` of each parameter tensor since ``before``.

    ``before`` is a copy of ``model.state_dict()`` taken before training. Left out: tensors
    whose shape changed (a replaced head) and tensors that started at zero (BatchNorm biases of
    a new model), for which a relative change means nothing. Used in lessons 01 and 07.
    """
    changes = {}
    for name, param in model.named_parameters():
        old = before.get(name)
        if old is None or old.shape != param.shape:
            continue
        old = old.detach().float().cpu()
        if old.norm() == 0:
            continue
        changes[name] = float((param.detach().float().cpu() - old).norm() / old.norm())
    return changes
