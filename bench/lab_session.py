"""How many students a classroom server holds for a lab session: students who arrive, read, run cells and submit.

Starts ``finetune-course hub`` on loopback (as root: accounts ``fcl-*``, removed at the end) with each
person's default limits (2 GiB, 2 CPUs). First one student runs the lesson's cells alone, in order,
with no pause, twice: each cell's faster time is its time alone. Then, per round of N students, the model of a lab session:

- students arrive one by one over ``--arrive`` seconds (uniformly, in a random order);
- each logs in (their server starts), *Fetch*es the lesson in the Assignment List, and runs its code
  cells in order in one kernel, as a notebook tab does, with the solution's answers filled in;
- before each cell they read and type for a think time drawn uniformly from ``--think`` (a lab is
  slower: 45 minutes for a lesson whose cells take under a minute; shorter think times put more
  students' cells at the same moment, so the bench errs on the side of load);
- then they *Submit*; the instructor collects from the exchange and autogrades.

It reports the time of each student's cell against the same cell alone (p50, p95 of the ratio, over
cells that take at least 0.2 s alone), memory per person as the machine's kernel counts it (the
peak of each student's memory cgroup: their server, kernel and files in /tmp and /dev/shm), CPU
seconds per student, submissions collected (all N, or the bench fails) and the grading time.

From these, for a 16-core, 64 GiB server and a 45-minute lab where each student runs the lesson
once: by memory, (64 GiB less 4 GiB for the system, the hub and the instructor) over the largest
peak per student; by CPU, the load per core of the largest round whose p95 stayed within 2x of
alone, times 16 cores, over one student's load in the lab (their CPU seconds over 45 minutes).
Queueing on 16 cores is gentler than on 2 at the same load per core, so the CPU figure errs low.

    sudo .venv/bin/python bench/lab_session.py --students 2 4
"""

import argparse
import json
import os
import pwd
import random
import statistics
import threading
import time
from pathlib import Path

import nbformat
import psutil
from _common import cpu_seconds, report, simulate

from classroom.accounts import run_as
from classroom.api import KernelSession, scratch_classroom
from classroom.environment import env_bin
from classroom.isolation import memory_used

PREFIX = "fcl-"
INSTRUCTOR = f"{PREFIX}teacher"
TARGET_CORES, TARGET_GIB, RESERVED_GIB, LAB_MINUTES = 16, 64, 4, 45
MIN_ALONE = 0.2  # seconds: shorter cells are compared too noisily to count


def cells_of(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]


