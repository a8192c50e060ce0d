"""Setting up, starting and removing the classroom server.

``finetune-course hub --roster roster.csv`` (as root) checks everything first (:mod:`.checks`) and
changes nothing if a check fails; then it

1. creates a local account per roster line and one for the instructor (:mod:`.accounts`);
2. makes the course's environment usable, read-only, by every account (this checkout's, or, where
   other accounts cannot reach it, one of their own built in ``DIR/python``) and the checkout's
   instructor-only entries readable by their owner only (:mod:`.environment`);
3. gives the instructor a copy of the course, creates nbgrader's exchange and writes each role's
   Jupyter config (:mod:`.course`);
4. finds what this machine offers to keep people apart and limit them (:mod:`.isolation`), writes
   JupyterHub's config (:mod:`.hubconfig`) and starts JupyterHub with configurable-http-proxy
   (installed from npm into ``DIR/node`` if it is not on PATH), saying which protections are in force.

It runs again over the same ``DIR`` without touching what is there (accounts keep their
passwords, the instructor's course its gradebook); ``--remove`` deletes the accounts it created and
everything of theirs the machine still holds.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from classroom import accounts, checks, course, environment, hubconfig, isolation, roster, service
from classroom.settings import COURSE_ID, HubError, Settings, read_full_names

CHP_VERSION = "5"
MARK = "FINETUNE_COURSE_HUB"  # in the environment of everything a hub starts: its folder


def setup(settings: Settings, say=print) -> Path:
    """Check, then set everything up (see the module's notes); the JupyterHub config file to start it with."""
    running = running_hub(settings)
    if running:
        raise HubError(f"a hub is already running from {settings.directory} (pid {running}): stop it first (Ctrl-C "
                       f"where it runs, or kill {running}); nothing was changed")
    swept = sweep(settings) if os.geteuid() == 0 else []  # a hub that crashed: its proxy and servers
    if swept:
        say(f"stopped what an earlier hub from {settings.directory} left running: {', '.join(swept)}")
    problems = checks.check(settings)
    if problems:
        raise HubError("the classroom server was not set up; nothing was changed:\n- " + "\n- ".join(problems))
    machine = isolation.detect()
    settings.directory.mkdir(parents=True, exist_ok=True)
    settings.directory.chmod(0o755)
    node = settings.directory / "node"
    proxy = checks.proxy() or (str(node / "node_modules" / ".bin" / "configurable-http-proxy")
                               if (node / "node_modules" / ".bin" / "configurable-http-proxy").exists() else None)
    if proxy is None:
        say(f"installing configurable-http-proxy@{CHP_VERSION} from npm into {node} ...")
        result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(node),
                                 f"configurable-http-proxy@{CHP_VERSION}"], capture_output=True, text=True)
        proxy = str(node / "node_modules" / ".bin" / "configurable-http-proxy")
        if result.returncode != 0 or not os.path.exists(proxy):
            raise HubError(f"npm install configurable-http-proxy failed:\n{result.stderr[-2000:]}")
    bin_dir = environment.environment(settings, say=say)
    environment.put_on_path(settings, bin_dir)
    locked = environment.lock_checkout(settings)
    if locked:
        say(f"readable by their owner only now, in {settings.checkout}: {', '.join(locked)}")
    accounts.create_accounts(settings)
    (settings.directory / "hub").mkdir(mode=0o700, exist_ok=True)  # the hub's state: root's alone
    roster.remember(settings)
    for name in [*settings.students, settings.instructor]:
        limits = settings.limits if name != settings.instructor else hubconfig.INSTRUCTOR_LIMITS
        isolation.set_quotas(machine, name, limits, [Path(pwd.getpwnam(name).pw_dir), settings.directory])
    course.exchange(settings)
    instructor_course = course.instructor_course(settings, bin_dir)
    course.record_names(settings, read_full_names(settings.roster))
    folders = course.jupyter_config(settings)
    isolation.save(machine, settings.directory / "hub" / "cgroups.json")
    config = hubconfig.write(settings, bin_dir, folders, proxy, machine)
    say(f"accounts: {len(settings.students)} students and the instructor {settings.instructor}; passwords in "
        f"{settings.directory / 'accounts.csv'} (root only): hand each person theirs")
    say(f"the instructor's course: {instructor_course} (finetune-course grade publish/collect --exchange/autograde/"
        "feedback/return, run there in a JupyterLab terminal)")
    for line in machine.report(settings.limits):
        say(line)
    return config


