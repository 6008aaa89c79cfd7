"""Grading on a Dask cluster (``grade_folder(..., scheduler=...)``, ``--scheduler``): a LocalCluster of
two worker processes gives the same results as grading here, broken submissions included; a rerun
regrades nothing; and a worker killed mid-grade loses nothing: its submission is graded by another
worker and recorded exactly once, and its sandbox dies with it.
"""
import copy
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from autograder import cluster as C
from autograder.grade import grade_folder
from autograder.release import write_root_config
from autograder.settings import limits_for
from autograder.simulate import blank_submission, reference_submission

from test_grading_hostile import A, FULL, _base, _insert_after_setup, _set, put_submission  # the same broken class

pytestmark = pytest.mark.slow
LIMITS = limits_for(A, memory_mb=6144)  # A0's own time limits: no endless loop in this class
COMPARED = ("status", "total", "max", "cells", "note", "needs_manual", "flagged", "digest")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes. They vouch for one course version (EFFNN_COURSE_VERSION), as a deployment
    would: this checkout is shared with other work, and a file edited mid-test must not fail the test."""
    from distributed import Client, LocalCluster

    before = os.environ.get(C.VERSION_ENV)
    os.environ[C.VERSION_ENV] = f"test-{os.getpid()}-{time.time()}"
    C.course_fingerprint.cache_clear()
    try:
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                          memory_limit=0, silence_logs=logging.ERROR) as lc, Client(lc) as client:
            yield lc, client
    finally:
        if before is None:
            os.environ.pop(C.VERSION_ENV, None)
        else:
            os.environ[C.VERSION_ENV] = before
        C.course_fingerprint.cache_clear()


def _class(subs: Path) -> dict:
    """A0 submissions, honest and broken; returns {student: (status, score)}."""
    expected = {}

    def put(*args, **kwargs):
        put_submission(subs, expected, *args, **kwargs)

    base = _base()
    put("honest", base)
    put("raises_in_answer", _set(copy.deepcopy(base), "linear_cost",
                                 "def linear_cost(*a, **k):\n    raise ValueError('oops')"), score=FULL - 3)
    put("os_exit", _insert_after_setup(copy.deepcopy(base), "import os\nos._exit(0)"), "crashed", 0)
    put("malformed", "{ this is not json", "malformed", 0)
    put("wrong_name", base, name="my_homework.ipynb")
    (subs / "missing" / A).mkdir(parents=True)
    expected["missing"] = ("missing", 0)
    return expected


@pytest.fixture(scope="module")
def both(cluster, tmp_path_factory):
    """The same class graded here and on the cluster, each into its own outputs and course root."""
    lc, _ = cluster
    root = tmp_path_factory.mktemp("dask")
    subs = root / "submitted"
    expected = _class(subs)
    runs = {}
    for name, scheduler in (("local", None), ("dask", lc.scheduler_address)):
        course = root / f"course-{name}"
        write_root_config(course)
        results = grade_folder(A, subs, root / f"out-{name}", jobs=2, limits=LIMITS, progress=False,
                               course_root=course, scheduler=scheduler)
        runs[name] = {r["student"]: r for r in results}
    return runs, expected, root


def test_cluster_grades_like_this_machine(both):
    runs, expected, _ = both
    for name, run in runs.items():
        got = {s: (r["status"], r["total"]) for s, r in run.items()}
        assert got == expected, (name, {s: run[s]["note"] for s in got if got[s] != expected[s]})
    for student in expected:
        local, dask = runs["local"][student], runs["dask"][student]
        assert {k: dask.get(k) for k in COMPARED} == {k: local.get(k) for k in COMPARED}, student
    assert "retried" in runs["dask"]["os_exit"]["note"] and "my_homework.ipynb" in runs["dask"]["wrong_name"]["note"]


def test_cluster_results_reach_the_files_and_the_course_root(both):
    from nbgrader.api import Gradebook

    runs, expected, root = both
    out, course = root / "out-dask", root / "course-dask"
    assert sorted(p.stem for p in (out / "feedback").glob("*.html")) == sorted(expected)
    assert "Hidden checks passed" in (out / "feedback" / "honest.html").read_text()  # nbgrader's page
    assert "malformed" in (out / "feedback" / "malformed.html").read_text()  # the status page
    assert len((out / "grades.csv").read_text().strip().splitlines()) == 1 + len(expected)
    assert (course / "autograded" / "honest" / A / f"{A}.ipynb").exists()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        graded = {s.student.id: s.score for s in gb.assignment_submissions(A)}
    assert graded == {s: runs["dask"][s]["total"] for s, (st, _) in expected.items() if st == "graded"}


def test_rerun_on_the_cluster_regrades_nothing(both, cluster):
    lc, _ = cluster
    runs, _, root = both
    out = root / "out-dask"
    before = (out / "results.json").read_text()
    again = grade_folder(A, root / "submitted", out, limits=LIMITS, progress=False,
                         course_root=root / "course-dask", scheduler=lc.scheduler_address)
    assert all(r.get("_unchanged") for r in again)
    assert (out / "results.json").read_text() == before
    assert not (out / "history").exists()


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"\nPPid:\t{pid}\n" in (proc / "status").read_text():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_a_worker_killed_mid_grade_loses_nothing(cluster, tmp_path):
    lc, client = cluster
    subs, out = tmp_path / "submitted", tmp_path / "out"
    makers = [reference_submission, blank_submission, reference_submission, blank_submission]
    for i, make in enumerate(makers):
        make(A, subs / f"student{i}" / A / f"{A}.ipynb")
    done = {}
    run = threading.Thread(target=lambda: done.update(results=grade_folder(
        A, subs, out, limits=LIMITS, progress=False, scheduler=lc.scheduler_address)))
    run.start()
    # wait until a worker is grading (its nbrun sandbox is running), then kill that worker process
    victim = sandbox = None
    deadline = time.monotonic() + 600
    while sandbox is None and run.is_alive() and time.monotonic() < deadline:
        for addr, pid in client.run(os.getpid).items():
            grading = [c for c in _children(pid) if "autograder.nbrun" in _cmdline(c)]
            if grading:
                victim, sandbox = (addr, pid), grading[0]
                break
        time.sleep(0.5)
    assert sandbox is not None, "no worker was seen grading"
    time.sleep(2)
    os.kill(victim[1], signal.SIGKILL)
    run.join(timeout=900)
    assert not run.is_alive()

    results = done["results"]
    assert sorted(r["student"] for r in results) == [f"student{i}" for i in range(len(makers))]
    assert [r["total"] for r in results] == [FULL if m is reference_submission else 0.0 for m in makers]
    assert all(r["status"] == "graded" and "regraded" not in r["note"] for r in results), results
    recorded = json.loads((out / "results.json").read_text())
    assert sorted(recorded) == [r["student"] for r in results]  # each once
    assert len((out / "grades.csv").read_text().strip().splitlines()) == 1 + len(makers)
    assert not (out / "history").exists()
    assert victim[0] not in client.scheduler_info()["workers"]  # the nanny started a new worker
    deadline = time.monotonic() + 30
    while _alive(sandbox) and time.monotonic() < deadline:  # the dead worker's sandbox died with it
        time.sleep(0.5)
    assert not _alive(sandbox)


def test_a_worker_with_another_course_is_refused(cluster, tmp_path, monkeypatch):
    lc, client = cluster
    with pytest.raises(C.WorkerMismatch, match="another version of the course"):
        C.check_workers(client, A, False, expected={**C._expected(A), "fingerprint": "another"})
    reference_submission(A, tmp_path / "submitted" / "s" / A / f"{A}.ipynb")
    monkeypatch.setattr(C, "_expected", lambda a: {"fingerprint": "another", "fast": True, "data": "embedded"})
    with pytest.raises(C.WorkerMismatch):
        grade_folder(A, tmp_path / "submitted", tmp_path / "out", limits=LIMITS, progress=False,
                     scheduler=lc.scheduler_address)
    assert not (tmp_path / "out" / "results.json").exists()  # refused before grading anything
