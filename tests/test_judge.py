"""The judge's parts on their own: what a test may observe, how a cell is cut, how the judge decides.

End to end (the real grader, hostile students) they are exercised by tests/test_exploits.py and
tests/test_grading.py; here each part's edges, quickly.
"""

import json
import subprocess
import sys
import textwrap

import numpy
import pytest
import torch

from course_grader import judge
from course_grader.observe import MAX_ITEMS, NotPlain, Seen, observe, seen, to_plain


# -- observe: plain data only ------------------------------------------------------------------
def test_plain_values_cross_as_json_data():
    value = {"t": torch.arange(3.0), "p": torch.nn.Parameter(torch.ones(2)), "size": torch.Size([2, 3]),
             "dtype": torch.float16, "np": numpy.arange(3), "scalar": numpy.float32(0.5), "tuple": (1, "a", None),
             "nested": [[True, 2.5]], "nan": float("nan"), "zero_d": torch.tensor(4)}
    assert to_plain(value) == {"t": [0.0, 1.0, 2.0], "p": [1.0, 1.0], "size": [2, 3], "dtype": "torch.float16",
                               "np": [0, 1, 2], "scalar": 0.5, "tuple": [1, "a", None], "nested": [[True, 2.5]],
                               "nan": "nan", "zero_d": 4}
    json.dumps(to_plain(value), allow_nan=False)  # JSON as it is, no NaN


