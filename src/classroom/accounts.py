"""Local accounts: one per roster line and one for the instructor, with generated passwords; and their removal.

Passwords go to ``DIR/accounts.csv`` (root only; columns user, role, password; Unix line ends). The
accounts' comment (GECOS) marks them as this hub's: ``--remove`` deletes those and nothing else, and
with them everything of theirs the machine still holds (processes, cgroups, files in the shared
temporary folders).
"""

from __future__ import annotations

import csv
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import time
from pathlib import Path

from classroom import isolation
from classroom.settings import HubError, Settings, account, tool

SHARED_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")


def run(*command: str, stdin: str | None = None) -> None:
    command = (tool(command[0]), *command[1:])
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise HubError(f"{' '.join(command[:3])}... failed: {result.stderr.strip() or result.stdout.strip()}")


def create_accounts(settings: Settings, reset: set[str] = frozenset()) -> dict[str, str]:
    """Create the accounts that are missing, give those in ``reset`` a new password; everyone's passwords
    (``DIR/accounts.csv``, root only)."""
    path = settings.directory / "accounts.csv"
    known = {}
    if path.is_file():
        known = {row["user"]: row["password"] for row in csv.DictReader(path.read_text().splitlines())}
    wanted = [*settings.students, settings.instructor]
    passwords = {}
    for name in wanted:
        if account(name) is None:
            run("useradd", "--create-home", "--shell", "/bin/bash", "--comment", settings.marker, name)
            known.pop(name, None)
        if name not in known or name in reset:
            known[name] = secrets.token_urlsafe(9)
            run("chpasswd", stdin=f"{name}:{known[name]}\n")
        passwords[name] = known[name]
        os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    with private_file(path) as out:
        # Unix line ends: csv's default "\r\n" leaves a carriage return on every password that
        # `cut -d, -f3` or awk hands on, and the login then fails.
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["user", "role", "password"])
        for name in wanted:
            writer.writerow([name, "instructor" if name == settings.instructor else "student", passwords[name]])
    return passwords


class private_file:
    """A file only root can read, written whole."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.stream = os.fdopen(fd, "w", newline="")
        return self.stream

    def __exit__(self, kind, *rest):
        self.stream.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink()

def run_as(user: str, command: list[str], cwd: Path, bin_dir: Path) -> str:
    """``command`` run as ``user`` (runuser), with the course's environment on PATH; its output."""
    person = pwd.getpwnam(user)
    env = {"HOME": person.pw_dir, "USER": user, "LOGNAME": user, "LANG": os.environ.get("LANG", "C.UTF-8"),
           "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"}
    result = subprocess.run([tool("runuser"), "-u", user, "--", *command], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise HubError(f"{' '.join(command)} as {user} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def leftovers(uids: set[int], roots=SHARED_TEMPORARY, besides: Path | None = None) -> list[str]:
    """Files and folders in the shared temporary folders owned by one of ``uids`` (links not followed), not counting
    those in the folder ``besides`` (a hub's own, which may lie there)."""
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root, topdown=True):
            if besides is not None:
                dirs[:] = [d for d in dirs if not Path(folder, d).resolve().is_relative_to(besides.resolve())]
            for name in [*files, *dirs]:
                path = os.path.join(folder, name)
                try:
                    if os.lstat(path).st_uid in uids:
                        found.append(path)
                except OSError:
                    continue
    return found


def remove_leftovers(uids: set[int], besides: Path | None = None) -> list[str]:
    """Delete what :func:`leftovers` finds (deepest first; a folder still holding others' files stays)."""
    removed = []
    for path in sorted(leftovers(uids, besides=besides), key=lambda p: p.count(os.sep), reverse=True):
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                os.rmdir(path)
            else:
                os.unlink(path)
            removed.append(path)
        except OSError:
            continue
    return removed


def kill_processes(name: str, seconds: float = 20) -> None:
    """Kill every process of ``name``'s and wait until none is left (userdel refuses a user who has one)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        if subprocess.run(["pgrep", "-u", name], capture_output=True).returncode != 0:
            return
        time.sleep(0.2)
    raise HubError(f"{name}'s processes would not stop: {subprocess.run(['pgrep', '-l', '-u', name], capture_output=True, text=True).stdout}")


def hub_accounts(settings: Settings) -> list:
    return [a for a in pwd.getpwall() if a.pw_gecos == settings.marker]


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """``path`` and everything in it owned by ``uid``:``gid`` (links themselves, not what they point to)."""
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, f) for f in dirs + files)]:
            os.lchown(name, uid, gid)


def keep(path: Path, kept: Path, name: str) -> Path:
    """``path`` moved into the folder ``kept`` (root's, 0700) as ``name`` (the time appended if that is taken) and
    made root's: what stays of an account after it is gone."""
    kept.mkdir(mode=0o700, exist_ok=True)
    target = kept / name
    if target.exists():
        target = kept / f"{name}-{int(time.time())}"
    shutil.move(str(path), target)
    chown_tree(target, 0, 0)
    return target


def retire(people: list, cgroup_parents: dict[str, str], hub_folder: Path, remove_homes: bool) -> None:
    """Delete these accounts of the hub in ``hub_folder``: their processes, cgroups, account (and home, if
    ``remove_homes``) and their files in the shared temporary folders (those in the hub's folder stay)."""
    for person in people:
        kill_processes(person.pw_name)
        isolation.remove_cgroups(cgroup_parents, person.pw_name)
        run("userdel", *(["--remove"] if remove_homes else []), person.pw_name)
    if people:
        remove_leftovers({person.pw_uid for person in people}, besides=hub_folder)
