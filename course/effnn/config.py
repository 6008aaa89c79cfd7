"""Course-wide settings, read from environment variables so notebooks, tests and the grader agree.

- ``EFFNN_FAST=1`` (or nbgrader's ``NBGRADER_EXECUTION``): fast mode. Trainings shrink, the code
  path stays the same. CI and autograding run in fast mode.
- ``EFFNN_DATA``: ``embedded`` (default: scikit-learn digits and procedural portraits, offline) or
  ``real`` (MNIST / Fashion-MNIST IDX files, CIFAR-10's python batches and a Human Matting
  folder, read by :mod:`effnn.data.real` with numpy and Pillow: torchvision is not needed).
- ``EFFNN_DATA_DIR``: where real data lives (default ``~/.cache/effnn/data``); nothing is ever
  downloaded, a missing dataset is a ``FileNotFoundError`` that says where its files go.
- ``EFFNN_CACHE``: where trained checkpoints are cached (default ``~/.cache/effnn``).
- ``EFFNN_QUIET=1``: no progress bars (set automatically under CI and nbgrader).
"""
from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when training should shrink: ``EFFNN_FAST`` is set, or nbgrader is executing.

    Returns:
        True or False, read from the environment at each call.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"EFFNN_FAST": "yes"}):
    ...     fast_mode()
    True
    """
    if os.environ.get("EFFNN_FAST", "").strip().lower() in _TRUE:
        return True
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise (epochs, steps, sample counts...).

    The one way code shrinks in fast mode, so the code path stays the same, only sizes change.

    Args:
        full: the value for a full run.
        fast: the value for fast mode.
    Returns:
        ``fast`` or ``full``, unchanged.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"EFFNN_FAST": "1"}):
    ...     pick(full=30, fast=2)
    2
    """
    return fast if fast_mode() else full


def quiet() -> bool:
    """Progress bars are hidden under CI, nbgrader, or ``EFFNN_QUIET=1``.

    Returns:
        True when ``EFFNN_QUIET`` is truthy or ``CI`` / ``NBGRADER_EXECUTION`` is set.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"EFFNN_QUIET": "1"}):
    ...     quiet()
    True
    """
    if os.environ.get("EFFNN_QUIET", "").strip().lower() in _TRUE:
        return True
    return bool(os.environ.get("CI") or os.environ.get("NBGRADER_EXECUTION"))


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask), in order; all of them where there is no mask.

    Returns:
        A sorted list of CPU numbers (``range(os.cpu_count())`` on macOS and Windows).

    >>> len(allowed_cpus()) >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def threads(most: int = 2) -> int:
    """How many threads torch should use: the CPUs this process may run on, at most ``most``.

    ``most`` defaults to the target laptop's 2 cores. A grader that pins a submission to one core
    gets 1: two threads sharing one core wait on each other (on one core, A1's 60 fine-tuning steps
    took 13.5 s with two threads and 10.6 s with one; ``benchmarks/run.py --only grading_scale``
    shows what that does to the grading rate).

    Args:
        most: the largest answer (the machine the course is timed on has 2 cores).
    Returns:
        An int between 1 and ``most``.

    >>> 1 <= threads() <= 2
    True
    """
    return max(1, min(most, len(allowed_cpus())))


DATA_SOURCES = ("embedded", "real")


def data_source() -> str:
    """The one setting that switches every loader between embedded and real data: ``EFFNN_DATA``.

    Returns:
        ``"embedded"`` or ``"real"`` (case and surrounding spaces ignored).
    Raises:
        ValueError: ``EFFNN_DATA`` holds anything else.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"EFFNN_DATA": "Real"}):
    ...     data_source()
    'real'
    """
    src = os.environ.get("EFFNN_DATA", "embedded").strip().lower()
    if src not in DATA_SOURCES:
        raise ValueError(f"EFFNN_DATA must be one of {DATA_SOURCES}, got {src!r}")
    return src


def cache_dir() -> Path:
    """Folder for trained checkpoints and other reproducible artefacts.

    ``EFFNN_CACHE`` overrides the default ``~/.cache/effnn``; the folder is not created here.

    Returns:
        A ``pathlib.Path`` (``~`` expanded); it may not exist yet.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"EFFNN_CACHE": "/tmp/effnn-cache"}):
    ...     cache_dir().as_posix()
    '/tmp/effnn-cache'
    """
    return Path(os.environ.get("EFFNN_CACHE", Path.home() / ".cache" / "effnn")).expanduser()


def data_dir() -> Path:
    """Folder that holds real datasets (``mnist/``, ``fashion_mnist/``, ``cifar10/``, ``matting/``).

    Nothing is downloaded into it: the files are copied there by hand (README, "Real data").
    ``EFFNN_DATA_DIR`` overrides the default ``cache_dir() / "data"``.

    Returns:
        A ``pathlib.Path`` (``~`` expanded); it may not exist yet.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"EFFNN_DATA_DIR": "/srv/datasets"}):
    ...     (data_dir() / "mnist").as_posix()
    '/srv/datasets/mnist'
    """
    default = cache_dir() / "data"
    return Path(os.environ.get("EFFNN_DATA_DIR", default)).expanduser()


def keep_file(path, write) -> bool:
    """Write a cache file whole or not at all: ``write(tmp)`` to a temporary name beside it, then rename.

    Parallel kernels and graders never read half a file, and a read-only or full cache (the grader's,
    inside its sandbox) only loses the shortcut: the caller made the data and still returns it.

    Args:
        path: the file to create or replace (``str`` or ``Path``); its folder is created.
        write: a callable taking the temporary path (same folder, same suffix) and writing to it.
    Returns:
        True when the file was kept, False when the folder could not be written.

    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> keep_file(Path(tmp.name) / "a" / "b.txt", lambda t: t.write_text("hi")), (Path(tmp.name) / "a" / "b.txt").read_text()
    (True, 'hi')
    >>> keep_file(Path(tmp.name) / "a" / "b.txt" / "c.txt", lambda t: t.write_text("no"))  # under a file
    False
    >>> tmp.cleanup()
    """
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True) if tmp.parent.is_dir() else None
        return False
    return True
