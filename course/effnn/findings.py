"""Findings a lecture states, computed from its own numbers with their noise.

A lecture never writes "A beats B" in markdown: it prints :func:`compare`'s sentence, which says
"ahead" only when the difference exceeds two standard errors, and "within noise" otherwise. The
standard error of a mean test accuracy combines the spread over seeds and the binomial noise of a
finite test set (:math:`\\sqrt{p(1-p)/n}`), so a bigger test set or more seeds shrink it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import validate


def binomial_se(acc: float, n_test: int) -> float:
    """Standard error of an accuracy measured on ``n_test`` independent samples.

    It is :math:`\\sqrt{p(1-p)/n}`.

    Args:
        acc: the accuracy, in [0, 1].
        n_test: test samples, >= 1.
    Returns:
        The standard error, a float in [0, 0.5].

    >>> round(binomial_se(0.9, 100), 3)  # 90 % on 100 samples is 90 +- 3 %
    0.03
    """
    acc = validate.probability(acc, "acc")
    n_test = validate.positive_int(n_test, "n_test")
    return math.sqrt(acc * (1 - acc) / n_test)


def mean_and_se(values, n_test: int) -> tuple[float, float]:
    """Mean of per-seed accuracies and its standard error (seed spread + test-set noise).

    Args:
        values: one accuracy, or a non-empty list of them (one per seed), each in [0, 1].
        n_test: the test-set size, >= 1.
    Returns:
        ``(mean, se)``, floats.

    >>> [round(v, 4) for v in mean_and_se([0.90, 0.92], n_test=1000)]
    [0.91, 0.0119]
    """
    vals = [validate.probability(v, "values[i]") for v in _as_list(values)]
    k = len(validate.nonempty(vals, "values"))
    mean = sum(vals) / k
    seed_var = sum((v - mean) ** 2 for v in vals) / (k - 1) if k > 1 else 0.0
    return mean, math.sqrt(seed_var / k + binomial_se(mean, n_test) ** 2 / k)


def _as_list(values) -> list[float]:
    if isinstance(values, (int, float)):
        return [float(values)]
    return [float(v) for v in values]


@dataclass(frozen=True)
class Comparison:
    """``a - b`` with its standard error; ``separated`` when it exceeds two standard errors.

    ``str()`` gives the sentence a lecture prints. Usually built by :func:`compare`.

    Args:
        name_a: method A's name, for the sentence.
        name_b: method B's name.
        mean_a: A's mean accuracy, in [0, 1].
        mean_b: B's mean accuracy, in [0, 1].
        diff: ``mean_a - mean_b``.
        se: the standard error of ``diff``.

    >>> c = Comparison("a", "b", mean_a=0.9, mean_b=0.8, diff=0.1, se=0.02); c.separated, c.a_ahead
    (True, True)
    """
    name_a: str
    name_b: str
    mean_a: float
    mean_b: float
    diff: float
    se: float

    @property
    def separated(self) -> bool:
        return abs(self.diff) > 2 * self.se

    @property
    def a_ahead(self) -> bool:
        return self.separated and self.diff > 0

    @property
    def b_ahead(self) -> bool:
        return self.separated and self.diff < 0

    def sentence(self) -> str:
        head = (f"{self.name_a} {100 * self.mean_a:.1f} % vs {self.name_b} {100 * self.mean_b:.1f} %: "
                f"difference {100 * self.diff:+.1f} pp (2 SE = {200 * self.se:.1f} pp)")
        if not self.separated:
            return f"{head}: within noise."
        winner = self.name_a if self.diff > 0 else self.name_b
        return f"{head}: {winner} is ahead."

    def __str__(self) -> str:
        return self.sentence()


def compare(name_a: str, accs_a, name_b: str, accs_b, n_test: int) -> Comparison:
    """Compare two methods' test accuracies (one value or one per seed) on ``n_test`` samples.

    The two standard errors add in quadrature.

    Args:
        name_a: method A's name (``str()`` is applied).
        accs_a: A's accuracy, or one per seed, each in [0, 1].
        name_b: method B's name.
        accs_b: B's accuracy, or one per seed.
        n_test: the test-set size both were measured on, >= 1.
    Returns:
        A :class:`Comparison`.

    >>> print(compare("ticket", [0.95, 0.96], "random", [0.90, 0.91], n_test=1000))
    ticket 95.5 % vs random 90.5 %: difference +5.0 pp (2 SE = 2.1 pp): ticket is ahead.
    """
    ma, sa = mean_and_se(accs_a, n_test)
    mb, sb = mean_and_se(accs_b, n_test)
    return Comparison(str(name_a), str(name_b), ma, mb, ma - mb, math.sqrt(sa ** 2 + sb ** 2))


def report(*comparisons: Comparison) -> int:
    """Print each comparison's sentence; return how many are separated beyond two standard errors.

    Args:
        *comparisons: :class:`Comparison` objects.
    Returns:
        The number of separated comparisons, an int.

    >>> report(compare("A", 0.90, "B", 0.905, n_test=500))
    A 90.0 % vs B 90.5 %: difference -0.5 pp (2 SE = 3.8 pp): within noise.
    0
    """
    for c in comparisons:
        print(c.sentence())
    return sum(c.separated for c in comparisons)
