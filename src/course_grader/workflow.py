"""The instructor's steps other than autograding, each a thin layer over nbgrader.

- :func:`release`: ``nbgrader generate_assignment`` for every lesson (student versions into
  ``lessons/``, cells into the gradebook), and due dates from ``grader/due_dates.json``;
- :func:`collect` (:mod:`.collect`): a class's submissions, from a folder of
  ``student/lesson/*.ipynb`` or from a learning platform's zip, into ``grader/submitted/`` (a
  replaced submission is kept aside; links, unsafe or oversized entries and files that are not
  what their names say are skipped with the reason, the rest collected);
- :func:`feedback`: ``nbgrader generate_feedback`` (HTML per student and lesson, rewritten so that it
  shows results and explanations but no hidden test, see :mod:`.feedback`; sanitised and with a
  Content-Security-Policy, see :mod:`.render`);
- :func:`export_csv` (:mod:`.export`): one row per student and lesson (raw score, late penalty,
  score, lateness, status and reasons), or a Canvas or Moodle gradebook import (:mod:`.gradebooks`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path

from course_grader.course import Course, GradingError
from course_grader.intake.collect import Collected, collect
from course_grader.results.export import CSV_COLUMNS, FORMATS, export_csv, grade_rows

__all__ = ["CSV_COLUMNS", "DUE_DATES", "FORMATS", "Collected", "collect", "due_dates", "export_csv", "feedback",
           "grade_rows", "release"]

DUE_DATES = "due_dates.json"


def _run(course: Course, converter, settings: dict | None = None, **coursedir) -> dict:
    """An nbgrader converter (GenerateAssignment, GenerateFeedback...) run in-process, its log captured."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    config = course.nbgrader_config(**{f"CourseDirectory.{k}": v for k, v in coursedir.items()}, **(settings or {}))
    app = converter(coursedir=CourseDirectory(config=config), config=config)
    app.force = True
    return capture_log(app)


def _ok(outcome: dict, what: str) -> None:
    if not outcome.get("success"):
        raise GradingError(f"{what} failed:\n{outcome.get('log', '')[-3000:]}\n{outcome.get('error', '')[-3000:]}")


# -- release --------------------------------------------------------------------------------
def release(course: Course) -> list[str]:
    """Generate every lesson's student version and record it (cells, points, due date) in the gradebook."""
    from nbgrader.converters import GenerateAssignment

    lessons = course.lessons()
    for lesson in lessons:
        _ok(_run(course, GenerateAssignment, assignment_id=lesson), f"nbgrader generate_assignment {lesson}")
    due = due_dates(course)
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gradebook:
        for lesson in lessons:
            gradebook.update_or_create_assignment(lesson, duedate=due.get(lesson))
    return lessons


def due_dates(course: Course) -> dict[str, dt.datetime]:
    """``grader/due_dates.json``: {"01_why_finetune": "2026-12-04 23:59:00 UTC", ...} (optional)."""
    from nbgrader.utils import parse_utc

    path = course.grader / DUE_DATES
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
        parsed = {lesson: parse_utc(value) for lesson, value in raw.items()}
    except Exception as error:
        raise GradingError(f"{path}: expected {{\"lesson\": \"YYYY-MM-DD HH:MM:SS UTC\", ...}}; {error}") from None
    unknown = sorted(set(parsed) - set(course.lessons()))
    if unknown:
        raise GradingError(f"{path}: no such lesson {', '.join(unknown)}")
    return parsed


# -- feedback -----------------------------------------------------------------------------------
def feedback(course: Course, lessons: list[str] | None = None, show_explanations: bool = True) -> list[Path]:
    """HTML feedback per student and lesson (see :mod:`.feedback`: no hidden test in it), and a zip per student."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import GenerateFeedback
    from nbgrader.preprocessors import GetGrades

    from course_grader.results.feedback import (
        FeedbackExporter,
        StudentFeedback,
        course_explanations,
        course_secret_lines,
    )
    from course_grader.results.render import ScriptPolicy, feedback_settings

    for lesson in lessons or course.lessons():
        if any(course.autograded.glob(f"*/{lesson}")):
            # Sanitised, with a Content-Security-Policy: no script of the student's runs where the page is opened;
            # each test named in the table of contents by what it checks.
            settings = {**feedback_settings(), "GenerateFeedback.exporter_class": FeedbackExporter,
                        "GenerateFeedback.preprocessors": [GetGrades, StudentFeedback, CSSHTMLHeaderPreprocessor,
                                                           ScriptPolicy],
                        "StudentFeedback.explanations": course_explanations(course.source, lesson),
                        "StudentFeedback.show_explanations": show_explanations,
                        "StudentFeedback.secrets": course_secret_lines(course.source, course.release, lesson)}
            _ok(_run(course, GenerateFeedback, settings, assignment_id=lesson), f"nbgrader generate_feedback {lesson}")
    # What nbgrader's release_feedback (the formgrader's button, or `grade return`) files the feedback under
    # in the exchange: the submission's secret, which only its student's Fetch Feedback knows.
    for folder in sorted(course.feedback.glob("*/*")):
        for name in ("timestamp.txt", "submission_secret.txt"):
            source = course.submitted / folder.parent.name / folder.name / name
            if source.is_file() and not source.is_symlink():
                shutil.copyfile(source, folder / name)
    files = sorted(course.feedback.glob("*/*/*.html"))
    # One zip per student, to hand back through a learning platform or by mail.
    out = course.grader / "exports" / "feedback"
    out.mkdir(parents=True, exist_ok=True)
    for student in sorted({f.parts[-3] for f in files}):
        with zipfile.ZipFile(out / f"{student}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for f in files:
                if f.parts[-3] == student:
                    archive.write(f, f.relative_to(course.feedback / student).as_posix())
    return files

