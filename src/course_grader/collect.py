"""A class's submissions into ``grader/submitted/``, from a folder or a zip; nothing replaced is lost.

Two layouts:

- nbgrader's own, ``STUDENT/LESSON/FILE`` (with ``timestamp.txt`` where there is one);
- a learning platform's "download all submissions" of one lesson (``lms`` and ``lesson``), whose
  file names are read by nbgrader ``FileNameCollectorPlugin``s (:mod:`.platforms`).

A zip is unpacked by nbgrader's ``ExtractorPlugin`` (:class:`~.platforms.KeepEntryTimes`: each
file keeps its entry's time, the submission time unless a ``timestamp.txt`` says otherwise). The
placing is ours: ``nbgrader zip_collect`` clears a student's folder before copying, while here a
submission that replaces a different one is kept in ``grader/submitted_previous/<stamp>/``, an
identical one is reported unchanged, and ``timestamp.txt`` is written from the submission time
(the latest of the lesson's files).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.utils import parse_utc

from course_grader.course import Course, GradingError, check_student_id
from course_grader.platforms import PLATFORMS, CanvasFileNames, KeepEntryTimes


@dataclass
class Collected:
    """What a collection did, as ``STUDENT/LESSON/FILE`` labels (skipped: ``name in the source: why``)."""

    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Found:
    name: str                    # its path in the source, for messages
    path: Path
    student: str
    lesson: str
    filename: str
    when: dt.datetime | None     # submission time, where known


def collect(course: Course, source: str | Path, lesson: str | None = None, lms: str | None = None) -> Collected:
    """Import submissions from a folder or zip; ``lms`` and ``lesson`` for a platform's export of one lesson."""
    source = Path(source)
    if lms and lms not in PLATFORMS:
        raise GradingError(f"--lms must be one of {', '.join(PLATFORMS)}; got {lms!r}")
    if lms and not lesson:
        raise GradingError(f"a {lms} export holds one lesson: say which with --lesson")
    if lesson and lesson not in course.lessons():
        raise GradingError(f"no such lesson {lesson!r}; lessons are {', '.join(course.lessons())}")
    if not source.is_dir() and not (source.is_file() and zipfile.is_zipfile(source)):
        raise GradingError(f"{source} is neither a folder nor a zip file: give the folder or zip of the submissions")
    collected = Collected()
    course.grader.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".collect-", dir=course.grader) as tmp:
        folder = _unpacked(source, Path(tmp))
        if lms:
            plugin = PLATFORMS[lms](config=course.nbgrader_config())
            if isinstance(plugin, CanvasFileNames):
                plugin.released_notebooks = course.notebooks(lesson)
        found, lessons = [], set(course.lessons())
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            if "__MACOSX" in name.split("/") or path.name.startswith(".") or path.name == "timestamp.txt":
                continue
            where = _platform_file(plugin, path, lesson, lms) if lms else _layout_file(folder, name, lessons, lesson)
            if isinstance(where, str):
                if name.endswith(".ipynb"):
                    collected.skipped.append(f"{name}: {where}")
                continue
            student, lesson_id, filename, when = where
            if when is None and source.is_file():  # from a zip: the entry's time
                when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
            found.append(_Found(name, path, student, lesson_id, filename, when))
        _place(course, found, collected)
    if not (collected.imported or collected.replaced or collected.unchanged):
        raise GradingError(f"no submissions found in {source}: expected STUDENT/LESSON/*.ipynb"
                           + (f" or a {lms} export" if lms else " (or use --lms canvas|moodle --lesson LESSON)")
                           + (f"; skipped: {collected.skipped[:5]}" if collected.skipped else ""))
    return collected


def _unpacked(source: Path, tmp: Path) -> Path:
    """The folder to collect from: ``source`` itself, or a zip unpacked by :class:`KeepEntryTimes` into ``tmp``."""
    if source.is_dir():
        return source
    (tmp / "archive").mkdir()
    (tmp / "archive" / "submissions.zip").symlink_to(source.resolve())
    KeepEntryTimes().extract(str(tmp / "archive"), str(tmp / "extracted"))
    (tmp / "extracted" / "submissions").mkdir(parents=True, exist_ok=True)  # there even for an empty zip
    return tmp / "extracted" / "submissions"


def _platform_file(plugin: FileNameCollectorPlugin, path: Path, lesson: str, lms: str):
    """(student, lesson, file name, time or None) from a platform's file name, or why it is skipped."""
    info = plugin.collect(str(path))
    if not info:
        return f"not a {lms} submission file name"
    try:
        student = check_student_id(info["student_id"])
    except GradingError as error:
        return str(error)
    when = info.get("timestamp")  # a collector configured to read it from the file name
    return student, lesson, info["file_id"], parse_utc(when) if isinstance(when, str) else when


def _layout_file(folder: Path, name: str, lessons: set[str], lesson: str | None):
    """(student, lesson, file name, time or None) from nbgrader's STUDENT/LESSON/FILE, or why it is skipped."""
    parts = name.split("/")
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] in lessons and (lesson is None or parts[i] == lesson):
            try:
                student = check_student_id(parts[i - 1])
            except GradingError as error:
                return str(error)
            stamp = folder.joinpath(*parts[:i + 1], "timestamp.txt")
            try:
                when = parse_utc(stamp.read_text().strip()) if stamp.is_file() else None
            except ValueError as error:
                return f"{stamp.relative_to(folder)}: expected a time such as 2026-12-01 10:00:00 UTC; {error}"
            return student, parts[i], "/".join(parts[i + 1:]), when
    return "expected STUDENT/LESSON/FILE with LESSON one of the course's lessons"


def _place(course: Course, found: list[_Found], collected: Collected) -> None:
    """Copy what was found into ``submitted/``: the latest of duplicates, what it replaces kept aside."""
    latest: dict[tuple[str, str, str], _Found] = {}
    for item in found:
        key = (item.student, item.lesson, item.filename)
        other = latest.get(key)
        if other is None:
            latest[key] = item
            continue
        if item.when is None or other.when is None or item.when == other.when:
            raise GradingError(f"{other.name} and {item.name} are both {'/'.join(key)}, and their times do not say "
                               "which is the later one: leave only one of them in the source")
        older, latest[key] = sorted([item, other], key=lambda f: f.when)
        collected.skipped.append(f"{older.name}: an earlier submission of {'/'.join(key)} than {latest[key].name}")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    lessons: dict[tuple[str, str], list[_Found]] = {}
    for item in latest.values():
        lessons.setdefault((item.student, item.lesson), []).append(item)
    for (student, lesson), items in lessons.items():
        folder = course.submitted / student / lesson
        keep = course.grader / "submitted_previous" / stamp / student / lesson
        changed = False
        for item in items:
            target, label = folder / item.filename, f"{student}/{lesson}/{item.filename}"
            data = item.path.read_bytes()
            if target.is_file() and target.read_bytes() == data:
                collected.unchanged.append(label)
                continue
            if target.exists():
                (keep / item.filename).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target, keep / item.filename)
                collected.replaced.append(label)
            else:
                collected.imported.append(label)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            changed = True
        # One submission time per student and lesson: its latest file's. A replaced submission's
        # time goes aside with it; with no time for the new one, none is left to make it late.
        times = [item.when for item in items if item.when is not None]
        if changed and (folder / "timestamp.txt").is_file():
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / "timestamp.txt", keep / "timestamp.txt")
            (folder / "timestamp.txt").unlink()
        if changed and times:
            (folder / "timestamp.txt").write_text(max(times).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
