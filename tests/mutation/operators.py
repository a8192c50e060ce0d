"""Wrong variants of a solution cell, made by small changes to its syntax tree.

Only code inside the cell's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions is changed:
the rest of the cell is the lesson's, not the student's. Each mutant is the whole cell with one
change, written back as source by ``ast.unparse`` (comments and markers are dropped, which
changes nothing a test can see).

A mutant's id says what changed, e.g. ``compare: probs >= threshold -> probs > threshold``;
it depends on the solution's code, not on where in the cell it stands, so that a list of
equivalent mutants keyed by id survives edits elsewhere in the notebook.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

BINOPS = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult, ast.FloorDiv],
          ast.FloorDiv: [ast.Div], ast.Mod: [ast.FloorDiv], ast.Pow: [ast.Mult],
          ast.BitAnd: [ast.BitOr], ast.BitOr: [ast.BitAnd]}
COMPARES = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
            ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot],
            ast.IsNot: [ast.Is], ast.In: [ast.NotIn], ast.NotIn: [ast.In]}
# names and attributes that have a twin a student may pick instead
TWINS = {"train": "eval", "eval": "train", "max": "min", "min": "max", "argmax": "argmin", "argmin": "argmax",
         "any": "all", "all": "any", "no_grad": "enable_grad", "startswith": "endswith", "endswith": "startswith",
         "softmax": "log_softmax", "log_softmax": "softmax"}
# calls a student may leave out, the call then being just its object (x.clone() -> x) or its argument
DROPPABLE_METHODS = {"clone", "detach", "long", "float", "int", "item", "tolist", "eval", "train", "convert",
                     "parameters", "state_dict", "requires_grad_"}
DROPPABLE_FUNCTIONS = {"deepcopy", "list", "int", "float", "sorted", "tuple", "set", "filter"}
# layers a head is made of: an activation may be put after them (outputs squashed)
LAYERS = {"Linear", "Conv2d", "Sequential"}
ACTIVATIONS = ("Sigmoid", "Tanh")


@dataclass(frozen=True)
class Mutant:
    id: str
    source: str


@dataclass
class _Entry:
    node: ast.AST
    parent: ast.AST | None
    field: str | None
    index: int | None


def solution_lines(source: str) -> set[int]:
    """1-based numbers of the lines inside the cell's solution regions."""
    lines, inside = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif inside:
            lines.add(number)
    return lines


def _entries(tree: ast.AST) -> list[_Entry]:
    """Every node, parent first, in a fixed order (the same for a deep copy)."""
    out = []

    def visit(node, parent, field, index):
        out.append(_Entry(node, parent, field, index))
        for name, value in ast.iter_fields(node):
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        visit(item, node, name, i)
            elif isinstance(value, ast.AST):
                visit(value, node, name, None)

    visit(tree, None, None, None)
    return out


def _text(node: ast.AST, limit: int = 90) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _replace(entry: _Entry, new: ast.AST) -> None:
    if entry.index is None:
        setattr(entry.parent, entry.field, new)
    else:
        getattr(entry.parent, entry.field)[entry.index] = new


def _is_docstring(entry: _Entry) -> bool:
    return isinstance(entry.parent, ast.Expr)


# Each operator: choices(entry) -> labels of the changes it can make at that node;
# apply(entry, k) makes the k-th change in place (on a copy of the tree).

def _binop(entry):
    node = entry.node
    if isinstance(node, (ast.BinOp, ast.AugAssign)):
        return BINOPS.get(type(node.op), [])
    return []


def _apply_binop(entry, new):
    entry.node.op = new()


def _compare(entry):
    node = entry.node
    if isinstance(node, ast.Compare):
        return [(i, new) for i, op in enumerate(node.ops) for new in COMPARES.get(type(op), [])]
    return []


def _apply_compare(entry, choice):
    i, new = choice
    entry.node.ops[i] = new()


def _boolop(entry):
    node = entry.node
    if isinstance(node, ast.BoolOp):
        return [ast.Or if isinstance(node.op, ast.And) else ast.And]
    return []


def _apply_boolop(entry, new):
    entry.node.op = new()


def _unary(entry):
    node = entry.node
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert, ast.USub)):
        return ["drop"]
    return []


def _apply_unary(entry, _):
    _replace(entry, entry.node.operand)


def _constant(entry):
    node = entry.node
    if not isinstance(node, ast.Constant) or _is_docstring(entry):
        return []
    value = node.value
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [value * 2, value / 2] if value else [1.0]
    if isinstance(value, str) and value:
        return [""]
    return []


def _apply_constant(entry, new):
    entry.node.value = new


def _twin(entry):
    node = entry.node
    if isinstance(node, ast.Name) and node.id in TWINS:
        return [TWINS[node.id]]
    if isinstance(node, ast.Attribute) and node.attr in TWINS:
        return [TWINS[node.attr]]
    return []


def _apply_twin(entry, new):
    if isinstance(entry.node, ast.Name):
        entry.node.id = new
    else:
        entry.node.attr = new


def _call_name(func: ast.AST) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _dropcall(entry):
    node = entry.node
    if not isinstance(node, ast.Call) or isinstance(entry.parent, ast.Expr):
        return []  # a call standing alone as a statement is covered by dropping the statement
    name = _call_name(node.func)
    if isinstance(node.func, ast.Attribute) and name in DROPPABLE_METHODS:
        return ["object"]
    if name in DROPPABLE_FUNCTIONS and node.args:
        return ["argument"]
    return []


