"""Running one grading job on a worker (any machine with the course's environment).

:func:`run_job` writes the job into a private course folder, runs :mod:`.worker` (stock
``nbgrader autograde``) in a process group of its own, killed whole past the job's time limit,
and returns a :class:`~course_grader.jobs.job.JobResult` with the grades and the autograded files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from course_grader.jobs.job import CourseData, Job, JobResult
from course_grader.kernel import sandbox

RUNNING: set[subprocess.Popen] = set()  # this process's grading processes, so that Ctrl-C can stop them all


def run_job(course: CourseData, job: Job) -> JobResult:
    """Grade one job on this machine; the result carries everything back as data."""
    start = time.monotonic()
    worker = socket.gethostname()
    if job.folder:
        folder = Path(job.folder)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix=f"grading-{job.student}-{job.lesson}-"))
    ipc = None
    try:
        bwrap = sandbox.check_sandbox() if job.use_sandbox else None
        uid = sandbox.kernel_uid(bwrap)
        ipc = sandbox.make_ipc_folder()  # here, not in the worker: removed even when the worker is killed
        prefix = sandbox.worker_prefix(bwrap)
        _write(course, job, folder, bwrap, ipc, uid, private_mounts=bool(prefix))
        result = _run_worker(job, folder, prefix)
        result.autograded = _read_autograded(folder / "autograded" / job.student / job.lesson, course.ignore)
    finally:
        if ipc is not None:
            sandbox.remove_ipc_folder(ipc)
        if not job.folder:
            shutil.rmtree(folder, ignore_errors=True)
    result.seconds, result.worker = time.monotonic() - start, worker
    return result


def _write(course: CourseData, job: Job, folder: Path, bwrap: str | None, ipc: Path, uid: int | None,
           private_mounts: bool) -> None:
    (folder / "grader").mkdir()
    (folder / "grader" / "nbgrader_config.py").write_text(course.config)
    (folder / "gradebook.db").write_bytes(course.gradebook)
    for rel, data in course.sources.get(job.lesson, {}).items():
        (folder / "source" / job.lesson / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / "source" / job.lesson / rel).write_bytes(data)
    (folder / "source" / job.lesson).mkdir(parents=True, exist_ok=True)
    submitted = folder / "submitted" / job.student / job.lesson
    submitted.mkdir(parents=True)
    for name, data in job.files.items():
        (submitted / name).write_bytes(data)
    threads = job.limits.threads or _threads_here()
    (folder / "job.json").write_text(json.dumps({
        "student": job.student, "lesson": job.lesson, "limits": {**asdict(job.limits), "threads": threads},
        "bwrap": bwrap, "ipc": str(ipc), "uid": uid, "private_mounts": private_mounts, "cell_times": job.cell_times, "guard_names": job.guard_names,
        "hidden": list(job.hidden)}, indent=1))


def local_cores() -> int:
    """The cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _threads_here() -> int:
    """Cores per grading slot on this worker, for a job that did not say (a remote worker)."""
    cores = local_cores()
    try:
        from distributed import get_worker

        slots = get_worker().state.nthreads
    except (ImportError, ValueError):
        slots = 1
    return max(1, cores // max(1, slots))


def _run_worker(job: Job, folder: Path, prefix: list[str]) -> JobResult:
    """The worker in its own process group (``prefix``: and mount namespace), killed whole if it runs past the
    job's limit."""
    with open(folder / "worker.log", "w") as log:
        process = subprocess.Popen([*prefix, sys.executable, "-m", "course_grader.jobs.worker", str(folder)],
                                   env=_job_environ(),
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        RUNNING.add(process)
        try:
            process.wait(timeout=job.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return JobResult(job.student, job.lesson, False,
                             error=f"the grading job ran past its {job.timeout:.0f} s limit and was stopped")
        finally:
            RUNNING.discard(process)
    result_file = folder / "result.json"
    if not result_file.is_file():
        tail = (folder / "worker.log").read_text()[-2000:]
        return JobResult(job.student, job.lesson, False,
                         error=f"the grading job exited ({process.returncode}) without a result: {tail}")
    return JobResult(**{"student": job.student, "lesson": job.lesson, **json.loads(result_file.read_text())})


def _job_environ() -> dict[str, str]:
    """This process's environment without what a Dask nanny sets for its worker processes
    (``distributed.nanny.pre-spawn-environ``): its ``MALLOC_TRIM_THRESHOLD_=65536``, tuned for Dask's
    own memory, has glibc hand memory back to the system all the time: it made every job take 1.5 to 2
    times as long (bench/grading.py); the sandbox sets the job's own thread counts."""
    env = dict(os.environ)
    try:
        import dask

        for key in dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}:
            env.pop(key, None)
    except ImportError:  # not on Dask: nothing to undo
        pass
    return env


def _read_autograded(folder: Path, ignore: list[str]) -> dict[str, bytes]:
    """The autograded notebooks (and the submission's time): nothing else comes back from a job. The kernel
    wrote into a tmpfs of its own, so the folder holds only what nbgrader wrote; regular files only."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if (p.suffix == ".ipynb" or p.name == "timestamp.txt") and p.is_file() and not p.is_symlink()}


def kill_running() -> None:
    """Stop every grading process this process started (Ctrl-C); kernels die with them."""
    while RUNNING:
        for process in list(RUNNING):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
