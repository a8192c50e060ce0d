"""A grading job's scratch space on the host is private and bounded.

The kernel's IPC folder (its sockets and its verdicts file) is the one folder of the host a sandboxed
kernel may write to. Here, next to innocent students: a file and a symbolic link planted beforehand
where the grader used to put an innocent's IPC folder (a path anyone could compute from the job's
folder), and a hostile submission that writes into its own IPC folder and verdicts file as much as it
can. The innocents' marks come out right, the planted link's target is untouched (never chown-ed),
and the hostile kernel writes no more than the folder's bound. As root and in the user namespace
sandbox (``COURSE_GRADER_USERNS=1``).
"""

import copy
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402

from course_grader import workflow  # noqa: E402
from course_grader.jobs import batch
from course_grader.kernel import sandbox

LESSON = fx.LESSON
NB = f"{LESSON}.ipynb"
LIMITS = sandbox.Limits(cell_seconds=20, notebook_seconds=60)
FULL = {"test_square": 2, "test_mean": 2, "test_answer": 1}

FILL = '''
import json, os
ipc = os.path.dirname(json.load(open("/run/grading/connection.json"))["ip"])
written = {}
for path in (os.path.join(ipc, "fill"), "/run/grading/verdicts"):
    written[path] = 0
    try:
        with open(path, "ab") as f:
            for _ in range(48):
                f.write(b"x" * 2**20)
                f.flush()
                written[path] += 2**20
    except OSError:
        pass
print("WRITTEN", sum(written.values()))
'''


def predictable_ipc(job: Path) -> Path:
    """Where the grader used to put a job's IPC folder when the job's path was long: anyone could compute it."""
    return Path("/tmp") / f"grading-ipc-{hashlib.sha1(str(job).encode()).hexdigest()[:16]}"


@pytest.mark.parametrize("userns", ["0", "1"], ids=["root", "userns"])
def test_planted_paths_and_a_full_ipc_folder_cost_no_innocent_anything(tmp_path, bwrap, monkeypatch, userns):
    if os.geteuid() != 0:
        pytest.fail("this test plants files for the grader as root: run it as root (CI does)")
    monkeypatch.setenv("COURSE_GRADER_USERNS", userns)
    root = tmp_path / ("deep" * 12) / "course"  # a long path: the old grader then used predictable_ipc
    course = fx.make_course(root)
    workflow.release(course)
    released = nbformat.read(course.release / LESSON / NB, as_version=4)
    good = fx.completed(released)
    filler = copy.deepcopy(good)
    filler.cells.insert(1, new_code_cell(FILL))
    for student, nb in [("ada", good), ("bob", good), ("filler", filler)]:
        (course.submitted / student / LESSON).mkdir(parents=True)
        nbformat.write(nb, course.submitted / student / LESSON / NB)
    victim = tmp_path / "victim"  # a folder of the instructor's, where the link leads
    victim.mkdir(mode=0o700)
    (victim / "notes").write_text("the instructor's file")
    planted = [predictable_ipc(course.work / f"ada__{LESSON}"), predictable_ipc(course.work / f"bob__{LESSON}")]
    planted[0].write_text("planted: not a folder")
    planted[1].symlink_to(victim)
    try:
        reports = {r.student: r for r in batch.autograde(course, jobs=2, limits=LIMITS, progress=lambda line: None)}
    finally:
        for path in planted:
            path.unlink()
    for innocent in ("ada", "bob"):
        assert {k: v["score"] for k, v in reports[innocent].cells.items()} == FULL, reports[innocent].reasons
        assert reports[innocent].status == "ok"
    info = victim.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, 0, 0o700), "the grader chown-ed through a link"
    assert [p.name for p in victim.iterdir()] == ["notes"]
    outputs = nbformat.read(course.autograded / "filler" / LESSON / NB, as_version=4).cells[1].outputs
    written = int(next(o.text for o in outputs if "WRITTEN" in o.get("text", "")).split()[1])
    assert written <= sandbox.IPC_MIB * 2**20, f"the kernel wrote {written / 2**20:.0f} MiB into the host's disk"


def test_the_watchdog_stops_a_kernel_that_fills_an_ipc_folder_no_tmpfs_bounds(tmp_path):
    """A grader that is not root cannot mount a tmpfs: there the watchdog counts the IPC folder."""
    folder = tmp_path / "ipc"
    folder.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "for i in range(40):\n"
                               "    open(sys.argv[1] + f'/f{i}', 'wb').write(b'x' * 2**20)\n"
                               "    time.sleep(0.05)\n"
                               "time.sleep(60)", str(folder)])
    watchdog = sandbox.Watchdog(writer.pid, sandbox.Limits(), [], interval=0.05, host_folders=[folder]).start()
    try:
        assert writer.wait(timeout=30) == -9
    finally:
        writer.kill()
        watchdog.stop()
    assert watchdog.violation and "into its IPC folder" in watchdog.violation
    assert len(list(folder.iterdir())) < 40
