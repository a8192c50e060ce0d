"""One bad submission never stops a batch, and never costs an innocent a mark.

Each hostile notebook here is handed in beside an innocent one (the fixture lesson, completed):
metadata nested thousands of levels deep (``RecursionError`` in Python's JSON reader), a lone
surrogate in a cell together with a copied cell's repeated ``grade_id`` (``UnicodeEncodeError``
when the notebook is written back), and failures no one foresaw (an exception from the checks,
from building the job, or from recording its result). Each becomes that submission's result,
with a reason; the innocent's marks come out right. The same for collect, from a platform's zip
and from the exchange.
"""

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402

from course_grader import workflow  # noqa: E402
from course_grader.course import load_course  # noqa: E402
from course_grader.intake import exchange
from course_grader.jobs import batch
from course_grader.kernel import sandbox

LESSON = fx.LESSON
NB = f"{LESSON}.ipynb"
LIMITS = sandbox.Limits(cell_seconds=10, notebook_seconds=45)
FULL = {"test_square": 2, "test_mean": 2, "test_answer": 1}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("isolation") / "course"
    return root, fx.released_course(root)[0]


@pytest.fixture()
def course(released, tmp_path):
    shutil.copytree(released[0], tmp_path / "course", symlinks=True)
    return load_course(tmp_path / "course" / "grader" / "nbgrader_config.py")


def deeply_nested(good: bytes, depth: int = 5000) -> bytes:
    """A valid notebook whose metadata nests ``depth`` levels deep."""
    nb = json.loads(good)
    nb["metadata"]["deep"] = "DEEP"
    return json.dumps(nb).replace('"DEEP"', '{"a": ' * depth + "1" + "}" * depth).encode()


def surrogate_and_copied_cell(good: bytes) -> bytes:
    """A lone surrogate in a copy of a test cell, whose grade_id is then repeated."""
    nb = json.loads(good)
    copy = json.loads(json.dumps(next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))))
    copy["source"] = "x = '\ud800'"
    nb["cells"].append(copy)
    return json.dumps(nb).encode()  # ensure_ascii: the surrogate travels as the escape \ud800


def hand_in(course, student: str, data: bytes) -> None:
    folder = course.submitted / student / LESSON
    folder.mkdir(parents=True)
    (folder / NB).write_bytes(data)


def test_a_notebook_that_breaks_the_grader_is_that_students_result_and_the_batch_goes_on(course, released, bwrap,
                                                                                            monkeypatch):
    good = released[1]
    for student, data in [("ada", good), ("deep", deeply_nested(good)), ("surrogate", surrogate_and_copied_cell(good)),
                          ("unchecked", good), ("unbuilt", good), ("unrecorded", good), ("zoe", good)]:
        hand_in(course, student, data)
    # Failures no one foresaw, each in one student's submission: in the checks, in building its job, in recording it.
    def inspect(course, student, *args):
        if student == "unchecked":
            raise RuntimeError("nobody foresaw this \udcff in the checks")
        return real_inspect(course, student, *args)

    def build_job(course, submission, *args, **kwargs):
        if submission.student == "unbuilt":
            raise RuntimeError("nobody foresaw this in building the job")
        return real_build_job(course, submission, *args, **kwargs)

    def merge(course, submission, result):
        if submission.student == "unrecorded" and result is not None and result.success:
            raise RuntimeError("nobody foresaw this in recording the result")
        return real_merge(course, submission, result)

    real_inspect, real_build_job, real_merge = batch.inspect, batch.build_job, batch.merge
    monkeypatch.setattr(batch, "inspect", inspect)
    monkeypatch.setattr(batch, "build_job", build_job)
    monkeypatch.setattr(batch, "merge", merge)
    lines = []
    reports = {r.student: r for r in batch.autograde(course, jobs=2, limits=LIMITS, progress=lines.append)}

    assert sorted(reports) == ["ada", "deep", "surrogate", "unbuilt", "unchecked", "unrecorded", "zoe"]
    for innocent in ("ada", "zoe"):
        assert {k: v["score"] for k, v in reports[innocent].cells.items()} == FULL, reports[innocent].reasons
        assert reports[innocent].status == "ok"
    assert reports["deep"].status == "rejected" and "nested too deeply" in reports["deep"].reasons[0]
    assert reports["surrogate"].status == "rejected" and "lone surrogate" in reports["surrogate"].reasons[0]
    assert reports["unchecked"].status == "rejected"
    assert "could not be checked (RuntimeError: nobody foresaw this \\udcff in the checks)" \
        in reports["unchecked"].reasons[0]
    assert reports["unbuilt"].status == "failed"
    assert "its job could not be built (RuntimeError: nobody foresaw" in reports["unbuilt"].reasons[-1]
    assert reports["unrecorded"].status == "failed"
    assert "its result could not be recorded (RuntimeError: nobody foresaw" in reports["unrecorded"].reasons[-1]
    for report in reports.values():
        if report.student not in ("ada", "zoe"):
            assert report.score == 0
    "\n".join(lines).encode("utf-8")  # every progress line can be printed
    csv = workflow.export_csv(course, course.grader / "grades.csv").read_text()
    assert "ada,fixture,5,0,5,5,0,ok" in csv and "zoe,fixture,5,0,5,5,0,ok" in csv


