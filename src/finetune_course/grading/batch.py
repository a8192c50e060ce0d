"""Autograde a class: check each submission, grade in parallel, merge into the gradebook serially.

nbgrader's own ``autograde`` grades one submission after another (nbgrader issue #174), and
its SQLite gradebook cannot take writes from parallel processes without lost updates. Here:

1. each ``(student, lesson)`` submission is checked first: a missing, empty, misnamed or
   non-JSON notebook is not run and scores zero, with the reason;
2. the rest are graded in parallel, each job a separate process running stock ``nbgrader
   autograde`` in a private course folder with a private copy of the gradebook (see
   :mod:`.worker`), its kernel sandboxed (see :mod:`.sandbox`);
3. results are merged into the course gradebook by this process alone, one submission at a
   time, writing absolute values: re-grading gives the same gradebook, a failed job scores
   zero with its reason, and no other student's rows are touched.

Every submission also gets a JSON report (``grader/reports/<lesson>/<student>.json``) with its
score per test cell and the reasons for lost points, which the CSV export includes.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nbformat
import sqlalchemy.exc

from finetune_course.grading import guard, sandbox
from finetune_course.grading.course import Course, GradingError, check_student_id

CELL_TIMES = "cell_times.json"


@dataclass
class Submission:
    """One student's folder for one lesson, after the checks that need no kernel."""

    student: str
    lesson: str
    folder: Path
    gradable: list[str] = field(default_factory=list)       # notebook file names to run
    rejected: dict[str, str] = field(default_factory=dict)  # notebook file name -> why it is not run
    notes: list[str] = field(default_factory=list)          # what nbgrader will repair, said plainly


def _job_dir(course: Course, submission: Submission) -> Path:
    return course.work / f"{submission.student}__{submission.lesson}"


def _jobs_default() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


# -- checks before running anything -----------------------------------------------------------
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


