"""JupyterHub's config for the classroom: who logs in, how each server starts, where it is served from.

Written to ``DIR/hub/jupyterhub_config.py`` (root only) as values followed by :data:`HUB_CONFIG`. What
keeps people apart, in JupyterHub's terms:

- ``subdomain_host``: each user's server is served from an origin of its own (``USER.DOMAIN``), so
  a page a student's server serves cannot act in the instructor's session (JupyterHub's security
  overview: the full protection against users serving HTML on the hub's domain). Without a domain,
  users are only semi-trusted: the hub says so at start.
- ``Spawner.disable_user_config`` and ``PYTHONNOUSERSITE``: nothing in a home configures that
  person's server (no ``~/.jupyter`` config, server or JupyterLab extensions, no user site-packages;
  nbgrader's handlers read no ``nbgrader_config.py`` from the home: :mod:`.serverext`).
- The instructor has no scope on students' servers (``access:servers``): they grade from the exchange.
"""

from __future__ import annotations

import dataclasses
import secrets
import socket
from pathlib import Path

from classroom.accounts import private_file
from classroom.isolation import Machine
from classroom.settings import PersonLimits, Settings

# The instructor grades (a sandboxed kernel per job, up to 6 GiB each): more room than a student.
INSTRUCTOR_LIMITS = PersonLimits(memory_mib=8192, cpus=4.0, processes=4096, tmp_mib=4096, shm_mib=1024,
                                 file_mib=2048, submission_mib=20, disk_mib=16384)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(settings: Settings, bin_dir: Path, folders: dict[str, Path], proxy: str, machine: Machine) -> Path:
    state = settings.directory / "hub"
    state.mkdir(exist_ok=True)
    state.chmod(0o700)
    token_file = state / "api_token"
    if not token_file.is_file():
        with private_file(token_file) as out:
            out.write(secrets.token_hex(32))
    subdomain = settings.subdomain_host
    default = 443 if settings.ssl_cert else 80
    values = {
        "BIND_URL": f"{settings.scheme}://{settings.ip}:{settings.port}",
        "SUBDOMAIN_HOST": subdomain and (f"{settings.scheme}://{subdomain}"
                                         + ("" if settings.port == default else f":{settings.port}")),
        "HUB_BIND_URL": f"http://127.0.0.1:{_free_port()}", "PROXY_API_URL": f"http://127.0.0.1:{_free_port()}",
        "STATE": str(state), "PROXY": proxy, "PYTHON": str(bin_dir / "python"), "BIN": str(bin_dir),
        "USERS": sorted([*settings.students, settings.instructor]), "INSTRUCTOR": settings.instructor,
        "CONFIG": {role: str(folder) for role, folder in folders.items()},
        "COURSE_CONFIG": str(settings.instructor_course / "grader" / "nbgrader_config.py"),
        "THREADS": str(settings.threads), "SSL_CERT": settings.ssl_cert, "SSL_KEY": settings.ssl_key,
        "LIMITS": {"student": dataclasses.asdict(settings.limits), "instructor": dataclasses.asdict(INSTRUCTOR_LIMITS)},
        "SYSTEMD": machine.systemd, "CGROUP_PARENTS": {k: str(v) for k, v in machine.cgroup_parents.items()},
        "NAMESPACES": machine.namespaces, "IDLE_TIMEOUT": settings.idle_timeout, "HUB_DIR": str(settings.directory),
    }
    config = state / "jupyterhub_config.py"
    with private_file(config) as out:
        out.write("# Written by finetune-course hub (classroom/hubconfig.py); run again to rewrite it.\n")
        for name, value in values.items():
            out.write(f"{name} = {value!r}\n")
        out.write(HUB_CONFIG)
    return config


HUB_CONFIG = '''
import secrets
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = BIND_URL
if SUBDOMAIN_HOST:
    c.JupyterHub.subdomain_host = SUBDOMAIN_HOST
c.JupyterHub.hub_bind_url = HUB_BIND_URL
if SSL_CERT:
    c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key = SSL_CERT, SSL_KEY
c.JupyterHub.db_url = "sqlite:///" + STATE + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = STATE + "/cookie_secret"
c.JupyterHub.pid_file = STATE + "/jupyterhub.pid"
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

# Each user's server runs as that user, in the course's environment, limited and kept apart (classroom.isolation).
if SYSTEMD:
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.isolate_tmp = True
    c.SystemdSpawner.isolate_devices = True
    c.SystemdSpawner.disable_user_sudo = True
else:
    from classroom.isolation import spawner_class

    c.JupyterHub.spawner_class = spawner_class()
    c.CourseSpawner.limits = LIMITS
    c.CourseSpawner.roles = {INSTRUCTOR: "instructor"}
    c.CourseSpawner.cgroup_parents = CGROUP_PARENTS
    c.CourseSpawner.namespaces = NAMESPACES
c.Spawner.cmd = [PYTHON, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.disable_user_config = True
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120


def pre_spawn_hook(spawner):
    role = "instructor" if spawner.user.name == INSTRUCTOR else "student"
    limits = LIMITS[role]
    env = {"JUPYTER_CONFIG_PATH": CONFIG[role], "PATH": BIN + ":/usr/local/bin:/usr/bin:/bin",
           "OMP_NUM_THREADS": THREADS, "MKL_NUM_THREADS": THREADS, "PYTHONNOUSERSITE": "1"}
    if role == "instructor":
        env["FINETUNE_COURSE_CONFIG"] = COURSE_CONFIG
    spawner.environment = {**spawner.environment, **env}
    if SYSTEMD:
        spawner.mem_limit = limits["memory_mib"] * 2**20
        spawner.cpu_limit = limits["cpus"]
        spawner.unit_extra_properties = {
            "TasksMax": str(limits["processes"]), "ProtectProc": "invisible",
            "LimitFSIZE": str(limits["file_mib"] * 2**20)}


c.Spawner.pre_spawn_hook = pre_spawn_hook

# A service token for the instructor's scripts and the capacity bench (hub API), root's to read.
c.JupyterHub.services = [{"name": "course-admin", "api_token": open(STATE + "/api_token").read().strip()}]
c.JupyterHub.load_roles = [{"name": "course-admin", "services": ["course-admin"],
                            "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"]}]

# The instructor runs the class from JupyterHub's admin page (who is logged in, start and stop servers) and
# has no scope to enter a student's server (no access:servers, no tokens of theirs): they grade from the exchange.
c.JupyterHub.load_roles.append({"name": "course-instructor", "users": [INSTRUCTOR],
                                "scopes": ["admin-ui", "list:users", "read:users", "read:servers", "admin:servers"]})

# Servers left idle are stopped (their files stay), so a class's servers do not run all night.
if IDLE_TIMEOUT:
    c.JupyterHub.services.append({"name": "idle-culler", "environment": {"FINETUNE_COURSE_HUB": HUB_DIR}, "command": [
        PYTHON, "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_TIMEOUT}",
        f"--cull-every={max(5, min(300, IDLE_TIMEOUT // 2))}"]})
    c.JupyterHub.load_roles.append({"name": "idle-culler", "services": ["idle-culler"],
                                    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]})
'''
