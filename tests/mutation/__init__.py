"""Mutation testing of the course's tests: are the hidden tests strong enough to fail wrong code?

The wrong-answer suite (``tests/wrong_answers``) holds the mistakes its authors thought of.
This tool does not depend on imagining them: it makes wrong variants of every exercise's
solution automatically (``operators.py``: an operator or comparison swapped, a constant
changed, a statement dropped or two swapped, a keyword or a copying call left out, an
activation put after a layer, ``train``/``eval`` and ``requires_grad_`` flipped...), runs each
against the exercise's tests, hidden tests included, and counts the mutants the tests kill.

Each lesson runs once, top to bottom, in one process from its solution notebook; a mutant runs
in a fork of that process taken just before the exercise's solution cell (``worker.py``), so
it sees the state a student's notebook has there and leaves nothing behind. A mutant is killed
when a test cell of its exercise raises (or it runs past its time limit). A mutant that
survives is either killed by a better hidden test or listed in ``equivalent.json`` with the
reason no test can tell it from the solution. Quiz answers (``answer_qN``) are not mutated.

    .venv/bin/python tests/mutation [LESSON ...] [--jobs N]

writes ``bench/results/mutation.json`` and prints a score per exercise; it exits 1 if a
mutant survives that is not listed as equivalent (or one listed is killed after all).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .operators import mutants, original

HERE = Path(__file__).resolve().parent
EQUIVALENT = HERE / "equivalent.json"
QUIZ = re.compile(r"answer_q\d+$")
COMMAND = ".venv/bin/python tests/mutation"


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def exercises(nb, exclude: re.Pattern = QUIZ) -> list[dict]:
    """Each exercise: its solution cell, the test cells after it and the last of them (cell indices)."""
    found = []
    solutions = [i for i, c in enumerate(nb.cells) if _meta(c).get("solution") and c.cell_type == "code"]
    for k, index in enumerate(solutions):
        meta = _meta(nb.cells[index])
        if meta.get("grade") or exclude.match(meta.get("grade_id", "")):
            continue
        end = solutions[k + 1] if k + 1 < len(solutions) else len(nb.cells)
        tests = [i for i in range(index + 1, end) if _meta(nb.cells[i]).get("grade") and nb.cells[i].cell_type == "code"]
        if tests:
            found.append({"cell": index, "name": meta["grade_id"], "tests": tests, "last": tests[-1]})
    return found


def plan_lesson(notebook: Path, lesson: str, *, max_per_exercise: int | None = None, seed: int = 0,
                parallel: int = 1, limit: float = 900) -> dict:
    """What the worker runs for one lesson: every exercise with its mutants (a fixed-seed sample if capped).

    A mutant still running after ``limit`` seconds is killed. No solution here loops on a condition,
    so the limit is far above the slowest mutant on a loaded machine: a kill must not be the load's."""
    nb = nbformat.read(notebook, as_version=4)
    planned = []
    for exercise in exercises(nb):
        source = nb.cells[exercise["cell"]].source
        every = mutants(source)
        chosen = every
        if max_per_exercise is not None and len(every) > max_per_exercise:
            picked = sorted(random.Random(f"{seed}/{lesson}/{exercise['name']}").sample(range(len(every)), max_per_exercise))
            chosen = [every[i] for i in picked]
        planned.append({**exercise, "control": original(source), "generated": len(every),
                        "mutants": [{"id": m.id, "source": m.source} for m in chosen]})
    return {"lesson": lesson, "notebook": notebook.name, "exercises": planned,
            "limit": limit, "parallel": parallel}


