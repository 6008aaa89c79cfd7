"""Run nbgrader for one submission inside limits.

Each submission gets its own course root (its own copy of the gradebook), so parallel graders
never share a SQLite file and a hostile notebook can only damage its own folder. The nbgrader
process and the kernel it starts inherit:
- a new session (the whole process group is killed at the wall-clock limit);
- address-space and file-size limits (memory blow-ups and runaway output fail inside the kernel);
- when the grader runs as root, the unprivileged ``nobody`` user, which cannot write to the
  repository, the release or other submissions;
- a ``PYTHONPATH`` that exposes only the hidden checks of this assignment, not the repository.
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .release import tool_path
from .settings import Limits

REPO = Path(__file__).resolve().parent.parent


@dataclass
class RunResult:
    returncode: int | None  # autograde's status; None when killed at the submission limit
    output: str
    timed_out: bool  # autograde hit the submission limit
    feedback_timed_out: bool = False


@functools.lru_cache(maxsize=1)
def _unprivileged_ids():
    """(uid, gid) of ``nobody`` when running as root and ``nobody`` can run this Python, else None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    try:
        import pwd

        entry = pwd.getpwnam("nobody")
    except (KeyError, ImportError):
        return None
    ids = entry.pw_uid, entry.pw_gid

    def _drop():
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])

    try:  # e.g. a Python installed under /root is not reachable by nobody
        probe = subprocess.run([sys.executable, "-c", "import nbgrader, effnn"], preexec_fn=_drop,
                               capture_output=True, timeout=60, cwd="/")
    except (OSError, subprocess.SubprocessError):
        return None
    return ids if probe.returncode == 0 else None


_CONFINE = r"""set -e
for p in "$@"; do
  [ "$p" = "--" ] && break
  mount --bind "$p" "$p" && mount -o remount,ro,bind "$p"
done
mount --bind "$EFFNN_SANDBOX_ROOT" "$EFFNN_SANDBOX_ROOT"
mount -o remount,rw,bind "$EFFNN_SANDBOX_ROOT"
while [ "$1" != "--" ]; do shift; done
shift
exec "$@"
"""


@functools.lru_cache(maxsize=1)
def mount_confinement() -> bool:
    """True when a private mount namespace can make everything but one folder read-only (root + unshare)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        ro, rw = Path(tmp, "ro"), Path(tmp, "ro", "rw")
        rw.mkdir(parents=True)
        probe = f"touch {rw}/ok && ! touch {ro}/bad 2>/dev/null"
        try:
            res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", _CONFINE, "sh",
                                  str(ro), "--", "sh", "-c", probe],
                                 env={**os.environ, "EFFNN_SANDBOX_ROOT": str(rw)}, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return False
        return res.returncode == 0 and (rw / "ok").exists() and not (ro / "bad").exists()


def privilege_note() -> str:
    """One line for the grading summary: how submissions are confined."""
    parts = ["each submission in its own course root"]
    if mount_confinement():
        parts.append("the repository, the results and other submissions mounted read-only")
    if _unprivileged_ids() is not None:
        parts.append("kernels run as user 'nobody'")
    if len(parts) == 1:
        parts.append("no filesystem confinement available (needs root and unshare)")
    return "; ".join(parts)


def hidden_checks_dir(assignment: str, dest: Path) -> Path:
    """A folder holding only ``autograder/checks/<assignment>.py`` (plus package files)."""
    src = REPO / "autograder"
    pkg = dest / "autograder"
    (pkg / "checks").mkdir(parents=True, exist_ok=True)
    for rel in ("__init__.py", "feedback.py", "integrity.py", "nbrun.py", "checks/__init__.py", "checks/_common.py",
                f"checks/{assignment}.py"):
        if (src / rel).exists():
            shutil.copy2(src / rel, pkg / rel)
    return dest


def prepare_root(root: Path, drop_privileges: bool) -> None:
    """Give the sandbox user ownership of its own course root (and nothing else)."""
    ids = _unprivileged_ids() if drop_privileges else None
    if ids is None:
        return
    for path in [root, *root.rglob("*")]:
        try:
            os.chown(path, *ids, follow_symlinks=False)
        except OSError:
            pass


def _spawn(cmd: list[str], root: Path, limits: Limits, hidden: Path, drop_privileges: bool,
           read_only: tuple[Path, ...]) -> subprocess.Popen:
    """Start ``cmd`` in ``root`` under the limits (new session, rlimits, confinement, clean env)."""
    ids = _unprivileged_ids() if drop_privileges else None
    env = {
        "PATH": tool_path(os.environ.get("PATH", "/usr/bin:/bin")),
        "HOME": str(root),
        "PYTHONPATH": str(hidden),
        "EFFNN_QUIET": "1",
        "MPLBACKEND": "Agg",
        "NUMBA_CACHE_DIR": str(root / ".numba"),
        "TORCHINDUCTOR_CACHE_DIR": str(root / ".inductor"),
        "JUPYTER_RUNTIME_DIR": str(root / ".jupyter-runtime"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    for key in ("EFFNN_CACHE", "EFFNN_DATA", "EFFNN_DATA_DIR", "OMP_NUM_THREADS"):
        if key in os.environ:
            env[key] = os.environ[key]
    if limits.kernel_threads:
        env["OMP_NUM_THREADS"] = str(limits.kernel_threads)

    def _limit():  # runs in the child, before exec
        import resource

        os.setsid()
        mem = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        size = limits.output_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if ids is not None:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])

    from .release import write_root_config

    write_root_config(root)
    (root / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(root / "tmp")
    if read_only and mount_confinement():
        env["EFFNN_SANDBOX_ROOT"] = str(root)
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", _CONFINE, "sh",
               *[str(p) for p in read_only if Path(p).exists()], "--", *cmd]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, preexec_fn=_limit, text=True, errors="replace")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_autograde_and_feedback(assignment: str, student: str, root: Path, limits: Limits, hidden: Path,
                               feedback_timeout: float = 120, drop_privileges: bool = True,
                               read_only: tuple[Path, ...] = ()) -> RunResult:
    """Autograde, then feedback, in one limited process (:mod:`autograder.nbrun`).

    The submission's wall-clock limit covers autograde only (until nbrun's marker line); feedback
    gets its own limit, so a slow HTML export is never reported as a slow notebook. The exit
    status is autograde's. Never raises on failure.
    """
    import threading

    from .nbrun import MARK

    cmd = [sys.executable, "-m", "autograder.nbrun", assignment, student, f"--cell-timeout={limits.cell_timeout}"]
    proc = _spawn(cmd, root, limits, hidden, drop_privileges, read_only)
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
