"""What a hidden test observes, as plain data: the half of a graded check that runs beside your code.

A graded test cell of the course's solutions has two halves in its hidden part::

    ### BEGIN HIDDEN TESTS
    from course_grader.observe import observe, seen
    observe(out_features=replace_fc(load_model(weights="course"), 10).out_features)
    ### JUDGE
    assert seen.out_features == 10, "use num_classes for the outputs, not a fixed number"
    ### END HIDDEN TESTS

Above ``### JUDGE`` the cell only *observes*: it runs your code on the test's inputs and hands
what came out to :func:`observe`, which turns it into plain data (numbers, strings, lists,
dicts; a tensor becomes nested lists of its numbers). Below it the cell *judges*: it reads
those observations from ``seen`` and decides.

When you run a source notebook yourself (nbval, ``nbgrader validate``), both halves run here,
one after the other, and ``seen`` holds what this cell observed, after the same round trip
through JSON the grader makes. So that the judge changes nothing of the notebook when it runs
there, give its own names a leading underscore (``_expected``, not ``num_classes``) and wrap
anything of it that draws random numbers (building a reference model) in
``torch.random.fork_rng()``: later cells then see the same random numbers as when graded. When the course is graded, only the first half runs in your
kernel; the judge runs in the grader's own process, with nothing but the plain data (see
``course_grader.judge``). Nothing the judge knows (the expected values, the quiz key, the
messages) is ever in the process your code runs in, and no object of yours can reach it: an
object that says it equals anything is not plain data, so it cannot be observed at all.
"""

from __future__ import annotations

import json
import math

MAX_ITEMS = 200_000     # numbers in one observed tensor or array, and items in one list
MAX_DEPTH = 16          # lists in lists in dicts...
MAX_BYTES = 4 * 2**20   # one test's observations, as JSON


class NotPlain(TypeError):
    """A value :func:`observe` cannot send: the test that observed it fails with this message."""


def plain_converter():
    """A function turning a value into JSON's data (see :func:`to_plain`), with the types it accepts found now.

    It looks at types by identity only (``type(value) is int``, ``id`` of numpy's scalar types), so
    no method of a value's class (``__eq__``, ``__hash__``, a metaclass's) runs while it converts.
    """
    _type, _len, _str, _int, _float, _bool, _id = type, len, str, int, float, bool, id
    _list, _tuple, _dict, _isfinite = list, tuple, dict, math.isfinite
    tensors, names, arrays, scalars = (), (), None, {}
    try:
        import torch

        tensors = (torch.Tensor, torch.nn.Parameter)
        try:  # torchvision's tensor classes (an Image from a v2 transform) hold numbers as well
            from torchvision import tv_tensors

            tensors += tuple(v for v in vars(tv_tensors).values()
                             if isinstance(v, type) and issubclass(v, torch.Tensor) and v not in tensors)
        except ImportError:
            pass
        names = (torch.dtype, torch.device)
        size, tolist, cpu, detach, numel = torch.Size, torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.detach, \
            torch.Tensor.numel
    except ImportError:
        size = None
    try:
        import numpy

        arrays = numpy.ndarray
        scalars = {_id(t): t for t in set(numpy.sctypeDict.values())
                   if isinstance(t, type) and numpy.dtype(t).kind in "biuf"}
    except ImportError:
        pass

    def convert(value, depth=0):
        if depth > MAX_DEPTH:
            raise NotPlain(f"observed values nest deeper than {MAX_DEPTH} levels")
        kind = _type(value)
        if value is None or kind is _bool or kind is _int or kind is _str:
            return value
        if kind is _float:
            return value if _isfinite(value) else _str(value)  # "nan", "inf": JSON has no such numbers
        if kind is _list or kind is _tuple:
            if _len(value) > MAX_ITEMS:
                raise NotPlain(f"an observed list has {_len(value):,} items (at most {MAX_ITEMS:,})")
            return [convert(item, depth + 1) for item in value]
        if kind is _dict:
            if _len(value) > MAX_ITEMS:
                raise NotPlain(f"an observed dict has {_len(value):,} items (at most {MAX_ITEMS:,})")
            out = {}
            for key, item in value.items():
                if _type(key) is not _str:
                    raise NotPlain("observed dicts have str keys, not " + _type(key).__qualname__)
                out[key] = convert(item, depth + 1)
            return out
        for tensor in tensors:
            if kind is tensor:
                if numel(value) > MAX_ITEMS:
                    raise NotPlain(f"an observed tensor has {numel(value):,} numbers (at most {MAX_ITEMS:,}): "
                                   "observe a slice or a summary")
                return convert(tolist(cpu(detach(value))), depth)
        if kind is size:
            return [convert(n, depth + 1) for n in _tuple.__iter__(value)]
        for name in names:
            if kind is name:
                return _str(value)
        if kind is arrays:
            if value.dtype.kind not in "biuf":
                raise NotPlain(f"an observed numpy array has dtype {value.dtype}: only numbers and bools are plain")
            if value.size > MAX_ITEMS:
                raise NotPlain(f"an observed array has {value.size:,} numbers (at most {MAX_ITEMS:,})")
            return convert(value.tolist(), depth)
        if _id(kind) in scalars and scalars[_id(kind)] is kind:
            return convert(value.item(), depth)
        raise NotPlain("observe() sends plain data (numbers, strings, lists, dicts, plain tensors and arrays), not a "
                       + _type.__dict__["__qualname__"].__get__(kind))

    return convert


