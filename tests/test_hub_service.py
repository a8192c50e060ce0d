"""The classroom server as a service for a term: stopped with Ctrl-C or SIGTERM it leaves nothing running, and
started again after a crash it cleans up what the crashed one left and starts.

One hub (as root: accounts ``fcrs-*``, removed at the end), stopped and started over the same folder and
port as an instructor would: SIGINT, then SIGTERM, then SIGKILL of the hub itself (its proxy and a
student's server left behind, as after a crash).
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from classroom.api import HubAPI, scratch_classroom

pytestmark = pytest.mark.hub

PREFIX = "fcrs-"
STUDENT, TEACHER = f"{PREFIX}ada", f"{PREFIX}teacher"


def _processes_of(*users: str) -> list[str]:
    uids = {pwd.getpwnam(u).pw_uid for u in users}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid in uids:
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:100])
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"


def _up(api: HubAPI, process, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not api.up():
        assert process.poll() is None, "\n".join(l for l in log.read_text().splitlines() if "ConfigProxy" not in l and "JupyterHub log" not in l)[-6000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def test_ctrl_c_sigterm_and_a_crash_leave_nothing_running_and_the_next_start_works():
    if os.geteuid() != 0:
        pytest.skip("the classroom server creates local accounts: run as root (CI does)")
    with scratch_classroom([STUDENT], TEACHER, PREFIX) as (api, directory, log):
        hub = api.process
        command = hub.args
        for stop in (signal.SIGINT, signal.SIGTERM):
            api.start(STUDENT)
            proxy = int((directory / "hub" / "proxy.pid").read_text())
            assert _processes_of(STUDENT) and _alive(proxy)
            hub.send_signal(stop)  # Ctrl-C in the hub's terminal, or systemd stopping it
            assert hub.wait(timeout=120) == 0
            assert not _processes_of(STUDENT, TEACHER), _processes_of(STUDENT, TEACHER)
            assert not _alive(proxy)
            assert not (directory / "hub" / "hub.pid").exists()
            with open(log, "a") as out:  # the next start, over the same folder and port
                hub = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            api.process = hub
            _up(api, hub, log)

        # A crash: the hub and JupyterHub killed at once; the proxy and the student's server stay behind.
        api.start(STUDENT)
        proxy = int((directory / "hub" / "proxy.pid").read_text())
        jupyterhub = int((directory / "hub" / "jupyterhub.pid").read_text())
        os.kill(jupyterhub, signal.SIGKILL)
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait()
        time.sleep(1)
        assert _alive(proxy) and _processes_of(STUDENT)
        # A second hub over the same folder while one runs is refused before anything changes...
        with open(log, "a") as out:
            hub = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        api.process = hub
        _up(api, hub, log)
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and f"a hub is already running from {directory}" in second.stderr
        assert api.up()
        # ... and the start after the crash cleaned up what the crashed one left.
        text = log.read_text()
        assert f"stopped what an earlier hub from {directory} left running: the proxy (pid {proxy})" in text, text[-3000:]
        assert not _alive(proxy)
        token = api.start(STUDENT)
        assert api.execute(STUDENT, token, "print(6 * 7)").strip() == "42"

        # Idle servers are stopped: the same hub again, with a short --idle-timeout.
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(timeout=120) == 0
        with open(log, "a") as out:
            hub = subprocess.Popen([*command, "--idle-timeout", "15"], stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        api.process = hub
        _up(api, hub, log)
        token = api.start(STUDENT)
        assert api.execute(STUDENT, token, "open('kept.txt', 'w').write('mine')\nprint('ok')").strip() == "ok"
        deadline = time.monotonic() + 180
        while api.hub("GET", f"/users/{STUDENT}")[1]["servers"]:
            assert time.monotonic() < deadline, "the idle server was not stopped in 180 s"
            time.sleep(2)
        assert not _processes_of(STUDENT)
        assert (Path(pwd.getpwnam(STUDENT).pw_dir) / "kept.txt").read_text() == "mine"

        # The instructor's commands are on PATH in a JupyterLab terminal (a login shell) and in `runuser -l`.
        teacher = api.start(TEACHER)
        found = _terminal(api, TEACHER, teacher, "command -v finetune-course nbgrader; echo done-$((6*7))")
        bin_dir = Path(command[0]).parent if not (directory / "python").is_dir() else directory / "python" / "bin"
        assert f"{bin_dir}/finetune-course" in found and f"{bin_dir}/nbgrader" in found, found
        login = subprocess.run(["runuser", "-l", TEACHER, "-c", "command -v finetune-course"], capture_output=True,
                               text=True)
        assert login.stdout.strip() == f"{bin_dir}/finetune-course", login

        # The class changes while the hub runs: a late student, a forgotten password, a student who left.
        late = f"{PREFIX}bob"
        added = subprocess.run([command[0], "hub", "add-student", late, "--dir", str(directory)],
                               capture_output=True, text=True)
        assert added.returncode == 0, added.stderr
        password = re.search(rf"added {late}, password (\S+)", added.stdout).group(1)
        assert late in (directory.parent / f"{directory.name}-roster.csv").read_text().split()
        assert _logs_in(api, late, password) and not _logs_in(api, late, password + "x")
        token = api.start(late)
        assert api.execute(late, token, "print(6 * 7)").strip() == "42"
        reset = subprocess.run([command[0], "hub", "reset-password", late, "--dir", str(directory)],
                               capture_output=True, text=True)
        assert reset.returncode == 0, reset.stderr
        fresh = re.search(rf"new password for {late}: (\S+)", reset.stdout).group(1)
        assert _logs_in(api, late, fresh) and not _logs_in(api, late, password)
        assert f"{late},student,{fresh}" in (directory / "accounts.csv").read_text()
        wrote = api.execute(late, token, "import os\nopen('essay.txt', 'w').write('my work')\nprint(os.getcwd())")
        assert wrote.strip() == pwd.getpwnam(late).pw_dir, wrote
        left = subprocess.run([command[0], "hub", "remove-student", late, "--dir", str(directory)],
                              capture_output=True, text=True)
        assert left.returncode == 0, left.stderr
        assert not _logs_in(api, late, fresh) and api.hub("GET", f"/users/{late}")[0] == 404
        kept_home = directory / "kept" / f"{late}-home"
        assert (kept_home / "essay.txt").read_text() == "my work", list(kept_home.rglob("*"))[:20]
        again = subprocess.run([command[0], "hub", "remove-student", late, "--dir", str(directory)],
                               capture_output=True, text=True)
        assert again.returncode == 2 and f"{late} is not on the roster" in again.stderr

        # --remove: only with the folder named, never while the hub runs, and the instructor's course is kept.
        finetune = [command[0], "hub"]
        refused = subprocess.run([*finetune, "--remove"], capture_output=True, text=True)
        assert refused.returncode == 2 and "say which hub to remove: --remove --dir DIR" in refused.stderr
        elsewhere = subprocess.run([*finetune, "--remove", "--dir", str(directory) + "-never-made"],
                                   capture_output=True, text=True)
        assert elsewhere.returncode == 2 and "no classroom hub was set up in" in elsewhere.stderr
        assert not Path(str(directory) + "-never-made").exists()
        running = subprocess.run([*finetune, "--remove", "--dir", str(directory)], capture_output=True, text=True)
        assert running.returncode == 2 and "is running" in running.stderr and api.up()
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(timeout=120) == 0
        gone = subprocess.run([*finetune, "--remove", "--dir", str(directory)], capture_output=True, text=True)
        assert gone.returncode == 0, gone.stderr
        assert "removing 2 accounts with their homes, processes and temporary files: " in gone.stdout
        kept = directory / "kept" / f"{TEACHER}-finetune-course"
        assert f"kept the instructor's course (gradebook, submissions, feedback) in {kept}" in gone.stdout
        assert (kept / "grader" / "gradebook.db").is_file() and (kept / "solutions").is_dir()
        assert sorted(p.name for p in directory.iterdir()) == ["kept"]
        assert sorted(p.name for p in (directory / "kept").iterdir()) == [f"{PREFIX}bob-home", kept.name]
        assert not [a for a in pwd.getpwall() if a.pw_name.startswith(PREFIX)]
        assert not Path("/etc/profile.d/finetune-course-hub.sh").exists()


def _terminal(api: HubAPI, user: str, token: str, line: str, timeout: float = 60) -> str:
    """What ``line`` typed into a new JupyterLab terminal of ``user``'s prints (until a ``done-42`` line)."""
    import json

    import websocket

    status, terminal = api.server("POST", user, "/terminals", token)
    assert status == 200, terminal
    ws = websocket.create_connection(api.url.replace("http", "ws", 1) + f"/user/{user}/terminals/websocket/"
                                     f"{terminal['name']}", header=[f"Authorization: token {token}"],
                                     host=api.host(user), timeout=timeout)
    try:
        ws.send(json.dumps(["stdin", line + "\r"]))
        out, deadline = "", time.monotonic() + timeout
        while "done-42" not in out and time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message[0] == "stdout":
                out += message[1]
        return out
    finally:
        ws.close()
        api.server("DELETE", user, f"/terminals/{terminal['name']}", token)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _logs_in(api: HubAPI, user: str, password: str) -> bool:
    """Whether the hub's login form takes ``user`` with ``password`` (it redirects on; a refusal is 403)."""
    import http.cookiejar

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect)
    page = opener.open(f"{api.url}/hub/login", timeout=30).read().decode()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": xsrf}).encode()
    try:
        opener.open(f"{api.url}/hub/login", form, timeout=60)
    except urllib.error.HTTPError as error:
        return error.code == 302 and "/hub/login" not in error.headers.get("Location", "")
    return False
