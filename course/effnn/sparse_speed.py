"""Does skipping zeros make a layer faster? Dense vs unstructured-sparse vs smaller-dense timing.

Unstructured sparsity keeps the layer's shape and stores the surviving weights in CSR; structured
pruning removes whole output rows, leaving a smaller dense layer with the same number of non-zeros.
All three are timed in one process with ``torch.utils.benchmark``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from . import validate as V
from ._deprecate import renamed_kwargs
from .measure import latency


@dataclass
class SparseTiming:
    """One pruned fraction (``sparsity``, the benchmark's key): median ms of dense, CSR and a
    dense matrix with only the kept rows (the speed structured pruning would give).

    Args:
        sparsity: the fraction of ``W`` zeroed (the benchmark's key).
        dense_ms: median ms of the dense product.
        csr_ms: median ms of the CSR product.
        smaller_dense_ms: median ms of the dense product with only the kept rows.

    >>> t = SparseTiming(sparsity=0.9, dense_ms=2.0, csr_ms=1.0, smaller_dense_ms=0.25); t.csr_ms < t.dense_ms
    True
    """
    sparsity: float
    dense_ms: float
    csr_ms: float
    smaller_dense_ms: float


@renamed_kwargs(sparsity="amount")
def random_sparse(rows: int, cols: int, amount: float, seed: int = 0) -> torch.Tensor:
    """A new dense matrix whose ``round(amount * numel)`` smallest-magnitude entries are zero.

    Args:
        rows, cols: its shape, each >= 1.
        amount: the fraction of entries zeroed, in [0, 1).
        seed: seeds the random values (a private generator: the global one is untouched).

    Returns:
        A ``(rows, cols)`` float tensor (``sparsity`` is the deprecated name of ``amount``).

    >>> int((random_sparse(4, 5, 0.5) == 0).sum())
    10
    """
    V.positive_int(rows, "rows")
    V.positive_int(cols, "cols")
    amount = V.fraction(amount, "amount")
    V.integer(seed, "seed")
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))
    k = int(round(amount * w.numel()))
    if k:
        w.view(-1)[torch.argsort(w.abs().flatten())[:k]] = 0
    return w


@renamed_kwargs(sparsities="amounts")
def time_sparse_vs_dense(amounts, rows: int = 1024, cols: int = 1024, batch: int = 64,
                         min_run_time: float = 0.2, seed: int = 0, progress=None) -> list[SparseTiming]:
    """Median ms of ``W @ X`` for dense W, CSR W, and a dense W with only the kept fraction of rows.

    Timings depend on the machine and its load: compare rows of one call only.

    Args:
        amounts: a non-empty list (or tensor) of fractions of ``W`` zeroed, each in [0, 1).
        rows: W's rows, >= 1.
        cols: W's columns, >= 1.
        batch: X's columns, >= 1.
        min_run_time: seconds per timing, > 0.
        seed: seeds W and X.
        progress: a callable that wraps the loop (e.g. ``effnn.train.progress_bar``), or None.
    Returns:
        One :class:`SparseTiming` per amount, in order.

    >>> rows = time_sparse_vs_dense([0.0, 0.9], rows=64, cols=64, batch=8, min_run_time=0.01)
    >>> [t.sparsity for t in rows], all(t.dense_ms > 0 for t in rows)
    ([0.0, 0.9], True)
    """
    if torch.is_tensor(amounts):
        amounts = amounts.tolist()
    if isinstance(amounts, (str, bytes)) or not hasattr(amounts, "__iter__"):
        raise TypeError(f"amounts must be a list of fractions, got {type(amounts).__name__}")
    amounts = [V.fraction(s, f"amounts[{i}]") for i, s in enumerate(amounts)]
    if not amounts:
        raise ValueError("amounts is empty")
    for v, n in ((rows, "rows"), (cols, "cols"), (batch, "batch")):
        V.positive_int(v, n)
    V.number(min_run_time, "min_run_time", low=0, low_open=True)
    V.integer(seed, "seed")
    if progress is not None:
        V.function(progress, "progress")
    x = torch.randn(cols, batch, generator=torch.Generator().manual_seed(seed + 1))
    out = []
    for s in (progress(amounts) if progress else amounts):
        w = random_sparse(rows, cols, s, seed)
        with warnings.catch_warnings():  # "CSR support is in beta" is not news to the reader
            warnings.simplefilter("ignore", UserWarning)
            csr = w.to_sparse_csr()
        small = w[: max(1, int(round((1 - s) * rows)))].contiguous()
        out.append(SparseTiming(
            s,
            latency(lambda: w @ x, min_run_time=min_run_time).median_ms,
            latency(lambda: csr @ x, min_run_time=min_run_time).median_ms,
            latency(lambda: small @ x, min_run_time=min_run_time).median_ms,
        ))
    return out


def _timing(value, name):
    if not isinstance(value, SparseTiming):
        raise TypeError(f"{name} must be a SparseTiming, got {type(value).__name__}")
    return value


def crossover(timings: list[SparseTiming]) -> float | None:
    """The lowest measured sparsity at which CSR beats dense, or None if it never does.

    Args:
        timings: a list of :class:`SparseTiming`, in any order.
    Returns:
        A sparsity (float), or None.

    >>> crossover([SparseTiming(0.5, 1.0, 3.0, 0.5), SparseTiming(0.95, 1.0, 0.8, 0.05)])
    0.95
    >>> crossover([SparseTiming(0.5, 1.0, 3.0, 0.5)]) is None
    True
    """
    V.sequence_of(timings, "timings", _timing)
    for t in sorted(timings, key=lambda t: t.sparsity):
        if t.csr_ms < t.dense_ms:
            return t.sparsity
    return None
