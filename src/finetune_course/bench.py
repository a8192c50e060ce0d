"""Benchmarks behind ``finetune-course bench`` and the scripts in ``bench/``.

Each function returns a dict of figures; the scripts print them and write them to
``bench/results/``. Timings are wall-clock seconds on whatever machine runs them.
"""

from __future__ import annotations

import copy
import platform
import time

import torch

from finetune_course.data import make_loader, make_shapes
from finetune_course.models import freeze_all, load_model, param_groups, replace_head
from finetune_course.train import extract_features, fit, fit_cached, pick_device, seed_everything, split_model
from finetune_course.weights import get_weights


def machine() -> dict:
    """What the figures were measured on."""
    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def bench_head_only(*, num_epochs: int = 10, per_class: int = 20, batch_size: int = 20, lr: float = 1e-2,
                    seed: int = 0, device: str | None = None) -> dict:
    """Head-only training on cached features vs the naive loop, and one forward pass for scale.

    Figures: ``forward_s`` (the frozen backbone once over the training set), ``cached_s``
    (caching plus ``num_epochs`` of head training), ``naive_s`` (``num_epochs`` of the plain loop,
    backbone run every batch), their ratios, and the largest difference between the two heads.
    """
    device = pick_device(device)
    transform = get_weights("course").transforms()
    train_set = make_shapes("target", "train", per_class=per_class, seed=seed, transform=transform)
    num_classes = len(train_set.classes)

    def fresh_model():
        seed_everything(seed)
        model = load_model(weights="course")
        freeze_all(model, verbose=False)
        replace_head(model, num_classes, verbose=False)
        return model.to(device)

    def loader():
        return make_loader(train_set, batch_size=batch_size, shuffle=True, seed=seed)

    model = fresh_model()
    body, _ = split_model(model, "avgpool")
    extract_features(body, make_loader(train_set, batch_size=batch_size), device=device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    extract_features(body, make_loader(train_set, batch_size=batch_size), device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    forward_s = time.perf_counter() - t

    timings, heads = {}, {}
    for name, train in (("cached", fit_cached), ("naive", fit)):
        model = fresh_model()
        optimizer = torch.optim.Adam(param_groups(model, head_lr=lr, verbose=False))
        t = time.perf_counter()
        train(model, loader(), optimizer=optimizer, num_epochs=num_epochs, device=device, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings[name] = time.perf_counter() - t
        heads[name] = copy.deepcopy(model.fc).cpu()
    max_diff = max(float((heads["cached"].weight - heads["naive"].weight).detach().abs().max()),
                   float((heads["cached"].bias - heads["naive"].bias).detach().abs().max()))
    return {
        "device": str(device), "num_epochs": num_epochs, "train_images": len(train_set),
        "forward_s": round(forward_s, 3), "cached_s": round(timings["cached"], 3),
        "naive_s": round(timings["naive"], 3),
        "cached_over_forward": round(timings["cached"] / forward_s, 2),
        "naive_over_forward": round(timings["naive"] / forward_s, 2),
        "max_head_difference": max_diff,
        "machine": machine(),
    }
