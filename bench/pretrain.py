"""Pretrain a course checkpoint and record the run: time, size, storage, held-out source accuracy.

The checkpoint is written where the package ships it (``src/finetune_course/checkpoints/``)
unless ``--out`` says otherwise. Targets: held-out accuracy on the source task >= 95 % as
shipped, within one point of the float32 model, and a file of at most 25 MiB.

    .venv/bin/python bench/pretrain.py --arch mobilenet_v2
    .venv/bin/python bench/pretrain.py --arch resnet50 --epochs 8
"""

import argparse
import os
from pathlib import Path

from _common import report

from finetune_course.pretrain import MAX_MIB, pretrain
from finetune_course.weights import ARCHITECTURES, CHECKPOINT_DIR, read_metadata

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--arch", choices=ARCHITECTURES, required=True)
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--per-class", type=int, default=800)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=str(CHECKPOINT_DIR))
parser.add_argument("--device", default=None)
args = parser.parse_args()

path = pretrain(arch=args.arch, out=args.out, num_epochs=args.epochs, per_class=args.per_class, seed=args.seed,
                device=args.device, progress=False)
meta = read_metadata(path)
mib = Path(path).stat().st_size / 2**20
report(f"pretrain_{args.arch}", {
    "arch": args.arch, "cores": len(os.sched_getaffinity(0)), "device": meta["device"], "file": meta["file"],
    "mib": round(mib, 1), "storage": meta["storage"], "seconds": meta["pretrain_seconds"],
    "source_val_acc": meta["source_val_acc"], "source_val_acc_float32": meta["source_val_acc_float32"],
    "meets_targets": {"at_least_95_percent": meta["source_val_acc"] >= 0.95,
                      "within_one_point_of_float32": meta["source_val_acc_float32"] - meta["source_val_acc"] <= 0.01,
                      f"at_most_{MAX_MIB}_mib": mib <= MAX_MIB},
    "recipe": meta["recipe"]["command"]}, f"python bench/pretrain.py --arch {args.arch} --epochs {args.epochs}")