def start(settings: Settings, config: Path) -> int:
    """Run JupyterHub in the foreground until it is stopped (Ctrl-C)."""
    instructor_url = settings.url.rstrip("/")
    if settings.subdomain_host:
        instructor_url = instructor_url.replace("://", f"://{settings.instructor}.", 1)
        origins = (f"Each person's server is served from a name of its own ({settings.scheme}://USER."
                   f"{settings.subdomain_host}...): what one serves cannot act in another's browser session.")
    else:
        origins = ("WARNING: no --domain, so every server is served from the hub's one origin: users are only "
                   "semi-trusted. A student's page opened by the instructor could act as the instructor; the "
                   "instructor should open no link into a student's server. Give the hub a name with a wildcard "
                   "DNS entry and certificate (--domain hub.example.edu; see docs/classroom-server.md) to close that.")
    print(f"\nThe classroom server: {settings.url}\n"
          f"Each student logs in with their user name and the password from {settings.directory / 'accounts.csv'};\n"
          f"the instructor ({settings.instructor}) too, and opens the formgrader at "
          f"{instructor_url}/user/{settings.instructor}/formgrader\n{origins}\n"
          "Stop it with Ctrl-C.", flush=True)
    return run_hub(settings, config)


def run_hub(settings: Settings, config: Path, stop_seconds: float = 60) -> int:
    """JupyterHub in a session of its own, until it exits or this process gets SIGINT (Ctrl-C) or SIGTERM: then
    JupyterHub stops every server and its proxy (its own cleanup, given ``stop_seconds``), and whatever of the
    hub's is still running after that is killed (:func:`sweep`). ``DIR/hub/hub.pid`` says a hub runs from DIR."""
    state = config.parent
    pid_file = state / "hub.pid"
    pid_file.write_text(str(os.getpid()))
    hub = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=state,
                           start_new_session=True, env={**os.environ, MARK: str(settings.directory)})
    asked = []

    def stop(signum, frame):
        asked.append(signum)
        try:
            hub.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = hub.wait(timeout=stop_seconds if asked else None)
                break
            except subprocess.TimeoutExpired:
                hub.kill()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        swept = sweep(settings)
        pid_file.unlink(missing_ok=True)
    if swept:
        print(f"stopped what the hub left running: {', '.join(swept)}", flush=True)
    return 0 if asked else code


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running_hub(settings: Settings) -> int | None:
    """The pid of a ``finetune-course hub`` or its JupyterHub running from this folder, or None."""
    for name, program in (("hub.pid", "hub"), ("jupyterhub.pid", "jupyterhub")):
        try:
            pid = int((settings.directory / "hub" / name).read_text())
        except (OSError, ValueError):
            continue
        if _alive(pid) and program in _command_line(pid):
            return pid
    return None


def marked(folder: str, any_below: bool = False) -> list[int]:
    """Processes started by the hub from ``folder`` (JupyterHub, its proxy and services carry :data:`MARK`), or,
    ``any_below``, by any hub whose folder's path starts with ``folder``."""
    mark = f"{MARK}={folder}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if int(pid) != os.getpid() and any(e == mark or any_below and e.startswith(mark) for e in entries):
                found.append(int(pid))
        except OSError:
            continue
    return found


