"""``finetune-course check LESSON``: a student runs a lesson's visible tests before submitting.

A thin layer over nbgrader's validator (what the Validate button in JupyterLab runs): the whole
notebook is run from the top, then each test cell is reported as passed or failed, with the
first line of its docstring and the error it ended with.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LESSONS = Path(__file__).resolve().parents[2] / "lessons"


def find_notebook(target: str, lessons: Path = LESSONS) -> Path:
    """A notebook path, or the lesson whose folder name starts with ``target`` ("03", "03_replacing")."""
    path = Path(target)
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise FileNotFoundError(f"no notebook at {path}")
        return path.resolve()
    if path.is_dir() and list(path.glob("*.ipynb")):
        return sorted(path.glob("*.ipynb"))[0].resolve()
    folders = sorted(p for p in lessons.iterdir() if p.is_dir() and p.name.startswith(target)) \
        if lessons.is_dir() else []
    if len(folders) != 1:
        names = ", ".join(sorted(p.name for p in lessons.iterdir() if p.is_dir())) if lessons.is_dir() else "none"
        raise FileNotFoundError(f"{target!r} matches {len(folders)} lessons; say one of: {names} "
                                "(or give a notebook's path)")
    return folders[0] / f"{folders[0].name}.ipynb"


def _first_line(source: str) -> str:
    match = re.search(r'^\s*"""(.*?)(?:"""|$)', source, re.M)
    return (match.group(1) if match else source.strip().splitlines()[0]).strip()[:100]


def check(target: str, timeout: int = 300, stream=sys.stdout) -> int:
    """Run the notebook and its visible tests; 0 when every test passes, 1 otherwise."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    path = find_notebook(target)
    config = Config()
    config.Execute.timeout = timeout
    print(f"running {path.name} from the top (this takes as long as Run All)...", file=stream, flush=True)
    import nbformat
    from nbgrader.utils import chdir

    # Validator.validate() reports failures only; its helpers below give passes too (nbgrader 0.9).
    validator = Validator(config=config)
    with chdir(str(path.parent)):
        nb = nbformat.read(path.name, as_version=4)
        changed = validator._get_type_changed_cells(nb)
        if not changed:
            nb = validator._preprocess(nb)
            changed = validator._get_changed_cells(nb)
    passed = validator._get_passed_cells(nb) if not changed else []
    failed = validator._get_failed_cells(nb) if not changed else []
    for cell in passed:
        print(f"  pass  {_first_line(cell.source)}", file=stream)
    for cell in failed:
        error = re.sub(r"\x1b\[[0-9;]*m", "", validator._extract_error(cell)).strip().splitlines()
        print(f"  FAIL  {_first_line(cell.source)}\n        {error[-1][:200] if error else ''}", file=stream)
    for cell in changed:
        print(f"  CHANGED  a test cell was edited or changed type (undo it; the grader restores the "
              f"original): {_first_line(cell.source)}", file=stream)
    total = len(passed) + len(failed)
    print(f"{len(passed)} of {total} tests pass" + ("" if failed or changed else ": ready to submit"), file=stream)
    return 0 if not failed and not changed else 1
