"""Where grading jobs run: Dask distributed, on this machine or on a cluster.

By default :func:`connect` starts a ``LocalCluster`` on this machine whose workers are threads of
the calling process (one job at a time each; every job is a process of its own); with a scheduler
address (``--scheduler tcp://HOST:PORT``) jobs go to an existing cluster whose workers have the
course's environment (Slurm with dask-jobqueue, Kubernetes with the Dask Helm chart: see the
docs/grading-on-a-cluster.md). Jobs are data (:mod:`.jobs`), so workers need no shared file system.

Faults: a job that raises is run once more; on a cluster, a worker that dies mid-job (killed, out of
memory) gets its job rerun on another worker. A job whose worker died twice
(``distributed.scheduler.allowed-failures = 1``: set it on your scheduler) or that raised twice is
recorded as failed, with the reason. A scheduler that can't be reached is an error within
``Limits.connect_seconds``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from course_grader.course import GradingError
from course_grader.jobs.job import CourseData, Job, JobResult
from course_grader.jobs.runner import kill_running, local_cores, run_job  # noqa: F401 (local_cores: batch uses it)
from course_grader.kernel.sandbox import Limits

ALLOWED_FAILURES = 1  # a job is rerun once after its worker dies; the second death fails it


@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None, limits: Limits = Limits()) -> Iterator:
    """A Dask client: to ``scheduler``, or to a local cluster of ``workers`` slots (default: one per core)."""
    from distributed import Client

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{limits.connect_seconds:g}s")
        except (OSError, TimeoutError) as error:
            raise GradingError(f"cannot reach the Dask scheduler at {scheduler} within {limits.connect_seconds:g} s "
                               f"({error}). Start it (`dask scheduler`) and its workers, check the address, or "
                               "leave out --scheduler to grade on this machine") from None
    else:
        cluster = local_cluster(workers or local_cores())
        client = Client(cluster)
    try:
        if scheduler:
            _wait_for_workers(client, scheduler, limits.no_worker_seconds)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _removing_scratch(cluster, scratch: str):
    """``cluster``, whose close (or garbage collection) removes its scratch folder."""
    cluster.course_scratch = scratch
    close = cluster.close

    def close_and_remove(*args, **kwargs):
        try:
            return close(*args, **kwargs)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            # In-process workers put their folders on this process's sys.path: a folder gone is a name someone
            # else could make again, so its entries go too.
            sys.path[:] = [p for p in sys.path if not p.startswith(scratch + os.sep)]

    cluster.close = close_and_remove
    weakref.finalize(cluster, shutil.rmtree, scratch, True)
    return cluster


def private_scratch() -> str:
    """A folder for Dask's scratch space that no one else can have made or can enter (``mkdtemp``: a random
    name, mode 0700). Dask's default is ``/tmp/dask-scratch-space`` (``-UID`` appended when someone else
    owns it), a name anyone on the machine can create first, and a worker puts its folder there first on
    ``sys.path``: a module planted in it would run as the instructor."""
    return tempfile.mkdtemp(prefix="course-grader-dask-")


def local_cluster(workers: int):
    """A LocalCluster for grading on this machine: its scheduler and ``workers`` one-threaded workers are
    threads of this process, talking in memory (``inproc://``).

    A worker's only work is to start its job's process (:func:`.runner.run_job`: the job, its kernel and
    the sandbox are processes of their own, killed whole at the job's limit) and wait for it, so
    threads do: the cluster is up in a fraction of a second, where worker processes took 4 to 5 s of
    every batch, and it listens on no port that takes Dask messages. That matters on a shared machine
    (a classroom server, where every student has an account): a Dask scheduler runs whatever a client
    sends it, as whoever started it. The HTTP servers Dask always starts bind to loopback and serve no
    page (``http.routes`` empty: no dashboard, no list of jobs by student and lesson, no worker logs).
    """
    import dask
    from distributed import LocalCluster

    # Workers' profilers would sample this process's threads (the instructor's own) for nothing. The
    # scheduler's and the workers' folders (each goes first on sys.path) are in a private scratch folder.
    scratch = private_scratch()
    with dask.config.set({"distributed.worker.profile.enabled": False, "temporary-directory": scratch,
                          "distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False, memory_limit=0,
                               dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
                               scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR,
                               local_directory=scratch)
    return _removing_scratch(cluster, scratch)


def process_cluster(workers: int):
    """A LocalCluster of ``workers`` one-threaded worker processes on loopback TCP, reached by its
    address: the tests' stand-in for an instructor's own cluster (whose workers can be killed).

    Dask's nanny puts ``distributed.nanny.pre-spawn-environ`` (MALLOC_TRIM_THRESHOLD_, one OMP/MKL
    thread) into the environment of the process that starts it, for good: here that would be the
    caller's process and every kernel it starts later. So none is set, and the environment is put
    back as it was.
    """
    import dask
    from distributed import LocalCluster

    before = dict(os.environ)
    none = {key: None for key in dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}}
    scratch = private_scratch()
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.worker.profile.enabled": False, "temporary-directory": scratch,
                          "distributed.nanny.pre-spawn-environ": none}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                               dashboard_address=None, host="127.0.0.1", silence_logs=logging.ERROR,
                               local_directory=scratch)
    os.environ.clear()
    os.environ.update(before)
    return _removing_scratch(cluster, scratch)


def _wait_for_workers(client, scheduler: str, seconds: float) -> None:
    try:
        client.wait_for_workers(1, timeout=seconds)
    except TimeoutError:
        raise GradingError(f"the Dask scheduler at {scheduler} has had no worker for {seconds:g} s: start "
                           f"workers with the course's environment (`dask worker {scheduler}`)") from None


def slots(client) -> int:
    """How many jobs the cluster runs at once."""
    return max(1, sum(w["nthreads"] for w in client.scheduler_info()["workers"].values()))


def run(client, course: CourseData, jobs: list[Job], function=run_job) -> Iterator[tuple[Job, JobResult]]:
    """Run every job on the cluster (``function(course, job)``, :func:`.runner.run_job`); yield each with
    its result as it finishes. Closing the iteration early (Ctrl-C) cancels the jobs not finished and
    stops the running ones on every worker."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    if not jobs:
        return
    shared = client.scatter(course, broadcast=True, hash=False)
    batch = uuid.uuid4().hex[:8]
    futures = {client.submit(function, shared, job, key=f"grade-{job.key}-{batch}", pure=False, retries=1): job
               for job in jobs}
    try:
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except KilledWorker:
                result = JobResult(job.student, job.lesson, False,
                                   error=f"the worker grading it died twice (killed, or out of memory); "
                                   f"gave up after {ALLOWED_FAILURES + 1} tries")
            except Exception as error:
                result = JobResult(job.student, job.lesson, False,
                                   error=f"the grading job failed twice on a worker: {type(error).__name__}: {error}")
            future.release()
            yield job, result
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)
            try:
                client.run(kill_running)
            except Exception:  # a worker gone already has nothing left to stop
                pass
