"""A classroom server on this machine: JupyterHub, one local account per student, nbgrader's exchange.

``finetune-course hub --roster roster.csv`` (as root) checks everything first and changes nothing
if a check fails; then it

1. creates a local account per roster line and one for the instructor, each with a generated
   password (``DIR/accounts.csv``, readable by root only), homes readable by their owner only;
   students log in with those through PAM (JupyterHub's own authenticator for local accounts);
2. makes the course's environment usable by every account (where the environment's Python lies
   under a folder other users cannot enter, such as ``/root``, an environment in ``DIR/python`` runs
   a copy of that Python, without its packages, over the course's packages), and makes the
   instructor's parts of this checkout (``solutions/``, ``grader/``, ``tests/``, ``.git``...)
   readable by their owner only: students have accounts on this machine now;
3. gives the instructor a copy of the course in ``~INSTRUCTOR/finetune-course`` (solutions, hidden
   tests, gradebook: theirs alone) whose config names the exchange and the course's safe exchange
   classes (:mod:`.exchange`), and generates its lessons;
4. creates nbgrader's exchange in ``DIR/exchange``: its root owned by root (1777: sticky, so that
   no one but its owner can rename the course's folder away), the course's folder by the
   instructor, ``inbound`` writable but not listable by students (0733, sticky);
5. writes the Jupyter config of students (Assignment List and Validate; no formgrader, no course
   list) and of the instructor (formgrader too), and JupyterHub's config, and starts JupyterHub with
   configurable-http-proxy (installed from npm into ``DIR/node`` if it is not on PATH).

It runs again over the same ``DIR`` without touching what is there (accounts keep their
passwords, the instructor's course its gradebook); ``--remove`` deletes the accounts it created.
"""

from __future__ import annotations

import csv
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

COURSE_ID = "finetune-course"
# What Debian's useradd accepts by default, kept to lower case: a roster line is one account.
USER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ROSTER_HEADERS = {"username", "user", "login", "student", "student_id", "name"}
# The checkout's top-level entries students may read: the course's environment and package, the lessons.
PUBLIC = {".venv", "src", "lessons", "jupyter", "docs", "README.md", "LICENSE", "pyproject.toml",
          "environment.yml", "binder"}
CHP_VERSION = "5"


class HubError(Exception):
    """What stops the hub before it changes anything; the message says what to do."""


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
    students: list[str] = field(default_factory=list)

    @property
    def marker(self) -> str:
        """The comment (GECOS) of the accounts this hub creates: what --remove deletes, and nothing else."""
        return f"finetune-course hub {self.directory}"

    @property
    def instructor_course(self) -> Path:
        return Path(pwd.getpwnam(self.instructor).pw_dir) / COURSE_ID

    @property
    def url(self) -> str:
        host = "localhost" if self.ip in ("127.0.0.1", "") else self.ip
        if self.ip in ("0.0.0.0", ""):
            host = socket.getfqdn()
        return f"{'https' if self.ssl_cert else 'http'}://{host}:{self.port}/"


# -- checks: nothing is changed before all of them pass ----------------------------------------------
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


def _account(name: str):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _tool(name: str) -> str:
    """An administration command's path: root's PATH may lack /usr/sbin."""
    return shutil.which(name) or f"/usr/sbin/{name}"


