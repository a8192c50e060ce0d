"""Autograding throughput against the number of Dask workers, and seconds per student for the whole course.

Each simulated student submits every lesson completed with the solutions (so every cell runs,
as for a good student). The course is graded with the real pipeline (sandboxed kernels on a
local Dask cluster of ``--jobs`` worker processes, private gradebooks merged serially) once per
``--jobs`` value, on a scratch copy of the course. Prints submissions per minute and the
efficiency relative to linear scaling (throughput / (workers x throughput with 1 worker)).
Targets: one student's whole course in at most 2 minutes; throughput that grows with workers.
In the same run, the solution notebooks (the same answers, and the same hidden tests, both halves
run in the notebook's own kernel) are also run *alone* (nbclient, the course's own kernel, no
grader, sandbox or judge process), one after the other: ``graded_over_alone`` is what grading
costs on top of running that work (target: within 1.1x with one worker).

    .venv/bin/python bench/grading.py                 # 2 students, 1 and 2 workers
    .venv/bin/python bench/grading.py --students 8 --jobs 1 2 4 8 16   # a 16-core machine
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import report, simulate

from course_grader.jobs import batch

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--no-alone", action="store_true", help="skip running the notebooks alone")
    args = parser.parse_args()

    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        course = simulate.scratch_course(ROOT, Path(scratch))
        for i in range(args.students):
            for lesson in course.lessons():
                simulate.submit(course, f"student{i}", lesson, simulate.completed_copy(
                    simulate.released(course, lesson), simulate.source(course, lesson)))
        for jobs in args.jobs:
            start = time.perf_counter()
            reports = batch.autograde(course, jobs=jobs, use_sandbox=not args.no_sandbox, progress=lambda line: None)
            seconds = time.perf_counter() - start
            wrong = [(r.student, r.lesson, r.score, r.max_score) for r in reports if r.score != r.max_score]
            assert not wrong, f"a completed lesson lost points: {wrong}"
            per_lesson = {}
            for r in reports:
                per_lesson.setdefault(r.lesson, []).append(r.grading_seconds)
            runs[f"jobs_{jobs}"] = {
                "jobs": jobs, "students": args.students, "submissions": len(reports), "wall_seconds": round(seconds, 1),
                "submissions_per_minute": round(60 * len(reports) / seconds, 2),
                "seconds_per_student": round(seconds / args.students, 1),
                "students_per_hour": round(3600 * args.students / seconds, 1),
                "job_seconds_by_lesson": {k: round(sum(v) / len(v), 1) for k, v in sorted(per_lesson.items())}}
            print(f"workers={jobs}: {seconds:.1f} s for {len(reports)} submissions of {args.students} students = "
                  f"{60 * len(reports) / seconds:.2f} per minute, {seconds / args.students:.1f} s per student", flush=True)

        alone = None if args.no_alone else run_alone(course)
    serial = runs.get("jobs_1")
    figures = {"cores": len(os.sched_getaffinity(0)), "sandbox": not args.no_sandbox, "runs": runs}
    if alone:
        figures["alone"] = alone
        print(f"alone: {alone['seconds_per_student']:.1f} s for one student's {len(alone['seconds_by_lesson'])} "
              "lessons", flush=True)
        if serial:
            figures["graded_over_alone"] = round(serial["seconds_per_student"] / alone["seconds_per_student"], 3)
            print(f"graded with 1 worker / alone: {figures['graded_over_alone']:.3f}x", flush=True)
    if serial:
        figures["one_student_whole_course_seconds"] = serial["seconds_per_student"]
        figures["meets_target_2_min_per_student"] = serial["seconds_per_student"] <= 120
        figures["speedup_vs_serial"] = {k: round(serial["wall_seconds"] / v["wall_seconds"], 2) for k, v in runs.items()}
        figures["efficiency_vs_linear"] = {k: round(serial["wall_seconds"] / v["wall_seconds"] / v["jobs"], 2)
                                           for k, v in runs.items()}
        for k, v in runs.items():
            print(f"{v['jobs']:>3} workers: {v['submissions_per_minute']:6.2f} submissions/min, "
                  f"efficiency vs linear {figures['efficiency_vs_linear'][k]:.2f}")
    report("grading", figures, "python bench/grading.py " + " ".join(
        [f"--students {args.students}", "--jobs", *map(str, args.jobs)] + (["--no-sandbox"] if args.no_sandbox else [])))


def run_alone(course) -> dict:
    """The solution notebooks, hidden tests and all, run with nbclient and nothing else, one after the other."""
    import shutil

    from nbclient import NotebookClient

    by_lesson = {}
    for lesson in course.lessons():
        nb = simulate.source(course, lesson)
        with tempfile.TemporaryDirectory() as folder:  # a copy of the lesson's folder, as nbval runs it
            shutil.copytree(course.source / lesson, folder, dirs_exist_ok=True)
            start = time.perf_counter()
            NotebookClient(nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": folder}}).execute()
            by_lesson[lesson] = round(time.perf_counter() - start, 1)
    return {"seconds_per_student": round(sum(by_lesson.values()), 1), "seconds_by_lesson": by_lesson}


if __name__ == "__main__":
    main()
