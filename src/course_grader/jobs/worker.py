"""One grading job: stock ``nbgrader autograde`` of one student's lesson, in a private course folder.

Run by :func:`course_grader.jobs.runner.run_job` as ``python -m course_grader.jobs.worker JOB_FOLDER``. The
job folder holds ``job.json`` (what to grade and how), ``grader/nbgrader_config.py`` (the
course's config), ``gradebook.db`` (a private copy of the course gradebook), ``source/<lesson>/``
(the lesson's other files), ``submitted/<student>/<lesson>/`` (the checked submission) and,
afterwards, ``autograded/`` and ``result.json``. Working on a private gradebook is what lets
jobs run in parallel: nbgrader's SQLite gradebook is written by one process only, the batch,
when it merges the results (see :mod:`course_grader.jobs.merge`).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

# nbformat validates with jsonschema, which imports rfc3987_syntax for its "iri" formats when it is installed
# (jupyter-events pulls it in): building its Lark parsers took 1.1 s of every job's 13 (jsonschema issue #1428).
# No notebook schema uses those formats; without the module jsonschema just has no iri checker.
sys.modules.setdefault("rfc3987_syntax", None)

from course_grader.course import load_config  # noqa: E402
from course_grader.kernel import sandbox  # noqa: E402


def autograde_preprocessors():
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    from course_grader.kernel.execute import GuardedExecute

    return [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
            AssignLatePenalties, CheckCellMetadata]


def run(job_dir: Path) -> dict:
    job = json.loads((job_dir / "job.json").read_text())
    student, lesson = job["student"], job["lesson"]
    limits = sandbox.Limits(**job["limits"])
    writable = job_dir / "autograded" / student / lesson
    writable.mkdir(parents=True, exist_ok=True)
    # The job folder holds the gradebook (with the hidden tests): hidden too, but for the kernel's own folders.
    hidden = sorted({Path(p) for p in job["hidden"]} | {job_dir})
    source = job_dir / "source" / lesson
    files = {p.relative_to(source).as_posix(): p for p in sorted(source.rglob("*"))
             if p.is_file() and not p.is_symlink() and p.suffix != ".ipynb"}
    ipc, uid = Path(job["ipc"]), job["uid"]
    sandbox.prepare_ipc_folder(ipc, uid, job["private_mounts"])
    data_dir = sandbox.write_kernel_spec(job_dir, ipc, writable, hidden, limits, job["bwrap"], files, uid)
    os.environ.update(sandbox.grading_environ(data_dir))
    os.environ.pop("MPLBACKEND", None)
    report_file = job_dir / "execute.jsonl"
    overrides = {
        "CourseDirectory.root": str(job_dir),
        "CourseDirectory.source_directory": "source",
        "CourseDirectory.submitted_directory": "submitted",
        "CourseDirectory.autograded_directory": "autograded",
        "CourseDirectory.feedback_directory": "feedback",
        "CourseDirectory.db_url": f"sqlite:///{job_dir / 'gradebook.db'}",
        "CourseDirectory.assignment_id": lesson,
        "CourseDirectory.student_id": student,
        "Autograde.autograde_preprocessors": autograde_preprocessors(),
        "Autograde.create_student": True,
        "OverwriteCells.add_missing_cells": True,
        "GuardedExecute.kernel_name": sandbox.KERNEL_NAME,
        "GuardedExecute.timeout": int(limits.cell_seconds),
        "GuardedExecute.notebook_timeout": limits.notebook_seconds,
        "GuardedExecute.timeout_factor": limits.timeout_factor,
        "GuardedExecute.min_cell_timeout": limits.min_cell_seconds,
        "GuardedExecute.output_limit": limits.output_kib * 1024,
        "GuardedExecute.cell_times": job.get("cell_times", {}),
        "GuardedExecute.guard_names": job.get("guard_names", {}),
        "GuardedExecute.report_file": str(report_file),
        "GuardedExecute.shutdown_kernel": "immediate",
        "GuardedExecute.extra_arguments": ["--HistoryManager.hist_file=:memory:"],
        "GuardedExecute.secrets_file": str(sandbox.secrets_file(job_dir)),
        "GuardedExecute.verdicts_file": str(sandbox.verdicts_file(ipc)),
        "GuardedExecute.kernel_uid": uid,
        "GuardedExecute.watch": {**job["limits"]} if job["bwrap"] else {},
        "GuardedExecute.watch_folders": [str(writable), "/tmp", str(job_dir / "kernel" / "home")],
        "GuardedExecute.watch_host_folders": [] if os.path.ismount(ipc) else [str(ipc)],
        **sandbox.kernel_manager_config(job_dir, ipc),
    }
    config = load_config(job_dir / "grader" / "nbgrader_config.py", **overrides)
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=config)
    app = Autograde(coursedir=coursedir, config=config)
    app.force = True
    outcome = capture_log(app)
    result = {"student": student, "lesson": lesson, "success": bool(outcome.get("success")),
              "error": outcome.get("error", ""), "log": outcome.get("log", "")[-20000:],
              "execute": [json.loads(line) for line in report_file.read_text().splitlines()]
              if report_file.exists() else [], "notebooks": {}}
    if result["success"]:
        result.update(_read_gradebook(job_dir, lesson, student))
    return result


def _read_gradebook(job_dir: Path, lesson: str, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{job_dir / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(lesson, student)
        notebooks = {}
        for notebook in submission.notebooks:
            notebooks[notebook.name] = {
                "late_submission_penalty": notebook.late_submission_penalty,
                "grades": {g.name: {"auto_score": g.auto_score, "max_score": g.max_score,
                                    "needs_manual_grade": g.needs_manual_grade} for g in notebook.grades},
                "comments": {c.name: c.auto_comment for c in notebook.comments},
            }
        return {"notebooks": notebooks}


def _die_with_parent() -> None:
    """Kill this job's process group when the process that started it is gone (a Dask worker killed,
    or closed with its cluster): a job nobody waits for must not run on."""
    import signal
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    job_dir = Path((argv or sys.argv[1:])[0]).resolve()
    _die_with_parent()
    try:
        result = run(job_dir)
    except Exception:
        result = {"success": False, "error": traceback.format_exc(), "log": "", "execute": [], "notebooks": {}}
    (job_dir / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
