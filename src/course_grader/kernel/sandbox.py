"""The kernel that runs student code when grading: ipykernel under bubblewrap, with limits.

Each grading job gets a kernel spec of its own whose argv runs :mod:`course_grader.kernel` inside
``bwrap``. The sandbox is built from an allowlist, not by hiding things:

- a new, empty root holding read-only only what Python needs (``/usr``, ``/etc``, the Python
  installation, its site-packages and the course's helper package), so the course's solutions,
  gradebook and submissions are not there to be found; the course folders are hidden as well,
  should any lie under those paths;
- the kernel's folder, ``/tmp`` and its home are size-limited ``tmpfs`` mounts that vanish with it:
  nothing it writes comes back but the notebook, which the grader writes itself;
- its own PID, network, IPC and UTS namespaces (``--unshare-pid``: nothing outside is visible or
  can be signalled, and every process it starts dies with it), no ``/proc`` (only ``/proc/cpuinfo``);
- run as root (``sudo make autograde``, CI), the kernel does not stay root: ``setpriv`` gives it a
  user id of its own for this job (no account, no files, no groups), no capabilities and
  ``no_new_privs``; run as a user, bubblewrap's user namespace gives the same (no capabilities,
  ``no_new_privs``, no nested user namespaces);
- ``prlimit`` caps each process (address space, CPU time, file size, and, as root, the number of
  processes of the job's user); :class:`Watchdog` caps the whole submission: memory of all its
  processes, their number, their CPU time and the size of its folders.

Where bubblewrap is missing or cannot create namespaces, :func:`check_sandbox` says so and how
to go on: install it (``apt-get install bubblewrap``) or grade without it (``--no-sandbox``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KERNEL_NAME = "course-grader-sandbox"


@dataclass(frozen=True)
class Limits:
    """What one notebook may use when graded, and how long to wait for a cluster: every time and memory
    limit of the grader, in one place.

    The CLI's defaults, the executor's (:class:`~course_grader.kernel.execute.GuardedExecute`) and the
    batch's time limit per job all come from here. Wall-clock limits are enforced by the executor; the
    kernel's memory, CPU time and file size by ``prlimit`` in the sandbox.
    """

    memory_mib: int = 6144          # resident memory of the whole submission, and address space of each process
    cpu_seconds: int = 900          # CPU time of the whole submission, all processes and threads together
    file_mib: int = 256             # largest file the kernel may write
    disk_mib: int = 512             # the kernel's folder (its tmpfs); /tmp gets half of it, its home a quarter
    processes: int = 512            # processes and threads of the whole submission
    threads: int = 1                # OMP/MKL threads per kernel (cores / parallel jobs)
    cell_seconds: float = 120.0     # longest any one cell may run; see execute.cell_limit
    notebook_seconds: float = 600.0  # the whole notebook, all cells
    output_kib: int = 1024          # output kept per cell; the rest is dropped with a note
    timeout_factor: float = 10.0    # a calibrated cell may take this many times the solution's time
    min_cell_seconds: float = 10.0  # ... but never less than this
    job_margin_seconds: float = 180.0  # kernel start-up and nbgrader's own work, per grading job
    connect_seconds: float = 5.0    # to reach a Dask scheduler (--scheduler) before giving up
    no_worker_seconds: float = 60.0  # a scheduler may have no worker this long before the batch gives up

    def job_seconds(self, notebooks: int) -> float:
        """How long one grading job (a student's lesson of ``notebooks`` notebooks) may run before it is killed."""
        return self.notebook_seconds * notebooks + self.job_margin_seconds


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def check_sandbox() -> str:
    """The bwrap executable, after checking it can create the namespaces grading needs."""
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so student code cannot be sandboxed. Install it "
            "(Debian/Ubuntu: apt-get install bubblewrap) or, on a machine you trust with these "
            "submissions, grade without the sandbox: autograde --no-sandbox")
    probe = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-net", "--dev", "/dev", "--proc", "/proc",
                            "--", sys.executable, "-c", "pass"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot create a sandbox here ({probe.stderr.strip()[:300]}). "
            "Unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1), "
            "or grade as root; or grade without the sandbox: autograde --no-sandbox")
    return path


