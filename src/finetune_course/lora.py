"""LoRA by hand: a low-rank update beside a frozen ``nn.Linear`` or ``nn.Conv2d``, merged back for inference.

A wrapped layer computes with ``W + (alpha / rank) * B @ A`` instead of ``W``: ``W`` stays frozen,
and only ``A`` (``rank`` rows) and ``B`` (``rank`` columns) train. ``B`` starts at zero, so the
wrapped model starts exactly equal to the original; merging adds the update into ``W``, leaving a
plain layer with the same outputs and no extra cost. For a convolution the update has the shape of
its weight, ``(out, in / groups, kh, kw)``, so stride, padding and groups carry over unchanged.

Hugging Face PEFT does the same for many layer types: ``get_peft_model(model,
LoraConfig(r=..., lora_alpha=..., target_modules=[...]))`` wraps the named layers, and
``merge_and_unload()`` merges them back. Used in lesson 09 (Exercise 3 writes ``LoRA``).
"""

from __future__ import annotations

import copy
import io
import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from .models import set_submodule


class LoRA(nn.Module):
    """A frozen ``base`` layer (``nn.Linear`` or ``nn.Conv2d``) plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear | nn.Conv2d, rank: int, alpha: float):
        super().__init__()
        if not isinstance(base, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"LoRA wraps an nn.Linear or an nn.Conv2d; got {type(base).__name__}")
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be a positive int (the update's inner size, e.g. 4); got {rank!r}")
        self.base = base.requires_grad_(False)
        fan_in = base.weight[0].numel()  # in_features, or in_channels / groups * kh * kw
        self.A = nn.Parameter(torch.empty(rank, fan_in))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear initialises its weight (and PEFT, A)
        self.B = nn.Parameter(torch.zeros(base.weight.shape[0], rank))  # zero: the update starts at nothing
        self.scale = alpha / rank

    def delta_weight(self) -> torch.Tensor:
        """The update, scaled, in the shape of the base layer's weight."""
        return (self.B @ self.A).view_as(self.base.weight) * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.base.weight + self.delta_weight()
        if isinstance(self.base, nn.Linear):
            return F.linear(x, weight, self.base.bias)
        base = self.base
        return F.conv2d(x, weight, base.bias, base.stride, base.padding, base.dilation, base.groups)

    def merge(self) -> nn.Linear | nn.Conv2d:
        """A copy of the base layer with the update added to its weight: same outputs, no extra cost."""
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += self.delta_weight()
        return merged


def add_lora(model: nn.Module, pattern: str, *, rank: int, alpha: float) -> list[str]:
    """Wraps every ``nn.Linear`` and ``nn.Conv2d`` whose module name matches ``pattern`` (a regex).

    The rest of the model is left as it is (freeze it first). Returns the wrapped modules' names.

    Raises:
        ValueError: nothing matched.
    """
    regex = re.compile(pattern)
    names = [name for name, module in model.named_modules()
             if isinstance(module, (nn.Linear, nn.Conv2d)) and regex.search(name)]
    if not names:
        raise ValueError(f"pattern {pattern!r} matches no nn.Linear or nn.Conv2d; module names look like "
                         f"{[name for name, _ in model.named_modules()][1:4]}")
    for name in names:
        set_submodule(model, name, LoRA(model.get_submodule(name), rank, alpha))
    return names


def merge_lora(model: nn.Module) -> nn.Module:
    """Replaces every :class:`LoRA` in ``model`` by its merged base layer, in place; returns ``model``."""
    for name in [name for name, module in model.named_modules() if isinstance(module, LoRA)]:
        set_submodule(model, name, model.get_submodule(name).merge())
    return model


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable tensors only: what a run must store beside the pretrained checkpoint it started from."""
    return {name: param.detach().cpu() for name, param in model.named_parameters() if param.requires_grad}


def stored_bytes(state: dict[str, torch.Tensor]) -> int:
    """The size of ``torch.save(state)``, measured (float32 tensors plus the file's own overhead)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes
