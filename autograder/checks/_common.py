"""Helpers shared by the hidden checks: call student code and turn any failure into a message.

A failure is reported as AssertionError naming what failed, never the input that made it fail.
"""
from __future__ import annotations


def call(fn, *args, what: str, **kwargs):
    """``fn(*args, **kwargs)``, with NotImplementedError and crashes reported as AssertionError."""
    if not callable(fn):
        raise AssertionError(f"{what} is not a function or class")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{what} is not implemented yet") from None
    except AssertionError:
        raise
    except Exception as exc:  # report the failure, never our inputs
        raise AssertionError(f"{what} raised {type(exc).__name__} on a valid input") from None


def expects_error(fn, args, errors, what: str):
    """Check that ``fn(*args)`` raises one of ``errors`` (a tuple of exception types)."""
    try:
        fn(*args)
    except errors:
        return
    except NotImplementedError:
        raise AssertionError(f"{what} is not implemented yet") from None
    except Exception as exc:
        raise AssertionError(f"{what} raised {type(exc).__name__}, not {errors[0].__name__}") from None
    raise AssertionError(f"{what} accepted an invalid argument without raising")