def test_a_platform_zip_with_such_notebooks_still_collects_the_innocent(course, released, tmp_path):
    good = released[1]
    source = tmp_path / "canvas.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(zipfile.ZipInfo(f"deep_11_21_{NB}", (2026, 11, 30, 9, 0, 0)), deeply_nested(good))
        z.writestr(zipfile.ZipInfo(f"doejane_12_22_{NB}", (2026, 11, 30, 9, 0, 0)), good)
        z.writestr(zipfile.ZipInfo(f"odd_13_23_{NB}", (2026, 11, 30, 9, 0, 0)), surrogate_and_copied_cell(good))
        inner = zipfile.ZipFile(own := tmp_path / "own.zip", "w")
        inner.writestr(NB, deeply_nested(good, 900))  # read by json, then too deep for what comes after
        inner.close()
        z.writestr(zipfile.ZipInfo("nested_14_24_work.zip", (2026, 11, 30, 9, 0, 0)), own.read_bytes())
    got = workflow.collect(course, source, lesson=LESSON, lms="canvas")
    assert got.imported == [f"doejane/{LESSON}/{NB}"]
    assert (course.submitted / "doejane" / LESSON / NB).read_bytes() == good
    reasons = dict(line.split(": ", 1) for line in got.skipped)
    assert "nested too deeply" in reasons[f"deep_11_21_{NB}"]
    assert "lone surrogate" in reasons[f"odd_13_23_{NB}"]
    assert "nested more than 64 levels deep" in reasons[f"nested_14_24_work.zip:{NB}"]


def test_a_folder_source_with_a_name_that_is_not_text_collects_the_rest(course, released, tmp_path):
    good = released[1]
    export = tmp_path / "export"
    (export / "ada" / LESSON).mkdir(parents=True)
    (export / "ada" / LESSON / NB).write_bytes(good)
    os.makedirs(os.path.join(os.fsencode(export), b"b\xffb", LESSON.encode()))
    with open(os.path.join(os.fsencode(export), b"b\xffb", LESSON.encode(), NB.encode()), "wb") as f:
        f.write(good)
    got = workflow.collect(course, export)
    assert got.imported == [f"ada/{LESSON}/{NB}"]
    assert len(got.skipped) == 1 and "b\\udcffb" in got.skipped[0]
    "\n".join(got.skipped).encode("utf-8")  # what collect reports can be printed


def test_an_exchange_submission_that_breaks_collect_leaves_the_others(course, released, tmp_path, monkeypatch):
    good = released[1]
    me = __import__("pwd").getpwuid(os.geteuid()).pw_name
    inbound = tmp_path / "exchange" / course.course_id / "inbound"
    for stamp in ("2026-11-30 09:00:00.000000 UTC", "2026-11-30 10:00:00.000000 UTC"):
        folder = inbound / f"{me}+{LESSON}+{stamp}+r{stamp[11:13]}"
        folder.mkdir(parents=True)
        (folder / NB).write_bytes(good)
    monkeypatch.setattr(exchange, "exchange_root", lambda course: tmp_path / "exchange")
    stage = exchange._stage

    def failing(submission, target, limits):
        if submission.folder.name.endswith("+r10"):
            raise OSError("a folder that could not be read")
        return stage(submission, target, limits)

    monkeypatch.setattr(exchange, "_stage", failing)
    got = exchange.collect_exchange(course, LESSON)
    assert got.imported == [f"{me}/{LESSON}/{NB}"]
    assert (course.submitted / me / LESSON / NB).read_bytes() == good
    assert any("could not be collected (OSError: a folder that could not be read)" in line for line in got.skipped)


def test_a_file_that_cannot_be_written_is_skipped_and_the_students_after_it_collected(course, released, tmp_path):
    good = released[1]
    source = tmp_path / "export.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr(f"ann/{LESSON}/{NB}", good)
        z.writestr(f"bob/{LESSON}/{'n' * 300}.ipynb", good)  # a name longer than the file system takes
        z.writestr(f"zed/{LESSON}/{NB}", good)
    got = workflow.collect(course, source)
    assert got.imported == [f"ann/{LESSON}/{NB}", f"zed/{LESSON}/{NB}"]
    assert (course.submitted / "zed" / LESSON / NB).read_bytes() == good
    [skipped] = got.skipped
    assert skipped.startswith(f"bob/{LESSON}/nnn") and "File name too long" in skipped
