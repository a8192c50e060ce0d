"""Shared by the bench scripts: print figures and write them to bench/results/<name>.json."""

import datetime
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# The simulated students live with the tests' support code (tests/simulate.py); benches take them from here.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import simulate  # noqa: E402


def cpu_seconds(uid: int) -> float:
    """CPU seconds of every process of user ``uid`` now, their reaped children's included."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["uids", "cpu_times"]):
        try:
            if process.info["uids"].real == uid:
                times = process.info["cpu_times"]
                total += times.user + times.system + times.children_user + times.children_system
        except (psutil.Error, AttributeError):
            continue
    return total


def report(name: str, figures: dict, command: str) -> None:
    figures = {"command": command,
               "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **figures}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {path}")
