"""Grades out of the gradebook, through nbgrader's export plugins: our CSV and the platforms' imports.

:class:`GradesCsv` is the instructor's CSV, one row per student and lesson: the raw score, the
late penalty and the final score (raw less penalty, never below 0), the maximum, seconds late,
and from each grading report (``grader/reports/LESSON/STUDENT.json``) the status, the reasons
and the tests that lost points. :func:`export_csv` runs it, or a platform's gradebook
(:mod:`.gradebooks`), the way ``nbgrader export`` runs an ``--exporter``: instantiated with the
course's config, then ``export(gradebook)``. From ``grader/``, stock nbgrader does the same with
``nbgrader export --exporter=course_grader.results.export.GradesCsv --to grades.csv``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.plugins import ExportPlugin
from traitlets import Unicode

from course_grader.course import Course, GradingError
from course_grader.results.gradebooks import (
    CanvasGradebook,
    MoodleGradebook,
    lesson_scores,
)

CSV_COLUMNS = ["student_id", "lesson", "raw_score", "late_penalty", "score", "max_score", "seconds_late", "status",
               "reasons", "failed_tests"]


class GradesCsv(ExportPlugin):
    """One row per student and lesson (:data:`CSV_COLUMNS`); ``to`` defaults to ``grades.csv``."""

    reports_directory = Unicode("reports", help="The folder of the grading reports (LESSON/STUDENT.json) autograde "
                                "writes; a relative path is from the current directory.").tag(config=True)

    def rows(self, gradebook: Gradebook) -> list[dict]:
        students, lessons, scores = lesson_scores(self, gradebook)
        rows = []
        for student in students:
            for lesson in lessons:
                score = scores[student.id, lesson.name]
                row = {"student_id": student.id, "lesson": lesson.name, "raw_score": score.raw,
                       "late_penalty": score.penalty, "score": score.final, "max_score": score.max_score,
                       "seconds_late": round(score.seconds_late)}
                if not score.submitted:
                    rows.append({**row, "status": "missing", "reasons": "no submission", "failed_tests": ""})
                    continue
                path = Path(self.reports_directory) / lesson.name / f"{student.id}.json"
                report = json.loads(path.read_text()) if path.is_file() else None
                status = report["status"] if report else "graded"
                rows.append({**row, "status": "late" if status == "ok" and score.seconds_late > 0 else status,
                             "reasons": " | ".join(report["reasons"]) if report else "",
                             "failed_tests": _failed_tests(report)})
        return rows

    def export(self, gradebook: Gradebook) -> None:
        with open(self.to or "grades.csv", "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in self.rows(gradebook):
                writer.writerow({key: f"{value:g}" if isinstance(value, float) else value for key, value in row.items()})


def _failed_tests(report: dict | None) -> str:
    if not report:
        return ""
    lost = [f"{name} ({cell['error']})" if cell.get("error") else name
            for name, cell in report["cells"].items() if cell["score"] < cell["max_score"]]
    return " | ".join(lost)


# format -> (nbgrader export plugin, default file name under grader/exports/)
FORMATS = {"csv": (GradesCsv, "grades.csv"), "canvas": (CanvasGradebook, "canvas_grades.csv"),
           "moodle": (MoodleGradebook, "moodle_grades.csv")}


def _plugin(course: Course, gradebook: Gradebook, plugin_class, lessons: list[str] | None, **traits):
    """An export plugin as ``nbgrader export`` makes it (from the course's config), for the released lessons."""
    lessons_of_course = set(course.lessons())
    released = [a.name for a in gradebook.assignments if a.name in lessons_of_course]
    unknown = sorted(set(lessons or []) - set(released))
    if unknown:
        raise GradingError(f"cannot export {', '.join(unknown)}: the released lessons are "
                           f"{', '.join(released) or 'none'} (run grade release after adding a lesson)")
    if not released:
        raise GradingError(f"no lesson of the course is in the gradebook {course.db_url}: run grade release first")
    config = course.nbgrader_config(**{"GradesCsv.reports_directory": str(course.reports)})
    chosen = lessons or given_to_students(course, gradebook, released)
    return plugin_class(config=config, assignment=[name for name in released if name in chosen], **traits)


def given_to_students(course: Course, gradebook: Gradebook, released: list[str]) -> list[str]:
    """The lessons a grade export counts by default. In a course with an exchange (a classroom server: lessons are
    published one by one), those published there or handed in by someone: a lesson not given out yet is no one's
    missing 0. Without an exchange, every lesson in the gradebook."""
    from course_grader.intake.exchange import exchange_root

    outbound = exchange_root(course) / course.course_id / "outbound"
    if not outbound.is_dir():
        return released
    return [name for name in released
            if (outbound / name).is_dir() or gradebook.find_assignment(name).num_submissions > 0]


def grade_rows(course: Course, lessons: list[str] | None = None) -> list[dict]:
    """The rows of the grades CSV (scores as numbers): one per student and lesson."""
    with Gradebook(course.db_url, course.course_id) as gradebook:
        return _plugin(course, gradebook, GradesCsv, lessons).rows(gradebook)


def export_csv(course: Course, out: str | Path | None = None, *, format: str = "csv",
               lessons: list[str] | None = None) -> Path:
    """Write the grades CSV (``format="csv"``) or a platform's gradebook import (``"canvas"``, ``"moodle"``)."""
    if format not in FORMATS:
        raise GradingError(f"export format must be one of {', '.join(FORMATS)}; got {format!r}")
    plugin_class, name = FORMATS[format]
    path = Path(out) if out else course.grader / "exports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with Gradebook(course.db_url, course.course_id) as gradebook:
        _plugin(course, gradebook, plugin_class, lessons, to=str(path)).export(gradebook)
    return path
