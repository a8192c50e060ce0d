"""A room of one's own: each person's server, kernels and terminals limited and kept apart by the machine's kernel.

Where systemd runs the machine (PID 1; most servers, with cgroups v2), each server is a systemd unit
of its own, as The Littlest JupyterHub runs them (``SystemdSpawner``): ``MemoryMax``, ``CPUQuota``,
``TasksMax``, ``PrivateTmp``, ``PrivateDevices`` (a private ``/dev/shm``), ``ProtectProc=invisible``.

Elsewhere (a container, this course's CI: cgroups v1 or v2 without systemd) :class:`CourseSpawner`
does the same itself, as root, between ``fork`` and ``exec`` of each server:

- it joins a cgroup of the person's own under the hub's (v1: ``memory``, ``cpu`` and ``pids``
  controllers; v2: the unified tree), whose memory (tmpfs pages included), CPU quota and number of
  processes and threads are capped;
- it enters a mount namespace of its own, where ``/tmp`` and ``/dev/shm`` are size-limited tmpfs
  mounts no one else sees (gone when the last of the person's processes ends) and ``/proc`` shows
  the person's own processes only (``hidepid=invisible``);
- ``RLIMIT_FSIZE`` caps any one file, ``RLIMIT_NPROC`` the person's processes (where no pids cgroup can);

:func:`detect` says which of these this machine has; the hub prints it at start, and starts with
what it has, saying what is missing.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from classroom.settings import PersonLimits

CGROUP = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "cpu", "pids")
GROUP_NAME = "finetune-course"
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Machine:
    """What this machine offers to keep people apart; :func:`detect`."""

    systemd: bool = False
    cgroups: str = ""                               # "v1", "v2" or "" (none writable)
    cgroup_parents: dict[str, Path] = field(default_factory=dict)  # controller (or "unified") -> parent folder
    namespaces: bool = False
    quotas: list[str] = field(default_factory=list)  # mount points with user quotas on
    problems: list[str] = field(default_factory=list)

    def report(self, limits: PersonLimits) -> list[str]:
        """One line per protection: in force, or missing and why."""
        lines = []
        if self.systemd:
            lines.append(f"limits per person (systemd units): memory {limits.memory_mib} MiB, {limits.cpus:g} CPUs, "
                         f"{limits.processes} processes; private /tmp and /dev/shm; others' processes hidden")
            return lines + [f"not in force: {p}" for p in self.problems]
        if self.cgroups:
            lines.append(f"limits per person (cgroups {self.cgroups}): memory {limits.memory_mib} MiB with /tmp and "
                         f"/dev/shm, {limits.cpus:g} CPUs, {limits.processes} processes and threads")
        if self.namespaces:
            lines.append(f"private /tmp ({limits.tmp_mib} MiB) and /dev/shm ({limits.shm_mib} MiB) per person; "
                         "each sees only their own processes")
        lines.append(f"largest file a person may write: {limits.file_mib} MiB; in a submission: "
                     f"{limits.submission_mib} MiB")
        lines.append(f"disk quotas: {limits.disk_mib} MiB per person on " + ", ".join(self.quotas) if self.quotas else
                     "disk quotas: none (no file system here has user quotas on, or setquota is missing): a "
                     "student can fill the disk")
        return lines + [f"not in force: {p}" for p in self.problems]


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per v1 controller, and "unified" for v2: from /proc/self/cgroup."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in (controllers.split(",") if controllers else ["unified"]):
            own[controller] = path
    return own


def _writable(folder: Path) -> bool:
    probe = folder / f"{GROUP_NAME}-probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError:
        return False
    return True


def detect() -> Machine:
    """What this machine offers (run as root)."""
    machine = Machine(systemd=Path("/run/systemd/system").is_dir() and shutil.which("systemd-run") is not None)
    if machine.systemd:
        try:
            import systemdspawner  # noqa: F401
        except ImportError:
            machine.systemd = False
            machine.problems.append("systemd runs this machine but jupyterhub-systemdspawner is not installed "
                                    "(pip install -e '.[hub]'); using cgroups directly")
    own = _own_cgroups()
    if not machine.systemd:
        v1 = {c: CGROUP / c / own[c].lstrip("/") for c in V1_CONTROLLERS if c in own and (CGROUP / c).is_dir()}
        if len(v1) == len(V1_CONTROLLERS) and all(_writable(p) for p in v1.values()):
            machine.cgroups, machine.cgroup_parents = "v1", v1
        elif (CGROUP / "cgroup.controllers").is_file() and "unified" in own:
            parent = CGROUP / own["unified"].lstrip("/")
            wanted = {"memory", "cpu", "pids"}
            if wanted <= set((parent / "cgroup.controllers").read_text().split()) and _writable(parent):
                machine.cgroups, machine.cgroup_parents = "v2", {"unified": parent}
            else:
                machine.problems.append(f"cgroups v2 at {parent} lack the memory, cpu or pids controller or are not "
                                        "writable: run the hub as a systemd service (Delegate=yes) or as root")
        else:
            machine.problems.append("no writable memory, cpu and pids cgroups (v1 or v2): memory, CPU and processes "
                                    "are not limited per person (only RLIMIT_NPROC and RLIMIT_FSIZE are)")
        why = _room_fails()
        machine.namespaces = why is None
        if why:
            machine.problems.append(f"cannot give each person a mount namespace ({why}): /tmp and /dev/shm are "
                                    "shared and everyone's processes are visible (run as root, on Linux 5.8 or later, "
                                    "outside a container that forbids mounts)")
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 3 and any(o in fields[3].split(",") for o in ("usrquota", "usrjquota", "quota")) \
                and shutil.which("setquota"):
            machine.quotas.append(fields[1])
    return machine


def set_quotas(machine: Machine, user: str, limits: PersonLimits, folders: list[Path]) -> None:
    """A hard block quota of ``limits.disk_mib`` for ``user`` on each file system with user quotas that holds one of
    ``folders`` (their home, the exchange). Not exercised here: no file system of these machines has quotas on."""
    mounts = {m for m in machine.quotas for folder in folders if Path(folder).resolve().is_relative_to(m)}
    for mount in mounts:
        subprocess.run([shutil.which("setquota") or "setquota", "-u", user, "0", str(limits.disk_mib * 1024), "0", "0",
                        mount], check=True, capture_output=True)


def _room_fails() -> str | None:
    """Why :func:`enter_room`'s namespace and mounts cannot be made here (tried in a child process), or None."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            enter_room([], PersonLimits(), namespaces=True)
        except OSError as error:
            os.write(write, str(error).encode()[:500])
            os._exit(1)
        os._exit(0)
    os.close(write)
    message = os.read(read, 1000).decode(errors="replace")
    os.close(read)
    _, status = os.waitpid(pid, 0)
    return None if os.waitstatus_to_exitcode(status) == 0 else (message or "the probe failed")