def to_plain(value):
    """``value`` as JSON's data: None, bool, int, float, str, lists and str-keyed dicts of them.

    Only the exact built-in types count (a subclass of ``int`` or ``str`` may redefine ``==``);
    plain tensors and numpy arrays and scalars become their numbers, ``torch.Size`` a list,
    ``torch.dtype`` and ``torch.device`` their names. Anything else raises :class:`NotPlain`
    saying what was given.
    """
    global _convert
    if _convert is None:
        _convert = plain_converter()
    return _convert(value)


_convert = None


def encode(observations: dict, *, _dumps=json.dumps, _len=len, _most=MAX_BYTES) -> str:
    """One test's observations as one line of JSON, at most :data:`MAX_BYTES`. What it calls is bound when it is
    defined: the grading kernel's warden uses it after student code ran, which may have replaced ``json.dumps``."""
    text = _dumps(observations, separators=(",", ":"), allow_nan=False)
    if _len(text) > _most:
        raise NotPlain(f"the test's observations take {_len(text):,} bytes as JSON (at most {_most:,})")
    return text


class Seen:
    """What a test observed, as the judge reads it: ``seen.name`` (or ``seen["name"]``)."""

    def __init__(self, observations: dict | None = None):
        object.__setattr__(self, "_values", dict(observations or {}))

    def __getattr__(self, name: str):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"the test observed no {name!r}: it stopped before observing it, or never does")

    __getitem__ = __getattr__

    def __contains__(self, name: str) -> bool:
        return name in object.__getattribute__(self, "_values")

    def __setattr__(self, name, value):
        raise AttributeError("seen is read-only: observe() adds to it")

    def __repr__(self) -> str:
        return f"Seen({object.__getattribute__(self, '_values')!r})"

    def _update(self, values: dict) -> None:
        object.__getattribute__(self, "_values").update(values)

    def _clear(self, *unused) -> None:
        object.__getattribute__(self, "_values").clear()


seen = Seen()


def observe(**values) -> None:
    """Record plain data for this cell's judge: each keyword a name the judge reads as ``seen.name``.

    Run yourself (outside the grader), the values make the same JSON round trip the grader's do and
    are added to :data:`seen`, which is emptied before each cell IPython runs.
    """
    plain = {name: to_plain(value) for name, value in values.items()}
    seen._update(json.loads(encode(plain)))


def _clear_before_each_cell() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and seen._clear not in shell.events.callbacks.get("pre_run_cell", []):
        shell.events.register("pre_run_cell", seen._clear)


_clear_before_each_cell()
