"""Full nbgrader round trip of A0: reference = full marks, blank = 0, half-right = its exact part."""
import pytest

from autograder.grade import grade_folder
from autograder.simulate import blank_submission, partial_submission, reference_submission

A = "a0_warmup"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("a0")
    subs = root / "submitted"
    reference_submission(A, subs / "reference" / A / f"{A}.ipynb")
    blank_submission(A, subs / "blank" / A / f"{A}.ipynb")
    partial_submission(A, ["linear_cost", "magnitude_mask"], subs / "half" / A / f"{A}.ipynb")
    results = grade_folder(A, subs, root / "out", jobs=2, progress=False)
    return root / "out", {r["student"]: r for r in results}


@pytest.mark.slow
def test_scores(graded):
    _, by = graded
    assert all(r["status"] == "graded" for r in by.values())
    assert by["reference"]["total"] == by["reference"]["max"] == 13
    assert by["blank"]["total"] == 0
    assert by["half"]["total"] == 3 + 4
    assert by["half"]["cells"]["test_linear_cost"]["score"] == 3
    assert by["half"]["cells"]["test_global_masks"]["score"] == 0


@pytest.mark.slow
def test_feedback_and_csv_reveal_no_hidden_checks(graded):
    out, _ = graded
    csv_text = (out / "grades.csv").read_text()
    assert csv_text.splitlines()[0].startswith("student,assignment,status,total,max")
    assert "half,a0_warmup,graded,7.0,13.0" in csv_text
    for html in (out / "feedback").glob("*.html"):
        text = html.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "hidden.check" not in text
        assert "autograder" not in text and "_reference_mask" not in text
    blank = (out / "feedback" / "blank.html").read_text()
    assert "NotImplementedError" in blank
