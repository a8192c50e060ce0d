"""Grading jobs as data: what goes to a worker, and the typed result that comes back.

A job is self-contained, so a worker on another machine needs no shared file system: the
course's part (:class:`CourseData`: the nbgrader config, a copy of the gradebook without any
student in it, the lessons' non-notebook files) is sent once per worker, and each job
(:class:`Job`) carries one student's notebooks for one lesson. The worker runs it with
:func:`course_grader.jobs.runner.run_job`, which returns a :class:`JobResult`: the grades and the
autograded files, as data.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_grader.course import Course
from course_grader.intake.checks import Submission
from course_grader.kernel import guard, sandbox

CELL_TIMES = "cell_times.json"


@dataclass(frozen=True)
class CourseData:
    """What every job of a batch shares: sent to each worker once."""

    course_id: str
    config: str                       # the text of the course's nbgrader_config.py
    gradebook: bytes                  # the course gradebook with its lessons and no student
    sources: dict[str, dict[str, bytes]]  # lesson -> relative path -> bytes: the files nbgrader copies in
    ignore: list[str]                 # CourseDirectory.ignore


@dataclass(frozen=True)
class Job:
    """One student's notebooks for one lesson, and how to grade them."""

    student: str
    lesson: str
    files: dict[str, bytes]           # notebook name (and timestamp.txt) -> bytes
    limits: sandbox.Limits
    use_sandbox: bool
    timeout: float                    # seconds before the whole job is killed
    cell_times: dict[str, float] = field(default_factory=dict)
    guard_names: dict[str, dict[str, str]] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()      # the course's folders, hidden from the kernel where they exist
    folder: str | None = None         # where to run (kept after a failure); None: a temporary folder

    @property
    def key(self) -> str:
        return f"{self.student}/{self.lesson}"


@dataclass
class JobResult:
    """What a grading job gives back: the one record the batch merges, reports and calibrates from."""

    student: str
    lesson: str
    success: bool
    error: str = ""
    log: str = ""
    execute: list[dict] = field(default_factory=list)    # per notebook: events and cell times (GuardedExecute)
    notebooks: dict[str, dict] = field(default_factory=dict)  # per notebook: grades and comments
    autograded: dict[str, bytes] = field(default_factory=dict)  # the autograded folder, relative path -> bytes
    seconds: float = 0.0
    worker: str = ""

    def cell_times(self) -> dict[str, float]:
        return {key: value for record in self.execute for key, value in record["times"].items()}


# -- building jobs (in the process that runs the batch) ---------------------------------------
def course_data(course: Course, lessons: list[str], template: Path) -> CourseData:
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import find_all_files

    ignore = list(CourseDirectory(config=course.nbgrader_config()).ignore)
    sources = {}
    for lesson in lessons:
        folder = course.source / lesson
        files = find_all_files(str(folder), ignore + ["*.ipynb"])
        sources[lesson] = {Path(f).relative_to(folder).as_posix(): Path(f).read_bytes() for f in files}
    return CourseData(course_id=course.course_id, config=course.config_file.read_text(),
                      gradebook=template.read_bytes(), sources=sources, ignore=ignore)


def student_free_gradebook(course: Course, target: Path) -> Path:
    """A copy of the course gradebook with its lessons, cells and due dates, and no student: what each
    job starts from (small, whatever the size of the class)."""
    from nbgrader.api import Gradebook

    shutil.copy(course.db_url.removeprefix("sqlite:///"), target)
    with Gradebook(f"sqlite:///{target}", course.course_id) as gradebook:
        for student in [s.id for s in gradebook.students]:
            gradebook.remove_student(student)
    return target


def build_job(course: Course, submission: Submission, limits: sandbox.Limits, use_sandbox: bool,
              cell_times: dict, guard_names: dict, folder: Path | None) -> Job:
    # The bytes checks.inspect read (never through a link), not the folder again: what was checked is what runs.
    missing = [name for name in submission.gradable if name not in submission.files]
    if missing:
        raise ValueError(f"build_job takes a Submission from checks.inspect, with the bytes of each gradable notebook; "
                         f"{submission.student}/{submission.lesson} lacks {missing}")
    files = {name: _deduplicated(submission.files[name]) for name in submission.gradable}
    if submission.timestamp is not None:
        files["timestamp.txt"] = submission.timestamp
    hidden = tuple(str(p) for p in sorted({course.source, course.grader, course.submitted, course.autograded,
                                           course.feedback, course.root / "solutions"} - {course.root}))
    return Job(student=submission.student, lesson=submission.lesson, files=files, limits=limits,
               use_sandbox=use_sandbox, timeout=limits.job_seconds(len(submission.gradable)),
               cell_times=cell_times.get(submission.lesson, {}), guard_names=guard_names, hidden=hidden,
               folder=str(folder) if folder else None)


def _deduplicated(raw: bytes) -> bytes:
    """A notebook's bytes; a cell repeating an earlier cell's grade_id loses its nbgrader metadata.

    This is what nbgrader's DeduplicateIds means to do, but nbgrader 0.9.6 then fails with a
    KeyError in OverwriteCells.add_missing_task_cells, so it is done here, before nbgrader.
    """
    nb = nbformat.reads(raw.decode(), as_version=4)
    seen: set[str] = set()
    changed = False
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in seen:
            del cell.metadata["nbgrader"]
            changed = True
        elif grade_id:
            seen.add(grade_id)
    return nbformat.writes(nb).encode() if changed else raw


def guard_names(course: Course, lesson: str) -> dict[str, dict[str, str]]:
    """Per notebook: the names the lesson's own cells import, which test cells may rely on."""
    names = {}
    for notebook in course.notebooks(lesson):
        nb = nbformat.read(course.source / lesson / notebook, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        solutions = [c.source for c in code if c.metadata.get("nbgrader", {}).get("solution")]
        # the lesson's own cells (imports, worked examples); test cells import for themselves
        plain = [c.source for c in code if not c.metadata.get("nbgrader", {}).get("grade_id")]
        names[notebook[:-len(".ipynb")]] = guard.imported_names(plain, solutions)
    return names


def expected_seconds(job: Job) -> float:
    """What the job's cells took in the calibration (``grade calibrate``), for the cells its notebooks hold:
    the batch starts the longest jobs first, so that no long one is left running alone at the end."""
    from course_grader.kernel.execute import cell_key

    total = 0.0
    for name, data in job.files.items():
        if name.endswith(".ipynb"):
            try:
                cells = nbformat.reads(data.decode(), as_version=4).cells
            except Exception:  # checked before the job was built; a notebook that still fails costs nothing here
                continue
            total += sum(job.cell_times.get(cell_key(cell), 0.0) for cell in cells if cell.cell_type == "code")
    return total


def load_cell_times(course: Course) -> dict[str, dict[str, float]]:
    path = course.grader / CELL_TIMES
    return json.loads(path.read_text()) if path.is_file() else {}
