"""Autograde a class: check each submission, grade on Dask in parallel, merge into the gradebook serially.

nbgrader's own ``autograde`` grades one submission after another (nbgrader issue #174), and
its SQLite gradebook cannot take writes from parallel processes without lost updates. Here:

1. each ``(student, lesson)`` submission is checked first (:mod:`.checks`): a missing, empty,
   misnamed or non-JSON notebook is not run and scores zero, with the reason;
2. the rest become self-contained jobs (:mod:`.jobs`) that run on Dask (:mod:`.cluster`): worker
   processes on this machine, or a cluster's workers; each job runs stock ``nbgrader autograde``
   on a private copy of the gradebook, its kernel sandboxed (:mod:`.sandbox`);
3. results are merged into the course gradebook by this process alone (:mod:`.merge`).
"""

from __future__ import annotations

import fcntl
import shutil
from contextlib import closing
from dataclasses import replace

from course_grader.course import Course, GradingError, check_student_id, described
from course_grader.intake.checks import Submission, check_gradebook, inspect
from course_grader.jobs import cluster
from course_grader.jobs.job import (
    JobResult,
    build_job,
    course_data,
    expected_seconds,
    guard_names,
    load_cell_times,
    student_free_gradebook,
)
from course_grader.jobs.merge import Report, merge
from course_grader.kernel import sandbox


def autograde(course: Course, students: list[str] | None = None, lessons: list[str] | None = None,
              jobs: int | None = None, use_sandbox: bool = True, limits: sandbox.Limits | None = None,
              progress=print, merge_results: bool = True, scheduler: str | None = None) -> list[Report] | list[JobResult]:
    """Grade every submission under ``submitted/`` (or the given students and lessons).

    ``jobs``: jobs at once on the local cluster (default: one per core); ``scheduler``: the
    address of a Dask cluster to grade on instead. Returns the reports, sorted by student and
    lesson (the raw job results where ``merge_results`` is False: calibration).
    """
    lessons = lessons or course.lessons()
    unknown = sorted(set(lessons) - set(course.lessons()))
    if unknown:
        raise GradingError(f"no such lesson: {', '.join(unknown)}; lessons are {', '.join(course.lessons())}")
    if students is None:
        students = sorted(p.name for p in course.submitted.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if course.submitted.is_dir() else []
    for student in students:
        check_student_id(student)
    check_gradebook(course, lessons)
    if use_sandbox and not scheduler:
        sandbox.check_sandbox()  # here, before any job: on a cluster, each worker checks its own
    limits = limits or sandbox.Limits()
    if scheduler:
        limits = replace(limits, threads=0)  # each worker divides its own cores among its jobs
    else:
        jobs = jobs or cluster.local_cores()
        limits = replace(limits, threads=max(1, cluster.local_cores() // jobs))
    course.work.mkdir(parents=True, exist_ok=True)
    with open(course.work / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GradingError(f"another autograde of this course is running (lock: {course.work / '.lock'}); "
                               "wait for it to finish") from None
        with cluster.connect(scheduler, jobs, limits) as client:
            return _grade_all(course, client, students, lessons, use_sandbox, limits, progress, merge_results,
                              local=not scheduler)


def _grade_all(course, client, students, lessons, use_sandbox, limits, progress, merge_results, local):
    released: dict = {}
    submissions = [_inspect(course, s, lesson, released) for s in students for lesson in lessons
                   if (course.submitted / s / lesson).is_dir() or (course.submitted / s / lesson).is_symlink()]
    cell_times = load_cell_times(course)
    names = {lesson: guard_names(course, lesson) for lesson in lessons}
    # On this machine a job runs in grader/work/ (kept there when it fails); on a cluster, in a temporary folder.
    jobs, unbuilt = [], []
    for s in submissions:
        if not s.gradable:
            continue
        try:
            jobs.append(build_job(course, s, limits, use_sandbox, cell_times, names[s.lesson],
                                  folder=course.work / f"{s.student}__{s.lesson}" if local else None))
        except Exception as error:  # this submission's problem, not the batch's: it fails with the reason
            unbuilt.append((s, JobResult(s.student, s.lesson, False, error="its job could not be built "
                                         f"({described(error)})")))
    jobs.sort(key=expected_seconds, reverse=True)  # the longest first: none left running alone at the end
    by_key = {(s.student, s.lesson): s for s in submissions}
    results: list = []
    if merge_results:
        for submission, result in [(s, None) for s in submissions if not s.gradable] + unbuilt:
            results.append(_merge(course, submission, result))
            progress(results[-1].line)
    data = course_data(course, lessons, student_free_gradebook(course, course.work / "template.db"))
    try:
        with closing(cluster.run(client, data, jobs)) as finished:  # closing it cancels what is left
            for job, result in finished:
                if not merge_results:
                    results.append(result)
                    continue
                results.append(_merge(course, by_key[job.student, job.lesson], result))
                progress(results[-1].line)
                if job.folder and results[-1].status != "failed":  # a failed job's folder is kept to look into
                    shutil.rmtree(job.folder, ignore_errors=True)
    except KeyboardInterrupt:
        progress("interrupted: what was merged stays in the gradebook; run autograde again for the rest")
        raise
    return sorted(results, key=lambda r: (r.student, r.lesson))


def _inspect(course: Course, student: str, lesson: str, released: dict) -> Submission:
    """checks.inspect, with anything it did not foresee made this submission's rejection, never the batch's end."""
    try:
        return inspect(course, student, lesson, released)
    except Exception as error:
        submission = Submission(student, lesson, course.submitted / student / lesson)
        submission.rejected = {name: f"{name}: not graded, it could not be checked ({described(error)}); "
                               "submit the notebook as Jupyter saved it" for name in course.notebooks(lesson)}
        return submission


def _merge(course: Course, submission: Submission, result: JobResult | None) -> Report:
    """merge, where what a job brought back can't be recorded (an autograded notebook nbformat can't read, say):
    the submission is recorded as failed with the reason, and the batch goes on."""
    try:
        return merge(course, submission, result)
    except Exception as error:
        if result is None:  # nothing of the student's was recorded: the gradebook's problem, not the submission's
            raise
        return merge(course, submission, JobResult(submission.student, submission.lesson, False,
                                                   error=f"its result could not be recorded ({described(error)})"))
