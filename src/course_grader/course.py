"""Where a course's folders are, read from its nbgrader config (``grader/nbgrader_config.py``)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "nbgrader_config.py"
# Letters and digits of any alphabet (so that Zoë and Zoé stay two students), and ._@+-.
STUDENT_ID = re.compile(r"[^\W_][\w.@+-]{0,63}")


class GradingError(Exception):
    """Something an instructor must fix before grading can go on; the message says what."""


@dataclass(frozen=True)
class Course:
    """nbgrader's course folders, as absolute paths, and the config they came from."""

    config_file: Path
    root: Path
    source: Path
    release: Path
    submitted: Path
    autograded: Path
    feedback: Path
    db_url: str
    course_id: str

    @property
    def grader(self) -> Path:
        return self.config_file.parent

    @property
    def work(self) -> Path:
        """Scratch space for grading jobs (one folder per student and lesson)."""
        return self.grader / "work"

    @property
    def reports(self) -> Path:
        """One JSON report per student and lesson: score per test cell and the reasons for lost points."""
        return self.grader / "reports"

    def lessons(self) -> list[str]:
        """Lesson (assignment) ids: folders of the source directory holding a notebook of the same name."""
        if not self.source.is_dir():
            raise GradingError(f"no source folder {self.source}: check CourseDirectory.source_directory "
                               f"in {self.config_file}")
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))

    def check_lesson(self, lesson: str) -> str:
        """``lesson`` if the course has it; otherwise an error naming the lessons it has."""
        if lesson not in self.lessons():
            raise GradingError(f"no such lesson {lesson!r}; lessons are {', '.join(self.lessons())}")
        return lesson

    def notebooks(self, lesson: str) -> list[str]:
        """The notebook file names a submission of ``lesson`` must contain."""
        return sorted(p.name for p in (self.source / lesson).glob("*.ipynb"))

    def nbgrader_config(self, **overrides):
        """The traitlets Config nbgrader would load from config_file, with absolute course paths."""
        return load_config(self.config_file, **{"CourseDirectory.root": str(self.root), **overrides})


def load_config(config_file: Path, **overrides):
    """An nbgrader config file as a traitlets Config, with ``{"Section.name": value}`` overrides."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    for key, value in overrides.items():
        section, name = key.rsplit(".", 1)
        config[section][name] = value
    return config


def _tools_on_path() -> None:
    """nbgrader runs ``alembic`` (gradebook migrations) by name: the environment's bin must be on PATH."""
    import os
    import sys

    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def find_config(config_file: str | Path | None = None, cwd: str | Path | None = None) -> Path:
    """The course's nbgrader config: ``config_file`` if given, else ``grader/nbgrader_config.py`` of the
    current directory (or ``nbgrader_config.py`` when run from inside ``grader/``). Never where this package
    is installed: a second clone graded with the first clone's environment must grade the second clone."""
    if config_file is not None:
        path = Path(config_file).expanduser().resolve()
        if not path.is_file():
            raise GradingError(f"no nbgrader config at {path}: pass the path of a course's {CONFIG_NAME}")
        return path
    here = Path(cwd or Path.cwd()).resolve()
    for path in (here / "grader" / CONFIG_NAME, here / CONFIG_NAME):
        if path.is_file():
            return path
    raise GradingError(f"no course in {here}: run from the course's folder (the one holding grader/{CONFIG_NAME}) "
                       f"or pass --config PATH/TO/{CONFIG_NAME}")


def load_course(config_file: str | Path | None = None) -> Course:
    """The course described by an nbgrader config file (default: found from the current directory, see find_config)."""
    _tools_on_path()
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    path = find_config(config_file)
    config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    coursedir = CourseDirectory(config=config)
    root = Path(coursedir.root).resolve()

    def folder(name: str) -> Path:
        return (root / getattr(coursedir, f"{name}_directory")).resolve()

    return Course(config_file=path, root=root, source=folder("source"), release=folder("release"),
                  submitted=folder("submitted"), autograded=folder("autograded"), feedback=folder("feedback"),
                  db_url=coursedir.db_url, course_id=coursedir.course_id)


def check_student_id(student: str) -> str:
    """``student`` if it is usable as a folder name: letters (composed, NFC) and digits of any alphabet, ``._@+-``."""
    if not STUDENT_ID.fullmatch(student) or unicodedata.normalize("NFC", student) != student:
        raise GradingError(f"student id {student!r} is not usable as a folder name: use letters of any alphabet "
                           "(in composed form, NFC), digits and ._@+- (at most 64 characters, starting with a "
                           "letter or digit)")
    return student


def printable(text: str) -> str:
    """``text`` as UTF-8 can carry it: a name that is not Unicode text (a lone surrogate) is escaped, not fatal."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def described(error: BaseException) -> str:
    """An exception in one line of printable text (its message may hold what a submission put there)."""
    text = printable(" ".join(str(error).split())[:300])
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
