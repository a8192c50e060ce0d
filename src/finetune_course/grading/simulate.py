"""Simulated students, for the grading tests and the grading benchmark.

A "completed" submission is the released notebook with every solution cell replaced by the
solution's source: what a student who got everything right hands in (test cells as released,
without hidden tests), unlike the source notebook itself.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from finetune_course.grading.course import Course


def completed_copy(released, source):
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = _strip_markers(answers[grade_id])
    return nb


def _strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def submit(course: Course, student: str, lesson: str, nb) -> Path:
    """Write ``nb`` as ``student``'s submission of ``lesson`` (one-notebook lessons)."""
    [name] = course.notebooks(lesson)
    target = course.submitted / student / lesson
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target / name)
    return target / name


def released(course: Course, lesson: str):
    [name] = course.notebooks(lesson)
    return nbformat.read(course.release / lesson / name, as_version=4)


def source(course: Course, lesson: str):
    [name] = course.notebooks(lesson)
    return nbformat.read(course.source / lesson / name, as_version=4)
