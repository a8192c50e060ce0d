"""nbgrader's Execute step, made safe for untrusted notebooks.

:class:`GuardedExecute` replaces ``nbgrader.preprocessors.Execute`` in ``nbgrader autograde``
and adds what a batch of student notebooks needs:

- a time limit per cell (from the solution's own time for that cell when calibrated, else a
  fixed one) and per notebook; a cell past its limit is interrupted, and once the notebook's
  limit is spent the remaining cells are not run and earn nothing;
- a kernel that dies (``os._exit``, out of memory, CPU limit) or ignores interrupts ends the
  run: the cells before it keep their results, the rest are marked "not run";
- output kept per cell is capped, every kind of output counted (text, data, metadata, errors), so
  a print loop cannot fill the grader's memory or the feedback file;
- test cells are not sent to the kernel: the kernel compiled them when it started, from a file
  student code never sees (:mod:`course_grader.kernel`), and the grader sends only
  ``sys.audit("course_grader.test", ID)``, outside the input history. A test earns its points
  only when the kernel's warden writes that test's secret to the verdicts file: nothing the
  notebook prints, replies or raises can stand in for it;
- a :class:`~course_grader.kernel.sandbox.Watchdog` holds the whole submission to its memory, process,
  CPU and disk limits.

Every event (with the cell it happened in) goes to a JSON file, ``report_file``, that the
batch turns into the reasons an instructor reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from pathlib import Path
from time import monotonic

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Dict, Float, Int, Integer, List, Unicode

from course_grader import judge
from course_grader.kernel import sandbox
from course_grader.kernel.sandbox import Limits

TEST_CODE = '__import__("sys").audit("course_grader.test", {tid!r})'
READY_CODE = '__import__("sys").audit("course_grader.ready")'


def cell_key(cell) -> str:
    """How a cell is known across the solution and a submission: its grade_id, else its source."""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return grade_id or "sha1:" + hashlib.sha1(cell.source.encode()).hexdigest()[:12]


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


def _scored(outputs: list, error: NotebookNode | None) -> list:
    """A test cell's outputs as nbgrader must score them: by the verdict alone. nbgrader gives 0 for the first error
    or stderr output it meets and reads an execute_result as the points (any text as full marks), so: never an
    execute_result (shown as display data); passed (``error`` None): no error, and stderr shown as stdout (a
    warning is not a failed test); failed: ``error`` first."""
    kept = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "error":
            continue
        if kind == "execute_result":
            output = NotebookNode(output_type="display_data", data=output.get("data", {}),
                                  metadata=output.get("metadata", {}))
        elif kind == "stream" and output.get("name") == "stderr" and error is None:
            output = NotebookNode(output_type="stream", name="stdout", text=output.get("text", ""))
        kept.append(output)
    return kept if error is None else [error, *kept]


class GuardedExecute(Execute):
    notebook_timeout = Float(Limits.notebook_seconds, help="Seconds all cells of a notebook may take together.") \
        .tag(config=True)
    cell_times = Dict(help="Seconds each cell of the solution took, by cell_key (from `grade calibrate`).") \
        .tag(config=True)
    timeout_factor = Float(Limits.timeout_factor,
                           help="A calibrated cell may take this many times the solution's time.") \
        .tag(config=True)
    min_cell_timeout = Float(Limits.min_cell_seconds, help="No cell's limit is shorter than this.").tag(config=True)
    output_limit = Integer(Limits.output_kib * 1024, help="Characters of output kept per cell.").tag(config=True)
    guard_names = Dict(help="Per notebook id: names test cells may use and what the lesson imported them as.") \
        .tag(config=True)
    course_modules = List(Unicode(), help="The course's own modules whose functions tests call (watched for "
                          "tampering, as numpy and torch are).").tag(config=True)
    report_file = Unicode("", help="Where to write the JSON record of events and cell times.").tag(config=True)
    secrets_file = Unicode("", help="Where to write the notebook's test cells for the kernel (sandbox.secrets_file).") \
        .tag(config=True)
    verdicts_file = Unicode("", help="Where the kernel's warden writes each test's verdict (sandbox.verdicts_file).") \
        .tag(config=True)
    watch = Dict(help="Limits (as a dict) the Watchdog holds the whole submission to; empty: no watchdog.") \
        .tag(config=True)
    watch_folders = List(Unicode(), help="The kernel's folders inside the sandbox, whose size the Watchdog checks.") \
        .tag(config=True)
    watch_host_folders = List(Unicode(), help="Folders of the host the kernel may write to that no tmpfs bounds (an "
                              "IPC folder where none could be mounted): the Watchdog counts what they hold.") \
        .tag(config=True)
    kernel_uid = Int(None, allow_none=True, help="The user id the sandboxed kernel runs as (grading as root): "
                     "its verdicts file is made anew for each notebook, owned by it.").tag(config=True)

    # -- time limits -------------------------------------------------------------------------
    def cell_limit(self, cell) -> float:
        limit = float(self.timeout) if self.timeout else self.notebook_timeout
        seconds = self.cell_times.get(cell_key(cell))
        if seconds is not None:
            limit = min(limit, max(self.min_cell_timeout, self.timeout_factor * seconds))
        return limit

    def _get_timeout(self, cell):
        if cell is None:
            return self.timeout
        remaining = self._deadline - monotonic()
        return max(1, int(min(self.cell_limit(cell), remaining) + 0.999))

    # -- the run -----------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._events: list[dict] = []
        self._times: dict[str, float] = {}
        self._stopped: str | None = None
        self._deadline = monotonic() + self.notebook_timeout
        self._output_sizes: dict[int, int] = {}
        self._truncated: dict[int, bool] = {}
        self._watchdog = None
        notebook_id = (resources or {}).get("nbgrader", {}).get("notebook", "")
        self._names = self.guard_names.get(notebook_id, {})
        self._tests = self._write_secrets()
        judged = [test[2] for test in self._tests.values() if test[2]]
        self._ahead = judge.import_ahead(judge.modules_needed(judged, self._names)) if judged else None
        try:
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                Path(self.secrets_file).unlink(missing_ok=True)
                self._start_watchdog()
                self.wait_for_reply(self.kc.execute(READY_CODE, silent=True, store_history=False))
                for index, cell in enumerate(self.nb.cells):
                    self.preprocess_cell(cell, resources, index)
        finally:
            if self._watchdog is not None:
                self._watchdog.stop()
            Path(self.secrets_file).unlink(missing_ok=True) if self.secrets_file else None
            self._write_report()
        self.set_widgets_metadata()
        return self.nb, self.resources

    # -- the tests, for the kernel ---------------------------------------------------------------
    def _write_secrets(self) -> dict[int, tuple[str, str, str | None]]:
        """Give each test cell an id and a secret, and write them with the cells' sources for the kernel: all but the
        judge's lines, which stay here (``{index: (id, secret, the judge's lines or None)}``)."""
        from course_grader.kernel import guard

        tests, specs, bound = {}, {}, set()
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code":
                continue
            if utils.is_grade(cell) and not utils.is_solution(cell):
                tid, token = secrets.token_hex(8), secrets.token_hex(16)
                observed, judged = judge.split(cell.source)
                tests[index] = (tid, token, judged)
                specs[tid] = {"source": observed, "token": token, "cell": cell_key(cell)}
            else:
                bound |= guard.bound_names(cell.source)
        if self.secrets_file:
            watched = guard.WATCHED_MODULES + list(self.course_modules)
            path = Path(self.secrets_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                json.dump({"preload": watched, "watched": watched, "imported": self._names,
                           "notebook_names": sorted(bound), "tests": specs}, f)
        if self.verdicts_file:  # in the IPC folder, which a kernel of an earlier notebook could write to
            sandbox.reset_verdicts(Path(self.verdicts_file), self.kernel_uid)
        return tests

    def _start_watchdog(self) -> None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if self.watch and process is not None:
            self._watchdog = sandbox.Watchdog(process.pid, Limits(**self.watch), [Path(p) for p in self.watch_folders],
                                              host_folders=[Path(p) for p in self.watch_host_folders]).start()

    def _verdict(self, tid: str, token: str) -> tuple[bool, dict | None, str]:
        """(passed, the failure the warden reported, what the test observed as JSON) for one test; passed only with
        the test's secret."""
        failure = None
        try:  # never through a link or from a pipe the kernel put in the verdicts file's place; at most its size
            fd = os.open(self.verdicts_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                data = f.read(sandbox.IPC_MIB * 2**20) if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else b""
            lines = data.decode(errors="replace").splitlines()
        except OSError:
            lines = []
        for line in lines[-10000:]:
            kind, _, rest = line.partition(" ")
            line_tid, _, payload = rest.partition(" ")
            if line_tid != tid:
                continue
            if kind == "pass":
                secret, _, observed = payload.partition(" ")
                if secret == token:
                    return True, None, observed
            if kind == "fail" and failure is None:
                try:
                    failure = json.loads(payload)
                except (ValueError, RecursionError):
                    pass
                failure = failure if isinstance(failure, dict) else None
        return False, failure, ""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        key = cell_key(cell)
        if self._stopped is None and monotonic() >= self._deadline:
            self._stop(key, "time", f"the notebook's time limit ({self.notebook_timeout:.0f} s) was used up")
        if self._stopped is not None:
            cell.outputs = [_error("NotRun", self._stopped)]
            cell.execution_count = None
            return cell, self.resources
        is_test = index in self._tests
        start = monotonic()
        limit = self._get_timeout(cell)
        source = cell.source
        if is_test:  # the kernel compiled the test when it started; this only tells it to run it
            cell.source = TEST_CODE.format(tid=self._tests[index][0])
        try:
            self.execute_cell(cell, index, store_history=not is_test)
        except DeadKernelError:
            detail = "the kernel died while running this cell (it exited, or ran out of memory or CPU time)"
            if self._watchdog is not None and self._watchdog.violation:
                detail = self._watchdog.violation
            cell.outputs.append(_error("DeadKernelError", detail))
            self._stop(key, "crash", detail, f"the kernel died in cell {key}")
            return cell, self.resources
        except CellTimeoutError:
            detail = f"no reply within {limit} s, and the kernel did not stop when interrupted"
            cell.outputs.append(_error("CellTimeoutError", detail))
            self._stop(key, "timeout", detail, f"the kernel stopped responding in cell {key}")
            return cell, self.resources
        finally:
            cell.source = source
            self._times[key] = round(monotonic() - start, 3)
        for output in cell.outputs:
            if output.get("ename") in ("MemoryError", "RecursionError"):
                evalue = str(output.get("evalue", ""))[:200]
                self._events.append({"cell": key, "kind": "limit", "detail": output["ename"]
                                     + (f": {evalue}" if evalue else "") + " (a memory or recursion limit was hit)"})
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            self._events.append({"cell": key, "kind": "timeout", "detail": f"interrupted after {limit} s"})
        if self._truncated.get(index):
            self._events.append({"cell": key, "kind": "output", "detail": "output over "
                                 f"{self.output_limit:,} characters was dropped"})
        if is_test:
            self._judge(key, cell, *self._tests[index])
        return cell, self.resources

    def _judge(self, key: str, cell, tid: str, token: str, judged: str | None) -> None:
        """Make the test cell's outputs say what the verdict says: nbgrader scores a cell by its errors. A test with a
        judge passes only when the warden confirmed it ran to its end *and* the judge, here, passes what it observed."""
        passed, failure, observed = self._verdict(tid, token)
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if passed and judged is not None:
            try:
                if self._ahead is not None:
                    self._ahead.join()  # the judges' modules, imported while the notebook ran
                failure = judge.decide(judged, judge.read_observations(observed), self._names,
                                       f"<judge {key}>")
            except ValueError as error:
                failure = {"ename": "ObservationsUnreadable", "evalue": f"what the test observed could not be read "
                           f"({error})", "line": None}
            passed = failure is None
        if passed:
            cell.outputs = _scored(cell.outputs, None)
            return
        if failure is not None:
            ename, evalue = str(failure.get("ename", "Error"))[:200], str(failure.get("evalue", ""))[:2000]
            line = failure.get("line")
            error = _error(ename, evalue)
            if isinstance(line, int):
                error.traceback = [f"Cell In[{cell.execution_count or ''}], line {line}", *error.traceback]
            cell.outputs = _scored(cell.outputs, error)
            if ename == "TamperingDetected":
                self._events.append({"cell": key, "kind": "tampering", "detail": evalue})
            return
        detail = ("the grader received no verdict from this test: it did not run to its end (the notebook's code "
                  "stopped it or replaced what runs it, or the kernel failed), so it earns no points")
        cell.outputs = _scored(cell.outputs, errors[-1] if errors else _error("TestNotConfirmed", detail))
        self._events.append({"cell": key, "kind": "unconfirmed", "detail": detail})

    def _stop(self, key: str, kind: str, detail: str, later: str | None = None) -> None:
        """Run no more cells: ``detail`` says what happened here, ``later`` what later cells show."""
        self._stopped = later or detail
        self._events.append({"cell": key, "kind": kind, "detail": detail})

    # -- output ------------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        """Keep a cell's output up to ``output_limit`` characters, counting all of it: text, data, metadata, errors."""
        sizes, truncated = self._output_sizes, self._truncated
        content = msg.get("content", {})
        try:
            size = len(json.dumps(content, default=str))
        except (TypeError, ValueError):
            size = self.output_limit + 1
        sizes[cell_index] = sizes.get(cell_index, 0) + size
        if sizes[cell_index] > self.output_limit:
            if msg["msg_type"] == "error":  # keep that it failed, not what it said
                return super().output(outs, {**msg, "content": {
                    "ename": str(content.get("ename", "Error"))[:200], "evalue": str(content.get("evalue", ""))[:2000],
                    "traceback": [str(line)[:2000] for line in content.get("traceback", [])[-3:]]}}, display_id,
                    cell_index)
            if not truncated.get(cell_index):
                truncated[cell_index] = True
                note = NotebookNode(output_type="stream", name="stderr",
                                    text=f"\n[grader: output beyond {self.output_limit:,} characters dropped]\n")
                outs.append(note)
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _write_report(self) -> None:
        if self.report_file:
            with open(self.report_file, "a") as f:
                f.write(json.dumps({"events": self._events, "times": self._times}) + "\n")
