"""The judge: decides, in the grader's own process, from plain data the student's kernel observed.

A graded test cell's hidden part has two halves (see :mod:`course_grader.observe`)::

    ### BEGIN HIDDEN TESTS
    observe(...)        # runs in the student's kernel, compiled by the warden
    ### JUDGE
    assert seen.x == 7  # runs here, never in the student's kernel
    ### END HIDDEN TESTS

:func:`split` cuts a cell at ``### JUDGE``: the kernel gets the cell without the judge's lines
(the visible checks, the observing half), and the judge's lines stay in the grader. The kernel's
warden sends what the test observed, as one line of JSON, with its verdict; :func:`decide` runs
the judge's lines on it, in a namespace that holds ``seen`` (the observations, plain data only),
the names the judge imports itself and those of the lesson's imports it reads (``torch``,
``load_model``), computed here. The expected values, the quiz key, the tolerances and every
message of the judge are in no process the student's code ran in, and no object of the student's
crosses: JSON holds numbers, strings, lists and dicts, nothing that can redefine ``==``.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import signal
import threading

from course_grader.observe import Seen

JUDGE_MARK, BEGIN_HIDDEN, END_HIDDEN = "### JUDGE", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SECONDS = 120  # one judge's time; it only compares and computes references


def split(source: str) -> tuple[str, str | None]:
    """``(what the kernel runs, the judge's lines or None)``: the judge's lines are those between ``### JUDGE``
    and ``### END HIDDEN TESTS``; each half keeps the cell's line numbers (the other half's lines left blank)."""
    lines = source.split("\n")
    mark = next((i for i, line in enumerate(lines) if line.strip() == JUDGE_MARK), None)
    if mark is None:
        return source, None
    end = next((i for i in range(mark + 1, len(lines)) if lines[i].strip() == END_HIDDEN), len(lines))
    judged = ["" if not mark < i < end else line for i, line in enumerate(lines)]
    kernel = ["" if mark <= i < end else line for i, line in enumerate(lines)]
    return "\n".join(kernel).rstrip() + "\n", "\n".join(judged).rstrip() + "\n"


def read_observations(text: str) -> dict:
    """The observations a verdict carried; anything but a JSON object of plain data raises ValueError."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except RecursionError as error:
        raise ValueError("the observations nest too deeply") from error
    if not isinstance(value, dict):
        raise ValueError("the observations are not a JSON object")
    return value


def lesson_import(target: str):
    """What a lesson's import binds, as ``"module"`` or ``"module:attr"`` (``from module import attr``: an attribute,
    or a submodule not imported yet, as with ``from torchvision.transforms import v2``)."""
    module, _, attr = target.partition(":")
    value = importlib.import_module(module)
    if not attr:
        return value
    try:
        return getattr(value, attr)
    except AttributeError:
        return importlib.import_module(f"{module}.{attr}")


def _namespace(judged: str, observations: dict, imported: dict[str, str]) -> dict:
    names = {"__builtins__": builtins, "__name__": "__judge__", "seen": Seen(observations)}
    try:
        tree = ast.parse(judged)
    except SyntaxError:
        return names
    wanted = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    for name in sorted(wanted & set(imported)):
        try:
            names[name] = lesson_import(imported[name])
        except Exception:  # noqa: BLE001 (the judge's own line that uses it says what is missing)
            continue
    return names


def _line(error: BaseException, filename: str) -> int | None:
    """The judge's line (the cell's own numbering) where ``error`` was raised."""
    line, tb = None, error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def modules_needed(judged: list[str], imported: dict[str, str]) -> list[str]:
    """The modules the judges' lines import, or take from the lesson's imports: what a grader may import ahead,
    while the student's notebook runs, so that no judge waits for ``import torch``."""
    found: list[str] = []
    for source in judged:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
            elif isinstance(node, ast.Name) and node.id in imported:
                found.append(imported[node.id].partition(":")[0])
    return list(dict.fromkeys(found))


def import_ahead(modules: list[str]):
    """Import ``modules`` in a thread of their own (the grader's process waits on the kernel meanwhile); a module
    that fails is left for the judge's own line to report. Returns the thread."""
    def run():
        for name in modules:
            try:
                importlib.import_module(name)
            except BaseException:  # noqa: BLE001 (the judge that needs it says what is missing)
                pass

    thread = threading.Thread(target=run, name="judge-imports", daemon=True)
    thread.start()
    return thread


class _TooLong(Exception):
    pass


def decide(judged: str, observations: dict, imported: dict[str, str] | None = None,
           filename: str = "<judge>", seconds: float = SECONDS) -> dict | None:
    """Run the judge's lines on ``observations``: None when they pass, else ``{"ename", "evalue", "line"}``."""
    namespace = _namespace(judged, observations, imported or {})
    alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    if alarm:
        def too_long(signum, frame):
            raise _TooLong()

        previous = signal.signal(signal.SIGALRM, too_long)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        exec(compile(judged, filename, "exec", dont_inherit=True), namespace)
    except _TooLong:
        return {"ename": "JudgeTimeout", "evalue": f"the check of what the test observed took over {seconds:.0f} s",
                "line": None}
    except (AssertionError, AttributeError) as error:  # AttributeError: seen.name the test never observed
        return {"ename": "AssertionError", "evalue": str(error)[:2000], "line": _line(error, filename)}
    except Exception as error:  # noqa: BLE001 (observed values of the wrong kind: the test fails, saying so)
        return {"ename": "AssertionError", "line": _line(error, filename),
                "evalue": f"what the test observed was not what it expected ({type(error).__name__}: "
                          f"{str(error)[:1500]})"}
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return None
