"""Grading at scale: submissions per minute three ways, and whether A1's timings stay fair when pinned.

``grading_scale``, per assignment (``a0``, ``a1``, ``a2``), a class of reference and blank
submissions (4 each way in fast mode, 8 otherwise) graded

- ``per_minute_default``: as before pinning: in this process's threads, unpinned, one submission per
  core (A1 one at a time, ``max_jobs=1``);
- ``per_minute_pinned``: one local process per CPU slot, each submission pinned to its own core
  (``cores_per_job=1``: the most slots, A1's default);
- ``per_minute_dask``: through a 2-worker ``LocalCluster`` (``--nthreads 1`` workers), with the
  assignment's own limits (the cluster's start is not counted: it runs before a deadline).

Caches are warm before the first timing (``caches``), as on a grader that has graded before: the
master gradebook (``out/cache/masters``), the data the kernels read (``EFFNN_CACHE``) and A1's
held-out set (``out/cache/judge``) are each built once per machine, not per submission.

Fairness of A1's timing: one model (the reference solution's magnitude configuration, trained the same
way each time, at one thread) is graded alone in one slot, then in every slot at once
(``a1_speedup_parallel``, the mean over slots), one slot's copy claiming three times the speedup it
measured, then alone again (``a1_speedup_alone``: the mean of the two alone, ``a1_speedup_alone_each``
their spread, the noise of one measurement). The judge times in this machine's timing turn while
the other slots hold still (:func:`autograder.pinning.timing_turn`). The figure is the judge's own
first re-measurement in ``check_final_answer`` (its call of ``effnn.measure.compare``, recorded in
the grading process). Fair means within 10% of the
one-at-a-time figure; the inflated claim must still lose the final check's points.

A paper estimate of a 10-machine cluster's A1 rate, from the measured cost per submission, is
printed and stored under ``estimate_10_machines``.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import pinning  # noqa: E402
from autograder.grade import grade_folder, parallel_jobs, prepare_master, warm_cache  # noqa: E402
from autograder.settings import limits_for  # noqa: E402
from autograder.simulate import blank_submission, reference_submission  # noqa: E402

NAMES = {"a0": "a0_warmup", "a1": "a1_segformer_pruning", "a2": "a2_binarized_nn"}
A1 = NAMES["a1"]
FINAL = "test_final_answer"
CHEAT = 'answer = {**answer, "speedup": 3 * answer["speedup"]}  # claims three times what was measured\n'
# The sweep keeps whichever configuration measured faster, so two runs of it may hand in different
# models (magnitude or Taylor): the fairness runs all hand in the magnitude one.
ONE_MODEL = ('best = next(r for r in results if r["criterion"] == "magnitude")\n'
             'answer = {k: best[k] for k in ("criterion", "amount", "scope", "miou", "speedup", "macs_ratio")}\n'
             'final_model = best["model"]\n')


def _rate(assignment: str, n: int, limits, scheduler: str | None = None) -> dict:
    """Grade a class of n (reference, blank, reference, ...) submissions; the rate and the totals."""
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "submitted"
        for i in range(n):
            make = (reference_submission, blank_submission)[i % 2]
            make(assignment, subs / f"student{i:03d}" / assignment / f"{assignment}.ipynb")
        t0 = time.perf_counter()
        results = grade_folder(assignment, subs, Path(tmp) / "out", limits=limits, progress=False,
                               scheduler=scheduler)
        secs = time.perf_counter() - t0
    jobs = 2 if scheduler else parallel_jobs(limits)
    return {"per_minute": round(60 * n / secs, 2), "seconds": round(secs, 1), "jobs": jobs,
            "slot_seconds_per_submission": round(secs * jobs / n, 1),
            "all_graded": all(r["status"] == "graded" for r in results),
            "totals": sorted(r["total"] for r in results)}


def _unpinned(assignment: str):
    """The limits as they were before pinning: A1 one at a time, nothing pinned."""
    base = replace(limits_for(assignment), cores_per_job=None)
    return replace(base, max_jobs=1) if assignment == A1 else base


# ----------------------------------------------------------------------------- A1 fairness
def _measured_grade(student: str, notebook: bytes, master_db: bytes) -> dict:
    """In a fresh process: grade one A1 notebook pinned, recording the judge's calls of compare."""
    import effnn.measure

    from autograder import cluster

    calls = []
    original = effnn.measure.compare

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append({"ratio": out["ratio"], "params": out["candidate"]["params"], "at": time.time()})
        return out

    effnn.measure.compare = recording
    t0 = time.time()
    payload = cluster.grade_task(A1, student, notebook, "", master_db, limits_for(A1), False, None)
    res = payload["result"]
    first = calls[0]["ratio"] if calls else None
    return {"student": student, "cpus": payload["cpus"], "total": res["total"], "status": res["status"],
            "note": res.get("note", ""),
            "final_cell": res["cells"].get(FINAL, {}).get("score"), "final_max": res["cells"].get(FINAL, {}).get("max"),
            "speedup_first": max(first["latency_ms"], first["latency_min_ms"]) if first else None,
            "speedups": [round(max(c["ratio"]["latency_ms"], c["ratio"]["latency_min_ms"]), 3) for c in calls],
            "params": [c["params"] for c in calls], "timed_at": [round(c["at"] - t0, 1) for c in calls]}


