"""How many students a classroom server holds: N students at once, each fetching, running and submitting a lesson.

Starts ``finetune-course hub`` on loopback (as root: it creates accounts ``fcb-*``, removed at the
end) and, through the hub's API (not a browser), for each round of N students at once: starts each
student's server, *Fetch*es the lesson in the Assignment List, puts in the solution's answers,
*Validate*s (which runs the whole notebook in a kernel of the student's server, as a student running
it would) and *Submit*s. Then the instructor collects from the exchange. It reports:

- submissions collected (all N, or the bench fails) and the time from release to all collected;
- memory of each student's processes (server and kernel), sampled every 0.2 s: the peak while the
  lesson runs, and the server alone once it is done;
- CPU seconds per student run, and from these, how many students at once a 16-core, 64 GiB server
  holds: by memory (64 GiB less 4 GiB for the system, the hub and the instructor, over the peak per
  running student) and by CPU (16 cores over the cores one run keeps busy), the smaller of the two.

    sudo .venv/bin/python bench/hub_capacity.py                      # rounds of 1 and 4 students
    sudo .venv/bin/python bench/hub_capacity.py --students 1 8 16    # a bigger machine
"""

import argparse
import os
import pwd
import threading
import time
from pathlib import Path

import nbformat
import psutil
from _common import cpu_seconds, report, simulate

from classroom.accounts import run_as
from classroom.api import scratch_classroom
from classroom.environment import env_bin

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "fcb-"
INSTRUCTOR = f"{PREFIX}teacher"
GIB = 1 << 30
TARGET_CORES, TARGET_GIB, RESERVED_GIB = 16, 64, 4


class Sampler(threading.Thread):
    """Resident memory of each user's processes, every ``interval`` seconds: the peak per user."""

    def __init__(self, users, interval=0.2):
        super().__init__(daemon=True)
        self.uids = {pwd.getpwnam(u).pw_uid: u for u in users}
        self.peak = {u: 0 for u in users}
        self.interval, self.done = interval, threading.Event()

    def current(self) -> dict:
        rss = {u: 0 for u in self.uids.values()}
        for process in psutil.process_iter(["uids", "memory_info"]):
            try:
                user = self.uids.get(process.info["uids"].real)
                if user is not None and process.info["memory_info"] is not None:
                    rss[user] += process.info["memory_info"].rss
            except (psutil.Error, AttributeError):
                continue
        return rss

    def run(self):
        while not self.done.is_set():
            for user, value in self.current().items():
                self.peak[user] = max(self.peak[user], value)
            time.sleep(self.interval)