def _reachable(path: Path) -> str | None:
    """Why other users cannot read ``path`` (the first folder on the way they cannot enter), or None."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return f"{folder} is mode {oct(mode & 0o777)}: other users cannot enter it"
    if not path.stat().st_mode & stat.S_IROTH:
        return f"{path} is not readable by other users"
    return None


def _proxy() -> str | None:
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
        existing = _account(name)
        if existing is not None and existing.pw_gecos != settings.marker:
            problems.append(f"an account {name} already exists on this machine and was not made by this hub "
                            f"(uid {existing.pw_uid}, {existing.pw_gecos or 'no comment'}): rename that roster "
                            "line, or remove the account")
        elif existing is None and _group(name):
            problems.append(f"a group {name} already exists on this machine (useradd would stop there): rename that "
                            "roster line, or remove the group")
    for tool in ("useradd", "userdel", "chpasswd", "runuser"):
        if not os.path.exists(_tool(tool)):
            problems.append(f"{tool} is not installed (Debian: apt-get install passwd util-linux)")
    if _proxy() is None and shutil.which("npm") is None:
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
    site = Path(sysconfig.get_paths()["purelib"])
    for what, path in (("the course's packages", site), ("the course's package", settings.checkout / "src")):
        why = _reachable(path)
        if why:
            problems.append(f"{what} ({path}) cannot be read by other users: {why}. Put the course where "
                            "every account can read it (e.g. clone it into /opt) and make install there")
    if settings.directory.exists() and not settings.directory.is_dir():
        problems.append(f"{settings.directory} is not a folder: choose another --dir")
    else:
        existing = settings.directory
        while not existing.exists():
            existing = existing.parent
        why = _reachable(existing)
        if why:
            problems.append(f"{settings.directory}: {why}; every account must reach the exchange in it: choose "
                            "another --dir (the default is /srv/finetune-course)")
    return problems


# -- setting up -------------------------------------------------------------------------------------
def _run(*command: str, stdin: str | None = None) -> None:
    command = (_tool(command[0]), *command[1:])
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise HubError(f"{' '.join(command[:3])}... failed: {result.stderr.strip() or result.stdout.strip()}")


def _accounts(settings: Settings) -> dict[str, str]:
    """Create the accounts that are missing; their passwords (``DIR/accounts.csv``, root only)."""
    path = settings.directory / "accounts.csv"
    known = {}
    if path.is_file():
        known = {row["user"]: row["password"] for row in csv.DictReader(path.read_text().splitlines())}
    wanted = [*settings.students, settings.instructor]
    passwords = {}
    for name in wanted:
        if _account(name) is None:
            _run("useradd", "--create-home", "--shell", "/bin/bash", "--comment", settings.marker, name)
            known.pop(name, None)
        if name not in known:
            known[name] = secrets.token_urlsafe(9)
            _run("chpasswd", stdin=f"{name}:{known[name]}\n")
        passwords[name] = known[name]
        os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    with _private(path) as out:
        # Unix line ends: csv's default "\r\n" leaves a carriage return on every password that
        # `cut -d, -f3` or awk hands on, and the login then fails.
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["user", "role", "password"])
        for name in wanted:
            writer.writerow([name, "instructor" if name == settings.instructor else "student", passwords[name]])
    return passwords


class _private:
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


def _copy_python(target: Path) -> Path:
    """This Python's installation (the interpreter, its shared library and standard library, no site-packages)
    copied to ``target``; where the interpreter finds its library by an absolute path, it is made relative."""
    base = Path(sys.base_prefix).resolve()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = Path(sys.executable).resolve()
    (target / "bin").mkdir(parents=True, exist_ok=True)
    (target / "lib").mkdir(exist_ok=True)
    binary = interpreter.read_bytes()
    old = f"{base}/lib".encode()
    if binary.count(old + b"\0") == 1:  # RUNPATH: $ORIGIN/../lib fits in its place, padded
        new = b"$ORIGIN/../lib"
        binary = binary.replace(old + b"\0", new + b"\0" * (len(old) - len(new) + 1))
    copied = target / "bin" / f"python{version}"
    copied.write_bytes(binary)
    copied.chmod(0o755)
    for library in base.glob(f"lib/libpython{version}*.so*"):
        if not (target / "lib" / library.name).exists():
            shutil.copy2(library, target / "lib" / library.name)
    if not (target / "lib" / f"python{version}" / "os.py").exists():
        shutil.copytree(base / "lib" / f"python{version}", target / "lib" / f"python{version}", symlinks=True,
                        ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "__pycache__"),
                        dirs_exist_ok=True)
        (target / "lib" / f"python{version}" / "site-packages").mkdir(exist_ok=True)
    return copied


def _environment(settings: Settings) -> Path:
    """The folder of the Python every account runs: this environment's, or one in ``DIR/python`` built on a
    copy of this Python (where this one lies under a folder others cannot enter, such as /root)."""
    if _reachable(Path(sys.executable)) is None:
        return Path(sys.executable).parent
    env = settings.directory / "python"
    bin_dir = env / "bin"
    site = env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(parents=True, exist_ok=True)
    interpreter = _copy_python(env / "base")
    (env / "pyvenv.cfg").write_text(f"home = {interpreter.parent}\ninclude-system-site-packages = false\n"
                                    f"version = {sys.version_info.major}.{sys.version_info.minor}."
                                    f"{sys.version_info.micro}\n")
    python = bin_dir / "python"
    if python.is_symlink() or python.exists():
        python.unlink()
    python.symlink_to(interpreter)
    # Jupyter's data and config of the environment (JupyterLab's extensions, nbconvert's templates) are found
    # from sys.prefix: the same folders as the environment's.
    for name in ("share", "etc"):
        link, target = env / name, Path(sys.prefix) / name
        if target.is_dir() and not link.is_symlink():
            link.symlink_to(target)
    # The course's packages as a site folder (its .pth files, the editable install's among them, count).
    purelib = sysconfig.get_paths()["purelib"]
    (site / "finetune_course_env.pth").write_text(f"import site; site.addsitedir({purelib!r})\n")
    # Every console script of the environment (finetune-course, nbgrader, jupyter, alembic...), run by this Python.
    for script in Path(sys.executable).parent.iterdir():
        if script.name.startswith("python") or script.name.startswith("activate") or not script.is_file():
            continue
        with open(script, "rb") as stream:
            first = stream.readline()
        if first.startswith(b"#!") and Path(sys.executable).parent.as_posix().encode() in first:
            body = script.read_bytes()[len(first):]
            (bin_dir / script.name).write_bytes(f"#!{python}\n".encode() + body)
            (bin_dir / script.name).chmod(0o755)
    for folder in (env, *env.rglob("*")):
        if not folder.is_symlink():
            folder.chmod(0o755 if folder.is_dir() or folder.stat().st_mode & stat.S_IXUSR else 0o644)
    return bin_dir


def _lock_checkout(settings: Settings) -> list[str]:
    """Make this checkout's instructor-only entries (solutions, grader, tests, .git...) readable by their owner only."""
    locked = []
    for entry in sorted(settings.checkout.iterdir()):
        if entry.name in PUBLIC or entry.is_symlink():
            continue
        mode = entry.stat().st_mode
        if mode & 0o077:
            entry.chmod(mode & ~0o077)
            locked.append(entry.name)
    return locked


