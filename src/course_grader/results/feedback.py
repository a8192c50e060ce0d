"""What a student gets back: each test's points and what went wrong, never a hidden test's code.

nbgrader's feedback renders the autograded notebook as it is, hidden tests and tracebacks
included (nbgrader issue #917): one student's feedback would be the next cohort's answer key.
:class:`StudentFeedback` runs between nbgrader's ``GetGrades`` and the HTML export, and for
every test cell

- shows the code the student was given (the hidden region removed, a line saying it ran);
- replaces the outputs with one result: the points, and for a failure the message of the check
  that failed and whether it was the visible test or a hidden check, never a traceback (a
  traceback quotes the failing line, hidden or not);
- says in plain words what an error that is not a failed check means (an unfinished exercise,
  a missing name, a time limit, a crash, code that changed what the tests rely on);
- adds the explanation written for the exercise before it (the ``# Why`` comment of a solution
  cell, as every quiz answer has), unless the instructor withholds explanations;
- last, at the boundary: any output of any cell (a student's own cells included) that holds a
  line of the lesson's hidden tests or solutions, however it got there, is replaced by a note.
  The kernel never sees the hidden tests' text (:mod:`course_grader.kernel`), so this is the
  second wall, not the first. The one text exempt is what the lesson's author wrote for students
  to read: the literal text of a test's own assert messages ("... (optimizer.zero_grad()?)" names
  a solution line on purpose). Only that text is exempt; the rest of a result is still checked.

:func:`explanations` reads those comments from the source notebooks, :func:`secret_lines` the
lines no student may get back.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import nbformat
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Dict

BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HIDDEN_NOTE = "# ... and hidden checks, which the grader ran (not shown)"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# What an error that is not a failed check means, said to a student. {evalue} is filled in.
PLAIN_WORDS = {
    "NotImplementedError": "the exercise this test checks is not done yet: its cell still raises "
                           "NotImplementedError (replace `raise NotImplementedError()` with your code)",
    "NameError": "{evalue}: the test could not find a name your work should define. Was the cell that defines "
                 "it run without an error, and is the name spelt as the exercise asks?",
    "TamperingDetected": "{evalue}",
    "NotRun": "not run: {evalue}. Cells after that point earn nothing; fix what stopped the notebook there",
    "CellTimeoutError": "{evalue}: the test took too long; look for a slow or endless loop in the code it calls",
    "DeadKernelError": "{evalue}",
}


def explanations(notebook) -> dict[str, str]:
    """``{test grade_id: explanation}``: each solution cell's ``# Why`` comment, for the first test cell after it."""
    found, pending = {}, None
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            lines = cell.source.splitlines()
            start = next((i for i, line in enumerate(lines) if line.startswith("# Why")), None)
            if start is not None:
                why = []
                for line in lines[start:]:
                    if not line.startswith("#") or line.startswith("###"):
                        break
                    why.append(line[1:].strip())
                pending = " ".join(why)
        elif meta.get("grade") and not meta.get("solution") and pending:
            found[meta["grade_id"]] = pending
            pending = None
    return found


SOLUTION_REGION = ("### BEGIN SOLUTION", "### END SOLUTION")
REDACTED = "[grader: this output held a line of the lesson's hidden tests or solutions, so it was removed]"
MIN_SECRET = 12  # characters: shorter lines ("return x", "pass") say nothing


def _normal(text: str) -> str:
    return " ".join(text.split())


def secret_lines(source, released=None) -> list[str]:
    """The lines of a source notebook's hidden tests and solutions that its released version does not show,
    whitespace collapsed, at least MIN_SECRET characters long."""
    shown = set()
    if released is not None:
        shown = {_normal(line) for cell in released.cells for line in cell.source.splitlines()}
    found = set()
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        inside = False
        for line in cell.source.splitlines():
            mark = line.strip()
            if mark in (BEGIN_HIDDEN, SOLUTION_REGION[0]):
                inside = True
            elif mark in (END_HIDDEN, SOLUTION_REGION[1]):
                inside = False
            elif inside and len(_normal(line)) >= MIN_SECRET and _normal(line) not in shown:
                found.add(_normal(line))
    return sorted(found)


def course_secret_lines(course_source: Path, course_release: Path, lesson: str) -> dict[str, list[str]]:
    """Secret lines of every notebook of a lesson, by notebook name (without .ipynb)."""
    found = {}
    for path in sorted((course_source / lesson).glob("*.ipynb")):
        released = course_release / lesson / path.name
        found[path.stem] = secret_lines(nbformat.read(path, as_version=4),
                                        nbformat.read(released, as_version=4) if released.is_file() else None)
    return found


def _output_text(output) -> str:
    parts = [str(output.get("text", "")), str(output.get("ename", "")), str(output.get("evalue", ""))]
    parts += [str(line) for line in output.get("traceback", [])]
    parts += [str(v) for v in output.get("data", {}).values()]
    parts += [str(output.get("metadata", ""))]
    return ANSI.sub("", "\n".join(parts))


