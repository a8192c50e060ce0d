"""Where grading jobs run: Dask distributed, on this machine or on a cluster.

By default :func:`connect` starts a ``LocalCluster`` of worker processes on this machine (one
job each); with a scheduler address (``--scheduler tcp://HOST:PORT``) jobs go to an existing
cluster whose workers have the course's environment (Slurm with dask-jobqueue, Kubernetes with
the Dask Helm chart: see the README). Jobs are data (:mod:`.jobs`), so workers need no shared
file system.

Faults: a worker that dies mid-job (killed, out of memory) gets its job rerun on another worker;
a job whose worker died twice (``distributed.scheduler.allowed-failures = 1``, set here for the
local cluster; set it on your scheduler too) or that raised twice is recorded as failed, with
the reason. A scheduler that can't be reached is an error within ``Limits.connect_seconds``.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from course_grader.course import GradingError
from course_grader.sandbox import Limits
from course_grader.jobs import CourseData, Job, JobResult
from course_grader.runner import kill_running, local_cores, run_job  # noqa: F401 (local_cores: batch uses it)

ALLOWED_FAILURES = 1  # a job is rerun once after its worker dies; the second death fails it


@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None, limits: Limits = Limits()) -> Iterator:
    """A Dask client: to ``scheduler``, or to a local cluster of ``workers`` processes (default: one per core)."""
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


def local_cluster(workers: int, secure: bool = True):
    """A LocalCluster of ``workers`` one-threaded processes on loopback, for grading jobs.

    Loopback is not private on a shared machine (a classroom server: every student has an account
    on it), and a Dask scheduler runs whatever a client sends it, as whoever started it. So the
    cluster speaks TLS with a certificate made for this run and held in memory, and takes only
    clients and workers that show one signed with it (``Security.temporary()``); no dashboard and no
    web pages (they would list the jobs by student and lesson, and the workers' logs). ``secure=False``
    (plain TCP) is for the tests' stand-in of an instructor's own cluster, reached by its address.

    Dask's nanny puts ``distributed.nanny.pre-spawn-environ`` (MALLOC_TRIM_THRESHOLD_, one OMP/MKL
    thread) into the environment of the process that starts it, for good: here that would be the
    instructor's process (a notebook, a test session) and every kernel it starts later. So none is
    set, and the environment is put back as it was.
    """
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    before = dict(os.environ)
    none = {key: None for key in dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}}
    # A worker's only work is waiting for its job's process: its profiler would take a third of its CPU.
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.worker.profile.enabled": False,
                          # Their web pages (workers' logs, the jobs by student and lesson) served to no one.
                          "distributed.scheduler.http.routes": [], "distributed.worker.http.routes": [],
                          "distributed.nanny.pre-spawn-environ": none}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                               dashboard_address=None, host="127.0.0.1", silence_logs=logging.ERROR,
                               **({"security": Security.temporary(), "protocol": "tls://"} if secure else {}))
    os.environ.clear()
    os.environ.update(before)
    return cluster


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
