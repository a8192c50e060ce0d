"""The class changes during a term: students added, removed, passwords reset, while the hub runs.

The roster file the hub was set up with stays the list of students (``DIR/hub/roster_path`` says
where it is): ``add-student`` and ``remove-student`` edit it and then :func:`sync`, which an
instructor can also run after editing the file by hand. Syncing creates the accounts that are
missing (their passwords join ``accounts.csv``) and tells the running hub about them; a student
no longer on the roster has their server stopped, is removed from the hub, and their account
deleted, their home kept in ``DIR/kept/NAME-home`` (root's). The next start reads the same file.
"""

from __future__ import annotations

import csv
import os
import pwd
import re
from pathlib import Path

from classroom import accounts, course, isolation
from classroom.api import HubAPI
from classroom.settings import USER_NAME, HubError, Settings, read_full_names, read_roster


def hub_settings(directory: Path) -> Settings:
    """The settings of the hub set up in ``directory``: its roster file and instructor."""
    state = directory / "hub"
    try:
        roster = Path((state / "roster_path").read_text().strip())
        rows = list(csv.DictReader((directory / "accounts.csv").read_text().splitlines()))
    except OSError:
        raise HubError(f"no classroom hub was set up in {directory}: give the --dir it was set up with") from None
    instructor = next((row["user"] for row in rows if row["role"] == "instructor"), "instructor")
    settings = Settings(roster=roster, directory=directory, instructor=instructor)
    settings.students = read_roster(roster)
    return settings


def _api(settings: Settings) -> HubAPI | None:
    """The running hub's API as the course's service, or None when it is not running."""
    config = (settings.directory / "hub" / "jupyterhub_config.py").read_text()
    bind = re.search(r"^BIND_URL = '([^']+)'", config, re.M).group(1).replace("0.0.0.0", "127.0.0.1")
    api = HubAPI(bind, directory=settings.directory)
    return api if api.up() else None


def edit_roster(settings: Settings, add: list[str] = (), remove: list[str] = ()) -> None:
    """Add names to the roster file (one line each) or drop the lines that name them; every problem at once."""
    problems = [f"{name!r} is not a user name (lower-case letters, digits, _ and -, starting with a letter)"
                for name in [*add, *remove] if not USER_NAME.fullmatch(name)]
    problems += [f"{name} is on the roster already" for name in add if name in settings.students]
    problems += [f"{name} is not on the roster {settings.roster}" for name in remove if name not in settings.students]
    problems += [f"{name} is the instructor" for name in add if name == settings.instructor]
    if problems:
        raise HubError("nothing was changed:\n  " + "\n  ".join(problems))
    def first(line: str) -> str:
        row = next(csv.reader([line]), [])
        return row[0].strip() if row else ""

    kept = [line for line in settings.roster.read_text(encoding="utf-8-sig").splitlines() if first(line) not in remove]
    settings.roster.write_text("\n".join([*kept, *add]) + "\n")
    settings.students = read_roster(settings.roster)


def sync(settings: Settings, reset: set[str] = frozenset(), say=print) -> None:
    """Make the accounts and the running hub match the roster file (see the module)."""
    ours = {p.pw_name: p for p in accounts.hub_accounts(settings)}
    for name in settings.students:
        existing = accounts.account(name)
        if existing is not None and name not in ours:
            raise HubError(f"an account {name} already exists on this machine and was not made by this hub: rename "
                           "that roster line, or remove the account; nothing was changed")
    gone = [name for name in ours if name not in settings.students and name != settings.instructor]
    new = [name for name in settings.students if name not in ours]
    passwords = accounts.create_accounts(settings, reset=reset)
    api = _api(settings)
    machine = isolation.detect()
    for name in new:
        isolation.set_quotas(machine, name, settings.limits, [Path(pwd.getpwnam(name).pw_dir),
                                                              settings.directory])
        if api is not None:
            status, reply = api.hub("POST", f"/users/{name}")
            if status not in (201, 409):
                raise HubError(f"the hub did not take {name}: {status} {reply}")
        say(f"added {name}, password {passwords[name]}")
    for name in sorted(reset):
        say(f"new password for {name}: {passwords[name]}")
    parents = isolation.load(settings.directory / "hub" / "cgroups.json")
    for name in gone:
        if api is not None:
            api.hub("DELETE", f"/users/{name}/server")
            api.hub("DELETE", f"/users/{name}")
        person = ours[name]
        accounts.kill_processes(name)  # before their home moves: nothing of theirs writes there meanwhile
        where = "gone"
        if os.path.isdir(person.pw_dir):
            where = f"in {accounts.keep(Path(person.pw_dir), settings.directory / 'kept', f'{name}-home')}"
        accounts.retire([person], parents, settings.directory, remove_homes=False)
        say(f"removed {name}: their server, hub user and account; their home is {where}")
    if new:
        course.record_names(settings, read_full_names(settings.roster))
    if not (new or gone or reset):
        say("the accounts match the roster; nothing to do")
    if api is None:
        say("the hub is not running: the next start reads the roster")


def remember(settings: Settings) -> None:
    """Where the roster file is, for :func:`hub_settings`."""
    (settings.directory / "hub" / "roster_path").write_text(str(settings.roster.resolve()) + "\n")

