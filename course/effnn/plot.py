"""The few plot helpers the lectures share. Each returns the matplotlib Axes it drew on."""
from __future__ import annotations

import numpy as np
import torch

from . import validate as V


def _axes(ax):
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax if ax is not None else plt.subplots(figsize=(5, 3.5))[1]


def _label(label):
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a str or None, got {type(label).__name__}")


def _numbers(values, name: str) -> np.ndarray:
    """``values`` as a float array of finite numbers (lists, arrays or tensors)."""
    if torch.is_tensor(values):
        values = values.detach().cpu().numpy()
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be numbers, got str")
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers (a list, array or tensor), got {type(values).__name__}") from None
    if out.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return out


def curve_with_band(x, ys, label: str | None = None, ax=None, **kwargs):
    """Mean curve with a +-1 standard deviation band; ``ys`` is (runs, points).

    Args:
        x: the points (a list, array or tensor of finite numbers).
        ys: ``(runs, points)`` values with ``points == len(x)``; one 1-D run draws no band (no spread to show).
        label: the legend entry, or None.
        ax: the matplotlib Axes to draw on; None for a new figure.
        **kwargs: passed to ``ax.plot``.
    Returns:
        The Axes drawn on.

    >>> import matplotlib.pyplot as plt
    >>> ax = curve_with_band([1, 2, 3], [[0.5, 0.6, 0.7], [0.5, 0.7, 0.8]], label="IMP")
    >>> len(ax.lines), len(ax.collections)  # the mean line and its band
    (1, 1)
    >>> plt.close(ax.figure)
    """
    _label(label)
    xs = _numbers(x, "x")
    ys = _numbers(ys, "ys")
    if ys.ndim == 1:
        ys = ys[None]
    if ys.ndim != 2 or xs.ndim != 1 or ys.shape[1] != len(xs):
        raise ValueError(f"ys must be (runs, points) with points = len(x) = {xs.size}, got shape {ys.shape}")
    ax = _axes(ax)
    mean, std = ys.mean(0), ys.std(0)
    line, = ax.plot(x, mean, label=label, marker="o", ms=3, **kwargs)
    if len(ys) > 1:
        ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
    if label:
        ax.legend()
    return ax


def weight_histogram(weights, bins: int = 80, ax=None, label: str | None = None, log: bool = False):
    """Histogram of a tensor's values (zeros included, so pruning shows as a spike).

    Args:
        weights: a tensor, array or list of finite numbers (flattened).
        bins: histogram bins, >= 1.
        ax: the matplotlib Axes to draw on; None for a new figure.
        label: the legend entry, or None.
        log: a log count axis (pruned zeros dwarf the rest otherwise).
    Returns:
        The Axes drawn on.

    >>> import matplotlib.pyplot as plt
    >>> ax = weight_histogram(torch.tensor([0.0, 0.0, 0.5, -0.5]), bins=4)
    >>> int(sum(p.get_height() for p in ax.patches))  # every value counted
    4
    >>> plt.close(ax.figure)
    """
    _label(label)
    V.positive_int(bins, "bins")
    V.flag(log, "log")
    values = _numbers(weights, "weights").ravel()
    ax = _axes(ax)
    ax.hist(values, bins=bins, alpha=0.7, label=label, log=log)
    ax.set_xlabel("value")
    ax.set_ylabel("count")
    if label:
        ax.legend()
    return ax


def mask_image(mask, ax=None, title: str | None = None):
    """Show a 2-D (or reshaped) pruning mask: black = removed, white = kept.

    A conv mask ``(out, in, k, k)`` is shown as ``out`` rows.

    Args:
        mask: a 0/1 tensor or array with at least one dimension; dims beyond the first are flattened.
        ax: the matplotlib Axes to draw on; None for a new figure.
        title: the Axes' title, or None.
    Returns:
        The Axes drawn on.

    >>> import matplotlib.pyplot as plt
    >>> ax = mask_image(torch.tensor([[1, 0], [0, 1]]), title="layer 1")
    >>> ax.get_title(), ax.images[0].get_array().shape
    ('layer 1', (2, 2))
    >>> plt.close(ax.figure)
    """
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    m = _numbers(mask.float() if torch.is_tensor(mask) else mask, "mask")
    if m.ndim == 0:
        raise ValueError("mask must have at least one dimension")
    if m.ndim == 1:
        m = m[None]
    ax = _axes(ax)
    if m.ndim > 2:
        m = m.reshape(m.shape[0], -1)
    ax.imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
