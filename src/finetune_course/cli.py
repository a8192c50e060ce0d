"""``finetune-course``: the command line (demo, pretrain, bench). Parses arguments, calls the modules."""

from __future__ import annotations

import argparse
import json
import sys

from finetune_course.weights import COURSE_CHECKPOINT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finetune-course",
                                     description="Fine-tune pretrained ResNets, offline: the course's helper commands.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="fine-tune the course checkpoint on the target task vs training from scratch")
    demo.add_argument("--out", default="demo_output", help="folder for figures and results.json (default: %(default)s)")
    demo.add_argument("--per-class", type=int, default=20, help="labelled training pictures per class (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")

    pretrain = sub.add_parser("pretrain", help="train the course checkpoint on the source task")
    pretrain.add_argument("--out", default=str(COURSE_CHECKPOINT.parent),
                          help="folder for the .pt and .json files (default: the package's checkpoints folder)")
    pretrain.add_argument("--epochs", type=int, default=8)
    pretrain.add_argument("--per-class", type=int, default=800)
    pretrain.add_argument("--batch-size", type=int, default=64)
    pretrain.add_argument("--lr", type=float, default=2e-3)
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.add_argument("--device", default=None)
    pretrain.add_argument("--no-progress", action="store_true")

    bench = sub.add_parser("bench", help="time head-only training on cached features vs the naive loop")
    bench.add_argument("--epochs", type=int, default=10)
    bench.add_argument("--device", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("per_class", "epochs", "batch_size"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"finetune-course: --{name.replace('_', '-')} must be at least 1; got {value}", file=sys.stderr)
            return 2
    if args.command == "demo":
        from finetune_course.demo import DemoConfig, run_demo

        run_demo(out_dir=args.out, config=DemoConfig(per_class=args.per_class, seed=args.seed),
                 device=args.device, progress=not args.no_progress)
    elif args.command == "pretrain":
        from finetune_course.pretrain import pretrain

        pretrain(out=args.out, num_epochs=args.epochs, per_class=args.per_class, batch_size=args.batch_size,
                 lr=args.lr, seed=args.seed, device=args.device, progress=not args.no_progress)
    elif args.command == "bench":
        from finetune_course.bench import bench_head_only

        print(json.dumps(bench_head_only(num_epochs=args.epochs, device=args.device), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
