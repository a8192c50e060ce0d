"""What a classroom is made of: the settings of ``finetune-course hub``, the roster, each person's limits."""

from __future__ import annotations

import csv
import grp
import os
import pwd
import re
import shutil
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

COURSE_ID = "finetune-course"
# What Debian's useradd accepts by default, kept to lower case: a roster line is one account.
USER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ROSTER_HEADERS = {"username", "user", "login", "student", "student_id", "name"}
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class HubError(Exception):
    """What stops the hub before it changes anything; the message says what to do."""


@dataclass(frozen=True)
class PersonLimits:
    """What one person (student or instructor: their server, kernels and terminals together) may use.

    The defaults come from the capacity bench (bench/hub_capacity.py): a student running a lesson
    peaks near 1.2 GiB and keeps under two cores busy. Each is set per course with the hub's options.
    """

    memory_mib: int = 2048     # memory of all their processes, /tmp and /dev/shm included (cgroup)
    cpus: float = 2.0          # CPU time per wall-clock second (cgroup CPU quota)
    processes: int = 512       # processes and threads together (cgroup pids)
    tmp_mib: int = 1024        # their private /tmp (tmpfs, counted in memory too)
    shm_mib: int = 512         # their private /dev/shm (tmpfs; DataLoader workers pass tensors through it)
    file_mib: int = 512        # the largest file any of their processes may write (RLIMIT_FSIZE)
    submission_mib: int = 20   # nbgrader's largest file in a submission (its max_file_size, for students)
    disk_mib: int = 4096       # their files on a file system with user quotas (home, exchange): setquota


@dataclass
class Settings:
    roster: Path
    directory: Path = Path("/srv/finetune-course")
    instructor: str = "instructor"
    ip: str = "127.0.0.1"
    port: int = 8000
    checkout: Path = Path(__file__).resolve().parents[2]
    ssl_cert: str | None = None
    ssl_key: str | None = None
    threads: int = 2                 # OMP threads per student kernel: cores / students running at once
    domain: str | None = None        # each user's server at USER.DOMAIN (None: "localhost" on loopback)
    idle_timeout: int = 3600         # seconds a server may sit idle before the culler stops it (0: never)
    limits: PersonLimits = field(default_factory=PersonLimits)
    students: list[str] = field(default_factory=list)

    @property
    def marker(self) -> str:
        """The comment (GECOS) of the accounts this hub creates: what --remove deletes, and nothing else."""
        return f"finetune-course hub {self.directory}"

    @property
    def instructor_course(self) -> Path:
        return Path(pwd.getpwnam(self.instructor).pw_dir) / COURSE_ID

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_cert else "http"

    @property
    def subdomain_host(self) -> str | None:
        """Where users' servers get an origin each (``USER.DOMAIN``): the domain given, or ``localhost`` for a
        hub on loopback (browsers send every ``*.localhost`` name to loopback); None: one origin for everyone."""
        domain = self.domain if self.domain is not None else ("localhost" if self.ip in LOOPBACK else "")
        return domain or None

    @property
    def url(self) -> str:
        host = self.subdomain_host
        if host is None:
            host = "localhost" if self.ip in ("127.0.0.1", "") else self.ip
            if self.ip in ("0.0.0.0", ""):
                host = socket.getfqdn()
        default = 443 if self.ssl_cert else 80
        return f"{self.scheme}://{host}{'' if self.port == default else f':{self.port}'}/"


def read_roster(path: Path) -> list[str]:
    """User names, one per line (the first column of a CSV; a header line is allowed); every problem at once."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise HubError(f"cannot read the roster {path}: {error}. Give a CSV file with one user name per line") from None
    problems, seen = [], {}
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        name = row[0].strip()
        if number == 1 and name.lower() in ROSTER_HEADERS:
            continue
        if not USER_NAME.fullmatch(name):
            problems.append(f"line {number}: {name!r} is not a user name for this machine (lower-case letters, "
                            "digits, _ and -, starting with a letter, at most 32 characters)")
        elif name in seen:
            problems.append(f"line {number}: {name} again (first on line {seen[name]})")
        else:
            seen[name] = number
    if problems:
        raise HubError(f"the roster {path} has {len(problems)} problem(s); nothing was changed:\n  "
                       + "\n  ".join(problems))
    if not seen:
        raise HubError(f"the roster {path} names no student: one user name per line (e.g. ada, grace)")
    return list(seen)


def read_full_names(path: Path) -> dict[str, tuple[str, str | None]]:
    """(first name, last name) per user name, from the roster's second column where it has one: "Grace Hopper"
    (the last word is the last name) or "Hopper, Grace"; :func:`read_roster` has checked the file."""
    names = {}
    for number, row in enumerate(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()), start=1):
        if len(row) < 2 or not row[1].strip() or not USER_NAME.fullmatch(row[0].strip()):
            continue
        if number == 1 and row[0].strip().lower() in ROSTER_HEADERS:
            continue
        full = row[1].strip()
        if "," in full:
            last, first = (part.strip() for part in full.split(",", 1))
        else:
            *first_words, last = full.split()
            first = " ".join(first_words) or last
            last = last if first_words else None
        names[row[0].strip()] = (first, last)
    return names


# -- look-ups on this machine --------------------------------------------------------------------------
def account(name: str):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def tool(name: str) -> str:
    """An administration command's path: root's PATH may lack /usr/sbin."""
    return shutil.which(name) or f"/usr/sbin/{name}"


def reachable(path: Path) -> str | None:
    """Why other users cannot read ``path`` (the first folder on the way they cannot enter), or None."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return f"{folder} is mode {oct(mode & 0o777)}: other users cannot enter it"
    if not path.stat().st_mode & stat.S_IROTH:
        return f"{path} is not readable by other users"
    return None


def under(path: Path, folder: str) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(folder)