# -- jobs -----------------------------------------------------------------------------------
def _guard_names(course: Course, lesson: str) -> dict[str, dict[str, str]]:
    names = {}
    for notebook in course.notebooks(lesson):
        nb = nbformat.read(course.source / lesson / notebook, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        solutions = [c.source for c in code if c.metadata.get("nbgrader", {}).get("solution")]
        # the lesson's own cells (imports, worked examples); test cells import for themselves
        plain = [c.source for c in code if not c.metadata.get("nbgrader", {}).get("grade_id")]
        names[notebook[:-len(".ipynb")]] = guard.imported_names(plain, solutions)
    return names


def load_cell_times(course: Course) -> dict[str, dict[str, float]]:
    path = course.grader / CELL_TIMES
    return json.loads(path.read_text()) if path.is_file() else {}


def _prepare(course: Course, submission: Submission, template_db: Path, limits: sandbox.Limits,
             bwrap: str | None, cell_times: dict, guard_names: dict) -> Path:
    job = _job_dir(course, submission)
    if job.exists():
        shutil.rmtree(job)
    target = job / "submitted" / submission.student / submission.lesson
    target.mkdir(parents=True)
    for name in submission.gradable:
        _copy_deduplicated(submission.folder / name, target / name)
    if (submission.folder / "timestamp.txt").is_file():
        shutil.copy(submission.folder / "timestamp.txt", target / "timestamp.txt")
    shutil.copy(template_db, job / "gradebook.db")
    (job / "job.json").write_text(json.dumps({
        "config_file": str(course.config_file), "student": submission.student, "lesson": submission.lesson,
        "limits": asdict(limits), "bwrap": bwrap, "cell_times": cell_times.get(submission.lesson, {}),
        "guard_names": guard_names}, indent=1))
    return job


def _copy_deduplicated(source: Path, target: Path) -> None:
    """Copy a notebook; a cell repeating an earlier cell's grade_id loses its nbgrader metadata.

    This is what nbgrader's DeduplicateIds means to do, but nbgrader 0.9.6 then fails with a
    KeyError in OverwriteCells.add_missing_task_cells, so it is done here, before nbgrader.
    """
    nb = nbformat.read(source, as_version=4)
    seen: set[str] = set()
    changed = False
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in seen:
            del cell.metadata["nbgrader"]
            changed = True
        elif grade_id:
            seen.add(grade_id)
    if changed:
        nbformat.write(nb, target)
    else:
        shutil.copy(source, target)


_RUNNING: set[subprocess.Popen] = set()  # worker processes, so that Ctrl-C can stop them all


def _run_job(job: Path, timeout: float) -> dict:
    """The worker in its own process group, killed whole if it runs past ``timeout``."""
    start = time.monotonic()
    with open(job / "worker.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "finetune_course.grading.worker", str(job)],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _RUNNING.add(process)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return {"success": False, "error": f"the grading job ran past its {timeout:.0f} s limit and was "
                    "stopped", "execute": [], "notebooks": {}, "seconds": time.monotonic() - start}
        finally:
            _RUNNING.discard(process)
    result_file = job / "result.json"
    if not result_file.is_file():
        tail = (job / "worker.log").read_text()[-2000:]
        return {"success": False, "error": f"the grading job exited ({process.returncode}) without a result: "
                f"{tail}", "execute": [], "notebooks": {}, "seconds": time.monotonic() - start}
    result = json.loads(result_file.read_text())
    result["seconds"] = time.monotonic() - start
    return result


# -- merging into the course gradebook -------------------------------------------------------
def _timestamp(folder: Path):
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if path.is_file():
        try:
            return parse_utc(path.read_text().strip())
        except Exception:
            return None
    return None


def _merge(course: Course, submission: Submission, result: dict) -> dict:
    from nbgrader.api import Gradebook

    reasons = list(submission.rejected.values()) + submission.notes
    for record in result.get("execute", []):
        reasons += [f"{event['cell']}: {event['detail']}" for event in record["events"]]
    if submission.gradable and not result.get("success"):
        reasons.append("grading failed: " + (result.get("error") or "no result").strip().splitlines()[-1][:500])
    graded = result.get("notebooks", {}) if result.get("success") else {}
    with Gradebook(course.db_url, course.course_id) as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless.
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
        gradebook.update_or_create_student(submission.student)
        record = gradebook.update_or_create_submission(submission.lesson, submission.student,
                                                       timestamp=_timestamp(submission.folder))
        for notebook in record.notebooks:
            mine = graded.get(notebook.name)
            for grade in notebook.grades:
                scored = (mine or {}).get("grades", {}).get(grade.name)
                grade.auto_score = scored["auto_score"] if scored else 0.0
                grade.needs_manual_grade = scored["needs_manual_grade"] if scored else False
            for comment in notebook.comments:
                comment.auto_comment = (mine or {}).get("comments", {}).get(comment.name)
            notebook.late_submission_penalty = (mine or {}).get("late_submission_penalty")
            notebook.flagged = bool(reasons)
        gradebook.db.commit()
        record = gradebook.find_submission(submission.lesson, submission.student)
        cells = {}
        for notebook in record.notebooks:
            for grade in notebook.grades:
                cells[grade.name] = {"score": grade.score, "max_score": grade.max_score}
        summary = {"score": record.score, "max_score": record.max_score,
                   "timestamp": record.timestamp.isoformat() if record.timestamp else None,
                   "seconds_late": record.total_seconds_late}
    _copy_autograded(course, submission)
    _explain_failed_tests(course, submission, cells)
    status = "rejected" if not submission.gradable else "failed" if not result.get("success") else \
        "flagged" if reasons else "ok"
    report = {"student": submission.student, "lesson": submission.lesson, "status": status, **summary,
              "reasons": reasons, "cells": cells, "grading_seconds": round(result.get("seconds", 0.0), 1)}
    path = course.reports / submission.lesson / f"{submission.student}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    return report


def _copy_autograded(course: Course, submission: Submission) -> None:
    source = _job_dir(course, submission) / "autograded" / submission.student / submission.lesson
    target = course.autograded / submission.student / submission.lesson
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir() and any(source.glob("*.ipynb")):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, target)


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


# -- the batch -------------------------------------------------------------------------------
def _check_gradebook(course: Course, lessons: list[str]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.course_id) as gradebook:
        for lesson in lessons:
            try:
                assignment = gradebook.find_assignment(lesson)
            except MissingEntry:
                raise GradingError(f"lesson {lesson} is not in the gradebook yet: run "
                                   "`finetune-course grade release` first") from None
            if not assignment.notebooks:
                raise GradingError(f"lesson {lesson} has no notebooks in the gradebook: run "
                                   "`finetune-course grade release` again")


