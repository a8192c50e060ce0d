"""The lessons: generated from solutions/, nothing leaks, and nbgrader grades them as it should.

The solution notebooks themselves run under nbval (pytest collects solutions/ with
--nbval-lax, see pyproject.toml). Here: lessons/ matches what nbgrader generates from
solutions/; the student versions hide solutions, hidden tests and quiz answers; every
exercise is tested; nbgrader validate passes a solution and fails its untouched lesson;
and the grader's per-cell time limits cover every cell. Autograding the whole course (full marks
for solutions, zero for untouched lessons, a partial student, the wrong-answer suite) is in
test_course_grading.py.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def notebook(kind: str, lesson: str, root: Path = ROOT):
    return nbformat.read(root / kind / lesson / f"{lesson}.ipynb", as_version=4)


def grade_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def solution_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def test_nine_lessons():
    assert LESSONS == ["01_why_finetune", "02_freezing", "03_replacing_the_head", "04_optimizers",
                       "05_training_loop", "06_metrics", "07_staged_finetuning", "08_capstone",
                       "09_beyond_the_classic_recipe"]
    assert sorted(p.name for p in (ROOT / "lessons").iterdir() if p.is_dir()) == LESSONS


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A scratch copy of the course where nbgrader generates every lesson afresh."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "solutions", root / "solutions")
    (root / "grader").mkdir()
    shutil.copy(ROOT / "grader" / "nbgrader_config.py", root / "grader")
    nbgrader("generate_assignment", "*", "--force", cwd=root / "grader")  # every lesson, in one run
    assert sorted(p.name for p in (root / "lessons").iterdir()) == LESSONS
    return root


@pytest.mark.parametrize("lesson", LESSONS)
def test_lessons_are_exactly_what_nbgrader_generates(course, lesson):
    generated = json.loads((course / "lessons" / lesson / f"{lesson}.ipynb").read_text())
    committed = json.loads((ROOT / "lessons" / lesson / f"{lesson}.ipynb").read_text())
    assert committed == generated, (
        f"lessons/{lesson} is out of sync with solutions/{lesson}: regenerate it with `make lessons` "
        "(never edit lessons/ by hand)")


@pytest.mark.parametrize("lesson", LESSONS)
def test_student_versions_leak_no_solution_hidden_test_or_answer(lesson):
    source, student = notebook("solutions", lesson), notebook("lessons", lesson)
    text = "\n".join(c.source for c in student.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "# Why "):
        assert marker not in text, f"{lesson}: {marker!r} in the student version"
    # Hidden tests and quiz answers must not appear anywhere; a solution's code line may (a
    # worked example can show the idiom an exercise then asks for), and so may a hidden-test
    # line that the lesson shows openly elsewhere (e.g. `model.train()`).
    secret_lines, public_lines = set(), set()
    for cell in source.cells:
        hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END", cell.source, re.S)
        for block in hidden:
            secret_lines |= {line.strip() for line in block.splitlines() if len(line.strip()) > 12}
        for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END", cell.source, re.S):
            secret_lines |= {line.strip() for line in block.splitlines() if re.match(r"\s*answer_\w+ = ", line)}
        public = re.sub(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n.*?### END \w+( \w+)?", "", cell.source, flags=re.S)
        public_lines |= {line.strip() for line in public.splitlines()}
    secret_lines -= public_lines
    student_lines = {line.strip() for line in text.splitlines()}
    leaked = secret_lines & student_lines
    assert not leaked, f"{lesson}: lines from solutions or hidden tests appear in the student version: {leaked}"
    assert text.count("raise NotImplementedError()") >= len(solution_cells(source))
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_exercise_is_a_short_blank_with_a_tested_hidden_check(lesson):
    nb = notebook("solutions", lesson)
    solutions, grades = solution_cells(nb), grade_cells(nb)
    assert solutions and len(grades) >= len(solutions) - 1, f"{lesson}: every exercise needs a test cell"
    for cell in solutions:
        for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            code = [line for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
            assert 1 <= len(code) <= 6, f"{lesson}: a blank should be one to a few lines, got:\n{block}"
    for cell in grades:
        meta = cell.metadata["nbgrader"]
        first = cell.source.splitlines()[0]
        assert first.startswith('"""') and first.endswith('"""'), f"{meta['grade_id']}: one-line docstring first"
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert "assert" in visible and hidden.strip(), f"{meta['grade_id']}: needs visible asserts and hidden tests"
        assert meta["points"] > 0 and meta["locked"]
    assert any(c.cell_type == "code" and ("plot_" in c.source or "plt." in c.source) for c in nb.cells), \
        f"{lesson}: every lesson shows at least one figure"


def test_quiz_answers_and_explanations_live_only_in_solutions():
    for lesson in LESSONS:
        for cell in solution_cells(notebook("solutions", lesson)):
            if re.search(r"^answer_q\w+ = ", cell.source, re.M):
                assert "# Why" in cell.source, f"{lesson}: explain why the answer is right ({cell.source[:60]})"


def test_nbgrader_validate_passes_a_solution_and_fails_its_untouched_lesson():
    """The validator behind JupyterLab's Validate button and `finetune-course check`, on one lesson.

    Every lesson is covered elsewhere: nbval runs every solution with its hidden tests, the graded
    class (test_course_grading.py) gives full marks to every completed lesson and none to every
    untouched one, and the browser test clicks Validate on lesson 01.
    """
    lesson = "03_replacing_the_head"
    out = nbgrader("validate", str(ROOT / "solutions" / lesson / f"{lesson}.ipynb"), cwd=ROOT / "grader").stdout
    assert "Success! Your notebook passes all the tests." in out, out[-3000:]
    out = nbgrader("validate", str(ROOT / "lessons" / lesson / f"{lesson}.ipynb"), cwd=ROOT / "grader").stdout
    failures = [int(n) for n in re.findall(r"VALIDATION FAILED ON (\d+) CELL", out)]
    assert failures == [len(grade_cells(notebook("lessons", lesson)))], f"every test cell of an untouched lesson fails: {out[-2000:]}"


def test_grader_cell_times_cover_every_code_cell_of_every_lesson():
    """grader/cell_times.json (per-cell time limits) must be refreshed when a lesson's code changes."""
    from course_grader.kernel.execute import cell_key

    times = json.loads((ROOT / "grader" / "cell_times.json").read_text())
    for lesson in LESSONS:
        keys = {cell_key(c) for c in notebook("solutions", lesson).cells if c.cell_type == "code" and c.source.strip()}
        missing = keys - set(times.get(lesson, {}))
        assert not missing, f"{lesson}: no time for {sorted(missing)[:5]}: run `finetune-course grade calibrate`"