def session(api, user: str, lesson: str, answers, think: tuple[float, float], arrive_at: float, rng: random.Random,
            out: dict) -> None:
    """One student: arrive, log in, fetch, run every cell in order after a think time each, submit."""
    time.sleep(max(0.0, arrive_at - time.monotonic()))
    token = api.start(user)
    status, reply = api.assignments(user, token, "fetch", lesson)
    assert status == 200 and reply.get("success"), (user, status, reply)
    account = pwd.getpwnam(user)
    path = Path(account.pw_dir) / lesson / f"{lesson}.ipynb"
    nbformat.write(answers, path)
    os.chown(path, account.pw_uid, account.pw_gid)
    kernel = KernelSession(api, user, token, timeout=600)
    times = []
    try:
        kernel.run(f"import os; os.chdir({str(path.parent)!r})")
        before = cpu_seconds(account.pw_uid)
        for source in cells_of(answers):
            time.sleep(rng.uniform(*think))
            started = time.monotonic()
            printed = kernel.run(source, timeout=600)
            times.append(time.monotonic() - started)
            assert "Traceback" not in printed, (user, printed[-1500:])
        cpu = cpu_seconds(account.pw_uid) - before
    finally:
        kernel.close()
    status, reply = api.assignments(user, token, "submit", lesson)
    assert status == 200 and reply.get("success"), (user, status, reply)
    out[user] = {"cell_seconds": times, "cpu_seconds": cpu}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[2, 4], help="students per round")
    parser.add_argument("--lesson", default="03_replacing_the_head")
    parser.add_argument("--arrive", type=float, default=60, help="seconds over which a round's students arrive")
    parser.add_argument("--think", type=float, nargs=2, default=[2.0, 8.0], metavar=("MIN", "MAX"),
                        help="seconds before each cell, drawn uniformly (default: 2 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the bench creates local accounts (fcl-*), removed at the end")
    rng = random.Random(args.seed)
    alone_user = f"{PREFIX}alone"
    rounds = [[f"{PREFIX}r{r}s{i:02d}" for i in range(n)] for r, n in enumerate(args.students)]
    results = {}
    with scratch_classroom([alone_user, *(u for users in rounds for u in users)], INSTRUCTOR, PREFIX) as \
            (api, directory, _):
        bin_dir = env_bin(directory)
        grade = [str(bin_dir / "finetune-course"), "grade"]
        course = Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / "finetune-course"
        cgroups = json.loads((directory / "hub" / "cgroups.json").read_text())
        source = nbformat.read(course / "solutions" / args.lesson / f"{args.lesson}.ipynb", as_version=4)
        released = nbformat.read(course / "lessons" / args.lesson / f"{args.lesson}.ipynb", as_version=4)
        answers = simulate.completed_copy(released, source)
        run_as(INSTRUCTOR, [*grade, "publish", args.lesson], cwd=course, bin_dir=bin_dir)

        print("one student alone, twice ...", flush=True)
        runs = []
        for _ in range(2):  # the first run warms the page cache (torch's libraries): each cell's faster time counts
            alone = {}
            session(api, alone_user, args.lesson, answers, (0.0, 0.0), time.monotonic(), rng, alone)
            runs.append(alone[alone_user])
        alone_times = [min(a, b) for a, b in zip(runs[0]["cell_seconds"], runs[1]["cell_seconds"])]
        alone_cpu = min(run["cpu_seconds"] for run in runs)
        alone_peak = memory_used(cgroups, alone_user, peak=True)
        api.stop(alone_user)
        counted = [i for i, t in enumerate(alone_times) if t >= MIN_ALONE]

        for users in rounds:
            n = len(users)
            print(f"{n} students over {args.arrive:g} s, thinking {args.think[0]:g}-{args.think[1]:g} s a cell ...",
                  flush=True)
            order = users[:]
            rng.shuffle(order)
            start = time.monotonic()
            arrivals = {u: start + args.arrive * i / max(1, n - 1) if n > 1 else start for i, u in enumerate(order)}
            per_student, failures = {}, []

            def one(user):
                try:
                    session(api, user, args.lesson, answers, tuple(args.think), arrivals[user],
                            random.Random(f"{args.seed}-{user}"), per_student)
                except Exception as error:  # reported below with the others' results
                    failures.append(f"{user}: {type(error).__name__}: {error}"[:2000])

            threads = [threading.Thread(target=one, args=(u,)) for u in users]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            lab_seconds = time.monotonic() - start
            if failures:
                raise SystemExit(f"{len(failures)} of {n} students failed:\n" + "\n".join(failures))
            peaks = [memory_used(cgroups, u, peak=True) for u in users]
            graded_start = time.monotonic()
            collected = run_as(INSTRUCTOR, [*grade, "collect", "--exchange", "--lesson", args.lesson], cwd=course,
                               bin_dir=bin_dir)
            got = sum(f"{u}/{args.lesson}/{args.lesson}.ipynb" in collected for u in users)
            graded = run_as(INSTRUCTOR, [*grade, "autograde", "--lesson", args.lesson], cwd=course, bin_dir=bin_dir)
            grading_seconds = time.monotonic() - graded_start
            if got != n:
                raise SystemExit(f"{n} students submitted and {got} were collected:\n{collected}")
            ratios = [per_student[u]["cell_seconds"][i] / alone_times[i] for u in users for i in counted]
            cpu = [per_student[u]["cpu_seconds"] for u in users]
            busy = sum(sum(per_student[u]["cell_seconds"]) for u in users)
            results[f"students_{n}"] = {
                "students": n, "collected": got, "lab_seconds": round(lab_seconds, 1),
                "cell_time_over_alone": {"p50": round(statistics.median(ratios), 2),
                                         "p95": round(percentile(ratios, 0.95), 2), "max": round(max(ratios), 2),
                                         "cells_compared": len(ratios)},
                "peak_mib_per_student": {"median": round(statistics.median(p for p in peaks if p) / 2**20),
                                         "max": round(max(p for p in peaks if p) / 2**20)} if all(peaks) else None,
                "cpu_seconds_per_student_median": round(statistics.median(cpu), 1),
                "load_per_core": round(sum(cpu) / lab_seconds / len(os.sched_getaffinity(0)), 3),
                "seconds_in_cells_per_student": round(busy / n, 1),
                "collect_and_autograde_seconds": round(grading_seconds, 1),
                "autograde_said": graded.strip().splitlines()[-1][:300] if graded.strip() else ""}
            print(json.dumps(results[f"students_{n}"], indent=1), flush=True)
            for u in users:
                api.stop(u)

    within = [r for r in results.values() if r["cell_time_over_alone"]["p95"] <= 2.0]
    per_student_lab_load = alone_cpu / (LAB_MINUTES * 60)
    largest_peak = max([(r["peak_mib_per_student"] or {"max": 0})["max"] for r in results.values()]
                       + [round(alone_peak / 2**20) if alone_peak else 0])  # the student who ran it twice too
    by_memory = int((TARGET_GIB - RESERVED_GIB) * 1024 / largest_peak) if largest_peak else None
    by_cpu = int(max(r["load_per_core"] for r in within) * TARGET_CORES / per_student_lab_load) if within else None
    figures = {
        "lesson": args.lesson, "cores_here": len(os.sched_getaffinity(0)),
        "memory_here_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "model": {"arrive_seconds": args.arrive, "think_seconds": args.think, "seed": args.seed,
                  "cells": len(alone_times), "cells_compared": len(counted)},
        "alone": {"seconds_in_cells": round(sum(alone_times), 1), "cpu_seconds": round(alone_cpu, 1),
                  "peak_mib": round(alone_peak / 2**20) if alone_peak else None,
                  "cell_seconds": [round(t, 2) for t in alone_times]},
        "rounds": results,
        "estimate_16_cores_64_gib_45_minute_lab": {
            "by_memory": by_memory, "by_cpu": by_cpu,
            "students": min(x for x in (by_memory, by_cpu) if x is not None) if (by_memory or by_cpu) else None,
            "assumptions": f"{RESERVED_GIB} GiB for the system, the hub and the instructor; each student at the "
                           "largest peak measured here; each runs the lesson once in the lab (its CPU seconds alone "
                           f"over {LAB_MINUTES} minutes); the load per core of the largest round here whose p95 "
                           "cell time stayed within 2x of alone, on 16 cores"},
    }
    report("lab_session", figures, "sudo .venv/bin/python bench/lab_session.py --students "
           + " ".join(map(str, args.students)) + f" --arrive {args.arrive:g} --think {args.think[0]:g} "
           f"{args.think[1]:g} --lesson {args.lesson}")


if __name__ == "__main__":
    main()
