"""Renamed arguments, fields and functions keep working for one release, with a ``DeprecationWarning``.

effnn speaks one vocabulary (``amount``, ``scope``, ``example_inputs``; see ``CONTRIBUTING.md``).
Lectures, assignments and older code still use the names it replaced, so every rename goes through
one of three helpers here instead of hand-written copies:

- :func:`renamed_kwargs` on a function: the old keyword is accepted and passed on as the new one;
- :func:`renamed_fields` on a dataclass: the old keyword in the constructor, and the old attribute;
- :func:`renamed_function`: the old function name, a thin wrapper around the new function.

Each warning names the new spelling, so a student sees what to write instead.

>>> @renamed_kwargs(ratio="amount")
... def prune(amount=0.5):
...     return amount
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     prune(ratio=0.3)
0.3
>>> str(caught[0].message)
"prune: argument 'ratio' is deprecated; use 'amount' (same meaning)"
"""
from __future__ import annotations

import functools
import warnings
from typing import Callable

__all__ = ["renamed_kwargs", "renamed_fields", "renamed_function", "warn_renamed"]


def warn_renamed(where: str, old: str, new: str, *, kind: str = "argument", note: str = "same meaning",
                 stacklevel: int = 3) -> None:
    """Emit the one deprecation message: ``<where>: <kind> '<old>' is deprecated; use '<new>' (<note>)``."""
    warnings.warn(f"{where}: {kind} {old!r} is deprecated; use {new!r} ({note})", DeprecationWarning,
                  stacklevel=stacklevel)


def _translate(where: str, kwargs: dict, renames: dict, kind: str, stacklevel: int) -> dict:
    for old, new in renames.items():
        if old not in kwargs:
            continue
        new_name, convert, note = (new, None, "same meaning") if isinstance(new, str) else new
        if new_name in kwargs:
            raise TypeError(f"{where}: pass {new_name!r} only ({old!r} is its deprecated name)")
        warn_renamed(where, old, new_name, kind=kind, note=note, stacklevel=stacklevel)
        value = kwargs.pop(old)
        kwargs[new_name] = convert(value) if convert is not None else value
    return kwargs


def renamed_kwargs(**renames) -> Callable:
    """Decorator: accept each ``old=`` keyword as the new one, with a ``DeprecationWarning``.

    Args:
        **renames: ``old="new"``, or ``old=("new", convert, note)`` when the value changes too (e.g.
            a kept fraction becoming a removed one: ``("amount", lambda d: 1 - d, "amount = 1 - density")``).

    Returns:
        A decorator; the wrapped function keeps its signature (``inspect.signature`` shows the new names).
    """
    def decorate(fn):
        where = fn.__qualname__

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **_translate(where, kwargs, renames, "argument", 4))

        wrapper.__deprecated_kwargs__ = dict(renames)
        return wrapper

    return decorate


def renamed_fields(**renames) -> Callable:
    """Class decorator for a dataclass: old field names work in the constructor and as attributes.

    ``Config(rate=0.3)`` builds ``Config(amount=0.3)`` with a warning, and ``cfg.rate`` reads (or sets)
    ``cfg.amount`` with a warning. Apply it *above* ``@dataclass``.
    """
    def decorate(cls):
        init = cls.__init__
        where = cls.__qualname__

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            init(self, *args, **_translate(where, kwargs, renames, "argument", 4))

        cls.__init__ = __init__
        for old, new in renames.items():
            new_name = new if isinstance(new, str) else new[0]

            def getter(self, _old=old, _new=new_name):
                warn_renamed(where, _old, _new, kind="attribute", stacklevel=3)
                return getattr(self, _new)

            def setter(self, value, _old=old, _new=new_name):
                warn_renamed(where, _old, _new, kind="attribute", stacklevel=3)
                setattr(self, _new, value)

            setattr(cls, old, property(getter, setter, doc=f"Deprecated name of ``{new_name}``."))
        return cls

    return decorate


def renamed_function(fn: Callable, old_name: str) -> Callable:
    """The old name of ``fn``: calls it unchanged, warning once per call that the name is deprecated."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        warn_renamed(old_name, old_name, fn.__name__, kind="function", stacklevel=3)
        return fn(*args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = old_name
    wrapper.__deprecated_alias_of__ = fn
    wrapper.__doc__ = f"Deprecated name of :func:`{fn.__name__}` (same arguments, same result)."
    return wrapper
