"""What the grader's kernel must know about a lesson to run its tests with what they rely on.

- :data:`WATCHED_MODULES`: modules whose functions and classes tests call (a course adds its own
  packages with ``GuardedExecute.course_modules``). The kernel (:mod:`course_grader.kernel`)
  imports them before any student code, binds what the tests use to the objects those imports
  gave, and refuses to run a test once any of them has been replaced;
- :func:`imported_names`: names the lesson's own cells import (``load_model``, ``torch``), which
  the tests mean even if student code rebinds them;
- :func:`bound_names`: names the notebook defines, which tests may mean instead of a builtin.
"""

from __future__ import annotations

import ast

# Watched in every course; a course adds its own packages with GuardedExecute.course_modules.
WATCHED_MODULES = ["builtins", "math", "operator", "functools", "numpy", "numpy.testing", "torch", "torch.nn",
                   "torch.nn.functional", "torch.testing", "torch.optim", "torchvision", "torchvision.models"]

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


def bound_names(source: str) -> set[str]:
    """Every name a cell binds (assignments, definitions, imports), at any depth."""
    bound: set[str] = set()
    for node in _walk(source):
        bound |= _bound_names(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return bound


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
