"""Grades out of the gradebook: the CSV, Canvas's and Moodle's gradebook imports, and late penalties.

The layouts are checked on a gradebook built here with nbgrader's own API (no grading: fast),
final scores against nbgrader's own CSV export; one test grades a late submission for real,
sandboxed, with a per-hour penalty configured in the course's nbgrader config.
"""

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
import sqlalchemy.exc
from nbgrader.api import Gradebook
from nbgrader.plugins import CsvExportPlugin

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402

from course_grader import cli, workflow  # noqa: E402
from course_grader.course import GradingError  # noqa: E402
from course_grader.jobs import batch
from course_grader.kernel import sandbox
from course_grader.results.export import FORMATS, GradesCsv  # noqa: E402
from course_grader.results.gradebooks import CanvasGradebook, MoodleGradebook  # noqa: E402
from course_grader.results.late import PenaltyPerHour  # noqa: E402

BIN = Path(sys.executable).parent
DUE = dt.datetime(2026, 12, 1, 12, 0, 0)
LESSONS = ("01_intro", "02_heads")


@pytest.fixture(autouse=True, scope="module")
def _alembic_on_path():
    # nbgrader's Gradebook runs `alembic` by name (load_course does this for the grader's own commands)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        yield


def build_gradebook(db_url: str, lessons=LESSONS) -> None:
    """Two lessons of 5 points (tests of 2 and 3); ann (named, with an LMS id and an email) is late for the
    first lesson with a 1.5-point penalty and never submits the second; bo (only an id) submits both."""
    with Gradebook(db_url, "fixture-course") as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)  # nbgrader's add_submission trips autoflush ones
        for lesson in lessons:
            gradebook.add_assignment(lesson, duedate=DUE)
            gradebook.add_notebook(lesson, lesson)
            gradebook.add_grade_cell("test_a", lesson, lesson, max_score=2, cell_type="code")
            gradebook.add_grade_cell("test_b", lesson, lesson, max_score=3, cell_type="code")
        gradebook.add_student("ann", first_name="Ann", last_name="Lee", email="ann@example.org", lms_user_id="1001")
        gradebook.add_student("bo")
        scored = {("ann", lessons[0]): (2, 3), ("bo", lessons[0]): (2, 0)}
        scored.update({("bo", lesson): (2, 3) for lesson in lessons[1:]})
        for (student, lesson), (a, b) in scored.items():
            late = student == "ann"
            gradebook.add_submission(lesson, student, timestamp=DUE + dt.timedelta(hours=2 if late else -1))
            gradebook.find_grade("test_a", lesson, lesson, student).auto_score = a
            gradebook.find_grade("test_b", lesson, lesson, student).auto_score = b
            gradebook.find_submission_notebook(lesson, lesson, student).late_submission_penalty = 1.5 if late else None
        gradebook.db.commit()


