"""The course's Python for every account: read-only to them, with no way to add to it from their homes.

Where every account can read this checkout's environment and its ``src`` (a checkout in /opt, say),
every server runs that environment. Where they cannot (a checkout in /root, which is 0700, or in a
``mktemp`` folder; a Python under /root/.pyenv), or where it lies under /tmp, which each person has a
private one of, ``DIR/python`` is an environment of its own, as The Littlest JupyterHub keeps
/opt/tljh/user: the checkout's site-packages, share/ (Jupyter's data: JupyterLab, nbgrader's
extensions) and etc/ (Jupyter's config) hard-linked where they are root's and on the same file
system (copied otherwise), the course's own packages (finetune_course, course_grader, classroom)
installed from ``src`` as plain copies (not the editable install's pointer into the checkout), the
console scripts run by its Python, and that Python a copy only where the original cannot be reached.
Every file in it is root's and writable by root alone. Each setup brings it up to date file by file,
a changed file renamed into place, so that servers still running keep the files they opened.

The checkout's instructor-only entries (solutions, grader, tests, .git...) become readable by their
owner only: students have accounts on this machine now.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import stat
import sys
import sysconfig
from pathlib import Path

from classroom.settings import Settings, reachable, under

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
    for path in (target, *target.rglob("*")):  # readable by every account, whatever the original's modes
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path.stat().st_mode & stat.S_IXUSR else 0o644)
    return copied


PRIVATE_TEMPORARY = ("/tmp", "/dev/shm")  # each person's server gets a private one of these (classroom.isolation)
NEW = ".fc-new"  # suffix of a file about to be renamed into place


def site_packages() -> Path:
    """This environment's site-packages: the course's packages and everything they need."""
    return Path(sysconfig.get_paths()["purelib"])


def unreachable(settings: Settings) -> list[str]:
    """Why other accounts' servers cannot run this checkout's environment as it lies (none: they run it)."""
    why = []
    for what, path in (("the interpreter", Path(sys.executable)), ("the course's packages", site_packages()),
                       ("the course's package", settings.checkout / "src")):
        problem = reachable(path)
        if problem:
            why.append(f"{what} ({path}): {problem}")
        for private in PRIVATE_TEMPORARY:
            if under(path, private):
                why.append(f"{what} ({path}) is under {private}, which each person has a private one of")
    return why


def environment(settings: Settings, say=print) -> Path:
    """The bin folder of the Python every account runs: this environment's, where every account can run it; else
    ``DIR/python``'s, built (or brought up to date) from it (see the module's notes)."""
    env = settings.directory / "python"
    why = unreachable(settings)
    if not why:
        if env.is_dir():  # built by an earlier setup, when the checkout lay elsewhere; no server runs it now
            shutil.rmtree(env)
        return Path(sys.executable).parent
    say(f"every account runs the course from {env}: " + "; ".join(why))
    return build(env, settings.checkout)


def build(env: Path, checkout: Path) -> Path:
    """``env`` made an environment of its own with what this one holds (see the module's notes); its bin folder."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for folder in (env, env / "bin", env / "lib", env / "lib" / f"python{version}"):
        _folder(folder)
    interpreter = Path(sys.executable).resolve()
    if reachable(interpreter) or any(under(interpreter, private) for private in PRIVATE_TEMPORARY):
        interpreter = _copy_python(env / "base")
    system_site = "false"
    config = Path(sys.prefix) / "pyvenv.cfg"
    if sys.prefix != sys.base_prefix and config.is_file():  # as the checkout's venv was made
        for line in config.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "include-system-site-packages":
                system_site = value.strip()
    _write(env / "pyvenv.cfg", f"home = {interpreter.parent}\ninclude-system-site-packages = {system_site}\n"
                               f"version = {version}.{sys.version_info.micro}\n")
    bin_dir = env / "bin"
    for name in ("python", "python3", f"python{version}"):
        _symlink(bin_dir / name, str(interpreter))

    source, site = site_packages(), env / "lib" / f"python{version}" / "site-packages"
    course = _course_distribution(source, checkout)
    editable = course / "direct_url.json" if course else None
    packages = sorted(p.name for p in (checkout / "src").iterdir() if (p / "__init__.py").is_file())

    def skip(path: Path) -> bool:
        if path.parent == source:  # the editable install's pointers into the checkout, and its own copy below
            return path.name.startswith("__editable__") or path.name in packages or _points_into(path, checkout)
        return path == editable or course is not None and path == course / "RECORD"

    _mirror(source, site, skip=skip)
    for name in packages:  # the course's own packages, installed (copied): the checkout's src may change under them
        _mirror(checkout / "src" / name, site / name, skip=lambda path: path.name == "__pycache__", link=False)
        compileall.compile_dir(site / name, quiet=1)
    if course is not None:
        installed = site / course.name
        _write(installed / "direct_url.json", json.dumps({"url": checkout.resolve().as_uri(), "dir_info": {}}))
        files = sorted(str(p.relative_to(site)) for name in [*packages, course.name] for p in (site / name).rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts and p.name != "RECORD")
        _write(installed / "RECORD", "".join(f"{f},,\n" for f in [*files, f"{course.name}/RECORD"]))
    # Jupyter's data and config of the environment (JupyterLab and its extensions, nbconvert's templates, which
    # server extensions are on) are found from sys.prefix.
    for name in ("share", "etc"):
        if (Path(sys.prefix) / name).is_dir():
            _mirror(Path(sys.prefix) / name, env / name, skip=lambda path: False)
    # Every console script of the environment (finetune-course, nbgrader, jupyter, alembic...), run by this Python.
    python = bin_dir / "python"
    home = Path(sys.executable).parent
    for script in home.iterdir():
        if script.name.startswith(("python", "activate")) or script.is_symlink() or not script.is_file():
            continue
        with open(script, "rb") as stream:
            first = stream.readline()
        if first.startswith(b"#!") and home.as_posix().encode() in first:
            _write(bin_dir / script.name, f"#!{python}\n".encode() + script.read_bytes()[len(first):], mode=0o755)
    return bin_dir


def _course_distribution(site: Path, checkout: Path) -> Path | None:
    """The dist-info of the course's editable install from ``checkout`` in ``site``, if it is one."""
    for found in site.glob("*.dist-info/direct_url.json"):
        try:
            record = json.loads(found.read_text())
        except (OSError, ValueError):
            continue
        url = record.get("url", "")
        if record.get("dir_info", {}).get("editable") and url.startswith("file://") and \
                Path(url[len("file://"):]).resolve() == checkout.resolve():
            return found.parent
    return None


def _points_into(path: Path, checkout: Path) -> bool:
    """Whether ``path`` is a .pth or .egg-link naming a folder in ``checkout`` (an editable install's pointer)."""
    if path.suffix not in (".pth", ".egg-link") or not path.is_file():
        return False
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "import")) and Path(line).is_absolute() and \
                Path(line).resolve().is_relative_to(checkout.resolve()):
            return True
    return False


