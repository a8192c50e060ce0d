"""A test cell as the grader runs it: compiled before any student code, with what it calls bound.

:mod:`course_grader.kernel` compiles each test cell of the notebook when the kernel starts,
before the first student cell, from sources the student's code never sees. This module turns a
test cell's source into that code, keeping its line numbers:

- the cell becomes a function body, so its names are locals that student code cannot read or
  rebind while the test runs (a name the cell reads before it assigns it starts as the
  notebook's value);
- what the cell imports, the names the lesson imported (``torch``, ``load_model``), the
  attributes of those modules it uses (``torch.allclose``) and builtins (``len``) are bound when
  the kernel starts, to the objects the imports gave then: replacing ``torch.allclose`` or
  ``builtins.len`` later changes nothing the test calls;
- every comparison, every ``assert`` and every call of those bound functions first checks the
  values involved: an object that redefines ``==``, ``bool`` or ``__torch_function__`` (an
  ``int`` or ``str`` subclass that equals anything, a Tensor subclass that is close to
  everything) fails the check with a message, instead of passing it.
"""

from __future__ import annotations

import ast
import builtins

_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
CMP_HELPER, TRUTH_HELPER, CALL_HELPER = "_grader_cmp", "_grader_truth", "_grader_call"
OBSERVE_HELPER = "_grader_observe"  # the warden's observe(): what the test hands to the judge
GRADING_MODULE = "course_grader.observe"  # where a source notebook's own observe and seen come from
TEST_NAME = "_grader_test"
# Builtins left as they are: the compiler gives a method that names `super` its __class__ cell, which zero-argument
# super() needs (bound under another name it fails with "__class__ cell not found").
UNBOUND_BUILTINS = frozenset({"super"})


class Plan:
    """What a test cell needs bound before it runs: ``{closure name: how to find it}``."""

    def __init__(self):
        self.bindings: dict[str, tuple] = {}   # name -> ("import", module) | ("attr", module, attr) | ("builtin", name)
        self.guarded: set[str] = set()         # closure names whose calls check their arguments

    def bind(self, how: tuple) -> str:
        for name, known in self.bindings.items():
            if known == how:
                return name
        name = f"_grader_b{len(self.bindings)}"
        self.bindings[name] = how
        return name


def _assigned(body: list[ast.stmt]) -> set[str]:
    """Names a function made of ``body`` would treat as local."""
    names: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_Name(self, node):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)

        def visit_FunctionDef(self, node):
            names.add(node.name)  # the body is another scope

        visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

        def visit_Lambda(self, node):
            pass

        def visit_Import(self, node):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)

        def visit_ImportFrom(self, node):
            names.update(a.asname or a.name for a in node.names)

        def visit_ExceptHandler(self, node):
            if node.name:
                names.add(node.name)
            self.generic_visit(node)

        def visit_ListComp(self, node):  # comprehensions have their own scope, but read the outer one
            for gen in node.generators:
                self.visit(gen.iter)

        visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_ListComp

    for stmt in body:
        Visitor().visit(stmt)
    return names


