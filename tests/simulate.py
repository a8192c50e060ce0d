"""Simulated students, for the grading tests and the grading benchmark.

A "completed" submission is the released notebook with every solution region filled in with
the solution's code: what a student who got everything right hands in (test cells as
released, without hidden tests), unlike the source notebook itself.

A *variant* is what a student really writes in one exercise instead of the solution: a wrong
answer that must lose the exercise's points, or a right alternative that must earn them.
:func:`rounds` packs the variants of a lesson into as few submissions as possible (one
variant per exercise per submission), and :func:`expected_scores` says what each submission
must score, test cell by test cell.
"""

from __future__ import annotations

import copy
import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_grader.course import Course

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Variant:
    """A student's answer to one exercise (the solution cell ``cell``): ``fills`` replaces the
    cell's solution regions, in order (None keeps the solution's code for that region)."""

    cell: str
    right: bool
    why: str
    fills: tuple[str | None, ...] = ()


def wrong(cell: str, why: str, *fills: str | None) -> Variant:
    return Variant(cell, False, why, tuple(fills))


def right(cell: str, why: str, *fills: str | None) -> Variant:
    return Variant(cell, True, why, tuple(fills))


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def fill(source: str, fills: tuple[str | None, ...] = ()) -> str:
    """A solution cell as a student hands it in: markers gone, region k holding ``fills[k]``
    (re-indented to where the region stood) or, where that is None or missing, the solution."""
    out, region, inside = [], 0, False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside, indent = True, line[:len(line) - len(line.lstrip())]
            replacement = fills[region] if region < len(fills) else None
            if replacement is not None:
                out += [indent + code if code.strip() else "" for code in textwrap.dedent(replacement).splitlines()]
            continue
        if line.strip() == END:
            inside, region = False, region + 1
            continue
        if inside and not (region < len(fills) and fills[region] is not None):
            out.append(line)
        elif not inside:
            out.append(line)
    return "\n".join(out)


def completed_copy(released, source, variants: dict[str, Variant] | None = None, answers: dict | None = None):
    """``released`` with every solution cell answered: the solution, or the variant for that cell.

    ``answers`` maps a solution cell's grade_id to a whole new source (e.g. a wrong quiz letter).
    """
    variants, answers = variants or {}, answers or {}
    solutions = {_grade_id(c): c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    unknown = set(variants) - set(solutions)
    if unknown:
        raise ValueError(f"no solution cell with grade_id {sorted(unknown)}")
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if grade_id in answers:
            cell.source = answers[grade_id]
        elif grade_id in solutions:
            cell.source = fill(solutions[grade_id], variants[grade_id].fills if grade_id in variants else ())
    return nb


def rounds(variants: list[Variant]) -> list[dict[str, Variant]]:
    """Round k holds the k-th variant of every exercise that has one: one submission per round."""
    by_cell: dict[str, list[Variant]] = {}
    for variant in variants:
        by_cell.setdefault(variant.cell, []).append(variant)
    count = max((len(v) for v in by_cell.values()), default=0)
    return [{cell: vs[k] for cell, vs in by_cell.items() if k < len(vs)} for k in range(count)]


def points_per_test(source) -> dict[str, float]:
    """Points of every test cell of a source notebook, by grade_id."""
    return {_grade_id(c): float(c.metadata["nbgrader"]["points"]) for c in source.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


def tested_by(exercise: str) -> str:
    """The test cell of an exercise, by the course's naming convention."""
    return f"test_{exercise}"


def expected_scores(source, chosen: dict[str, Variant], zero: set[str] = frozenset()) -> dict[str, float]:
    """What a submission with ``chosen`` variants must score per test cell: nothing for a wrong
    variant's test (and the tests in ``zero``), full points for every other test."""
    points = points_per_test(source)
    for variant in chosen.values():
        if tested_by(variant.cell) not in points:
            raise ValueError(f"exercise {variant.cell} has no test cell {tested_by(variant.cell)}")
    lost = {tested_by(v.cell) for v in chosen.values() if not v.right} | set(zero)
    return {name: 0.0 if name in lost else full for name, full in points.items()}


def secret_lines(course: Course, regions: tuple[str, ...] = ("HIDDEN TESTS", "SOLUTION")) -> set[tuple[str, str, str]]:
    """(lesson, region, line) of every line inside a solution or hidden-test region that no released notebook
    shows anyway (lines of 12 characters or fewer are too common to mean anything)."""
    import json

    public = "".join(nbformat.writes(released(course, lesson)) for lesson in course.lessons())
    secret = set()
    for lesson in course.lessons():
        for cell in source(course, lesson).cells:
            for region in regions:
                inside = False
                for line in cell.source.splitlines():
                    if line.strip() == f"### BEGIN {region}":
                        inside = True
                    elif line.strip() == f"### END {region}":
                        inside = False
                    elif inside and len(line.strip()) > 12 and json.dumps(line.strip())[1:-1] not in public \
                            and not re.match(r"(from \S+ )?import ", line.strip()):  # an import says nothing
                        secret.add((lesson, region, line.strip()))
    return secret


def scratch_course(repo: Path, root: Path) -> Course:
    """A copy of the course in ``repo`` (source notebooks, nbgrader config, per-cell time limits) in
    ``root``, released there: a course to grade simulated students in without touching ``repo``."""
    from course_grader.course import load_course
    from course_grader.jobs.job import CELL_TIMES
    from course_grader.workflow import release

    shutil.copytree(repo / "solutions", root / "solutions")
    (root / "grader").mkdir()
    for name in ("nbgrader_config.py", CELL_TIMES):
        shutil.copy(repo / "grader" / name, root / "grader")
    course = load_course(root / "grader" / "nbgrader_config.py")
    release(course)
    return course


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
