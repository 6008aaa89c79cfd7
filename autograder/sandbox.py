"""Run nbgrader (autograde + feedback) for one submission inside limits.

Two layers:

- the grading process (:mod:`autograder.nbrun`: nbgrader plus the judge) runs in its own PID
  namespace (``unshare -r -p --fork --kill-child``): killing it at the wall-clock limit kills every
  process below it, the student's kernel and anything that kernel started included, whatever
  session or process group they moved to;
- the student's kernel inside it runs sealed (:mod:`autograder.jail`, started by
  :class:`autograder.execute.SandboxedKernelManager`): it sees only the release, ``effnn`` and the
  Python environment, writes only its own folder, has no network, and cannot reach the judge's
  checks, the solutions, the gradebook or other submissions.

Resource limits apply to both: ``RLIMIT_DATA`` (memory actually used; unlike ``RLIMIT_AS`` it does
not count the address space that thread pools and allocators merely reserve, which killed
kernels with many threads), ``RLIMIT_FSIZE`` and no core dumps. A pinned job (``cpus``, see
:mod:`autograder.pinning`) runs nbrun, and so the kernel and all its threads, on those CPUs only,
with as many OMP threads as it has CPUs. The grading process dying (a Dask worker killed mid-grade)
kills the whole submission too (``PR_SET_PDEATHSIG``), so nothing keeps running unobserved.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from effnn import config

from . import jail, pinning
from .execute import EXTERNAL_JUDGE, SANDBOX_ENV
from .release import tool_path, write_root_config
from .settings import Limits

REPO = Path(__file__).resolve().parent.parent


@dataclass
class RunResult:
    returncode: int | None  # autograde's status; None when killed at the submission limit
    output: str
    timed_out: bool  # autograde hit the submission limit
    feedback_timed_out: bool = False


@functools.lru_cache(maxsize=1)
def pid_namespace() -> bool:
    """Whether ``unshare -r -p --fork`` works here (then nothing a submission starts outlives it)."""
    if shutil.which("unshare") is None:
        return False
    try:
        res = subprocess.run(["unshare", "-r", "-p", "--fork", "--kill-child", "true"], capture_output=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0


def privilege_note(unsafe: bool = False) -> str:
    """One line for the grading summary: how submissions are confined."""
    if unsafe:
        return ("UNSAFE: submissions run without a sandbox (--unsafe-no-sandbox): a notebook can read "
                "the solutions and hidden checks")
    parts = ["each submission in its own course root", "kernels sealed (no repository, no network, own folder only)",
             "hidden checks run in the judge, outside the kernel"]
    if pid_namespace():
        parts.append("every process of a submission dies with it (PID namespace)")
    return "; ".join(parts)


def _die_with_parent() -> None:
    """In a child before exec: SIGKILL when the thread that started it dies (Linux prctl)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _spawn(cmd: list[str], root: Path, limits: Limits, unsafe: bool, judge=None,
           cpus: tuple[int, ...] | None = None) -> subprocess.Popen:
    """Start ``cmd`` in ``root`` under the limits (PID namespace, rlimits, clean env, pinned to ``cpus``)."""
    env = {
        "PATH": tool_path(os.environ.get("PATH", "/usr/bin:/bin")),
        "HOME": str(root),
        "PYTHONPATH": str(REPO),  # the judge and nbgrader's preprocessors; never reaches the kernel
        "EFFNN_QUIET": "1",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TMPDIR": str(root / "tmp"),
        "MALLOC_ARENA_MAX": "2",
    }
    for key in ("EFFNN_DATA", "EFFNN_DATA_DIR", "EFFNN_FAST", "OMP_NUM_THREADS",
                "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:
            env[key] = os.environ[key]
    # the grader's own data cache (read-only in the jail; warmed by grade.warm_cache), not one under
    # the fresh HOME, which would make every submission render its data again
    env["EFFNN_CACHE"] = str(config.cache_dir())
    if limits.kernel_threads:
        env["OMP_NUM_THREADS"] = str(limits.kernel_threads)
    elif cpus:
        env["OMP_NUM_THREADS"] = str(len(cpus))
    env[SANDBOX_ENV] = "off" if unsafe else ("verified" if not jail.available() else "")
    if judge is not None:
        env[EXTERNAL_JUDGE] = f"{judge.socket_path}{os.pathsep}{judge.record_path}"

    def _limit():  # runs in the child, before exec
        import resource

        os.setsid()
        _die_with_parent()
        if cpus:
            os.sched_setaffinity(0, set(cpus))
        mem = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
        size = limits.output_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    write_root_config(root)
    (root / "tmp").mkdir(exist_ok=True)
    if pid_namespace():
        cmd = ["unshare", "-r", "-p", "--fork", "--kill-child", *cmd]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, preexec_fn=_limit, text=True, errors="replace")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_autograde_and_feedback(assignment: str, student: str, root: Path, limits: Limits,
                               feedback_timeout: float = 120, unsafe: bool = False,
                               cpus: tuple[int, ...] | None = None) -> RunResult:
    """Autograde, then feedback, in one limited process (:mod:`autograder.nbrun`).

    The submission's wall-clock limit covers autograde only (until nbrun's marker line); feedback
    gets its own limit, so a slow HTML export is never reported as a slow notebook. The exit
    status is autograde's. Never raises on failure. With ``cpus`` the caller's thread should be
    pinned to them already (:func:`autograder.pinning.pinned`), so that the judge's thread, started
    here, times on the same cores.
    """
    from .nbrun import MARK

    from .judge import JudgeServer

    cmd = [sys.executable, "-m", "autograder.nbrun", assignment, student, f"--cell-timeout={limits.cell_timeout}"]
    # the judge runs here, in the grading process (torch and the checks already loaded), for this
    # submission only; its record file lies outside the submission's sandbox
    with JudgeServer(assignment, record=root / ".judge-record.json") as judge:
        proc = _spawn(cmd, root, limits, unsafe, judge, cpus)
        # a pinned job holds still while another slot's judge times (pinning.timing_turn)
        with pinning.still_while_others_time(proc.pid) if cpus else contextlib.nullcontext():
            return _supervise(proc, limits, feedback_timeout)


def _supervise(proc: subprocess.Popen, limits: Limits, feedback_timeout: float) -> RunResult:
    """Wait for nbrun under the submission's wall-clock limit and feedback's own limit."""
    from .nbrun import MARK

    lines: list[str] = []
    autograde_over = threading.Event()  # set at nbrun's marker, or when the output ends (a crash)

    def _read():
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(f"{MARK} autograde"):
                autograde_over.set()
        autograde_over.set()

    reader = threading.Thread(target=_read, daemon=True)
    reader.start()
    timed_out = not autograde_over.wait(limits.submission_timeout)
    feedback_timed_out = False
    if not timed_out:
        try:
            proc.wait(timeout=feedback_timeout)
        except subprocess.TimeoutExpired:
            feedback_timed_out = True
    if timed_out or feedback_timed_out:
        _kill(proc)
    proc.wait()
    reader.join(5)
    code = None if timed_out else (0 if feedback_timed_out else proc.returncode)
    return RunResult(code, "".join(lines)[-20000:], timed_out, feedback_timed_out)


def sandbox_problem() -> str:
    """'' when submissions can be sealed here, else why not."""
    return jail.available()
