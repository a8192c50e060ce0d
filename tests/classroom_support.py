"""A classroom hub for tests: the running hub, its people, and a browser logged in as one of them.

``Classroom`` wraps what :func:`classroom.api.scratch_classroom` yields; ``browser()`` starts Debian's
Chromium through playwright; ``log_in`` logs a person in at the hub's name (``localhost``: each
server is then at ``USER.localhost``, which Chromium sends to loopback by itself).
"""

from __future__ import annotations

import csv
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import nbformat

from classroom.api import HubAPI
from classroom.environment import env_bin
from classroom.settings import COURSE_ID

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


class Classroom:
    def __init__(self, api: HubAPI, directory: Path, log: Path, instructor: str):
        self.directory, self.log = directory, log
        self.url = api.url
        self.browser_url = api.url.replace("127.0.0.1", "localhost")  # the hub's name: cookies and origins by name
        self.api = api
        self.instructor_name = instructor
        self.passwords = {row["user"]: row["password"]
                          for row in csv.DictReader((directory / "accounts.csv").read_text().splitlines())}
        self.bin = env_bin(directory)
        self.course = Path(pwd.getpwnam(instructor).pw_dir) / COURSE_ID
        self.exchange = directory / "exchange" / COURSE_ID

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def run_as(self, user: str, *command: str, cwd: Path | None = None, check: bool = True):
        """``command`` as ``user``, with the environment their server has (a terminal in their JupyterLab)."""
        home = pwd.getpwnam(user).pw_dir
        role = "instructor" if user == self.instructor_name else "student"
        env = {"HOME": home, "USER": user, "LANG": "C.UTF-8", "PATH": f"{self.bin}:/usr/bin:/bin",
               "JUPYTER_CONFIG_PATH": str(self.directory / "jupyter" / role)}
        result = subprocess.run([shutil.which("runuser") or "/usr/sbin/runuser", "-u", user, "--", *command],
                                cwd=cwd or home, env=env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} as {user} failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def instructor(self, *args: str):
        return self.run_as(self.instructor_name, str(self.bin / "finetune-course"), "grade", *args, cwd=self.course)

    def write_file(self, user: str, relative: str, data: str | bytes) -> Path:
        """A file in ``user``'s home, theirs, as they would write it."""
        path = self.home(user) / relative
        account = pwd.getpwnam(user)
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in [path.parent, *path.parent.parents]:
            if folder == self.home(user):
                break
            os.chown(folder, account.pw_uid, account.pw_gid)
        (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
        os.chown(path, account.pw_uid, account.pw_gid)
        return path

    def write_answers(self, student: str, nb, lesson: str) -> None:
        """What a student types into the fetched notebook (the browser test types nothing cell by cell)."""
        self.write_file(student, f"{lesson}/{lesson}.ipynb", nbformat.writes(nb))


def browser():
    from test_browser import _ensure_chromium

    executable = _ensure_chromium()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    return playwright, playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)


def log_in(browser, classroom: Classroom, user: str):
    """A browser context of ``user``'s, logged in, on their JupyterLab."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.goto(f"{classroom.browser_url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", classroom.passwords[user])
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**")
    page.wait_for_selector("#jp-main-dock-panel")
    return context, page
