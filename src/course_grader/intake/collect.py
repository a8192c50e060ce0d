"""A class's submissions into ``grader/submitted/``, from a folder or a zip: no innocent lost, nothing replaced lost.

Two layouts:

- nbgrader's own, ``STUDENT/LESSON/FILE`` (with ``timestamp.txt`` where there is one);
- a learning platform's "download all submissions" of one lesson (``lms`` and ``lesson``), whose
  file names are read by nbgrader ``FileNameCollectorPlugin``s (:mod:`.platforms`).

A zip is read here, entry by entry, with :mod:`zipfile`, not unpacked by nbgrader's
``ExtractorPlugin``: that one unpacks a whole archive blindly (links, ``..``, any size) and its first
bad entry ends the collect. Each file keeps its entry's time, the submission time unless a
``timestamp.txt`` says otherwise. The placing is ours too: ``nbgrader zip_collect`` clears a
student's folder before copying, while here a submission that replaces a different one is kept in
``grader/submitted_previous/<stamp>/``, an identical one is reported unchanged, and
``timestamp.txt`` is written from the submission time (the latest of the lesson's files).

What a student (or anyone who can write the source) gets wrong is skipped with its reason in
:attr:`Collected.skipped`, and everything else is collected:

- a symbolic link, or anything else that is not a regular file: submissions are files, and the
  bytes are copied, never a link (nor through one, in ``submitted/``);
- a zip entry whose name is absolute or climbs out with ``..``, or that is encrypted or corrupt;
- a file over :class:`CollectLimits`, refused on its declared size and compression ratio before
  it is unpacked, and on the bytes actually read;
- a ``.ipynb`` that is not a notebook, a ``.zip`` that is not a zip;
- in a zip inside the source (a student's own archive), anything but that student's files: its
  files belong to the student its own name or folder says, whatever their names inside.

Collect stops before writing anything where going on would merge two students: two different
students (two ``Jane Doe`` with two platform user numbers, or two folders whose names differ
only in Unicode form) that would be one student id, in this collect or, for a platform's export,
with the student an earlier collect gave that id (``grader/student_names.json``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.utils import parse_utc

from course_grader.course import (
    Course,
    GradingError,
    check_student_id,
    described,
    printable,
)
from course_grader.intake.checks import notebook_problem
from course_grader.intake.platforms import PLATFORMS, CanvasFileNames

MIB = 1 << 20
NAMES = "student_names.json"  # in grader/: per platform, who each student id is (the platform's user number and name)


@dataclass(frozen=True)
class CollectLimits:
    """How much collect reads, checked on a zip entry's declared sizes before it is unpacked and on the bytes read."""

    file_bytes: int = 64 * MIB      # one file, and all the files of a student's own zip: a notebook is a few MiB
    total_bytes: int = 4096 * MIB   # everything one collect takes in
    ratio: float = 200.0            # uncompressed / compressed size of an entry over 1 MiB (a bomb: about 1000)


@dataclass
class Collected:
    """What a collection did, as ``STUDENT/LESSON/FILE`` labels (skipped: ``name in the source: why``)."""

    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    """A file of the source before it is read: its name there (NFC, ``/``), and why it is refused, if it is."""

    name: str
    raw: str                                        # the name as the source spells it
    size: int                                       # its declared size
    when: dt.datetime | None                        # its zip entry's time
    read: Callable[[int], bytes] | None = None      # at most n bytes of it
    problem: str | None = None


@dataclass
class _Found:
    name: str                    # its path in the source, for messages
    path: Path                   # its bytes, copied into the scratch folder
    student: str
    lesson: str
    filename: str
    identity: _Person            # who the source says the student is: the platform's user, or the folder
    folder: str | None           # nbgrader layout: the STUDENT/LESSON folder in the source, whose timestamp.txt counts
    when: dt.datetime | None     # submission time, where known


@dataclass(frozen=True)
class _Person:
    """Who a file's name says its student is: ``key`` tells two students apart, ``shown`` is for messages."""

    key: str      # the platform's user number where its file names have one, else the name as spelled
    shown: str


