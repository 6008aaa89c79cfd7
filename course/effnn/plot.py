"""The few plot helpers the lectures share. Each returns the matplotlib Axes it drew on."""
from __future__ import annotations

import numpy as np
import torch


def _axes(ax):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=(5, 3.5))[1]


def curve_with_band(x, ys, label: str | None = None, ax=None, **kwargs):
    """Mean curve with a +-1 standard deviation band; ``ys`` is (runs, points)."""
    ax = _axes(ax)
    ys = np.asarray(ys, dtype=float)
    if ys.ndim == 1:
        ys = ys[None]
    mean, std = ys.mean(0), ys.std(0)
    line, = ax.plot(x, mean, label=label, marker="o", ms=3, **kwargs)
    if len(ys) > 1:
        ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
    if label:
        ax.legend()
    return ax


def weight_histogram(weights, bins: int = 80, ax=None, label: str | None = None, log: bool = False):
    """Histogram of a tensor's values (zeros included, so pruning shows as a spike)."""
    ax = _axes(ax)
    values = weights.detach().flatten().cpu().numpy() if torch.is_tensor(weights) else np.ravel(weights)
    ax.hist(values, bins=bins, alpha=0.7, label=label, log=log)
    ax.set_xlabel("value")
    ax.set_ylabel("count")
    if label:
        ax.legend()
    return ax


def mask_image(mask, ax=None, title: str | None = None):
    """Show a 2-D (or reshaped) pruning mask: black = removed, white = kept."""
    ax = _axes(ax)
    m = mask.detach().cpu().float().numpy() if torch.is_tensor(mask) else np.asarray(mask, float)
    if m.ndim > 2:
        m = m.reshape(m.shape[0], -1)
    ax.imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
