"""Per-assignment grading limits: validation and the values the grading command relies on."""
import pytest

from autograder.settings import LIMITS, Limits, limits_for


def test_every_assignment_has_limits_and_overrides_apply():
    assert {"a0_warmup", "a1_segformer_pruning", "a2_binarized_nn"} <= set(LIMITS)
    a1 = limits_for("a1_segformer_pruning", cell_timeout=100, memory_mb=None)
    assert a1.cell_timeout == 100 and a1.memory_mb == LIMITS["a1_segformer_pruning"].memory_mb
    assert limits_for("unknown") == Limits()


def test_a1_is_pinned_one_core_per_submission():
    # its final check times the student's model (at one thread) against the baseline: no other job may
    # share that core, so each A1 submission gets a core of its own instead of the whole machine
    a1 = LIMITS["a1_segformer_pruning"]
    assert a1.cores_per_job == 1 and a1.max_jobs is None
    assert limits_for("a1_segformer_pruning", cores_per_job=0).cores_per_job is None  # 0 turns pinning off
    assert limits_for("a1_segformer_pruning", cores_per_job=2).cores_per_job == 2


@pytest.mark.parametrize("bad", [dict(cell_timeout=0), dict(memory_mb=-1), dict(kernel_threads=0),
                                 dict(max_jobs=0), dict(cores_per_job=0),
                                 dict(cell_timeout=100, submission_timeout=50)])
def test_bad_limits_raise(bad):
    with pytest.raises(ValueError):
        Limits(**bad)


def test_parallel_jobs_follow_cores_max_jobs_and_an_explicit_choice(monkeypatch):
    from autograder.grade import parallel_jobs

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert parallel_jobs(Limits()) == 4
    assert parallel_jobs(Limits(max_jobs=1)) == 1
    assert parallel_jobs(Limits(max_jobs=1), jobs=3) == 3  # --jobs wins


def test_pinned_jobs_follow_physical_cores(monkeypatch):
    """A machine with k physical cores grades k A1 submissions at once (hyper-threads stay in their core's slot)."""
    from autograder import pinning
    from autograder.grade import parallel_jobs

    a1 = LIMITS["a1_segformer_pruning"]
    monkeypatch.setattr(pinning, "allowed_cpus", lambda: list(range(8)))
    monkeypatch.setattr(pinning, "_siblings", lambda cpu: {cpu % 4, cpu % 4 + 4})  # SMT pairs (0,4) (1,5) ...
    assert parallel_jobs(a1) == 4  # 4 physical cores, 1 per slot
    assert parallel_jobs(a1, jobs=1) == 1
    assert parallel_jobs(a1, jobs=16) == 4  # never more jobs than slots: they would share cores
    assert parallel_jobs(limits_for("a1_segformer_pruning", cores_per_job=2)) == 2
    monkeypatch.setattr(pinning, "_siblings", lambda cpu: {cpu})  # no SMT: 8 cores
    assert parallel_jobs(a1) == 8