class _Refused(Exception):
    """A file that is not collected; the message says why."""


def collect(course: Course, source: str | Path, lesson: str | None = None, lms: str | None = None,
            limits: CollectLimits = CollectLimits()) -> Collected:
    """Import submissions from a folder or zip; ``lms`` and ``lesson`` for a platform's export of one lesson."""
    source = Path(source)
    if lms and lms not in PLATFORMS:
        raise GradingError(f"--lms must be one of {', '.join(PLATFORMS)}; got {lms!r}")
    if lms and not lesson:
        raise GradingError(f"a {lms} export holds one lesson: say which with --lesson")
    if lesson:
        course.check_lesson(lesson)
    if not source.is_dir() and not (source.is_file() and zipfile.is_zipfile(source)):
        raise GradingError(f"{source} is neither a folder nor a zip file: give the folder or zip of the submissions")
    if lms:
        plugin = PLATFORMS[lms](config=course.nbgrader_config())
        if isinstance(plugin, CanvasFileNames):
            plugin.released_notebooks = course.notebooks(lesson)
        where = partial(_platform_file, plugin, str(source.resolve()), lesson, lms)
    else:
        where = partial(_layout_file, set(course.lessons()), lesson)
    collected = Collected()
    course.grader.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".collect-", dir=course.grader) as tmp:
        reader = _Reader(Path(tmp), limits, collected.skipped)
        found, stamps = [], {}
        for entry in _entries(source, limits):
            if _hidden(entry.name):
                continue
            try:
                found += _take(entry, reader, where, stamps, lms, plugin.valid_ext if lms else None, collected.skipped)
            except GradingError:  # over the limit of the whole collect: nothing is collected
                raise
            except Exception as error:  # one entry's problem, not the class's: skipped with the reason
                collected.skipped.append(f"{entry.name}: could not be collected ({described(error)})")
        found = _with_stamps(found, stamps, collected.skipped)
        record = _check_distinct(found, course, lms)
        _place(course, found, collected)
        if record:
            (course.grader / NAMES).write_text(json.dumps(record, indent=1, ensure_ascii=False, sort_keys=True))
    collected.skipped[:] = [printable(line) for line in collected.skipped]
    if not (collected.imported or collected.replaced or collected.unchanged):
        raise GradingError(f"no submissions found in {source}: expected STUDENT/LESSON/*.ipynb"
                           + (f" or a {lms} export" if lms else " (or use --lms canvas|moodle --lesson LESSON)")
                           + (f"; skipped: {collected.skipped[:5]}" if collected.skipped else ""))
    return collected


def _take(entry: _Entry, reader: _Reader, where, stamps: dict, lms: str | None, valid_ext: list[str] | None,
          skipped: list[str]) -> list[_Found]:
    """What one entry of the source gives: its file (or a student's zip's files), or nothing, with the reason."""
    if entry.problem:
        skipped.append(f"{entry.name}: {entry.problem}")
        return []
    if entry.name.rsplit("/", 1)[-1] == "timestamp.txt":
        if not lms:
            stamps[entry.name.rpartition("/")[0]] = reader.read(entry)
        return []
    got = where(entry.name, entry.raw)
    if isinstance(got, str):
        if entry.name.endswith((".ipynb", ".zip")):
            skipped.append(f"{entry.name}: {got}")
        return []
    if entry.name.endswith(".zip"):
        return _nested(reader, entry, got, lms, valid_ext)
    data = reader.read(entry, notebook=entry.name.endswith(".ipynb"))
    return [_Found(entry.name, data, *got, entry.when)] if data is not None else []


# -- reading the source: a folder or a zip, entry by entry ---------------------------------------
def _hidden(name: str) -> bool:
    """A name no submission has: a hidden file or folder (``.ipynb_checkpoints``), macOS's ``__MACOSX``."""
    return any(part == "__MACOSX" or (part.startswith(".") and part != "..") for part in name.split("/"))