def _folder(path: Path) -> None:
    """A folder of the environment: root's (where root builds it), 0755; whatever else was at its place goes."""
    if path.is_symlink() or path.exists() and not path.is_dir():
        path.unlink()
    path.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.lchown(path, 0, 0)
    path.chmod(0o755)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """``path`` holds ``data``: a new file renamed into place (never written through a hard link, or under a
    process that has it open)."""
    fresh = path.with_name(path.name + NEW)
    fresh.unlink(missing_ok=True)
    (fresh.write_bytes if isinstance(data, bytes) else fresh.write_text)(data)
    fresh.chmod(mode)
    os.replace(fresh, path)


def _symlink(path: Path, target: str) -> None:
    if path.is_symlink() and os.readlink(path) == target:
        return
    fresh = path.with_name(path.name + NEW)
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(target)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    os.replace(fresh, path)


def _mirror(source: Path, target: Path, skip, link: bool = True) -> None:
    """``target`` made to hold what ``source`` holds (but what ``skip`` says), file by file: a file hard-linked where
    it is root's and writable by root alone (``link``, on the same file system), else copied, root's, 0644 or 0755; a
    changed file renamed into place; what ``source`` no longer has removed from ``target``."""
    _folder(target)
    device = target.stat().st_dev
    kept = set()
    with os.scandir(source) as entries:
        for entry in entries:
            path = Path(entry.path)
            if entry.name.endswith(NEW) or skip(path):
                continue
            kept.add(entry.name)
            destination = target / entry.name
            if entry.is_symlink():
                _symlink(destination, os.readlink(path))
            elif entry.is_dir(follow_symlinks=False):
                _mirror(path, destination, skip, link)
            elif entry.is_file(follow_symlinks=False):
                _place(path, entry.stat(follow_symlinks=False), destination, device if link else None)
    for name in os.listdir(target):
        if name not in kept and not skip(source / name):
            _remove(target / name)


def _place(source: Path, info: os.stat_result, target: Path, device: int | None) -> None:
    try:
        current = target.lstat()
    except FileNotFoundError:
        current = None
    # A hard link shares the file's owner and mode: only a file that is root's and writable by root alone.
    linkable = (device == info.st_dev and info.st_uid == 0 and not info.st_mode & 0o022 and info.st_mode & 0o004)
    if current is not None and stat.S_ISREG(current.st_mode):
        if linkable and (current.st_dev, current.st_ino) == (info.st_dev, info.st_ino):
            return
        if not linkable and current.st_nlink == 1 and (current.st_size, current.st_mtime_ns) == \
                (info.st_size, info.st_mtime_ns):
            return  # copied by an earlier setup (copies keep the time of their source)
    fresh = target.with_name(target.name + NEW)
    fresh.unlink(missing_ok=True)
    if linkable:
        try:
            os.link(source, fresh)
        except OSError:  # a file system without hard links
            linkable = False
    if not linkable:
        shutil.copy2(source, fresh)
        if os.geteuid() == 0:
            os.chown(fresh, 0, 0)
        fresh.chmod(0o755 if info.st_mode & 0o111 else 0o644)
    if current is not None and stat.S_ISDIR(current.st_mode):
        shutil.rmtree(target)
    os.replace(fresh, target)


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