def autograde(course: Course, students: list[str] | None = None, lessons: list[str] | None = None,
              jobs: int | None = None, use_sandbox: bool = True, limits: sandbox.Limits | None = None,
              progress=print, merge: bool = True) -> list[dict]:
    """Grade every submission under ``submitted/`` (or the given students and lessons)."""
    lessons = lessons or course.lessons()
    unknown = sorted(set(lessons) - set(course.lessons()))
    if unknown:
        raise GradingError(f"no such lesson: {', '.join(unknown)}; lessons are {', '.join(course.lessons())}")
    if students is None:
        students = sorted(p.name for p in course.submitted.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if course.submitted.is_dir() else []
    for student in students:
        check_student_id(student)
    _check_gradebook(course, lessons)
    bwrap = sandbox.check_sandbox() if use_sandbox else None
    jobs = jobs or _jobs_default()
    limits = limits or sandbox.Limits()
    limits = replace(limits, threads=max(1, _jobs_default() // jobs))
    cell_times = load_cell_times(course)
    course.work.mkdir(parents=True, exist_ok=True)
    with open(course.work / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GradingError(f"another autograde of this course is running (lock: {course.work / '.lock'}); "
                               "wait for it to finish") from None
        return _grade_all(course, students, lessons, jobs, bwrap, limits, cell_times, progress, merge)


def _grade_all(course, students, lessons, jobs, bwrap, limits, cell_times, progress, merge) -> list[dict]:
    template = course.work / "template.db"
    shutil.copy(course.db_url.removeprefix("sqlite:///"), template)
    released: dict = {}
    submissions = [inspect(course, s, lesson, released) for s in students for lesson in lessons
                   if (course.submitted / s / lesson).is_dir()]
    guard_names = {lesson: _guard_names(course, lesson) for lesson in lessons}
    reports = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            return _dispatch(course, submissions, pool, template, limits, bwrap, cell_times, guard_names, progress,
                             merge, reports)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            while _RUNNING:  # workers run in sessions of their own: Ctrl-C does not reach them
                for process in list(_RUNNING):
                    os.killpg(process.pid, signal.SIGKILL)
                time.sleep(0.1)
            progress("interrupted: what was merged stays in the gradebook; run autograde again for the rest")
            raise


def _dispatch(course, submissions, pool, template, limits, bwrap, cell_times, guard_names, progress, merge,
              reports) -> list[dict]:
    """Submit the jobs; merge each result as it comes (in this thread only)."""
    running = {}
    for submission in submissions:
        if submission.gradable:
            job = _prepare(course, submission, template, limits, bwrap, cell_times, guard_names[submission.lesson])
            timeout = limits.job_seconds(len(submission.gradable))
            running[pool.submit(_run_job, job, timeout)] = submission
        elif merge:
            reports.append(_merge(course, submission, {"success": False}))
            progress(_line(reports[-1]))
    while running:
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            submission = running.pop(future)
            result = future.result()
            if merge:
                reports.append(_merge(course, submission, result))
                progress(_line(reports[-1]))
                if reports[-1]["status"] != "failed":  # a failed job's folder is kept to look into
                    shutil.rmtree(_job_dir(course, submission))
            else:
                reports.append({"student": submission.student, "lesson": submission.lesson, **result})
    return sorted(reports, key=lambda r: (r["student"], r["lesson"]))


def _line(report: dict) -> str:
    why = f"  ({report['reasons'][0]}{' ...' if len(report['reasons']) > 1 else ''})" if report["reasons"] else ""
    return (f"{report['student']:>16} {report['lesson']:<24} {report['score']:g}/{report['max_score']:g} "
            f"{report['status']}{why}")


def calibrate(course: Course, lessons: list[str] | None = None, jobs: int | None = None,
              use_sandbox: bool = True) -> dict[str, dict[str, float]]:
    """Run the solutions through the grader and store how long each cell took (``cell_times.json``)."""
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
        if path.exists():
            path.rename(path.with_suffix(".previous"))
        results = autograde(course, [student], lessons, jobs=jobs, use_sandbox=use_sandbox, merge=False,
                            progress=lambda line: None)
    finally:
        shutil.rmtree(course.submitted / student)
        if path.with_suffix(".previous").exists():
            path.with_suffix(".previous").rename(path)
    for result in results:
        if not result.get("success"):
            raise GradingError(f"calibration: the solution of {result['lesson']} did not grade: "
                               f"{result.get('error', '')[-500:]}")
        times[result["lesson"]] = {k: v for record in result["execute"] for k, v in record["times"].items()}
    path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    return times
