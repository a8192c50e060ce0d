"""Learning platforms' "download all submissions" exports, read with nbgrader's zip_collect plugins.

- :class:`CanvasFileNames`: ``doejane_12345_67890_01_why_finetune.ipynb`` (``late_`` after the
  login when late, ``-1``, ``-2`` before ``.ipynb`` for resubmissions, undone);
- :class:`MoodleFileNames`: ``Jane Doe_12345_assignsubmission_file_/01_why_finetune.ipynb`` (or
  without the ``/``).

Each gives, besides nbgrader's ``student_id`` and ``file_id``, the platform's own ``student_name``
and, where the file name has it, its ``user`` number: ``grade collect`` (:mod:`.collect`) stops
when two different students would get one id. ``grade collect`` uses them; stock nbgrader takes
the collectors as well (``nbgrader zip_collect LESSON
--collector=course_grader.intake.platforms.CanvasFileNames``), though it refuses a student folder that
is not empty, or with ``--force`` deletes what is there. A pattern of the course's own can replace
a default: ``c.CanvasFileNames.named_regexp = r"..."`` in the course's nbgrader config (groups
``student_id`` and ``file_id``, optionally ``user``, matched against the whole path).
"""

from __future__ import annotations

import re
import unicodedata

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import List, Unicode, default


def student_id_from_name(name: str) -> str:
    """A platform's name for a student as a folder name: ``Jane Doe`` -> ``jane-doe``, ``Zoë`` -> ``zoë``.

    Letters and digits of any alphabet are kept, composed (NFC), so that names differing only in
    an accent stay two students; a mark with no composed form is dropped, anything else becomes ``-``.
    """
    name = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).lower())
    name = "".join(c for c in name if not unicodedata.category(c).startswith("M"))
    return re.sub(r"(?:[^\w.@+-]|_)+", "-", name).strip("-")


def _named(info: dict | None) -> dict | None:
    """The collector's match with the platform's name for the student kept, and the id made from it."""
    if info:
        info["student_name"] = unicodedata.normalize("NFC", info["student_id"])
        info["student_id"] = student_id_from_name(info["student_id"])
    return info


class CanvasFileNames(FileNameCollectorPlugin):
    """Canvas's ``login_[late_]USERID_ATTACHMENTID_file.ipynb``, a resubmission's ``-1`` undone."""

    released_notebooks = List(Unicode(), help="The lesson's notebook names: a resubmission's '-N' suffix is undone "
                              "when that gives one of them (always, where this is empty).").tag(config=True)

    @default("named_regexp")
    def _canvas_names(self) -> str:
        return r".*/(?P<student_id>[^/_]+)_(?:late_)?(?P<user>\d+)_\d+_(?P<file_id>[^/]+)$"

    def collect(self, submitted_file: str) -> dict | None:
        info = _named(super().collect(submitted_file))
        if info:
            stripped = re.sub(r"-\d+(\.ipynb)$", r"\1", info["file_id"])
            released = self.released_notebooks
            if info["file_id"] not in released and (stripped in released or not released):
                info["file_id"] = stripped
        return info


class MoodleFileNames(FileNameCollectorPlugin):
    """Moodle's ``Full Name_USERID_assignsubmission_file_/file.ipynb``, in a folder per student or not."""

    @default("named_regexp")
    def _moodle_names(self) -> str:
        return r".*/(?P<student_id>[^/]+?)_(?P<user>\d+)_assignsubmission_file_/?(?P<file_id>[^/]+)$"

    def collect(self, submitted_file: str) -> dict | None:
        return _named(super().collect(submitted_file))


PLATFORMS = {"canvas": CanvasFileNames, "moodle": MoodleFileNames}
