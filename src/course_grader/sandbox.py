"""The kernel that runs student code when grading: ipykernel under bubblewrap, with limits.

Each grading job gets a kernel spec of its own whose argv runs ipykernel inside ``bwrap``:

- the whole file system read-only, with the course's source, grader and submission folders
  hidden behind empty tmpfs mounts, a private ``/tmp`` and ``/dev``, and only the job's own
  folder (the student's autograded copy, the kernel's sockets) writable;
- no network (``--unshare-net``), so the kernel talks to nbgrader over IPC sockets in the job
  folder, not TCP loopback; no new pid namespace (ipykernel would think its parent had exited);
- ``prlimit`` caps address space (memory), CPU seconds and file size.

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

    The CLI's defaults, the executor's (:class:`~course_grader.execute.GuardedExecute`) and the
    batch's time limit per job all come from here. Wall-clock limits are enforced by the executor; the
    kernel's memory, CPU time and file size by ``prlimit`` in the sandbox.
    """

    memory_mib: int = 6144          # address space of the kernel (torch alone maps ~2 GiB)
    cpu_seconds: int = 900          # CPU time of the kernel, all threads together
    file_mib: int = 256             # largest file the kernel may write
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


def ipc_folder(job: Path) -> Path:
    """Where the kernel's IPC sockets go: the job's kernel folder, unless that path is too long for a Unix
    socket (108 bytes with its name, for a course in a deep folder): then a short folder under /tmp."""
    folder = job / "kernel" / "ipc"
    if len(str(folder)) <= 90:
        return folder
    import hashlib

    return Path("/tmp") / f"grading-ipc-{hashlib.sha1(str(job).encode()).hexdigest()[:16]}"


def kernel_argv(job: Path, writable: Path, hidden: list[Path], limits: Limits, bwrap: str | None) -> list[str]:
    """argv of the kernel for one job; ``{connection_file}`` is filled in by jupyter_client."""
    python = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = kernel_env(job, limits)
    limit = ["prlimit", f"--as={limits.memory_mib * 2**20}", f"--cpu={limits.cpu_seconds}",
             f"--fsize={limits.file_mib * 2**20}", "--core=0", "--"]
    if bwrap is None:
        return ["env", "-u", "MPLBACKEND", *[f"{k}={v}" for k, v in env.items()], *limit, *python]
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in _python_under_tmp():  # e.g. a clone in /tmp: its .venv and src/ must stay visible
        argv += ["--ro-bind", str(path), str(path)]
    for path in hidden:
        if path.exists():
            argv += ["--tmpfs", str(path)]
    ipc = [] if ipc_folder(job).is_relative_to(job) else ["--bind", str(ipc_folder(job)), str(ipc_folder(job))]
    argv += ["--bind", str(job / "kernel"), str(job / "kernel"), *ipc, "--bind", str(writable), str(writable),
             "--unshare-net", "--unshare-ipc", "--unshare-uts", "--hostname", "grading", "--die-with-parent",
             "--chdir", str(writable), "--unsetenv", "MPLBACKEND"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return [*argv, "--", *limit, *python]


def _python_under_tmp() -> list[Path]:
    """What the kernel's Python needs that lies under /tmp (hidden by the sandbox's own /tmp)."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent,
             Path(__file__).resolve().parent, *_editable_packages()}
    paths |= {Path(p).resolve() for p in sys.path if p and Path(p).is_dir() and Path(p).resolve() != Path.cwd()}
    tmp = Path("/tmp")
    under = sorted(p for p in paths if p != tmp and p.is_relative_to(tmp))
    return [p for p in under if not any(p != q and p.is_relative_to(q) for q in under)]


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
    return {"HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "MPLCONFIGDIR": str(home / "matplotlib"),
            "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "TQDM_DISABLE": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


def write_kernel_spec(job: Path, writable: Path, hidden: list[Path], limits: Limits, bwrap: str | None) -> Path:
    """A Jupyter data folder holding the job's kernel spec; put it first on JUPYTER_PATH."""
    data = job / "kernel" / "share"
    spec = data / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    home = job / "kernel" / "home"
    (home / "matplotlib").mkdir(parents=True, exist_ok=True)
    _seed_matplotlib_cache(home / "matplotlib")
    ipc_folder(job).mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": kernel_argv(job, writable, hidden, limits, bwrap),
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


def kernel_manager_config(job: Path) -> dict[str, object]:
    """jupyter_client settings: IPC sockets (see ipc_folder) and connection file in the job's kernel folder."""
    return {"KernelManager.transport": "ipc", "KernelManager.ip": str(ipc_folder(job) / "k"),
            "KernelManager.connection_file": str(job / "kernel" / "connection.json")}


def grading_environ(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join([str(data_dir), *filter(None, [env.get("JUPYTER_PATH")])])
    return env