class _Anything(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class _Yes:
    def __eq__(self, other):
        return True


class _CloseToEverything(torch.Tensor):
    pass


@pytest.mark.parametrize("value", [
    _Anything(5),                                       # an int that equals anything
    numpy.array(_Yes(), dtype=object),                  # the third round's 0-d object array
    numpy.array(["a"], dtype=object),
    torch.zeros(2).as_subclass(_CloseToEverything),     # a Tensor subclass
    torch.nn.Linear(2, 2),                              # a module: observe its numbers instead
    {1: "int key"},
    [_Yes()],
    b"bytes",
], ids=["int-subclass", "object-array", "object-array-of-str", "tensor-subclass", "module", "int-key", "in-list",
        "bytes"])
def test_anything_else_is_refused_with_what_was_given(value):
    with pytest.raises(NotPlain, match="plain|str keys|dtype object"):
        to_plain(value)


def test_sizes_and_depths_are_bounded():
    with pytest.raises(NotPlain, match="at most"):
        to_plain(torch.zeros(MAX_ITEMS + 1))
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(NotPlain, match="nest deeper"):
        to_plain(deep)


def test_no_method_of_a_values_class_runs_while_it_is_converted():
    ran = []

    class Meta(type):
        def __eq__(cls, other):
            ran.append("__eq__")
            return True

        def __hash__(cls):
            ran.append("__hash__")
            return 0

    class Sneaky(metaclass=Meta):
        pass

    with pytest.raises(NotPlain):
        to_plain(Sneaky())
    assert ran == []


def test_run_yourself_observe_fills_seen_through_the_same_json_round_trip():
    seen._clear()
    observe(shape=torch.Size([2, 3]), scores=torch.tensor([[1.0, 2.0]]))
    assert seen.shape == [2, 3] and seen["scores"] == [[1.0, 2.0]] and "shape" in seen
    with pytest.raises(AttributeError, match="observed no 'missing'"):
        seen.missing
    with pytest.raises(AttributeError, match="read-only"):
        seen.shape = 1
    seen._clear()


# -- split: the kernel's half and the judge's half ----------------------------------------------
CELL = textwrap.dedent('''\
    """double doubles."""
    assert double(1) == 2
    ### BEGIN HIDDEN TESTS
    from course_grader.observe import observe, seen
    observe(at_3=double(3))
    ### JUDGE
    assert seen.at_3 == 6, "double(3) should be 6"
    ### END HIDDEN TESTS''')


def test_a_cell_is_cut_at_the_judge_mark_each_half_keeping_its_line_numbers():
    kernel, judged = judge.split(CELL)
    assert "seen.at_3 == 6" not in kernel and "should be 6" not in kernel and "observe(at_3=double(3))" in kernel
    assert judged.split("\n")[6] == 'assert seen.at_3 == 6, "double(3) should be 6"'
    assert "double(1)" not in judged and "observe(" not in judged
    assert kernel.split("\n")[4] == "observe(at_3=double(3))"
    assert judge.split("assert x == 1\n") == ("assert x == 1\n", None)  # a test without a judge runs as it is


def test_the_judge_passes_right_observations_and_fails_others_with_its_message_and_line():
    _, judged = judge.split(CELL)
    assert judge.decide(judged, {"at_3": 6}) is None
    failure = judge.decide(judged, {"at_3": 7})
    assert failure == {"ename": "AssertionError", "evalue": "double(3) should be 6", "line": 7}
    missing = judge.decide(judged, {})
    assert missing["ename"] == "AssertionError" and "observed no 'at_3'" in missing["evalue"] and missing["line"] == 7
    wrong_kind = judge.decide("import math\nassert math.isclose(seen.x, 1.0), 'x'\n", {"x": "a string"})
    assert wrong_kind["ename"] == "AssertionError" and "TypeError" in wrong_kind["evalue"]


def test_the_judge_reads_the_lessons_imports_it_uses_and_nothing_of_the_notebook():
    judged = "assert torch.equal(torch.tensor(seen.t), torch.ones(2)), 'ones'\nassert 'secret' not in dir()\n"
    assert judge.decide(judged, {"t": [1.0, 1.0]}, {"torch": "torch", "secret": "os"}) is None
    assert judge.decide("assert num_classes == 5, 'n'\n", {}, {})["evalue"].startswith(
        "what the test observed was not what it expected (NameError")


def test_a_judge_that_runs_too_long_fails_the_test():
    failure = judge.decide("while True:\n    pass\n", {}, seconds=0.2)
    assert failure["ename"] == "JudgeTimeout"


@pytest.mark.parametrize("text", ["[1, 2]", "not json", "[" * 100000 + "]" * 100000])
def test_observations_that_are_not_a_json_object_are_refused(text):
    with pytest.raises(ValueError):
        judge.read_observations(text)


def test_seen_is_plain_and_read_only():
    box = Seen({"a": 1})
    assert box.a == 1 and box["a"] == 1 and repr(box) == "Seen({'a': 1})"


# -- the kernel's half: observe is the warden's, whatever the notebook binds ---------------------
def test_in_the_grading_kernel_observe_is_the_wardens_even_where_the_notebook_defines_its_own(tmp_path):
    """The compiled test calls the warden's observe, not a notebook's ``observe`` or the module's (which a student
    could replace); the verdict line carries the observations."""
    script = textwrap.dedent('''
        import json, os, sys
        from course_grader import judge
        from course_grader.kernel import warden as kernel
        read, write = os.pipe()
        import builtins
        ns = {"__builtins__": builtins, "double": lambda x: 2 * x, "observe": lambda **k: None}
        import course_grader.observe as module
        module.observe = lambda **k: None
        kernel.install({"tests": {"t1": {"source": judge.split(CELL)[0], "token": "tok", "cell": "c"}},
                        "watched": [], "preload": []}, write, ns)
        sys.audit("course_grader.test", "t1")
        os.close(write)
        print(os.read(read, 65536).decode())
    ''').replace("CELL", repr(CELL))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    kind, tid, token, observed = done.stdout.strip().split(" ", 3)
    assert (kind, tid, token) == ("pass", "t1", "tok"), done.stdout
    assert json.loads(observed) == {"at_3": 6}


def test_the_judges_modules_are_found_and_imported_ahead():
    judged = ["import torch\nfrom finetune_course.models import load_model\nassert nn.Linear, 'x'\n", "def broken(:\n"]
    assert judge.modules_needed(judged, {"nn": "torch.nn", "unused": "os"}) == \
        ["torch", "finetune_course.models", "torch.nn"]
    thread = judge.import_ahead(["json", "no_such_module_at_all"])  # a failure is left to the judge that needs it
    thread.join(timeout=60)
    assert not thread.is_alive() and "json" in sys.modules
