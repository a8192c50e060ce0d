"""Collect never loses an innocent student, never follows a link, never writes outside grader/submitted/.

Each hostile source is built here, next to innocent students who must still be collected with
their bytes unchanged: bad zip entries (``..``, absolute paths, links, files that are not what
their names say, a zip bomb), a student's own zip naming another student, names that differ only
in accents, and links in a collected folder or planted in ``submitted/`` itself.
"""

import io
import json
import os
import random
import shutil
import stat
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402

from course_grader import cli, workflow  # noqa: E402
from course_grader.course import GradingError, check_student_id, load_course  # noqa: E402
from course_grader.intake.checks import inspect  # noqa: E402
from course_grader.intake.collect import MIB, NAMES, CollectLimits  # noqa: E402
from course_grader.intake.platforms import student_id_from_name  # noqa: E402
from course_grader.jobs import job as jobs
from course_grader.jobs.merge import merge  # noqa: E402
from course_grader.kernel import sandbox

LESSON = fx.LESSON
NB = f"{LESSON}.ipynb"
WHEN = (2026, 11, 30, 9, 0, 0)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A released fixture course (released once), a completed notebook and the blank one."""
    root = tmp_path_factory.mktemp("released") / "course"
    return (root, *fx.released_course(root))


@pytest.fixture()
def course(released, tmp_path):
    """A fresh copy of the released course, so that each test starts with nothing submitted."""
    shutil.copytree(released[0], tmp_path / "course", symlinks=True)
    return load_course(tmp_path / "course" / "grader" / "nbgrader_config.py")


@pytest.fixture()
def good(released):
    return released[1]


@pytest.fixture()
def blank(released):
    return released[2]


def files_under(folder: Path) -> dict[str, bytes | str]:
    """Every file under ``folder`` (links as their target, never followed), by relative path."""
    out = {}
    for top, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(top, name)
            if path.is_symlink():
                out[path.relative_to(folder).as_posix()] = "-> " + os.readlink(path)
            elif path.is_file():
                out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def new_files_outside_submitted(before, after, course, root):
    """What appeared or changed under ``root`` other than in grader/submitted/, grader/submitted_previous/ and
    grader/student_names.json (who each platform student id is)."""
    mine = [course.submitted.relative_to(root).as_posix(),
            (course.grader / "submitted_previous").relative_to(root).as_posix()]
    names = (course.grader / NAMES).relative_to(root).as_posix()
    return sorted(name for name, data in after.items()
                  if before.get(name) != data and name != names and not any(name.startswith(m + "/") for m in mine))


def entry(name: str, kind: int = stat.S_IFREG, when=WHEN) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, when)
    info.create_system = 3  # unix: the file type travels in the high bits
    info.external_attr = (kind | 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def submitted(course, student, name=NB) -> bytes:
    return (course.submitted / student / LESSON / name).read_bytes()


# -- one bad entry never loses the class ---------------------------------------------------------
def test_every_bad_entry_is_skipped_with_its_reason_and_the_rest_of_the_zip_collected(course, good, blank, tmp_path,
                                                                                       monkeypatch, capsys):
    source = tmp_path / "export.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(entry(f"export/ann/{LESSON}/{NB}"), good)
        z.writestr(entry(f"export/../../escaped/{LESSON}/{NB}"), good)
        z.writestr(entry(f"/tmp/absolute/{LESSON}/{NB}"), good)
        z.writestr(entry(f"C:/absolute/{LESSON}/{NB}"), good)
        z.writestr(entry(f"export/mallory/{LESSON}/{NB}", stat.S_IFLNK), f"../../../source/{LESSON}/{NB}")
        z.writestr(entry(f"export/pipe/{LESSON}/{NB}", stat.S_IFIFO), b"")
        z.writestr(entry(f"export/eve/{LESSON}/{NB}"), b"this is not a notebook")
        z.writestr(entry(f"export/gus/{LESSON}/{NB}"), b'{"cells": "not a notebook"}')
        z.writestr(entry(f"export/trent/{LESSON}/work.zip"), b"not a zip at all")
        z.writestr(entry(f"export/bo/{LESSON}/{NB}"), blank)
        # A bomb: 65 MiB of zeros (the hostile round's held 1.25 GiB), over the 64 MiB limit a file.
        with z.open(entry(f"export/bomb/{LESSON}/{NB}"), "w", force_zip64=True) as stream:
            for _ in range(65):
                stream.write(bytes(MIB))
        z.writestr(entry(f"export/ratio/{LESSON}/{NB}"), bytes(4 * MIB))  # under the limit, but ~1000:1
    opened = []
    original_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return original_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    root = tmp_path
    before = files_under(root)
    assert cli.main(["--config", str(course.config_file), "collect", str(source)]) == 0
    shown = capsys.readouterr().out
    got = workflow.collect(course, source)  # again: the same outcome, all unchanged

    assert got.unchanged == [f"ann/{LESSON}/{NB}", f"bo/{LESSON}/{NB}"]
    assert "imported: 2\n" in shown and f"  ann/{LESSON}/{NB}" in shown and "skipped: 10" in shown
    assert submitted(course, "ann") == good and submitted(course, "bo") == blank  # byte for byte
    assert sorted(p.name for p in course.submitted.iterdir()) == ["ann", "bo"]
    reasons = dict(line.split(": ", 1) for line in got.skipped)
    assert set(reasons) == {f"export/../../escaped/{LESSON}/{NB}", f"/tmp/absolute/{LESSON}/{NB}",
                            f"C:/absolute/{LESSON}/{NB}", f"export/mallory/{LESSON}/{NB}",
                            f"export/pipe/{LESSON}/{NB}", f"export/eve/{LESSON}/{NB}", f"export/gus/{LESSON}/{NB}",
                            f"export/trent/{LESSON}/work.zip", f"export/bomb/{LESSON}/{NB}",
                            f"export/ratio/{LESSON}/{NB}"}
    assert "'..'" in reasons[f"export/../../escaped/{LESSON}/{NB}"]
    assert "absolute path" in reasons[f"/tmp/absolute/{LESSON}/{NB}"]
    assert "absolute path" in reasons[f"C:/absolute/{LESSON}/{NB}"]
    assert "symbolic link" in reasons[f"export/mallory/{LESSON}/{NB}"]
    assert "not a regular file" in reasons[f"export/pipe/{LESSON}/{NB}"]
    assert "not valid JSON" in reasons[f"export/eve/{LESSON}/{NB}"]
    assert "not a valid Jupyter notebook" in reasons[f"export/gus/{LESSON}/{NB}"]
    assert "not a zip file" in reasons[f"export/trent/{LESSON}/work.zip"]
    assert "65.0 MiB, over the limit of 64 MiB" in reasons[f"export/bomb/{LESSON}/{NB}"]
    assert "zip bomb" in reasons[f"export/ratio/{LESSON}/{NB}"]
    # Refused on what the headers say, before anything is unpacked: neither bomb was ever opened.
    assert f"export/bomb/{LESSON}/{NB}" not in opened and f"export/ratio/{LESSON}/{NB}" not in opened
    assert f"export/ann/{LESSON}/{NB}" in opened
    # Nothing written anywhere but grader/submitted/ (the scratch folder is gone too).
    assert new_files_outside_submitted(before, files_under(root), course, root) == []
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/absolute").exists()


def test_a_platform_export_with_bad_entries_still_collects_every_innocent(course, good, blank, tmp_path):
    source = tmp_path / "canvas.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(entry(f"doejane_11_21_{NB}"), good)
        z.writestr(entry(f"../smithbob_12_22_{NB}"), good)
        z.writestr(entry(f"/abs/leeann_13_23_{NB}"), good)
        z.writestr(entry(f"mallory_14_24_{NB}", stat.S_IFLNK), "/etc/passwd")
        z.writestr(entry(f"eve_15_25_{NB}"), good[:-100])  # cut short
        z.writestr(entry("trent_16_26_work.zip"), b"PK\x03\x04 but not really a zip")
        z.writestr(entry(f"lee_17_27_{NB}"), blank)
        z.writestr(entry("x_18_28_ok-\x01.ipynb"), good)
    before = files_under(tmp_path)
    got = workflow.collect(course, source, lesson=LESSON, lms="canvas")
    assert got.imported == [f"doejane/{LESSON}/{NB}", f"lee/{LESSON}/{NB}"]
    assert submitted(course, "doejane") == good and submitted(course, "lee") == blank
    assert [line.split(": ", 1)[0] for line in got.skipped] == [
        f"../smithbob_12_22_{NB}", f"/abs/leeann_13_23_{NB}", f"mallory_14_24_{NB}", f"eve_15_25_{NB}",
        "trent_16_26_work.zip", "x_18_28_ok-\x01.ipynb"]
    assert new_files_outside_submitted(before, files_under(tmp_path), course, tmp_path) == []
    assert json.loads((course.grader / NAMES).read_text()) == {"canvas": {
        "doejane": {"key": "user 11", "shown": "doejane (user 11)"},
        "lee": {"key": "user 17", "shown": "lee (user 17)"}}}


def test_a_zip_over_the_total_limit_stops_before_anything_is_written(course, good, tmp_path):
    source = tmp_path / "export.zip"
    with zipfile.ZipFile(source, "w") as z:
        for student in ("ann", "bo", "cy"):
            z.writestr(entry(f"{student}/{LESSON}/{NB}"), good)
    limits = CollectLimits(total_bytes=2 * len(good))
    with pytest.raises(GradingError, match=r"over the limit of .* CollectLimits.total_bytes"):
        workflow.collect(course, source, limits=limits)
    assert not course.submitted.exists()
    assert [p.name for p in course.grader.iterdir() if p.name.startswith(".collect-")] == []


# -- a student's own zip is that student's, whatever its names say --------------------------------
def test_a_nested_zip_never_replaces_another_students_submission(course, good, blank, tmp_path):
    def zipped(files: dict[str, bytes], when=(2026, 12, 3, 9, 0, 0)) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as inner:
            for name, data in files.items():
                inner.writestr(entry(name, when=when), data)
        return buffer.getvalue()

    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as z:
        z.writestr(entry(f"doejane_11_21_{NB}"), good)
        # mallory's own zip holds a blank notebook named as doejane's, and a later time inside
        z.writestr(entry("mallory_14_24_work.zip", when=(2026, 12, 1, 9, 0, 0)),
                   zipped({f"doejane_11_99_{NB}": blank, f"../doejane_11_98_{NB}": blank}))
        # bo zipped his folder: his notebook inside it is collected as his
        z.writestr(entry("bo_12_22_mywork.zip", when=(2026, 12, 2, 9, 0, 0)), zipped({f"mywork/{NB}": good}))
    got = workflow.collect(course, canvas, lesson=LESSON, lms="canvas")
    assert submitted(course, "doejane") == good, "doejane's own notebook must stay hers"
    assert submitted(course, "bo") == good
    assert sorted(p.name for p in course.submitted.iterdir()) == ["bo", "doejane", "mallory"]
    assert (course.submitted / "mallory" / LESSON / f"doejane_11_99_{NB}").read_bytes() == blank
    assert not (course.submitted / "mallory" / LESSON / f"doejane_11_98_{NB}").exists()
    assert any(line.startswith(f"mallory_14_24_work.zip:../doejane_11_98_{NB}: ") and "'..'" in line
               for line in got.skipped), got.skipped
    # The time of a student's own zip is the platform's, never one written inside it.
    assert (course.submitted / "bo" / LESSON / "timestamp.txt").read_text().startswith("2026-12-02 09:00:00")

    layout = tmp_path / "export.zip"  # nbgrader's layout: a zip in mallory's folder naming ann's
    with zipfile.ZipFile(layout, "w") as z:
        z.writestr(entry(f"ann/{LESSON}/{NB}"), good)
        z.writestr(entry(f"mallory/{LESSON}/x.zip", when=(2026, 12, 5, 9, 0, 0)),
                   zipped({f"ann/{LESSON}/{NB}": blank, f"ann/{LESSON}/timestamp.txt": b"2020-01-01 00:00:00 UTC"}))
    got = workflow.collect(course, layout)
    assert submitted(course, "ann") == good and submitted(course, "mallory") == blank
    assert (course.submitted / "mallory" / LESSON / "timestamp.txt").read_text().startswith("2026-12-05 09:00:00")


def test_a_nested_zip_bomb_is_refused_whole(course, good, tmp_path):
    digits = random.Random(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as inner:
        for i in range(3):  # each under the limit a file, together over it; the zip itself under it
            inner.writestr(entry(f"part{i}.txt"), "".join(digits.choices("0123456789", k=MIB // 2)))
    assert len(buffer.getvalue()) < MIB
    limits = CollectLimits(file_bytes=MIB)
    source = tmp_path / "export.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(entry(f"ann/{LESSON}/{NB}"), good)
        z.writestr(entry(f"mallory/{LESSON}/bomb.zip"), buffer.getvalue())
    got = workflow.collect(course, source, limits=limits)
    assert got.imported == [f"ann/{LESSON}/{NB}"]
    assert [line for line in got.skipped if line.startswith(f"mallory/{LESSON}/bomb.zip: holds 1.5 MiB")]
    assert not (course.submitted / "mallory").exists()


# -- two students never become one ----------------------------------------------------------------
def test_names_that_differ_only_in_accents_stay_two_students(course, good, blank, tmp_path):
    source = tmp_path / "moodle.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(entry(f"Zoë Martin_77_assignsubmission_file_/{NB}"), good)
        z.writestr(entry(f"Zoé Martin_78_assignsubmission_file_/{NB}", when=(2026, 12, 1, 9, 0, 0)), blank)
        # the same student's file again, spelled decomposed (NFD) as macOS writes names: still Zoë
        z.writestr(entry("Zoe\u0308 Martin_77_assignsubmission_file_/notes.ipynb"), blank)
    got = workflow.collect(course, source, lesson=LESSON, lms="moodle")
    assert got.imported == [f"zoë-martin/{LESSON}/{NB}", f"zoë-martin/{LESSON}/notes.ipynb",
                            f"zoé-martin/{LESSON}/{NB}"]
    assert submitted(course, "zoë-martin") == good and submitted(course, "zoé-martin") == blank
    assert student_id_from_name("Zoë Martin") != student_id_from_name("Zoé Martin")
    assert student_id_from_name("Zoe\u0308 Martin") == student_id_from_name("Zoë Martin") == "zoë-martin"
    assert student_id_from_name("İlker Öz") == "ilker-öz" and student_id_from_name("李 明") == "李-明"
    assert check_student_id("zoë-martin") == "zoë-martin"
    for bad in ("zoe\u0308", "ann\n", "-ann", "a/b", ""):
        with pytest.raises(GradingError, match="not usable as a folder name"):
            check_student_id(bad)


def test_two_students_who_would_share_an_id_stop_collect_before_anything_is_written(course, good, blank, tmp_path):
    source = tmp_path / "moodle.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(entry(f"Ann Lee_31_assignsubmission_file_/{NB}"), good)
        z.writestr(entry(f"Jane Doe_77_assignsubmission_file_/{NB}"), good)
        z.writestr(entry(f"Jane Doe_78_assignsubmission_file_/{NB}", when=(2026, 12, 1, 9, 0, 0)), blank)
    with pytest.raises(GradingError, match=r"Jane Doe \(user 77\) and Jane Doe \(user 78\) -> jane-doe") as error:
        workflow.collect(course, source, lesson=LESSON, lms="moodle")
    assert "nothing was collected" in str(error.value)
    assert not course.submitted.exists()

    folder = tmp_path / "export"  # nbgrader's layout: two folders, one name in two Unicode spellings
    for name, data in (("zoë", good), ("zoe\u0308", blank)):
        (folder / name / LESSON).mkdir(parents=True)
        (folder / name / LESSON / NB).write_bytes(data)
    with pytest.raises(GradingError, match=r"folder 'zo\\xeb' and folder 'zoe\\u0308' -> zoë"):
        workflow.collect(course, folder)
    assert not course.submitted.exists()


def test_a_student_id_given_in_an_earlier_collect_is_never_given_to_another_student(course, good, blank, tmp_path):
    first, second = tmp_path / "week1.zip", tmp_path / "week2.zip"
    with zipfile.ZipFile(first, "w") as z:
        z.writestr(entry(f"Jane Doe_77_assignsubmission_file_/{NB}"), good)
    with zipfile.ZipFile(second, "w") as z:  # another Jane Doe (user 78), and Jane (77) again under a new name
        z.writestr(entry(f"Jane Doe_78_assignsubmission_file_/{NB}", when=(2026, 12, 8, 9, 0, 0)), blank)
        z.writestr(entry(f"Ann Lee_31_assignsubmission_file_/{NB}"), good)
    assert workflow.collect(course, first, lesson=LESSON, lms="moodle").imported == [f"jane-doe/{LESSON}/{NB}"]
    with pytest.raises(GradingError, match=r"Jane Doe \(user 78\) would be student jane-doe, who is Jane Doe "
                                           r"\(user 77\) in an earlier collect"):
        workflow.collect(course, second, lesson=LESSON, lms="moodle")
    assert submitted(course, "jane-doe") == good and not (course.submitted / "ann-lee").exists()
    assert workflow.collect(course, first, lesson=LESSON, lms="moodle").unchanged == [f"jane-doe/{LESSON}/{NB}"]


def test_a_tie_between_two_copies_skips_that_file_only(course, good, blank, tmp_path):
    source = tmp_path / "export.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(entry(f"a/ann/{LESSON}/{NB}"), good)
        z.writestr(entry(f"b/ann/{LESSON}/{NB}"), blank)
        z.writestr(entry(f"bo/{LESSON}/{NB}"), good)
    got = workflow.collect(course, source)
    assert got.imported == [f"bo/{LESSON}/{NB}"] and not (course.submitted / "ann").exists()
    assert got.skipped == [f"a/ann/{LESSON}/{NB} and b/ann/{LESSON}/{NB}: both are ann/{LESSON}/{NB}, and their "
                           "times do not say which is the later one; neither was collected: leave only one of them "
                           "in the source"]


# -- links: never followed, never written through ------------------------------------------------
def test_links_in_a_collected_folder_are_refused_and_never_followed(course, good, tmp_path):
    solution = course.source / LESSON / NB
    export = tmp_path / "export"
    (export / "ann" / LESSON).mkdir(parents=True)
    (export / "ann" / LESSON / NB).write_bytes(good)
    (export / "mallory" / LESSON).mkdir(parents=True)
    (export / "mallory" / LESSON / NB).symlink_to(solution)          # the notebook a link
    (export / "trudy").mkdir()
    (export / "trudy" / LESSON).symlink_to(course.source / LESSON)   # the lesson folder a link
    (export / "victor").symlink_to(course.source)                    # the student folder a link (source/fixture/...)
    (export / "pipe" / LESSON).mkdir(parents=True)
    os.mkfifo(export / "pipe" / LESSON / NB)                         # would hang a plain read
    (tmp_path / "linked").symlink_to(export)  # the folder the instructor names may itself be a link
    got = workflow.collect(course, tmp_path / "linked")
    assert got.imported == [f"ann/{LESSON}/{NB}"] and submitted(course, "ann") == good
    reasons = dict(line.split(": ", 1) for line in got.skipped)
    assert set(reasons) == {f"mallory/{LESSON}/{NB}", f"trudy/{LESSON}", "victor", f"pipe/{LESSON}/{NB}"}
    assert all(reasons[name].startswith(f"a symbolic link (to {target}), not followed") for name, target in
               ((f"mallory/{LESSON}/{NB}", solution), (f"trudy/{LESSON}", course.source / LESSON),
                ("victor", course.source)))
    assert "not a regular file" in reasons[f"pipe/{LESSON}/{NB}"]
    solution_text = solution.read_bytes()
    assert all(data != solution_text for data in files_under(course.submitted).values())


def test_collect_never_writes_through_a_link_planted_in_submitted(course, good, blank, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = tmp_path / "precious.ipynb"
    precious.write_bytes(b"the instructor's own file")
    course.submitted.mkdir(parents=True)
    (course.submitted / "ann").symlink_to(outside)                   # a student folder that is a link
    (course.submitted / "bo" / LESSON).mkdir(parents=True)
    (course.submitted / "bo" / LESSON / NB).symlink_to(precious)     # a notebook that is a link
    (course.submitted / "bo" / LESSON / "timestamp.txt").symlink_to(precious)
    source = tmp_path / "export.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(entry(f"ann/{LESSON}/{NB}"), good)
        z.writestr(entry(f"bo/{LESSON}/{NB}"), blank)
    got = workflow.collect(course, source)
    assert got.replaced == [f"bo/{LESSON}/{NB}"] and got.imported == []
    assert [line for line in got.skipped if line.startswith(f"ann/{LESSON}/{NB}: ")
            and "is a symbolic link" in line and "nothing is written through it" in line]
    assert list(outside.iterdir()) == [] and precious.read_bytes() == b"the instructor's own file"
    target = course.submitted / "bo" / LESSON / NB
    assert not target.is_symlink() and target.read_bytes() == blank
    assert not (target.parent / "timestamp.txt").is_symlink()
    [kept] = (course.grader / "submitted_previous").glob(f"*/bo/{LESSON}/{NB}")
    assert kept.is_symlink() and os.readlink(kept) == str(precious), "the link is set aside as a link"


# -- and autograde: a link in submitted/ is refused with a reason, never read ---------------------
def test_autograde_checks_refuse_links_in_submitted_with_a_reason(course, good):
    solution = course.source / LESSON / NB
    folders = {s: course.submitted / s / LESSON for s in ("ann", "mallory", "pipe", "stamp")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    (folders["ann"] / NB).write_bytes(good)
    (folders["mallory"] / NB).symlink_to(solution)
    os.mkfifo(folders["pipe"] / NB)
    (folders["stamp"] / NB).write_bytes(good)
    (folders["stamp"] / "timestamp.txt").symlink_to(solution)
    (course.submitted / "trudy").mkdir()
    (course.submitted / "trudy" / LESSON).symlink_to(course.source / LESSON)
    (course.submitted / "victor").symlink_to(course.submitted / "ann")

    ann = inspect(course, "ann", LESSON)
    assert ann.gradable == [NB] and ann.files == {NB: good} and ann.rejected == {}
    expected = {"mallory": f"{NB}: not graded, {NB} is a symbolic link",
                "pipe": f"{NB}: not graded, {NB} is not a regular file",
                "stamp": f"{NB}: not graded, timestamp.txt is a symbolic link",
                "trudy": f"{NB}: not graded, trudy/{LESSON} is a symbolic link",
                "victor": f"{NB}: not graded, victor is a symbolic link"}
    for student, reason in expected.items():
        submission = inspect(course, student, LESSON)
        assert submission.gradable == [] and submission.files == {}, student
        assert submission.rejected[NB].startswith(reason), (student, submission.rejected)
    report = merge(course, inspect(course, "mallory", LESSON), None)
    assert report.status == "rejected" and report.score == 0
    assert any("symbolic link" in reason for reason in report.reasons)

    # The job carries the bytes that were checked: a link swapped in afterwards is never read.
    (folders["ann"] / NB).unlink()
    (folders["ann"] / NB).symlink_to(solution)
    job = jobs.build_job(course, ann, sandbox.Limits(), False, {}, {}, folder=None)
    assert job.files == {NB: good}
    ann.files.clear()
    with pytest.raises(ValueError, match="takes a Submission from checks.inspect"):
        jobs.build_job(course, ann, sandbox.Limits(), False, {}, {}, folder=None)
