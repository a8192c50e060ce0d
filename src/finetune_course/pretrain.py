"""Pretrain a course checkpoint: a standard torchvision model trained on the ``source`` shape task.

``finetune-course pretrain --arch ARCH`` runs this and writes ``<out>/ARCH_shapes_v1.pt`` and
``.json`` (classes, input size, normalisation, held-out accuracy of the file as shipped and of
the float32 model, sha256, and the command, seed and versions that made it). The file is
float16 where that fits in 25 MiB, else 8-bit matrices with per-tensor scales (see
:mod:`finetune_course.weights`). The checkpoints shipped in the package were made this way.
"""

from __future__ import annotations

import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from finetune_course.data import TASKS, make_loader, make_shapes
from finetune_course.shapes import IMAGE_SIZE
from finetune_course.train import evaluate, pick_device, seed_everything, train_one_epoch
from finetune_course.weights import (CHECKPOINT_DIR, INT8, ImageTransform, check_arch, checkpoint_path, load_checkpoint,
                                     pack, sha256_of)

MAX_MIB = 25  # the most a checkpoint may weigh in the repository


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of ``uint8`` pictures, on the [0, 1] scale."""
    x = images.double().div_(255)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3))
    return [round(float(m), 4) for m in mean], [round(float(s), 4) for s in std]


def pretrain(*, arch: str = "resnet18", out: str | Path = CHECKPOINT_DIR, num_epochs: int = 6,
             per_class: int = 800, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
             device: str | None = None, progress: bool = True) -> Path:
    """Trains ``arch`` from scratch on the source task and writes the checkpoint and its metadata.

    Returns:
        The path of the ``.pt`` file.
    """
    builder = getattr(torchvision.models, check_arch(arch))
    device = pick_device(device)
    seed_everything(seed)
    started = time.perf_counter()
    train_set = make_shapes("source", "train", per_class=per_class, seed=seed)
    val_set = make_shapes("source", "val", seed=seed)
    mean, std = channel_stats(train_set.images)
    transform = ImageTransform(crop_size=IMAGE_SIZE, resize_size=IMAGE_SIZE, mean=mean, std=std)
    train_set.transform = val_set.transform = transform
    train_loader = make_loader(train_set, batch_size=batch_size, shuffle=True, seed=seed)
    val_loader = make_loader(val_set, batch_size=256)

    model = builder(weights=None, num_classes=len(train_set.classes)).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=num_epochs,
                                                    steps_per_epoch=len(train_loader))
    for epoch in range(num_epochs):
        loss, acc = train_one_epoch(model, train_loader, criterion, optimizer, device=device,
                                    scheduler=scheduler, progress=progress, desc=f"pretrain {epoch + 1}/{num_epochs}")
        val_loss, val_acc = evaluate(model, val_loader, criterion, device=device)
        print(f"epoch {epoch + 1}/{num_epochs}: train loss {loss:.3f} acc {acc:.3f}, "
              f"held-out loss {val_loss:.3f} acc {val_acc:.3f}", flush=True)

    float32_acc = evaluate(model, val_loader, criterion, device=device)[1]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / checkpoint_path(arch).name
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    half_mib = sum(v.numel() * (2 if v.is_floating_point() else v.element_size()) for v in state.values()) / 2**20
    storage = "float16" if half_mib <= MAX_MIB else INT8
    torch.save(pack(state, storage), path)
    meta = {
        "name": "course_shapes_v1",
        "file": path.name,
        "sha256": sha256_of(path),
        "architecture": f"torchvision.models.{arch}",
        "storage": storage,
        "categories": list(train_set.classes),
        "input_size": IMAGE_SIZE,
        "resize_size": IMAGE_SIZE,
        "mean": mean,
        "std": std,
        "source_task": {"task": "source", "train_per_class": per_class,
                        "val_per_class": TASKS["source"].per_class["val"]},
        "recipe": {"command": (f"finetune-course pretrain --arch {arch} --epochs {num_epochs} --per-class {per_class} "
                               f"--batch-size {batch_size} --lr {lr:g} --seed {seed}"),
                   "optimizer": "AdamW(weight_decay=0.05) + OneCycleLR", "seed": seed,
                   "num_epochs": num_epochs, "batch_size": batch_size, "lr": lr},
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "device": str(device),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")

    # The accuracy that counts is the one of the file that ships, loaded back.
    state, _ = load_checkpoint(path)
    model.load_state_dict(state)
    meta["source_val_acc"] = round(evaluate(model, val_loader, criterion, device=device)[1], 4)
    meta["source_val_acc_float32"] = round(float32_acc, 4)
    meta["pretrain_seconds"] = round(time.perf_counter() - started, 1)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {storage}), held-out accuracy "
          f"{meta['source_val_acc']:.4f} as shipped, {float32_acc:.4f} in float32", flush=True)
    return path