def _in_slots(jobs: list[tuple[str, bytes]], master_db: bytes) -> list[dict]:
    """Grade each (student, notebook) at once, one process each (each takes its own slot)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=ctx) as pool:
        futures = [pool.submit(_measured_grade, student, nb, master_db) for student, nb in jobs]
        return [f.result() for f in futures]


def _notebooks() -> tuple[bytes, bytes]:
    """The reference A1 solution handing in its magnitude model, and the same with an inflated speedup
    claim before the final check."""
    with tempfile.TemporaryDirectory() as tmp:
        nb = json.loads(reference_submission(A1, Path(tmp) / "ref.ipynb").read_bytes())
    at = next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == FINAL)
    out = []
    for cell_id, source in (("one-model", ONE_MODEL), ("inflated-claim", CHEAT)):
        nb["cells"].insert(at, {"cell_type": "code", "id": cell_id, "metadata": {}, "source": source,
                                "outputs": [], "execution_count": None})
        at += 1
        out.append(json.dumps(nb).encode())
    return out[0], out[1]


def a1_fairness() -> dict:
    ref, cheat = _notebooks()
    slot_list = pinning.slots(limits_for(A1).cores_per_job)
    with tempfile.TemporaryDirectory() as tmp:
        master = prepare_master(A1, Path(tmp) / "master").read_bytes()
    before = _in_slots([("alone", ref)], master)[0]
    together = [("honest", ref)] + [(f"cheat{i}" if i % 2 else f"honest{i}", cheat if i % 2 else ref)
                                    for i in range(1, len(slot_list))]
    parallel = _in_slots(together, master)
    after = _in_slots([("alone-again", ref)], master)[0]
    alone_figures = [r["speedup_first"] for r in (before, after) if r["speedup_first"]]
    alone = statistics.mean(alone_figures) if alone_figures else None
    figures = [p["speedup_first"] for p in parallel if p["speedup_first"]]
    par = statistics.mean(figures) if figures else None
    cheats = [p for p in parallel if p["student"].startswith("cheat")]
    honest = [before, after] + [p for p in parallel if not p["student"].startswith("cheat")]
    return {
        "slots": len(slot_list),
        "a1_speedup_alone": round(alone, 3) if alone else None,
        # the noise: the same model alone, before and after the parallel runs
        "a1_speedup_alone_each": [round(f, 3) for f in alone_figures],
        "a1_speedup_parallel": round(par, 3) if par else None,
        "a1_speedup_parallel_each": [round(f, 3) for f in figures],
        "a1_speedup_parallel_over_alone": round(par / alone, 3) if par and alone else None,
        "a1_fair_within_10pct": bool(par and alone and abs(par / alone - 1) <= 0.10),
        "a1_same_model": len({p for run in [before, after, *parallel] for p in run["params"]}) == 1,
        "a1_honest_final_check_passes": all(p["final_cell"] == p["final_max"] for p in honest),
        "a1_cheat_claim_fails": bool(cheats) and all(p["final_cell"] == 0 for p in cheats),
        "runs": [before, *parallel, after],
    }


# ----------------------------------------------------------------------------- the benchmark
def _dask_cluster():
    import logging

    from distributed import LocalCluster

    return LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                        memory_limit=0, silence_logs=logging.ERROR)


def _warm(assignment: str) -> str:
    """What a grader that has graded before already has: the registered master gradebook, the data the
    kernels read and the judge's held-out inputs (each built once per machine, not per run)."""
    with tempfile.TemporaryDirectory() as tmp:
        prepare_master(assignment, Path(tmp) / "master")
    return warm_cache(assignment) or "warm"


