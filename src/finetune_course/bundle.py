"""The zip students get (``finetune-course grade bundle``): lessons, helper package and set-up files only.

No solutions, hidden tests, grader (``src/course_grader``), classroom server (``src/classroom``) or gradebook files go in it.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

BUNDLE_FILES = ["README.md", "pyproject.toml", "environment.yml", "Makefile", "lessons", "src", "jupyter", "docs"]
BUNDLE_EXCLUDE = re.compile(r"(^|/)(__pycache__|\.ipynb_checkpoints|[^/]*\.egg-info|capstone_pictures)(/|$)|\.pyc$"
                            r"|(^|/)capstone_model\.pt$"
                            r"|^src/(course_grader|classroom)(/|$)")


def bundle(root: Path, out: str | Path | None = None) -> Path:
    """Zip the course at ``root`` for students; returns the zip's path (default: dist/finetune-course-student.zip)."""
    path = Path(out) if out else root / "dist" / "finetune-course-student.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    members = []
    for name in BUNDLE_FILES:
        item = root / name
        if item.is_file():
            members.append(item)
        elif item.is_dir():
            members += sorted(p for p in item.rglob("*") if p.is_file())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            rel = member.relative_to(root).as_posix()
            if not BUNDLE_EXCLUDE.search(rel):
                archive.write(member, f"finetune-course/{rel}")
    return path
