"""A1's reference answers are not the student's library: aliasing them earns nothing.

The answers live in ``autograder.reference.segformer``, which the grading jail cannot import; what a
student gets in ``effnn.segformer`` is data, the baseline and inference/structure helpers only.
The hidden checks speak A1's names (``amount``, ``scope``): a pruner written for torch-pruning's
names, or an answer with the old keys, gets a message that says what to rename.
"""

import pytest
import torch
from torch import nn

from autograder import jail
from autograder.reference import segformer as R
from effnn import segformer as S
from effnn.grading import judge

NAME = "a1_segformer_pruning"

#: everything public in effnn.segformer, each checked by hand not to answer an A1 exercise
GIVEN = {"ASSETS", "BASELINE", "BASELINE_CHECKPOINT", "BASELINE_META", "BaselineRecipe", "DEPLOY_SIZE",
         "DEPLOY_THREADS", "as_float", "attentions", "baseline_config", "baseline_path", "baseline_record",
         "deploy_input", "head_counts", "load_baseline", "logits_of", "new_baseline", "portrait_tensors",
         "portraits", "predict_logits", "teacher_logits", "upsample"}

#: each answer cell of the release, answered by aliasing the reference (or, failing that, effnn)
ALIASES = {
    "mean_iou": ["mean_iou"],
    "make_prunable": ["make_prunable", "sync_attention as sync_attention_heads"],
    "build_pruner": ["build_pruner"],
    "importance": ["accumulate_taylor_gradients as accumulate_gradients"],
    "finetune": ["finetune"],
    "save_load": ["save_pruned", "load_pruned"],
}
SWEEP = '''
GLOBAL_AMOUNTS, UNIFORM_AMOUNTS, STEPS, LR, ROUND_TO = [0.5], [], 20, 2e-3, 8
probe = S.deploy_input(256)
try:
    from autograder.reference.segformer import best_under_drop, sweep
except ImportError:
    from effnn.segformer import best_under_drop, sweep
records = sweep(baseline, GLOBAL_AMOUNTS, train=(x_train, y_train), val=(x_val, y_val), steps=STEPS)
results = [dict(r, criterion=r["kind"], miou_pruned=r["miou_before_ft"]) for r in records]
best = best_under_drop(records, baseline_miou) or records[0]
answer = {"criterion": best["kind"], "amount": best["amount"], "scope": best["scope"], "miou": best["miou"],
          "speedup": best["speedup"], "macs_ratio": best["macs_ratio"]}
final_model = best["model"]
'''


def _alias(names: list[str]) -> str:
    body = ", ".join(names)
    return (f"try:\n    from autograder.reference.segformer import {body}\n"
            f"except ImportError:\n    from effnn.segformer import {body}\n")


def test_effnn_segformer_gives_no_answers():
    public = {n for n in vars(S) if not n.startswith("_")} - {"annotations", "Path", "config", "dataclass", "field",
                                                               "json", "nn", "torch", "V"}  # V: effnn.validate
    assert public == GIVEN, public ^ GIVEN  # a new name must be checked by hand, then listed here


# ------------------------------------------------------------ the checks speak amount / scope
def _failure(check: str, **objects) -> str:
    """The hidden check's message, run in this process; "" when it passes."""
    try:
        judge(f"{NAME}.{check}", **objects)
    except AssertionError as exc:
        return str(exc)
    return ""


def build_pruner(model, importance, amount, scope="global", example_inputs=None, round_to=None):
    """A correct answer in A1's names (the reference does the work)."""
    return R.build_pruner(model, importance, amount, scope=scope, example_inputs=example_inputs, round_to=round_to)


def old_build_pruner(model, importance, ratio, global_pruning=True, example_inputs=None, round_to=None):
    """The same pruner with torch-pruning's names, as A1 asked for before issue 18."""
    return R.build_pruner(model, importance, ratio, scope="global" if global_pruning else "layer",
                          example_inputs=example_inputs, round_to=round_to)


def unchecked_build_pruner(model, importance, amount, scope="global", example_inputs=None, round_to=None):
    """Right pruners, but any scope other than "global" silently means uniform."""
    return R.build_pruner(model, importance, amount, scope="global" if scope == "global" else "layer",
                          example_inputs=example_inputs, round_to=round_to)


def test_build_pruner_check_passes_amount_and_scope():
    assert _failure("check_build_pruner", build_pruner=build_pruner) == ""


def test_build_pruner_with_the_old_signature_is_told_to_take_scope():
    message = _failure("check_build_pruner", build_pruner=old_build_pruner)
    assert "scope='global'" in message and "global_pruning" in message and "amount" in message, message


def test_build_pruner_that_ignores_a_bad_scope_fails():
    assert "scope='local'" in _failure("check_build_pruner", build_pruner=unchecked_build_pruner)


def test_final_answer_with_the_old_keys_is_told_to_rename_them():
    old = {"criterion": "taylor", "ratio": 0.5, "global": True, "miou": 0.9, "speedup": 2.0, "macs_ratio": 3.0}
    message = _failure("check_final_answer", answer=old, final_model=nn.Linear(2, 2))
    assert "'amount'" in message and "'scope'" in message and "['global', 'ratio']" in message, message
    new = {"criterion": "taylor", "amount": 0.5, "scope": True, "miou": 0.9, "speedup": 2.0, "macs_ratio": 3.0}
    assert "scope" in _failure("check_final_answer", answer=new, final_model=nn.Linear(2, 2))
    new = dict(new, scope="global", amount=torch.tensor(1.0))
    assert "[0, 1)" in _failure("check_final_answer", answer=new, final_model=nn.Linear(2, 2))


@pytest.mark.slow
@pytest.mark.skipif(bool(jail.available()), reason="no grading jail on this machine: aliases would work")
def test_aliasing_the_reference_or_effnn_scores_zero(tmp_path, monkeypatch):
    from roundtrip import grade_with_answers

    monkeypatch.setenv("EFFNN_FAST", "1")
    answers = {gid: _alias(what) for gid, what in ALIASES.items()} | {"sweep": SWEEP}
    result = grade_with_answers(NAME, answers, tmp_path, start="release")
    assert result["status"] == "graded", result
    auto = {gid: c for gid, c in result["cells"].items() if gid != "written_criteria"}
    assert auto and all(c["score"] == 0 for c in auto.values()), auto
