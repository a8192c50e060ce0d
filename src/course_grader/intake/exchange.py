"""nbgrader's exchange, on a classroom server: release to it, collect from it, return feedback through it.

The exchange is a folder every account on the machine can reach (``Exchange.root`` in the course's
nbgrader config; :mod:`.hub` sets one up). Students *Fetch* from ``COURSE/outbound``, *Submit* into
``COURSE/inbound`` (which they can write to but not list) and *Fetch Feedback* from ``COURSE/feedback``.
Stock nbgrader trusts what students write there; this module does not:

- **collect** (:func:`collect_exchange`): a submission's folder name says whose it is
  (``STUDENT+LESSON+TIME+RANDOM``); it counts only if that account owns the folder (stock nbgrader
  only warns, so anyone could hand in as anyone, with a later time to win). A link planted in
  inbound, or inside a submission, is never followed (stock ``collect`` copies what a link points to,
  read with the instructor's rights). The time is the one nbgrader's *Submit* wrote, unless the files
  were changed later (or the time in the name was made up): then it is the time of the last change,
  which a student cannot set back. Per student the latest submission counts, as in nbgrader; the
  files go through :func:`course_grader.intake.collect.collect` (size limits, notebooks checked, a replaced
  submission kept aside).
- **release** (:func:`publish`): nbgrader's own ``release_assignment``, except that it never makes
  the exchange's root writable by everyone (stock nbgrader sets it to 0777 without the sticky
  bit, and then a student can rename the course's folder and put up one of their own).
- **return** (:func:`return_feedback`): nbgrader's ``release_feedback`` of the course's own feedback
  (no hidden test in it, see :mod:`.feedback`), filed under each submission's secret
  (``submission_secret.txt``, which ``grade feedback`` puts beside it), the key a student's
  *Fetch Feedback* finds it by.

The stock ``nbgrader collect`` and the formgrader's *Collect* button run :class:`SafeCollect` (the
course's config sets ``ExchangeFactory.collect``); stock ``nbgrader autograde`` and
``generate_feedback`` (and their buttons) would run student code unsandboxed and show hidden tests
in feedback, so on a classroom server the course's config makes them stop with
:class:`UseCourseGrader`, which says which command to run instead.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment

from course_grader.course import Course, GradingError, described, load_course
from course_grader.intake.collect import (
    Collected,
    CollectLimits,
    _folder_entries,
    _Refused,
    collect,
)

# Submit writes its files and names the folder in the same second; a later change moves ctime on.
CHANGED_AFTER = dt.timedelta(minutes=2)
MAX_ENTRIES = 10_000  # files in one submission folder: a lesson has one notebook


def exchange_root(course: Course) -> Path:
    """``Exchange.root`` of the course's config (nbgrader's default when it sets none)."""
    from nbgrader.exchange.default.exchange import Exchange

    return Path(Exchange(config=course.nbgrader_config()).root)


@dataclass
class Submission:
    """One folder of ``inbound/``: whose it claims to be, and when it was handed in."""

    folder: Path
    student: str
    lesson: str
    claimed: str                 # the time nbgrader's Submit wrote (the folder's name says it too)
    when: dt.datetime            # the time that counts: claimed, unless changed later
    note: str | None = None      # why ``when`` is not ``claimed``


def inbound_submissions(inbound: Path, lesson: str, skipped: list[str]) -> dict[str, list[Submission]]:
    """Each student's submissions of ``lesson`` in ``inbound``, latest first; what is refused goes to ``skipped``."""
    found: dict[str, list[Submission]] = {}
    try:
        names = sorted(os.listdir(inbound))
    except OSError as error:
        raise GradingError(f"cannot list the exchange's inbound folder {inbound} ({error.strerror}): collect as the "
                           "instructor who released the lesson (the folder's owner)") from None
    for name in names:
        try:
            _inbound_entry(inbound, name, lesson, found, skipped)
        except Exception as error:  # one folder's problem, not the class's
            skipped.append(f"inbound/{name}: could not be collected ({described(error)})")
    return {student: sorted(items, key=lambda s: (s.when, s.folder.name), reverse=True)
            for student, items in found.items()}


