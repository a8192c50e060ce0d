"""The grading kernel: ipykernel started behind a warden that decides, out of the student's reach, which tests passed.

Run inside the sandbox as ``python -m course_grader.kernel SECRETS VERDICTS -f CONNECTION_FILE``.
Before any student code runs it:

1. reads the notebook's test cells (and one secret per test) from ``SECRETS``, a file that the
   sandbox created for this process alone, and deletes it: the test sources never reach the
   notebook's namespace, its input history or its hooks;
2. imports what the tests use and compiles every test cell (:mod:`course_grader.kernel.testcell`), with
   the functions they call bound now;
3. makes the process undumpable (no other process of the same user may read its memory) and
   installs a PEP 578 audit hook, which Python code cannot remove. The hook refuses ``ctypes``,
   tracing and profiling, new audit hooks and the ``gc`` functions that find arbitrary objects,
   setting attributes of the modules' classes that tests rely on, and hands no frame or code
   object of a running test (or of itself) to anyone;
4. starts ipykernel.

The grader runs a test cell by sending ``sys.audit("course_grader.test", ID)`` in its place.
The hook then checks that nothing the tests rely on was replaced and that the notebook started
no thread, runs the compiled test, checks again, and appends ``pass ID SECRET`` to ``VERDICTS``
(an open file descriptor) only when the test returned. The secret is never in anything student
code can reach, so no output, reply or file the notebook writes can stand in for it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types

from course_grader import judge


def _undumpable() -> None:
    """PR_SET_DUMPABLE 0: processes of the same user can no longer ptrace this one or read its memory."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:  # not Linux: the sandbox's other walls still hold
        pass


def _quiet_libraries() -> None:
    """Libraries' own background threads off: tests run with no thread but the kernel's (tqdm starts a monitor
    thread for every bar, disabled or not)."""
    try:
        import tqdm.std

        tqdm.std.tqdm.monitor_interval = 0
    except ImportError:
        pass


def _resolve(how: tuple):
    kind = how[0]
    if kind == "import":
        return judge.lesson_import(how[1])
    if kind == "builtin":
        import builtins

        return getattr(builtins, how[1])
    if kind == "attr":
        return judge.lesson_import(f"{how[1]}:{how[2]}")
    if kind == "chain":
        value, path = importlib.import_module(how[1]), how[1]
        for attr in how[2]:
            path = f"{path}.{attr}"
            try:
                value = getattr(value, attr)
            except AttributeError:
                value = importlib.import_module(path)
        return value
    raise ValueError(f"unknown binding {how!r}")


class _Unresolved:
    """Stands for something a test names that could not be found when the kernel started; using it says so."""

    def __init__(self, what: str, error: Exception):
        self._what = f"{what} could not be imported when grading started ({type(error).__name__}: {error})"

    def __getattr__(self, name):
        raise ImportError(self._what)

    def __call__(self, *args, **kwargs):
        raise ImportError(self._what)


def _load_secrets(path: str) -> dict:
    with open(path) as f:
        secrets = json.load(f)
    os.unlink(path)
    return secrets


def _codes(code):
    """A code object and every one nested in it (its functions', comprehensions', classes')."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _libraries() -> tuple[str, ...]:
    """Where the installed libraries' code lies (anything else is the notebook's)."""
    return tuple(sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.__file__)}))


def observer(state: dict):
    """``(observe, encode, convert)``: the tests' observe(), which records plain data for the judge while a test runs
    (``state["seen"]``), and the encoder of one test's observations as a line of JSON."""
    from course_grader import observe as grading

    _type, _dict = type, dict
    convert = grading.plain_converter()

    def observe(**values):
        """What the test hands to the judge, as plain data (course_grader.observe)."""
        seen = state["seen"]
        if _type(seen) is not _dict:
            raise RuntimeError("observe() only records while a test runs")
        for name, value in values.items():
            seen[name] = convert(value)

    return observe, grading.encode, convert


