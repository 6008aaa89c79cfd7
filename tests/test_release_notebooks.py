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
    cell = nb.cells[first_error]
    err = next(o for o in cell.outputs if o.output_type == "error")
    assert cell.metadata.get("nbgrader", {}).get("solution"), \
        f"the first error is not in an answer cell but in cell {first_error}: {err.ename}: {err.evalue}"
    assert err.ename == "NotImplementedError"
