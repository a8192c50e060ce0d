"""The wrong-answer suite: what students really write for each exercise, graded by the real grader.

Each lesson has a table (``lNN_<lesson>.py``): for every exercise, wrong answers that must
earn nothing on that exercise's test and right alternatives that must earn full marks. The
variants are packed into as few submissions as possible: submission k of a lesson answers
every exercise with its k-th variant (the solution where an exercise has fewer), and the first
one also answers every quiz question with a wrong letter. All are graded in one batch by the
course's own ``autograde``, sandboxed, exactly as students are graded. A submission must score
0 on the test of each wrong variant and full points on every other test: a mistake costs only
its own exercise's points.

Run alone, with a table per lesson printed (about 7 minutes on 2 cores)::

    .venv/bin/python tests/wrong_answers [LESSON ...]
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass

import simulate
from simulate import Variant

from course_grader.course import Course
from course_grader.kernel import guard

TABLES = {
    "01_why_finetune": "l01_why_finetune", "02_freezing": "l02_freezing",
    "03_replacing_the_head": "l03_replacing_the_head", "04_optimizers": "l04_optimizers",
    "05_training_loop": "l05_training_loop", "06_metrics": "l06_metrics",
    "07_staged_finetuning": "l07_staged_finetuning", "08_capstone": "l08_capstone",
    "09_beyond_the_classic_recipe": "l09_beyond_the_classic_recipe",
}
STUDENT = "variants{round}"
ANSWER = re.compile(r"^(answer_q\d+) = (.+)$", re.M)
TRAINING = re.compile(r"\bfit(_cached)?\(|histories")


def variants(lesson: str) -> list[Variant]:
    return importlib.import_module(f"{__name__}.{TABLES[lesson]}").VARIANTS


def wrong_quiz_answers(source) -> dict[str, str]:
    """Every quiz answer cell answered with a wrong letter (or a wrong tuple of letters)."""
    answers = {}
    for cell in source.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        match = ANSWER.search(cell.source) if cell.metadata.get("nbgrader", {}).get("solution") else None
        if match:
            right = eval(match.group(2), {})
            shift = {"A": "B", "B": "C", "C": "D", "D": "A"}
            wrong = shift[right] if isinstance(right, str) else tuple(shift[letter] for letter in right)
            answers[grade_id] = f"{match.group(1)} = {wrong!r}"
    return answers


def trains(cell) -> bool:
    """A worked example that trains with the package's fit (or reads the histories it returns): a code cell
    that is no exercise, test or locked cell of nbgrader's."""
    return (cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade_id")
            and bool(TRAINING.search(cell.source)))


def _reads(source: str) -> set[str]:
    """Names a cell reads and does not bind itself (a function's parameters count as bound)."""
    try:
        parameters = {node.arg for node in ast.walk(ast.parse(source)) if isinstance(node, ast.arg)}
    except SyntaxError:
        parameters = set()
    return guard.names_used(source) - parameters


def without_training(nb, source):
    """The notebook without the worked examples that train (:func:`trains`) and bind no name that a later
    exercise or test (``source``'s, hidden tests included) reads, directly or through the cells it reads from."""
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")}
    needed, kept = set(), []
    for cell in reversed(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id:
            needed |= _reads(cell.source) | _reads(tests.get(grade_id, ""))
        elif cell.cell_type == "code" and guard.bound_names(cell.source) & needed:
            needed |= _reads(cell.source)
        elif trains(cell):
            continue
        kept.append(cell)
    nb.cells = kept[::-1]
    return nb


@dataclass
class Submission:
    student: str
    lesson: str
    chosen: dict[str, Variant]
    expected: dict[str, float]


def submit_all(course: Course, lessons: list[str], complete: str | None = None) -> list[Submission]:
    """Write every lesson's variant submissions into ``course.submitted``; returns what each must score.

    With ``complete``, that student hands in every lesson completed: a lesson's first submission whose
    variants are all right ones is theirs (a completed lesson, with right alternatives, that must earn
    full points), so that no lesson is graded twice for it; a lesson with no such submission gets the
    solution itself. Every other submission leaves out the worked examples that train.
    """
    planned = []
    for lesson in lessons:
        source, released = simulate.source(course, lesson), simulate.released(course, lesson)
        taken = complete is None
        for k, chosen in enumerate(simulate.rounds(variants(lesson))):
            quiz = wrong_quiz_answers(source) if k == 0 else {}
            student = STUDENT.format(round=k)
            notebook = simulate.completed_copy(released, source, chosen, quiz)
            if not taken and not quiz and all(v.right for v in chosen.values()):
                student, taken = complete, True
            else:
                notebook = without_training(notebook, source)
            simulate.submit(course, student, lesson, notebook)
            zero = {simulate.tested_by(grade_id) for grade_id in quiz}
            planned.append(Submission(student, lesson, chosen, simulate.expected_scores(source, chosen, zero)))
        if not taken:
            simulate.submit(course, complete, lesson, simulate.completed_copy(released, source))
            planned.append(Submission(complete, lesson, {}, simulate.expected_scores(source, {})))
    return planned


def verdicts(planned: list[Submission], reports: list) -> list[dict]:
    """One row per variant (caught or passed as it should, or not) and per test that lost points it should not."""
    by_key = {(r.student, r.lesson): r for r in reports}
    rows = []
    for submission in planned:
        report = by_key[submission.student, submission.lesson]
        scores = {name: cell["score"] for name, cell in report.cells.items()}
        errors = {name: cell.get("error", "") for name, cell in report.cells.items()}
        varied = {}
        for exercise, variant in submission.chosen.items():
            test = simulate.tested_by(exercise)
            varied[test] = variant
            rows.append({"lesson": submission.lesson, "student": submission.student, "test": test,
                         "kind": "right" if variant.right else "wrong", "why": variant.why,
                         "ok": scores[test] == submission.expected[test], "score": scores[test],
                         "expected": submission.expected[test], "error": errors.get(test, "")})
        for test, expected in submission.expected.items():
            if test not in varied and scores[test] != expected:
                rows.append({"lesson": submission.lesson, "student": submission.student, "test": test,
                             "kind": "collateral", "why": "a test of an exercise that was not varied", "ok": False,
                             "score": scores[test], "expected": expected, "error": errors.get(test, "")})
    return rows


def summary(rows: list[dict]) -> str:
    """A table per lesson: variants, wrong answers caught, right alternatives passed."""
    lines = [f"{'lesson':24} {'exercises':>9} {'variants':>8} {'wrong caught':>13} {'right passed':>13}"]
    for lesson in sorted({r["lesson"] for r in rows}):
        mine = [r for r in rows if r["lesson"] == lesson and r["kind"] != "collateral"]
        wrong = [r for r in mine if r["kind"] == "wrong"]
        right = [r for r in mine if r["kind"] == "right"]
        lines.append(f"{lesson:24} {len({r['test'] for r in mine}):>9} {len(mine):>8} "
                     f"{sum(r['ok'] for r in wrong):>6} of {len(wrong):<4} {sum(r['ok'] for r in right):>6} of {len(right):<4}")
    problems = [r for r in rows if not r["ok"]]
    lines.append(f"{len(problems)} unexpected grade(s)" if problems else "every variant graded as expected")
    for r in problems:
        lines.append(f"  {r['lesson']} {r['student']} {r['test']} ({r['kind']}: {r['why']}): scored {r['score']:g}, "
                     f"expected {r['expected']:g}  {r['error'][:160]}")
    return "\n".join(lines)
