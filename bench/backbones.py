"""The three course backbones, head only, on the target task: accuracy, parameters, seconds.

The same recipe for each (lesson 07's stage 1): the course checkpoint frozen, a new 5-class head,
Adam at 1e-2, 8 epochs on cached features, 20 training pictures per class, 200 held out. Seconds
run from loading the checkpoint to the last epoch, best of ``--repeat`` runs.

    .venv/bin/python bench/backbones.py
"""

import argparse
import os
import time

import torch
from _common import report

from finetune_course.data import make_loader, make_shapes
from finetune_course.models import count_trainable, freeze_all, load_model, param_groups, replace_head
from finetune_course.train import fit_cached, pick_device, seed_everything
from finetune_course.weights import ARCHITECTURES, get_weights

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--device", default=None)
args = parser.parse_args()
device = torch.device(args.device) if args.device else pick_device()


def head_only(arch: str) -> tuple[float, int, int, float]:
    preprocess = get_weights("course", arch=arch).transforms()
    train = make_shapes("target", "train", per_class=20, transform=preprocess)
    val = make_shapes("target", "val", per_class=40, transform=preprocess)
    seed_everything(0)
    start = time.perf_counter()
    net = load_model(arch=arch, weights="course")
    freeze_all(net, verbose=False)
    replace_head(net, len(train.classes), verbose=False)
    history = fit_cached(net, make_loader(train, batch_size=20, shuffle=True, seed=0), make_loader(val, batch_size=100),
                         optimizer=torch.optim.Adam(param_groups(net, head_lr=1e-2, verbose=False)), num_epochs=8,
                         device=device, progress=False)
    seconds = time.perf_counter() - start
    count = count_trainable(net)
    return history.val_acc[-1], count.params, count.total_params, seconds


rows = {}
for arch in ARCHITECTURES:
    runs = [head_only(arch) for _ in range(args.repeat)]
    acc, trainable, total, _ = runs[0]
    assert all(run[0] == acc for run in runs), f"{arch}: accuracy differs between identical runs"
    rows[arch] = {"held_out_acc": round(acc, 3), "trainable_params": trainable, "total_params": total,
                  "seconds": round(min(run[3] for run in runs), 2)}
    print(f"{arch:13} {rows[arch]}")
report(f"backbones_{device.type}", {"device": device.type, "cores": len(os.sched_getaffinity(0)),
                                    "torch": torch.__version__, "backbones": rows}, "python bench/backbones.py")
