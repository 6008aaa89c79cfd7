"""Per-assignment grading limits: validation and the values the grading command relies on."""
import pytest

from autograder.settings import LIMITS, Limits, limits_for


def test_every_assignment_has_limits_and_overrides_apply():
    assert {"a0_warmup", "a1_segformer_pruning", "a2_binarized_nn"} <= set(LIMITS)
    a1 = limits_for("a1_segformer_pruning", cell_timeout=100, memory_mb=None)
    assert a1.cell_timeout == 100 and a1.memory_mb == LIMITS["a1_segformer_pruning"].memory_mb
    assert limits_for("unknown") == Limits()


def test_a1_is_graded_one_at_a_time():
    # its final check times the student's model against the baseline: no other kernel may share the cores
    assert LIMITS["a1_segformer_pruning"].max_jobs == 1


@pytest.mark.parametrize("bad", [dict(cell_timeout=0), dict(memory_mb=-1), dict(kernel_threads=0),
                                 dict(max_jobs=0), dict(cell_timeout=100, submission_timeout=50)])
def test_bad_limits_raise(bad):
    with pytest.raises(ValueError):
        Limits(**bad)


def test_parallel_jobs_follow_cores_max_jobs_and_an_explicit_choice(monkeypatch):
    from autograder.grade import parallel_jobs

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert parallel_jobs(Limits()) == 4
    assert parallel_jobs(LIMITS["a1_segformer_pruning"]) == 1
    assert parallel_jobs(LIMITS["a1_segformer_pruning"], jobs=3) == 3  # --jobs wins
