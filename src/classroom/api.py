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
KERNEL_DIED = "\n[the kernel died]\n"


class HubAPIError(RuntimeError):
    pass


def _json(text: str):
    return json.loads(text) if text.strip().startswith(("{", "[")) else text


class HubAPI:
    """The hub at ``url`` (an address this machine reaches, e.g. ``http://127.0.0.1:8000``); with
    ``subdomain_host`` (e.g. ``localhost``), each user's server is asked for by its own name,
    ``USER.SUBDOMAIN_HOST``, sent as the Host header to the same address (no DNS needed)."""

    def __init__(self, url: str, token: str | None = None, directory: Path | None = None,
                 subdomain_host: str | None = None):
        self.url = url.rstrip("/")
        if token is None:
            token = (Path(directory) / "hub" / "api_token").read_text().strip()
        self.token = token
        self.subdomain_host = subdomain_host

    def host(self, user: str) -> str | None:
        """The Host header of requests to ``user``'s server (None: the hub's own)."""
        if not self.subdomain_host:
            return None
        port = urllib.parse.urlsplit(self.url).port
        return f"{user}.{self.subdomain_host}" + (f":{port}" if port else "")

    def user_url(self, user: str) -> str:
        """``user``'s server as a browser opens it."""
        host = self.host(user)
        if host is None:
            return f"{self.url}/user/{user}"
        return f"{urllib.parse.urlsplit(self.url).scheme}://{host}/user/{user}"

    def request(self, method: str, url: str, token: str, body: bytes | None = None, content_type: str | None = None,
                timeout: float = 60, host: str | None = None):
        headers = {"Authorization": f"token {token}"}
        if content_type:
            headers["Content-Type"] = content_type
        if host:
            headers["Host"] = host
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
            return self.request("GET", f"{base}?course_id={COURSE_ID}", token, timeout=timeout, host=self.host(user))
        if action == "validate":
            form = {"path": path}
        else:
            form = {"course_id": COURSE_ID, "assignment_id": lesson}
        body = urllib.parse.urlencode(form).encode()
        return self.request("POST", f"{base}/{action}", token, body, "application/x-www-form-urlencoded", timeout,
                            host=self.host(user))

    def server(self, method: str, user: str, path: str, token: str, data: dict | None = None, timeout: float = 60):
        """(status, JSON) of a call to ``user``'s Jupyter server's REST API (``/api/...``) with ``token``."""
        body = None if data is None else json.dumps(data).encode()
        return self.request(method, f"{self.url}/user/{user}/api{path}", token, body,
                            "application/json" if body else None, timeout, host=self.host(user))

    def execute(self, user: str, token: str, code: str, timeout: float = 120, keep: bool = False) -> str:
        """Run ``code`` in a new kernel of ``user``'s server, as the user's JupyterLab does (REST and the kernel's
        websocket); what it printed, errors included. The kernel is shut down after, unless ``keep``."""
        session = KernelSession(self, user, token, timeout)
        try:
            return session.run(code, timeout)
        finally:
            session.close(shutdown=not keep)