def compile_tests(secrets: dict, user_ns: dict, helpers: tuple) -> tuple[dict, set]:
    """Every test cell compiled before any student code, what it calls bound now (:mod:`.testcell`):
    ``{id: (function, secret, error)}``, and the code objects of the tests, which the hook keeps out of reach."""
    from course_grader.kernel import testcell

    imported = secrets.get("imported", {})
    notebook_names = set(secrets.get("notebook_names", []))
    tests: dict[str, tuple] = {}
    protected: set = set()
    for tid, spec in secrets.get("tests", {}).items():
        try:
            module_code, plan = testcell.compile_test(spec["source"], imported, notebook_names,
                                                      f"<test {spec.get('cell', tid)}>")
        except SyntaxError as error:
            tests[tid] = (None, spec["token"], f"SyntaxError: {error}")
            continue
        factory_code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
        protected.update(_codes(module_code))
        values = []
        for name, how in plan.bindings.items():
            try:
                values.append(_resolve(how))
            except Exception as error:
                values.append(_Unresolved(".".join(str(p) for p in how[1:] if p), error))
        factory = types.FunctionType(factory_code, user_ns, "_grader_factory")
        tests[tid] = (factory(*helpers, user_ns, *values), spec["token"], None)
    return tests, protected


def watcher(secrets: dict, user_ns: dict, state: dict):
    """``(problems, watched class ids)``: problems() says what of the tests' world the notebook changed since now (a
    watched module's functions and classes, the notebook's builtins, a trace function, a thread still running)."""
    import builtins
    import threading

    # What the tests rely on, as the imports left it: every function and class of the watched modules
    # (but the builtins IPython and ipykernel swap in for each cell they run).
    swapped = {"builtins": {"input", "raw_input", "exit", "quit", "get_ipython", "display", "help", "copyright",
                            "credits", "license", "_", "__"}}
    watched = {}
    for name in secrets.get("watched", []):
        module = sys.modules.get(name)
        if module is not None:
            watched[name] = (module, type(module), {k: v for k, v in list(vars(module).items())
                                                    if not k.startswith("__") and (callable(v) or isinstance(v, type))
                                                    and k not in swapped.get(name, ())})
    watched_classes = {id(v) for _, _, members in watched.values() for v in members.values() if isinstance(v, type)}
    builtins_module, modules = builtins, sys.modules
    _type, _str, _len = type, str, len
    _current_frames = sys._current_frames
    _threads = threading._active  # ident -> Thread, for the names in a message
    _gettrace, _getprofile = sys.gettrace, sys.getprofile
    libraries = _libraries()

    def notebook_code(frame) -> bool:
        """Whether a thread runs code of the notebook's own (anything but the installed libraries', which start
        threads of their own: ipykernel's for a flood of output)."""
        depth = 0
        while frame is not None and depth < 200:
            name = frame.f_code.co_filename
            if _type(name) is not _str or not name.startswith(libraries):
                return True
            frame, depth = frame.f_back, depth + 1
        return False

    def problems() -> list[str]:
        found = []
        for name, (module, kind, members) in watched.items():
            if modules.get(name) is not module:
                found.append(f"your code replaced the module {name}")
                continue
            if _type(module) is not kind:
                found.append(f"your code changed the class of the module {name}")
            now = vars(module)
            changed = [key for key, value in members.items() if now.get(key) is not value]
            found += [f"your code replaced {name}.{key}, which the tests use to check your work" for key in changed[:3]]
        now_builtins = user_ns.get("__builtins__")
        if now_builtins is not builtins_module and now_builtins is not vars(builtins_module):
            found.append("your code replaced __builtins__ of the notebook")
        if _gettrace() is not None or _getprofile() is not None:
            found.append("your code installed a trace or profile function")
        if state["threads"] is not None:
            extra = [ident for ident, frame in _current_frames().items()
                     if ident not in state["threads"] and notebook_code(frame)]
            if extra:
                names = ", ".join(_str(getattr(_threads.get(ident), "name", "?"))[:40] for ident in extra[:3])
                found.append(f"your code started {_len(extra)} thread(s) that were still running ({names}); tests "
                             "run with none")
        return found

    return problems, watched_classes


