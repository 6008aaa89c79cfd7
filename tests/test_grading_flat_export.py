"""A flat LMS export (<student>.ipynb and <student>.zip) and regrading without losing anything."""
import json
import zipfile

import pytest

from autograder.grade import grade_folder
from autograder.settings import limits_for
from autograder.simulate import blank_submission, reference_submission

A = "a0_warmup"
LIMITS = limits_for("a0_warmup", cell_timeout=60, submission_timeout=150)


@pytest.mark.slow
def test_flat_export_zip_safety_and_regrade_history(tmp_path):
    export, out = tmp_path / "export", tmp_path / "out"
    blank_submission(A, export / "alice.ipynb")
    ref = reference_submission(A, tmp_path / "ref.ipynb")
    with zipfile.ZipFile(export / "bob.zip", "w") as zf:
        zf.write(ref, f"bob_files/{A}.ipynb")
    with zipfile.ZipFile(export / "mallory.zip", "w") as zf:
        zf.writestr("../../escape.ipynb", ref.read_text())

    first = {r["student"]: r for r in grade_folder(A, export, out, jobs=2, limits=LIMITS, progress=False)}
    assert (first["alice"]["status"], first["alice"]["total"]) == ("graded", 0)
    assert (first["bob"]["status"], first["bob"]["total"]) == ("graded", 13)
    assert first["mallory"]["status"] == "missing" and "outside the archive" in first["mallory"]["note"]
    assert not (tmp_path / "escape.ipynb").exists()

    # alice resubmits a solved notebook: she is regraded, and her old result and feedback are kept
    reference_submission(A, export / "alice.ipynb")
    second = {r["student"]: r for r in grade_folder(A, export, out, jobs=2, limits=LIMITS, progress=False)}
    assert second["alice"]["total"] == 13 and "regraded" in second["alice"]["note"]
    assert second["bob"].get("_unchanged") and second["bob"]["total"] == 13
    history = list((out / "history" / "alice").glob("*/result.json"))
    assert len(history) == 1 and json.loads(history[0].read_text())["total"] == 0
    assert list((out / "history" / "alice").glob("*/alice.html"))
    assert "alice,a0_warmup,graded,13.0" in (out / "grades.csv").read_text()