def _entries(source: Path, limits: CollectLimits) -> Iterator[_Entry]:
    if source.is_dir():
        yield from _folder_entries(source, limits)
        return
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise GradingError(f"{source} could not be read as a zip ({error}): download it again") from None
    with archive:
        entries = list(_zip_entries(archive, limits))
        declared = sum(e.size for e in entries if not e.problem)
        if declared > limits.total_bytes:  # before anything is unpacked
            raise GradingError(f"{source} holds {declared / MIB:,.0f} MiB of files, over the limit of "
                               f"{limits.total_bytes / MIB:,.0f} MiB: collect it in parts, or raise "
                               "CollectLimits.total_bytes")
        yield from entries


def _folder_entries(source: Path, limits: CollectLimits) -> Iterator[_Entry]:
    """The files under ``source``, never following a link (os.fwalk holds each folder open)."""
    for top, dirs, names, fd in os.fwalk(source.resolve()):  # the folder given may be a link; nothing in it is
        dirs[:] = [name for name in dirs if not _hidden(name)]  # not walked into (.git, .ipynb_checkpoints)
        here = os.path.relpath(top, source.resolve())
        for name in sorted(dirs + names):
            raw = name if here == "." else f"{here}/{name}"
            entry = _Entry(unicodedata.normalize("NFC", raw), raw, 0, None)
            try:
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as error:  # gone since the folder was listed
                entry.problem = f"could not be read ({error.strerror})"
                yield entry
                continue
            if stat.S_ISDIR(mode.st_mode):
                continue
            entry.size = mode.st_size
            if stat.S_ISLNK(mode.st_mode):
                entry.problem = (f"a symbolic link (to {os.readlink(name, dir_fd=fd)}), not followed: a submission "
                                 "is files, never links; put the file itself there")
            elif not stat.S_ISREG(mode.st_mode):
                entry.problem = "not a regular file (a pipe, socket or device)"
            elif mode.st_size > limits.file_bytes:
                entry.problem = _too_big(mode.st_size, limits)
            entry.read = partial(_read_at, fd, name)
            yield entry


def _read_at(dir_fd: int, name: str, limit: int) -> bytes:
    try:  # the check above was by name: this one is on what is opened, a link or a pipe swapped in since
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as error:
        raise _Refused(f"could not be read without following a link ({error.strerror})") from None
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise _Refused("not a regular file")
        return stream.read(limit)


def _zip_entries(archive: zipfile.ZipFile, limits: CollectLimits, within: str = "") -> Iterator[_Entry]:
    """A zip's file entries, each checked on what its header says; ``within``: the name of the zip inside the source."""
    for info in archive.infolist():
        given = info.filename.replace("\\", "/")  # zips made on Windows
        if given.endswith("/"):
            continue
        raw = "/".join(part for part in given.split("/") if part not in ("", "."))
        name = unicodedata.normalize("NFC", raw)
        entry = _Entry(within + name, within + raw, info.file_size, _entry_time(info),
                       read=partial(_read_entry, archive, info))
        kind = stat.S_IFMT(info.external_attr >> 16)
        parts = name.split("/")
        if any(ord(c) < 32 for c in name):
            entry.problem = "a name with control characters"
        elif given.startswith("/") or re.match(r"[A-Za-z]:", given):
            entry.name, entry.problem = within + given, "an absolute path: nothing is written outside grader/submitted/"
        elif ".." in parts:
            entry.problem = "a path with '..': nothing is written outside grader/submitted/"
        elif kind == stat.S_IFLNK:
            entry.problem = "a symbolic link: a submission is files, never links"
        elif kind not in (0, stat.S_IFREG):
            entry.problem = "not a regular file"
        elif info.flag_bits & 0x1:
            entry.problem = "encrypted: submit it without a password"
        elif info.file_size > limits.file_bytes:
            entry.problem = _too_big(info.file_size, limits)
        elif info.file_size > MIB and info.file_size / max(info.compress_size, 1) > limits.ratio:
            ratio = info.file_size / max(info.compress_size, 1)
            entry.problem = (f"{info.file_size / MIB:,.1f} MiB compressed {ratio:,.0f} times, over {limits.ratio:g} "
                             "(CollectLimits.ratio): a zip bomb, not unpacked")
        yield entry


