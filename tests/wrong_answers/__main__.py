"""Grade the wrong-answer suite on a scratch copy of the course and print a table per lesson.

    .venv/bin/python tests/wrong_answers [LESSON ...] [--jobs N]
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import wrong_answers  # noqa: E402

from finetune_course.grading import batch, workflow  # noqa: E402
from finetune_course.grading.course import load_course  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("lessons", nargs="*", default=list(wrong_answers.TABLES))
parser.add_argument("--jobs", type=int, default=None)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as scratch:
    root = Path(scratch)
    shutil.copytree(ROOT / "solutions", root / "solutions")
    (root / "grader").mkdir()
    for name in ("nbgrader_config.py", batch.CELL_TIMES):
        shutil.copy(ROOT / "grader" / name, root / "grader")
    course = load_course(root / "grader" / "nbgrader_config.py")
    workflow.release(course)
    planned = wrong_answers.submit_all(course, args.lessons)
    start = time.perf_counter()
    reports = batch.autograde(course, lessons=args.lessons, jobs=args.jobs, progress=lambda line: None)
    rows = wrong_answers.verdicts(planned, reports)
    print(wrong_answers.summary(rows))
    print(f"{len(planned)} submissions graded in {time.perf_counter() - start:.0f} s")
sys.exit(0 if all(r["ok"] for r in rows) else 1)
