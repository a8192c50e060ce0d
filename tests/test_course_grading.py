"""The real course graded as a class, by the real grader: what every kind of student gets back.

One batch, sandboxed, as an instructor runs it: ada hands in every lesson completed (for each lesson
the wrong-answer suite's submission whose variants are all right alternatives, so that no lesson is
graded twice for her), blank hands
in two lessons untouched (lesson 02, whose feedback is checked, and lesson 08; an untouched lesson
costs as much to grade as its worked examples, and the wrong-answer suite already shows each test
failing wrong code), bo hands in lesson 01 with one wrong quiz answer and nothing else, and
the wrong-answer suite (tests/wrong_answers) hands in four to six submissions per lesson holding every
wrong answer and right alternative of its tables (all but ada's without the worked examples that
train and that no exercise or test needs: ada's lessons are graded whole). Then the CSV, every
variant's grade, and the feedback students get are checked.
"""

import csv
import html
import io
import json
import re
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import simulate
import wrong_answers  # noqa: E402

from course_grader import workflow  # noqa: E402
from course_grader.jobs import batch
from course_grader.jobs.merge import Report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLASS = ("ada", "blank", "bo")
BLANK = ("02_freezing", "08_capstone")


@pytest.fixture(scope="module")
def course_class(tmp_path_factory, bwrap):
    course = simulate.scratch_course(ROOT, tmp_path_factory.mktemp("course"))
    lessons = course.lessons()
    for lesson in lessons:
        if lesson in BLANK:
            simulate.submit(course, "blank", lesson, simulate.released(course, lesson))
    first = lessons[0]
    wrong_q2 = {k: v for k, v in wrong_answers.wrong_quiz_answers(simulate.source(course, first)).items()
                if k == "answer_q2"}
    simulate.submit(course, "bo", first, simulate.completed_copy(simulate.released(course, first),
                                                                 simulate.source(course, first), answers=wrong_q2))
    planned = wrong_answers.submit_all(course, lessons, complete="ada")  # ada: each lesson's all-right submission
    reports = batch.autograde(course, jobs=2, progress=lambda line: None)
    return course, reports, planned


def html_text(page: str) -> str:
    """The text a browser shows: code is split into highlighted spans, so tags go before searching it."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_class_of_three_gets_the_expected_csv(course_class, tmp_path):
    course, reports, _ = course_class
    points = {lesson: sum(simulate.points_per_test(simulate.source(course, lesson)).values())
              for lesson in course.lessons()}
    rows = [r for r in csv.DictReader(io.StringIO(workflow.export_csv(course, tmp_path / "g.csv").read_text()))
            if r["student_id"] in CLASS]
    got = [(r["student_id"], r["lesson"], r["score"], r["max_score"], r["status"], r["reasons"]) for r in rows]
    expected = []
    for student in CLASS:
        for lesson in course.lessons():
            p = points[lesson]
            if student == "ada":
                expected.append((student, lesson, f"{p:g}", f"{p:g}", "ok", ""))
            elif student == "blank" and lesson in BLANK:
                expected.append((student, lesson, "0", f"{p:g}", "ok", ""))
            elif student == "bo" and lesson == course.lessons()[0]:
                expected.append((student, lesson, f"{p - 1:g}", f"{p:g}", "ok", ""))
            else:
                expected.append((student, lesson, "0", f"{p:g}", "missing", "no submission"))
    assert got == expected
    bo = next(r for r in rows if r["student_id"] == "bo" and r["lesson"] == course.lessons()[0])
    assert bo["failed_tests"].startswith("test_answer_q2 (AssertionError: question 2: ")
    assert all(r["failed_tests"] == "" for r in rows if r["student_id"] == "ada")


def test_every_wrong_answer_loses_its_points_and_every_right_one_earns_them(course_class):
    """Each wrong variant scores 0 on its exercise's test, each right one full marks, nothing else is lost."""
    _, reports, planned = course_class
    rows = wrong_answers.verdicts(planned, reports)
    table = wrong_answers.summary(rows)
    print(table)
    assert len([r for r in rows if r["kind"] != "collateral"]) >= 100
    assert all(r["ok"] for r in rows), table


def test_every_exercise_has_two_wrong_answers_and_a_right_one_in_the_suite(course_class):
    course, _, _ = course_class
    for lesson in course.lessons():
        exercises = [c.metadata["nbgrader"]["grade_id"] for c in simulate.source(course, lesson).cells
                     if c.metadata.get("nbgrader", {}).get("solution")
                     and not c.metadata["nbgrader"]["grade_id"].startswith("answer_q")]
        variants = wrong_answers.variants(lesson)
        for exercise in exercises:
            mine = [v for v in variants if v.cell == exercise]
            assert sum(not v.right for v in mine) >= 2 and sum(v.right for v in mine) >= 1, \
                f"{lesson} {exercise}: the suite needs two wrong answers and a right alternative"


