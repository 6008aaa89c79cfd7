"""Write course notebooks from Python: markdown, code, and nbgrader cells with correct metadata.

The .ipynb files are the source of truth and can be edited in JupyterLab; this helper only saves
typing the nbgrader metadata when a notebook is first written. Example::

    from tools.nbbuild import md, code, solution, tests, write
    write("solutions/a9_x/a9_x.ipynb", [md("# Title"), solution("def f(): ...", "f"),
                                        tests("assert f() == 1", "test_f", points=2)])
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _nbgrader(grade_id: str, *, solution=False, grade=False, locked=False, points=0, task=False):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": task}
    if grade or task:
        meta["points"] = points
    return {"nbgrader": meta}


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(src: str, **metadata):
    return new_code_cell(src.strip("\n"), metadata=metadata)


def solution(src: str, grade_id: str):
    """An answer cell: wrap the reference between ``### BEGIN SOLUTION`` / ``### END SOLUTION``."""
    return new_code_cell(src.strip("\n"), metadata=_nbgrader(grade_id, solution=True))


def tests(src: str, grade_id: str, points: int):
    """A locked, graded test cell (visible asserts, then a ``### BEGIN HIDDEN TESTS`` block)."""
    return new_code_cell(src.strip("\n"), metadata=_nbgrader(grade_id, grade=True, locked=True, points=points))


def written(text: str, grade_id: str, points: int):
    """A manually graded markdown answer cell."""
    return new_markdown_cell(text.strip("\n"),
                             metadata=_nbgrader(grade_id, solution=True, grade=True, points=points))


def locked_md(text: str, grade_id: str):
    return new_markdown_cell(text.strip("\n"), metadata=_nbgrader(grade_id, locked=True))


def write(path: str | Path, cells, title: str | None = None) -> Path:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path