def _entry_time(info: zipfile.ZipInfo) -> dt.datetime | None:
    try:
        return dt.datetime(*info.date_time, tzinfo=dt.timezone.utc)
    except ValueError:  # a date the zip's writer made up (month 0): no time is known
        return None


def _too_big(size: int, limits: CollectLimits) -> str:
    return (f"{size / MIB:,.1f} MiB, over the limit of {limits.file_bytes / MIB:,.0f} MiB a file "
            "(CollectLimits.file_bytes): not unpacked")


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    try:
        with archive.open(info) as stream:
            return stream.read(limit)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as error:
        raise _Refused(f"could not be unpacked ({error}): the zip is damaged; download it again") from None


class _Reader:
    """Reads entries into the scratch folder, within the limits; what it refuses goes to ``skipped``."""

    def __init__(self, scratch: Path, limits: CollectLimits, skipped: list[str]):
        self.scratch, self.limits, self.skipped, self.total, self.count = scratch, limits, skipped, 0, 0

    def data(self, entry: _Entry, limit: int | None = None) -> bytes | None:
        limit = self.limits.file_bytes if limit is None else limit
        try:
            data = entry.read(limit + 1)
            if len(data) > limit:
                raise _Refused(f"over the limit of {limit / MIB:,.0f} MiB (CollectLimits.file_bytes): not unpacked")
        except _Refused as why:
            self.skipped.append(f"{entry.name}: {why}")
            return None
        self.total += len(data)
        if self.total > self.limits.total_bytes:
            raise GradingError(f"the submissions hold over {self.limits.total_bytes / MIB:,.0f} MiB "
                               "(CollectLimits.total_bytes); nothing was collected: collect them in parts")
        return data

    def read(self, entry: _Entry, notebook: bool = False) -> Path | None:
        data = self.data(entry)
        if data is None:
            return None
        problem = notebook and notebook_problem(data)
        if problem:
            self.skipped.append(f"{entry.name}: {problem}")
            return None
        self.count += 1
        path = self.scratch / str(self.count)  # never the entry's own name
        path.write_bytes(data)
        return path


def _nested(reader: _Reader, entry: _Entry, owner: tuple, lms: str | None,
            valid_ext: list[str] | None) -> list[_Found]:
    """A student's own zip: all its files that student's (``owner``), at the zip's time, whatever their names."""
    student, lesson, _, identity, folder = owner
    data = reader.data(entry)
    if data is None:
        return []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        reader.skipped.append(f"{entry.name}: not a zip file, though its name ends in .zip")
        return []
    with archive:
        inner = [e for e in _zip_entries(archive, reader.limits, within=entry.name + ":")
                 if not _hidden(e.name)]
        declared = sum(e.size for e in inner if not e.problem)
        if declared > reader.limits.file_bytes:  # all of a student's zip is one submission's worth
            reader.skipped.append(f"{entry.name}: holds {declared / MIB:,.1f} MiB, over the limit of "
                                  f"{reader.limits.file_bytes / MIB:,.0f} MiB (CollectLimits.file_bytes): not unpacked")
            return []
        names = [e.name[len(entry.name) + 1:] for e in inner]
        common = _common_folder(names)
        found = []
        for item, name in zip(inner, names):
            filename = name[len(common):]
            if item.problem:
                reader.skipped.append(f"{item.name}: {item.problem}")
            elif name.endswith(".zip"):
                reader.skipped.append(f"{item.name}: a zip inside a zip inside the submissions is not unpacked: "
                                      "submit the files themselves")
            elif filename.rsplit("/", 1)[-1] == "timestamp.txt" or (lms and not filename.endswith(tuple(valid_ext))):
                continue
            else:
                try:
                    path = reader.read(item, notebook=filename.endswith(".ipynb"))
                except GradingError:
                    raise
                except Exception as error:
                    reader.skipped.append(f"{item.name}: could not be collected ({described(error)})")
                    continue
                if path is not None:
                    found.append(_Found(item.name, path, student, lesson, filename, identity, folder, entry.when))
    return found


