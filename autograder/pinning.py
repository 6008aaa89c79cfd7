"""Core pinning for grading jobs: each job gets its own physical cores, so timings stay fair.

A1's final check times the student's model against the baseline. Two jobs that share a core
disturb each other's timings; two jobs on different cores do not (beyond the caches and memory
they always share). So a grading job that asks for ``cores_per_job`` runs in a *slot*:

- :func:`slots` cuts the CPUs this process may use into disjoint slots of ``cores_per_job``
  physical cores each; the SMT siblings of a core (hyper-threads) always stay in one slot, since
  siblings share a core's execution units. A machine with 2k physical cores has 2k // n slots.
- :func:`claim` takes a free slot for the duration of one job, with one ``flock`` per CPU in a
  folder shared by every grading process of this user on this machine: jobs of one run, of two
  runs, and of several Dask workers on one host never share a core. A lock dies with its process,
  so a killed grader frees its slot.
- :func:`pinned` pins the calling thread (``os.sched_setaffinity``); threads and processes it
  starts afterwards inherit the mask: the judge's serving thread, torch's thread pool, the nbrun
  process and the student's sandboxed kernel.

Slots still share the memory system. Two A1 judges timing Segformers at once on a 2-core machine
measured a speedup a quarter lower than one alone; a slot that fine-tunes beside the timing cost it
under a tenth. So timings take turns and the other slots hold still meanwhile:

- :func:`timing_turn` is held by a judge while it times (one judge at a time per machine);
- :func:`still_while_others_time` pauses a pinned job's sandbox (``SIGSTOP`` to nbrun and every
  process below it) while another process holds the turn, and resumes it (``SIGCONT``) as soon as
  the turn is free, or the holder died (its lock dies with it). Pauses last a few seconds; the
  submission's wall-clock limits are minutes.

Pinning is for fairness, not for security: a kernel may widen its own mask within what the machine
allows (the sandbox cannot forbid ``sched_setaffinity`` without root).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from effnn.config import allowed_cpus
from effnn.validate import positive_int

SYS_CPU = Path("/sys/devices/system/cpu")


def _siblings(cpu: int) -> set[int]:
    """The logical CPUs that share ``cpu``'s physical core (itself included)."""
    for name in ("core_cpus_list", "thread_siblings_list"):
        path = SYS_CPU / f"cpu{cpu}" / "topology" / name
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        return set(parse_cpu_list(text)) | {cpu}
    return {cpu}


def parse_cpu_list(text: str) -> list[int]:
    """``"0-2,5"`` -> ``[0, 1, 2, 5]`` (the kernel's CPU list format)."""
    out: list[int] = []
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def physical_cores(cpus: list[int] | None = None) -> list[tuple[int, ...]]:
    """The allowed CPUs grouped by physical core, in order of their lowest CPU."""
    cpus = allowed_cpus() if cpus is None else list(cpus)
    allowed, seen, cores = set(cpus), set(), []
    for cpu in sorted(cpus):
        if cpu in seen:
            continue
        core = tuple(sorted(_siblings(cpu) & allowed)) or (cpu,)
        seen.update(core)
        cores.append(core)
    return cores


