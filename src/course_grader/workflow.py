"""The instructor's steps other than autograding, each a thin layer over nbgrader.

- :func:`release`: ``nbgrader generate_assignment`` for every lesson (student versions into
  ``lessons/``, cells into the gradebook), and due dates from ``grader/due_dates.json``;
- :func:`collect`: a class's submissions, from a folder of ``student/lesson/*.ipynb`` or from a
  learning platform's zip, into ``grader/submitted/`` (a replaced submission is kept aside);
- :func:`feedback`: ``nbgrader generate_feedback`` (HTML per student and lesson, rewritten so that it
  shows results and explanations but no hidden test, see :mod:`.feedback`);
- :func:`export_csv`: one row per student and lesson: score, lateness, status and reasons.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from course_grader.course import Course, GradingError, check_student_id

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


# -- collect --------------------------------------------------------------------------------
# Learning platforms' "download all submissions" zips, for one lesson at a time:
#   Canvas: doejane_12345_67890_01_why_finetune.ipynb (with "late_" after the login when late,
#           and "-1", "-2" before .ipynb for resubmissions)
#   Moodle: Jane Doe_12345_assignsubmission_file_/01_why_finetune.ipynb
LMS_PATTERNS = {
    "canvas": re.compile(r"^(?P<student>[^_/]+)_(?:late_)?\d+_\d+_(?P<file>[^/]+)$"),
    "moodle": re.compile(r"^(?P<student>[^/]+?)_\d+_assignsubmission_file_/(?P<file>[^/]+)$"),
}


@dataclass
class Collected:
    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def collect(course: Course, source: str | Path, lesson: str | None = None, lms: str | None = None) -> Collected:
    """Import submissions from a folder or zip; ``lms`` and ``lesson`` for a platform's flat export."""
    source = Path(source)
    if lms and lms not in LMS_PATTERNS:
        raise GradingError(f"--lms must be one of {', '.join(LMS_PATTERNS)}; got {lms!r}")
    if lms and not lesson:
        raise GradingError(f"a {lms} export holds one lesson: say which with --lesson")
    if lesson and lesson not in course.lessons():
        raise GradingError(f"no such lesson {lesson!r}; lessons are {', '.join(course.lessons())}")
    files = list(_read_source(source))
    collected = Collected()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    for name, data, when in files:
        where = _place(course, name, lesson, lms)
        if isinstance(where, str):
            if name.endswith(".ipynb"):
                collected.skipped.append(f"{name}: {where}")
            continue
        student, lesson_id, filename = where
        target = course.submitted / student / lesson_id / filename
        label = f"{student}/{lesson_id}/{filename}"
        if target.is_file() and target.read_bytes() == data:
            collected.unchanged.append(label)
            continue
        if target.exists():
            keep = course.grader / "submitted_previous" / stamp / student / lesson_id
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, keep / filename)
            collected.replaced.append(label)
        else:
            collected.imported.append(label)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if when is not None:
            (target.parent / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    if not (collected.imported or collected.replaced or collected.unchanged):
        raise GradingError(f"no submissions found in {source}: expected STUDENT/LESSON/*.ipynb"
                           + (f" or a {lms} export" if lms else " (or use --lms canvas|moodle --lesson LESSON)")
                           + (f"; skipped: {collected.skipped[:5]}" if collected.skipped else ""))
    return collected


def _read_source(source: Path):
    """(relative path, bytes, submission time or None) of every file in a folder or zip."""
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            rel = path.relative_to(source).as_posix()
            if rel.endswith("timestamp.txt"):
                continue
            stamp = path.parent / "timestamp.txt"
            when = None
            if stamp.is_file():
                from nbgrader.utils import parse_utc

                when = parse_utc(stamp.read_text().strip())
            yield rel, path.read_bytes(), when
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    when = dt.datetime(*info.date_time, tzinfo=dt.timezone.utc)
                    yield info.filename, archive.read(info), when
    else:
        raise GradingError(f"{source} is neither a folder nor a zip file")


def _place(course: Course, name: str, lesson: str | None, lms: str | None):
    """(student, lesson, file name) for a path in the export, or why it is skipped."""
    if "__MACOSX" in name or Path(name).name.startswith("."):
        return "not a submission"
    if lms:
        match = LMS_PATTERNS[lms].match(name.split("/", 1)[-1] if name.count("/") > 1 else name)
        if not match:
            return f"not a {lms} submission file name"
        student = re.sub(r"[^A-Za-z0-9._@+-]+", "-", match["student"]).strip("-").lower()
        filename = _released_name(course, lesson, match["file"])
        return (check_student_id(student), lesson, filename)
    parts = name.split("/")
    lessons = set(course.lessons())
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] in lessons and (lesson is None or parts[i] == lesson):
            student = parts[i - 1]
            try:
                check_student_id(student)
            except GradingError as error:
                return str(error)
            return (student, parts[i], "/".join(parts[i + 1:]))
    return "expected STUDENT/LESSON/FILE with LESSON one of the course's lessons"


