"""Shared by the bench scripts: print figures and write them to bench/results/<name>.json."""

import datetime
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def report(name: str, figures: dict, command: str) -> None:
    figures = {"command": command,
               "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **figures}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {path}")
