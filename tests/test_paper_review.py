"""The optional paper review (A3) is graded by hand in Formgrader, and the term export counts one of
A1/A2 (the better one) plus the review as a capped bonus, from nbgrader's gradebook."""
import csv
import json
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.grade import grade_folder
from autograder.release import ASSIGNMENTS, SOLUTIONS, write_root_config
from autograder.term import Component, Policy, combine, export

A3 = "a3_paper_review"


def _policy():
    return Policy((Component("warmup", ("a0",), 20), Component("project", ("a1", "a2"), 80, choose=1),
                   Component("review", ("a3",), 10, optional=True)))


def _e(score, maximum, pending=False):
    return {"score": score, "max": maximum, "pending": pending}


def test_the_better_of_a1_and_a2_counts_and_the_csv_says_which():
    rec = combine(_policy(), {"a0": _e(10, 10), "a1": _e(30, 60), "a2": _e(45, 50)})
    assert rec["project"] == {"percent": 90.0, "counted": ["a2"]}
    assert rec["total_percent"] == pytest.approx((20 * 1.0 + 80 * 0.9) / 100 * 100)
    assert rec["notes"] == ["project: 2 submitted, counted a2"]


def test_one_of_the_two_is_enough_and_a_missing_required_one_is_zero():
    only_a1 = combine(_policy(), {"a0": _e(5, 10), "a1": _e(60, 60)})
    assert only_a1["project"]["counted"] == ["a1"] and only_a1["notes"] == []
    assert only_a1["total_percent"] == pytest.approx(20 * 0.5 + 80 * 1.0)
    nothing = combine(_policy(), {"a0": _e(10, 10)})
    assert nothing["project"] == {"percent": 0.0, "counted": []}
    assert nothing["total_percent"] == pytest.approx(20.0)


def test_the_optional_review_is_a_bonus_capped_at_the_policy_cap():
    rec = combine(_policy(), {"a0": _e(10, 10), "a1": _e(50, 60), "a3": _e(17, 17)})
    assert rec["total_percent"] == pytest.approx(20 + 80 * 50 / 60 + 10)
    full = combine(_policy(), {"a0": _e(10, 10), "a2": _e(50, 50), "a3": _e(17, 17)})
    assert full["total_percent"] == 100.0  # 110 % capped


def test_pending_manual_grades_are_flagged_only_when_they_count():
    assert combine(_policy(), {"a0": _e(10, 10), "a1": _e(0, 60, pending=True), "a2": _e(50, 50)})["pending"] is False
    assert combine(_policy(), {"a0": _e(10, 10), "a2": _e(0, 50, pending=True)})["pending"] is True


@pytest.mark.parametrize("raw, message", [
    ({"components": []}, "at least one required"),
    ({"components": [{"name": "x", "assignments": ["a"], "weight": 0}]}, "weight must be a number > 0"),
    ({"components": [{"name": "x", "assignments": ["a", "b"], "weight": 1, "choose": 3}]}, "choose must be"),
    ({"components": [{"name": "x", "assignments": ["a"], "weight": 1}, {"name": "y", "assignments": ["a"], "weight": 1}]},
     "two components"),
    ({"components": [{"name": "x", "assignments": ["a"], "weight": 1, "wieght": 2}]}, "unknown keys"),
])
def test_a_bad_policy_is_refused_with_the_reason(tmp_path, raw, message):
    path = tmp_path / "term.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=message):
        Policy.load(path)


def test_the_course_policy_names_existing_assignments():
    policy = Policy.load()
    assert set(policy.assignments) <= {p.name for p in SOLUTIONS.iterdir() if p.is_dir()}
    assert any(c.choose == 1 and set(c.assignments) == {"a1_segformer_pruning", "a2_binarized_nn"}
               for c in policy.components)


def test_the_release_asks_for_written_answers_graded_by_hand():
    nb = nbformat.read(str(ASSIGNMENTS / A3 / f"{A3}.ipynb"), as_version=4)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) == 6 and sum(c.metadata.nbgrader.points for c in graded) == 17
    # every graded cell is an answer (manual), none is an autograded test
    assert all(c.metadata.nbgrader.get("solution") for c in graded)
    text = "\n".join(c.source for c in nb.cells)
    assert "Model answer" not in text and "BEGIN SOLUTION" not in text
    assert text.count("**Rubric**") == 5


@pytest.mark.slow
def test_hand_grades_entered_as_formgrader_does_reach_the_term_export(tmp_path):
    course, subs, out = tmp_path / "course", tmp_path / "submitted", tmp_path / "out"
    write_root_config(course)
    (subs / "carol" / A3).mkdir(parents=True)
    shutil.copy2(SOLUTIONS / A3 / f"{A3}.ipynb", subs / "carol" / A3 / f"{A3}.ipynb")
    [res] = grade_folder(A3, subs, out, jobs=1, progress=False, course_root=course)
    assert res["status"] == "graded" and res["needs_manual"] and res["total"] == 0, res
    policy = Policy((Component("review", (A3,), 10),))
    [before] = list(csv.DictReader(export(tmp_path / "before.csv", root=course, policy=policy).open()))
    assert before["pending"] == "1" and before[f"{A3}_score"] == "0"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grades = gb.find_submission_notebook(A3, A3, "carol").grades
        assert {g.name for g in grades} == {"q1_summary", "q2_formulas", "q3_evidence", "q4_reproduction",
                                            "q4_interpretation", "q5_limits"}
        for g in grades:  # what Formgrader's score box writes (its API handler's PUT)
            g.manual_score = g.max_score - 1 if g.name == "q3_evidence" else g.max_score
            g.needs_manual_grade = g.manual_score is None and g.auto_score is None
        gb.db.commit()
    path = export(tmp_path / "term.csv", root=course, policy=policy)
    [row] = list(csv.DictReader(path.open()))
    assert row["student"] == "carol" and row[f"{A3}_score"] == "16" and row[f"{A3}_max"] == "17"
    assert float(row["total_percent"]) == pytest.approx(100 * 16 / 17, abs=0.01)
    assert row["pending"] == "0"
