"""A1's reference answers are not the student's library: aliasing them earns nothing.

The answers live in ``autograder.reference.segformer``, which the grading jail cannot import; what a
student gets in ``effnn.segformer`` is data, the baseline and inference/structure helpers only.
"""

import pytest

from autograder import jail
from effnn import segformer as S

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
GLOBAL_RATIOS, UNIFORM_RATIOS, STEPS, LR, ROUND_TO = [0.5], [], 20, 2e-3, 8
probe = S.deploy_input(256)
try:
    from autograder.reference.segformer import best_under_drop, sweep
except ImportError:
    from effnn.segformer import best_under_drop, sweep
records = sweep(baseline, GLOBAL_RATIOS, train=(x_train, y_train), val=(x_val, y_val), steps=STEPS)
results = [dict(r, criterion=r["kind"], miou_pruned=r["miou_before_ft"]) for r in records]
best = best_under_drop(records, baseline_miou) or records[0]
answer = {"criterion": best["kind"], "ratio": best["ratio"], "global": best["global"], "miou": best["miou"],
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
