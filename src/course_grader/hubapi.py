"""The classroom hub's REST API, for scripts: start a student's server, then use nbgrader's Assignment List in it.

``finetune-course hub`` writes a service token to ``DIR/hub/api_token`` (root only) whose role may
manage users, servers and tokens. With it, :class:`HubAPI` starts a user's server and gets a token
of that user's, and :meth:`HubAPI.assignments` calls what the Assignment List's buttons call
(fetch, submit, fetch_feedback) and Validate. The capacity bench and the tests use it; an instructor
can script a class with it the same way (nothing here goes around the hub's permissions).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

COURSE_ID = "finetune-course"


class HubAPIError(RuntimeError):
    pass


def _json(text: str):
    return json.loads(text) if text.strip().startswith(("{", "[")) else text


class HubAPI:
    def __init__(self, url: str, token: str | None = None, directory: Path | None = None):
        self.url = url.rstrip("/")
        if token is None:
            token = (Path(directory) / "hub" / "api_token").read_text().strip()
        self.token = token

    def request(self, method: str, url: str, token: str, body: bytes | None = None, content_type: str | None = None,
                 timeout: float = 60):
        headers = {"Authorization": f"token {token}"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, _json(response.read().decode())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read().decode(errors="replace"))

    def hub(self, method: str, path: str, data: dict | None = None):
        """(status, JSON) of a call to ``/hub/api`` as the course's service."""
        body = None if data is None else json.dumps(data).encode()
        return self.request(method, f"{self.url}/hub/api{path}", self.token, body, "application/json")

    def up(self) -> bool:
        try:
            status, _ = self.hub("GET", "/")
        except OSError:
            return False
        return status == 200

    def start(self, user: str, timeout: float = 180) -> str:
        """Start ``user``'s server (if it is not running) and return a token of theirs, valid for an hour."""
        status, token = self.hub("POST", f"/users/{user}/tokens", {"note": "course script", "expires_in": 3600})
        if status != 201:
            raise HubAPIError(f"no token for {user}: {status} {token}")
        status, reply = self.hub("POST", f"/users/{user}/server")
        if status not in (201, 202, 400):  # 400: already running
            raise HubAPIError(f"could not start {user}'s server: {status} {reply}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, info = self.hub("GET", f"/users/{user}")
            if status == 200 and info["servers"].get("", {}).get("ready"):
                return token["token"]
            time.sleep(0.5)
        raise HubAPIError(f"{user}'s server was not ready after {timeout:.0f} s")

    def stop(self, user: str) -> None:
        self.hub("DELETE", f"/users/{user}/server")

    def assignments(self, user: str, token: str, action: str, lesson: str | None = None, path: str | None = None,
                    timeout: float = 600):
        """nbgrader's Assignment List as ``user``: action ``list``, ``fetch``, ``submit``, ``fetch_feedback`` or
        ``validate`` (of the notebook at ``path``, relative to their home); the extension's JSON reply."""
        base = f"{self.url}/user/{user}/assignments"
        if action == "list":
            return self.request("GET", f"{base}?course_id={COURSE_ID}", token, timeout=timeout)
        if action == "validate":
            form = {"path": path}
        else:
            form = {"course_id": COURSE_ID, "assignment_id": lesson}
        body = urllib.parse.urlencode(form).encode()
        return self.request("POST", f"{base}/{action}", token, body, "application/x-www-form-urlencoded", timeout)


@contextlib.contextmanager
def scratch_classroom(students: list[str], instructor: str, prefix: str, timeout: float = 300):
    """``finetune-course hub`` started on a free loopback port over a scratch folder (as root), for tests and benches;
    yields ``(HubAPI, folder, log file)``. On the way out the hub stops, the accounts it made (and any left by an
    earlier run of the same ``prefix`` that was killed) are removed, and the checkout's file modes are put back."""
    import os
    import pwd
    import signal
    import socket
    import subprocess
    import sys
    import tempfile

    def remove_leftovers():
        for account in pwd.getpwall():
            if account.pw_name.startswith(prefix) and account.pw_gecos.startswith("finetune-course hub"):
                subprocess.run(["pkill", "-KILL", "-u", account.pw_name], capture_output=True)
                subprocess.run(["userdel", "--remove", account.pw_name], capture_output=True)

    remove_leftovers()
    checkout = Path(__file__).resolve().parents[2]
    modes = {entry: entry.stat().st_mode for entry in checkout.iterdir() if not entry.is_symlink()}
    directory = Path(tempfile.mkdtemp(prefix=f"{prefix}hub-", dir="/var/tmp"))
    directory.chmod(0o755)
    roster = directory.parent / f"{directory.name}-roster.csv"
    roster.write_text("username\n" + "\n".join(students) + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = Path(sys.executable).parent / "finetune-course"
    log_path = directory.parent / f"{directory.name}.log"
    log = open(log_path, "w")
    hub = subprocess.Popen([str(command), "hub", "--roster", str(roster), "--dir", str(directory), "--instructor",
                            instructor, "--port", str(port), "--ip", "127.0.0.1"], stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        api = None
        deadline = time.monotonic() + timeout
        while not (api and api.up()):
            if hub.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise HubAPIError("the hub did not start:\n" + log_path.read_text()[-5000:])
            if api is None and (directory / "hub" / "api_token").is_file():
                api = HubAPI(f"http://127.0.0.1:{port}", directory=directory)
            time.sleep(0.5)
        yield api, directory, log_path
    finally:
        os.killpg(hub.pid, signal.SIGTERM)
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()
        for name in [*students, instructor]:
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        subprocess.run([str(command), "hub", "--remove", "--dir", str(directory)], capture_output=True)
        remove_leftovers()
        for entry, mode in modes.items():
            entry.chmod(mode)
        log.close()
        roster.unlink()
        log_path.unlink()
