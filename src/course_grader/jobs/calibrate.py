"""Per-cell time limits: run the solutions through the grader and store how long each cell took.

``grader/cell_times.json`` then gives each cell of a submission ``Limits.timeout_factor`` times
the solution's time (at least ``Limits.min_cell_seconds``), instead of one limit for every cell.
"""

from __future__ import annotations

import json
import shutil

from course_grader.course import Course, GradingError
from course_grader.jobs.batch import autograde
from course_grader.jobs.job import CELL_TIMES, load_cell_times


def calibrate(course: Course, lessons: list[str] | None = None, jobs: int | None = None,
              use_sandbox: bool = True, scheduler: str | None = None) -> dict[str, dict[str, float]]:
    """Grade the solutions as a student "calibration" (never merged) and write ``cell_times.json``."""
    lessons = lessons or course.lessons()
    student = "calibration"
    for lesson in lessons:
        target = course.submitted / student / lesson
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in course.notebooks(lesson):
            shutil.copy(course.source / lesson / name, target / name)
    path = course.grader / CELL_TIMES
    times = load_cell_times(course)
    try:
        if path.exists():  # the solutions run without the old limits
            path.rename(path.with_suffix(".previous"))
        results = autograde(course, [student], lessons, jobs=jobs, use_sandbox=use_sandbox, merge_results=False,
                            progress=lambda line: None, scheduler=scheduler)
    finally:
        shutil.rmtree(course.submitted / student)
        if path.with_suffix(".previous").exists():
            path.with_suffix(".previous").rename(path)
    for result in results:
        if not result.success:
            raise GradingError(f"calibration: the solution of {result.lesson} did not grade: {result.error[-500:]}")
        times[result.lesson] = result.cell_times()
    path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    return times