def read_csv(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def nbgrader_final_scores(db_url: str, tmp_path) -> dict[tuple[str, str], str]:
    """The oracle: nbgrader's own CSV export, whose score is the raw score less the late penalty."""
    with Gradebook(db_url, "fixture-course") as gradebook:
        CsvExportPlugin(to=str(tmp_path / "nbgrader.csv")).export(gradebook)
    with open(tmp_path / "nbgrader.csv", newline="") as f:
        return {(row["student_id"], row["assignment"]): f"{float(row['score']):g}" for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def gradebook_db(tmp_path_factory):
    db_url = f"sqlite:///{tmp_path_factory.mktemp('gradebook') / 'gradebook.db'}"
    build_gradebook(db_url)
    return db_url


def test_canvas_gradebook_has_canvas_import_layout_and_final_scores(gradebook_db, tmp_path):
    out = tmp_path / "canvas.csv"
    with Gradebook(gradebook_db, "fixture-course") as gradebook:
        CanvasGradebook(to=str(out), assignment_ids={"01_intro": 4411}).export(gradebook)
    header, points, *rows = read_csv(out)
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_intro (4411)", "02_heads"]
    assert points[0].strip() == "Points Possible" and points[1:] == ["", "", "", "", "5", "5"]
    assert rows == [["Lee, Ann", "1001", "", "ann", "", "3.5", "0"], ["bo", "", "", "bo", "", "2", "5"]]
    oracle = nbgrader_final_scores(gradebook_db, tmp_path)
    assert {(row[3], lesson): score for row in rows for lesson, score in zip(LESSONS, row[5:])} == oracle


def test_moodle_gradebook_has_an_identifier_column_and_a_column_per_lesson(gradebook_db, tmp_path):
    out = tmp_path / "moodle.csv"
    with Gradebook(gradebook_db, "fixture-course") as gradebook:
        MoodleGradebook(to=str(out)).export(gradebook)
    header, *rows = read_csv(out)
    assert header == ["First name", "Last name", "Username", "Email address", "01_intro", "02_heads"]
    assert rows == [["Ann", "Lee", "ann", "ann@example.org", "3.5", "0"], ["", "", "bo", "", "2", "5"]]
    assert {(row[2], lesson): score for row in rows for lesson, score in zip(LESSONS, row[4:])} == \
        nbgrader_final_scores(gradebook_db, tmp_path)


def test_grades_csv_shows_raw_score_penalty_and_final_score(gradebook_db, tmp_path):
    out = tmp_path / "grades.csv"
    with Gradebook(gradebook_db, "fixture-course") as gradebook:
        GradesCsv(to=str(out), assignment=["01_intro"], reports_directory=str(tmp_path / "no-reports")).export(gradebook)
    assert out.read_text() == (
        "student_id,lesson,raw_score,late_penalty,score,max_score,seconds_late,status,reasons,failed_tests\n"
        "ann,01_intro,5,1.5,3.5,5,7200,graded,,\n"
        "bo,01_intro,2,0,2,5,0,graded,,\n")


def test_stock_nbgrader_export_loads_our_plugins(gradebook_db, tmp_path):
    # What `nbgrader export --exporter=...` does with the class named on its command line.
    for exporter, name in (("course_grader.results.export.GradesCsv", "grades.csv"),
                           ("course_grader.results.gradebooks.CanvasGradebook", "canvas.csv")):
        done = subprocess.run([str(BIN / "nbgrader"), "export", f"--exporter={exporter}", f"--db={gradebook_db}",
                               "--course=fixture-course", f"--to={tmp_path / name}"], cwd=tmp_path,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    assert read_csv(tmp_path / "grades.csv")[1][:5] == ["ann", "01_intro", "5", "1.5", "3.5"]
    assert read_csv(tmp_path / "canvas.csv")[2] == ["Lee, Ann", "1001", "", "ann", "", "3.5", "0"]


def test_grade_export_writes_each_format_and_refuses_an_unknown_lesson(tmp_path, capsys):
    course = fx.make_course(tmp_path / "course")
    build_gradebook(course.db_url, lessons=(fx.LESSON,))
    export = ["--config", str(course.config_file), "export"]
    assert cli.main(export) == 0  # csv, the default
    for name in FORMATS:  # each format the grader has, offered by the command
        assert cli.main(export + ["--format", name, "--lesson", fx.LESSON]) == 0
    exports = course.grader / "exports"
    assert read_csv(exports / "grades.csv")[0] == workflow.CSV_COLUMNS
    assert read_csv(exports / "canvas_grades.csv")[0][5:] == [fx.LESSON]
    assert [row[4] for row in read_csv(exports / "moodle_grades.csv")] == [fx.LESSON, "3.5", "2"]
    capsys.readouterr()
    assert cli.main(export + ["--lesson", "02_nowhere"]) == 2
    assert "cannot export 02_nowhere: the released lessons are fixture" in capsys.readouterr().err
    with pytest.raises(GradingError, match="export format must be one of csv, canvas, moodle"):
        workflow.export_csv(course, format="blackboard")


def test_penalty_per_hour_counts_each_started_hour():
    plugin = PenaltyPerHour(penalty_per_hour=0.5)
    assert [plugin.late_submission_penalty("ann", 5, seconds) for seconds in (1, 3600, 3601, 7200)] == [0.5, 0.5, 1, 1]
    with pytest.raises(ValueError, match="penalty_per_hour must be 0 or more points; got -1"):
        PenaltyPerHour(penalty_per_hour=-1).late_submission_penalty("ann", 5, 60)


def test_a_late_submission_loses_the_penalty_the_course_config_sets(tmp_path, bwrap):
    course = fx.make_course(tmp_path)
    with open(course.config_file, "a") as config:
        config.write('c.AssignLatePenalties.plugin_class = "course_grader.results.late.PenaltyPerHour"\n'
                     "c.PenaltyPerHour.penalty_per_hour = 1\n")
    (course.grader / workflow.DUE_DATES).write_text(json.dumps({fx.LESSON: "2026-12-01 12:00:00 UTC"}))
    workflow.release(course)
    released = nbformat.read(course.release / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    for student, stamp in (("ontime", "2026-12-01 11:00:00.000000 UTC"), ("late2h", "2026-12-01 14:00:00.000000 UTC")):
        folder = course.submitted / student / fx.LESSON
        folder.mkdir(parents=True)
        (folder / f"{fx.LESSON}.ipynb").write_bytes(fx.submission("good", released))
        (folder / "timestamp.txt").write_text(stamp)
    limits = sandbox.Limits(cell_seconds=10, notebook_seconds=45)
    batch.autograde(course, jobs=2, limits=limits, progress=lambda line: None)
    with open(workflow.export_csv(course, tmp_path / "grades.csv"), newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    shown = {student: (row["raw_score"], row["late_penalty"], row["score"], row["seconds_late"], row["status"])
             for student, row in rows.items()}
    assert shown == {"late2h": ("5", "2", "3", "7200", "late"), "ontime": ("5", "0", "5", "0", "ok")}


def test_with_an_exchange_only_lessons_given_out_count(tmp_path):
    """A classroom publishes lessons one by one: one not given out yet is no one's missing 0 in the export."""
    exchange = tmp_path / "exchange"
    course = fx.write_course(tmp_path / "course", LESSONS[0], fx.source_notebook(), "fixture-course",
                             f"c.Exchange.root = {str(exchange)!r}\n")
    for lesson in (*LESSONS[1:], "03_later"):
        (course.source / lesson).mkdir()
        nbformat.write(fx.source_notebook(), course.source / lesson / f"{lesson}.ipynb")
    build_gradebook(course.db_url)  # bo hands in 02_heads, which was never published (given out by hand, say)
    with Gradebook(course.db_url, "fixture-course") as gradebook:
        gradebook.add_assignment("03_later", duedate=DUE)  # released, not published, no submission
    (exchange / "fixture-course" / "outbound" / LESSONS[0]).mkdir(parents=True)
    rows = workflow.grade_rows(course)
    assert sorted({row["lesson"] for row in rows}) == list(LESSONS)
    assert [row["lesson"] for row in workflow.grade_rows(course, ["03_later"])] == ["03_later", "03_later"]
    canvas = read_csv(workflow.export_csv(course, tmp_path / "canvas.csv", format="canvas"))
    assert "03_later" not in canvas[0] and LESSONS[0] in canvas[0]