def _inbound_entry(inbound: Path, name: str, lesson: str, found: dict[str, list[Submission]],
                   skipped: list[str]) -> None:
    """One folder of inbound: a submission of ``lesson`` into ``found``, or why it is refused into ``skipped``."""
    from nbgrader.utils import parse_utc

    parts = name.rsplit("+", 3)
    if len(parts) < 3 or parts[1] != lesson:
        return
    student, claimed = parts[0], parts[2]
    path = inbound / name
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        skipped.append(f"inbound/{name}: a symbolic link (to {os.readlink(path)}), not followed: a submission is "
                       "a folder that Submit writes")
        return
    if not stat.S_ISDIR(info.st_mode):
        skipped.append(f"inbound/{name}: not a folder")
        return
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = f"user id {info.st_uid}"
    if owner != student:
        skipped.append(f"inbound/{name}: claims to be {student}'s but belongs to {owner}; not collected "
                       "(a submission counts only for the account that handed it in)")
        return
    try:
        stated = parse_utc(claimed)
    except (ValueError, OverflowError):
        skipped.append(f"inbound/{name}: {claimed!r} is not a time; not collected")
        return
    changed = _last_change(path)
    when, note = stated, None
    if abs(changed - stated) > CHANGED_AFTER:
        when = changed
        note = (f"inbound/{name}: says it was submitted at {stated:%Y-%m-%d %H:%M:%S} UTC but was last changed at "
                f"{changed:%Y-%m-%d %H:%M:%S} UTC; the later time counts")
    found.setdefault(student, []).append(Submission(path, student, lesson, claimed, when, note))


def _last_change(folder: Path) -> dt.datetime:
    """The latest status change (ctime) of a folder and what is in it, links not followed: no one can set it back."""
    entries = ((name, fd) for _, dirs, names, fd in os.fwalk(folder) for name in dirs + names)
    latest = folder.lstat().st_ctime
    for name, fd in itertools.islice(entries, MAX_ENTRIES):
        latest = max(latest, os.stat(name, dir_fd=fd, follow_symlinks=False).st_ctime)
    return dt.datetime.fromtimestamp(latest, dt.timezone.utc).replace(tzinfo=None)


def collect_exchange(course: Course, lesson: str, limits: CollectLimits = CollectLimits()) -> Collected:
    """Each student's latest submission of ``lesson`` from the exchange into ``submitted/`` (see the module's notes)."""
    course.check_lesson(lesson)
    inbound = exchange_root(course) / course.course_id / "inbound"
    if not inbound.is_dir():
        raise GradingError(f"no inbound folder {inbound}: release the lesson first (finetune-course grade publish "
                           f"{lesson}), and check Exchange.root in {course.config_file}")
    skipped: list[str] = []
    found = inbound_submissions(inbound, lesson, skipped)
    if not found:
        return Collected(skipped=skipped)
    course.grader.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".exchange-", dir=course.grader) as tmp:
        staging = Path(tmp)
        for student, submissions in sorted(found.items()):
            # The latest submission counts, as in nbgrader; one with no notebook that can be read
            # (only links, say) counts for nothing, and the one before it is taken.
            for k, submission in enumerate(submissions):
                target = staging / student / lesson
                try:
                    problems = _stage(submission, target, limits)
                except Exception as error:  # this submission's problem, not the class's: the one before it counts
                    problems = [f"inbound/{submission.folder.name}: could not be collected ({described(error)})"]
                    shutil.rmtree(target, ignore_errors=True)
                    target.mkdir(parents=True)
                skipped.extend(problems)
                if list(target.glob("*.ipynb")):
                    if submission.note:
                        skipped.append(submission.note)
                    skipped.extend(f"inbound/{s.folder.name}: an earlier submission of {student}/{lesson} than "
                                   f"inbound/{submission.folder.name}" for s in submissions[k + 1:])
                    break
                shutil.rmtree(target)
                skipped.append(f"inbound/{submission.folder.name}: no notebook in it could be collected; the "
                               "submission before it counts")
        try:
            got = collect(course, staging, lesson=lesson, limits=limits)
        except GradingError as error:
            raise GradingError(f"{error}; refused in the exchange: {skipped}") from None
    got.skipped[:0] = skipped
    return got


