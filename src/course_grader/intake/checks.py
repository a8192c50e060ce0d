"""Checks of a submission before any of it runs, and of the gradebook before a batch starts.

A missing, empty, misnamed or non-JSON notebook is not run and scores zero, with the reason; what
nbgrader will repair (a deleted, copied or edited test cell) is said plainly, for the report.
Submissions are files, never links: a notebook, ``timestamp.txt``, lesson or student folder under
``submitted/`` that is a symbolic link (or anything but a regular file or folder) is never
followed, and the submission is rejected with the reason. The bytes checked here are the bytes
graded (:attr:`Submission.files`): nothing is read from ``submitted/`` a second time.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_grader.course import Course, GradingError


@dataclass
class Submission:
    """One student's folder for one lesson, after the checks that need no kernel."""

    student: str
    lesson: str
    folder: Path
    gradable: list[str] = field(default_factory=list)       # notebook file names to run
    rejected: dict[str, str] = field(default_factory=dict)  # notebook file name -> why it is not run
    notes: list[str] = field(default_factory=list)          # what nbgrader will repair, said plainly
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # gradable notebook name -> its bytes
    timestamp: bytes | None = field(default=None, repr=False)          # timestamp.txt, where there is one


class NotAFile(Exception):
    """A path under ``submitted/`` that is a link, or not a regular file or folder; the message says which."""


def inspect(course: Course, student: str, lesson: str, released: dict | None = None) -> Submission:
    """Checks of one submission; ``released`` caches the released notebooks by (lesson, name)."""
    released = {} if released is None else released
    folder = course.submitted / student / lesson
    submission = Submission(student, lesson, folder)
    expected = course.notebooks(lesson)
    try:
        present = sorted(name for name in _listing(course.submitted, student, lesson) if name.endswith(".ipynb"))
        submission.timestamp = read_submitted(course.submitted, student, lesson, "timestamp.txt")
    except FileNotFoundError:
        present = []
    except NotAFile as error:  # the whole submission: its folder, or the time it claims, is not its own
        submission.rejected = {name: f"{name}: not graded, {error}" for name in expected}
        return submission
    strays = [name for name in present if name not in expected]
    for name in expected:
        try:
            raw = read_submitted(course.submitted, student, lesson, name)
        except NotAFile as error:
            submission.rejected[name] = f"{name}: not graded, {error}"
            continue
        if raw is None:
            found = f"; found {', '.join(strays)} (submit the notebook under the name it was released " \
                    "with)" if strays else ""
            submission.rejected[name] = f"{name} is missing from the submission{found}"
            continue
        problem = notebook_problem(raw)
        if problem:
            submission.rejected[name] = f"{name}: {problem}"
            continue
        submission.gradable.append(name)
        submission.files[name] = raw
        if (lesson, name) not in released:
            released[lesson, name] = nbformat.read(course.release / lesson / name, as_version=4)
        submission.notes += _structure_notes(nbformat.reads(raw.decode(), as_version=4), released[lesson, name], name)
    return submission


