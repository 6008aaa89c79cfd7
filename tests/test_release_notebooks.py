"""A student opening a release notebook can run it up to the first exercise they must answer."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.release import ASSIGNMENTS, assignment_names


@pytest.mark.slow
@pytest.mark.parametrize("name", assignment_names())
def test_release_runs_until_first_unanswered_cell(name, tmp_path):
    nb = nbformat.read(str(ASSIGNMENTS / name / f"{name}.ipynb"), as_version=4)
    env_ok = os.environ.get("EFFNN_FAST") == "1"
    assert env_ok, "run under the test suite's fast mode"
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(ASSIGNMENTS / name)}})
    client.execute()
    first_error = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                        and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    assert first_error is not None, "a blank release should stop at an unanswered exercise"
    first_answer = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    err = next(o for o in nb.cells[first_error].outputs if o.output_type == "error")
    # everything up to the first exercise runs; the first failure is the unanswered exercise itself
    # (in its answer cell, or in the test right after it that calls the unanswered function)
    assert first_error >= first_answer, f"cell {first_error} fails before the first exercise: {err.ename}: {err.evalue}"
    assert err.ename == "NotImplementedError", f"cell {first_error}: {err.ename}: {err.evalue}"