def _stage(submission: Submission, target: Path, limits: CollectLimits) -> list[str]:
    """A submission's regular files into ``target`` (never through a link), with the time that counts."""
    problems = []
    target.mkdir(parents=True)
    for entry in _folder_entries(submission.folder, limits):
        label = f"inbound/{submission.folder.name}/{entry.name}"
        if entry.problem:
            problems.append(f"{label}: {entry.problem}")
            continue
        if entry.name == "timestamp.txt" or entry.name.startswith("."):
            continue
        try:
            data = entry.read(limits.file_bytes + 1)
        except _Refused as error:
            problems.append(f"{label}: {error}")
            continue
        (target / entry.name).parent.mkdir(parents=True, exist_ok=True)
        (target / entry.name).write_bytes(data)
    (target / "timestamp.txt").write_text(submission.when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    return problems


# -- release and return, through nbgrader's own exchange classes -----------------------------------------
class SafeReleaseAssignment(ExchangeReleaseAssignment):
    """nbgrader's release, but the exchange's root is never made writable by everyone (see the module's notes)."""

    def ensure_root(self):
        root = Path(self.root)
        if not root.is_dir():
            self.fail(f"no exchange folder {root}: create it, owned by root, mode 1777 (finetune-course hub does), "
                      "or set Exchange.root in the course's nbgrader_config.py")
        mode = root.stat().st_mode
        if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
            self.fail(f"the exchange folder {root} is writable by other users (mode {oct(mode & 0o7777)}): anyone could "
                      f"replace the course's folder in it. Run: chmod 1777 {root} (as its owner: the sticky bit lets only "
                      "a folder's owner rename or remove it; the course's folder in it must belong to the instructor)")


class SafeCollect(ExchangeCollect):
    """What stock ``nbgrader collect`` and the formgrader's *Collect* button run: :func:`collect_exchange`."""

    def start(self):
        from nbgrader.exchange.abc.exchange import ExchangeError

        config_file = os.environ.get("FINETUNE_COURSE_CONFIG") or None
        try:
            course = load_course(config_file)
            got = collect_exchange(course, self.coursedir.assignment_id)
        except GradingError as error:
            self.log.error(str(error))
            raise ExchangeError(str(error)) from None
        for label, items in (("collected", got.imported + got.replaced + got.unchanged), ("skipped", got.skipped)):
            for item in items:
                (self.log.info if label == "collected" else self.log.warning)(f"{label}: {item}")


def _exchange_app(course: Course, cls, lesson: str):
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory

    config = course.nbgrader_config(**{"CourseDirectory.assignment_id": lesson})
    coursedir = CourseDirectory(config=config)
    return cls(coursedir=coursedir, authenticator=Authenticator(config=config), config=config)


def _started(app, what: str) -> None:
    from nbgrader.exchange.abc.exchange import ExchangeError

    try:
        app.start()
    except ExchangeError as error:
        raise GradingError(f"{what} failed: {error or 'see the messages above'}") from None


def publish(course: Course, lessons: list[str]) -> list[str]:
    """Release each lesson's student version (``release/LESSON``) into the exchange, for *Fetch*."""
    for lesson in lessons:
        course.check_lesson(lesson)
        if not (course.release / lesson).is_dir():
            raise GradingError(f"{course.release / lesson} does not exist: run `finetune-course grade release` first")
    for lesson in lessons:
        app = _exchange_app(course, SafeReleaseAssignment, lesson)
        app.force = True
        _started(app, f"releasing {lesson} to the exchange")
    return lessons


def return_feedback(course: Course, lessons: list[str]) -> list[str]:
    """Put the course's feedback of each lesson into the exchange, for each student's *Fetch Feedback*."""
    from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback

    returned, missing = [], []
    for lesson in lessons:
        without = []
        for folder in sorted(course.feedback.glob(f"*/{lesson}")):
            if (folder / "submission_secret.txt").is_file():
                returned.append(f"{folder.parent.name}/{lesson}")
            else:
                without.append(folder.parent.name)
                missing.append(f"{folder.parent.name}/{lesson}: not handed in through the exchange (no "
                               "submission_secret.txt): give this student the zip from grader/exports/feedback/")
        app = _exchange_app(course, ExchangeReleaseFeedback, lesson)
        app.coursedir.student_id_exclude = ",".join(without)
        _started(app, f"returning the feedback of {lesson}")
    if missing:
        print("not returned through the exchange:\n  " + "\n  ".join(missing))
    return returned


class UseCourseGrader(Preprocessor):
    """Stops stock ``nbgrader autograde``/``generate_feedback`` on a classroom server, saying what to run instead."""

    def preprocess(self, nb, resources):
        raise GradingError("this course grades and writes feedback with its own commands, not nbgrader's: "
                           "`finetune-course grade autograde` runs each notebook sandboxed, and "
                           "`finetune-course grade feedback` leaves the hidden tests out; run them in a terminal "
                           "from the course folder")