def assert_messages(source: str) -> list[str]:
    """The literal text of a test's assert messages, whitespace collapsed: written for students to read.

    Only string constants count (an f-string's literal parts, not what it formats), so what a
    message shows of the student's objects is still checked."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.msg is not None:
            found += [_normal(part.value) for part in ast.walk(node.msg)
                      if isinstance(part, ast.Constant) and isinstance(part.value, str) and part.value.strip()]
    return sorted(set(found), key=len, reverse=True)


def leaks(text: str, secrets: list[str], public: list[str] = ()) -> bool:
    """Whether ``text`` holds a secret line once the ``public`` fragments (assert messages) are taken out."""
    text = _normal(text)
    for fragment in public:
        text = text.replace(fragment, "\0")
    return any(line in text for line in secrets)


def redact(nb, secrets: list[str], public: dict[int, list[str]] | None = None) -> int:
    """Replace every output holding a secret line with a note; how many were replaced.

    ``public``: by ``id()`` of an output, the assert messages its text may quote."""
    if not secrets:
        return 0
    public = public or {}
    replaced = 0
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        for i, output in enumerate(outputs):
            if leaks(_output_text(output), secrets, public.get(id(output), ())):
                outputs[i] = NotebookNode(output_type="stream", name="stderr", text=REDACTED + "\n")
                replaced += 1
    return replaced


def course_explanations(source_dir: Path, lesson: str) -> dict[str, dict[str, str]]:
    """Explanations of every notebook of a lesson, by notebook name (without .ipynb)."""
    return {path.stem: explanations(nbformat.read(path, as_version=4))
            for path in sorted((source_dir / lesson).glob("*.ipynb"))}


def visible_source(source: str) -> tuple[str, range | None]:
    """The test as released (hidden region removed), and the 1-based line numbers the region held."""
    lines = source.split("\n")
    begin = next((i for i, line in enumerate(lines) if line.strip() == BEGIN_HIDDEN), None)
    if begin is None:
        return source, None
    end = next((i for i, line in enumerate(lines) if line.strip() == END_HIDDEN), len(lines) - 1)
    return "\n".join(lines[:begin] + [HIDDEN_NOTE] + lines[end + 1:]), range(begin + 1, end + 2)


def _failing_line(error: dict, execution_count: int | None) -> int | None:
    """The line of the test cell where its error was raised (its outermost frame in the traceback)."""
    text = ANSI.sub("", "\n".join(error.get("traceback", [])))
    match = re.search(r"Cell In\[[^\]]*\], line (\d+)", text)
    return int(match.group(1)) if match else None


def result_text(points: float, max_points: float, error: dict | None, hidden: range | None,
                execution_count: int | None) -> str:
    """The one result a student sees for a test cell."""
    score = f"{points:g} / {max_points:g} point{'s' if max_points != 1 else ''}"
    if error is None:
        return f"Passed: {score}." if points >= max_points else f"{score}."
    ename, evalue = error.get("ename", "Error"), ANSI.sub("", str(error.get("evalue", ""))).strip()[:600]
    line = _failing_line(error, execution_count)
    where = "a hidden check" if hidden and line in hidden else "the visible test"
    if ename == "AssertionError":
        what = f"{where} failed: {evalue}" if evalue else f"{where} failed"
    elif ename in PLAIN_WORDS:
        what = PLAIN_WORDS[ename].format(evalue=evalue)
    else:
        what = f"{ename}: {evalue} (raised while {where} ran your code)"
    return f"Failed: {score}. {what[0].upper()}{what[1:]}"


class StudentFeedback(Preprocessor):
    """Rewrites the autograded notebook into what a student may see (run after nbgrader's GetGrades)."""

    enabled = Bool(True, help="nbconvert skips a preprocessor that is not enabled").tag(config=True)
    explanations = Dict(help="Per notebook name: {test grade_id: explanation} (see course_explanations).") \
        .tag(config=True)
    show_explanations = Bool(True, help="Show each answer's explanation; turn off for a quiz reused next term.") \
        .tag(config=True)
    secrets = Dict(help="Per notebook name: lines of its hidden tests and solutions (see course_secret_lines); "
                   "an output holding one is removed.").tag(config=True)

    def preprocess(self, nb, resources):
        notebook = resources.get("nbgrader", {}).get("notebook", "")
        why = self.explanations.get(notebook, {}) if self.show_explanations else {}
        cells, public = [], {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            cells.append(cell)
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            messages = assert_messages(cell.source)
            cell.source, hidden = visible_source(cell.source)
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            text = result_text(float(meta.get("score") or 0), float(meta.get("points") or 0),
                               errors[-1] if errors else None, hidden, cell.get("execution_count"))
            passed = text.startswith("Passed")
            cell.outputs = [NotebookNode(output_type="stream", name="stdout" if passed else "stderr", text=text + "\n")]
            public[id(cell.outputs[0])] = messages
            if meta.get("grade_id") in why:
                cells.append(nbformat.v4.new_markdown_cell(f"**Explanation.** {why[meta['grade_id']]}"))
        nb.cells = cells
        redact(nb, self.secrets.get(notebook, []), public)
        return nb, resources


def test_name(source: str) -> str | None:
    """What a test cell checks, for the feedback's table of contents: the first line of its docstring."""
    try:
        doc = ast.get_docstring(ast.parse(source))
    except SyntaxError:
        return None
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page, with each test named in the table of contents by what it checks.

    nbgrader's template lists every test cell as "Test cell" (its ``feedback/index.html.j2``); here each
    entry shows its test's docstring instead (the test cells come from the gradebook, not the student).
    """

    def from_notebook_node(self, nb, resources=None, **kw):
        names = {cell.metadata["nbgrader"]["grade_id"]: test_name(cell.source) for cell in nb.cells
                 if cell.metadata.get("nbgrader", {}).get("grade") and not cell.metadata["nbgrader"].get("solution")
                 and cell.metadata["nbgrader"].get("grade_id")}
        output, resources = super().from_notebook_node(nb, resources, **kw)
        for grade_id, name in names.items():
            if name:
                anchor = f'<a href="#{html.escape(grade_id)}">'
                output = output.replace(f"{anchor}Test cell</a>", f"{anchor}{html.escape(name)}</a>", 1)
        return output, resources