def slots(cores_per_job: int, cores: list[tuple[int, ...]] | None = None) -> list[tuple[int, ...]]:
    """Disjoint slots of ``cores_per_job`` physical cores each (one slot of all cores if fewer)."""
    cores_per_job = positive_int(cores_per_job, "cores_per_job")
    cores = physical_cores() if cores is None else list(cores)
    count = max(1, len(cores) // cores_per_job)
    groups = [cores[i * cores_per_job:(i + 1) * cores_per_job] for i in range(count)]
    return [tuple(sorted(cpu for core in group for cpu in core)) for group in groups]


def describe(slot_list: list[tuple[int, ...]]) -> str:
    """``2 slots (cpus 0 | 1)``: one line for the grading summary."""
    return f"{len(slot_list)} slot{'s' if len(slot_list) != 1 else ''} (cpus " + \
        " | ".join(",".join(map(str, s)) for s in slot_list) + ")"


def lock_dir() -> Path:
    """The folder of per-CPU locks, shared by this user's grading processes on this machine."""
    base = "/tmp" if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK) else tempfile.gettempdir()
    path = Path(base) / f"effnn-cpu-slots-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _open_lock(folder: Path | None, name: str) -> int:
    """The descriptor of ``folder/name.lock`` (created; ``folder`` None: :func:`lock_dir`), for ``flock``;
    closing it releases the lock."""
    folder = lock_dir() if folder is None else Path(folder)
    return os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_lock(cpus: tuple[int, ...], folder: Path) -> list[int] | None:
    """Lock every CPU of the slot or none: the open file descriptors, or None when one is taken."""
    fds: list[int] = []
    for cpu in cpus:
        fd = _open_lock(folder, f"cpu{cpu}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            for held in fds:
                os.close(held)  # closing releases the flock
            return None
        fds.append(fd)
    return fds


@contextlib.contextmanager
def claim(slot_list: list[tuple[int, ...]], *, folder: Path | None = None, poll: float = 0.2,
          timeout: float | None = None):
    """Hold the first free slot of ``slot_list`` (waiting for one); yields its CPUs."""
    if not slot_list:
        raise ValueError("slot_list must name at least one slot")
    folder = lock_dir() if folder is None else Path(folder)
    start = time.monotonic()
    while True:
        for cpus in slot_list:
            fds = _try_lock(tuple(cpus), folder)
            if fds is not None:
                try:
                    yield tuple(cpus)
                finally:
                    for fd in fds:
                        os.close(fd)
                return
        if timeout is not None and time.monotonic() - start > timeout:
            raise TimeoutError(f"no free CPU slot among {describe(slot_list)} after {timeout:g} s")
        time.sleep(poll)


_timing_here = threading.Event()  # this process holds the turn: its own job is waiting on the timing


@contextlib.contextmanager
def timing_turn(folder: Path | None = None, settle: float = 0.2):
    """Wait until no other grading process on this machine is timing; time while this is held.

    ``settle`` seconds pass after the turn is taken, for the other slots to be paused
    (:func:`still_while_others_time` looks every 50 ms).
    """
    fd = _open_lock(folder, "timing")
    _timing_here.set()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        time.sleep(settle)
        yield
    finally:
        os.close(fd)  # closing releases the flock
        _timing_here.clear()


def _turn_free(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``): the kernel leaves nbrun's process group
    (jupyter_client starts it in a session of its own), so a group signal would miss it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, ()))
    return out


def _signal_tree(pid: int, sig: int) -> None:
    for target in _tree(pid):
        try:
            os.kill(target, sig)
        except (ProcessLookupError, PermissionError):
            pass


@contextlib.contextmanager
def still_while_others_time(pid: int, folder: Path | None = None, poll: float = 0.05):
    """Pause process ``pid`` (a pinned job's sandbox) and all below it whenever another process holds
    the turn.

    A thread looks every ``poll`` seconds; the processes are always resumed on the way out. This
    process's own turn never pauses its own job (that job is waiting for the judge's answer).
    """
    stop = threading.Event()

    def watch():
        fd = _open_lock(folder, "timing")
        try:
            while not stop.wait(poll):
                if _timing_here.is_set() or _turn_free(fd):
                    continue
                _signal_tree(pid, signal.SIGSTOP)
                try:
                    while not stop.is_set() and not _turn_free(fd):
                        stop.wait(poll)
                finally:
                    _signal_tree(pid, signal.SIGCONT)
        finally:
            os.close(fd)

    watcher = threading.Thread(target=watch, name="effnn-still-while-others-time", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        _signal_tree(pid, signal.SIGCONT)


@contextlib.contextmanager
def pinned(cpus):
    """Run the calling thread (and whatever it starts meanwhile) on ``cpus`` only, then restore."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def affinity_of(pid: int) -> set[int]:
    """The CPUs a process (or thread id) may run on."""
    return set(os.sched_getaffinity(pid))