def _apply_dropcall(entry, kind):
    node = entry.node
    _replace(entry, node.func.value if kind == "object" else node.args[-1])


def _keyword(entry):
    node = entry.node
    if isinstance(node, ast.Call):
        return list(range(len(node.keywords)))
    return []


def _apply_keyword(entry, i):
    del entry.node.keywords[i]


def _arguments(entry):
    """Two positional arguments of a call change places (nn.Linear(num_classes, in_features))."""
    node = entry.node
    if isinstance(node, ast.Call):
        return [i for i in range(len(node.args) - 1) if not isinstance(node.args[i], ast.Starred)
                and not isinstance(node.args[i + 1], ast.Starred)]
    return []


def _apply_arguments(entry, i):
    args = entry.node.args
    args[i], args[i + 1] = args[i + 1], args[i]


def _flag(entry):
    """requires_grad_() and requires_grad_(True) become requires_grad_(False), and the other way round."""
    node = entry.node
    if isinstance(node, ast.Call) and _call_name(node.func) == "requires_grad_":
        return ["flip"]
    return []


def _apply_flag(entry, _):
    node = entry.node
    value = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else True
    node.args = [ast.Constant(not value)]
    node.keywords = [k for k in node.keywords if k.arg != "requires_grad"]


def _activation(entry):
    """A layer built by nn.Linear(...) etc. gets an activation after it: its outputs are squashed."""
    node = entry.node
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LAYERS
            and not (isinstance(entry.parent, ast.Call) and _call_name(entry.parent.func) == "Sequential")):
        return list(ACTIVATIONS)
    return []


def _apply_activation(entry, name):
    node = entry.node
    nn = node.func.value  # the same module the layer came from (nn, torch.nn)
    wrapped = ast.Call(ast.Attribute(copy.deepcopy(nn), "Sequential", ast.Load()),
                       [node, ast.Call(ast.Attribute(copy.deepcopy(nn), name, ast.Load()), [], [])], [])
    _replace(entry, wrapped)


def _drop(entry):
    if isinstance(entry.node, ast.stmt) and entry.index is not None and not isinstance(entry.node, ast.Pass):
        return ["pass"]
    return []


def _apply_drop(entry, _):
    _replace(entry, ast.Pass())


def _swap(entry):
    if isinstance(entry.node, ast.stmt) and entry.index is not None:
        body = getattr(entry.parent, entry.field)
        if entry.index + 1 < len(body):
            return ["next"]
    return []


def _apply_swap(entry, _):
    body = getattr(entry.parent, entry.field)
    i = entry.index
    body[i], body[i + 1] = body[i + 1], body[i]


OPERATORS = {
    "binop": (_binop, _apply_binop), "compare": (_compare, _apply_compare), "boolop": (_boolop, _apply_boolop),
    "unary": (_unary, _apply_unary), "constant": (_constant, _apply_constant), "twin": (_twin, _apply_twin),
    "dropcall": (_dropcall, _apply_dropcall), "keyword": (_keyword, _apply_keyword),
    "arguments": (_arguments, _apply_arguments), "flag": (_flag, _apply_flag),
    "activation": (_activation, _apply_activation), "drop": (_drop, _apply_drop), "swap": (_swap, _apply_swap),
}


def _inside(entry: _Entry, lines: set[int]) -> bool:
    node = entry.node
    if entry.parent is None or not hasattr(node, "lineno"):
        return False
    span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
    return all(n in lines for n in span)


def original(source: str) -> str:
    """The cell as every mutant of it is written (unparsed), without a change: the control."""
    return ast.unparse(ast.parse(source))


def mutants(source: str) -> list[Mutant]:
    """Every mutant of the solution regions of a cell, in a fixed order, duplicates and no-ops left out."""
    lines = solution_lines(source)
    base = ast.parse(source)
    unchanged = ast.unparse(base)
    seen, ids, out = {unchanged}, {}, []
    for position, entry in enumerate(_entries(base)):
        if not _inside(entry, lines):
            continue
        for name, (choices, apply) in OPERATORS.items():
            for choice in choices(entry):
                if name == "swap":  # both statements must be the student's
                    following = getattr(entry.parent, entry.field)[entry.index + 1]
                    if not all(n in lines for n in range(following.lineno, following.end_lineno + 1)):
                        continue
                tree = copy.deepcopy(base)
                copied = _entries(tree)[position]
                before = _text(copied.node)
                if name == "swap":
                    before = f"{before} <-> {_text(getattr(copied.parent, copied.field)[copied.index + 1])}"
                apply(copied, choice)
                ast.fix_missing_locations(tree)
                mutated = ast.unparse(tree)
                if mutated in seen:
                    continue
                seen.add(mutated)
                after = "" if name in ("drop", "swap") else " -> " + _text(_changed(copied))
                label = f"{name}: {before}{after}"
                ids[label] = ids.get(label, 0) + 1
                if ids[label] > 1:
                    label = f"{label} #{ids[label]}"
                out.append(Mutant(label, mutated))
    return out


def _changed(copied: _Entry) -> ast.AST:
    """The node that now stands where the mutated one stood."""
    if copied.index is None:
        return getattr(copied.parent, copied.field)
    return getattr(copied.parent, copied.field)[copied.index]
