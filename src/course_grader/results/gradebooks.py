"""Grades for a learning platform's gradebook import, as nbgrader export plugins: one column per lesson.

- :class:`CanvasGradebook`: Canvas's "Import" in Grades. Columns ``Student, ID, SIS User ID, SIS
  Login ID, Section``, then one per lesson headed ``Lesson (assignment id)`` (or the lesson's name,
  which Canvas matches to an assignment of that name or adds as a new one), and a ``Points
  Possible`` row under the header. ``ID`` is the student's ``lms_user_id`` in the gradebook
  (Canvas's user id), ``SIS Login ID`` the nbgrader student id.
- :class:`MoodleGradebook`: Moodle's "Import grades from CSV". Columns ``First name, Last name,
  Username, Email address``, then one per lesson; on import, map ``Username`` (the nbgrader student
  id) or ``Email address`` to the user, and each lesson column to its grade item.

Scores are final ones (:attr:`LessonScore.final`): the raw score less the late penalty, 0 where
nothing was submitted. Both run as ``nbgrader export --exporter=course_grader.results.gradebooks.CanvasGradebook``
too, or through ``grade export --format canvas|moodle``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from nbgrader.api import Assignment, Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict

from course_grader.course import GradingError


@dataclass(frozen=True)
class LessonScore:
    """One student's grade for one lesson, as the gradebook holds it."""

    raw: float              # the points the tests gave
    penalty: float          # taken off for lateness (nbgrader's late submission plugin)
    max_score: float
    seconds_late: float
    submitted: bool

    @property
    def final(self) -> float:
        """What the student gets: the raw score less the penalty, never below 0 (as nbgrader's own CSV)."""
        return max(0.0, self.raw - self.penalty)


def lesson_score(gradebook: Gradebook, lesson: Assignment, student: str) -> LessonScore:
    """nbgrader's ``score`` of a submission is the raw score; its ``late_submission_penalty`` is apart."""
    try:
        submission = gradebook.find_submission(lesson.name, student)
    except MissingEntry:
        return LessonScore(raw=0.0, penalty=0.0, max_score=lesson.max_score, seconds_late=0.0, submitted=False)
    return LessonScore(raw=submission.score, penalty=submission.late_submission_penalty or 0.0,
                       max_score=submission.max_score, seconds_late=submission.total_seconds_late, submitted=True)


def lesson_scores(plugin: ExportPlugin, gradebook: Gradebook):
    """The students and lessons an export plugin was asked for (its ``student`` and ``assignment``
    lists, all where empty), in the gradebook's order, and their :class:`LessonScore` by (student, lesson)."""
    wanted = [str(name) for name in plugin.assignment]
    lessons = [a for a in gradebook.assignments if not wanted or a.name in wanted]
    missing = sorted(set(wanted) - {a.name for a in lessons})
    if missing:
        raise GradingError(f"no lesson {', '.join(missing)} in the gradebook; it has "
                         f"{', '.join(a.name for a in gradebook.assignments) or 'none'} (run grade release first)")
    chosen = [str(name) for name in plugin.student]
    students = sorted((s for s in gradebook.students if not chosen or s.id in chosen), key=lambda s: s.id)
    scores = {(s.id, lesson.name): lesson_score(gradebook, lesson, s.id) for s in students for lesson in lessons}
    return students, lessons, scores


def _points(value: float) -> str:
    return f"{value:g}"


class CanvasGradebook(ExportPlugin):
    """Canvas's gradebook import CSV (see the module's docstring); ``to`` defaults to ``canvas_grades.csv``."""

    assignment_ids = Dict(help="Canvas's assignment id of each lesson, e.g. {'01_why_finetune': 4411}: the column "
                               "is then headed '01_why_finetune (4411)' and Canvas updates that assignment.").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        students, lessons, scores = lesson_scores(self, gradebook)
        headers = [f"{lesson.name} ({self.assignment_ids[lesson.name]})" if lesson.name in self.assignment_ids
                   else lesson.name for lesson in lessons]
        with open(self.to or "canvas_grades.csv", "w", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] + headers)
            writer.writerow(["    Points Possible", "", "", "", ""] + [_points(lesson.max_score) for lesson in lessons])
            for student in students:
                name = ", ".join(part for part in (student.last_name, student.first_name) if part) or student.id
                writer.writerow([name, student.lms_user_id or "", "", student.id, ""]
                                + [_points(scores[student.id, lesson.name].final) for lesson in lessons])


class MoodleGradebook(ExportPlugin):
    """Moodle's "Import grades from CSV" file (see the module's docstring); ``to`` defaults to ``moodle_grades.csv``."""

    def export(self, gradebook: Gradebook) -> None:
        students, lessons, scores = lesson_scores(self, gradebook)
        with open(self.to or "moodle_grades.csv", "w", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["First name", "Last name", "Username", "Email address"] + [lesson.name for lesson in lessons])
            for student in students:
                writer.writerow([student.first_name or "", student.last_name or "", student.id, student.email or ""]
                                + [_points(scores[student.id, lesson.name].final) for lesson in lessons])
