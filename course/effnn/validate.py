"""Argument checks shared by every effnn module: bad input fails early, naming the argument.

Rules (one place, so every public function behaves the same):

- the type is checked before the range, so ``"0.5"`` gets a ``TypeError``, not a comparison error;
- numpy scalars count as numbers (``np.float32(0.5)`` is a fine pruning fraction); bools do not;
- NaN and infinity are refused wherever a finite number is meant;
- errors are ``TypeError`` (wrong kind), ``ValueError`` (right kind, wrong value) or
  ``FileNotFoundError`` (missing path), and the message names the argument and what is allowed.

>>> fraction(np.float32(0.25), "amount")
0.25
>>> fraction(1.0, "amount")
Traceback (most recent call last):
...
ValueError: amount must be in [0, 1), got 1.0
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np

__all__ = [
    "number", "integer", "positive_int", "fraction", "probability", "choice", "flag",
    "module", "tensor", "nonempty", "existing_path", "sequence_of", "bits", "function", "data",
    "mapping",
]


def _kind(value) -> str:
    return type(value).__name__


def number(value, name: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """``value`` as a float, checked against ``[low, high]`` (``*_open`` excludes the end).

    Args:
        value: any real number (numpy scalars too); bools are refused.
        name: the argument's name, used in the error message.
        low: the lower bound, or None for none.
        high: the upper bound, or None for none.
        low_open: exclude ``low`` itself.
        high_open: exclude ``high`` itself.
        finite: refuse infinity too (NaN is always refused).
    Returns:
        ``value`` as a Python float.
    Raises:
        TypeError: not a number.
        ValueError: NaN, infinite (when ``finite``) or out of range.

    >>> number(2, "lr", low=0, low_open=True)
    2.0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_kind(value)}")
    out = float(value)
    if math.isnan(out) or (finite and math.isinf(out)):
        raise ValueError(f"{name} must be a finite number, got {out}")
    lo_bad = low is not None and (out <= low if low_open else out < low)
    hi_bad = high is not None and (out >= high if high_open else out > high)
    if lo_bad or hi_bad:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value}")
    return out