def _released_name(course: Course, lesson: str, filename: str) -> str:
    """Undo a platform's renaming of resubmissions (01_x-1.ipynb) when that gives a released name."""
    expected = set(course.notebooks(lesson))
    if filename in expected:
        return filename
    stripped = re.sub(r"-\d+(\.ipynb)$", r"\1", filename)
    return stripped if stripped in expected else filename


# -- feedback and grades --------------------------------------------------------------------
def feedback(course: Course, lessons: list[str] | None = None, show_explanations: bool = True) -> list[Path]:
    """HTML feedback per student and lesson (see :mod:`.feedback`: no hidden test in it), and a zip per student."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import GenerateFeedback
    from nbgrader.preprocessors import GetGrades

    from course_grader.feedback import StudentFeedback, course_explanations

    for lesson in lessons or course.lessons():
        if any(course.autograded.glob(f"*/{lesson}")):
            settings = {"HTMLExporter.template_name": "feedback",
                        "GenerateFeedback.preprocessors": [GetGrades, StudentFeedback, CSSHTMLHeaderPreprocessor],
                        "StudentFeedback.explanations": course_explanations(course.source, lesson),
                        "StudentFeedback.show_explanations": show_explanations}
            _ok(_run(course, GenerateFeedback, settings, assignment_id=lesson), f"nbgrader generate_feedback {lesson}")
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


CSV_COLUMNS = ["student_id", "lesson", "score", "max_score", "seconds_late", "status", "reasons", "failed_tests"]


def grade_rows(course: Course) -> list[dict]:
    """One row per student and lesson: scores from the gradebook, status and reasons from the reports."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(course.db_url, course.course_id) as gradebook:
        known = set(course.lessons())
        assignments = [a for a in gradebook.assignments if a.name in known]
        students = sorted(s.id for s in gradebook.students)
        for student in students:
            for assignment in assignments:
                lesson = assignment.name
                report_path = course.reports / lesson / f"{student}.json"
                report = json.loads(report_path.read_text()) if report_path.is_file() else None
                try:
                    submission = gradebook.find_submission(lesson, student)
                except MissingEntry:
                    rows.append({"student_id": student, "lesson": lesson, "score": 0,
                                 "max_score": assignment.max_score, "seconds_late": 0, "status": "missing",
                                 "reasons": "no submission", "failed_tests": ""})
                    continue
                rows.append({"student_id": student, "lesson": lesson, "score": submission.score,
                             "max_score": submission.max_score, "seconds_late": round(submission.total_seconds_late),
                             "status": ("late" if submission.total_seconds_late > 0 and report
                                        and report["status"] == "ok" else report["status"] if report else "graded"),
                             "reasons": " | ".join(report["reasons"]) if report else "",
                             "failed_tests": _failed_tests(report)})
    return rows


def _failed_tests(report: dict | None) -> str:
    if not report:
        return ""
    lost = [f"{name} ({cell['error']})" if cell.get("error") else name
            for name, cell in report["cells"].items() if cell["score"] < cell["max_score"]]
    return " | ".join(lost)


def export_csv(course: Course, out: str | Path | None = None) -> Path:
    path = Path(out) if out else course.grader / "exports" / "grades.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in grade_rows(course):
        writer.writerow({**row, "score": f"{row['score']:g}", "max_score": f"{row['max_score']:g}"})
    path.write_text(buffer.getvalue())
    return path