class _Rewrite(ast.NodeTransformer):
    def __init__(self, plan: Plan, imported: dict[str, str], local: set[str], notebook_names: set[str]):
        self.plan, self.imported, self.local, self.notebook_names = plan, imported, local, notebook_names
        self.imports: dict[str, str] = {}  # names the cell's own `import module [as name]` bound
        self.scopes: list[set[str]] = []   # names bound by nested functions / lambdas / comprehensions

    def _shadowed(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    # -- what the cell imports becomes a binding made when the kernel starts ----------------------
    def visit_Import(self, node):
        out = []
        for alias in node.names:
            if alias.asname:
                how = ("import", alias.name)
                target = alias.asname
            else:
                how = ("import", alias.name.split(".")[0])
                target = alias.name.split(".")[0]
                self.plan.bind(("import", alias.name))  # imported when the kernel starts, as the test would
            self.imports[target] = how[1]
            out.append(ast.copy_location(ast.Assign([ast.Name(target, ast.Store())],
                                                    ast.Name(self.plan.bind(how), ast.Load())), node))
        return out

    def visit_ImportFrom(self, node):
        if node.module == GRADING_MODULE and not node.level:  # observe is the warden's; seen is the judge's alone
            return [ast.copy_location(ast.Assign([ast.Name(a.asname or a.name, ast.Store())],
                                                 ast.Name(OBSERVE_HELPER, ast.Load()) if a.name == "observe"
                                                 else ast.Constant(None)), node)
                    for a in node.names]
        if node.level or not node.module or any(a.name == "*" for a in node.names):
            return node
        return [ast.copy_location(ast.Assign([ast.Name(a.asname or a.name, ast.Store())],
                                             ast.Name(self.plan.bind(("attr", node.module, a.name)), ast.Load())), node)
                for a in node.names]

    # -- names and attribute chains --------------------------------------------------------------
    def _root(self, node) -> tuple | None:
        """How to find a name at kernel start, when the test means the lesson's import or a builtin."""
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load):
            return None
        name = node.id
        if name in self.imports and not self._shadowed(name):
            return ("local-import", self.imports[name])
        if name in self.local or self._shadowed(name):
            return None
        if name == "observe" and self.imported.get(name, f"{GRADING_MODULE}:observe") == f"{GRADING_MODULE}:observe" \
                and name not in self.notebook_names:
            return ("observe",)
        if name in self.imported:
            module, _, attr = self.imported[name].partition(":")
            return ("attr", module, attr) if attr else ("import", module)
        if name not in self.notebook_names and hasattr(builtins, name) and not name.startswith("__") \
                and name not in UNBOUND_BUILTINS:
            return ("builtin", name)
        return None

    def visit_Name(self, node):
        how = self._root(node)
        if how is None or how[0] == "local-import":
            return node
        if how == ("observe",):
            return ast.copy_location(ast.Name(OBSERVE_HELPER, ast.Load()), node)
        return ast.copy_location(ast.Name(self.plan.bind(how), ast.Load()), node)

    def visit_Attribute(self, node):
        chain, base = [], node
        while isinstance(base, ast.Attribute) and isinstance(base.ctx, ast.Load):
            chain.append(base.attr)
            base = base.value
        how = self._root(base)
        if how is not None and how[0] in ("import", "local-import") and isinstance(node.ctx, ast.Load):
            # module.attr.attr...: bound as far as modules go; the kernel resolves it (see kernel._resolve)
            return ast.copy_location(ast.Name(self.plan.bind(("chain", how[1], tuple(reversed(chain)))),
                                              ast.Load()), node)
        return self.generic_visit(node)

    # -- nested scopes ---------------------------------------------------------------------------
    def _scoped(self, node, names: set[str]):
        self.scopes.append(names)
        try:
            return self.generic_visit(node)
        finally:
            self.scopes.pop()

    def visit_FunctionDef(self, node):
        args = node.args
        names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a}
        return self._scoped(node, names | _assigned(node.body))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        args = node.args
        names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a}
        return self._scoped(node, names)

    def visit_ListComp(self, node):
        names = set()
        for gen in node.generators:
            names |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        return self._scoped(node, names)

    visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_ListComp

    # -- checked comparisons, asserts and calls --------------------------------------------------
    def visit_Compare(self, node):
        node = self.generic_visit(node)
        ops = ast.Constant(tuple(_CMP[type(op)] for op in node.ops))
        return ast.copy_location(ast.Call(ast.Name(CMP_HELPER, ast.Load()), [ops, node.left, *node.comparators], []),
                                 node)

    def visit_Assert(self, node):
        node = self.generic_visit(node)
        node.test = ast.copy_location(ast.Call(ast.Name(TRUTH_HELPER, ast.Load()), [node.test], []), node.test)
        return node

    def visit_Call(self, node):
        node = self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in self.plan.bindings \
                and self.plan.bindings[node.func.id][0] in ("attr", "chain", "builtin"):
            return ast.copy_location(ast.Call(ast.Name(CALL_HELPER, ast.Load()), [node.func, *node.args],
                                              node.keywords), node)
        return node


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def compile_test(source: str, imported: dict[str, str], notebook_names: set[str], filename: str):
    """``(code, plan)``: code that, run in the notebook's namespace, defines ``_grader_factory(helpers..., bindings...)``,
    which returns the test as a function of no arguments."""
    tree = ast.parse(_strip_magics(source))
    body = tree.body or [ast.Pass()]
    local = _assigned(body)
    plan = Plan()
    rewrite = _Rewrite(plan, imported, local, notebook_names)
    body = [rewrite.visit(stmt) for stmt in body]
    flat: list[ast.stmt] = []
    for stmt in body:
        flat.extend(stmt if isinstance(stmt, list) else [stmt])
    # A name the cell reads before assigning starts as the notebook's value, as it would at top level.
    reads = {n.id for n in ast.walk(ast.Module(flat, [])) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    preset = sorted(local & reads)
    start = [ast.parse(f"if {name!r} in _grader_ns: {name} = _grader_ns[{name!r}]").body[0] for name in preset]
    for stmt in start:
        ast.fix_missing_locations(stmt)
        for node in ast.walk(stmt):
            node.lineno = node.end_lineno = 1
            node.col_offset = node.end_col_offset = 0
    test = ast.FunctionDef(TEST_NAME, ast.arguments([], [], None, [], [], None, []), start + flat, [], None, None)
    params = [CMP_HELPER, TRUTH_HELPER, CALL_HELPER, OBSERVE_HELPER, "_grader_ns", *plan.bindings]
    factory = ast.FunctionDef("_grader_factory",
                              ast.arguments([], [ast.arg(p) for p in params], None, [], [], None, []),
                              [test, ast.Return(ast.Name(TEST_NAME, ast.Load()))], [], None, None)
    module = ast.Module([factory], [])
    for node in ast.walk(module):
        if not hasattr(node, "lineno") and isinstance(node, (ast.stmt, ast.expr)):
            node.lineno = node.end_lineno = 1
            node.col_offset = node.end_col_offset = 0
    ast.fix_missing_locations(module)
    return compile(module, filename, "exec", dont_inherit=True), plan


def make_checks(tensor_types: tuple, trusted_types: frozenset):
    """The three checks a compiled test calls, closed over the objects they trust (found at kernel start).

    Everything they use is bound here, so that nothing the notebook rebinds later reaches them.
    """
    import collections

    _type, _len, _issubclass, _zip, _enumerate, _next = type, len, issubclass, zip, enumerate, next
    _odict, _ddict, _counter, _deque = collections.OrderedDict, collections.defaultdict, collections.Counter, \
        collections.deque
    _AssertionError, _tuple, _list, _dict, _set, _frozenset = AssertionError, tuple, list, dict, set, frozenset
    hooks = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__", "__contains__",
             "__torch_function__", "__torch_dispatch__", "__array_function__", "__array_ufunc__", "__index__",
             "__float__", "__int__")
    Tensor = tensor_types[0] if tensor_types else None

    def redefines(t):
        """The comparison or conversion method a type of the notebook's own defines, if any."""
        for cls in t.__mro__:
            if cls in trusted_types or cls is object:
                return None
            for hook in hooks:
                if hook in cls.__dict__:
                    return hook
        return None

    def check(value, depth=0):
        t = _type(value)
        if t in trusted_types:
            if depth < 3 and (t is _tuple or t is _list or t is _set or t is _frozenset or t is _deque) \
                    and _len(value) <= 10000:
                for item in value:
                    check(item, depth + 1)
            elif depth < 3 and (t is _dict or t is _odict or t is _ddict or t is _counter) and _len(value) <= 10000:
                for key, item in value.items():
                    check(key, depth + 1)
                    check(item, depth + 1)
            return
        if Tensor is not None and _issubclass(t, Tensor) and t not in tensor_types:
            raise _AssertionError(f"the value checked is a {t.__qualname__}, a subclass of torch.Tensor: return a "
                                  "plain tensor")
        hook = redefines(t)
        if hook is not None:
            plain = _next((b.__name__ for b in t.__mro__[1:] if b in trusted_types and b is not object), None)
            what = f"a subclass of {plain}" if plain else "a class of its own"
            raise _AssertionError(f"the value checked is a {t.__qualname__} ({what} that redefines {hook}), so the "
                                  f"check could not trust it: return a plain {plain or 'value'}")

    def cmp(ops, *operands):
        """``operands[0] ops[0] operands[1] ...`` as Python evaluates it, once every operand is checked."""
        for value in operands:
            check(value)
        left, last = operands[0], _len(ops) - 1
        for i, (op, right) in _enumerate(_zip(ops, operands[1:])):
            if op == "==":
                ok = left == right
            elif op == "!=":
                ok = left != right
            elif op == "<":
                ok = left < right
            elif op == "<=":
                ok = left <= right
            elif op == ">":
                ok = left > right
            elif op == ">=":
                ok = left >= right
            elif op == "in":
                ok = left in right
            elif op == "not in":
                ok = left not in right
            elif op == "is":
                ok = left is right
            else:
                ok = left is not right
            if i < last and not ok:  # a chain stops at its first false link, as Python's does
                return ok
            left = right
        return ok

    def truth(value):
        check(value)
        return value

    def call(function, *args, **kwargs):
        for value in (*args, *kwargs.values()):
            t = _type(value)
            if Tensor is not None and _issubclass(t, Tensor) and t not in tensor_types:
                check(value)
            elif t is _list or t is _tuple:
                for item in value[:10000]:
                    if Tensor is not None and _issubclass(_type(item), Tensor) and _type(item) not in tensor_types:
                        check(item)
            elif t not in trusted_types and redefines(t) in ("__torch_function__", "__torch_dispatch__",
                                                             "__array_function__", "__array_ufunc__"):
                check(value)
        return function(*args, **kwargs)

    return cmp, truth, call


