"""Catching student code that changes what the tests rely on, to fake a pass.

Student code and the tests run in one Python process, so a submission can, say, replace
``torch.allclose`` with ``lambda *a, **k: True`` before the test cell runs. The grader checks
the kernel from outside, with code it sends afresh each time (nothing the student can rebind):

- a baseline, taken when the kernel starts and before any cell runs, of every function and
  class in the modules tests use (builtins, math, numpy, torch, torchvision.models, and the
  course's own packages, ``GuardedExecute.course_modules``): each must still be the same object
  when a test cell starts and when it ends;
- no trace or profile function and no IPython input/AST transformer or event callback defined
  by the notebook (these can rewrite or skip a test cell's asserts);
- names a test cell uses that the lesson imports (``load_model``, ``torch``, ...) must still be
  bound to what the import gave, unless the lesson's exercises define them.

A test cell that starts or ends with any of these changed earns nothing, and the report says
what was changed. Limits: this catches replacement of what the tests call; code written to
attack the checker itself (it runs in the same interpreter) is not stopped by it, and an
instructor reading the report or the autograded notebook is the last line of defence.
"""

from __future__ import annotations

import ast
import json

# Watched in every course; a course adds its own packages with GuardedExecute.course_modules.
WATCHED_MODULES = ["builtins", "math", "operator", "functools", "numpy", "numpy.testing", "torch", "torch.nn",
                   "torch.nn.functional", "torch.testing", "torch.optim", "torchvision", "torchvision.models"]

# Sent as a user_expression: builds the fingerprint in a fresh namespace and returns it as JSON.
_FINGERPRINT = r'''
import sys as _sys, json as _json, importlib as _importlib
_out = {"modules": {}, "hooks": [], "names": {}}
for _m in WATCHED if IMPORT else []:
    try:
        _importlib.import_module(_m)
    except Exception:
        pass
for _m in WATCHED:
    _mod = _sys.modules.get(_m)
    if _mod is None:
        continue
    for _k, _v in list(vars(_mod).items()):
        if not _k.startswith("__") and (callable(_v) or isinstance(_v, type)):
            _out["modules"][_m + "." + _k] = id(_v)
    _out["modules"][_m] = id(_mod)
if _sys.gettrace() is not None:
    _out["hooks"].append("sys.settrace: " + repr(_sys.gettrace())[:120])
if _sys.getprofile() is not None:
    _out["hooks"].append("sys.setprofile: " + repr(_sys.getprofile())[:120])
_ip = get_ipython()
def _own(f):
    return getattr(f, "__module__", None) in (None, "__main__") or "<locals>" in getattr(f, "__qualname__", "")
for _kind in ("ast_transformers", "input_transformers_cleanup", "input_transformers_post"):
    for _t in getattr(_ip, _kind, []):
        _f = _t if hasattr(_t, "__module__") else type(_t)
        if _own(_f) or _own(type(_t)):
            _out["hooks"].append(_kind + ": " + repr(_t)[:120])
for _event, _callbacks in _ip.events.callbacks.items():
    for _f in _callbacks:
        if _own(_f):
            _out["hooks"].append("events." + _event + ": " + repr(_f)[:120])
for _name, _target in NAMES.items():
    _mod_name, _, _attr = _target.partition(":")
    _mod = _sys.modules.get(_mod_name)
    _expected = _mod if not _attr or _mod is None else getattr(_mod, _attr, None)
    _out["names"][_name] = _name in _ip.user_ns and _expected is not None and _ip.user_ns[_name] is _expected
RESULT = _json.dumps(_out)
'''


def fingerprint_expression(names: dict[str, str], import_modules: bool, course_modules: list[str] = ()) -> str:
    """A Python expression that evaluates, in the kernel, to the fingerprint as a JSON string."""
    code = _FINGERPRINT.replace("WATCHED", repr(WATCHED_MODULES + list(course_modules))).replace("IMPORT", repr(import_modules)) \
        .replace("NAMES", repr(names))
    return f"(lambda g: (exec({code!r}, g), g['RESULT'])[1])({{'get_ipython': get_ipython}})"


def parse_fingerprint(reply_value: dict) -> dict:
    """The fingerprint from a user_expressions result (its text/plain is the repr of a JSON string)."""
    if reply_value.get("status") != "ok":
        raise ValueError(f"fingerprint failed in the kernel: {reply_value.get('ename')}: {reply_value.get('evalue')}")
    return json.loads(ast.literal_eval(reply_value["data"]["text/plain"]))


def tampering(baseline: dict, now: dict) -> list[str]:
    """What differs from the baseline, in words a student understands; empty when nothing changed."""
    changed = [name for name, ident in baseline["modules"].items() if now["modules"].get(name, ident) != ident]
    problems = [f"your code replaced {name}, which the tests use to check your work" for name in changed[:5]]
    if len(changed) > 5:
        problems.append(f"... and {len(changed) - 5} more functions the tests use")
    problems += [f"your code installed {hook.split(':')[0]}, which can change how the tests run" for hook in now["hooks"]]
    problems += [f"your code gave the name {name} to something else, but the lesson imported {name} and the tests "
                 "use it (give your own variables other names)" for name, ok in now["names"].items() if not ok]
    return problems


def imported_names(source_cells: list[str], solution_cells: list[str]) -> dict[str, str]:
    """Names bound by import statements in the lesson's own cells: {name: "module" or "module:attr"}.

    Names that solution cells define (an exercise may ask for ``freeze_all``) or that any cell
    assigns otherwise are left out: they are the student's to change.
    """
    imported: dict[str, str] = {}
    rebound: set[str] = set()
    for source in source_cells:
        for node in _walk(source):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        imported[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        imported[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        imported[alias.asname or alias.name] = f"{node.module}:{alias.name}"
            else:
                rebound |= _bound_names(node)
    for source in solution_cells:
        for node in _walk(source):
            rebound |= _bound_names(node)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                rebound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return {name: target for name, target in imported.items() if name not in rebound}


def names_used(source: str) -> set[str]:
    """Names a cell reads but does not bind itself (a test cell's own imports are its own)."""
    bound: set[str] = set()
    for node in _walk(source):
        bound |= _bound_names(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return {node.id for node in _walk(source) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)} \
        - bound


def _walk(source: str):
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return []
    return ast.walk(tree)


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _bound_names(node) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return {node.id}
    return set()
