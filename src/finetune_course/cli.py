"""``finetune-course``: the command line (demo, finetune, predict, pretrain, bench, check, grade).

Parses arguments and calls the modules that do the work.
"""

from __future__ import annotations

import argparse
import json
import sys

from finetune_course.weights import ARCHITECTURES, CHECKPOINT_DIR


def _grader_limits():
    """The grader's default Limits, or None where the grader is not installed (the student bundle)."""
    try:
        from finetune_course.grading.sandbox import Limits
    except ImportError:
        return None
    return Limits()


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
                           description="The instructor's workflow, each step a thin layer over nbgrader. The "
                           "course is the one the current directory's grader/nbgrader_config.py describes "
                           "(or --config).")
    grade.add_argument("--config", default=None, help="the course's nbgrader_config.py "
                       "(default: grader/nbgrader_config.py of the current directory)")
    steps = grade.add_subparsers(dest="step", required=True)
    steps.add_parser("release", help="generate every lesson's student version and record it in the gradebook")
    collect = steps.add_parser("collect", help="import submissions from a folder or a zip")
    collect.add_argument("source", help="folder or zip of STUDENT/LESSON/*.ipynb, or a platform's export")
    collect.add_argument("--lms", choices=["canvas", "moodle"], help="the export's platform (flat file names)")
    collect.add_argument("--lesson", help="the lesson a platform's export holds")
    auto = steps.add_parser("autograde", help="grade submissions in parallel, sandboxed, into the gradebook")
    auto.add_argument("--student", action="append", help="only this student (repeatable)")
    auto.add_argument("--lesson", action="append", help="only this lesson (repeatable)")
    auto.add_argument("--jobs", type=int, default=None, help="parallel jobs (default: one per core)")
    auto.add_argument("--no-sandbox", action="store_true",
                      help="run student code without bubblewrap (only on a machine you trust with it)")
    limits = _grader_limits()  # the defaults: the grader's Limits, the one place that holds them
    for option, kind, field, what in (("--cell-timeout", float, "cell_seconds", "seconds a cell may run at most"),
                                      ("--notebook-timeout", float, "notebook_seconds", "seconds a notebook may run"),
                                      ("--memory-mib", int, "memory_mib", "memory (address space) per kernel, MiB")):
        auto.add_argument(option, type=kind, help=what + (f" (default: {getattr(limits, field):g})" if limits else ""))
    calibrate = steps.add_parser("calibrate", help="time the solutions' cells, for per-cell time limits")
    calibrate.add_argument("--no-sandbox", action="store_true")
    feedback = steps.add_parser("feedback", help="HTML feedback per student and lesson: points, what failed and why; "
                                "never a hidden test")
    feedback.add_argument("--no-explanations", action="store_true",
                          help="leave out the explanation of each quiz answer (for a quiz you reuse next term)")
    export = steps.add_parser("export", help="grades as CSV: one row per student and lesson")
    export.add_argument("--out", default=None, help="CSV path (default: grader/exports/grades.csv)")
    bundle = steps.add_parser("bundle", help="the zip students get (no solutions, hidden tests or grader files)")
    bundle.add_argument("--out", default=None, help="zip path (default: dist/finetune-course-student.zip)")
    return parser


def _grade(args) -> int:
    try:
        from finetune_course.grading import batch, sandbox, workflow
        from finetune_course.grading.course import GradingError, load_course
    except ImportError as error:
        print(f"finetune-course grade: the grading tools are not part of the student bundle ({error})",
              file=sys.stderr)
        return 2
    try:
        course = load_course(args.config)
        if args.step == "release":
            lessons = workflow.release(course)
            print(f"released {len(lessons)} lessons into {course.release}; gradebook: {course.db_url}")
        elif args.step == "collect":
            got = workflow.collect(course, args.source, lesson=args.lesson, lms=args.lms)
            for label, items in (("imported", got.imported), ("replaced (previous kept in "
                                 "grader/submitted_previous/)", got.replaced), ("unchanged", got.unchanged),
                                 ("skipped", got.skipped)):
                if items:
                    print(f"{label}: {len(items)}\n  " + "\n  ".join(items))
        elif args.step == "autograde":
            given = {"cell_seconds": args.cell_timeout, "notebook_seconds": args.notebook_timeout,
                     "memory_mib": args.memory_mib}
            limits = sandbox.Limits(**{name: value for name, value in given.items() if value is not None})
            reports = batch.autograde(course, students=args.student, lessons=args.lesson, jobs=args.jobs,
                                      use_sandbox=not args.no_sandbox, limits=limits)
            flagged = sum(r["status"] != "ok" for r in reports)
            print(f"graded {len(reports)} submissions; {flagged} with reasons to read in {course.reports}")
        elif args.step == "calibrate":
            times = batch.calibrate(course, use_sandbox=not args.no_sandbox)
            print(f"timed {sum(map(len, times.values()))} cells of {len(times)} lessons: "
                  f"{course.grader / batch.CELL_TIMES}")
        elif args.step == "feedback":
            files = workflow.feedback(course, show_explanations=not args.no_explanations)
            print(f"{len(files)} feedback files under {course.feedback}; one zip per student in "
                  f"{course.grader / 'exports' / 'feedback'}")
        elif args.step == "export":
            print(workflow.export_csv(course, args.out))
        elif args.step == "bundle":
            print(workflow.bundle(course, args.out))
    except (GradingError, sandbox.SandboxUnavailable) as error:
        print(f"finetune-course grade {args.step}: {error}", file=sys.stderr)
        return 2
    return 0


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
    elif args.command == "bench":
        from finetune_course.bench import bench_head_only

        print(json.dumps(bench_head_only(num_epochs=args.epochs, device=args.device), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