def _config_line(name: str, value) -> str:
    return f"c.{name} = {value!r}\n"


def _instructor_course(settings: Settings, bin_dir: Path) -> Path:
    """The instructor's own copy of the course (first run only), its config naming the exchange, lessons generated."""
    course = settings.instructor_course
    config = course / "grader" / "nbgrader_config.py"
    account = pwd.getpwnam(settings.instructor)
    if not config.is_file():
        course.mkdir(parents=True, exist_ok=True)
        shutil.copytree(settings.checkout / "solutions", course / "solutions", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        (course / "grader").mkdir(exist_ok=True)
        for name in ("nbgrader_config.py", "cell_times.json", "due_dates.json"):
            if (settings.checkout / "grader" / name).is_file():
                shutil.copyfile(settings.checkout / "grader" / name, course / "grader" / name)
        exchange = settings.directory / "exchange"
        with open(config, "a") as out:
            out.write("\n# Added by finetune-course hub: the classroom server's exchange, collected and released\n"
                      "# by the course's own classes (see course_grader.exchange); stock autograde and\n"
                      "# generate_feedback stop and name the course's commands instead.\n")
            out.write(_config_line("Exchange.root", str(exchange)))
            out.write(_config_line("ExchangeFactory.collect", "course_grader.exchange.SafeCollect"))
            out.write(_config_line("ExchangeFactory.release_assignment", "course_grader.exchange.SafeReleaseAssignment"))
            out.write(_config_line("Autograde.autograde_preprocessors", ["course_grader.exchange.UseCourseGrader"]))
            out.write(_config_line("GenerateFeedback.preprocessors", ["course_grader.exchange.UseCourseGrader"]))
        _chown_tree(course, account)
    if not (course / "lessons").is_dir():  # released below, once: the gradebook is the instructor's from then on
        run_as(settings.instructor, [str(bin_dir / "finetune-course"), "grade", "release"], cwd=course, bin_dir=bin_dir)
    return course


def _chown_tree(path: Path, account) -> None:
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, f) for f in dirs + files)]:
            os.lchown(name, account.pw_uid, account.pw_gid)
    os.chmod(path, 0o700)


def env_bin(directory: Path) -> Path:
    """The bin folder of the Python every account of a hub set up in ``directory`` runs (see :func:`_environment`)."""
    own = directory / "python" / "bin"
    return own if own.is_dir() else Path(sys.executable).parent


