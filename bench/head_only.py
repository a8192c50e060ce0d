"""Head-only training: cached features vs the naive loop, against one forward pass of the backbone.

Target: caching plus 10 epochs of head training costs at most 1.5x one forward pass of the
frozen backbone over the training set.

    .venv/bin/python bench/head_only.py [--device cuda]
"""

import argparse

from _common import report

from finetune_course.bench import bench_head_only

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--device", default=None)
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()
figures = bench_head_only(num_epochs=args.epochs, device=args.device)
figures["target_cached_over_forward"] = 1.5
figures["meets_target"] = figures["cached_over_forward"] <= 1.5
report(f"head_only_{figures['device']}", figures, "python bench/head_only.py" +
       (f" --device {args.device}" if args.device else ""))
