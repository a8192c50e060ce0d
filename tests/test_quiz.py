"""The quiz cannot be passed without reading it: no rule that ignores the question beats 1/3.

The rules and the parser live in bench/quiz_guessing.py, which prints the hit rates.
"""

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import quiz_guessing  # noqa: E402


def test_no_rule_that_ignores_the_question_gets_more_than_a_third_right():
    questions = quiz_guessing.questions()
    single = [q for q in questions if isinstance(q.answer, str)]
    assert len(single) >= 20, f"expected the course's quiz, found {len(single)} single-letter questions"
    rates = quiz_guessing.hit_rates(questions)
    assert max(rates.values()) <= quiz_guessing.TARGET, sorted(rates.items(), key=lambda item: -item[1])


def test_every_question_has_four_options_an_answer_among_them_and_is_asked_once():
    assert quiz_guessing.problems(quiz_guessing.questions()) == []


def test_every_answer_has_an_explanation_and_every_hidden_check_a_message():
    for path in sorted((quiz_guessing.ROOT / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if grade_id.startswith("answer_q"):
                assert "\n# Why " in cell.source, f"{path.stem} {grade_id}: explain the answer in a '# Why' comment"
            if grade_id.startswith("test_answer_q"):
                hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1]
                observing, _, judged = hidden.partition("### JUDGE")
                # the kernel observes the letter; the key and the message are the judge's, outside the kernel
                assert f"answer={grade_id[len('test_'):]})" in observing and "assert seen.answer ==" in judged \
                    and 'f"question ' in judged, f"{path.stem} {grade_id}: {hidden}"


def _quiz(root: Path, questions: list[tuple[list[str], str]]) -> None:
    cells = []
    for number, (options, answer) in enumerate(questions, start=1):
        cells.append(new_markdown_cell(f"**{number}.** Question {number}?\n\n"
                                       + "\n".join(f"* **{k}.** {v}" for k, v in zip("ABCD", options))))
        cells.append(new_code_cell(f'answer_q{number} = "{answer}"',
                                   metadata={"nbgrader": {"solution": True, "grade_id": f"answer_q{number}"}}))
    (root / "solutions" / "x").mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), root / "solutions" / "x" / "x.ipynb")


def test_the_rules_catch_a_quiz_whose_longest_option_is_always_right(tmp_path):
    options = ["short", "a bit longer", "the longest option of all four", "medium one"]
    _quiz(tmp_path, [(options, "C"), (options[::-1], "B"), (options, "C")])
    rates = quiz_guessing.hit_rates(quiz_guessing.questions(tmp_path))
    assert rates["longest option"] == 1.0 and rates["always C"] == 2 / 3 and rates["shortest option"] == 0.0


def test_a_question_asked_twice_or_without_its_answer_is_a_problem(tmp_path):
    _quiz(tmp_path, [(["a", "b", "c", "d"], "A"), (["a", "b", "c", "d"], "E")])
    found = quiz_guessing.problems(quiz_guessing.questions(tmp_path))
    assert any("asks x question 1 again" in p for p in found) and any("'E' is not among" in p for p in found)