def test_solutions_store_outputs_only_where_nbval_checks_them():
    checked = 0
    for lesson in LESSONS:
        for cell in notebook("solutions", lesson).cells:
            if cell.cell_type != "code":
                continue
            if cell.source.startswith("# NBVAL_CHECK_OUTPUT") or "nbval-check-output" in cell.metadata.get("tags", []):
                checked += 1
                # without a stored, executed output nbval would skip the comparison silently
                assert cell.outputs and cell.execution_count, (
                    f"{lesson}: a checked cell has no stored output; run grader/refresh_checked_outputs.py")
            else:
                assert not cell.outputs, f"{lesson}: stored output in an unchecked cell:\n{cell.source[:200]}"
    assert checked >= 3


def test_every_check_in_a_test_cell_says_what_is_wrong():
    """A failed check's message is all the feedback shows of a hidden test, so every assert needs one."""
    import ast

    bare = []
    for lesson in LESSONS:
        for cell in grade_cells(notebook("solutions", lesson)):
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Assert) and (node.msg is None or isinstance(node.msg, ast.Tuple)):
                    bare.append(f"{lesson} {cell.metadata['nbgrader']['grade_id']}: {ast.unparse(node)[:100]}")
    assert bare == [], "asserts without a message:\n" + "\n".join(bare)


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_hidden_check_is_judged_outside_the_students_kernel(lesson):
    """Each hidden region observes (no assert, no expected value's message) and hands the verdict to its judge, the
    lines after ``### JUDGE``, which run in the grader's process (course_grader.judge)."""
    import ast

    from course_grader import judge

    for cell in grade_cells(notebook("solutions", lesson)):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        kernel, judged = judge.split(cell.source)
        assert judged is not None and "assert" in judged, f"{grade_id}: its hidden checks need a judge (### JUDGE)"
        observing = kernel.partition("### BEGIN HIDDEN TESTS")[2]
        assert "observe(" in observing, f"{grade_id}: the hidden part observes nothing"
        asserts = [ast.unparse(n)[:80] for n in ast.walk(ast.parse(observing)) if isinstance(n, ast.Assert)]
        assert not asserts, f"{grade_id}: asserts run in the student's kernel; move them to the judge: {asserts}"
        judged_messages = {n.msg.value for n in ast.walk(ast.parse(judged))
                           if isinstance(n, ast.Assert) and isinstance(n.msg, ast.Constant)}
        leaked = [m for m in judged_messages if m in observing]
        assert not leaked, f"{grade_id}: the judge's messages are in the observing half: {leaked}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_students_read_no_internal_words(lesson):
    """Students never saw the course's source documents: no "seed 002", no "the source pages"."""
    text = "\n".join(c.source for c in notebook("lessons", lesson).cells)
    found = re.findall(r"(?i)\bseeds?\b(?! ?=)(?!_everything)|source pages?", text)
    assert found == [], f"{lesson}: {found}"