def trusted_types(modules: list[str] = ()) -> tuple[tuple, frozenset]:
    """(tensor types, every type whose comparisons tests may trust): builtins, numpy's and torch's own, and the
    classes of ``modules`` (the watched ones: torch.nn's layers, the course's own classes)."""
    import sys
    import types

    found = {int, float, bool, complex, str, bytes, bytearray, type(None), tuple, list, dict, set, frozenset, range,
             slice, type, type(Ellipsis), type(NotImplemented), types.ModuleType, types.FunctionType,
             types.BuiltinFunctionType, types.MethodType, object}
    tensors: tuple = ()
    import abc
    import collections
    import datetime
    import decimal
    import fractions
    import pathlib

    # the standard library's own (a state_dict is an OrderedDict)
    found |= {abc.ABCMeta, collections.OrderedDict, collections.defaultdict, collections.Counter, collections.deque,
              decimal.Decimal, fractions.Fraction, datetime.datetime, datetime.date, datetime.timedelta,
              pathlib.PurePath, pathlib.PurePosixPath, pathlib.Path, pathlib.PosixPath}
    try:
        import numpy

        found |= {numpy.ndarray, numpy.dtype, *[t for t in numpy.sctypeDict.values() if isinstance(t, type)]}
    except ImportError:
        pass
    try:
        import torch

        tensors = (torch.Tensor, torch.nn.Parameter)
        try:  # torchvision's own tensor classes (an Image from a v2 transform) are tensors tests may trust
            from torchvision import tv_tensors

            tensors += tuple(v for v in vars(tv_tensors).values()
                             if isinstance(v, type) and issubclass(v, torch.Tensor) and v not in tensors)
        except ImportError:
            pass
        found |= {*tensors, torch.Size, torch.dtype, torch.device, torch.layout,
                  torch.memory_format, type(torch.float32)}
    except ImportError:
        pass
    for name in modules:
        module = sys.modules.get(name)
        if module is not None:
            found |= {v for v in list(vars(module).values()) if isinstance(v, type) and not issubclass(v, tensors or ())}
    return tensors, frozenset(found)