def grading_scale(fast: bool) -> dict:
    n = 4 if fast else 8
    out: dict = {"caches": {assignment: _warm(assignment) for assignment in NAMES.values()}}
    t0 = time.perf_counter()
    cluster = _dask_cluster()
    dask_start = round(time.perf_counter() - t0, 1)
    try:
        for key, assignment in NAMES.items():
            runs = {"default": _rate(assignment, n, _unpinned(assignment)),
                    "pinned": _rate(assignment, n, limits_for(assignment, cores_per_job=1)),
                    "dask": _rate(assignment, n, limits_for(assignment), scheduler=cluster.scheduler_address)}
            out[key] = {f"per_minute_{k}": v["per_minute"] for k, v in runs.items()}
            out[key]["runs"] = runs
            print(f"[grading_scale] {key}: " + ", ".join(f"{k} {v['per_minute']}/min" for k, v in runs.items()),
                  flush=True)
    finally:
        cluster.close()
    fair = a1_fairness()
    runs = fair.pop("runs")
    out.update(fair)
    out["a1_fairness_runs"] = runs
    out["dask_cluster_start_seconds"] = dask_start
    # on paper: machines like this one, each with as many A1 slots as here, graded through Dask
    pinned = out["a1"]["runs"]["pinned"]
    per_machine = 60 * pinned["jobs"] / pinned["slot_seconds_per_submission"]
    out["estimate_10_machines"] = {
        "a1_per_minute": round(10 * per_machine, 1),
        "a1_class_of_300_minutes": round(300 / (10 * per_machine), 1),
        "basis": f"{pinned['slot_seconds_per_submission']} slot-seconds per A1 submission (this class's mix), "
                 f"{pinned['jobs']} slots per machine, scheduler overhead neglected (tasks take tens of seconds)"}
    print(f"[grading_scale] A1 speedup of one model: alone {out['a1_speedup_alone']}, in {fair['slots']} parallel "
          f"slots {out['a1_speedup_parallel_each']} (mean {out['a1_speedup_parallel']}, ratio "
          f"{out['a1_speedup_parallel_over_alone']}, within 10%: {out['a1_fair_within_10pct']}); "
          f"inflated claim fails: {out['a1_cheat_claim_fails']}", flush=True)
    est = out["estimate_10_machines"]
    print(f"[grading_scale] paper estimate, 10 machines like this one: {est['a1_per_minute']} A1/min, a class "
          f"of 300 in {est['a1_class_of_300_minutes']} min ({est['basis']}). Measured on a shared machine: "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.", flush=True)
    out["load_average_at_end"] = round(os.getloadavg()[0], 1)
    return out


BENCHMARKS = {"grading_scale": grading_scale}
