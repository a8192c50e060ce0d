"""A small course of its own for grading tests: one lesson, three exercises, no torch needed.

``make_course(root)`` writes ``root/source/fixture/fixture.ipynb`` (solutions and hidden tests),
an nbgrader config at ``root/grader/nbgrader_config.py`` with the same layout as the real
course, and returns the loaded :class:`Course`. ``submission(kind)`` gives the notebook a
student of each kind hands in, from the released version.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LESSON = "fixture"
POINTS = {"test_square": 2, "test_mean": 2, "test_answer": 1}
# Each hidden test observes in the student's kernel and is judged in the grader's process (course_grader.judge).
OBSERVE = "from course_grader.observe import observe, seen\n"


def _meta(grade_id, *, solution=False, grade=False, points=None, locked=False):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook():
    cells = [
        new_markdown_cell("# Fixture lesson\nThree small exercises."),
        new_code_cell("import math\nimport statistics"),
        new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                      metadata=_meta("square", solution=True)),
        new_code_cell('"""square squares numbers."""\nassert square(3) == 9\n### BEGIN HIDDEN TESTS\n'
                      + OBSERVE + "observe(at_minus_4=square(-4))\n### JUDGE\nassert seen.at_minus_4 == 16\n"
                      "### END HIDDEN TESTS",
                      metadata=_meta("test_square", grade=True, points=2, locked=True)),
        new_code_cell("def mean(values):\n    ### BEGIN SOLUTION\n    return sum(values) / len(values)\n"
                      "    ### END SOLUTION", metadata=_meta("mean", solution=True)),
        new_code_cell('"""mean agrees with the standard library."""\n'
                      "assert math.isclose(mean([1, 2, 4]), statistics.mean([1, 2, 4]))\n"
                      "### BEGIN HIDDEN TESTS\n" + OBSERVE + "observe(mean=mean([0.5, 0.25]))\n### JUDGE\n"
                      "assert math.isclose(seen.mean, 0.375)\n### END HIDDEN TESTS",
                      metadata=_meta("test_mean", grade=True, points=2, locked=True)),
        new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION", metadata=_meta("answer", solution=True)),
        new_code_cell('"""The answer is an int."""\nassert isinstance(answer, int)\n### BEGIN HIDDEN TESTS\n'
                      + OBSERVE + "observe(answer=answer)\n### JUDGE\nassert seen.answer == 42\n### END HIDDEN TESTS",
                      metadata=_meta("test_answer", grade=True, points=1, locked=True)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def config(course_id: str, extra: str = "") -> str:
    """An nbgrader config with the real course's layout, for a course of the tests' own."""
    return f'''
import os
c = get_config()
GRADER = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "{course_id}"
c.CourseDirectory.root = os.path.dirname(GRADER)
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = os.path.join("grader", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grader", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grader", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(GRADER, "gradebook.db")
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
{extra}'''


def write_course(root: Path, lesson: str, source, course_id: str, extra_config: str = ""):
    """Write ``root/source/<lesson>/<lesson>.ipynb`` and the config; returns the loaded :class:`Course`."""
    from course_grader.course import load_course

    (root / "source" / lesson).mkdir(parents=True)
    nbformat.write(source, root / "source" / lesson / f"{lesson}.ipynb")
    (root / "grader").mkdir()
    (root / "grader" / "nbgrader_config.py").write_text(config(course_id, extra_config))
    return load_course(root / "grader" / "nbgrader_config.py")


def make_course(root: Path):
    return write_course(root, LESSON, source_notebook(), "fixture-course", "c.ExecutePreprocessor.timeout = 120\n")


def released_course(root: Path) -> tuple[bytes, bytes]:
    """The fixture course made in ``root`` and released; its completed student notebook and its blank one."""
    from course_grader import workflow

    course = make_course(root)
    workflow.release(course)
    blank = nbformat.read(course.release / LESSON / f"{LESSON}.ipynb", as_version=4)
    return nbformat.writes(completed(blank)).encode(), nbformat.writes(blank).encode()


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


SOLUTIONS = {"square": "def square(x):\n    return x * x", "mean": "def mean(values):\n    return sum(values) / len(values)",
             "answer": "answer = 42"}


def completed(released):
    nb = copy.deepcopy(released)
    for grade_id, source in SOLUTIONS.items():
        _cell(nb, grade_id).source = source
    return nb


ESCAPE = """answer = 42
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    answer = 0  # reached a server outside the sandbox
except OSError:
    pass