def run_as(user: str, command: list[str], cwd: Path, bin_dir: Path) -> str:
    """``command`` run as ``user`` (runuser), with the course's environment on PATH; its output."""
    account = pwd.getpwnam(user)
    env = {"HOME": account.pw_dir, "USER": user, "LOGNAME": user, "LANG": os.environ.get("LANG", "C.UTF-8"),
           "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"}
    result = subprocess.run([_tool("runuser"), "-u", user, "--", *command], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise HubError(f"{' '.join(command)} as {user} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def _exchange(settings: Settings) -> Path:
    """nbgrader's exchange: its root root's (1777: nbgrader wants it writable, the sticky bit keeps the course's
    folder from being renamed away by anyone else), the course's folder the instructor's, inbound 0733 + sticky."""
    root = settings.directory / "exchange"
    root.mkdir(parents=True, exist_ok=True)
    os.chown(root, 0, 0)
    root.chmod(0o1777)
    account = pwd.getpwnam(settings.instructor)
    course = root / COURSE_ID
    for folder, mode in ((course, 0o755), (course / "outbound", 0o755), (course / "inbound", 0o3733),
                         (course / "feedback", 0o711)):
        if os.path.lexists(folder):
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (0, account.pw_uid):
                raise HubError(f"{folder} is not a folder of the instructor's (it may have been planted there): "
                               "remove it, then run again")
        folder.mkdir(exist_ok=True)
        os.lchown(folder, account.pw_uid, account.pw_gid)
        folder.chmod(mode)
    return root


def _jupyter_config(settings: Settings) -> dict[str, Path]:
    """Per role: JUPYTER_CONFIG_PATH folder with the server's extensions, JupyterLab's plugins and nbgrader's config."""
    exchange = settings.directory / "exchange"
    folders = {}
    for role in ("student", "instructor"):
        folder = settings.directory / "jupyter" / role
        (folder / "labconfig").mkdir(parents=True, exist_ok=True)
        instructor = role == "instructor"
        (folder / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": instructor,
            "nbgrader.server_extensions.course_list": instructor,
            "nbgrader.server_extensions.assignment_list": True,
            "nbgrader.server_extensions.validate_assignment": True}}}, indent=1))
        disabled = {"@jupyterlab/apputils-extension:announcements": True,
                    "@jupyter/nbgrader:create-assignment": True}
        if not instructor:
            disabled.update({"@jupyter/nbgrader:formgrader": True, "@jupyter/nbgrader:course-list": True})
        (folder / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}, indent=1))
        lines = ["# Written by finetune-course hub.\n", "c = get_config()  # noqa: F821\n"]
        if instructor:
            lines.append(f"load_subconfig({str(settings.instructor_course / 'grader' / 'nbgrader_config.py')!r})  "
                         "# noqa: F821\n")
        lines += [_config_line("CourseDirectory.course_id", COURSE_ID), _config_line("Exchange.root", str(exchange))]
        (folder / "nbgrader_config.py").write_text("".join(lines))
        for path in (folder, folder / "labconfig", *folder.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        folders[role] = folder
    return folders


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hub_config(settings: Settings, bin_dir: Path, folders: dict[str, Path], proxy: str) -> Path:
    state = settings.directory / "hub"
    state.mkdir(exist_ok=True)
    state.chmod(0o700)
    token_file = state / "api_token"
    if not token_file.is_file():
        with _private(token_file) as out:
            out.write(secrets.token_hex(32))
    values = {
        "BIND_URL": f"{'https' if settings.ssl_cert else 'http'}://{settings.ip}:{settings.port}",
        "HUB_BIND_URL": f"http://127.0.0.1:{_free_port()}", "PROXY_API_URL": f"http://127.0.0.1:{_free_port()}",
        "STATE": str(state), "PROXY": proxy, "PYTHON": str(bin_dir / "python"), "BIN": str(bin_dir),
        "USERS": sorted([*settings.students, settings.instructor]), "INSTRUCTOR": settings.instructor,
        "CONFIG": {role: str(folder) for role, folder in folders.items()},
        "COURSE_CONFIG": str(settings.instructor_course / "grader" / "nbgrader_config.py"),
        "THREADS": str(settings.threads), "SSL_CERT": settings.ssl_cert, "SSL_KEY": settings.ssl_key,
    }
    config = state / "jupyterhub_config.py"
    with _private(config) as out:
        out.write("# Written by finetune-course hub (course_grader/hub.py); run again to rewrite it.\n")
        for name, value in values.items():
            out.write(f"{name} = {value!r}\n")
        out.write(HUB_CONFIG)
    return config


HUB_CONFIG = '''
import secrets
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = BIND_URL
c.JupyterHub.hub_bind_url = HUB_BIND_URL
if SSL_CERT:
    c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key = SSL_CERT, SSL_KEY
c.JupyterHub.db_url = "sqlite:///" + STATE + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = STATE + "/cookie_secret"
c.ConfigurableHTTPProxy.command = [PROXY]
c.ConfigurableHTTPProxy.api_url = PROXY_API_URL
c.ConfigurableHTTPProxy.pid_file = STATE + "/proxy.pid"
c.ConfigurableHTTPProxy.auth_token = secrets.token_hex(32)
c.ConfigurableHTTPProxy.should_start = True

# Local accounts with the passwords in accounts.csv, through PAM; only the roster and the instructor.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = set(USERS)
c.Authenticator.admin_users = set()

# Each user's server runs as that user, in the course's environment, from their home.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [PYTHON, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120


def pre_spawn_hook(spawner):
    role = "instructor" if spawner.user.name == INSTRUCTOR else "student"
    env = {"JUPYTER_CONFIG_PATH": CONFIG[role], "PATH": BIN + ":/usr/local/bin:/usr/bin:/bin",
           "OMP_NUM_THREADS": THREADS, "MKL_NUM_THREADS": THREADS}
    if role == "instructor":
        env["FINETUNE_COURSE_CONFIG"] = COURSE_CONFIG
    spawner.environment = {**spawner.environment, **env}


c.Spawner.pre_spawn_hook = pre_spawn_hook

# A service token for the instructor's scripts and the capacity bench (hub API), root's to read.
c.JupyterHub.services = [{"name": "course-admin", "api_token": open(STATE + "/api_token").read().strip()}]
c.JupyterHub.load_roles = [{"name": "course-admin", "services": ["course-admin"],
                            "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"]}]
'''


def setup(settings: Settings, say=print) -> Path:
    """Check, then set everything up (see the module's notes); the JupyterHub config file to start it with."""
    problems = check(settings)
    if problems:
        raise HubError("the classroom server was not set up; nothing was changed:\n- " + "\n- ".join(problems))
    settings.directory.mkdir(parents=True, exist_ok=True)
    settings.directory.chmod(0o755)
    node = settings.directory / "node"
    proxy = _proxy() or (str(node / "node_modules" / ".bin" / "configurable-http-proxy")
                         if (node / "node_modules" / ".bin" / "configurable-http-proxy").exists() else None)
    if proxy is None:
        say(f"installing configurable-http-proxy@{CHP_VERSION} from npm into {node} ...")
        result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(node),
                                 f"configurable-http-proxy@{CHP_VERSION}"], capture_output=True, text=True)
        proxy = str(node / "node_modules" / ".bin" / "configurable-http-proxy")
        if result.returncode != 0 or not os.path.exists(proxy):
            raise HubError(f"npm install configurable-http-proxy failed:\n{result.stderr[-2000:]}")
    bin_dir = _environment(settings)
    locked = _lock_checkout(settings)
    if locked:
        say(f"readable by their owner only now, in {settings.checkout}: {', '.join(locked)}")
    _accounts(settings)
    _exchange(settings)
    course = _instructor_course(settings, bin_dir)
    folders = _jupyter_config(settings)
    config = _hub_config(settings, bin_dir, folders, proxy)
    say(f"accounts: {len(settings.students)} students and the instructor {settings.instructor}; passwords in "
        f"{settings.directory / 'accounts.csv'} (root only): hand each person theirs")
    say(f"the instructor's course: {course} (finetune-course grade publish/collect --exchange/autograde/feedback/"
        "return, run there in a JupyterLab terminal)")
    return config


def start(settings: Settings, config: Path) -> int:
    """Run JupyterHub in the foreground until it is stopped (Ctrl-C)."""
    print(f"\nThe classroom server: {settings.url}\n"
          f"Each student logs in with their user name and the password from {settings.directory / 'accounts.csv'};\n"
          f"the instructor ({settings.instructor}) too, and finds Formgrader in the Nbgrader menu.\n"
          "Stop it with Ctrl-C.", flush=True)
    state = config.parent
    return subprocess.call([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=state)


def remove(settings: Settings) -> list[str]:
    """Delete the accounts this hub created (and their homes) and its folder; the checkout stays as it is."""
    if os.geteuid() != 0:
        raise HubError("run as root to remove the accounts the hub created")
    removed = []
    for account in pwd.getpwall():
        if account.pw_gecos == settings.marker:
            _run("userdel", "--remove", account.pw_name)
            removed.append(account.pw_name)
    if settings.directory.is_dir():
        shutil.rmtree(settings.directory)
    return removed