def sweep(settings: Settings) -> list[str]:
    """Kill what a hub from this folder left running (its JupyterHub, proxy and services, marked in their
    environment; the proxy by its pid file too; any process of its accounts); remove the stale pid files. What
    was stopped, for the log."""
    swept = []
    proxy_pid = settings.directory / "hub" / "proxy.pid"
    try:
        proxy = int(proxy_pid.read_text())
    except (OSError, ValueError):
        proxy = None
    if proxy and _alive(proxy) and "configurable-http-proxy" in _command_line(proxy):
        os.kill(proxy, signal.SIGKILL)
        swept.append(f"the proxy (pid {proxy})")
    proxy_pid.unlink(missing_ok=True)
    for pid in marked(str(settings.directory)):
        what = _command_line(pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        swept.append(f"pid {pid} ({' '.join(what.split()[:3])[:80] or 'gone'})")
    (settings.directory / "hub" / "jupyterhub.pid").unlink(missing_ok=True)  # not running: running_hub() said so
    for person in accounts.hub_accounts(settings):
        if subprocess.run(["pgrep", "-u", person.pw_name], capture_output=True).returncode == 0:
            accounts.kill_processes(person.pw_name)
            swept.append(f"{person.pw_name}'s processes")
    return swept


def remove(settings: Settings, purge: bool = False, say=print) -> list[str]:
    """Delete the accounts this hub created (their homes, processes, cgroups and files in the shared temporary
    folders) and its folder, saying first what goes; the instructor's course (gradebook, submissions, feedback) is
    moved to ``DIR/kept`` unless ``purge``. The checkout stays as it is."""
    if os.geteuid() != 0:
        raise HubError("run as root to remove the accounts the hub created")
    people = accounts.hub_accounts(settings)
    if not people and not (settings.directory / "hub").is_dir():
        raise HubError(f"no classroom hub was set up in {settings.directory} (no accounts of its, no hub/ folder): "
                       "give the --dir it was set up with; nothing was changed")
    running = running_hub(settings)
    if running:
        raise HubError(f"the hub in {settings.directory} is running (pid {running}): stop it first; nothing was "
                       "changed")
    swept = sweep(settings)
    if swept:
        say(f"stopped what the hub left running: {', '.join(swept)}")
    kept = settings.directory / "kept"
    teacher = next((p for p in people if p.pw_name == _instructor_name(settings)), None)
    course = Path(teacher.pw_dir) / COURSE_ID if teacher else None
    say(f"removing {len(people)} accounts with their homes, processes and temporary files: "
        f"{', '.join(p.pw_name for p in people) or 'none'}")
    if course is not None and course.is_dir() and not purge:
        target = accounts.keep(course, kept, f"{teacher.pw_name}-{COURSE_ID}")
        say(f"kept the instructor's course (gradebook, submissions, feedback) in {target} (root's; --purge deletes it)")
    elif course is not None and course.is_dir():
        say(f"deleting the instructor's course {course} with its gradebook (--purge)")
    if (settings.directory / "python").is_dir():
        say(f"deleting the course's environment the accounts ran, {settings.directory / 'python'}")
    accounts.retire(people, isolation.load(settings.directory / "hub" / "cgroups.json"), settings.directory,
                    remove_homes=True)
    removed = [person.pw_name for person in people]
    environment.remove_from_path(settings)
    service.uninstall(settings, say=say)
    if settings.directory.is_dir():
        for entry in settings.directory.iterdir():
            if entry != kept or purge:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        if purge or not kept.exists():
            settings.directory.rmdir()
    say(f"removed {len(removed)} accounts and " + (f"{settings.directory}" if purge or not kept.exists() else
                                                    f"everything in {settings.directory} but kept/"))
    return removed


def _instructor_name(settings: Settings) -> str | None:
    """The instructor of the hub in DIR, from its accounts.csv (root's)."""
    try:
        for line in (settings.directory / "accounts.csv").read_text().splitlines()[1:]:
            user, role, _ = line.split(",", 2)
            if role == "instructor":
                return user
    except (OSError, ValueError):
        pass
    return settings.instructor

