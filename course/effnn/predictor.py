"""Predicting how good an architecture is without training it, and judging such a prediction.

A performance predictor (seed deck 002; e.g. "Accelerating Neural Architecture Search using
Performance Prediction", 2017, and "Peephole: Predicting Network Performance Before Training", 2017)
maps an *encoding* of an architecture to its accuracy. It is fitted on a few architectures that were
trained and measured, then ranks the rest. A search only needs the ranking, so it is judged by rank
correlation (Kendall's :math:`\\tau`, Spearman's :math:`\\rho`) on architectures it was not fitted on,
with a bootstrap over those architectures for the spread. The same judgement applies to any cheap
proxy of accuracy, such as training on a subset of the data.

The search space here is a small one of MLPs: 1 to ``max_depth`` hidden layers, each with a width
from a fixed list.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from . import validate as V

DEFAULT_WIDTHS = (16, 32, 64, 128, 256)


def _as_list(value):
    """Arrays, ranges and tuples as a list; anything else unchanged, so that ``validate`` names it."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (range, tuple, list)):
        return list(value)
    return value


def mlp_space(depths=(1, 2, 3), widths=DEFAULT_WIDTHS) -> list[tuple[int, ...]]:
    """Every MLP of the space as a tuple of hidden widths, shallow first.

    Args:
        depths: hidden-layer counts, ints >= 1 (a list, tuple, range or array; duplicates ignored).
        widths: the width choices, ints >= 1.
    Returns:
        A list of tuples of hidden widths.

    >>> len(mlp_space((1, 2), (8, 16)))
    6
    """
    depths = V.sequence_of(_as_list(depths), "depths", V.positive_int)
    widths = V.sequence_of(_as_list(widths), "widths", V.positive_int)
    V.nonempty(depths, "depths")
    V.nonempty(widths, "widths")
    return [arch for d in sorted(set(depths)) for arch in itertools.product(sorted(set(widths)), repeat=d)]


