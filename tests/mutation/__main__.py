"""Mutation-test the course's exercises and write bench/results/mutation.json.

    .venv/bin/python tests/mutation [LESSON ...] [--max-per-exercise N] [--seed S] [--jobs N]
    .venv/bin/python tests/mutation --rescore      # after editing equivalent.json: no run, a new table

With lessons named, only their entries in the results file are replaced (after a change to one
lesson's tests, run that lesson again).
"""

import argparse
import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mutation  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "mutation.json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*")
    parser.add_argument("--max-per-exercise", type=int, default=None,
                        help="run at most N mutants per exercise, a sample drawn with --seed (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2,
                        help="mutants run at a time, one thread each (default 2: the 2 cores of the course's machine)")
    parser.add_argument("--rescore", action="store_true",
                        help="run nothing: score the recorded run again against tests/mutation/equivalent.json")
    args = parser.parse_args()

    every = {path.parent.name: path for path in sorted((ROOT / "solutions").glob("[0-9]*/*.ipynb"))}
    unknown = set(args.lessons) - set(every)
    if unknown:
        parser.error(f"no lesson {sorted(unknown)}; the lessons are {sorted(every)}")
    chosen = {lesson: every[lesson] for lesson in args.lessons} if args.lessons else every
    # the results file is written after each lesson; a lesson run again replaces its entries
    took = 0.0
    for lesson, path in ({} if args.rescore else chosen).items():
        new_rows, new_lessons = mutation.run({lesson: path}, max_per_exercise=args.max_per_exercise, seed=args.seed,
                                             parallel=args.jobs)
        rows, lessons = recorded()  # read again: another lesson may have been recorded meanwhile
        rows = [r for r in rows if r["lesson"] != lesson] + new_rows
        lessons = {**lessons, **new_lessons}
        took += new_lessons[lesson]["seconds"]
        result = write(rows, lessons, list(every))
        print(mutation.summary([t for t in result["exercises"] if t["lesson"] == lesson]), flush=True)
    rows, lessons = recorded()
    result = write(rows, lessons, list(every))
    print(mutation.summary(result["exercises"]))
    print(f"{len(result['mutants'])} mutants recorded; this run took {took:.0f} s; written to {RESULTS.relative_to(ROOT)}")
    sys.exit(0 if result["ok"] and set(lessons) == set(every) else 1)


def recorded() -> tuple[list[dict], dict]:
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": [], "lessons": {}}
    return kept["rows"], kept["lessons"]


def write(rows: list[dict], lessons: dict, order: list[str]) -> dict:
    rows = sorted((r for r in rows if r["lesson"] in order), key=lambda r: order.index(r["lesson"]))
    lessons = {k: lessons[k] for k in order if k in lessons}
    result = {"command": mutation.COMMAND,
              "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              **mutation.record(rows, lessons)}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
