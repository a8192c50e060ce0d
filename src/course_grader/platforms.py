"""Learning platforms' "download all submissions" exports, read with nbgrader's zip_collect plugins.

- :class:`CanvasFileNames`: ``doejane_12345_67890_01_why_finetune.ipynb`` (``late_`` after the
  login when late, ``-1``, ``-2`` before ``.ipynb`` for resubmissions, undone);
- :class:`MoodleFileNames`: ``Jane Doe_12345_assignsubmission_file_/01_why_finetune.ipynb`` (or
  without the ``/``);
- :class:`KeepEntryTimes`: nbgrader's zip extractor, keeping each entry's time.

``grade collect`` (:mod:`.collect`) uses them; stock nbgrader takes the collectors as well
(``nbgrader zip_collect LESSON --collector=course_grader.platforms.CanvasFileNames``), though it
refuses a student folder that is not empty, or with ``--force`` deletes what is there. A pattern
of the course's own can replace a default: ``c.CanvasFileNames.named_regexp = r"..."`` in the
course's nbgrader config (groups ``student_id`` and ``file_id``, matched against the whole path).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from pathlib import Path

from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from traitlets import List, Unicode, default


class KeepEntryTimes(ExtractorPlugin):
    """nbgrader's extractor, each extracted file's modification time set to its zip entry's (taken as UTC)."""

    def extract(self, archive_path: str, extracted_path: str) -> None:
        super().extract(archive_path, extracted_path)
        for root, _, names in os.walk(archive_path):
            for name in names:
                stem, ext = os.path.splitext(name)
                if ext not in self.zip_ext or not zipfile.is_zipfile(os.path.join(root, name)):
                    continue
                folder = Path(extracted_path, os.path.relpath(root, archive_path), stem)  # where nbgrader put it
                with zipfile.ZipFile(os.path.join(root, name)) as archive:
                    for info in archive.infolist():
                        if not info.is_dir() and (folder / info.filename).is_file():
                            when = dt.datetime(*info.date_time, tzinfo=dt.timezone.utc).timestamp()
                            os.utime(folder / info.filename, (when, when))


def student_id_from_name(name: str) -> str:
    """A platform's name for a student as a folder name: ``Jane Doe`` -> ``jane-doe``."""
    return re.sub(r"[^A-Za-z0-9._@+-]+", "-", name).strip("-").lower()


class CanvasFileNames(FileNameCollectorPlugin):
    """Canvas's ``login_[late_]USERID_ATTACHMENTID_file.ipynb``, a resubmission's ``-1`` undone."""

    released_notebooks = List(Unicode(), help="The lesson's notebook names: a resubmission's '-N' suffix is undone "
                              "when that gives one of them (always, where this is empty).").tag(config=True)

    @default("named_regexp")
    def _canvas_names(self) -> str:
        return r".*/(?P<student_id>[^/_]+)_(?:late_)?\d+_\d+_(?P<file_id>[^/]+)$"

    def collect(self, submitted_file: str) -> dict | None:
        info = super().collect(submitted_file)
        if info:
            info["student_id"] = student_id_from_name(info["student_id"])
            stripped = re.sub(r"-\d+(\.ipynb)$", r"\1", info["file_id"])
            released = self.released_notebooks
            if info["file_id"] not in released and (stripped in released or not released):
                info["file_id"] = stripped
        return info


class MoodleFileNames(FileNameCollectorPlugin):
    """Moodle's ``Full Name_USERID_assignsubmission_file_/file.ipynb``, in a folder per student or not."""

    @default("named_regexp")
    def _moodle_names(self) -> str:
        return r".*/(?P<student_id>[^/]+?)_\d+_assignsubmission_file_/?(?P<file_id>[^/]+)$"

    def collect(self, submitted_file: str) -> dict | None:
        info = super().collect(submitted_file)
        if info:
            info["student_id"] = student_id_from_name(info["student_id"])
        return info


PLATFORMS = {"canvas": CanvasFileNames, "moodle": MoodleFileNames}
