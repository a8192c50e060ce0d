"""Grade the wrong-answer suite on a scratch copy of the course and print a table per lesson.

    .venv/bin/python tests/wrong_answers [LESSON ...] [--jobs N]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import simulate

import wrong_answers  # noqa: E402
from course_grader.jobs import batch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", default=list(wrong_answers.TABLES))
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        course = simulate.scratch_course(ROOT, Path(scratch))
        planned = wrong_answers.submit_all(course, args.lessons)
        start = time.perf_counter()
        reports = batch.autograde(course, lessons=args.lessons, jobs=args.jobs, progress=lambda line: None)
        rows = wrong_answers.verdicts(planned, reports)
        print(wrong_answers.summary(rows))
        print(f"{len(planned)} submissions graded in {time.perf_counter() - start:.0f} s")
    sys.exit(0 if all(r["ok"] for r in rows) else 1)


if __name__ == "__main__":  # the grading workers are spawned processes: they import this file
    main()