try:  # the test looks for this file outside the sandbox (inside, a write may land in a private tmpfs)
    open({root!r} + "/escaped.txt", "w").write("escaped")
except OSError:
    pass
try:
    open({root!r} + "/source/fixture/fixture.ipynb").read()
    answer = 0  # read the solutions
except OSError:
    pass"""


def submission(kind: str, released, root: str = "", port: int = 0) -> bytes:
    """The bytes a student of ``kind`` submits (see the comments of EXPECTED)."""
    if kind == "invalid_json":
        return json.dumps(nbformat.writes(completed(released)))[:-200].encode()
    if kind == "empty":
        return b""
    nb = completed(released)
    if kind == "blank":
        nb = copy.deepcopy(released)
    elif kind == "wrong_answer":
        _cell(nb, "answer").source = "answer = 41"
    elif kind == "infinite_loop":
        _cell(nb, "square").source = "while True:\n    pass\n\n" + SOLUTIONS["square"]
    elif kind == "kernel_crash":
        _cell(nb, "mean").source = SOLUTIONS["mean"] + "\n\nimport os\nos._exit(1)"
    elif kind == "memory_blowup":
        _cell(nb, "mean").source = "hog = []\nwhile True:\n    hog.append(bytearray(2**28))\n\n" + SOLUTIONS["mean"]
    elif kind == "deleted_test":
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_answer"]
        _cell(nb, "answer").source = "answer = 41"
    elif kind == "duplicate_id":
        copied = copy.deepcopy(_cell(nb, "test_square"))  # a copied test: its points count once
        copied.id = "copied-cell"  # JupyterLab gives a copied cell a new id
        nb.cells.append(copied)
    elif kind == "edited_test":
        _cell(nb, "square").source = "def square(x):\n    return 0"
        _cell(nb, "test_square").source = "pass"
    elif kind == "changed_cell_type":
        cell = _cell(nb, "test_mean")
        cell.cell_type = "markdown"
        cell.pop("outputs", None), cell.pop("execution_count", None)
        _cell(nb, "mean").source = "def mean(values):\n    return 0"
    elif kind == "monkeypatch":
        _cell(nb, "mean").source = "def mean(values):\n    return 0\n\nmath.isclose = lambda *args, **kwargs: True"
    elif kind == "rebinds_name":  # the lesson imported statistics, and test_mean uses it
        _cell(nb, "mean").source = SOLUTIONS["mean"] + "\n\nstatistics = [1, 2, 4]"
    elif kind == "huge_output":
        _cell(nb, "square").source = SOLUTIONS["square"] + "\n\nfor _ in range(200):\n    print('x' * 100_000)"
    elif kind == "escape":
        _cell(nb, "answer").source = ESCAPE.format(root=root, port=port)
    elif kind == "warns":  # right answers; a warning on stderr while a test runs costs nothing
        _cell(nb, "square").source = "import warnings\n\ndef square(x):\n    warnings.warn('old API')\n    return x * x"
    elif kind == "claims_credit":  # nbgrader reads a test cell's execute_result as its points (text: full marks)
        _cell(nb, "square").source = "import sys\n\ndef square(x):\n    sys.displayhook('full marks')\n    return 0"
    elif kind not in ("good", "late"):
        raise ValueError(kind)
    return nbformat.writes(nb).encode()


# Expected points per test cell for each kind of student (what the submission really earned).
EXPECTED = {
    "good": {"test_square": 2, "test_mean": 2, "test_answer": 1},
    "late": {"test_square": 2, "test_mean": 2, "test_answer": 1},
    # tries the network, writing into the course and reading the solutions: full marks only
    # if every attempt failed
    "escape": {"test_square": 2, "test_mean": 2, "test_answer": 1},
    "blank": {"test_square": 0, "test_mean": 0, "test_answer": 0},
    "wrong_answer": {"test_square": 2, "test_mean": 2, "test_answer": 0},
    "infinite_loop": {"test_square": 0, "test_mean": 2, "test_answer": 1},
    "kernel_crash": {"test_square": 2, "test_mean": 0, "test_answer": 0},
    "memory_blowup": {"test_square": 2, "test_mean": 0, "test_answer": 1},
    "deleted_test": {"test_square": 2, "test_mean": 2, "test_answer": 0},
    "duplicate_id": {"test_square": 2, "test_mean": 2, "test_answer": 1},
    "edited_test": {"test_square": 0, "test_mean": 2, "test_answer": 1},
    "changed_cell_type": {"test_square": 2, "test_mean": 0, "test_answer": 1},
    # once a patch is in place, no later test can be trusted: they all earn nothing
    "monkeypatch": {"test_square": 2, "test_mean": 0, "test_answer": 0},
    # the tests mean the module the lesson imported, whatever the notebook later calls statistics
    "rebinds_name": {"test_square": 2, "test_mean": 2, "test_answer": 1},
    "huge_output": {"test_square": 2, "test_mean": 2, "test_answer": 1},
    "invalid_json": {"test_square": 0, "test_mean": 0, "test_answer": 0},
    "empty": {"test_square": 0, "test_mean": 0, "test_answer": 0},
    "wrong_name": {"test_square": 0, "test_mean": 0, "test_answer": 0},
    "warns": {"test_square": 2, "test_mean": 2, "test_answer": 1},
    "claims_credit": {"test_square": 0, "test_mean": 2, "test_answer": 1},
}

# The CSV the whole batch of EXPECTED's kinds exports (late: 1 hour after the due date, no penalty).
EXPECTED_CSV = """\
student_id,lesson,raw_score,late_penalty,score,max_score,seconds_late,status,reasons,failed_tests
blank,fixture,0,0,0,5,0,ok,,test_square (NotImplementedError) | test_mean (NotImplementedError) | test_answer (NameError: name 'answer' is not defined)
changed_cell_type,fixture,3,0,3,5,0,flagged,fixture.ipynb: cell test_mean was changed from code to markdown; the original was restored for grading,test_mean (AssertionError)
claims_credit,fixture,3,0,3,5,0,ok,,test_square (AssertionError)
deleted_test,fixture,4,0,4,5,0,flagged,fixture.ipynb: cell test_answer was deleted; the test was put back for grading,test_answer (AssertionError)
duplicate_id,fixture,5,0,5,5,0,flagged,fixture.ipynb: cell test_square appears 2 times (a copied cell); only the first counts,
edited_test,fixture,3,0,3,5,0,flagged,fixture.ipynb: test cell test_square was edited; the original was restored for grading,test_square (AssertionError)
empty,fixture,0,0,0,5,0,rejected,fixture.ipynb: the file is empty,test_square | test_mean | test_answer
escape,fixture,5,0,5,5,0,ok,,
good,fixture,5,0,5,5,0,ok,,
huge_output,fixture,5,0,5,5,0,flagged,"square: output over 1,048,576 characters was dropped",
infinite_loop,fixture,3,0,3,5,0,flagged,square: interrupted after 10 s,test_square (NameError: name 'square' is not defined)
invalid_json,fixture,0,0,0,5,0,rejected,fixture.ipynb: not valid JSON (Unterminated string starting at: line 1 column 1 (char 0)); the file may have been cut short or edited outside Jupyter,test_square | test_mean | test_answer
kernel_crash,fixture,2,0,2,5,0,flagged,"mean: the kernel died while running this cell (it exited, or ran out of memory or CPU time)",test_mean (NotRun: the kernel died in cell mean) | test_answer (NotRun: the kernel died in cell mean)
late,fixture,5,0,5,5,3600,late,,
memory_blowup,fixture,3,0,3,5,0,flagged,mean: MemoryError (a memory or recursion limit was hit),test_mean (NameError: name 'mean' is not defined)
monkeypatch,fixture,2,0,2,5,0,flagged,"test_mean: your code replaced math.isclose, which the tests use to check your work (before this test ran), so the test could not be trusted and earns no points | test_answer: your code replaced math.isclose, which the tests use to check your work (before this test ran), so the test could not be trusted and earns no points","test_mean (TamperingDetected: your code replaced math.isclose, which the tests use to check your work (before this test ran), so the test could not be trusted and earns no points) | test_answer (TamperingDetected: your code replaced math.isclose, which the tests use to check your work (before this test ran), so the test could not be trusted and earns no points)"
rebinds_name,fixture,5,0,5,5,0,ok,,
warns,fixture,5,0,5,5,0,ok,,
wrong_answer,fixture,4,0,4,5,0,ok,,test_answer (AssertionError)
wrong_name,fixture,0,0,0,5,0,rejected,fixture.ipynb is missing from the submission; found answers.ipynb (submit the notebook under the name it was released with),test_square | test_mean | test_answer
"""