# -- cgroups ---------------------------------------------------------------------------------------------
def _write(path: Path, value) -> None:
    path.write_text(str(value))


def make_cgroups(parents: dict[str, str], user: str, limits: PersonLimits) -> list[str]:
    """The person's cgroups under ``parents`` (controller, or "unified", -> folder), created with their limits; the
    ``cgroup.procs`` files a process writes itself into."""
    procs = []
    memory = limits.memory_mib << 20
    for controller, parent in parents.items():
        parent = Path(parent)
        folder = parent / GROUP_NAME / user
        folder.mkdir(parents=True, exist_ok=True)
        if controller == "unified":
            for level in (parent, parent / GROUP_NAME):
                try:
                    _write(level / "cgroup.subtree_control", "+memory +cpu +pids")
                except OSError:
                    pass  # the parent may hold processes (the hub's own); detect() said whether this can work
            _write(folder / "memory.max", memory)
            if (folder / "memory.swap.max").exists():
                _write(folder / "memory.swap.max", 0)
            _write(folder / "cpu.max", f"{int(limits.cpus * 100_000)} 100000")
            _write(folder / "pids.max", limits.processes)
        elif controller == "memory":
            _write(folder / "memory.limit_in_bytes", memory)
            if (folder / "memory.memsw.limit_in_bytes").exists():
                _write(folder / "memory.memsw.limit_in_bytes", memory)
        elif controller == "cpu":
            _write(folder / "cpu.cfs_period_us", 100_000)
            _write(folder / "cpu.cfs_quota_us", int(limits.cpus * 100_000))
        elif controller == "pids":
            _write(folder / "pids.max", limits.processes)
        procs.append(str(folder / "cgroup.procs"))
    return procs


