"""Merging a job's result into the course gradebook, and the report each submission gets.

Only the process that runs the batch writes the gradebook, one submission at a time, writing
absolute values: re-grading gives the same gradebook, a failed job scores zero with its reason,
and no other student's rows are touched. Every submission also gets a JSON report
(``grader/reports/<lesson>/<student>.json``) with its score per test cell and the reasons for
lost points, which the CSV export includes.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import sqlalchemy.exc

from course_grader.course import Course
from course_grader.intake.checks import Submission
from course_grader.jobs.job import JobResult


@dataclass
class Report:
    """One submission's grade as the gradebook holds it, with what the instructor should read."""

    student: str
    lesson: str
    status: str            # ok, flagged (reasons to read), failed (the job failed), rejected (nothing ran)
    score: float
    max_score: float
    timestamp: str | None = None
    seconds_late: float = 0.0
    reasons: list[str] = field(default_factory=list)
    cells: dict[str, dict] = field(default_factory=dict)  # test cell -> score, max_score, error
    grading_seconds: float = 0.0

    @property
    def line(self) -> str:
        """One line for the batch's progress."""
        why = f"  ({self.reasons[0]}{' ...' if len(self.reasons) > 1 else ''})" if self.reasons else ""
        return f"{self.student:>16} {self.lesson:<24} {self.score:g}/{self.max_score:g} {self.status}{why}"

    @classmethod
    def read(cls, path: Path) -> Report:
        return cls(**json.loads(path.read_text()))


def _timestamp(raw: bytes | None):
    """The time of a submission's ``timestamp.txt`` as :func:`checks.inspect` read it, or None."""
    from nbgrader.utils import parse_utc

    if raw is None:
        return None
    try:
        return parse_utc(raw.decode().strip())
    except Exception:
        return None


def merge(course: Course, submission: Submission, result: JobResult | None) -> Report:
    """Write one submission's grades (zero where its job failed or nothing ran) and its report."""
    from nbgrader.api import Gradebook

    reasons = list(submission.rejected.values()) + submission.notes
    for record in result.execute if result else []:
        reasons += [f"{event['cell']}: {event['detail']}" for event in record["events"]]
    if submission.gradable and not (result and result.success):
        error = (result.error if result else "") or "no result"
        reasons.append("grading failed: " + error.strip().splitlines()[-1][:500])
    graded = result.notebooks if result and result.success else {}
    with Gradebook(course.db_url, course.course_id) as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless.
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
        gradebook.update_or_create_student(submission.student)
        record = gradebook.update_or_create_submission(submission.lesson, submission.student,
                                                       timestamp=_timestamp(submission.timestamp))
        for notebook in record.notebooks:
            mine = graded.get(notebook.name) or {}
            for grade in notebook.grades:
                scored = mine.get("grades", {}).get(grade.name)
                grade.auto_score = scored["auto_score"] if scored else 0.0
                grade.needs_manual_grade = scored["needs_manual_grade"] if scored else False
            for comment in notebook.comments:
                comment.auto_comment = mine.get("comments", {}).get(comment.name)
            notebook.late_submission_penalty = mine.get("late_submission_penalty")
            notebook.flagged = bool(reasons)
        gradebook.db.commit()
        record = gradebook.find_submission(submission.lesson, submission.student)
        cells = {grade.name: {"score": grade.score, "max_score": grade.max_score}
                 for notebook in record.notebooks for grade in notebook.grades}
        status = "rejected" if not submission.gradable else "failed" if not (result and result.success) else \
            "flagged" if reasons else "ok"
        report = Report(student=submission.student, lesson=submission.lesson, status=status, score=record.score,
                        max_score=record.max_score,
                        timestamp=record.timestamp.isoformat() if record.timestamp else None,
                        seconds_late=record.total_seconds_late, reasons=reasons, cells=cells,
                        grading_seconds=round(result.seconds, 1) if result else 0.0)
    _write_autograded(course, submission, result)
    _explain_failed_tests(course, submission, cells)
    path = course.reports / submission.lesson / f"{submission.student}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=1))
    return report


def _write_autograded(course: Course, submission: Submission, result: JobResult | None) -> None:
    target = course.autograded / submission.student / submission.lesson
    if target.exists():
        shutil.rmtree(target)
    files = result.autograded if result else {}
    if any(name.endswith(".ipynb") for name in files):
        for name, data in files.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)


def _explain_failed_tests(course: Course, submission: Submission, cells: dict) -> None:
    """For each test that lost points, the error it ended with, as the autograded notebook shows it."""
    folder = course.autograded / submission.student / submission.lesson
    for path in folder.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in cells and cells[grade_id]["score"] < cells[grade_id]["max_score"]:
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                if errors:
                    ename, evalue = errors[-1]["ename"], str(errors[-1]["evalue"]).strip()
                    cells[grade_id]["error"] = (ename + (f": {evalue}" if evalue else ""))[:300]