def warden(tests: dict, protected: set, state: dict, problems, watched_classes: set, encode, verdicts_fd: int):
    """The audit hook. On the grader's event it runs a test, checks what the tests rely on before and after, and
    appends the verdict (with the secret and what the test observed) to ``verdicts_fd``; otherwise it refuses what
    would reach a running test or the warden (their frames and code, ctypes, tracing, gc searches, new hooks) and
    changes to the watched classes."""
    import _thread
    import inspect

    _type, _id, _str, _len = type, id, str, len
    _get_ident, _current_frames = _thread.get_ident, sys._current_frames
    _write, _dumps, _frozenset = os.write, json.dumps, frozenset
    _FrameType, _TracebackType, _FunctionType = types.FrameType, types.TracebackType, types.FunctionType
    busy: set[int] = set()
    libraries = _libraries()
    generators = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
    coroutines = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE
    frame_attrs = _frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code", "gi_code", "cr_code",
                              "ag_code", "__code__", "f_back"})
    refused_prefixes = ("ctypes.", "sys.monitoring")
    refused = _frozenset({"sys.addaudithook", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
                          "sys._current_frames", "sys._current_exceptions"})

    def refuse(what: str):
        raise RuntimeError(f"{what} is not allowed while grading")

    def touches_protected(frame) -> bool:
        depth = 0
        while frame is not None and depth < 1000:
            if frame.f_code in protected:
                return True
            frame, depth = frame.f_back, depth + 1
        return False

    def unsafe(frame) -> bool:
        """A frame student code may not hold: one inside a test or the warden, or a generator's or coroutine's
        (it runs again later, and its f_back, which no audit event covers, would then lead into a test)."""
        if frame is None:
            return False
        flags = frame.f_code.co_flags
        if flags & generators:
            return True
        if flags & coroutines:  # IPython runs each cell in coroutines of its own: their frames are its tracebacks'
            name = frame.f_code.co_filename
            if _type(name) is not _str or not name.startswith(libraries):
                return True
        return touches_protected(frame)
    def verdict(line: str) -> None:
        try:
            _write(verdicts_fd, (line + "\n").encode())
        except OSError:
            pass  # the notebook closed the file: the test is recorded as not confirmed, its own loss

    def fail(tid: str, ename: str, evalue: str, line=None) -> None:
        verdict("fail " + tid + " " + _dumps({"ename": ename, "evalue": evalue, "line": line}))

    def tampered(tid: str, when: str) -> bool:
        """Whether what the tests rely on changed; if so the test fails with what changed."""
        found = problems()
        if found:
            fail(tid, "TamperingDetected", "; ".join(found)[:1500] + f" ({when} this test ran), so the test could "
                 "not be trusted and earns no points")
        return bool(found)

    def run(tid) -> None:
        if _type(tid) is not _str or tid not in tests or tid in state["ran"]:
            return
        state["ran"].add(tid)
        function, token, error = tests[tid]
        if function is None:
            fail(tid, "SyntaxError", error)
            return
        if tampered(tid, "before"):
            return
        state["seen"] = {}
        try:
            function()
            text = encode(state["seen"])
        except BaseException as exc:  # noqa: BLE001 (a failed test, whatever the notebook raised)
            line = None
            tb = exc.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code in protected:
                    line = tb.tb_lineno
                tb = tb.tb_next
            try:
                evalue = _str(exc)[:2000]
            except BaseException:  # noqa: BLE001
                evalue = "(the error's message could not be read)"
            name = _type(exc).__name__
            exc.__traceback__ = None
            del exc
            fail(tid, _str(name)[:200], evalue, line)
            return
        finally:
            state["seen"] = None
        if not tampered(tid, "after"):
            verdict("pass " + tid + " " + token + " " + text)

    def hook(event, args):
        if _type(event) is not _str:
            return
        me = _get_ident()
        if me in busy:
            return
        busy.add(me)
        try:
            if event == "course_grader.test":
                if _len(args) == 1:
                    run(args[0])
            elif event == "course_grader.ready":
                if state["threads"] is None:
                    state["threads"] = _frozenset(_current_frames())
            elif event in refused or event.startswith(refused_prefixes):
                refuse(event)
            elif event == "import":
                if args and args[0] in ("ctypes", "_ctypes", "cffi", "_cffi_backend"):
                    refuse(f"importing {args[0]}")
            elif event in ("sys.settrace", "sys.setprofile"):  # the event does not say what is set: any
                refuse(event)
            elif event == "sys._getframe":
                if args and _type(args[0]) is _FrameType and unsafe(args[0]):
                    refuse("looking at this frame")
            elif event == "object.__getattr__":
                if _len(args) == 2 and args[1] in frame_attrs:
                    obj, attr = args
                    kind = _type(obj)
                    if kind is _TracebackType:
                        if unsafe(obj.tb_frame):
                            refuse("looking at this frame")
                    elif kind is _FrameType:
                        if attr == "f_code" and touches_protected(obj):
                            refuse("looking at the grader's code")
                    elif kind is _FunctionType:
                        if obj.__code__ in protected:
                            refuse("looking at the grader's code")
                    elif attr in ("gi_frame", "cr_frame", "ag_frame"):
                        refuse("holding a generator's or coroutine's frame")
            elif event in ("object.__setattr__", "object.__delattr__"):
                if args and _id(args[0]) in watched_classes:
                    refuse(f"changing {getattr(args[0], '__qualname__', '?')}.{args[1] if _len(args) > 1 else ''}")
                if _len(args) > 1 and _type(args[0]) is _FunctionType and args[0].__code__ in protected:
                    refuse("changing the grader's functions")
        finally:
            busy.discard(me)

    return hook


