"""Throughput of the grading command: classes of simulated submissions, graded in parallel.

``grading``: 30 A0 submissions (6 in fast mode), a third each reference, blank and half-solved.
``grading_a1_a2``: a few reference and blank submissions of A1 and A2, each graded with its
assignment's own limits (A1 one at a time, A2 one per core), to report seconds per submission.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder.grade import grade_folder, parallel_jobs  # noqa: E402
from autograder.settings import limits_for  # noqa: E402
from autograder.simulate import blank_submission, partial_submission, reference_submission  # noqa: E402

A = "a0_warmup"


def _class(assignment: str, n: int, makers, jobs: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "submitted"
        for i in range(n):
            makers[i % len(makers)](assignment, subs / f"student{i:03d}" / assignment / f"{assignment}.ipynb")
        t0 = time.perf_counter()
        results = grade_folder(assignment, subs, Path(tmp) / "out", jobs=jobs, progress=False)
        secs = time.perf_counter() - t0
    return {"assignment": assignment, "submissions": n, "jobs": parallel_jobs(limits_for(assignment), jobs), "seconds": round(secs, 1),
            "per_minute": round(60 * n / secs, 2), "seconds_per_submission": round(secs / n, 1),
            "all_graded": all(r["status"] == "graded" for r in results),
            "totals": sorted(r["total"] for r in results)}


def grading(fast: bool) -> dict:
    half = lambda a, d: partial_submission(a, ["linear_cost", "magnitude_mask"], d)  # noqa: E731
    return _class(A, 6 if fast else 30, [reference_submission, blank_submission, half], jobs=os.cpu_count() or 1)


def grading_a1_a2(fast: bool) -> dict:
    makers = [reference_submission, blank_submission]
    return {a: _class(a, 2 if fast else 4, makers, jobs=None) for a in ("a1_segformer_pruning", "a2_binarized_nn")}


BENCHMARKS = {"grading": grading, "grading_a1_a2": grading_a1_a2}
