"""nbgrader's Execute step, made safe for untrusted notebooks.

:class:`GuardedExecute` replaces ``nbgrader.preprocessors.Execute`` in ``nbgrader autograde``
and adds what a batch of student notebooks needs:

- a time limit per cell (from the solution's own time for that cell when calibrated, else a
  fixed one) and per notebook; a cell past its limit is interrupted, and once the notebook's
  limit is spent the remaining cells are not run and earn nothing;
- a kernel that dies (``os._exit``, out of memory, CPU limit) or ignores interrupts ends the
  run: the cells before it keep their results, the rest are marked "not run";
- output kept per cell is capped, so a print loop cannot fill the grader's memory or the
  feedback file;
- the tampering checks of :mod:`course_grader.guard` around every test cell.

Every event (with the cell it happened in) goes to a JSON file, ``report_file``, that the
batch turns into the reasons an instructor reads.
"""

from __future__ import annotations

import hashlib
import json
from time import monotonic

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Dict, Float, Integer, List, Unicode

from course_grader import guard
from course_grader.sandbox import Limits


def cell_key(cell) -> str:
    """How a cell is known across the solution and a submission: its grade_id, else its source."""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return grade_id or "sha1:" + hashlib.sha1(cell.source.encode()).hexdigest()[:12]


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


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
        self._baseline: dict | None = None
        self._deadline = monotonic() + self.notebook_timeout
        self._output_sizes: dict[int, int] = {}
        self._truncated: dict[int, bool] = {}
        notebook_id = (resources or {}).get("nbgrader", {}).get("notebook", "")
        self._names = self.guard_names.get(notebook_id, {})
        try:
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                self._baseline = self._fingerprint({}, import_modules=True)
                for index, cell in enumerate(self.nb.cells):
                    self.preprocess_cell(cell, resources, index)
        finally:
            self._write_report()
        self.set_widgets_metadata()
        return self.nb, self.resources

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
        is_test = utils.is_grade(cell) and not utils.is_solution(cell)
        names = {n: t for n, t in self._names.items() if n in guard.names_used(cell.source)} if is_test else {}
        if is_test and self._tampered(key, cell, names, "before"):
            return cell, self.resources
        start = monotonic()
        limit = self._get_timeout(cell)
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            detail = "the kernel died while running this cell (it exited, or ran out of memory or CPU time)"
            cell.outputs.append(_error("DeadKernelError", detail))
            self._stop(key, "crash", detail, f"the kernel died in cell {key}")
            return cell, self.resources
        except CellTimeoutError:
            detail = f"no reply within {limit} s, and the kernel did not stop when interrupted"
            cell.outputs.append(_error("CellTimeoutError", detail))
            self._stop(key, "timeout", detail, f"the kernel stopped responding in cell {key}")
            return cell, self.resources
        finally:
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
            self._tampered(key, cell, names, "after")
        return cell, self.resources

    def _stop(self, key: str, kind: str, detail: str, later: str | None = None) -> None:
        """Run no more cells: ``detail`` says what happened here, ``later`` what later cells show."""
        self._stopped = later or detail
        self._events.append({"cell": key, "kind": kind, "detail": detail})

    # -- tampering ---------------------------------------------------------------------------
    def _fingerprint(self, names: dict, import_modules: bool) -> dict | None:
        expression = guard.fingerprint_expression(names, import_modules, self.course_modules)
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"f": expression})
        reply = self.wait_for_reply(msg_id)
        if reply is None:
            return None
        try:
            return guard.parse_fingerprint(reply["content"]["user_expressions"]["f"])
        except (KeyError, ValueError) as error:
            return {"error": str(error)}

    def _tampered(self, key: str, cell, names: dict, when: str) -> bool:
        if self._baseline is None or "error" in self._baseline:
            return False
        now = self._fingerprint(names, import_modules=False)
        if now is None:
            return False  # the kernel is busy or gone: the cell's own run will show it
        problems = [now["error"]] if "error" in now else guard.tampering(self._baseline, now)
        if not problems:
            return False
        message = (f"{'; '.join(problems)} ({when} this test ran), so the test could not be trusted and earns no "
                   "points")
        if when == "before":
            cell.outputs = []
            cell.execution_count = None
        cell.outputs.append(_error("TamperingDetected", message))
        self._events.append({"cell": key, "kind": "tampering", "detail": message})
        return True

    # -- output ------------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        sizes, truncated = self._output_sizes, self._truncated
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values()) \
            + sum(len(line) for line in content.get("traceback", []))
        sizes[cell_index] = sizes.get(cell_index, 0) + size
        if sizes[cell_index] > self.output_limit and msg["msg_type"] in ("stream", "display_data",
                                                                           "execute_result", "update_display_data"):
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
