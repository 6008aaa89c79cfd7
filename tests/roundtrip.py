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


def grade_with_answers(name: str, answers: dict, tmp_path: Path, *, start: str = "solution",
                       blank_ungraded: bool = False) -> dict:
    """Grade the solution (or the release) with the cells of these grade ids replaced by these sources.

    ``blank_ungraded`` empties the plain code cells that import nothing (plots, timings): they are
    not graded, only slow.
    """
    nb = nbformat.read(str(notebooks(name)[0 if start == "solution" else 1]), as_version=4)
    replaced = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid in answers:
            cell.source = answers[gid].strip()
            replaced.add(gid)
        elif blank_ungraded and cell.cell_type == "code" and not meta and "import" not in cell.source:
            cell.source = "pass"
    assert replaced == set(answers), set(answers) - replaced
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return grade_notebook(name, path, workdir=tmp_path / "grade")


def grade_with_cell_replaced(name: str, grade_id: str, source: str, tmp_path: Path) -> dict:
    """Grade the solution with one answer cell's source replaced (a cheating or partial student)."""
    return grade_with_answers(name, {grade_id: source}, tmp_path)


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