def run_lesson(notebook: Path, plan: dict, *, verbose: bool = True) -> list[dict]:
    """Runs a lesson's plan in a fresh process, in a scratch copy of the lesson's folder."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        folder = Path(scratch) / notebook.parent.name
        shutil.copytree(notebook.parent, folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        (folder / "plan.json").write_text(json.dumps(plan))
        env = {**__import__("os").environ, "MPLBACKEND": "Agg", "TQDM_DISABLE": "1"}
        done = subprocess.run([sys.executable, str(HERE / "worker.py"), "plan.json", "result.json"], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=None if verbose else subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the mutation worker of {plan['lesson']} failed (exit {done.returncode}): "
                               f"{(done.stderr or '')[-2000:]}")
        rows = json.loads((folder / "result.json").read_text())
    generated = {e["name"]: e["generated"] for e in plan["exercises"]}
    for row in rows:
        row["generated"] = generated[row["exercise"]]
    return rows


def load_equivalents(path: Path = EQUIVALENT) -> dict[str, str]:
    """Mutants no test can tell from the solution: ``lesson/exercise/mutant id`` -> the reason."""
    return json.loads(path.read_text()) if path.exists() else {}


def key(lesson: str, exercise: str, mutant_id: str) -> str:
    return f"{lesson}/{exercise}/{mutant_id}"


def score(rows: list[dict], equivalents: dict[str, str]) -> list[dict]:
    """Per exercise: mutants run, killed, equivalent, surviving (not equivalent), and the score."""
    table = []
    for row in rows:
        keys = {m["id"]: key(row["lesson"], row["exercise"], m["id"]) for m in row["mutants"]}
        killed = [m for m in row["mutants"] if m["killed"]]
        equivalent = [m for m in row["mutants"] if not m["killed"] and keys[m["id"]] in equivalents]
        survived = [m["id"] for m in row["mutants"] if not m["killed"] and keys[m["id"]] not in equivalents]
        wrongly_listed = [m["id"] for m in killed if keys[m["id"]] in equivalents]
        counted = len(row["mutants"]) - len(equivalent)
        table.append({"lesson": row["lesson"], "exercise": row["exercise"], "generated": row["generated"],
                      "run": len(row["mutants"]), "killed": len(killed),
                      "timeouts": sum(m.get("by") in ("timeout", "crash") for m in killed),
                      "timed_out": [m["id"] for m in killed if m.get("by") == "timeout"],
                      "equivalent": len(equivalent), "survived": survived, "listed_but_killed": wrongly_listed,
                      "control_passes": not row["control"]["killed"],
                      "score": round(100 * len(killed) / counted, 1) if counted else 100.0})
    return table


def summary(table: list[dict]) -> str:
    lines = [f"{'lesson':22} {'exercise':22} {'mutants':>7} {'killed':>6} {'equiv.':>6} {'survived':>8} {'score':>7}"]
    for t in table:
        lines.append(f"{t['lesson']:22} {t['exercise']:22} {t['run']:>7} {t['killed']:>6} {t['equivalent']:>6} "
                     f"{len(t['survived']):>8} {t['score']:>6.1f}%")
    run, killed, equivalent = (sum(t[k] for t in table) for k in ("run", "killed", "equivalent"))
    survived = sum(len(t["survived"]) for t in table)
    lines.append(f"{'all':45} {run:>7} {killed:>6} {equivalent:>6} {survived:>8} "
                 f"{100 * killed / max(run - equivalent, 1):>6.1f}%")
    for t in table:
        if not t["control_passes"]:
            lines.append(f"  {t['lesson']} {t['exercise']}: the unchanged solution fails its tests in the harness")
        for mutant in t["survived"]:
            lines.append(f"  SURVIVED {key(t['lesson'], t['exercise'], mutant)}")
        for mutant in t.get("timed_out", []):
            lines.append(f"  killed only by its time limit (check it is not the machine's load): "
                         f"{key(t['lesson'], t['exercise'], mutant)}")
        for mutant in t["listed_but_killed"]:
            lines.append(f"  LISTED AS EQUIVALENT BUT KILLED {key(t['lesson'], t['exercise'], mutant)}")
    return "\n".join(lines)


def ok(table: list[dict]) -> bool:
    return all(t["control_passes"] and not t["survived"] and not t["listed_but_killed"] for t in table)


def notebook_hash(notebook: Path) -> str:
    """A fingerprint of a notebook's code cells: a recorded run is stale once it changes."""
    import hashlib

    nb = nbformat.read(notebook, as_version=4)
    return hashlib.sha1("\0".join(c.source for c in nb.cells if c.cell_type == "code").encode()).hexdigest()


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the worker and its forks): a figure load on the machine does not change."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(notebooks: dict[str, Path], *, max_per_exercise: int | None = None, seed: int = 0, parallel: int = 1,
        verbose: bool = True) -> tuple[list[dict], dict[str, dict]]:
    """Mutation-tests the lessons (lesson -> source notebook): a row per exercise, and per lesson its time and fingerprint."""
    rows, lessons = [], {}
    for lesson, notebook in notebooks.items():
        start, cpu = time.perf_counter(), _children_cpu()
        rows += run_lesson(notebook, plan_lesson(notebook, lesson, max_per_exercise=max_per_exercise, seed=seed, parallel=parallel),
                           verbose=verbose)
        lessons[lesson] = {"seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(_children_cpu() - cpu, 1),
                           "notebook_sha1": notebook_hash(notebook),
                           "max_per_exercise": max_per_exercise, "seed": seed,
                           "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return rows, lessons


def record(rows: list[dict], lessons: dict[str, dict], equivalents: dict[str, str] | None = None) -> dict:
    """What the results file holds: the score table (against ``equivalents``), every mutant's verdict, the raw rows."""
    equivalents = load_equivalents() if equivalents is None else equivalents
    table = score(rows, equivalents)
    return {"total_seconds": round(sum(v["seconds"] for v in lessons.values()), 1), "lessons": lessons,
            "ok": ok(table), "exercises": table,
            "mutants": [{"key": key(r["lesson"], r["exercise"], m["id"]), "killed": m["killed"], "by": m.get("by"),
                         "error": m.get("error", "")[:120]} for r in rows for m in r["mutants"]],
            "rows": rows}
