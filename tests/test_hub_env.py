"""The classroom server from a checkout no other account can enter (root's home, a ``mktemp`` folder).

The checkout is made as a newcomer would have it: a folder of root's, mode 0700, holding the course
(src, solutions, grader, lessons, jupyter, pyproject.toml) and its own ``.venv`` as ``make install``
leaves it there (an editable install of the course pointing into that folder's src). The venv is
this one's, hard-linked (``cp -al``), with the few files that name their folder (the editable
install's .pth and direct_url.json, the console scripts' first lines) written anew for the new
folder, never through a link. From it, ``finetune-course hub`` must build the environment every
account runs in ``DIR/python``, so that a student's server starts and its kernel imports the course,
and the instructor's ``finetune-course`` and ``nbgrader`` work in a login shell; a change to the
course reaches the servers at the next start; ``--remove`` deletes that environment.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from classroom.api import HubAPI, scratch_classroom
from classroom.environment import writable_by_others

pytestmark = pytest.mark.hub

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
PREFIX = "fcre-"
STUDENT, TEACHER = f"{PREFIX}ada", f"{PREFIX}teacher"
COURSE = ("src", "solutions", "grader", "lessons", "jupyter", "pyproject.toml", "README.md")


def _rewrite(path: Path, old: str, new: str) -> None:
    """``path`` with ``old`` replaced, as a new file (the old one is a hard link into this checkout's venv)."""
    text = path.read_bytes().replace(old.encode(), new.encode())
    mode = path.stat().st_mode
    path.unlink()
    path.write_bytes(text)
    path.chmod(mode)


@pytest.fixture
def hidden_checkout():
    """A checkout with its venv in a folder of root's that no other account can enter; removed at the end."""
    if os.geteuid() != 0:
        pytest.skip("the classroom server creates local accounts: run as root (CI does)")
    if VENV == Path(sys.base_prefix) or not (VENV / "bin" / "finetune-course").is_file():
        pytest.skip("needs the course installed in a venv (make install)")
    top = Path(tempfile.mkdtemp(prefix=f"{PREFIX}checkout-", dir="/var/tmp"))  # 0700
    checkout = top / "finetune-course"
    checkout.mkdir()
    for name in COURSE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif (ROOT / name).is_file():
            shutil.copy2(ROOT / name, checkout / name)
    subprocess.run(["cp", "-al", str(VENV), str(checkout / ".venv")], check=True)
    site = next((checkout / ".venv" / "lib").glob("python3*/site-packages"))
    for pth in site.glob("__editable__*"):
        _rewrite(pth, str(ROOT), str(checkout))
    for record in site.glob("*.dist-info/direct_url.json"):
        if json.loads(record.read_text()).get("dir_info", {}).get("editable"):
            _rewrite(record, ROOT.as_uri(), checkout.as_uri())
    for script in (checkout / ".venv" / "bin").iterdir():
        if script.is_file() and not script.is_symlink() and script.read_bytes().startswith(f"#!{VENV}/".encode()):
            _rewrite(script, f"#!{VENV}/", f"#!{checkout / '.venv'}/")
    found = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-c", "import classroom; print(classroom.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found == str(checkout / "src" / "classroom" / "__init__.py"), found
    try:
        yield checkout
    finally:
        shutil.rmtree(top)


def _as(user: str, script: str) -> subprocess.CompletedProcess:
    """``script`` in ``user``'s login shell (``runuser -l``: PATH as /etc/profile sets it)."""
    return subprocess.run(["runuser", "-l", user, "-c", script], capture_output=True, text=True, timeout=300)


def _restart(api: HubAPI, log: Path, command: list[str], timeout: float = 300):
    api.process.send_signal(signal.SIGTERM)
    assert api.process.wait(timeout=120) == 0
    with open(log, "a") as out:
        api.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not api.up():
        assert api.process.poll() is None, log.read_text()[-5000:]
        assert time.monotonic() < deadline, log.read_text()[-5000:]
        time.sleep(0.5)


def test_a_checkout_no_one_else_can_enter_runs_the_hub_from_an_environment_of_its_own(hidden_checkout):
    checkout = hidden_checkout
    with scratch_classroom([STUDENT], TEACHER, PREFIX, checkout=checkout) as (api, directory, log):
        env = directory / "python"
        assert f"every account runs the course from {env}" in log.read_text(), log.read_text()[-3000:]
        # The folder really is closed to others: the student cannot read the checkout.
        closed = _as(STUDENT, f"ls {checkout / 'src'}")
        assert closed.returncode != 0 and "Permission denied" in closed.stderr, closed
        assert writable_by_others(env) == []

        # A student's server starts and its kernel runs the course, installed in the environment (not the checkout).
        token = api.start(STUDENT)
        site = next((env / "lib").glob("python3*/site-packages"))
        out = api.execute(STUDENT, token, "import sys, finetune_course, course_grader, classroom\n"
                          "print(sys.prefix, finetune_course.__file__, course_grader.__file__, 6 * 7)")
        assert out.split() == [str(env), str(site / "finetune_course" / "__init__.py"),
                               str(site / "course_grader" / "__init__.py"), "42"], out

        # The instructor's commands, in their login shell; the course was released as them at setup.
        login = _as(TEACHER, "command -v finetune-course nbgrader && finetune-course --help && nbgrader --version")
        assert login.returncode == 0, login
        assert login.stdout.splitlines()[:2] == [str(env / "bin" / "finetune-course"), str(env / "bin" / "nbgrader")]
        assert "grade" in login.stdout and "nbgrader version" in login.stdout, login.stdout
        assert (Path(pwd.getpwnam(TEACHER).pw_dir) / "finetune-course" / "lessons").is_dir()

        # The course changes; the next start brings the environment up to date, and the servers run the new course.
        (checkout / "src" / "finetune_course" / "term_news.py").write_text("NEWS = 'week 2'\n")
        _restart(api, log, list(api.process.args))
        token = api.start(STUDENT)
        assert api.execute(STUDENT, token, "from finetune_course.term_news import NEWS\nprint(NEWS)").strip() \
            == "week 2"

        # --remove deletes the environment with the rest (the instructor's course is kept).
        api.process.send_signal(signal.SIGTERM)
        assert api.process.wait(timeout=120) == 0
        command = checkout / ".venv" / "bin" / "finetune-course"
        gone = subprocess.run([str(command), "hub", "--remove", "--dir", str(directory)], capture_output=True,
                              text=True)
        assert gone.returncode == 0, gone.stderr
        assert f"deleting the course's environment the accounts ran, {env}" in gone.stdout, gone.stdout
        assert not env.exists() and sorted(p.name for p in directory.iterdir()) == ["kept"]
