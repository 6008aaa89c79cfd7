"""Helpers shared by the hidden checks (judge side): call student code in the kernel, report failures.

A failure is an AssertionError naming what failed, never the input that made it fail nor the
expected value. Everything a check concludes rests on plain data it verified itself.
"""
from __future__ import annotations

from ..judge import Remote, RemoteError


def call(fn, *args, what: str, **kwargs):
    """``fn(*args, **kwargs)`` in the kernel; crashes and stubs reported as AssertionError."""
    if not isinstance(fn, Remote) or not fn.is_callable:
        raise AssertionError(f"{what} is not a function or class")
    try:
        return fn(*args, **kwargs)
    except RemoteError as exc:
        if exc.is_a("NotImplementedError"):
            raise AssertionError(f"{what} is not implemented yet") from None
        raise AssertionError(f"{what} raised {exc.names[0]} on a valid input") from None


def expects_error(fn, args, errors, what: str, kwargs=None):
    """Check that ``fn(*args)`` raises one of ``errors`` (exception class names) in the kernel."""
    if not isinstance(fn, Remote):
        raise AssertionError(f"{what} is not a function")
    try:
        fn(*args, **(kwargs or {}))
    except RemoteError as exc:
        if exc.is_a(*errors):
            return
        if exc.is_a("NotImplementedError"):
            raise AssertionError(f"{what} is not implemented yet") from None
        raise AssertionError(f"{what} raised {exc.names[0]}, not {errors[0]}") from None
    raise AssertionError(f"{what} accepted an invalid argument without raising")


def tensor(value, what: str):
    """``value`` if it is a tensor that came back as data, else a clear failure."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} must be a torch.Tensor")
    return value


def judge_cache(name: str, make, *depends):
    """``make()``'s tensors, kept on the grader's disk under a key of ``name`` and ``depends``.

    For hidden inputs that take seconds to build (A1's held-out portraits): every grading worker
    would otherwise build them again. The folder is the grader's own (``out/cache/judge`` in the
    checkout), which no sandbox mounts, so a submission can neither read nor replace them.
    ``depends``: files whose contents the result depends on (their bytes are in the key).
    """
    import hashlib
    from pathlib import Path

    import torch

    from effnn.config import keep_file

    from ..grade import GRADER_CACHE

    h = hashlib.sha256(name.encode())
    for path in depends:
        h.update(Path(path).read_bytes())
    path = GRADER_CACHE / "judge" / f"{h.hexdigest()[:24]}.pt"
    try:
        return torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - missing, torn or foreign: build it again
        pass
    value = make()
    keep_file(path, lambda tmp: torch.save(value, tmp))
    return value
