"""Mutation testing of the tests (tests/mutation): the tool itself, and the course's last run of it.

The whole course (`.venv/bin/python tests/mutation`) runs 340 mutants, some of which train a network:
too long for every `make test`; here the tool runs end to end on the small fixture course, and the
recorded run (bench/results/mutation.json) is checked against the notebooks as they are now and
against the list of equivalent mutants.
"""

import json
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402
import mutation  # noqa: E402
from mutation import operators, worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mutation.json"


def _notebooks() -> dict[str, Path]:
    return {path.parent.name: path for path in sorted((ROOT / "solutions").glob("[0-9]*/*.ipynb"))}


def test_mutants_change_only_the_solution_regions_one_thing_each():
    cell = ("def head(in_features, num_classes):\n    size = 2 + 3\n    ### BEGIN SOLUTION\n"
            "    layer = nn.Linear(in_features, num_classes)\n    ### END SOLUTION\n    return layer")
    found = {m.id: m.source for m in operators.mutants(cell)}
    assert set(found) == {
        "drop: layer = nn.Linear(in_features, num_classes)",
        "arguments: nn.Linear(in_features, num_classes) -> nn.Linear(num_classes, in_features)",
        "activation: nn.Linear(in_features, num_classes) -> nn.Sequential(nn.Linear(in_features, num_classes), nn.Sigmoid())",
        "activation: nn.Linear(in_features, num_classes) -> nn.Sequential(nn.Linear(in_features, num_classes), nn.Tanh())",
    }
    for source in found.values():
        assert "size = 2 + 3" in source and source.endswith("return layer")  # the lesson's own code is never changed
    assert "    pass" in found["drop: layer = nn.Linear(in_features, num_classes)"]


def test_mutant_ids_do_not_depend_on_where_the_code_stands():
    cell = "### BEGIN SOLUTION\nif tp + fp:\n    x = tp / (tp + fp)\n### END SOLUTION"
    ids = [m.id for m in operators.mutants(cell)]
    moved = [m.id for m in operators.mutants("import math\n\n\n" + cell)]
    assert ids == moved and len(ids) == len(set(ids))
    assert "binop: tp / (tp + fp) -> tp * (tp + fp)" in ids and "compare: x > 0 -> x >= 0" not in ids


def test_a_mutant_that_never_ends_is_killed_at_its_limit():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    verdict = worker.run_forked(shell, [("loop", "while True:\n    pass", True)], limit=1)
    assert verdict["killed"] and verdict["by"] == "timeout"
    verdict = worker.run_forked(shell, [("fine", "x = 1", False), ("test_fine", "assert x == 1", True)], limit=30)
    assert verdict == {"killed": False, "seconds": verdict["seconds"]}


def test_on_the_fixture_course_every_mutant_is_killed_and_a_weaker_test_lets_some_survive(tmp_path):
    course = fx.make_course(tmp_path / "strong")
    notebook = course.source / fx.LESSON / f"{fx.LESSON}.ipynb"
    record = mutation.record(*mutation.run({fx.LESSON: notebook}, parallel=2, verbose=False), equivalents={})
    table = {t["exercise"]: t for t in record["exercises"]}
    assert set(table) == {"square", "mean", "answer"}
    assert all(t["control_passes"] and t["run"] > 0 and not t["survived"] for t in table.values()), \
        mutation.summary(record["exercises"])
    assert record["ok"]

    # without its hidden test, test_answer only checks that answer is an int: 41 and 43 pass it
    nb = nbformat.read(notebook, as_version=4)
    weak = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_answer")
    weak.source = re.sub(r"### BEGIN HIDDEN TESTS.*### END HIDDEN TESTS", "", weak.source, flags=re.S)
    weaker = tmp_path / "weak" / fx.LESSON / f"{fx.LESSON}.ipynb"
    weaker.parent.mkdir(parents=True)
    nbformat.write(nb, weaker)
    rows, lessons = mutation.run({fx.LESSON: weaker}, parallel=2, verbose=False)
    record = mutation.record(rows, lessons, equivalents={})
    table = {t["exercise"]: t for t in record["exercises"]}
    assert table["answer"]["survived"] == ["constant: 42 -> 43", "constant: 42 -> 41"] and not record["ok"]
    assert "SURVIVED fixture/answer/constant: 42 -> 43" in mutation.summary(record["exercises"])
    # listed as equivalent, they no longer count; a listed mutant that is killed is an error
    listed = {mutation.key(fx.LESSON, "answer", m): "the test no longer looks at the value" for m in table["answer"]["survived"]}
    listed[mutation.key(fx.LESSON, "square", "drop: return x * x")] = "listed by mistake: a test kills it"
    record = mutation.record(rows, lessons, equivalents=listed)
    table = {t["exercise"]: t for t in record["exercises"]}
    assert table["answer"]["survived"] == [] and table["answer"]["equivalent"] == 2 and table["answer"]["score"] == 100.0
    assert table["square"]["listed_but_killed"] == ["drop: return x * x"] and not record["ok"]


def test_the_recorded_lessons_match_their_solutions_as_they_are_now():
    """Every lesson was run on its current solutions, every mutant of them; a solution edited since its run is
    stale."""
    record = json.loads(RESULTS.read_text())
    recorded = {}
    for m in record["mutants"]:
        lesson, exercise, mutant_id = m["key"].split("/", 2)
        recorded.setdefault((lesson, exercise), []).append(mutant_id)
    notebooks = _notebooks()
    missing = sorted(set(notebooks) - set(record["lessons"]))
    assert not missing, f"lessons never mutation-tested: {missing}; run `{mutation.COMMAND} {' '.join(missing)}`"
    assert set(record["lessons"]) <= set(notebooks), f"lessons recorded that are not in solutions/: {record['lessons']}"
    for lesson in record["lessons"]:
        assert record["lessons"][lesson]["max_per_exercise"] is None, f"{lesson}: the recorded run must run every mutant"
        nb = nbformat.read(notebooks[lesson], as_version=4)
        for exercise in mutation.exercises(nb):
            now = [m.id for m in operators.mutants(nb.cells[exercise["cell"]].source)]
            assert recorded.get((lesson, exercise["name"])) == now, (
                f"{lesson} {exercise['name']}: its solution changed since {RESULTS.name} was written; "
                f"run `{mutation.COMMAND} {lesson}` again")


def test_no_mutant_survives_that_is_not_listed_as_equivalent_with_a_reason():
    record = json.loads(RESULTS.read_text())
    equivalents = mutation.load_equivalents()
    survivors = {m["key"] for m in record["mutants"] if not m["killed"]}
    killed = {m["key"] for m in record["mutants"] if m["killed"]}
    assert not survivors - set(equivalents), f"surviving mutants, neither killed nor listed: {sorted(survivors - set(equivalents))}"
    assert not set(equivalents) & killed, f"listed as equivalent but killed: {sorted(set(equivalents) & killed)}"
    assert not set(equivalents) - survivors, f"listed as equivalent but not in the run: {sorted(set(equivalents) - survivors)}"
    assert all(len(reason) > 20 for reason in equivalents.values()), "each equivalent mutant needs its reason"
    assert record["ok"] and all(not t["survived"] for t in record["exercises"])
