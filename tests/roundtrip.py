"""Shared steps of the assignment round-trip tests (a plain module, imported by the test files)."""
from pathlib import Path

import nbformat

from autograder.grade import grade_notebook

ROOT = Path(__file__).resolve().parent.parent


def notebooks(name: str) -> tuple[Path, Path]:
    """The instructor notebook and the release notebook of an assignment."""
    return ROOT / "solutions" / name / f"{name}.ipynb", ROOT / "assignments" / name / f"{name}.ipynb"


def auto_cells(result: dict, manual: set[str]) -> dict:
    """The auto-graded cells of a grading result (manually graded answers left out)."""
    return {gid: c for gid, c in result["cells"].items() if gid not in manual}


def grade_with_cell_replaced(name: str, grade_id: str, source: str, tmp_path: Path) -> dict:
    """Grade the solution with one answer cell's source replaced (a cheating or partial student)."""
    nb = nbformat.read(str(notebooks(name)[0]), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.source = source.strip()
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return grade_notebook(name, path, workdir=tmp_path / "grade")


def assert_solution_gets_full_marks(name: str, manual: set[str], tmp_path: Path) -> None:
    """Every auto-graded cell of the instructor notebook scores its maximum."""
    result = grade_notebook(name, notebooks(name)[0], workdir=tmp_path)
    assert result["status"] == "graded", result
    auto = auto_cells(result, manual)
    assert auto and all(c["score"] == c["max"] > 0 for c in auto.values()), auto


def assert_blank_release_scores_zero(name: str, tmp_path: Path) -> None:
    """The untouched release earns nothing."""
    result = grade_notebook(name, notebooks(name)[1], workdir=tmp_path)
    assert result["status"] == "graded", result
    assert result["total"] == 0, result["cells"]