def _common_folder(names: list[str]) -> str:
    """The folders all ``names`` share (a zipped folder), as a prefix to drop: ``ann/fixture/``."""
    common = ""
    while names and all("/" in n[len(common):] for n in names) and \
            len({n[len(common):].split("/", 1)[0] for n in names}) == 1:
        common += names[0][len(common):].split("/", 1)[0] + "/"
    return common


# -- whose file it is, from its name -------------------------------------------------------------
def _platform_file(plugin: FileNameCollectorPlugin, root: str, lesson: str, lms: str, name: str, raw: str):
    """(student, lesson, file name, identity, None) from a platform's file name, or why it is skipped."""
    if name.endswith(".zip"):  # a student's own zip: whose it is, from its name as if it held one notebook
        name = name[:-len(".zip")] + (plugin.valid_ext[0] if plugin.valid_ext else ".ipynb")
    info = plugin.collect(f"{root}/{name}")
    if not info:
        return f"not a {lms} submission file name"
    try:
        student = check_student_id(info["student_id"])
    except GradingError as error:
        return str(error)
    name, user = info.get("student_name", info["student_id"]), info.get("user")
    identity = _Person(f"user {user}" if user else name, name + (f" (user {user})" if user else ""))
    return student, lesson, info["file_id"], identity, None


def _layout_file(lessons: set[str], lesson: str | None, name: str, raw: str):
    """(student, lesson, file name, identity, STUDENT/LESSON folder) from nbgrader's layout, or why it is skipped."""
    parts = name.split("/")
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] in lessons and (lesson is None or parts[i] == lesson):
            try:
                student = check_student_id(parts[i - 1])
            except GradingError as error:
                return str(error)
            spelled = ascii(raw.split("/")[i - 1])  # ascii(): two Unicode spellings of one name look different
            identity = _Person(spelled, f"folder {spelled}")
            return student, parts[i], "/".join(parts[i + 1:]), identity, "/".join(parts[:i + 1])
    return "expected STUDENT/LESSON/FILE with LESSON one of the course's lessons"


def _with_stamps(found: list[_Found], stamps: dict[str, Path | None], skipped: list[str]) -> list[_Found]:
    """nbgrader's layout: a STUDENT/LESSON folder's ``timestamp.txt``, where there is one, is its files' time."""
    kept = []
    for item in found:
        path = stamps.get(item.folder) if item.folder is not None else None
        if path is not None:
            try:
                item.when = parse_utc(path.read_text().strip())
            except (ValueError, UnicodeDecodeError) as error:
                skipped.append(f"{item.name}: {item.folder}/timestamp.txt: expected a time such as "
                               f"2026-12-01 10:00:00 UTC; {error}")
                continue
        kept.append(item)
    return kept


def _check_distinct(found: list[_Found], course: Course, lms: str | None) -> dict | None:
    """Stop, before anything is written, where two different students would become one student id.

    For a platform's export, also against the students earlier collects gave those ids: the
    record to write once the files are placed (None for nbgrader's layout, whose ids are folders).
    """
    who: dict[str, dict[str, str]] = {}
    for item in found:
        who.setdefault(item.student, {})[item.identity.key] = item.identity.shown
    merged = {student: sorted(people.values()) for student, people in who.items() if len(people) > 1}
    if merged:
        raise GradingError("nothing was collected: these would be one student, though the source names them "
                           "differently: " + "; ".join(f"{' and '.join(names)} -> {student}"
                                                       for student, names in sorted(merged.items()))
                           + ". Rename the files of one of them in the source (or give your own named_regexp) "
                           "and collect again")
    if not lms:
        return None
    path = course.grader / NAMES
    try:
        record = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError as error:
        raise GradingError(f"{path}: not valid JSON ({error}); fix or delete it (it only guards against two "
                           "students sharing an id)") from None
    known = record.setdefault(lms, {})
    for student, people in sorted(who.items()):
        [(key, shown)] = people.items()
        before = known.get(student)
        if before and before["key"] != key:
            raise GradingError(f"nothing was collected: {shown} would be student {student}, who is {before['shown']} "
                               f"in an earlier collect ({path}). If they are one person (a new name or number), "
                               "change that entry; if not, rename the files of one of them in the source")
        known[student] = {"key": key, "shown": shown}
    return record


