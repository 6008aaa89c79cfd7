"""The student release is generated from solutions/, in sync, and leaks nothing."""
import json
from pathlib import Path

import pytest

from autograder.release import ASSIGNMENTS, REPO, SOLUTIONS, assignment_names, generate, normalize

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
        assert _comparable(fresh / rel) == _comparable(committed / rel), \
            f"assignments/{name}/{rel} is stale: run `make release` and commit"


def _comparable(path: Path) -> bytes:
    """The file's bytes; a notebook's without the Python patch version in its language_info."""
    if path.suffix != ".ipynb":
        return path.read_bytes()
    nb = json.loads(path.read_text())
    nb.get("metadata", {}).get("language_info", {}).pop("version", None)
    return json.dumps(nb, sort_keys=True).encode()


NOTEBOOKS = sorted(REPO.glob("lectures/*.ipynb")) + sorted(ASSIGNMENTS.glob("*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_open_unmodified_in_jupyterlab(path, tmp_path):
    """What JupyterLab saves for an unedited notebook: nbformat 4.5, cell ids, the kernel's language_info.

    Anything less and the notebook opens marked modified (and saving it changes the file). Fix a
    lecture with `python -c "from autograder.release import normalize; normalize(Path(...))"`;
    assignments are normalized by `make release`.
    """
    nb = json.loads(path.read_text())
    assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5), f"{path.name}: nbformat {nb['nbformat_minor']}"
    assert all(c.get("id") for c in nb["cells"]), f"{path.name}: cells without an id"
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    normalize(copy)
    assert _comparable(copy) == _comparable(path), f"{path.name} is not normalized"
