"""The course in one run: fine-tuning the course checkpoint vs training from scratch.

On the ``target`` task (5 shapes the checkpoint never saw, 20 labelled pictures each) it
trains three models with the same data:

a. head-only: backbone frozen, a new head trained on cached features (no augmentation: the
   cached features are computed once, from the pictures as they are);
b. staged: (a), then the convolutions of ``layer4`` unfrozen and trained with the head at
   lower rates (``layer4`` at a tenth of the head's), on augmented pictures (quarter turns and
   mirrors). ``layer4``'s BatchNorm layers stay frozen, so they stay in eval mode: with
   batches of 20, batch statistics would shift the features the head was trained on;
c. scratch: the same ResNet-18 with random weights, every layer trained, on the same
   augmented pictures, for as many epochs as (b) in all.

It prints a table and saves figures. ``finetune-course demo`` runs it.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.transforms import v2

from finetune_course.data import RandomRotateFlip, ShapesDataset, make_loader, make_shapes
from finetune_course.metrics import confusion_matrix
from finetune_course.models import (count_trainable, freeze_all, load_model, param_groups, replace_head,
                                    unfreeze, weight_change)
from finetune_course.plots import plot_confusion_matrix, plot_curves, plot_samples, plot_weight_changes
from finetune_course.train import History, fit, fit_cached, pick_device, predict, seed_everything
from finetune_course.weights import get_weights


@dataclass(frozen=True)
class DemoConfig:
    """Every setting of the demo, with the defaults that ``make demo`` uses."""

    per_class: int = 20
    head_epochs: int = 15
    stage2_epochs: int = 10
    head_lr: float = 1e-2
    stage2_lr: float = 1e-3  # the head's rate in stage 2; layer4 gets a tenth of it
    stage2_unfreeze: str = r"^layer4\.\d+\.(conv|downsample\.0)"  # layer4's convolutions
    scratch_lr: float = 1e-3
    batch_size: int = 20
    seed: int = 0


@dataclass
class RunResult:
    name: str
    history: History
    trainable: int
    seconds: float

    @property
    def val_acc(self) -> float:
        return self.history.val_acc[-1]


def run_demo(*, out_dir: str | Path = "demo_output", config: DemoConfig = DemoConfig(),
             device: str | None = None, progress: bool = True) -> dict:
    """Runs the three trainings, prints a table, writes figures and ``results.json`` to ``out_dir``."""
    device = pick_device(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    transform = get_weights("course").transforms()
    train_set = make_shapes("target", "train", per_class=config.per_class, seed=config.seed, transform=transform)
    val_set = make_shapes("target", "val", seed=config.seed, transform=transform)
    num_classes = len(train_set.classes)
    train_loader = make_loader(train_set, batch_size=config.batch_size, shuffle=True, seed=config.seed)
    augmented_set = ShapesDataset(train_set.images, train_set.targets, train_set.classes,
                                  transform=v2.Compose([RandomRotateFlip(), transform]))
    augmented_loader = make_loader(augmented_set, batch_size=config.batch_size, shuffle=True, seed=config.seed)
    val_loader = make_loader(val_set, batch_size=250)
    print(f"target task: {num_classes} classes {train_set.classes}, {len(train_set)} labelled training "
          f"pictures ({config.per_class} per class), {len(val_set)} held-out; device {device}")
    results: list[RunResult] = []

    # a. head-only: the pretrained backbone is a fixed feature extractor.
    seed_everything(config.seed)
    model = load_model(weights="course")
    pretrained = copy.deepcopy(model.state_dict())
    freeze_all(model, verbose=False)
    replace_head(model, num_classes, verbose=False)
    t = time.perf_counter()
    optimizer = torch.optim.Adam(param_groups(model, head_lr=config.head_lr, verbose=False))
    history = fit_cached(model, train_loader, val_loader, optimizer=optimizer, num_epochs=config.head_epochs,
                         cut="avgpool", device=device, progress=progress)
    results.append(RunResult("head-only", history, count_trainable(model).params, time.perf_counter() - t))

    # b. staged: continue from (a) with layer4's convolutions unfrozen, a new optimizer, lower rates.
    staged = copy.deepcopy(model)
    unfreeze(staged, config.stage2_unfreeze, verbose=False)
    seed_everything(config.seed)
    t = time.perf_counter()
    optimizer = torch.optim.Adam(param_groups(staged, head_lr=config.stage2_lr,
                                              backbone_lr=config.stage2_lr / 10, verbose=False))
    stage2 = fit(staged, augmented_loader, val_loader, optimizer=optimizer, num_epochs=config.stage2_epochs,
                 device=device, progress=progress, desc="epochs (stage 2)")
    results.append(RunResult("staged", history + stage2, count_trainable(staged).params,
                             results[0].seconds + time.perf_counter() - t))

    # c. scratch: same architecture and data, random weights, everything trains.
    seed_everything(config.seed)
    scratch = load_model(weights=None, num_classes=num_classes)
    scratch_init = copy.deepcopy(scratch.state_dict())
    t = time.perf_counter()
    optimizer = torch.optim.Adam(scratch.parameters(), lr=config.scratch_lr)
    scratch_epochs = config.head_epochs + config.stage2_epochs
    history = fit(scratch, augmented_loader, val_loader, optimizer=optimizer, num_epochs=scratch_epochs,
                  device=device, progress=progress, desc="epochs (scratch)")
    results.append(RunResult("scratch", history, count_trainable(scratch).params, time.perf_counter() - t))

    # Figures.
    figures = {"curves": plot_curves({r.name: r.history for r in results},
                                     title="fine-tuning the course checkpoint vs training from scratch",
                                     marks={"stage 2": config.head_epochs + 0.5})}
    outputs, labels = predict(staged, val_loader, device=device)
    predictions = outputs.argmax(dim=1)
    figures["confusion_matrix"] = plot_confusion_matrix(confusion_matrix(labels, predictions, num_classes),
                                                        train_set.classes, title="staged fine-tuning, held-out")
    figures["samples"] = plot_samples(val_set.images[:16], labels[:16].tolist(), train_set.classes,
                                      predictions[:16].tolist())
    figures["weight_changes"] = plot_weight_changes({
        "staged (from the checkpoint)": weight_change(pretrained, staged.cpu()),
        "scratch (from random)": weight_change(scratch_init, scratch.cpu())}, log=True)
    for name, fig in figures.items():
        fig.savefig(out_dir / f"{name}.png", dpi=100)

    head_epochs = config.head_epochs
    summary = {
        "config": config.__dict__,
        "device": str(device),
        "runs": {r.name: {"val_acc": r.val_acc, "epochs": r.history.num_epochs, "trainable": r.trainable,
                          "seconds": round(r.seconds, 2), "history": r.history.to_dict()} for r in results},
        # Head-only against scratch after the same number of epochs.
        "scratch_val_acc_at_head_epochs": results[2].history.val_acc[head_epochs - 1],
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out_dir / "results.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\n{'run':<11}{'trainable':>12}{'epochs':>8}{'held-out acc':>14}{'seconds':>9}")
    for r in results:
        print(f"{r.name:<11}{r.trainable:>12,}{r.history.num_epochs:>8}{r.val_acc:>14.3f}{r.seconds:>9.1f}")
    print(f"scratch after {head_epochs} epochs (as many as head-only): "
          f"{summary['scratch_val_acc_at_head_epochs']:.3f}")
    print(f"\nfigures: {', '.join(str(out_dir / f'{n}.png') for n in figures)}")
    print(f"total {summary['seconds']:.1f} s")
    return summary
