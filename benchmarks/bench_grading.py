"""Throughput of the grading command: a class of simulated A0 submissions, graded in parallel."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder.grade import grade_folder  # noqa: E402
from autograder.simulate import blank_submission, partial_submission, reference_submission  # noqa: E402

A = "a0_warmup"


def grading(fast: bool) -> dict:
    n = 6 if fast else 30
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "submitted"
        for i in range(n):
            dest = subs / f"student{i:03d}" / A / f"{A}.ipynb"
            [reference_submission, blank_submission,
             lambda a, d: partial_submission(a, ["linear_cost", "magnitude_mask"], d)][i % 3](A, dest)
        t0 = time.perf_counter()
        results = grade_folder(A, subs, Path(tmp) / "out", jobs=jobs, progress=False)
        secs = time.perf_counter() - t0
    ok = all(r["status"] == "graded" for r in results)
    return {"assignment": A, "submissions": n, "jobs": jobs, "seconds": round(secs, 1),
            "per_minute": round(60 * n / secs, 2), "all_graded": ok}


BENCHMARKS = {"grading": grading}