IPC_MIB = 4       # the kernel's IPC folder: its sockets and its verdicts file, a few KiB
IPC_FILES = 64    # ... and as many files in it


def grading_as_root() -> bool:
    """Whether the kernel gets a user id of its own (grading as root), not bubblewrap's user namespace.
    ``COURSE_GRADER_USERNS=1``: the sandbox a grader that is not root gets, when root (to test it)."""
    return os.geteuid() == 0 and os.environ.get("COURSE_GRADER_USERNS") != "1"


def kernel_uid(bwrap: str | None) -> int | None:
    """The user id of one job's kernel when grading as root in the sandbox; None otherwise."""
    return sandbox_uid() if bwrap and grading_as_root() else None


def make_ipc_folder() -> Path:
    """The one folder of the host a job's kernel may write to: its IPC sockets and its verdicts file.

    Private: made by ``mkdtemp`` (a name no one can predict, mode 0700, in the sticky ``/tmp`` where no
    one else can swap it). Bounded by :func:`prepare_ipc_folder`, in the job's worker. Remove it with
    :func:`remove_ipc_folder`.
    """
    import tempfile

    return Path(tempfile.mkdtemp(prefix="grading-ipc-", dir="/tmp"))  # short: a socket's path has 108 bytes


def worker_prefix(bwrap: str | None) -> list[str]:
    """What a job's worker runs under: grading as root in the sandbox, a mount namespace of its own, so that the
    tmpfs :func:`prepare_ipc_folder` mounts there is gone with the worker however it ends (killed included)."""
    unshare = shutil.which("unshare")
    return [unshare, "--mount", "--propagation", "private", "--"] if bwrap and os.geteuid() == 0 and unshare else []


def prepare_ipc_folder(folder: Path, uid: int | None, private_mounts: bool) -> None:
    """Bound the job's IPC folder and give its kernel's user its verdicts file (in the job's worker).

    With a mount namespace of the worker's own (``private_mounts``, grading as root), a tmpfs of
    :data:`IPC_MIB` and :data:`IPC_FILES` is mounted on the folder, owned by the kernel's user through
    the mount's options (nothing is ``chown``-ed through a path). Otherwise (a grader that is not root
    cannot mount) the :class:`Watchdog` counts what the folder holds against the same bound.
    """
    mounted = False
    if private_mounts:
        owner = uid if uid is not None else 0
        options = f"size={IPC_MIB}m,nr_inodes={IPC_FILES},mode=0700,uid={owner},gid={owner},nosuid,nodev,noexec"
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "grading-ipc", str(folder)],
                                 capture_output=True).returncode == 0
    if not mounted and uid is not None:  # the kernel's user must create its sockets there
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchown(fd, uid, uid)
        finally:
            os.close(fd)
    reset_verdicts(verdicts_file(folder), uid)