# -- placing the files into submitted/ -------------------------------------------------------------
def _place(course: Course, found: list[_Found], collected: Collected) -> None:
    """Copy what was found into ``submitted/``: the latest of duplicates, what it replaces kept aside."""
    latest: dict[tuple[str, str, str], _Found] = {}
    tied: set[tuple[str, str, str]] = set()
    for item in found:
        key = (item.student, item.lesson, item.filename)
        other = latest.get(key)
        if other is None:
            latest[key] = item
            continue
        if item.when is None or other.when is None or item.when == other.when:
            collected.skipped.append(f"{other.name} and {item.name}: both are {'/'.join(key)}, and their times do "
                                     "not say which is the later one; neither was collected: leave only one of them "
                                     "in the source")
            tied.add(key)
            continue
        older, latest[key] = sorted([item, other], key=lambda f: f.when)
        collected.skipped.append(f"{older.name}: an earlier submission of {'/'.join(key)} than {latest[key].name}")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    lessons: dict[tuple[str, str], list[_Found]] = {}
    for key, item in latest.items():
        if key not in tied:
            lessons.setdefault((item.student, item.lesson), []).append(item)
    for (student, lesson), items in lessons.items():
        folder = course.submitted / student / lesson
        keep = course.grader / "submitted_previous" / stamp / student / lesson
        changed = False
        for item in items:
            try:
                changed |= _place_file(course.submitted, item, folder, keep, collected)
            except Exception as error:  # this file's problem (a name too long to write, say), not the class's
                collected.skipped.append(f"{item.name}: could not be written into {folder} ({described(error)}); "
                                         "rename it and collect again")
        # One submission time per student and lesson: its latest file's. A replaced submission's
        # time goes aside with it; with no time for the new one, none is left to make it late.
        times = [item.when for item in items if item.when is not None]
        if changed and os.path.lexists(folder / "timestamp.txt"):
            _set_aside(folder / "timestamp.txt", keep / "timestamp.txt")
        if changed and times:
            _write(folder / "timestamp.txt", max(times).strftime("%Y-%m-%d %H:%M:%S.%f UTC").encode())


def _place_file(submitted: Path, item: _Found, folder: Path, keep: Path, collected: Collected) -> bool:
    """Copy one file into its student's folder (what it replaces into ``keep``); whether anything changed."""
    target, label = folder / item.filename, f"{item.student}/{item.lesson}/{item.filename}"
    linked = _linked_folder(submitted, target.parent)
    if linked:
        collected.skipped.append(f"{item.name}: {linked}")
        return False
    data = item.path.read_bytes()
    mode = target.lstat().st_mode if os.path.lexists(target) else None
    if mode is not None and stat.S_ISDIR(mode):
        collected.skipped.append(f"{item.name}: {target} is a folder: remove it and collect again")
        return False
    if mode is not None and stat.S_ISREG(mode) and target.read_bytes() == data:
        collected.unchanged.append(label)
        return False
    if mode is not None:
        _set_aside(target, keep / item.filename)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write(target, data)
    (collected.replaced if mode is not None else collected.imported).append(label)
    return True


def _linked_folder(submitted: Path, folder: Path) -> str | None:
    """Why files can't be written into ``folder`` under ``submitted/`` (a link or a file on the way), or None."""
    for depth in range(1, len(folder.relative_to(submitted).parts) + 1):
        path = submitted.joinpath(*folder.relative_to(submitted).parts[:depth])
        if not os.path.lexists(path):
            return None
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            return (f"{path} is a symbolic link (to {os.readlink(path)}): nothing is written through it; remove it "
                    "and collect again")
        if not stat.S_ISDIR(mode):
            return f"{path} is not a folder: remove it and collect again"
    return None


def _set_aside(path: Path, keep: Path) -> None:
    """Move what is at ``path`` into ``submitted_previous/``, a link as a link (never what it points to)."""
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, keep, follow_symlinks=False)
    path.unlink()


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
