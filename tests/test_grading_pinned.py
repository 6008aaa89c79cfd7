"""Core pinning of grading jobs: disjoint slots, locks that die with their holder, and a pinned task
whose kernel (and the kernel's threads) and judge run on the slot's CPUs only.

Whether pinned timings are *fair* is measured in ``benchmarks/bench_grading_scale.py`` (no timing
asserts here: CI runs on a busy machine).
"""
import contextlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from autograder import pinning

A = "a0_warmup"
TWO_CPUS = pytest.mark.skipif(len(pinning.allowed_cpus()) < 2, reason="needs at least 2 CPUs to pin apart")


def test_cpu_lists_parse_like_the_kernel_writes_them():
    assert pinning.parse_cpu_list("0-2,5,7-8\n") == [0, 1, 2, 5, 7, 8]
    assert pinning.parse_cpu_list("3") == [3]


def test_slots_are_disjoint_keep_hyperthreads_together_and_cover_the_cores():
    cores = [(0, 4), (1, 5), (2, 6), (3, 7)]  # 8 logical CPUs, 4 physical cores
    one = pinning.slots(1, cores)
    assert one == [(0, 4), (1, 5), (2, 6), (3, 7)]
    two = pinning.slots(2, cores)
    assert two == [(0, 1, 4, 5), (2, 3, 6, 7)]
    assert pinning.slots(3, cores) == [(0, 1, 2, 4, 5, 6)]  # the odd core out stays idle
    assert pinning.slots(8, cores) == [(0, 1, 2, 3, 4, 5, 6, 7)]  # fewer cores than asked: one slot of all
    for slot_list in (one, two):
        flat = [c for s in slot_list for c in s]
        assert len(flat) == len(set(flat))
    with pytest.raises(ValueError, match="cores_per_job"):
        pinning.slots(0, cores)


def test_physical_cores_group_siblings(monkeypatch):
    monkeypatch.setattr(pinning, "_siblings", lambda cpu: {cpu % 2, cpu % 2 + 2})
    assert pinning.physical_cores([0, 1, 2, 3]) == [(0, 2), (1, 3)]
    assert pinning.physical_cores([0, 1, 3]) == [(0,), (1, 3)]  # a sibling outside the mask is left out


def test_claims_never_share_a_cpu_and_wait_for_a_free_slot(tmp_path):
    slot_list = [(0,), (1,)]
    with pinning.claim(slot_list, folder=tmp_path) as a, pinning.claim(slot_list, folder=tmp_path) as b:
        assert {a, b} == {(0,), (1,)}
        with pytest.raises(TimeoutError, match="no free CPU slot"):
            with pinning.claim(slot_list, folder=tmp_path, poll=0.01, timeout=0.2):
                pass
    with pinning.claim(slot_list, folder=tmp_path) as again:  # released on exit
        assert again == (0,)
    # a slot is all-or-nothing: (0, 1) cannot be had while 1 is held
    with pinning.claim([(1,)], folder=tmp_path):
        with pinning.claim([(0, 1), (2,)], folder=tmp_path) as got:
            assert got == (2,)


def test_a_killed_holder_frees_its_slot(tmp_path):
    code = ("import sys, time; from autograder import pinning\n"
            f"with pinning.claim([(0,)], folder={str(tmp_path)!r}):\n"
            "    print('held', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError):
            with pinning.claim([(0,)], folder=tmp_path, poll=0.01, timeout=0.2):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with pinning.claim([(0,)], folder=tmp_path, timeout=5) as got:
        assert got == (0,)


@TWO_CPUS
def test_pinned_thread_and_the_threads_it_starts_stay_on_the_slot():
    cpu = max(pinning.allowed_cpus())
    seen = {}
    with pinning.pinned((cpu,)):
        seen["self"] = os.sched_getaffinity(0)
        t = threading.Thread(target=lambda: seen.setdefault("child", os.sched_getaffinity(0)))
        t.start()
        t.join()
        seen["process"] = set(subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                                             capture_output=True, text=True).stdout.strip("[]\n").split(", "))
    assert seen["self"] == seen["child"] == {cpu}
    assert seen["process"] == {str(cpu)}
    assert os.sched_getaffinity(0) == set(pinning.allowed_cpus())  # restored