class KernelSession:
    """A kernel of ``user``'s server and its websocket, as a notebook's tab holds them: cells run one after another."""

    def __init__(self, api: HubAPI, user: str, token: str, timeout: float = 120):
        import uuid

        import websocket

        self.api, self.user, self.token, self.session = api, user, token, uuid.uuid4().hex
        status, reply = api.server("POST", user, "/kernels", token, {"name": "python3"})
        if status != 201:
            raise HubAPIError(f"no kernel for {user}: {status} {reply}")
        self.kernel = reply["id"]
        url = api.url.replace("http", "ws", 1) + f"/user/{user}/api/kernels/{self.kernel}/channels"
        self.connection = websocket.create_connection(url, header=[f"Authorization: token {token}"],
                                                      host=api.host(user), timeout=timeout)

    def run(self, code: str, timeout: float = 120) -> str:
        """What ``code`` printed (errors included); :data:`KERNEL_DIED` at the end if the kernel died meanwhile."""
        import uuid

        msg_id = uuid.uuid4().hex
        self.connection.send(json.dumps({
            "header": {"msg_id": msg_id, "username": self.user, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.connection.recv())
            kind, content = message["msg_type"], message["content"]
            if kind == "status" and content.get("execution_state") in ("restarting", "dead"):
                return "".join(out) + KERNEL_DIED  # killed: out of memory, say
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
        raise HubAPIError(f"{self.user}'s code did not finish in {timeout:.0f} s; printed so far: "
                          f"{''.join(out)[-2000:]}")

    def close(self, shutdown: bool = True) -> None:
        self.connection.close()
        if shutdown:
            self.api.server("DELETE", self.user, f"/kernels/{self.kernel}", self.token)


@contextlib.contextmanager
def scratch_classroom(students: list[str], instructor: str, prefix: str, timeout: float = 300,
                      options: tuple[str, ...] = (), checkout: Path | None = None):
    """``finetune-course hub`` started on a free loopback port over a scratch folder (as root), for tests and benches
    (``students``: roster lines, a user name with its full name after a comma where wanted), from this checkout or
    from ``checkout`` (its ``.venv``); yields ``(HubAPI, folder, log file)``. On the way out the hub stops, the
    accounts it made (and any left by an earlier run of the same ``prefix`` that was killed) are removed, and the
    checkout's file modes are put back. A hub that stopped by itself has its log's end printed (stderr): the
    clean-up never hides why."""
    import os
    import pwd
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import tempfile

    def remove_leftovers():
        from classroom.server import marked

        for pid in marked(f"/var/tmp/{prefix}hub-", any_below=True):  # an earlier run's hub, killed with its test
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        for account in pwd.getpwall():
            if account.pw_name.startswith(prefix) and account.pw_gecos.startswith("finetune-course hub"):
                subprocess.run(["pkill", "-KILL", "-u", account.pw_name], capture_output=True)
                subprocess.run(["userdel", "--remove", account.pw_name], capture_output=True)

    remove_leftovers()
    command = Path(sys.executable).parent / "finetune-course" if checkout is None else \
        checkout / ".venv" / "bin" / "finetune-course"
    checkout = checkout or Path(__file__).resolve().parents[2]
    modes = {entry: entry.stat().st_mode for entry in checkout.iterdir() if not entry.is_symlink()}
    directory = Path(tempfile.mkdtemp(prefix=f"{prefix}hub-", dir="/var/tmp"))
    directory.chmod(0o755)
    roster = directory.parent / f"{directory.name}-roster.csv"
    roster.write_text("username\n" + "\n".join(students) + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = directory.parent / f"{directory.name}.log"
    log = open(log_path, "w")
    hub = subprocess.Popen([str(command), "hub", "--roster", str(roster), "--dir", str(directory), "--instructor",
                            instructor, "--port", str(port), "--ip", "127.0.0.1", *options], stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    started = False
    try:
        api = None
        deadline = time.monotonic() + timeout
        while not (api and api.up()):
            if hub.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise HubAPIError("the hub did not start:\n" + log_path.read_text()[-5000:])
            if api is None and (directory / "hub" / "api_token").is_file():
                # On loopback each server has a name of its own under localhost (see Settings.subdomain_host).
                api = HubAPI(f"http://127.0.0.1:{port}", directory=directory, subdomain_host="localhost")
            time.sleep(0.5)
        api.process = hub  # the `finetune-course hub` process, for tests that stop it themselves
        started = True
        yield api, directory, log_path
    finally:
        hub = getattr(api, "process", hub)  # a test may have started it again
        if started and hub.poll() not in (None, 0):  # it stopped by itself (a failed start raised above with its
            # log): what it said goes where the test's output goes
            log.flush()
            print(f"the hub from {directory} exited by itself ({hub.returncode}); the end of its log:\n"
                  + log_path.read_text()[-5000:], file=sys.stderr, flush=True)
        try:  # the hub may have stopped by itself: its log (raised above) says why, and this must not hide it
            os.killpg(hub.pid, signal.SIGTERM)
            hub.wait(timeout=60)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()
        # The hub's own --remove first (it kills their processes itself); then whatever an earlier failure left.
        subprocess.run([str(command), "hub", "--remove", "--purge", "--dir", str(directory)], capture_output=True)
        remove_leftovers()
        shutil.rmtree(directory, ignore_errors=True)  # what a test's own --remove kept (DIR/kept)
        for entry, mode in modes.items():
            entry.chmod(mode)
        log.close()
        roster.unlink()
        log_path.unlink()