def sample_archs(space, n: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``n`` distinct architectures drawn uniformly from ``space`` (seeded), in space order.

    Args:
        space: a non-empty list of architectures (e.g. :func:`mlp_space`).
        n: architectures wanted, in ``[1, len(space)]``.
        seed: an int >= 0 (numpy's ``default_rng``).
    Returns:
        A list of ``n`` tuples.

    >>> sample_archs(mlp_space((1, 2), (8, 16)), 3, seed=0)
    [(8, 16), (16, 8), (16, 16)]
    """
    V.nonempty(space, "space")
    n = V.integer(n, "n", low=1, high=len(space))
    seed = V.integer(seed, "seed", low=0)
    picks = np.random.default_rng(seed).choice(len(space), size=n, replace=False)
    return [tuple(space[i]) for i in sorted(picks)]


def mlp_params(arch, in_features: int, classes: int = 10) -> int:
    """Parameters (weights and biases) of the MLP ``in_features -> *arch -> classes``.

    Args:
        arch: hidden widths, ints >= 1.
        in_features: inputs, >= 1.
        classes: outputs, >= 1.
    Returns:
        The parameter count, an int.

    >>> mlp_params((16,), in_features=40)
    826
    """
    sizes = [V.positive_int(in_features, "in_features"), *V.sequence_of(_as_list(arch), "arch", V.positive_int),
             V.positive_int(classes, "classes")]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def encode(arch, max_depth: int = 3, in_features: int = 40) -> list[float]:
    """A fixed-length feature vector: depth, log2 of each width (0 where a layer is absent), and
    log10 of the parameter count. The predictor sees only this, never a training run.

    Args:
        arch: 1 to ``max_depth`` hidden widths, ints >= 1.
        max_depth: the encoding's number of width slots, >= 1.
        in_features: inputs, >= 1 (for the parameter count; 10 classes are assumed).
    Returns:
        ``max_depth + 2`` floats.

    >>> [round(v, 2) for v in encode((16, 32), max_depth=3, in_features=40)]
    [2.0, 4.0, 5.0, 0.0, 3.18]
    """
    arch = V.sequence_of(_as_list(arch), "arch", V.positive_int)
    max_depth = V.positive_int(max_depth, "max_depth")
    if not 1 <= len(arch) <= max_depth:
        raise ValueError(f"arch must have 1 to max_depth={max_depth} layers, got {len(arch)}")
    widths = [math.log2(w) for w in arch] + [0.0] * (max_depth - len(arch))
    return [float(len(arch)), *widths, math.log10(mlp_params(arch, in_features))]


def rank_agreement(predicted, actual, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Kendall's tau-b and Spearman's rho of ``predicted`` vs ``actual``, each with the 2.5 and 97.5
    percentiles of a bootstrap over the items (resampled with replacement, seeded).

    Args:
        predicted: at least 3 finite numbers, not all equal.
        actual: as many finite numbers, not all equal.
        n_boot: bootstrap resamples, >= 1 (resamples with constant values are skipped).
        seed: an int >= 0.
    Returns:
        ``{"kendall", "kendall_lo", "kendall_hi", "spearman", "spearman_lo", "spearman_hi", "n"}``.

    >>> r = rank_agreement([1, 2, 3, 4, 5], [1, 3, 2, 4, 5], n_boot=100)
    >>> round(r["kendall"], 2), round(r["spearman"], 2), r["n"]
    (0.8, 0.9, 5)
    """
    from scipy import stats

    predicted = np.asarray(V.sequence_of(_as_list(predicted), "predicted", V.number))
    actual = np.asarray(V.sequence_of(_as_list(actual), "actual", V.number))
    if len(predicted) != len(actual):
        raise ValueError(f"predicted and actual differ in length: {len(predicted)} vs {len(actual)}")
    if len(predicted) < 3:
        raise ValueError("rank_agreement needs at least 3 items")
    if np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        raise ValueError("rank correlation is undefined when predicted or actual is constant")
    n_boot = V.positive_int(n_boot, "n_boot")
    rng = np.random.default_rng(V.integer(seed, "seed", low=0))
    out = {"kendall": float(stats.kendalltau(predicted, actual).statistic),
           "spearman": float(stats.spearmanr(predicted, actual).statistic), "n": len(actual)}
    boots = {"kendall": [], "spearman": []}
    for _ in range(n_boot):
        idx = rng.integers(0, len(actual), len(actual))
        p, a = predicted[idx], actual[idx]
        if np.ptp(p) == 0 or np.ptp(a) == 0:
            continue
        boots["kendall"].append(stats.kendalltau(p, a).statistic)
        boots["spearman"].append(stats.spearmanr(p, a).statistic)
    for key, values in boots.items():
        lo, hi = np.nanpercentile(values, [2.5, 97.5])
        out[f"{key}_lo"], out[f"{key}_hi"] = float(lo), float(hi)
    return out


def describe(name: str, agreement: dict) -> str:
    """One line: ``name: Kendall tau 0.62 [0.45, 0.76], Spearman rho ... over n architectures``.

    Args:
        name: the predictor's name, a str.
        agreement: a :func:`rank_agreement` result.
    Returns:
        The line, a str.

    >>> print(describe("MLP", rank_agreement([1, 2, 3, 4, 5], [1, 3, 2, 4, 5], n_boot=100)))
    MLP: Kendall tau 0.80 [0.07, 1.00], Spearman rho 0.90 [0.18, 1.00] over 5 architectures ...
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    a = V.mapping(agreement, "agreement")
    missing = [k for k in ("kendall", "kendall_lo", "kendall_hi", "spearman", "spearman_lo", "spearman_hi", "n")
               if k not in a]
    if missing:
        raise ValueError(f"agreement must be a rank_agreement() result; it lacks {missing}")
    return (f"{name}: Kendall tau {a['kendall']:.2f} [{a['kendall_lo']:.2f}, {a['kendall_hi']:.2f}], "
            f"Spearman rho {a['spearman']:.2f} [{a['spearman_lo']:.2f}, {a['spearman_hi']:.2f}] "
            f"over {a['n']} architectures (95% bootstrap intervals)")


def tau_difference(predicted_a, predicted_b, actual, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Kendall's tau of ``predicted_a`` minus that of ``predicted_b`` (both against ``actual``), with
    a paired bootstrap over the items: ``separated`` only when the 95% interval excludes 0.

    Args:
        predicted_a: at least 3 finite numbers.
        predicted_b: as many finite numbers.
        actual: as many finite numbers.
        n_boot: bootstrap resamples, >= 1.
        seed: an int >= 0.
    Returns:
        ``{"diff", "lo", "hi", "separated"}``: the tau difference, its 95% interval and whether it excludes 0.

    >>> actual = [1, 2, 3, 4, 5, 6]
    >>> d = tau_difference(actual, [6, 5, 4, 3, 2, 1], actual, n_boot=100)
    >>> round(d["diff"], 2), d["separated"]
    (2.0, True)
    """
    from scipy import stats

    a = np.asarray(V.sequence_of(_as_list(predicted_a), "predicted_a", V.number))
    b = np.asarray(V.sequence_of(_as_list(predicted_b), "predicted_b", V.number))
    y = np.asarray(V.sequence_of(_as_list(actual), "actual", V.number))
    if not len(a) == len(b) == len(y):
        raise ValueError(f"predicted_a, predicted_b and actual differ in length: {len(a)}, {len(b)}, {len(y)}")
    if len(y) < 3:
        raise ValueError("tau_difference needs at least 3 items")
    n_boot = V.positive_int(n_boot, "n_boot")
    rng = np.random.default_rng(V.integer(seed, "seed", low=0))
    diff = float(stats.kendalltau(a, y).statistic - stats.kendalltau(b, y).statistic)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if min(np.ptp(a[idx]), np.ptp(b[idx]), np.ptp(y[idx])) == 0:
            continue
        boots.append(stats.kendalltau(a[idx], y[idx]).statistic - stats.kendalltau(b[idx], y[idx]).statistic)
    lo, hi = (float(v) for v in np.nanpercentile(boots, [2.5, 97.5]))
    return {"diff": diff, "lo": lo, "hi": hi, "separated": lo > 0 or hi < 0}
