"""``finetune-course``: the command line (demo, finetune, predict, pretrain, bench, check, grade).

Parses arguments and calls the modules that do the work.
"""

from __future__ import annotations

import argparse
import json
import sys

from finetune_course.weights import ARCHITECTURES, CHECKPOINT_DIR


def _grade_steps() -> dict:
    """The steps of ``grade`` that are this course's own (the student bundle); the grader must be installed."""
    from course_grader.cli import Step

    def add(parser):
        parser.add_argument("--out", default=None, help="zip path (default: dist/finetune-course-student.zip)")

    def run(course, args) -> int:
        from finetune_course.bundle import bundle

        print(bundle(course.root, args.out))
        return 0

    return {"bundle": Step("the zip students get (no solutions, hidden tests or grader files)", add, run)}


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

    finetune = sub.add_parser("finetune", help="fine-tune on your own pictures: a folder with one sub-folder per class",
                              description="The course's staged recipe on your own pictures: a new head on the frozen "
                              "pretrained backbone, then the last block's convolutions at a lower rate; the epoch with "
                              "the best validation accuracy is kept. Writes MODEL_DIR with the model and a report.")
    finetune.add_argument("train_dir", help="training pictures, one sub-folder per class (train/cats/1.jpg, ...)")
    finetune.add_argument("--val", dest="val_dir", help="validation pictures, same class sub-folders (default: a "
                          "stratified fifth of TRAIN_DIR)")
    finetune.add_argument("--out", required=True, help="the model folder to write (new or empty)")
    finetune.add_argument("--arch", choices=ARCHITECTURES, default="resnet18", help="(default: %(default)s)")
    finetune.add_argument("--weights", choices=["course", "imagenet"], default="course",
                          help="pretrained weights: the course's (offline) or ImageNet's (the file must be in "
                          "TORCH_HOME) (default: %(default)s)")
    finetune.add_argument("--head-epochs", type=int, default=10, help="stage 1 epochs (default: %(default)s)")
    finetune.add_argument("--block-epochs", type=int, default=8, help="stage 2 epochs, 0 for none (default: %(default)s)")
    finetune.add_argument("--batch-size", type=int, default=32)
    finetune.add_argument("--seed", type=int, default=0)
    finetune.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    finetune.add_argument("--overwrite", action="store_true", help="replace what is in --out")
    finetune.add_argument("--no-progress", action="store_true")

    predict = sub.add_parser("predict", help="the class of each picture, with a model folder from finetune")
    predict.add_argument("model_dir")
    predict.add_argument("files", nargs="+", metavar="FILE")

    pretrain = sub.add_parser("pretrain", help="train a course checkpoint on the source task")
    pretrain.add_argument("--arch", choices=ARCHITECTURES, default="resnet18", help="(default: %(default)s)")
    pretrain.add_argument("--out", default=str(CHECKPOINT_DIR),
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

    check = sub.add_parser("check", help="students: run a lesson's visible tests before submitting")
    check.add_argument("lesson", help="a lesson (01, 02_freezing, ...) or a notebook's path")
    check.add_argument("--timeout", type=int, default=300, help="seconds any one cell may run (default: %(default)s)")

    grade = sub.add_parser("grade", help="instructors: release, collect, autograde, feedback, export, bundle",
                           description="The instructor's workflow, each step a thin layer over nbgrader (the "
                           "course_grader package). The course is the one the current directory's "
                           "grader/nbgrader_config.py describes (or --config).")
    try:
        from course_grader.cli import add_arguments
    except ImportError:  # the student bundle: no grader
        grade.add_argument("rest", nargs=argparse.REMAINDER)
    else:
        add_arguments(grade, _grade_steps())
    for command in _commands().values():
        command.register(sub)
    return parser


def _commands() -> dict:
    """Commands other installed packages add (entry points ``finetune_course.commands``: a module with
    ``register(subparsers)`` and ``run(args)``), such as the classroom server's ``hub``; this package imports none."""
    from importlib.metadata import entry_points

    found = {}
    for entry in entry_points(group="finetune_course.commands"):
        try:
            found[entry.name] = entry.load()
        except ImportError:  # its package's dependencies are missing: the command is not offered
            continue
    return found


def _grade(args) -> int:
    try:
        from course_grader.cli import run
    except ImportError as error:
        print(f"finetune-course grade: the grading tools are not part of the student bundle ({error})",
              file=sys.stderr)
        return 2
    return run(args, _grade_steps(), prog="finetune-course grade")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("per_class", "epochs", "batch_size", "head_epochs"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"finetune-course: --{name.replace('_', '-')} must be at least 1; got {value}", file=sys.stderr)
            return 2
    if args.command == "demo":
        from finetune_course.demo import DemoConfig, run_demo

        run_demo(out_dir=args.out, config=DemoConfig(per_class=args.per_class, seed=args.seed),
                 device=args.device, progress=not args.no_progress)
    elif args.command in ("finetune", "predict"):
        from finetune_course.finetune import FinetuneError, finetune, predict_files
        from finetune_course.weights import WeightsNotAvailable

        try:
            if args.command == "predict":
                for p in predict_files(args.model_dir, args.files):
                    print(f"{p.file}\t{p.label}\t{p.probability:.3f}")
                return 0
            if args.block_epochs < 0:
                raise FinetuneError(f"--block-epochs must be 0 or more; got {args.block_epochs}")
            summary = finetune(args.train_dir, args.out, val_dir=args.val_dir, arch=args.arch, weights=args.weights,
                               head_epochs=args.head_epochs, block_epochs=args.block_epochs, batch_size=args.batch_size,
                               seed=args.seed, device=args.device, progress=not args.no_progress,
                               overwrite=args.overwrite)
        except (FinetuneError, WeightsNotAvailable) as error:
            print(f"finetune-course {args.command}: {error}", file=sys.stderr)
            return 2
        print(f"kept epoch {summary['kept_epoch']} (stage {summary['kept_stage']}) of {len(summary['history']['stage'])}: "
              f"validation accuracy {summary['val_acc']:.3f} on {summary['val_pictures']} pictures; "
              f"{summary['arch']} with {summary['weights']} weights")
        print(f"wrote {args.out}: model.pt, model.json, report.md, curves.png, confusion_matrix.png")
    elif args.command == "pretrain":
        from finetune_course.pretrain import pretrain

        pretrain(arch=args.arch, out=args.out, num_epochs=args.epochs, per_class=args.per_class, batch_size=args.batch_size,
                 lr=args.lr, seed=args.seed, device=args.device, progress=not args.no_progress)
    elif args.command == "check":
        from finetune_course.check import check

        try:
            return check(args.lesson, timeout=args.timeout)
        except FileNotFoundError as error:
            print(f"finetune-course check: {error}", file=sys.stderr)
            return 2
    elif args.command == "grade":
        return _grade(args)
    elif args.command in _commands():
        return _commands()[args.command].run(args)
    elif args.command == "bench":
        from finetune_course.bench import bench_head_only

        print(json.dumps(bench_head_only(num_epochs=args.epochs, device=args.device), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
