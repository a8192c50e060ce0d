"""``course-grader``: the instructor's steps on any nbgrader course (``finetune-course grade`` is this).

The course is the one the current directory's ``grader/nbgrader_config.py`` describes (or
``nbgrader_config.py`` from inside ``grader/``), or ``--config``; never where this package is
installed. A course's own command can add steps of its own (``extra_steps``): finetune-course
adds ``bundle``, the zip its students get.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from course_grader.kernel.sandbox import Limits


@dataclass(frozen=True)
class Step:
    """A step a course's command adds: its help, its options and what it does with the loaded course."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[object, argparse.Namespace], int]


def add_arguments(parser: argparse.ArgumentParser, extra_steps: dict[str, Step] | None = None) -> None:
    parser.add_argument("--config", default=None, help="the course's nbgrader_config.py "
                        "(default: grader/nbgrader_config.py of the current directory)")
    steps = parser.add_subparsers(dest="step", required=True)
    steps.add_parser("release", help="generate every lesson's student version and record it in the gradebook")
    publish = steps.add_parser("publish", help="release lessons to nbgrader's exchange, for students' Fetch "
                               "(a classroom server: see finetune-course hub)")
    publish.add_argument("lesson", nargs="+", help="lesson id, e.g. 01_why_finetune")
    collect = steps.add_parser("collect", help="import submissions from a folder, a zip or nbgrader's exchange")
    collect.add_argument("source", nargs="?", help="folder or zip of STUDENT/LESSON/*.ipynb, or a platform's export")
    collect.add_argument("--exchange", action="store_true",
                         help="collect --lesson's latest submission per student from nbgrader's exchange "
                         "(each checked to belong to the account that handed it in)")
    collect.add_argument("--lms", choices=["canvas", "moodle"],
                         help="the platform whose \"download all submissions\" export of one lesson this is")
    collect.add_argument("--lesson", help="the lesson a platform's export holds")
    auto = steps.add_parser("autograde", help="grade submissions in parallel, sandboxed, into the gradebook")
    auto.add_argument("--student", action="append", help="only this student (repeatable)")
    auto.add_argument("--lesson", action="append", help="only this lesson (repeatable)")
    auto.add_argument("--jobs", type=int, default=None,
                      help="jobs at once on this machine (default: one per core)")
    auto.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                      help="grade on the Dask cluster of this scheduler instead of this machine")
    auto.add_argument("--no-sandbox", action="store_true",
                      help="run student code without bubblewrap (only on a machine you trust with it)")
    limits = Limits()  # the defaults: the one place that holds them
    for option, kind, field, what in (("--cell-timeout", float, "cell_seconds", "seconds a cell may run at most"),
                                      ("--notebook-timeout", float, "notebook_seconds", "seconds a notebook may run"),
                                      ("--memory-mib", int, "memory_mib", "memory (address space) per kernel, MiB")):
        auto.add_argument(option, type=kind, help=f"{what} (default: {getattr(limits, field):g})")
    calibrate = steps.add_parser("calibrate", help="time the solutions' cells, for per-cell time limits")
    calibrate.add_argument("--lesson", action="append",
                           help="only this lesson (repeatable; the other lessons keep their recorded times)")
    calibrate.add_argument("--no-sandbox", action="store_true")
    calibrate.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT")
    feedback = steps.add_parser("feedback", help="HTML feedback per student and lesson: points, what failed and why; "
                                "never a hidden test")
    feedback.add_argument("--no-explanations", action="store_true",
                          help="leave out the explanation of each quiz answer (for a quiz you reuse next term)")
    give_back = steps.add_parser("return", help="release the course's feedback of lessons to nbgrader's exchange, "
                                 "for students' Fetch Feedback")
    give_back.add_argument("lesson", nargs="+", help="lesson id, e.g. 01_why_finetune")
    export = steps.add_parser("export", help="grades as CSV: one row per student and lesson (raw score, late "
                              "penalty, score...), or a Canvas or Moodle gradebook import with a column per lesson")
    export.add_argument("--format", choices=["csv", "canvas", "moodle"], default="csv",
                        help="csv: grades.csv; canvas: canvas_grades.csv; moodle: moodle_grades.csv (default: csv)")
    export.add_argument("--lesson", action="append", help="only this lesson (repeatable; default: every released one)")
    export.add_argument("--out", default=None, help="file to write (default: grader/exports/ and the format's name)")
    for name, step in (extra_steps or {}).items():
        step.add_arguments(steps.add_parser(name, help=step.help))


def run(args: argparse.Namespace, extra_steps: dict[str, Step] | None = None, prog: str = "course-grader") -> int:
    from course_grader import workflow
    from course_grader.course import GradingError, load_course
    from course_grader.jobs import batch, calibrate
    from course_grader.jobs.job import CELL_TIMES
    from course_grader.kernel import sandbox

    try:
        course = load_course(args.config)
        if args.step in (extra_steps or {}):
            return extra_steps[args.step].run(course, args)
        if args.step == "release":
            lessons = workflow.release(course)
            print(f"released {len(lessons)} lessons into {course.release}; gradebook: {course.db_url}")
        elif args.step == "publish":
            from course_grader.intake import exchange

            lessons = exchange.publish(course, args.lesson)
            print(f"released {', '.join(lessons)} to the exchange {exchange.exchange_root(course)}: students can Fetch")
        elif args.step == "return":
            from course_grader.intake import exchange

            returned = exchange.return_feedback(course, args.lesson)
            print(f"feedback of {len(returned)} submissions in the exchange: students can Fetch Feedback")
        elif args.step == "collect":
            if args.exchange == bool(args.source):
                raise GradingError("collect takes either a SOURCE folder or zip, or --exchange --lesson LESSON")
            if args.exchange:
                from course_grader.intake import exchange

                if not args.lesson:
                    raise GradingError("collect --exchange: say which lesson with --lesson LESSON")
                got = exchange.collect_exchange(course, args.lesson)
            else:
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
                                      use_sandbox=not args.no_sandbox, limits=limits, scheduler=args.scheduler)
            flagged = sum(r.status != "ok" for r in reports)
            print(f"graded {len(reports)} submissions; {flagged} with reasons to read in {course.reports}")
        elif args.step == "calibrate":
            times = calibrate.calibrate(course, lessons=args.lesson, use_sandbox=not args.no_sandbox,
                                        scheduler=args.scheduler)
            print(f"timed {sum(map(len, times.values()))} cells of {len(times)} lessons: "
                  f"{course.grader / CELL_TIMES}")
        elif args.step == "feedback":
            files = workflow.feedback(course, show_explanations=not args.no_explanations)
            print(f"{len(files)} feedback files under {course.feedback}; one zip per student in "
                  f"{course.grader / 'exports' / 'feedback'}")
        elif args.step == "export":
            print(workflow.export_csv(course, args.out, format=args.format, lessons=args.lesson))
    except (GradingError, sandbox.SandboxUnavailable) as error:
        print(f"{prog} {args.step}: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None, prog: str = "course-grader", extra_steps: dict[str, Step] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description="The instructor's workflow on an nbgrader course, each "
                                     "step a thin layer over nbgrader; autograding runs sandboxed on Dask.")
    add_arguments(parser, extra_steps)
    return run(parser.parse_args(argv), extra_steps, prog)


if __name__ == "__main__":
    sys.exit(main())
