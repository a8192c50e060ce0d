"""Grading on Dask clusters over loopback: the same grades as on this machine, faults survived.

The fixture course (tests/grading_fixture.py) with a batch of good, late, wrong and bad
submissions is graded on a separate cluster reached by its scheduler's address
(``--scheduler``), where jobs run in temporary folders from the data they carry, then again on
that cluster with a worker killed in the middle of a job. Both give the CSV of the local run
(the default local cluster; test_grading.py grades the whole fixture batch on it).
"""

import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import dask
import nbformat
import pytest
from distributed import Client

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402

from course_grader import workflow  # noqa: E402
from course_grader.course import GradingError  # noqa: E402
from course_grader.intake.checks import inspect  # noqa: E402
from course_grader.jobs import batch, cluster
from course_grader.jobs import job as jobs
from course_grader.kernel import execute, sandbox
from finetune_course.cli import main  # noqa: E402

LIMITS = sandbox.Limits(cell_seconds=10, notebook_seconds=45)
KINDS = ["good", "late", "wrong_answer", "kernel_crash", "monkeypatch", "empty"]  # what a job carries: times, guards
DUE = "2026-12-01 12:00:00 UTC"


@pytest.fixture(scope="module")
def course(tmp_path_factory, bwrap):
    root = tmp_path_factory.mktemp("cluster_course")
    course = fx.make_course(root)
    (course.grader / workflow.DUE_DATES).write_text(f'{{"{fx.LESSON}": "{DUE}"}}')
    workflow.release(course)
    released = nbformat.read(course.release / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    for kind in KINDS:
        folder = course.submitted / kind / fx.LESSON
        folder.mkdir(parents=True)
        (folder / f"{fx.LESSON}.ipynb").write_bytes(fx.submission(kind, released))
        stamp = "2026-12-01 13:00:00.000000 UTC" if kind == "late" else "2026-11-30 09:00:00.000000 UTC"
        (folder / "timestamp.txt").write_text(stamp)
    return course


@pytest.fixture(scope="module")
def local_csv(course):
    """The CSV of these kinds graded on this machine: their rows of the fixture batch's CSV, which
    test_grading.py checks against a run on the default local cluster."""
    header, *rows = fx.EXPECTED_CSV.splitlines(keepends=True)
    return header + "".join(row for row in rows if row.split(",")[0] in KINDS)


@pytest.fixture()
def other_cluster():
    """A cluster of its own, reached over loopback by its scheduler's address, as an instructor's cluster is."""
    with cluster.process_cluster(2) as remote, Client(remote) as client:
        yield remote.scheduler_address, client


def test_jobs_carry_their_data_so_workers_need_no_shared_file_system(course):
    submission = inspect(course, "good", fx.LESSON)
    job = jobs.build_job(course, submission, LIMITS, True, {}, {}, folder=None)
    data = jobs.course_data(course, [fx.LESSON], jobs.student_free_gradebook(course, course.root / "probe.db"))
    assert job.files[f"{fx.LESSON}.ipynb"] == (submission.folder / f"{fx.LESSON}.ipynb").read_bytes()
    assert data.config == course.config_file.read_text() and data.gradebook[:15] == b"SQLite format 3"
    # The only course paths a job names are the folders a sandbox hides where they exist.
    carried = pickle.dumps(replace(job, hidden=())) + pickle.dumps(data)
    assert str(course.root).encode() not in carried
    # The gradebook a job gets has the lesson and no student: small, whatever the class.
    import sqlite3

    with sqlite3.connect(course.root / "probe.db") as db:
        assert db.execute("select count(*) from student").fetchone() == (0,)
        assert db.execute("select count(*) from assignment").fetchone() == (1,)


def test_a_batch_starts_its_longest_jobs_first(tmp_path, monkeypatch, bwrap):
    """By what the calibration says each submission's cells take: a long job started last runs alone at the end."""
    course = fx.make_course(tmp_path)
    workflow.release(course)
    released = nbformat.read(course.release / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    slow_cell = "import time  # a worked example that takes long"
    for student, extra in (("ann", None), ("bob", None), ("zoe", slow_cell)):
        nb = fx.completed(released)
        if extra:
            nb.cells.append(nbformat.v4.new_code_cell(extra))
        (course.submitted / student / fx.LESSON).mkdir(parents=True)
        nbformat.write(nb, course.submitted / student / fx.LESSON / f"{fx.LESSON}.ipynb")
    key = execute.cell_key(nbformat.v4.new_code_cell(slow_cell))
    (course.grader / jobs.CELL_TIMES).write_text(json.dumps({fx.LESSON: {"square": 2.0, key: 60.0}}))
    started = []
    monkeypatch.setattr(cluster, "run", lambda client, data, batch_jobs: started.extend(batch_jobs) or (j for j in ()))
    batch.autograde(course, jobs=1, limits=LIMITS, progress=lambda line: None)
    assert [job.student for job in started] == ["zoe", "ann", "bob"]  # not the order of their names
    assert [jobs.expected_seconds(job) for job in started] == [62.0, 2.0, 2.0]


def test_a_cluster_reached_by_its_address_gives_the_csv_of_the_local_run(course, local_csv, other_cluster, tmp_path):
    address, _ = other_cluster
    batch.autograde(course, limits=LIMITS, progress=lambda line: None, scheduler=address)
    assert workflow.export_csv(course, tmp_path / "grades.csv").read_text() == local_csv
    assert not list(course.work.glob("*__*")), "on a cluster, jobs run in the workers' temporary folders"


def test_a_worker_killed_mid_job_has_its_job_rerun_and_the_csv_is_the_same(course, local_csv, other_cluster,
                                                                              tmp_path):
    address, client = other_cluster
    pids = client.run(os.getpid)
    killed = []

    def kill_a_busy_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            if busy:
                time.sleep(1.5)  # into the job: its kernel is running
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    reports = batch.autograde(course, limits=LIMITS, progress=lambda line: None, scheduler=address)
    killer.join()
    assert killed, "no worker was busy to kill"
    assert not [r for r in reports if r.status == "failed"]
    time.sleep(1)  # the killed worker's job notices within half a second and stops with its kernel
    left = subprocess.run(["pgrep", "-f", "course_grader.jobs.worker .*/grading-"], capture_output=True, text=True)
    assert left.stdout.split() == [], "a grading job outlived the worker that ran it"
    assert workflow.export_csv(course, tmp_path / "grades.csv").read_text() == local_csv


def test_a_job_whose_worker_dies_twice_or_that_raises_twice_fails_with_its_reason(course, other_cluster):
    _, client = other_cluster
    submission = inspect(course, "good", fx.LESSON)
    job = jobs.build_job(course, submission, LIMITS, True, {}, {}, folder=None)
    data = jobs.course_data(course, [fx.LESSON], jobs.student_free_gradebook(course, course.root / "probe.db"))

    def dies(course_data, job):  # the real run_job's fault paths, with a job body that always fails
        os.kill(os.getpid(), signal.SIGKILL)

    def raises(course_data, job):
        raise OSError("No space left on device")

    [(_, died)] = list(cluster.run(client, data, [job], function=dies))
    assert not died.success and "died twice" in died.error
    [(_, failed)] = list(cluster.run(client, data, [job], function=raises))
    assert not failed.success and "failed twice" in failed.error and "No space left on device" in failed.error


def test_an_unreachable_scheduler_fails_fast_and_says_what_to_do(course, capsys):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    start = time.monotonic()
    with pytest.raises(GradingError, match=rf"cannot reach the Dask scheduler at {address} .*--scheduler"):
        batch.autograde(course, limits=LIMITS, progress=lambda line: None, scheduler=address)
    assert time.monotonic() - start < LIMITS.connect_seconds + 5
    assert main(["grade", "--config", str(course.config_file), "autograde", "--scheduler", address]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_the_docs_slurm_job_script_is_the_one_rendered(capsys):
    from course_grader.jobs import slurm

    page = (Path(__file__).resolve().parents[1] / "docs" / "grading-on-a-cluster.md").read_text()
    shown = page.split("<!-- slurm-job-script -->\n```bash\n", 1)[1].split("```", 1)[0]
    assert slurm.main(["--cores", "16", "--memory", "64GB", "--walltime", "02:00:00", "--queue", "cpu",
                       "--account", "cs101", "--python", "/home/instructor/finetune-course/.venv/bin/python",
                       "--print-job-script"]) == 0
    rendered = re.sub(r"tcp://\S+", "tcp://LOGIN-NODE:PORT", capsys.readouterr().out)
    assert rendered.strip() == shown.strip()
    assert "--nthreads 1" in rendered and "--nworkers 16" in rendered  # one grading job per core


def test_a_scheduler_without_workers_is_an_error_not_a_wait(course):
    with cluster.process_cluster(0) as empty:
        with pytest.raises(GradingError, match=r"has had no worker for 2 s: start workers"):
            batch.autograde(course, limits=replace(LIMITS, no_worker_seconds=2), progress=lambda line: None,
                            scheduler=empty.scheduler_address)


def test_a_job_runs_without_the_environment_dask_sets_for_its_own_workers(monkeypatch):
    from course_grader.jobs import runner

    before = os.environ.get("OMP_NUM_THREADS")
    # A Dask nanny gives its workers MALLOC_TRIM_THRESHOLD_=65536 and one thread for numpy's libraries;
    # inherited by a kernel, the first made every grading job 1.5 to 2 times as long.
    for key, value in dask.config.get("distributed.nanny.pre-spawn-environ").items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    env = runner._job_environ()
    monkeypatch.undo()
    with cluster.process_cluster(1) as local, Client(local) as client:  # and starting one leaves ours alone
        assert set(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
    with cluster.local_cluster(1) as local, Client(local) as client:
        assert set(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ and os.environ.get("OMP_NUM_THREADS") == before
    assert "MALLOC_TRIM_THRESHOLD_" not in env and "OMP_NUM_THREADS" not in env and env["SOMETHING_ELSE"] == "kept"
    assert sandbox.kernel_env(Path("/job"), replace(LIMITS, threads=3))["OMP_NUM_THREADS"] == "3"


def _listening_ports() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket this process listens on."""
    mine = {os.readlink(f"/proc/self/fd/{fd}")[len("socket:["):-1] for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}") and os.readlink(f"/proc/self/fd/{fd}").startswith("socket:[")}
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in mine:  # LISTEN, and ours
                address, port = fields[1].split(":")
                found.add((address, int(port, 16)))
    return found


def test_the_local_cluster_takes_no_connection_and_serves_no_page():
    """On a classroom server every student has an account, and a Dask scheduler runs what any client sends it, as
    the instructor: the local cluster talks in memory, and its web servers are on loopback with no page."""
    before = _listening_ports()
    with cluster.local_cluster(2) as local, Client(local) as client:
        assert local.scheduler_address.startswith("inproc://")
        assert client.submit(lambda x: x + 1, 1).result() == 2
        opened = _listening_ports() - before
        loopback = {"0100007F", "00000000000000000000FFFF0100007F", "00000000000000000000000001000000"}
        assert opened and {address for address, _ in opened} <= loopback, opened  # Dask's HTTP servers only
        http = client.scheduler_info().get("services", {}).get("dashboard")
        assert ("0100007F", http) in opened
        for _, port in opened:
            for page in ("info/main/workers.html", "json/counts.json", "status", "metrics", "health"):
                with pytest.raises(urllib.error.HTTPError, match="404"):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/{page}", timeout=5)
    assert _listening_ports() == before


def test_a_folder_planted_in_tmp_is_not_the_clusters_scratch_space(tmp_path):
    """Dask's default scratch space is /tmp/dask-scratch-space (-UID appended when another owns it), a name anyone
    can create first; the scheduler and each worker put their folder first on sys.path, so a module planted there
    would run as the instructor. The local cluster's folders are in a fresh folder only its user can enter."""
    planted = [Path(tempfile.gettempdir()) / "dask-scratch-space", Path(tempfile.gettempdir()) / f"dask-scratch-space-{os.getuid()}"]
    made = []
    for folder in planted:
        if not folder.exists():
            folder.mkdir()
            made.append(folder)
            (folder / "planted_by_a_student.py").write_text("raise SystemExit('planted module ran')\n")
            folder.chmod(0o777)
            if os.geteuid() == 0:
                os.chown(folder, 65534, 65534)  # nobody's, as another account's would be
    try:
        before = {folder: sorted(p.name for p in folder.iterdir()) for folder in planted if folder.is_dir()}
        earlier = set(sys.path)  # the workers are threads of this process: their folders go on its sys.path
        with cluster.local_cluster(2) as local, Client(local) as client:
            folders = [*client.run(lambda dask_worker: dask_worker.local_directory).values(),
                       client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.local_directory)]
            scratch = Path(folders[-1]).parent.parent  # SCRATCH/dask-scratch-space/scheduler-XXXX
            for folder in planted:
                assert not any(Path(f).is_relative_to(folder) for f in folders), (folder, folders)
            info = scratch.stat()
            assert info.st_uid == os.getuid() and info.st_mode & 0o777 == 0o700, scratch
            paths = [*client.run(lambda: list(sys.path)).values(), client.run_on_scheduler(lambda: list(sys.path))]
            added = {p for entries in paths for p in entries if "dask-scratch-space" in p} - earlier
            assert added  # the scheduler's and workers' folders, which Dask puts on sys.path
            for path in added:
                assert Path(path).is_relative_to(scratch), path
            assert client.submit(lambda x: x * 2, 21).result() == 42
        assert not scratch.exists()  # removed with the cluster, and from sys.path
        assert not [p for p in sys.path if p.startswith(str(scratch))]
        assert {folder: sorted(p.name for p in folder.iterdir()) for folder in planted if folder.is_dir()} == before
    finally:
        for folder in made:
            shutil.rmtree(folder)
