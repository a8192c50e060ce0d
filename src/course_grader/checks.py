"""Checks of a submission before any of it runs, and of the gradebook before a batch starts.

A missing, empty, misnamed or non-JSON notebook is not run and scores zero, with the reason; what
nbgrader will repair (a deleted, copied or edited test cell) is said plainly, for the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_grader.course import Course, GradingError


@dataclass
class Submission:
    """One student's folder for one lesson, after the checks that need no kernel."""

    student: str
    lesson: str
    folder: Path
    gradable: list[str] = field(default_factory=list)       # notebook file names to run
    rejected: dict[str, str] = field(default_factory=dict)  # notebook file name -> why it is not run
    notes: list[str] = field(default_factory=list)          # what nbgrader will repair, said plainly


def inspect(course: Course, student: str, lesson: str, released: dict | None = None) -> Submission:
    """Checks of one submission; ``released`` caches the released notebooks by (lesson, name)."""
    released = {} if released is None else released
    folder = course.submitted / student / lesson
    submission = Submission(student, lesson, folder)
    expected = course.notebooks(lesson)
    present = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    strays = [name for name in present if name not in expected]
    for name in expected:
        path = folder / name
        if not path.is_file():
            found = f"; found {', '.join(strays)} (submit the notebook under the name it was released " \
                    "with)" if strays else ""
            submission.rejected[name] = f"{name} is missing from the submission{found}"
            continue
        problem = _unreadable(path)
        if problem:
            submission.rejected[name] = f"{name}: {problem}"
            continue
        submission.gradable.append(name)
        if (lesson, name) not in released:
            released[lesson, name] = nbformat.read(course.release / lesson / name, as_version=4)
        submission.notes += _structure_notes(nbformat.read(path, as_version=4), released[lesson, name], name)
    return submission


def _unreadable(path: Path) -> str | None:
    raw = path.read_bytes()
    if not raw.strip():
        return "the file is empty"
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return f"not valid JSON ({error}); the file may have been cut short or edited outside Jupyter"
    try:
        nb = nbformat.reads(raw.decode(), as_version=4)
        nbformat.validate(nb)
    except Exception as error:
        return f"not a valid Jupyter notebook ({str(error).splitlines()[0][:200]})"
    return None


def _structure_notes(submitted, released, name: str) -> list[str]:
    """What differs from the released notebook in the cells nbgrader owns."""
    def graded(nb):
        cells: dict[str, list] = {}
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id:
                cells.setdefault(grade_id, []).append(cell)
        return cells

    mine, theirs = graded(submitted), graded(released)
    notes = []
    for grade_id, cells in theirs.items():
        original = cells[0]
        is_test = original.metadata["nbgrader"].get("grade") and not original.metadata["nbgrader"].get("solution")
        if grade_id not in mine:
            notes.append(f"{name}: cell {grade_id} was deleted; "
                         + ("the test was put back for grading" if is_test else "its exercise earns nothing"))
            continue
        if len(mine[grade_id]) > 1:
            notes.append(f"{name}: cell {grade_id} appears {len(mine[grade_id])} times (a copied cell); "
                         "only the first counts")
        cell = mine[grade_id][0]
        if cell.cell_type != original.cell_type:
            notes.append(f"{name}: cell {grade_id} was changed from {original.cell_type} to {cell.cell_type}"
                         + ("; the original was restored for grading" if is_test else ""))
        elif is_test and cell.source != original.source:
            notes.append(f"{name}: test cell {grade_id} was edited; the original was restored for grading")
    return notes


def check_gradebook(course: Course, lessons: list[str]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.course_id) as gradebook:
        for lesson in lessons:
            try:
                assignment = gradebook.find_assignment(lesson)
            except MissingEntry:
                raise GradingError(f"lesson {lesson} is not in the gradebook yet: run "
                                   "`grade release` first") from None
            if not assignment.notebooks:
                raise GradingError(f"lesson {lesson} has no notebooks in the gradebook: run "
                                   "`grade release` again")
