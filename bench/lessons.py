"""How long each solution notebook takes to run top to bottom (a fresh kernel each).

Targets: each lesson at most 60 s on 2 CPU cores, all of them at most 5 minutes, so that CI and
autograding stay fast.

    .venv/bin/python bench/lessons.py            # every lesson
    .venv/bin/python bench/lessons.py 09 07      # only these; the other lessons keep their last figures
"""

import json
import sys
import time
from pathlib import Path

import nbformat
from _common import report
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
only = sys.argv[1:]
previous = ROOT / "bench" / "results" / "lessons.json"
times = json.loads(previous.read_text())["seconds"] if only and previous.exists() else {}
for path in sorted((ROOT / "solutions").glob("[0-9]*/*.ipynb")):
    if only and not any(path.stem.startswith(prefix) for prefix in only):
        continue
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    times[path.stem] = round(time.perf_counter() - start, 1)
    print(f"{path.stem:<24}{times[path.stem]:>7.1f} s", flush=True)
times = dict(sorted(times.items()))
total = round(sum(times.values()), 1)
print(f"{'all':<24}{total:>7.1f} s")
report("lessons", {"seconds": times, "total_seconds": total, "slowest_seconds": max(times.values()),
                   "meets_targets": {"each_at_most_60_s": max(times.values()) <= 60, "all_at_most_300_s": total <= 300}},
       " ".join(["python bench/lessons.py", *only]))
