"""Sandbox and timeout settings of the grading command, per assignment.

``cell_timeout``: seconds one cell may run before it is interrupted (the rest still runs).
``submission_timeout``: wall-clock seconds for the whole autograde of one submission.
``memory_mb``: address-space limit of the grading process and its kernel.
``kernel_threads``: OMP/torch threads of the kernel (``None``: the library default). Light
notebooks graded several at a time run faster with one thread each than with cores oversubscribed.
``max_jobs``: the most submissions graded at once (``None``: one per core, or one per slot).
``cores_per_job``: pin each submission to its own physical cores (:mod:`autograder.pinning`): its
kernel, the kernel's threads and the judge then run on that slot only, and the number of
submissions graded at once is the number of slots. ``None``: no pinning.

A1 re-times the student's model against the baseline, at one thread (``S.DEPLOY_THREADS``). That is
honest when no other job shares the core it is timed on, so A1 is pinned, one physical core per
submission (both hyper-threads of it in the slot): a machine with k cores grades k A1 submissions at
once. ``benchmarks/bench_grading_scale.py`` measures that the same model's speedup graded in parallel
slots stays within 10 % of the one-at-a-time figure. ``--cores-per-job 2`` doubles the slots' size
(half as many at once, each faster).
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Limits:
    cell_timeout: int = 60
    submission_timeout: int = 240
    memory_mb: int = 8192
    output_mb: int = 64  # the largest file a kernel may write (huge outputs, runaway logs)
    kernel_threads: int | None = None
    max_jobs: int | None = None
    cores_per_job: int | None = None

    def __post_init__(self):
        for field in ("cell_timeout", "submission_timeout", "memory_mb", "output_mb"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be > 0")
        for field in ("kernel_threads", "max_jobs", "cores_per_job"):
            if getattr(self, field) is not None and getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1 or None")
        if self.cell_timeout > self.submission_timeout:
            raise ValueError("cell_timeout cannot exceed submission_timeout")


LIMITS = {
    "a0_warmup": Limits(cell_timeout=60, submission_timeout=180, kernel_threads=1),
    "a1_segformer_pruning": Limits(cell_timeout=600, submission_timeout=1200, cores_per_job=1),
    "a2_binarized_nn": Limits(cell_timeout=120, submission_timeout=300),
}


def limits_for(assignment: str, **overrides) -> Limits:
    """The assignment's limits, with any non-None override applied (``cores_per_job=0``: no pinning)."""
    base = LIMITS.get(assignment, Limits())
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes.get("cores_per_job") == 0:
        changes["cores_per_job"] = None
    return replace(base, **changes)