PROBE = """
import os, threading, torch
from effnn import config
seen = []
t = threading.Thread(target=lambda: seen.append(sorted(os.sched_getaffinity(0))))
t.start(); t.join()
print("KERNEL", sorted(os.sched_getaffinity(0)), "THREAD", seen[0], "TORCH", torch.get_num_threads(),
      "NOTEBOOK", config.threads())
"""


@TWO_CPUS
@pytest.mark.slow
def test_a_pinned_task_runs_its_kernel_and_judge_on_its_slot(tmp_path, monkeypatch):
    """One A0 submission through the pinned task (as a local slot worker or a Dask worker runs it)."""
    import nbformat
    from nbformat.v4 import new_code_cell

    from autograder import cluster, judge
    from autograder.grade import prepare_master
    from autograder.settings import limits_for
    from autograder.simulate import reference_submission

    nb_path = reference_submission(A, tmp_path / "in" / f"{A}.ipynb")
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells.insert(2, new_code_cell(PROBE))
    nbformat.write(nb, str(nb_path))
    db = prepare_master(A, tmp_path / "master")

    judged_on = []
    original = judge.run_check

    def spy(conn, *args, **kwargs):  # runs in the judge's serving thread
        judged_on.append(os.sched_getaffinity(0))
        return original(conn, *args, **kwargs)

    monkeypatch.setattr(judge, "run_check", spy)
    monkeypatch.setattr(pinning, "lock_dir", lambda: tmp_path / "locks")
    (tmp_path / "locks").mkdir()
    slot_list = pinning.slots(1)
    with contextlib.ExitStack() as held:  # hold every slot but the last: the task must take the free one
        for slot in slot_list[:-1]:
            held.enter_context(pinning.claim([slot], folder=tmp_path / "locks"))
        out = cluster.grade_task(A, "pinned", nb_path.read_bytes(), "", db.read_bytes(),
                                 limits_for(A, cores_per_job=1), False, None)
    cpus = set(slot_list[-1])
    assert out["cpus"] == slot_list[-1]
    assert out["result"]["status"] == "graded" and out["result"]["total"] == 13.0, out["result"]
    with tarfile.open(fileobj=io.BytesIO(out["archive"]), mode="r:gz") as tar:
        graded = tar.extractfile(f"autograded/pinned/{A}/{A}.ipynb").read().decode()
    # the notebooks' torch.set_num_threads(config.threads()) asks for no more threads than the slot has cores
    assert f"KERNEL {sorted(cpus)} THREAD {sorted(cpus)} TORCH {len(cpus)} NOTEBOOK {len(cpus)}" in graded
    assert "<html" in out["feedback"]
    assert judged_on and all(a == cpus for a in judged_on)
    assert os.sched_getaffinity(0) == set(pinning.allowed_cpus())  # the caller's thread is given back


# ----------------------------------------------------------------------------- taking turns to time
def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _until(predicate, seconds: float = 10.0) -> bool:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


JOB = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""
HOLDER = """
import sys, time
from pathlib import Path
from autograder import pinning
with pinning.timing_turn(Path(sys.argv[1]), settle=0):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_job_holds_still_while_another_process_times(tmp_path):
    """The job and the process it started in a session of its own (as jupyter_client starts kernels)
    stop while another grading process holds the timing turn, and go on when that holder dies."""
    job = subprocess.Popen([sys.executable, "-c", JOB], stdout=subprocess.PIPE, text=True)
    holder = None
    try:
        kernel = int(job.stdout.readline())
        with pinning.still_while_others_time(job.pid, folder=tmp_path):
            with pinning.timing_turn(tmp_path, settle=0):  # this process's own turn: its job is not paused
                assert not _until(lambda: _state(job.pid) == "T", 0.5)
            holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE,
                                      text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
            assert holder.stdout.readline().strip() == "held"
            assert _until(lambda: _state(job.pid) == "T" and _state(kernel) == "T"), "not paused"
            holder.kill()  # a holder that dies frees the turn
            holder.wait()
            assert _until(lambda: _state(job.pid) != "T" and _state(kernel) != "T"), "not resumed"
        assert _state(job.pid) != "T"
    finally:
        for proc in (job, holder):
            if proc is not None:
                proc.kill()
                proc.wait()
        if "kernel" in locals():
            os.kill(kernel, signal.SIGKILL)
