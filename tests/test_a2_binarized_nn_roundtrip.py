"""A2 through a real nbgrader autograde: solution = full marks, blank release = 0, and a hard-coded
accuracy reported for an untrained model scores 0 on the trained-model cells."""

import pytest

from roundtrip import (assert_blank_release_scores_zero, assert_solution_gets_full_marks, auto_cells,
                       grade_with_cell_replaced)

NAME = "a2_binarized_nn"
MANUAL = {"written_58x"}
MODEL_CELLS = {"test_trained_mlp", "test_trained_cnn"}

CHEAT = '''
train_set, val_set = digits("train"), digits("val")
mlps = {mode: build_mlp(mode) for mode in MODES}
cnns = {mode: build_cnn(mode) for mode in ("fp32", "binary_full")}
acc = {"fp32": 0.98, "binary_weights": 0.97, "binary_full": 0.96}
acc_cnn = {"fp32": 0.99, "binary_full": 0.97}
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
def test_hard_coded_accuracy_of_untrained_models_scores_zero_there(tmp_path):
    result = grade_with_cell_replaced(NAME, "train_models", CHEAT, tmp_path)
    assert result["status"] == "graded", result
    auto = _auto_cells(result)
    for gid, c in auto.items():
        if gid in MODEL_CELLS:
            assert c["score"] == 0, (gid, c)
        else:
            assert c["score"] == c["max"], (gid, c)