def _open_folder(submitted: Path, student: str, lesson: str) -> int:
    """A descriptor of ``submitted/STUDENT/LESSON``, each step opened without following a link."""
    fd = os.open(submitted, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, part in enumerate((student, lesson)):
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as error:
                if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise NotAFile(f"{'/'.join((student, lesson)[:i + 1])} is {_what(part, fd)}; a submission is "
                               "a folder of files, never a link: put the files themselves there") from None
            os.close(fd)
            fd = inner
        return fd
    except BaseException:
        os.close(fd)
        raise


def _what(name: str, dir_fd: int) -> str:
    mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    return "a symbolic link" if stat.S_ISLNK(mode) else "not a folder" if stat.S_ISREG(mode) else \
        "not a regular file or folder"


def _listing(submitted: Path, student: str, lesson: str) -> list[str]:
    fd = _open_folder(submitted, student, lesson)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def read_submitted(submitted: Path, student: str, lesson: str, name: str) -> bytes | None:
    """The bytes of ``submitted/STUDENT/LESSON/NAME`` (None where it is missing), never read through a link:
    :class:`NotAFile` where the file or one of its folders is a link, or not a regular file or folder."""
    try:
        fd = _open_folder(submitted, student, lesson)
    except FileNotFoundError:
        return None
    try:
        try:  # O_NONBLOCK: a FIFO planted in the folder must not hang the grader
            file = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            raise NotAFile(f"{name} is a symbolic link; a submission is files, never links: put the file itself "
                           "there") from None
        with os.fdopen(file, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise NotAFile(f"{name} is not a regular file (a folder, pipe or device): submit the file itself")
            return stream.read()
    finally:
        os.close(fd)


MAX_DEPTH = 64  # levels of nesting in a notebook's JSON: Jupyter writes about 6; Python's parsers recurse per level


def notebook_problem(raw: bytes) -> str | None:
    """Why these bytes are not a notebook nbgrader can grade (empty, not JSON, nested too deep, not text,
    not a notebook), or None."""
    if not raw.strip():
        return "the file is empty"
    try:
        data = json.loads(raw)
    except RecursionError:
        return (f"nested too deeply to read (a notebook's JSON nests a few levels, at most {MAX_DEPTH} are read); "
                "the file was not written by Jupyter: submit the notebook as Jupyter saved it")
    except (ValueError, UnicodeDecodeError) as error:
        return f"not valid JSON ({error}); the file may have been cut short or edited outside Jupyter"
    if _deeper_than(data, MAX_DEPTH):
        return (f"nested more than {MAX_DEPTH} levels deep (Jupyter writes about 6); the file was not written by "
                "Jupyter: submit the notebook as Jupyter saved it")
    where = _not_text(data)
    if where:
        return (f"{where} holds a lone surrogate (a \\ud800-\\udfff escape on its own), which is not text and "
                "cannot be written back; the file was not written by Jupyter: submit the notebook as Jupyter saved it")
    try:
        nb = nbformat.reads(raw.decode(), as_version=4)
        nbformat.validate(nb)
    except Exception as error:
        return f"not a valid Jupyter notebook ({str(error).splitlines()[0][:200]})"
    return None


def _deeper_than(data, limit: int) -> bool:
    """Whether ``data`` (parsed JSON) nests more than ``limit`` levels, found without recursion."""
    todo = [(data, 1)]
    while todo:
        item, level = todo.pop()
        if level > limit:
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        todo.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _not_text(data) -> str | None:
    """Where parsed JSON holds a string that is not Unicode text (a lone surrogate), as a path, or None."""
    todo = [(data, "the notebook")]
    while todo:
        item, where = todo.pop()
        if isinstance(item, dict):
            todo.extend((value, f"{where}[{key!a}]") for key, value in item.items())
            todo.extend((key, f"a key of {where}") for key in item if isinstance(key, str))
        elif isinstance(item, list):
            todo.extend((value, f"{where}[{i}]") for i, value in enumerate(item))
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return where
    return None


def _structure_notes(submitted, released, name: str) -> list[str]:
    """What differs from the released notebook in the cells nbgrader owns."""
    def graded(nb):
        cells: dict[str, list] = {}
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id:
                cells.setdefault(grade_id, []).append(cell)
        return cells

    mine, theirs = graded(submitted), graded(released)
    notes = []
    for grade_id, cells in theirs.items():
        original = cells[0]
        is_test = original.metadata["nbgrader"].get("grade") and not original.metadata["nbgrader"].get("solution")
        if grade_id not in mine:
            notes.append(f"{name}: cell {grade_id} was deleted; "
                         + ("the test was put back for grading" if is_test else "its exercise earns nothing"))
            continue
        if len(mine[grade_id]) > 1:
            notes.append(f"{name}: cell {grade_id} appears {len(mine[grade_id])} times (a copied cell); "
                         "only the first counts")
        cell = mine[grade_id][0]
        if cell.cell_type != original.cell_type:
            notes.append(f"{name}: cell {grade_id} was changed from {original.cell_type} to {cell.cell_type}"
                         + ("; the original was restored for grading" if is_test else ""))
        elif is_test and cell.source != original.source:
            notes.append(f"{name}: test cell {grade_id} was edited; the original was restored for grading")
    return notes


def check_gradebook(course: Course, lessons: list[str]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.course_id) as gradebook:
        for lesson in lessons:
            try:
                assignment = gradebook.find_assignment(lesson)
            except MissingEntry:
                raise GradingError(f"lesson {lesson} is not in the gradebook yet: run "
                                   "`grade release` first") from None
            if not assignment.notebooks:
                raise GradingError(f"lesson {lesson} has no notebooks in the gradebook: run "
                                   "`grade release` again")