def visible(cell):
    """A test cell as students see it: without its hidden tests."""
    return re.sub(r"^### BEGIN HIDDEN TESTS\n.*?^### END HIDDEN TESTS\n?", "", cell.source, flags=re.M | re.S)


def test_the_capstone_runs_on_your_own_folder_with_imagenet_weights(tmp_path, monkeypatch):
    """Lesson 08 says: change DATA_DIR and WEIGHTS, nothing else; the visible tests still check your code. A folder of
    JPEGs with other class names, only train/ and val/, and a ResNet-18 file where torchvision keeps ImageNet weights;
    every cell up to the comparisons runs, the visible tests included, and nothing is written to the course's folder."""
    import torch
    from nbclient import NotebookClient
    from PIL import Image
    from torchvision import models

    from finetune_course.data import write_image_folder

    pngs = write_image_folder(tmp_path / "made", "colour", splits={"train": 3, "val": 2})
    photos = tmp_path / "photos"
    for png in pngs.glob("*/*/*.png"):  # as a student's photos: .jpg files, bigger than the network's input
        target = photos / png.relative_to(pngs).with_suffix(".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(png).convert("RGB").resize((300, 260)).save(target)
    torch_home = tmp_path / "torch"
    (torch_home / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(models.resnet18().state_dict(),
               torch_home / "hub" / "checkpoints" / Path(models.ResNet18_Weights.IMAGENET1K_V1.url).name)
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setenv("TQDM_DISABLE", "1")

    nb = notebook("solutions", "08_capstone")
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## Two questions"):
            break  # the comparisons use the course's own tasks
        if cell.cell_type == "code":
            cell.source = visible(cell)
            cells.append(cell)
    assert sum("grade" in c.metadata.get("nbgrader", {}) and c.metadata["nbgrader"]["grade"] for c in cells) == 5
    setup = cells[0]
    assert re.search(r"^DATA_DIR = .*$", setup.source, re.M) and 'WEIGHTS = "course"' in setup.source
    setup.source = re.sub(r"^DATA_DIR = .*$", f"DATA_DIR = {str(photos)!r}", setup.source, flags=re.M)
    setup.source = setup.source.replace('WEIGHTS = "course"', 'WEIGHTS = "imagenet"')
    nb.cells = cells
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert "class folders: ['blue', 'green', 'red', 'yellow']" in out
    assert "imagenet weights: resize to 256, crop 224" in out
    assert "12 training and 8 validation pictures" in out
    assert "outputs ['blue', 'green', 'red', 'yellow']" in out
    assert re.search(r"^val pictures: \d+ of 8 right", out, re.M), out
    assert torch.load(tmp_path / "capstone_model.pt", weights_only=True)["size"] == 224
    assert not (tmp_path / "capstone_pictures").exists(), "a visible test wrote to the course's picture folder"
    assert sorted(p.name for p in photos.iterdir()) == ["train", "val"]


# Words a student meets before the lesson that teaches them: each is explained in the first cell (in course order)
# that uses it. (word, where it is used, what explains it)
EXPLAINED_AT_FIRST_USE = [
    ("head", r"(?i)\bheads?\b", r"\*\*head\*\*"),
    ("backbone", r"(?i)\bbackbones?\b", r"\*\*backbone\*\*"),
    ("held-out", r"(?i)\bheld-out\b", r"\*\*held-out\*\*"),
    ("checkpoint", r"(?i)\bcheckpoints?\b", r"\*checkpoint\* is"),
    ("epoch", r"(?i)\bepochs?\b", r"\*epoch\*"),
    ("chance", r"(?i)\bchance\b", r"\*\*chance\*\*: the accuracy\s+of guessing"),
    ("parameter group", r"(?i)\bparam(eter)? groups?\b", r"\*parameter group\*"),
    ("logits", r"\blogits?\b", r"raw scores \(logits\)"),
    ("state_dict", r"state_dict", r"`state_dict\(\)`: a dictionary"),
    ("avgpool", r"avgpool", r"`avgpool`, the pooling"),
]


def test_words_are_explained_where_students_first_meet_them():
    cells = [(lesson, i, cell.source) for lesson in LESSONS for i, cell in enumerate(notebook("lessons", lesson).cells)]
    for word, used, explained in EXPLAINED_AT_FIRST_USE:
        first = next(((lesson, i, source) for lesson, i, source in cells if re.search(used, source)), None)
        assert first, f"{word!r} is never used: take it off the list"
        lesson, i, source = first
        assert re.search(explained, source), f"{word!r} is first used in {lesson}, cell {i}, and not explained there:\n{source[:400]}"


def test_no_lesson_leans_on_a_program_it_never_showed():
    text = "\n".join(c.source for lesson in LESSONS for c in notebook("lessons", lesson).cells)
    assert not re.findall(r"(?i)(the course's|a classic) sample (model|program)", text)


def test_quiz_blanks_do_not_read_as_python():
    """`model([1])` reads as a call with a list: a blank is written ____ (or __1__, __2__ where there are several)."""
    for lesson in LESSONS:
        for cell in notebook("lessons", lesson).cells:
            if cell.cell_type == "markdown" and re.match(r"\*\*\d+\.\*\*", cell.source):
                code = "\n".join(re.findall(r"`([^`]+)`", cell.source) + re.findall(r"```python\n(.*?)```", cell.source, re.S))
                assert not re.search(r"(?<![\w\]])\[\d\]", code), f"{lesson}: a blank written as a list:\n{cell.source[:300]}"


def test_cells_that_take_long_say_so_beforehand():
    """Where a cell took 10 s or more in the grader's calibration (2 cores), the text before it says how long."""
    from course_grader.kernel.execute import cell_key

    times = json.loads((ROOT / "grader" / "cell_times.json").read_text())
    long_cells = 0
    for lesson in LESSONS:
        cells = notebook("solutions", lesson).cells
        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and cell.source.strip() and times[lesson].get(cell_key(cell), 0) >= 10:
                long_cells += 1
                text = next(c.source for c in reversed(cells[:i]) if c.cell_type == "markdown")
                assert re.search(r"about \d+ seconds\s+on\s+a\s+laptop\s+CPU", text), (
                    f"{lesson}, cell {i} took {times[lesson][cell_key(cell)]:.0f} s; say so in the text above it:\n{cell.source[:200]}")
    assert long_cells >= 5


# Wrong answers that the visible test itself must catch, as its docstring promises (the hidden tests catch them too).
CAUGHT_BY_THE_VISIBLE_TEST = {
    "04_optimizers": ["layer4's rate left out", "layer4 at the Keras example's 1e-5", "layer4 added without its rate",
                      "layer4 added at 1e-5, as in the lesson's demonstration"],
    "05_training_loop": ["eval mode instead of train mode", "train mode left on", "gradients left on"],
    "07_staged_finetuning": ["frozen tensors in the backbone group", "only the last child unfrozen, whatever num_blocks says",
                             "an optimizer over every parameter"],
    "08_capstone": ["the scheduler stepped every batch"],
}
# Lesson 07: its stage 1 trains but binds `model`, which visible tests read: kept; the two cells that read the
# histories of the runs left out go with them.
KEEP_TRAINING = {"07_staged_finetuning": "history_stage1 = fit_cached("}
DROP_WITH_TRAINING = {"07_staged_finetuning": ("def joined(", 'changes = {"staged"')}


@pytest.mark.parametrize("lesson", sorted(CAUGHT_BY_THE_VISIBLE_TEST))
def test_visible_tests_catch_what_their_docstrings_promise(lesson, tmp_path):
    """The student's notebook (solutions, visible tests) runs to the last exercise concerned; then each wrong answer is
    put in its cell and that exercise's visible test must fail; the right answer is put back after each. Worked
    examples that train with the package's fit (and the cells that read their histories) are left out: no exercise
    uses them, and they are most of the lesson's time."""
    from nbclient import NotebookClient

    sys.path.insert(0, str(ROOT / "tests"))
    import simulate
    import wrong_answers

    wrongs = [v for v in wrong_answers.variants(lesson) if v.why in CAUGHT_BY_THE_VISIBLE_TEST[lesson]]
    assert len(wrongs) == len(CAUGHT_BY_THE_VISIBLE_TEST[lesson]) and not any(v.right for v in wrongs)
    nb = notebook("solutions", lesson)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    tests_of = {v.cell: simulate.tested_by(v.cell) for v in wrongs}
    last = max(nb.cells.index(by_id[test]) for test in tests_of.values())
    cells = [nbformat.v4.new_code_cell(simulate.fill(c.source) if c.metadata.get("nbgrader", {}).get("solution")
                                       else visible(c))
             for c in nb.cells[:last + 1] if c.cell_type == "code"
             and (not wrong_answers.trains(c) or KEEP_TRAINING.get(lesson, "\0") in c.source)
             and not any(marker in c.source for marker in DROP_WITH_TRAINING.get(lesson, ()))]
    for v in wrongs:
        test = visible(by_id[tests_of[v.cell]])
        for source in (simulate.fill(by_id[v.cell].source, v.fills), test, simulate.fill(by_id[v.cell].source)):
            cells.append(nbformat.v4.new_code_cell(source))
        cells[-2].source = (f"try:\n    exec({test!r})\nexcept AssertionError as err:\n"
                            f"    print('caught:', {v.why!r}, '|', err)\nelse:\n    print('missed:', {v.why!r})")
    nb.cells = cells
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    for v in wrongs:
        assert f"caught: {v.why} |" in out, f"{lesson}: the visible test of {v.cell} passes {v.why!r}:\n{out[-2000:]}"