def cgroup_folders(parents: dict[str, str], user: str) -> list[Path]:
    return [Path(parent) / GROUP_NAME / user for parent in parents.values()]


def remove_cgroups(parents: dict[str, str], user: str) -> None:
    """The person's cgroups, emptied (their processes killed) and removed."""
    for folder in cgroup_folders(parents, user):
        if not folder.is_dir():
            continue
        for _ in range(50):
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for empty in (folder, folder.parent):  # the person's, then the hub's if no one else's is left
            try:
                empty.rmdir()
            except OSError:
                break


def memory_used(parents: dict[str, str], user: str, peak: bool = False) -> int | None:
    """Bytes the person's cgroup holds now (page cache and tmpfs included), or the most it has held (``peak``), as
    the machine's kernel counts them; None without a memory cgroup."""
    names = ("memory.max_usage_in_bytes", "memory.peak") if peak else ("memory.usage_in_bytes", "memory.current")
    for controller, parent in parents.items():
        folder = Path(parent) / GROUP_NAME / user
        for name in names:
            if controller in ("memory", "unified") and (folder / name).is_file():
                return int((folder / name).read_text())
    return None


# -- the spawner -----------------------------------------------------------------------------------------
def _mount(source: str, target: str, kind: str | None, flags: int, options: str | None) -> None:
    if _libc.mount(source.encode(), target.encode(), kind.encode() if kind else None, flags,
                   options.encode() if options else None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {kind or ''} on {target} ({options}): {os.strerror(error)}")


def enter_room(procs: list[str], limits: PersonLimits, namespaces: bool) -> None:
    """Run as root in the child, before it becomes the person: join their cgroups, take private /tmp,
    /dev/shm and /proc, cap files and processes. Every failure raises: a server never starts unconfined."""
    for path in procs:
        with open(path, "w") as out:
            out.write(str(os.getpid()))
    if namespaces:
        if _libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
        _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.tmp_mib}m,mode=1777")
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.shm_mib}m,mode=1777")
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mib << 20,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)


def spawner_class():
    """:class:`CourseSpawner`, made when JupyterHub is imported (the hub's config asks for it by name)."""
    from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
    from traitlets import Bool, Dict

    class CourseSpawner(LocalProcessSpawner):
        """Each server in its person's cgroups and mount namespace (see the module)."""

        limits = Dict(config=True, help="PersonLimits fields per role: {'student': {...}, 'instructor': {...}}")
        roles = Dict(config=True, help="user name -> role")
        cgroup_parents = Dict(config=True, help="controller -> parent cgroup folder (empty: no cgroups)")
        namespaces = Bool(False, config=True)

        def person_limits(self) -> PersonLimits:
            return PersonLimits(**self.limits[self.roles.get(self.user.name, "student")])

        def make_preexec_fn(self, name):
            limits = self.person_limits()
            procs = make_cgroups(self.cgroup_parents, name, limits)
            become = set_user_setuid(name)
            namespaces = self.namespaces

            def preexec():
                enter_room(procs, limits, namespaces)
                become()

            return preexec

    return CourseSpawner


def save(machine: Machine, path: Path) -> None:
    path.write_text(json.dumps({k: str(v) for k, v in machine.cgroup_parents.items()}))


def load(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