def _given_to_students(course) -> dict[str, str]:
    """Every file a student gets back (feedback HTML, and the HTML inside each student's zip), as shown text."""
    pages = {str(path): html_text(path.read_text()) for path in course.feedback.glob("*/*/*.html")}
    for archive in (course.grader / "exports" / "feedback").glob("*.zip"):
        with zipfile.ZipFile(archive) as z:
            pages.update({f"{archive.name}:{name}": html_text(z.read(name).decode()) for name in z.namelist()})
    return pages


def test_feedback_shows_failed_checks_and_explanations_and_no_hidden_test(course_class):
    course, reports, planned = course_class
    files = workflow.feedback(course)
    assert len(files) == len([r for r in reports if r.status != "rejected"])
    pages = _given_to_students(course)
    hidden = {line for lesson, region, line in simulate.secret_lines(course, ("HIDDEN TESTS",))}
    assert len(hidden) > 100
    leaks = sorted({(where, line) for where, text in pages.items() for line in hidden if line in text})
    assert leaks == [], f"hidden-test lines in what students get: {leaks[:5]}"
    assert not [where for where, text in pages.items() if "BEGIN HIDDEN" in text]
    # the message of each failed check reaches the student it failed for
    shown = 0
    for row in wrong_answers.verdicts(planned, reports):
        if row["kind"] == "wrong" and row["error"].startswith("AssertionError: "):
            text = html_text((course.feedback / row["student"] / row["lesson"] / f"{row['lesson']}.html").read_text())
            message = row["error"].removeprefix("AssertionError: ")[:80]
            assert message in text, f"{row['student']} {row['lesson']} {row['test']}: {message!r} not in the feedback"
            shown += 1
    assert shown >= 40
    blank = html_text((course.feedback / "blank" / "02_freezing" / "02_freezing.html").read_text())
    assert blank.lower().count("the exercise this test checks is not done yet") == 5
    # every quiz answer's explanation, from the solution's "# Why" comment
    ada = html_text((course.feedback / "ada" / "01_why_finetune" / "01_why_finetune.html").read_text())
    quiz = [c for c in simulate.source(course, "01_why_finetune").cells if c.source.startswith("### BEGIN SOLUTION\nanswer_q")]
    assert len(quiz) >= 3 and ada.count("Explanation. Why ") == len(quiz)
    assert "Passed: 1 / 1 point." in ada and "Failed" not in ada


def test_an_instructor_can_withhold_the_explanations(course_class):
    course, _, _ = course_class
    workflow.feedback(course, lessons=["01_why_finetune"], show_explanations=False)
    withheld = _given_to_students(course)
    try:
        assert not [where for where, text in withheld.items() if "01_why_finetune" in where and "Explanation." in text]
        assert any("Explanation." in text for where, text in withheld.items() if "02_freezing" in where)
    finally:
        workflow.feedback(course, lessons=["01_why_finetune"])


def test_reports_name_the_test_that_failed_and_why(course_class):
    course, reports, _ = course_class
    report = json.loads((course.reports / "02_freezing" / "blank.json").read_text())
    assert report["cells"]["test_freeze_all"]["error"] == "NotImplementedError"


# -- the suite's own logic ------------------------------------------------------------------
def test_fill_puts_each_answer_into_its_blank_at_the_blanks_indentation():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    ### END SOLUTION\n    for i in range(2):\n"
              "        ### BEGIN SOLUTION\n        y += i\n        ### END SOLUTION\n    return y")
    assert simulate.fill(source) == "def f(x):\n    y = x + 1\n    for i in range(2):\n        y += i\n    return y"
    assert simulate.fill(source, (None, "if i:\n    y -= 1")) == (
        "def f(x):\n    y = x + 1\n    for i in range(2):\n        if i:\n            y -= 1\n    return y")


def test_the_suite_reports_a_wrong_answer_that_earned_points_and_a_collateral_loss():
    planned = [wrong_answers.Submission("variants0", "x", {"a": simulate.wrong("a", "w"), "b": simulate.right("b", "r")},
                                        {"test_a": 0.0, "test_b": 2.0, "test_c": 1.0})]
    reports = [Report("variants0", "x", "flagged", 4.0, 5.0, cells={
        "test_a": {"score": 2.0}, "test_b": {"score": 2.0}, "test_c": {"score": 0.0, "error": "NameError: y"}})]
    rows = wrong_answers.verdicts(planned, reports)
    assert [(r["test"], r["kind"], r["ok"]) for r in rows] == [
        ("test_a", "wrong", False), ("test_b", "right", True), ("test_c", "collateral", False)]
    assert "2 unexpected grade(s)" in wrong_answers.summary(rows)
