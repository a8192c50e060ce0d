"""Everything checked before the classroom server changes anything: each problem with what to do."""

from __future__ import annotations

import os
import re
import shutil
import socket

from classroom.environment import PRIVATE_TEMPORARY, site_packages, writable_by_others
from classroom.settings import USER_NAME, HubError, Settings, account, group_exists, reachable, read_roster, tool, under

DOMAIN = re.compile(r"(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def proxy() -> str | None:
    return shutil.which("configurable-http-proxy")


def _port_free(ip: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


def check(settings: Settings) -> list[str]:
    """Every reason the hub cannot be set up as asked, each with what to do (empty: go ahead)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("run as root (sudo finetune-course hub ...): the hub creates an account per student and "
                        "starts each student's server as that account")
    try:
        settings.students = read_roster(settings.roster)
    except HubError as error:
        problems.append(str(error))
    if not USER_NAME.fullmatch(settings.instructor):
        problems.append(f"--instructor {settings.instructor!r} is not a user name (lower-case letters, digits, _ "
                        "and -, starting with a letter)")
    if settings.instructor in settings.students:
        problems.append(f"the instructor {settings.instructor} is on the roster too: give the instructor a name of "
                        "their own (--instructor)")
    for name in [*settings.students, settings.instructor]:
        existing = account(name)
        if existing is not None and existing.pw_gecos != settings.marker:
            problems.append(f"an account {name} already exists on this machine and was not made by this hub "
                            f"(uid {existing.pw_uid}, {existing.pw_gecos or 'no comment'}): rename that roster "
                            "line, or remove the account")
        elif existing is None and group_exists(name):
            problems.append(f"a group {name} already exists on this machine (useradd would stop there): rename that "
                            "roster line, or remove the group")
    for command in ("useradd", "userdel", "chpasswd", "runuser"):
        if not os.path.exists(tool(command)):
            problems.append(f"{command} is not installed (Debian: apt-get install passwd util-linux)")
    if proxy() is None and shutil.which("npm") is None:
        problems.append("neither configurable-http-proxy nor npm is installed: JupyterHub's proxy comes from npm. "
                        "Install Node.js and npm (Debian: apt-get install nodejs npm) and run again")
    if not _port_free(settings.ip, settings.port):
        problems.append(f"port {settings.port} on {settings.ip or 'all addresses'} is taken: stop what uses it "
                        "(ss -ltnp) or choose another with --port")
    if bool(settings.ssl_cert) != bool(settings.ssl_key):
        problems.append("--ssl-cert and --ssl-key go together")
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        problems.append("JupyterHub is not installed in this environment: pip install -e '.[hub]' (make install "
                        "does)")
    site = site_packages()  # where other accounts cannot read it, setup builds them an environment in DIR/python
    if settings.directory.exists() and not settings.directory.is_dir():
        problems.append(f"{settings.directory} is not a folder: choose another --dir")
    else:
        existing = settings.directory
        while not existing.exists():
            existing = existing.parent
        why = reachable(existing)
        if why:
            problems.append(f"{settings.directory}: {why}; every account must reach the exchange in it: choose "
                            "another --dir (the default is /srv/finetune-course)")
    for private in PRIVATE_TEMPORARY:
        if under(settings.directory, private):
            problems.append(f"--dir ({settings.directory}) is under {private}, which every person gets a private one "
                            "of: put it elsewhere (the default is /srv/finetune-course)")
    for what, path in (("the course's packages", site), ("the course's package", settings.checkout / "src")):
        changeable = writable_by_others(path) if path.is_dir() else []
        if changeable:
            problems.append(f"{what} can be changed by someone other than root, and every server runs them: "
                            + "; ".join(changeable) + ". Install the course as root (make install)")
    if settings.domain is not None and settings.domain and not DOMAIN.fullmatch(settings.domain):
        problems.append(f"--domain {settings.domain!r} is not a host name (e.g. hub.example.edu): each user's server "
                        "is served from USER.DOMAIN")
    if shutil.which("bwrap") is None:
        problems.append("bubblewrap is not installed, and grading runs each submission in it: apt-get install "
                        "bubblewrap")
    return problems

