"""Runs one lesson's mutants: ``python worker.py PLAN RESULT``, in the lesson's folder.

The notebook runs once from the top to the last exercise's last test cell, in one IPython shell
(as in a kernel). Before an exercise's solution cell runs, the process forks once per mutant
(``parallel`` at a time, one thread each, each in a copy of the folder of its own): the child has exactly the
state a student's notebook has at that point, runs the mutated solution cell and the cells
after it up to the exercise's last test cell (worked examples in between included, as
nbgrader runs them: errors allowed), reports which test failed, if any, and exits. Nothing a
mutant does can reach the next mutant, so there is nothing to restore. A child past the time
limit is killed (the grader's per-cell limits would fail it too). The same is done with the
unchanged solution (unparsed as the mutants are): it must pass, or the harness is wrong.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time


def _error(result) -> str | None:
    error = result.error_in_exec or result.error_before_exec
    if error is None:
        return None
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def _child(shell, cells, write_fd, own_folder: bool) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if "torch" in sys.modules:  # one thread: the parent's thread pool does not survive the fork
        sys.modules["torch"].set_num_threads(1)
    # a folder of its own: forks run side by side, and one's files (lesson 08 saves and reads back
    # capstone_model.pt) must not be another's, or a mutant is "killed" by its neighbour's write
    private = None
    if own_folder:  # cwd is the run's scratch copy of the lesson's folder
        private = tempfile.mkdtemp(prefix="mutant-", dir=os.path.dirname(os.getcwd()))  # in the run's scratch folder
        shutil.copytree(os.getcwd(), private, symlinks=True, dirs_exist_ok=True)
        os.chdir(private)
    try:
        verdict = {"killed": False}
        for grade_id, source, is_test in cells:
            error = _error(shell.run_cell(source, store_history=True))
            if error and is_test:
                verdict = {"killed": True, "by": grade_id, "error": error}
                break
        os.write(write_fd, json.dumps(verdict).encode())
    finally:
        if private:
            shutil.rmtree(private, ignore_errors=True)


def _start(shell, cells, own_folder: bool) -> tuple[int, int, float]:
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            _child(shell, cells, write_fd, own_folder)
        finally:
            os._exit(0)
    os.close(write_fd)
    return read_fd, pid, start


def run_many(shell, tasks: list, limit: float, parallel: int = 1, own_folders: bool = False) -> list[dict]:
    """Runs each task (cells: (grade_id, source, is_test), ...) in its own fork of the shell, ``parallel``
    at a time; a fork still running after ``limit`` seconds is killed. One verdict per task, in order. With
    ``own_folders`` each fork works in a copy of the current folder (which must be a scratch copy)."""
    verdicts, pending, running = [None] * len(tasks), list(enumerate(tasks)), {}
    while pending or running:
        while pending and len(running) < parallel:
            index, cells = pending.pop(0)
            read_fd, pid, start = _start(shell, cells, own_folders)
            running[read_fd] = (index, pid, start, [])
        first_deadline = min(start + limit for _, _, start, _ in running.values())
        ready, _, _ = select.select(list(running), [], [], max(0.0, first_deadline - time.perf_counter()))
        now = time.perf_counter()
        for read_fd in list(running):
            index, pid, start, chunks = running[read_fd]
            finished = timed_out = False
            if read_fd in ready:
                chunk = os.read(read_fd, 65536)
                chunks.append(chunk)
                finished = not chunk
            if not finished and now >= start + limit:
                os.kill(pid, signal.SIGKILL)
                finished = timed_out = True
            if finished:
                del running[read_fd]
                os.close(read_fd)
                _, status = os.waitpid(pid, 0)
                seconds = round(time.perf_counter() - start, 2)
                output = b"".join(chunks)
                if timed_out:
                    verdicts[index] = {"killed": True, "by": "timeout", "error": f"still running after {limit:.0f} s"}
                elif not output:
                    verdicts[index] = {"killed": True, "by": "crash", "error": f"the process died (status {status})"}
                else:
                    verdicts[index] = json.loads(output)
                verdicts[index]["seconds"] = seconds
    return verdicts


def run_forked(shell, cells, limit: float) -> dict:
    """Runs ``cells`` ((grade_id, source, is_test), ...) in a forked copy of the shell."""
    return run_many(shell, [cells], limit)[0]


def main(plan_path: str, result_path: str) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    plan = json.loads(open(plan_path).read())
    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # no history thread and no file; the input history stays
    shell = InteractiveShell.instance(config=config)
    # plain JSON: nbformat would import jsonschema's format checkers, which take seconds to load
    cells = [{"type": c["cell_type"], "source": "".join(c["source"]) if isinstance(c["source"], list) else c["source"],
              "grade_id": c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
             for c in json.loads(open(plan["notebook"]).read())["cells"]]
    exercises = {e["cell"]: e for e in plan["exercises"]}
    results = []
    end = max((e["last"] for e in plan["exercises"]), default=-1)
    for index, cell in enumerate(cells[:end + 1]):  # the worked examples after the last test change nothing
        if cell["type"] != "code":
            continue
        exercise = exercises.get(index)
        if exercise:
            following = [(cells[i]["grade_id"] or f"cell {i}", cells[i]["source"], i in exercise["tests"])
                         for i in range(index + 1, exercise["last"] + 1) if cells[i]["type"] == "code"]
            # the unchanged solution first, the mutants with it (a failing control voids them all)
            tasks = [[(exercise["name"], source, False)] + following
                     for source in [exercise["control"]] + [m["source"] for m in exercise["mutants"]]]
            control, *verdicts = run_many(shell, tasks, plan["limit"], plan.get("parallel", 1), own_folders=True)
            row = {"lesson": plan["lesson"], "exercise": exercise["name"], "control": control, "limit": plan["limit"],
                   "mutants": [] if control["killed"] else
                   [{"id": m["id"], **v} for m, v in zip(exercise["mutants"], verdicts)]}
            print(f"{plan['lesson']} {exercise['name']}: control {'FAILED ' + str(control) if control['killed'] else 'passes'}"
                  f" in {control['seconds']} s; {len(exercise['mutants'])} mutants", file=sys.stderr, flush=True)
            results.append(row)
        error = _error(shell.run_cell(cell["source"], store_history=True))
        if error:
            raise SystemExit(f"{plan['lesson']}: cell {index} of the solution notebook fails on its own: {error}")
    with open(result_path, "w") as out:
        json.dump(results, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