def remove_ipc_folder(folder: Path) -> None:
    if os.path.ismount(folder):  # mounted outside a worker's namespace of its own: not by this grader
        subprocess.run(["umount", "--lazy", str(folder)], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def reset_verdicts(path: Path, uid: int | None) -> None:
    """An empty verdicts file for the next kernel, made anew: whatever a kernel left at that name (a link, a pipe)
    is removed, never opened."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        if uid is not None:
            os.fchown(fd, uid, uid)
    finally:
        os.close(fd)


SECRETS_INSIDE = "/run/grading/secrets.json"
CONNECTION_INSIDE = "/run/grading/connection.json"
VERDICTS_INSIDE = "/run/grading/verdicts"


def secrets_file(job: Path) -> Path:
    """Where the grader writes a notebook's test cells for the next kernel; the sandbox copies it in, then it is removed."""
    return job / "kernel" / "secrets.json"


def verdicts_file(ipc: Path) -> Path:
    """Where the kernel's warden appends each test's verdict (see :mod:`course_grader.kernel`), in its IPC folder."""
    return ipc / "verdicts"


def sandbox_uid() -> int:
    """A user id of its own for one job's kernel when grading as root: no account has it, so it owns nothing."""
    import pwd
    import secrets

    while True:
        uid = 2_000_000_000 + secrets.randbelow(100_000_000)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def kernel_argv(job: Path, ipc: Path, writable: Path, hidden: list[Path], limits: Limits, bwrap: str | None,
                files: dict[str, Path] | None = None, uid: int | None = None) -> list[str]:
    """argv of the kernel for one job; ``{connection_file}`` is filled in by jupyter_client.

    ``ipc`` is the job's IPC folder (:func:`make_ipc_folder`), ``writable`` the kernel's working folder
    (a tmpfs in the sandbox), ``files`` the lesson's other files, bound read-only into it; ``uid`` the
    user id the kernel runs as when grading as root (:func:`kernel_uid`).
    """
    python = [sys.executable, "-m", "course_grader.kernel"]
    env = kernel_env(job, limits)
    limit = ["prlimit", f"--as={limits.memory_mib * 2**20}", f"--cpu={limits.cpu_seconds}",
             f"--fsize={limits.file_mib * 2**20}", "--core=0", "--nofile=4096"]
    # The test cells reach the kernel through file descriptor 9, which bwrap copies into the sandbox.
    feed = ["sh", "-c", 'exec 9<"$1" 8<"$2"; shift 2; exec "$@"', "sh", str(secrets_file(job)), "{connection_file}"]
    if bwrap is None:
        verdicts = str(verdicts_file(ipc))
        return [*feed, "sh", "-c", 'cp /dev/fd/9 "$1" && exec 9<&- && shift && exec "$@"', "sh",
                str(job / "kernel" / "secrets.copy"), "env", "-u", "MPLBACKEND", "-u", "JPY_PARENT_PID",
                *[f"{k}={v}" for k, v in env.items()], *limit, "--", *python, str(job / "kernel" / "secrets.copy"),
                verdicts, "-f", "{connection_file}"]
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grading", "--clearenv"]
    root = grading_as_root()
    if not root:  # a user namespace in which the kernel is not root either: no capabilities, even there
        argv += ["--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"]
    for path in ("/usr", "/etc"):
        argv += ["--ro-bind", path, path]
    for path in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += ["--dev", "/dev"]
    for folder in ("/proc", "/sys", "/sys/devices", "/sys/devices/system"):  # bwrap would make them 0700
        argv += ["--perms", "0755", "--dir", folder]
    # what torch reads to pick its CPU kernels (AVX2...), and nothing else of /proc and /sys
    argv += ["--ro-bind-try", "/proc/cpuinfo", "/proc/cpuinfo", "--ro-bind-try", "/sys/devices/system/cpu",
             "/sys/devices/system/cpu"]
    python_paths = _python_paths()
    home = job / "kernel" / "home"
    size = limits.disk_mib * 2**20
    argv += ["--perms", "1777", "--size", str(size // 2), "--tmpfs", "/tmp"]
    targets = [*python_paths, writable, home, Path(CONNECTION_INSIDE), ipc]
    for folder in sorted({p for path in targets for p in path.parents if p != Path("/")}
                         - {Path("/usr"), Path("/etc"), Path("/tmp")}):
        if not any(folder == p or folder.is_relative_to(p) for p in python_paths):
            argv += ["--perms", "0755", "--dir", str(folder)]
    for path in python_paths:
        argv += ["--ro-bind", str(path), str(path)]
    for path in hidden:  # should any course folder lie under what is bound
        if any(path.is_relative_to(p) for p in python_paths) and path.exists():
            argv += ["--tmpfs", str(path)]
    argv += ["--perms", "1777", "--size", str(size), "--tmpfs", str(writable),
             "--perms", "1777", "--size", str(size // 4), "--tmpfs", str(home),
             "--perms", "0777", "--tmpfs", "/run/grading", "--perms", "0644", "--file", "9", SECRETS_INSIDE,
             "--perms", "0644", "--file", "8", CONNECTION_INSIDE,
             "--bind", str(verdicts_file(ipc)), VERDICTS_INSIDE, "--bind", str(ipc), str(ipc)]
    matplotlib_cache = job / "kernel" / "matplotlib"
    for font_list in sorted(matplotlib_cache.glob("fontlist-*.json")):
        argv += ["--ro-bind", str(font_list), str(home / "matplotlib" / font_list.name)]
    for name, path in sorted((files or {}).items()):
        argv += ["--ro-bind", str(path), str(writable / name)]
    argv += ["--chdir", str(writable)]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv.append("--")
    if root:
        uid = uid if uid is not None else sandbox_uid()
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        limit.append(f"--nproc={limits.processes}")
    return [*feed, *argv, *limit, "--", *python, SECRETS_INSIDE, VERDICTS_INSIDE, "-f", CONNECTION_INSIDE]


def _python_paths() -> list[Path]:
    """What the kernel's Python needs, read-only: the installation, site-packages, editable packages, this package."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
             Path(sys.executable).resolve().parent.parent, Path(__file__).resolve().parent, *_editable_packages()}
    paths |= {Path(p).resolve() for p in sys.path if p and Path(p).is_dir() and Path(p).resolve() != Path.cwd()}
    paths = {p for p in paths if p != Path("/") and not any(p.is_relative_to(q) for q in (Path("/usr"), Path("/etc")))}
    ordered = sorted(paths)
    return [p for p in ordered if not any(p != q and p.is_relative_to(q) for q in ordered)]


def _editable_packages() -> set[Path]:
    """Folders of packages installed with ``pip install -e`` (a course's helper package in its clone):
    setuptools' editable finders map them by name, outside sys.path."""
    import importlib

    paths = set()
    for name in list(sys.modules):
        if name.startswith("__editable___") and name.endswith("_finder"):
            mapping = getattr(importlib.import_module(name), "MAPPING", {})
            paths |= {Path(p).resolve() for p in mapping.values() if Path(p).exists()}
    return paths


def kernel_env(job: Path, limits: Limits) -> dict[str, str]:
    home = job / "kernel" / "home"
    threads = str(limits.threads)
    env = {"HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "MPLCONFIGDIR": str(home / "matplotlib"),
           "XDG_CACHE_HOME": str(home / ".cache"), "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "OPENBLAS_NUM_THREADS": threads, "TQDM_DISABLE": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONNOUSERSITE": "1", "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
           "LANG": "C.UTF-8"}
    for key in ("PYTHONPATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # how this machine runs Python
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def write_kernel_spec(job: Path, ipc: Path, writable: Path, hidden: list[Path], limits: Limits, bwrap: str | None,
                      files: dict[str, Path] | None = None, uid: int | None = None) -> Path:
    """A Jupyter data folder holding the job's kernel spec; put it first on JUPYTER_PATH."""
    data = job / "kernel" / "share"
    spec = data / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (job / "kernel" / "home").mkdir(parents=True, exist_ok=True)
    (job / "kernel" / "matplotlib").mkdir(parents=True, exist_ok=True)
    _seed_matplotlib_cache(job / "kernel" / "matplotlib")
    (spec / "kernel.json").write_text(json.dumps({
        "argv": kernel_argv(job, ipc, writable, hidden, limits, bwrap, files, uid),
        "display_name": "Python 3 (grading sandbox)" if bwrap else "Python 3 (grading, no sandbox)",
        # A signal to the kernel's process group would reach bwrap, which dies of it and takes
        # the kernel with it; an interrupt_request message makes ipykernel signal only itself.
        "language": "python", "interrupt_mode": "message",
        "metadata": {"debugger": False}}, indent=1))
    return data


def _seed_matplotlib_cache(target: Path) -> None:
    """Copy matplotlib's font list so each sandboxed kernel does not rebuild it (seconds each)."""
    try:
        import matplotlib

        cache = Path(matplotlib.get_cachedir())
        for font_list in cache.glob("fontlist-*.json"):
            shutil.copy(font_list, target / font_list.name)
    except Exception:  # a missing cache only costs time
        pass


def kernel_manager_config(job: Path, ipc: Path) -> dict[str, object]:
    """jupyter_client settings: IPC sockets in the job's IPC folder, connection file in its kernel folder."""
    return {"KernelManager.transport": "ipc", "KernelManager.ip": str(ipc / "k"),
            "KernelManager.connection_file": str(job / "kernel" / "connection.json")}


def grading_environ(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join([str(data_dir), *filter(None, [env.get("JUPYTER_PATH")])])
    return env


class Watchdog:
    """Limits on a whole submission, not per process: every process the kernel started, together.

    A thread of the grader polls the kernel's process tree (``/proc``, from outside the sandbox)
    every ``interval`` seconds and kills all of it, bubblewrap's init first, when the tree holds more
    resident memory than ``memory_mib``, more processes and threads than ``processes``, has used more
    CPU time than ``cpu_seconds`` in all, when the kernel's folders hold more than ``disk_mib``
    (their tmpfs sizes enforce that too), or when ``host_folders`` (an IPC folder on the host's disk,
    where no tmpfs could be mounted on it) hold more than :data:`IPC_MIB` or :data:`IPC_FILES` files.
    ``violation`` then says what happened, for the report.
    """

    def __init__(self, pid: int, limits: Limits, folders: list[Path], interval: float = 0.25,
                 host_folders: list[Path] = ()):
        import threading

        self.pid, self.limits, self.folders, self.interval = pid, limits, folders, interval
        self.host_folders = list(host_folders)
        self.violation: str | None = None
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grading-watchdog", daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._tick = os.sysconf("SC_CLK_TCK")

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def tree(self) -> list[int]:
        """The kernel's process and all its descendants, found through /proc's parent links."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as f:
                        parent = int(f.read().rsplit(b")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry))
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def measure(self, pids: list[int]) -> tuple[float, int, float]:
        """(resident MiB, processes and threads, CPU seconds) of ``pids``."""
        memory = tasks = cpu = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{pid}/statm", "rb") as f:
                    memory += int(f.read().split()[1]) * self._page
            except (OSError, IndexError, ValueError):
                continue
            tasks += int(fields[17])                                   # num_threads
            cpu += sum(int(v) for v in fields[11:15])                  # utime stime cutime cstime
        return memory / 2**20, tasks, cpu / self._tick

    def disk_mib(self, pids: list[int]) -> float:
        """What the kernel's folders hold, seen through a process inside the sandbox."""
        for pid in pids[1:]:
            total = 0
            try:
                for folder in self.folders:
                    stat = os.statvfs(f"/proc/{pid}/root{folder}")
                    total += (stat.f_blocks - stat.f_bfree) * stat.f_frsize
                return total / 2**20
            except OSError:
                continue
        return 0.0

    def host_usage(self) -> tuple[float, int]:
        """(MiB, files) in ``host_folders``, links not followed."""
        blocks = files = 0
        todo = list(self.host_folders)
        while todo and files <= IPC_FILES:
            try:
                entries = list(os.scandir(todo.pop()))
            except OSError:
                continue
            for entry in entries:
                files += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                blocks += info.st_blocks
                if entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
        return blocks * 512 / 2**20, files

    def _run(self) -> None:
        limits = self.limits
        while not self._stop.wait(self.interval):
            pids = self.tree()
            if not os.path.exists(f"/proc/{self.pid}"):
                return
            memory, tasks, cpu = self.measure(pids)
            self.peak_mib = max(self.peak_mib, memory)
            if memory > limits.memory_mib:
                why = f"used {memory:,.0f} MiB of memory in {len(pids)} processes (limit {limits.memory_mib:,} MiB)"
            elif tasks > limits.processes:
                why = f"ran {tasks:,} processes and threads (limit {limits.processes:,})"
            elif cpu > limits.cpu_seconds:
                why = f"used {cpu:,.0f} s of CPU time (limit {limits.cpu_seconds:,} s)"
            else:
                disk = self.disk_mib(pids) if self.folders else 0.0
                ipc, files = self.host_usage() if self.host_folders else (0.0, 0)
                why = f"wrote {disk:,.0f} MiB into its folders (limit {limits.disk_mib:,} MiB)" \
                    if disk > limits.disk_mib * 1.75 else \
                    f"wrote {ipc:,.1f} MiB in {files:,} files into its IPC folder (limit {IPC_MIB} MiB, " \
                    f"{IPC_FILES} files)" if ipc > IPC_MIB or files > IPC_FILES else None
            if why:
                self.violation = f"the submission {why}, so it was stopped"
                self.kill(pids)
                return

    def kill(self, pids: list[int] | None = None) -> None:
        import signal

        for pid in reversed(pids or self.tree()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
