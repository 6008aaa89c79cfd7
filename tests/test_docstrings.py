"""Every public function and class of effnn documents its arguments and its result (Google style).

A public callable with parameters needs an ``Args:`` block naming each of them, a function needs a
``Returns:`` block (``Yields:`` for a generator), a class names its constructor parameters in
``Args:`` (class docstring or ``__init__``'s). The rules and the walk over effnn's public names live
in ``tools/docstring_audit.py``; deprecated aliases are left out, as in ``tests/test_doctests.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from tools.docstring_audit import audit, check, documented_params


@pytest.fixture(scope="module")
def findings():
    return audit()


def test_every_public_callable_documents_args_and_returns(findings):
    assert len(findings) > 300, "the walk over effnn found too few names"
    assert {"prune.magnitude_prune", "segformer.portraits", "data.mnist1d.mnist1d"} <= {f.name for f in findings}
    bad = [f for f in findings if not f.ok]
    lines = []
    for f in bad:
        what = (["no Args:"] if f.no_args else []) + (["no Returns:"] if f.no_returns else [])
        what += [f"{p!r} not in Args:" for p in f.undocumented]
        lines.append(f"{f.name}: {', '.join(what)}")
    assert not bad, "public names with incomplete docstrings:\n" + "\n".join(lines)


# The audit itself: it must catch what it is meant to catch, or the test above could not fail.

def _documented(a, b=1):
    """Add.

    Args:
        a: a number.
        b: another.
    Returns:
        The sum.
    """
    return a + b


def _no_returns(a):
    """Echo.

    Args:
        a: anything.
    """
    return a


def _half_documented(a, *, scope="global", **kwargs):
    """Half.

    Args:
        a: documented.
            scope: indented deeper, so part of a's text, not an entry.
    Returns:
        Nothing useful.
    """


def _no_params():
    """Nothing to pass.

    Returns:
        1.
    """
    return 1


def _gen(n):
    """Count.

    Args:
        n: how far.
    Yields:
        0, 1, ..., n - 1.
    """
    yield from range(n)


@dataclass
class _Config:
    """A config whose fields are documented in ``Args:`` (comma lists allowed).

    Args:
        lr, momentum: the optimizer's settings.
    """

    lr: float = 0.1
    momentum: float = 0.9
    seed: int = 0


class _InitDocumented:
    """Documented in ``__init__``."""

    def __init__(self, width):
        """Build.

        Args:
            width: channels.
        """


class _InheritsItsConstructor(torch.nn.Module):
    """``nn.Module``'s ``*args, **kwargs`` constructor: nothing of its own to document."""

    def forward(self, x):
        return x


def test_the_audit_accepts_a_complete_docstring():
    assert check("m._documented", _documented).ok
    assert check("m._no_params", _no_params).ok
    assert check("m._gen", _gen).ok
    assert check("m._InitDocumented", _InitDocumented).ok
    assert check("m._InheritsItsConstructor", _InheritsItsConstructor).ok


def test_the_audit_names_what_is_missing():
    assert check("m._no_returns", _no_returns).no_returns
    f = check("m._half_documented", _half_documented)
    assert (f.no_args, f.no_returns, f.undocumented) == (False, False, ["scope", "kwargs"])
    assert check("m._Config", _Config).undocumented == ["seed"]
    assert check("m.len_like", lambda x: x).no_args


def test_documented_params_reads_entries_only():
    doc = "S.\n\nArgs:\n    x (int): one.\n    *args: more.\n    y, z: two.\n        w: not an entry.\nReturns:\n    v: not an arg."
    assert documented_params(doc) == {"x", "args", "y", "z"}
    assert documented_params("No block.") is None
