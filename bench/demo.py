"""The demo's acceptance figures: time on this machine, and how fine-tuning compares with scratch.

Targets: the whole demo in at most 120 s on 2 CPU cores; head-only >= 85 % held-out accuracy
with 20 labelled pictures per class; head-only error at most a third of scratch's after the
same number of epochs; staged at least as good as head-only.

    .venv/bin/python bench/demo.py [--device cuda]
"""

import argparse
import tempfile
import time

from _common import report

from finetune_course.demo import run_demo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--device", default=None)
args = parser.parse_args()
with tempfile.TemporaryDirectory() as out:
    start = time.perf_counter()
    summary = run_demo(out_dir=out, device=args.device, progress=False)
    wall = time.perf_counter() - start
runs = summary["runs"]
head, staged, scratch = runs["head-only"]["val_acc"], runs["staged"]["val_acc"], runs["scratch"]["val_acc"]
scratch_same = summary["scratch_val_acc_at_head_epochs"]
figures = {
    "device": summary["device"],
    "demo_seconds": round(wall, 1),
    "head_only_acc": round(head, 4),
    "staged_acc": round(staged, 4),
    "scratch_acc_same_epochs_as_head_only": round(scratch_same, 4),
    "scratch_acc_final": round(scratch, 4),
    "error_ratio_head_vs_scratch": round((1 - head) / (1 - scratch_same), 3),
    "epochs": {name: run["epochs"] for name, run in runs.items()},
    "run_seconds": {name: run["seconds"] for name, run in runs.items()},
}
figures["meets_targets"] = {
    "demo_at_most_120_s": wall <= 120,
    "head_only_at_least_85pct": head >= 0.85,
    "head_error_at_most_a_third_of_scratch": figures["error_ratio_head_vs_scratch"] <= 1 / 3,
    "staged_at_least_head_only": staged >= head,
}
report(f"demo_{summary['device']}", figures, "python bench/demo.py" + (f" --device {args.device}" if args.device else ""))