def student_run(api, user, lesson, answers, out):
    """One student, as the Assignment List does it: fetch, answer, validate (runs the notebook), submit."""
    started = time.monotonic()
    token = api.start(user)
    ready = time.monotonic()
    status, reply = api.assignments(user, token, "fetch", lesson)
    assert status == 200 and reply.get("success"), (user, status, reply)
    path = Path(pwd.getpwnam(user).pw_dir) / lesson / f"{lesson}.ipynb"
    nbformat.write(answers, path)
    account = pwd.getpwnam(user)
    os.chown(path, account.pw_uid, account.pw_gid)
    before = cpu_seconds(account.pw_uid)
    run_start = time.monotonic()
    status, reply = api.assignments(user, token, "validate", path=f"{lesson}/{lesson}.ipynb")
    run_seconds = time.monotonic() - run_start
    assert status == 200 and reply.get("success") and not reply["value"].get("failed"), (user, status, str(reply)[:500])
    cpu = cpu_seconds(account.pw_uid) - before
    status, reply = api.assignments(user, token, "submit", lesson)
    assert status == 200 and reply.get("success"), (user, status, reply)
    out[user] = {"server_start_seconds": round(ready - started, 1), "run_seconds": round(run_seconds, 1),
                 "run_cpu_seconds": round(cpu, 1), "total_seconds": round(time.monotonic() - started, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 4], help="students at once, per round")
    parser.add_argument("--lesson", default="03_replacing_the_head")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the bench creates local accounts (fcb-*), removed at the end")
    rounds = [[f"{PREFIX}r{r}s{i:02d}" for i in range(n)] for r, n in enumerate(args.students)]
    results = {}
    with scratch_classroom([u for users in rounds for u in users], INSTRUCTOR, PREFIX) as (api, directory, _):
        bin_dir = env_bin(directory)
        grade = [str(bin_dir / "finetune-course"), "grade"]
        course = Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / "finetune-course"
        source = nbformat.read(course / "solutions" / args.lesson / f"{args.lesson}.ipynb", as_version=4)
        released = nbformat.read(course / "lessons" / args.lesson / f"{args.lesson}.ipynb", as_version=4)
        answers = simulate.completed_copy(released, source)
        for users in rounds:
            n = len(users)
            print(f"{n} students at once ...", flush=True)
            release = time.monotonic()
            run_as(INSTRUCTOR, [*grade, "publish", args.lesson], cwd=course, bin_dir=bin_dir)
            sampler = Sampler(users)
            sampler.start()
            per_student = {}
            threads = [threading.Thread(target=student_run, args=(api, u, args.lesson, answers, per_student))
                       for u in users]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sampler.done.set()
            sampler.join()
            idle = sampler.current()  # the servers, the lesson done (its kernel shut down by Validate)
            collected = run_as(INSTRUCTOR, [*grade, "collect", "--exchange", "--lesson", args.lesson], cwd=course,
                               bin_dir=bin_dir)
            all_collected = time.monotonic() - release
            got = sum(f"{u}/{args.lesson}/{args.lesson}.ipynb" in collected for u in users)
            if len(per_student) != n or got != n:
                raise SystemExit(f"{n} students ran, {len(per_student)} finished and {got} were collected:\n{collected}")
            peaks = sorted(sampler.peak[u] for u in users)
            runs = sorted(per_student[u]["run_seconds"] for u in users)
            cpu = sorted(per_student[u]["run_cpu_seconds"] for u in users)
            results[f"students_{n}"] = {
                "students": n, "collected": got, "release_to_all_collected_seconds": round(all_collected, 1),
                "run_seconds": {"min": runs[0], "median": runs[n // 2], "max": runs[-1]},
                "run_cpu_seconds_median": cpu[n // 2],
                "peak_mib_per_running_student": {"median": round(peaks[n // 2] / 2**20), "max": round(peaks[-1] / 2**20)},
                "idle_server_mib_median": round(sorted(idle.values())[n // 2] / 2**20),
                "per_student": per_student}
            print(f"  collected {got}/{n}; release to all collected {all_collected:.1f} s; run {runs[n // 2]} s "
                  f"(median), peak {peaks[n // 2] / 2**20:.0f} MiB per running student", flush=True)
            for u in users:
                api.stop(u)

    largest = results[f"students_{max(args.students)}"]
    alone = results.get("students_1", largest)
    peak_gib = largest["peak_mib_per_running_student"]["max"] / 1024
    cores_per_run = alone["run_cpu_seconds_median"] / alone["run_seconds"]["median"]
    by_memory = int((TARGET_GIB - RESERVED_GIB) / peak_gib)
    by_cpu = int(TARGET_CORES / cores_per_run)
    figures = {
        "lesson": args.lesson, "cores_here": len(os.sched_getaffinity(0)),
        "memory_here_gib": round(psutil.virtual_memory().total / GIB, 1), "rounds": results,
        "cores_per_running_student": round(cores_per_run, 2),
        "estimate_16_cores_64_gib": {
            "students_running_a_lesson_at_once_by_memory": by_memory,
            "students_running_a_lesson_at_once_by_cpu": by_cpu,
            "students_running_a_lesson_at_once": min(by_memory, by_cpu),
            "students_logged_in_idle_by_memory": int((TARGET_GIB - RESERVED_GIB) * 1024
                                                     / max(1, largest["idle_server_mib_median"])),
            "assumptions": f"{RESERVED_GIB} GiB for the system, the hub and the instructor; each running student "
                           "at the largest round's peak memory; a run keeps as many cores busy as it did alone "
                           "here (its CPU seconds over its wall time); every student runs at once (the worst case)"},
    }
    report("hub_capacity", figures, "sudo python bench/hub_capacity.py --students "
           + " ".join(map(str, args.students)) + f" --lesson {args.lesson}")


if __name__ == "__main__":
    main()