def integer(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; numpy integers are accepted, floats and bools are not.

    Args:
        value: a Python or numpy integer.
        name: the argument's name, used in the error message.
        low: the smallest allowed value, or None.
        high: the largest allowed value, or None.
    Returns:
        ``value`` as a Python int.
    Raises:
        TypeError: a float, bool or non-number.
        ValueError: out of range.

    >>> integer(np.int64(3), "steps", low=0)
    3
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_kind(value)}")
    out = int(value)
    if (low is not None and out < low) or (high is not None and out > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {out}")
    return out


def positive_int(value, name: str) -> int:
    """An int >= 1 (a count of layers, epochs, classes...).

    Args:
        value: a Python or numpy integer, at least 1.
        name: the argument's name, used in the error message.
    Returns:
        ``value`` as a Python int.

    >>> positive_int(np.int64(3), "epochs")
    3
    >>> positive_int(0, "epochs")
    Traceback (most recent call last):
        ...
    ValueError: epochs must be in [1, inf], got 0
    """
    return integer(value, name, low=1)


def fraction(value, name: str = "amount") -> float:
    """A pruned fraction in [0, 1): 1 would delete the whole layer.

    Args:
        value: a number in [0, 1).
        name: the argument's name, used in the error message.
    Returns:
        ``value`` as a Python float.

    >>> fraction(0.5)
    0.5
    >>> fraction(1.0, "amount")
    Traceback (most recent call last):
        ...
    ValueError: amount must be in [0, 1), got 1.0
    """
    return number(value, name, low=0.0, high=1.0, high_open=True)


def probability(value, name: str) -> float:
    """A number in [0, 1], both ends allowed.

    Args:
        value: a number in [0, 1].
        name: the argument's name, used in the error message.
    Returns:
        ``value`` as a Python float.

    >>> probability(1, "dropout")
    1.0
    >>> probability(1.5, "dropout")
    Traceback (most recent call last):
        ...
    ValueError: dropout must be in [0, 1], got 1.5
    """
    return number(value, name, low=0.0, high=1.0)


def choice(value, name: str, options) -> str:
    """``value`` if it is one of ``options`` (usually strings).

    Args:
        value: the value to check (compared with ``in``; an unhashable value is refused, not an error).
        name: the argument's name, used in the error message.
        options: the allowed values.
    Returns:
        ``value`` unchanged.
    Raises:
        ValueError: ``value`` is not one of ``options`` (the message lists them).

    >>> choice("global", "scope", ("global", "layer"))
    'global'
    """
    options = tuple(options)
    try:
        ok = value in options
    except TypeError:  # unhashable or incomparable
        ok = False
    if not ok:
        allowed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def flag(value, name: str) -> bool:
    """A real bool (``np.bool_`` too); 0/1 or strings are refused so a typo is not read as True.

    Args:
        value: ``True`` / ``False`` (``np.bool_`` too).
        name: the argument's name, used in the error message.
    Returns:
        ``value`` as a Python bool.

    >>> flag(np.bool_(True), "scale")
    True
    >>> flag(1, "scale")
    Traceback (most recent call last):
        ...
    TypeError: scale must be True or False, got int
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_kind(value)}")
    return bool(value)


def module(value, name: str = "model"):
    """A ``torch.nn.Module``.

    Args:
        value: the object to check.
        name: the argument's name, used in the error message.
    Returns:
        ``value`` unchanged (the same module, not a copy).

    >>> module(nn.ReLU())
    ReLU()
    >>> module("resnet18")
    Traceback (most recent call last):
        ...
    TypeError: model must be a torch.nn.Module, got str
    """
    from torch import nn

    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {_kind(value)}")
    return value


def tensor(value, name: str, *, ndim: int | tuple[int, ...] | None = None, floating: bool = False,
           finite: bool = False, min_numel: int = 0):
    """A ``torch.Tensor`` with the expected number of dimensions (and float dtype if ``floating``).

    Args:
        value: the object to check.
        name: the argument's name, used in the error message.
        ndim: the allowed number of dimensions (one int or a tuple of them); None for any.
        floating: require a floating-point dtype.
        finite: refuse NaN and infinity (checked for floating tensors only).
        min_numel: the fewest elements allowed.
    Returns:
        ``value`` unchanged.
    Raises:
        TypeError: not a tensor, or not floating when ``floating``.
        ValueError: wrong ``ndim``, too few elements, or non-finite values when ``finite``.

    >>> import torch
    >>> tensor(torch.zeros(2, 3), "x", ndim=2).shape
    torch.Size([2, 3])
    """
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_kind(value)}")
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in dims:
            want = " or ".join(str(d) for d in dims)
            raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
    if value.numel() < min_numel:
        raise ValueError(f"{name} must have at least {min_numel} elements, got shape {tuple(value.shape)}")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinity")
    return value


def nonempty(value, name: str):
    """A sized collection (list, tensor, array, dataset) with at least one item.

    Args:
        value: anything with ``len()``.
        name: the argument's name, used in the error message.
    Returns:
        ``value`` unchanged.

    >>> nonempty([1, 2], "seeds")
    [1, 2]
    >>> nonempty([], "seeds")
    Traceback (most recent call last):
        ...
    ValueError: seeds is empty
    """
    try:
        n = len(value)
    except TypeError:
        raise TypeError(f"{name} must be a sized collection, got {_kind(value)}") from None
    if n == 0:
        raise ValueError(f"{name} is empty")
    return value


def sequence_of(value, name: str, check, *, length: int | None = None) -> list:
    """A list or tuple whose items all pass ``check(item, f"{name}[i]")``; ``length`` if given.

    Args:
        value: a list or tuple (a string is refused).
        name: the argument's name; item ``i`` is reported as ``name[i]``.
        check: ``check(item, item_name) -> checked item``, e.g. :func:`positive_int`.
        length: the required number of items, or None for any.
    Returns:
        A new list of the checked items (what ``check`` returned for each).

    >>> sequence_of((1, 2), "bits", positive_int)
    [1, 2]
    >>> sequence_of([1, 0], "bits", positive_int)
    Traceback (most recent call last):
        ...
    ValueError: bits[1] must be in [1, inf], got 0
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple, got {_kind(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must have {length} items, got {len(value)}")
    return [check(v, f"{name}[{i}]") for i, v in enumerate(value)]


def existing_path(value, name: str, *, what: str = "file or folder", hint: str = "") -> Path:
    """A path that exists; the ``FileNotFoundError`` says what was expected there and how to get it.

    Args:
        value: a ``str`` or ``pathlib.Path``; ``~`` is expanded.
        name: the argument's name, used in the error message.
        what: what should be there, for the message ("checkpoint", "data folder").
        hint: how to get it, appended to the message.
    Returns:
        The path as a ``pathlib.Path``.
    Raises:
        TypeError: not a path.
        FileNotFoundError: nothing at the path.

    >>> import tempfile
    >>> existing_path(tempfile.gettempdir(), "cache").is_dir()
    True
    >>> existing_path("no/such/file.pt", "checkpoint", what="checkpoint", hint="run make baseline")
    Traceback (most recent call last):
        ...
    FileNotFoundError: checkpoint: no checkpoint at no/such/file.pt. run make baseline
    """
    if not isinstance(value, (str, Path)):
        raise TypeError(f"{name} must be a path (str or pathlib.Path), got {_kind(value)}")
    path = Path(value).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{name}: no {what} at {path}" + (f". {hint}" if hint else ""))
    return path


def bits(value, name: str = "bits", *, low: int = 1, high: int = 16) -> int:
    """A bit width: an int in ``[low, high]`` (1..16 by default; 16 bits is already lossless here).

    Args:
        value: a Python or numpy integer.
        name: the argument's name, used in the error message.
        low: the fewest bits allowed.
        high: the most bits allowed.
    Returns:
        ``value`` as a Python int.

    >>> bits(np.int32(4))
    4
    """
    return integer(value, name, low=low, high=high)


def function(value, name: str):
    """Something callable (a loss, a hook, a model factory).

    Args:
        value: the object to check.
        name: the argument's name, used in the error message.
    Returns:
        ``value`` unchanged.

    >>> function(len, "loss_fn") is len
    True
    >>> function(3, "loss_fn")
    Traceback (most recent call last):
        ...
    TypeError: loss_fn must be callable, got int
    """
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {_kind(value)}")
    return value


def mapping(value, name: str) -> dict:
    """A dict (or any ``Mapping``).

    Args:
        value: the object to check.
        name: the argument's name, used in the error message.
    Returns:
        ``value`` unchanged (not copied into a dict).

    >>> mapping({"a": 1}, "widths")
    {'a': 1}
    >>> mapping([1], "widths")
    Traceback (most recent call last):
        ...
    TypeError: widths must be a dict, got list
    """
    from collections.abc import Mapping

    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict, got {_kind(value)}")
    return value


def data(value, name: str = "data"):
    """Training or test data: an ``(x, y)`` pair of equally long, non-empty tensors, a ``Dataset`` or a
    ``DataLoader`` (a dataset or loader must not be empty either).

    Args:
        value: ``(x, y)`` tensors with equal, non-zero first dimensions, a non-empty list of samples,
            a ``Dataset`` or a ``DataLoader`` (an iterable one of unknown length is trusted).
        name: the argument's name, used in the error message.
    Returns:
        ``value`` unchanged.
    Raises:
        TypeError: another kind, or numpy arrays instead of tensors.
        ValueError: empty, 0-d, or ``x`` and ``y`` of different lengths.

    >>> import torch
    >>> data((torch.zeros(3, 2), torch.zeros(3)), "data")[0].shape
    torch.Size([3, 2])
    >>> data((torch.zeros(0, 2), torch.zeros(0)), "test_data")
    Traceback (most recent call last):
    ...
    ValueError: test_data is empty: (x, y) with 0 samples
    """
    import torch
    from torch.utils.data import DataLoader, Dataset

    if isinstance(value, DataLoader):
        try:
            n = len(value.dataset)
        except TypeError:  # an iterable dataset: its length is unknown, trust it
            return value
        if n == 0:
            raise ValueError(f"{name} is empty: its DataLoader has no samples")
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(torch.is_tensor(t) for t in value):
        x, y = value
        if x.dim() == 0 or y.dim() == 0:
            raise ValueError(f"{name} must be (x, y) with a batch dimension, got 0-d tensors")
        if len(x) != len(y):
            raise ValueError(f"{name}: x and y differ in length: {len(x)} vs {len(y)}")
        if len(x) == 0:
            raise ValueError(f"{name} is empty: (x, y) with 0 samples")
        return value
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and all(isinstance(t, np.ndarray) for t in value):
            raise TypeError(f"{name} must hold torch tensors (x, y), got numpy arrays: use torch.from_numpy")
        if len(value) == 0:
            raise ValueError(f"{name} is empty")
        return value  # a list of samples is a map-style dataset
    if isinstance(value, Dataset):
        try:
            n = len(value)
        except TypeError:
            return value
        if n == 0:
            raise ValueError(f"{name} is empty: the Dataset has no samples")
        return value
    raise TypeError(f"{name} must be an (x, y) pair of tensors, a Dataset or a DataLoader, got {_kind(value)}")
