"""The course's Python for every account: read-only to them, with no way to add to it from their homes.

Where the environment's Python lies under a folder other users cannot enter (``/root/.pyenv``, say),
``DIR/python`` runs a copy of that Python, without its packages, over the course's packages. The
checkout's instructor-only entries (solutions, grader, tests, .git...) become readable by their
owner only: students have accounts on this machine now.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import sysconfig
from pathlib import Path

from classroom.settings import Settings, reachable

# The checkout's top-level entries students may read: the course's environment and package, the lessons.
PUBLIC = {".venv", "src", "lessons", "jupyter", "docs", "README.md", "LICENSE", "pyproject.toml",
          "environment.yml", "binder"}


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
    if not copied.is_file() or copied.read_bytes() != binary:
        # A new file renamed into place: servers still running the old one ("Text file busy") keep it.
        fresh = copied.with_name(f".{copied.name}.new")
        fresh.write_bytes(binary)
        fresh.chmod(0o755)
        os.replace(fresh, copied)
    for library in base.glob(f"lib/libpython{version}*.so*"):
        if not (target / "lib" / library.name).exists():
            shutil.copy2(library, target / "lib" / library.name)
    if not (target / "lib" / f"python{version}" / "os.py").exists():
        shutil.copytree(base / "lib" / f"python{version}", target / "lib" / f"python{version}", symlinks=True,
                        ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "__pycache__"),
                        dirs_exist_ok=True)
        (target / "lib" / f"python{version}" / "site-packages").mkdir(exist_ok=True)
    return copied


def environment(settings: Settings) -> Path:
    """The folder of the Python every account runs: this environment's, or one in ``DIR/python`` built on a
    copy of this Python (where this one lies under a folder others cannot enter, such as /root)."""
    if reachable(Path(sys.executable)) is None:
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


def lock_checkout(settings: Settings) -> list[str]:
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



PROFILE = Path("/etc/profile.d/finetune-course-hub.sh")


def put_on_path(settings: Settings, bin_dir: Path, profile: Path = PROFILE) -> None:
    """The course's commands (finetune-course, nbgrader) on every login shell's PATH: JupyterLab's terminals are
    login shells, and /etc/profile sets PATH anew."""
    profile.write_text(f"# Written by finetune-course hub for {settings.directory}; --remove deletes it.\n"
                       f'case ":$PATH:" in *":{bin_dir}:"*) ;; *) PATH="{bin_dir}:$PATH"; export PATH ;; esac\n')
    profile.chmod(0o644)


def remove_from_path(settings: Settings, profile: Path = PROFILE) -> None:
    if profile.is_file() and f"for {settings.directory};" in profile.read_text():
        profile.unlink()


def env_bin(directory: Path) -> Path:
    """The bin folder of the Python every account of a hub set up in ``directory`` runs (see :func:`environment`)."""
    own = directory / "python" / "bin"
    return own if own.is_dir() else Path(sys.executable).parent


def writable_by_others(folder: Path) -> list[str]:
    """Files and folders of the environment that someone other than root could change (none, or the hub refuses)."""
    found = []
    for path in (folder, *folder.rglob("*")):
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        if info.st_uid != 0 or info.st_mode & 0o022:
            found.append(f"{path} (uid {info.st_uid}, mode {oct(info.st_mode & 0o777)})")
            if len(found) >= 5:
                break
    return found