def install(secrets: dict, verdicts_fd: int, user_ns: dict) -> None:
    """Compile the tests and install the warden (see the module's docstring), each part set up by its own function:
    the checks tests make (:func:`.testcell.make_checks`), :func:`observer`, :func:`compile_tests`, :func:`watcher`
    and :func:`warden`, whose hook is added last."""
    from course_grader.kernel import testcell

    for name in secrets.get("preload", []):
        try:
            importlib.import_module(name)
        except Exception:  # a course module that fails to import fails its tests, with the reason
            pass
    tensor_types, trusted = testcell.trusted_types(secrets.get("watched", []))
    cmp, truth, call = testcell.make_checks(tensor_types, trusted)
    state = {"threads": None, "ran": set(), "seen": None}
    observe, encode, convert = observer(state)
    tests, protected = compile_tests(secrets, user_ns, (cmp, truth, call, observe))
    problems, watched_classes = watcher(secrets, user_ns, state)
    hook = warden(tests, protected, state, problems, watched_classes, encode, verdicts_fd)
    for function in (cmp, truth, call, convert, encode, observer, compile_tests, watcher, warden, install, _codes):
        protected.update(_codes(function.__code__))
    sys.addaudithook(hook)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    secrets_path, verdicts_path, kernel_args = argv[0], argv[1], argv[2:]
    secrets = _load_secrets(secrets_path)
    verdicts_fd = os.open(verdicts_path, os.O_WRONLY | os.O_APPEND)
    for name in secrets.get("preload", []):
        try:
            importlib.import_module(name)
        except Exception:
            pass
    _quiet_libraries()
    _undumpable()
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(kernel_args)
    install(secrets, verdicts_fd, app.shell.user_ns)
    secrets.clear()  # the tests' sources and secrets: compiled now, and this frame stays below every cell's
    del secrets
    app.start()


if __name__ == "__main__":
    main()
