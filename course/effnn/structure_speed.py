"""Structured vs unstructured pruning in time: a smaller dense GEMM against a CSR one, per sparsity.

Structured pruning removes whole rows of a weight matrix (a conv's filters, through im2col), so the
product stays dense and only shrinks; unstructured pruning keeps the shape and needs a sparse
kernel. Each variant is timed in one process and reported by its *fastest* timed block, which on a
shared machine is the least disturbed estimate (the median is kept too).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from . import validate as V
from ._deprecate import renamed_kwargs
from .measure import latency
from .sparse_speed import random_sparse


@dataclass(frozen=True)
class RowTiming:
    """One sparsity: milliseconds (fastest block and median) of dense, CSR and row-pruned ``W @ X``.

    ``macs_cut`` is the ideal speedup of keeping ``rows_kept`` rows; ``structured_speedup`` and
    ``csr_speedup`` the measured ones (fastest blocks), so the gap between them is visible.

    Args:
        side: ``W``'s side.
        sparsity: the fraction of ``W`` zeroed.
        rows_kept: the rows of the row-pruned ``W``.
        dense_ms, csr_ms, rows_ms: the fastest timed block of each product, in ms.
        dense_median_ms, csr_median_ms, rows_median_ms: the medians, in ms.

    >>> t = RowTiming(side=100, sparsity=0.5, rows_kept=50, dense_ms=2.0, csr_ms=4.0, rows_ms=1.0,
    ...               dense_median_ms=2.1, csr_median_ms=4.2, rows_median_ms=1.1)
    >>> t.macs_cut, t.structured_speedup, t.csr_speedup
    (2.0, 2.0, 0.5)
    """
    side: int
    sparsity: float
    rows_kept: int
    dense_ms: float
    csr_ms: float
    rows_ms: float
    dense_median_ms: float
    csr_median_ms: float
    rows_median_ms: float

    @property
    def macs_cut(self) -> float:
        """Dense MACs over row-pruned MACs (the ideal structured speedup)."""
        return self.side / self.rows_kept

    @property
    def structured_speedup(self) -> float:
        return self.dense_ms / self.rows_ms

    @property
    def csr_speedup(self) -> float:
        return self.dense_ms / self.csr_ms


@renamed_kwargs(sparsities="amounts")
def time_structures(side: int, amounts, *, batch: int = 64, min_run_time: float = 0.2,
                    threads: int = 2, seed: int = 0) -> list[RowTiming]:
    """Time ``W @ X`` (``W`` is ``side x side``, ``X`` is ``side x batch``) for each sparsity.

    Args:
        side: ``W``'s side, >= 1.
        amounts: a non-empty list of fractions of ``W`` zeroed, each in [0, 1).
        batch: ``X``'s columns, >= 1.
        min_run_time: seconds per timing, > 0.
        threads: torch threads for the timing, >= 1.
        seed: seeds ``W`` and ``X``.
    Returns:
        One :class:`RowTiming` per amount, in order. Timings depend on the machine's load: compare
        rows of one call only.

    >>> [t.rows_kept for t in time_structures(8, [0.5, 0.75], batch=2, min_run_time=0.001)]
    [4, 2]
    """
    side = V.positive_int(side, "side")
    if isinstance(amounts, (str, bytes)) or not hasattr(amounts, "__iter__"):
        raise TypeError(f"amounts must be a list of fractions, got {type(amounts).__name__}")
    amounts = [V.fraction(s, f"amounts[{i}]") for i, s in enumerate(amounts)]
    if not amounts:
        raise ValueError("amounts is empty")
    batch = V.positive_int(batch, "batch")
    V.number(min_run_time, "min_run_time", low=0, low_open=True)
    threads = V.positive_int(threads, "threads")
    V.integer(seed, "seed")
    x = torch.randn(side, batch, generator=torch.Generator().manual_seed(seed + 1))
    out = []
    for s in amounts:
        w = random_sparse(side, side, s, seed)
        with warnings.catch_warnings():  # "CSR support is in beta" is not news to the reader
            warnings.simplefilter("ignore", UserWarning)
            csr = w.to_sparse_csr()
        kept = max(1, int(round((1 - s) * side)))
        rows = w[:kept].contiguous()
        runs = [latency(f, threads=threads, min_run_time=min_run_time)
                for f in (lambda: w @ x, lambda: csr @ x, lambda: rows @ x)]
        out.append(RowTiming(side, s, kept, *(r.min_ms for r in runs), *(r.median_ms for r in runs)))
    return out
