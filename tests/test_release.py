"""The student release is generated from solutions/, in sync, and leaks nothing."""
import json
from pathlib import Path

import pytest

from autograder.release import ASSIGNMENTS, SOLUTIONS, assignment_names, generate

NAMES = assignment_names()
LEAKS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION", "from autograder",
         "import autograder", "hidden.check")


def _grade_ids(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"] if "nbgrader" in c.get("metadata", {})]


def test_there_are_assignments():
    assert "a0_warmup" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_grade_ids_unique_and_points_positive(name):
    path = SOLUTIONS / name / f"{name}.ipynb"
    ids = _grade_ids(path)
    assert len(ids) == len(set(ids)), f"duplicate grade ids in {name}"
    nb = json.loads(path.read_text())
    graded = [c["metadata"]["nbgrader"] for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert graded and all(m["points"] > 0 for m in graded)


@pytest.mark.parametrize("name", NAMES)
def test_release_has_no_solutions_or_hidden_checks(name):
    for path in (ASSIGNMENTS / name).rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for leak in LEAKS:
                assert leak not in text, f"{path} contains {leak!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_release_equals_fresh_generation(name, tmp_path):
    fresh = generate(name, dest=tmp_path)
    committed = ASSIGNMENTS / name
    files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for rel in files:
        assert (fresh / rel).read_bytes() == (committed / rel).read_bytes(), \
            f"assignments/{name}/{rel} is stale: run `make release` and commit"
