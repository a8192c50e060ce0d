"""Stores the outputs of the solution cells that nbval checks (those starting with ``# NBVAL_CHECK_OUTPUT``,
or tagged ``nbval-check-output`` in their metadata, which students do not see in the cell's text).

Solution notebooks are kept without outputs, except these cells: their printed output is part
of the lesson and deterministic, so nbval (``make test``) compares a fresh run against it.
Run this after changing such a cell, then ``make lessons`` (nbgrader clears outputs from the
student versions):

    .venv/bin/python grader/refresh_checked_outputs.py [solutions/NN_slug/NN_slug.ipynb ...]
"""

import copy
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK, TAG = "# NBVAL_CHECK_OUTPUT", "nbval-check-output"
ROOT = Path(__file__).resolve().parents[1]


def is_checked(cell) -> bool:
    """Whether nbval (in --nbval-lax mode) compares this cell's output: the comment or the metadata tag."""
    return cell.cell_type == "code" and (cell.source.startswith(MARK) or TAG in cell.metadata.get("tags", []))


def refresh(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    checked = [i for i, c in enumerate(nb.cells) if is_checked(c)]
    if not checked:
        return 0
    run = copy.deepcopy(nb)
    NotebookClient(run, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            keep = i in checked
            cell.outputs = run.cells[i].outputs if keep else []
            cell.execution_count = run.cells[i].execution_count if keep else None
    nbformat.write(nb, path)
    return len(checked)


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "solutions").glob("[0-9]*/*.ipynb"))
    for path in paths:
        print(f"{path}: {refresh(path)} checked cell(s) stored")
