"""Figures: learning curves, a confusion matrix, sample pictures, which layers moved.

Each function returns a ``matplotlib.figure.Figure`` (shown inline in a notebook, or saved
with ``fig.savefig``); none of them depends on the rest of the package.

Used in lessons 01, 05, 06 and 07.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def plot_curves(histories: Mapping[str, object], *, title: str | None = None,
                marks: Mapping[str, float] | None = None, log_loss: bool = False) -> Figure:
    """Loss and accuracy per epoch of several runs, side by side.

    Args:
        histories: run name -> a ``History`` (or a dict with ``train_loss``, ``val_acc``, ...).
        marks: label -> epoch, drawn as dotted vertical lines (e.g. ``{"stage 2": 15.5}``).
        log_loss: a log scale for the loss, so that one exploding run does not flatten the rest.
    """
    if not histories:
        raise ValueError("plot_curves needs at least one run: {'name': history}")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    runs = [history if isinstance(history, Mapping) else history.to_dict() for history in histories.values()]
    for i, (name, h) in enumerate(zip(histories, runs)):
        colour = f"C{i}"
        # a run that a later one repeats (staged training starts as head-only does) is drawn wider,
        # under it, so that both stay visible
        width = 4.5 if any(_repeats(later, h) for later in runs[i + 1:]) else 1.5
        epochs = range(1, len(h["train_loss"]) + 1)
        ax_loss.plot(epochs, h["train_loss"], "--", color=colour, linewidth=width, label=f"{name} (train)")
        ax_acc.plot(epochs, h["train_acc"], "--", color=colour, linewidth=width, label=f"{name} (train)")
        if h.get("val_loss"):
            ax_loss.plot(epochs, h["val_loss"], "-", color=colour, linewidth=width, label=f"{name} (held-out)")
            ax_acc.plot(epochs, h["val_acc"], "-", color=colour, linewidth=width, label=f"{name} (held-out)")
    for label, epoch in (marks or {}).items():
        for ax in (ax_loss, ax_acc):
            ax.axvline(epoch, color="grey", linestyle=":", linewidth=1)
        ax_acc.text(epoch, 0.03, f" {label}", color="grey", fontsize=8)
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss", yscale="log" if log_loss else "linear")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    ax_acc.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _repeats(later: Mapping, earlier: Mapping) -> bool:
    """Whether ``later`` draws over ``earlier``: the same values in some curve for two epochs or more."""
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        pairs = zip(later.get(key) or [], earlier.get(key) or [])
        if sum(abs(a - b) <= 1e-9 * max(1.0, abs(b)) for a, b in pairs) >= 2:
            return True
    return False


def plot_confusion_matrix(cm: torch.Tensor, class_names: Sequence[str], *, title: str = "confusion matrix") -> Figure:
    """The confusion matrix as a picture: rows are true classes, columns predictions."""
    cm = torch.as_tensor(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(f"need a square matrix with one row per class name; got {tuple(cm.shape)} "
                         f"and {len(class_names)} names")
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.1 * n + 2, 1.1 * n + 1.5))
    ax.imshow(cm.numpy(), cmap="Blues")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticklabels(class_names)
    threshold = cm.max().item() / 2
    for i in range(n):
        for j in range(n):
            value = cm[i, j].item()
            ax.text(j, i, f"{value:g}", ha="center", va="center",
                    color="white" if value > threshold else "black")
    fig.tight_layout()
    return fig


def plot_samples(images: torch.Tensor, labels: Sequence[int], class_names: Sequence[str],
                 predictions: Sequence[int] | None = None, *, columns: int = 8) -> Figure:
    """A grid of pictures titled with their label (and prediction: green right, red wrong).

    ``images`` are ``uint8`` or float in [0, 1], shape ``(N, 3, H, W)``: the raw pictures,
    not normalised model inputs.
    """
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"need images (N, 3, H, W) and N labels; got {tuple(images.shape)} and {len(labels)}")
    if len(images) == 0:
        raise ValueError("no pictures to show")
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:len(images)]):
        picture = images[i].permute(1, 2, 0)
        ax.imshow((picture if picture.dtype == torch.uint8 else picture.clamp(0, 1)).numpy())
        title, colour = class_names[labels[i]], "black"
        if predictions is not None:
            right = int(predictions[i]) == int(labels[i])
            title = title if right else f"{class_names[predictions[i]]}\n(true: {class_names[labels[i]]})"
            colour = "green" if right else "red"
        ax.set_title(title, fontsize=8, color=colour)
    fig.tight_layout()
    return fig


def _layer_of(name: str) -> str:
    match = re.match(r"^(layer\d+\.\d+|layer\d+|[a-z_]+\d*)", name)
    return match.group(1) if match else name


def plot_weight_changes(changes: Mapping[str, float] | Mapping[str, Mapping[str, float]], *,
                        title: str = "how far each layer's weights moved", log: bool = False) -> Figure:
    """Bar chart of relative weight change per block (from ``models.weight_change``).

    Pass ``{run name: changes}`` to compare runs. Parameter tensors are grouped by block
    (``conv1``, ``layer1.0``, ..., ``fc``); each bar is the mean change of the block's tensors.
    ``log=True`` shows small and large changes together (a block that did not move has no bar).
    """
    runs = changes if changes and isinstance(next(iter(changes.values())), Mapping) else {"": changes}
    if not any(runs.values()):
        raise ValueError("no weight changes to plot; pass models.weight_change(before, model)")
    layers: list[str] = []
    per_run = {}
    for run, values in runs.items():
        grouped: dict[str, list[float]] = {}
        for name, change in values.items():
            layer = _layer_of(name)
            grouped.setdefault(layer, []).append(change)
            if layer not in layers:
                layers.append(layer)
        per_run[run] = {layer: sum(v) / len(v) for layer, v in grouped.items()}
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(layers) + 2), 3.8))
    width = 0.8 / len(per_run)
    for i, (run, grouped) in enumerate(per_run.items()):
        xs = [x + i * width - 0.4 + width / 2 for x in range(len(layers))]
        ax.bar(xs, [grouped.get(layer, 0.0) for layer in layers], width, label=run or None)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="relative change ||w - w0|| / ||w0||", title=title)
    if log:
        ax.set_yscale("log")
    if len(per_run) > 1:
        ax.legend()
    fig.tight_layout()
    return fig
