"""A1 through a real nbgrader autograde: solution = full marks, blank release = 0, and an unpruned
model sold as a pruned one (claimed speedup and MACs) scores 0 on the final-answer cell."""

import pytest

from roundtrip import (assert_blank_release_scores_zero, assert_solution_gets_full_marks, auto_cells,
                       grade_with_cell_replaced)

NAME = "a1_segformer_pruning"
MANUAL = {"written_criteria"}

# the sweep cell of a student who skips the work: the baseline itself, with made-up numbers
CHEAT = '''
GLOBAL_AMOUNTS, UNIFORM_AMOUNTS, STEPS = [0.5], [], 0
probe = S.deploy_input(256)
final_model = copy.deepcopy(baseline)
answer = {"criterion": "taylor", "amount": 0.5, "scope": "global", "miou": baseline_miou,
          "speedup": 2.5, "macs_ratio": 3.0}
results = [dict(answer, miou_pruned=baseline_miou, latency_ms=10.0, base_latency_ms=25.0,
                model=final_model)]
'''


def _auto_cells(result):
    return auto_cells(result, MANUAL)


@pytest.mark.slow
def test_solution_gets_full_marks(tmp_path):
    assert_solution_gets_full_marks(NAME, MANUAL, tmp_path)


@pytest.mark.slow
def test_blank_release_scores_zero(tmp_path):
    assert_blank_release_scores_zero(NAME, tmp_path)


@pytest.mark.slow
def test_unpruned_model_claiming_a_speedup_scores_zero_there(tmp_path):
    result = grade_with_cell_replaced(NAME, "sweep", CHEAT, tmp_path)
    assert result["status"] == "graded", result
    auto = _auto_cells(result)
    assert auto["test_final_answer"]["score"] == 0, auto
    for gid, c in auto.items():
        if gid != "test_final_answer":
            assert c["score"] == c["max"], (gid, c)
