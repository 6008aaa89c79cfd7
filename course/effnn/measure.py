"""What a model costs: parameters, non-zeros, MACs, bytes and CPU latency.

MACs come from ``torch.utils.flop_counter`` (it sees matmuls inside attention too) and are
reported as multiply-accumulates, i.e. FLOPs / 2. Latency uses ``torch.utils.benchmark`` with a
fixed thread count and reports the median, because CPU timings have long tails.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import torch
from torch import nn

from . import validate as V
from ._deprecate import renamed_kwargs


def _check_module(model, name: str = "model"):
    V.module(model, name)


def _check_input(example_inputs, name: str = "example_inputs"):
    """A tensor, or a tuple of tensors (positional inputs)."""
    items = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    if not items:
        raise ValueError(f"{name} is an empty tuple")
    for i, t in enumerate(items):
        if not torch.is_tensor(t):
            where = name if len(items) == 1 and not isinstance(example_inputs, tuple) else f"{name}[{i}]"
            raise TypeError(f"{where} must be a torch.Tensor (or a tuple of them), got {type(t).__name__}")
    return example_inputs


def _run(model, inputs, name: str = "example_inputs"):
    """``model(*inputs)``, with a shape mismatch reported as a bad ``example_inputs``."""
    try:
        return model(*inputs)
    except (RuntimeError, ValueError, IndexError) as err:
        if isinstance(err, ValueError) and name in str(err):
            raise
        shapes = [tuple(t.shape) for t in inputs]
        raise ValueError(f"{name} with shape(s) {shapes} does not fit the model: {err}") from err


def effective_parameters(model: nn.Module):
    """Yield ``(name, tensor)`` of the weights the forward pass really uses.

    Reads ``model``; does not change its weights.

    For modules pruned with ``torch.nn.utils.prune`` this is ``weight = weight_orig * weight_mask``,
    not the dense ``weight_orig``.

    Args:
        model: read only.
    Returns:
        An iterator of ``(name, tensor)``: a pruned weight appears once, under its plain name
        (``"0.weight"``), as the masked tensor; the model is checked at the call, not at the first item.

    >>> from effnn.prune import magnitude_prune
    >>> w = dict(effective_parameters(magnitude_prune(nn.Sequential(nn.Linear(4, 4)), 0.5)))
    >>> sorted(w), int((w["0.weight"] == 0).sum())
    (['0.bias', '0.weight'], 8)
    """
    _check_module(model)
    return _effective(model)  # checked now, not at the first next()


def _effective(model: nn.Module):
    for mod_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            full = f"{mod_name}.{name}" if mod_name else name
            if name.endswith("_orig") and hasattr(module, name[:-5] + "_mask"):
                yield full[:-5], getattr(module, name[:-5])
            else:
                yield full, p


def count_params(model: nn.Module) -> int:
    """Number of parameters (dense count; masks do not change it).

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
    Returns:
        The number of parameter entries, an int (a pruned weight counts in full, zeros included).

    >>> count_params(nn.Linear(3, 2))
    8
    """
    return sum(t.numel() for _, t in effective_parameters(model))


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameters after any pruning mask is applied.

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
    Returns:
        The number of non-zero parameter entries after masks, an int.

    >>> count_nonzero(nn.Linear(2, 2, bias=False).requires_grad_(False).apply(lambda m: m.weight.fill_(0)))
    0
    """
    return sum(int(torch.count_nonzero(t.detach())) for _, t in effective_parameters(model))


def sparsity(model: nn.Module) -> float:
    """Fraction of parameters that are exactly zero (0.0 for a model without parameters).

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
    Returns:
        ``1 - count_nonzero / count_params``, a float in [0, 1].

    >>> sparsity(nn.Linear(2, 2, bias=False).requires_grad_(False).apply(lambda m: nn.init.zeros_(m.weight)))
    1.0
    """
    total = count_params(model)
    return 1.0 - count_nonzero(model) / total if total else 0.0


def _as_inputs(example):
    return example if isinstance(example, tuple) else (example,)


@renamed_kwargs(example_input="example_inputs")
@torch.no_grad()
def count_macs(model: nn.Module, example_inputs) -> int:
    """Dense multiply-accumulates of one forward pass on ``example_inputs`` (FLOPs / 2).

    Reads ``model``; does not change its weights.

    Args:
        model: any module (left in its train/eval mode).
        example_inputs: a tensor, or a tuple of tensors for a multi-input forward.
    Returns:
        MACs as an int.

    >>> count_macs(nn.Linear(3, 2), torch.zeros(4, 3))
    24
    """
    _check_module(model)
    _check_input(example_inputs)
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            _run(model, _as_inputs(example_inputs))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def dense_bytes(model: nn.Module, include_buffers: bool = True) -> int:
    """Bytes of all parameters (and buffers) stored densely in their dtypes.

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
        include_buffers: also count buffers (BatchNorm statistics...), except pruning masks.
    Returns:
        Bytes, an int: each tensor's ``numel * element_size`` (masks and ``*_orig`` copies are not counted twice).

    >>> dense_bytes(nn.Linear(3, 2))
    32
    """
    _check_module(model)
    V.flag(include_buffers, "include_buffers")
    total = sum(t.numel() * t.element_size() for _, t in effective_parameters(model))
    if include_buffers:
        total += sum(b.numel() * b.element_size() for name, b in model.named_buffers()
                     if not name.endswith("_mask"))
    return total


def sparse_bytes(model: nn.Module, value_bits: int = 32, index_bits: int = 32) -> int:
    """Bytes of the weights stored as CSR: non-zero values + column indices + row pointers.

    Reads ``model``; does not change its weights.

    Args:
        model: read only; every parameter tensor (weights and biases) is counted as CSR rows.
        value_bits, index_bits: bits per stored value and per index, >= 1 (32 each by default).
    Returns:
        bytes, an int (bits rounded up).

    At half sparsity CSR is not yet smaller than dense fp32 (64 bytes of values for 4x4): each
    kept value also pays its index.

    >>> from effnn.prune import magnitude_prune
    >>> sparse_bytes(nn.Sequential(nn.Linear(4, 4))), sparse_bytes(magnitude_prune(nn.Sequential(nn.Linear(4, 4)), 0.5))
    (188, 124)
    """
    _check_module(model)
    V.positive_int(value_bits, "value_bits")
    V.positive_int(index_bits, "index_bits")
    bits = 0
    for _, t in effective_parameters(model):
        t2 = t.detach().reshape(t.shape[0], -1) if t.dim() > 1 else t.detach().reshape(1, -1)
        nnz = int(torch.count_nonzero(t2))
        bits += nnz * (value_bits + index_bits) + (t2.shape[0] + 1) * index_bits
    return (bits + 7) // 8


def serialized_bytes(model: nn.Module) -> int:
    """Size of ``torch.save(model.state_dict())``: works for quantized modules too.

    Reads ``model``; does not change its weights.

    Args:
        model: read only; any module with a ``state_dict`` (int8 models too).
    Returns:
        Bytes of the saved state dict, an int (pruned models hold ``weight_orig`` and ``weight_mask``).

    >>> serialized_bytes(nn.Linear(3, 2)) > dense_bytes(nn.Linear(3, 2))  # plus the file's framing
    True
    """
    _check_module(model)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


@dataclass
class Latency:
    """Median and interquartile range of one forward pass, in milliseconds.

    Returned by :func:`latency`; ``min_ms`` is the fastest block, the least disturbed by other load.

    Args:
        median_ms: median time of one call, in ms.
        iqr_ms: interquartile range of the timed blocks, in ms.
        runs: the number of timed blocks.
        threads: torch threads used.
        min_ms: the fastest block, in ms (NaN when unknown).

    >>> print(Latency(median_ms=1.5, iqr_ms=0.1, runs=20, threads=2))
    1.500 ms (IQR 0.100, 20 runs, 2 threads)
    """
    median_ms: float
    iqr_ms: float
    runs: int
    threads: int
    min_ms: float = float("nan")  # the least-disturbed block: robust to bursts of load elsewhere

    def __str__(self) -> str:
        return f"{self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f}, {self.runs} runs, {self.threads} threads)"


@renamed_kwargs(example_input="example_inputs")
def latency(fn_or_model, example_inputs=None, *, threads: int = 2, min_run_time: float = 0.3,
            warmup: int = 3) -> Latency:
    """Time ``model(example_inputs)`` (or a zero-argument callable) with ``torch.utils.benchmark``.

    Args:
        fn_or_model: an ``nn.Module`` (put in eval mode) with ``example_inputs``, or a callable.
        example_inputs: a tensor, or a tuple of tensors, for a module; ignored for a callable.
        threads: torch threads for the timing (int >= 1).
        min_run_time: seconds of timing, a finite number > 0 (NaN or inf would never stop).
        warmup: untimed calls first (int >= 0).
    Returns:
        a :class:`Latency` (median, IQR and fastest block, in ms).

    >>> latency(lambda: None, min_run_time=0.01).runs >= 1
    True
    """
    import torch.utils.benchmark as benchmark

    V.positive_int(threads, "threads")
    V.number(min_run_time, "min_run_time", low=0, low_open=True)
    V.integer(warmup, "warmup", low=0)
    if isinstance(fn_or_model, nn.Module):
        if example_inputs is None:
            raise TypeError("example_inputs is required when timing an nn.Module")
        _check_input(example_inputs)
        model = fn_or_model.eval()
        inputs = _as_inputs(example_inputs)
        fn = lambda: model(*inputs)  # noqa: E731
        first = lambda: _run(model, inputs)  # noqa: E731  (a shape mismatch fails clearly, not in the timer)
    elif callable(fn_or_model):
        fn = first = fn_or_model
    else:
        raise TypeError(f"fn_or_model must be an nn.Module (with example_inputs) or a callable, "
                        f"got {type(fn_or_model).__name__}")
    with torch.inference_mode():
        for i in range(max(warmup, 1) if first is not fn else warmup):
            (first if i == 0 else fn)()
        timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
        m = timer.blocked_autorange(min_run_time=min_run_time)
    return Latency(m.median * 1e3, m.iqr * 1e3, len(m.times), threads, min(m.times) * 1e3)


@renamed_kwargs(example_input="example_inputs")
def compare(baseline: nn.Module, candidate: nn.Module, example_inputs, *, threads: int = 2,
            rounds: int = 3, min_run_time: float = 0.2) -> dict:
    """Ratios baseline / candidate for params, non-zeros, MACs, bytes and latency.

    Reads both models; changes neither.

    Latency is measured in one process, alternating the two models ``rounds`` times (three untimed
    calls each before the first round, one before each later one). ``latency_ms``
    keeps each model's best median, so that a burst of background load hits both equally;
    ``latency_min_ms`` is each model's fastest single run, the least noisy estimate on a busy machine.

    Args:
        baseline: the reference model; put in eval mode, weights unchanged.
        candidate: the model compared against it; put in eval mode, weights unchanged.
        example_inputs: a tensor, or a tuple of tensors, both models accept.
        threads: torch threads for the timing, >= 1.
        rounds: alternations of the two timings, >= 1.
        min_run_time: seconds per timing, a finite number > 0.

    Returns:
        ``{"baseline": {...}, "candidate": {...}, "ratio": {...}}`` with params, non-zeros, MACs,
        bytes and latencies; ``ratio`` is baseline / candidate (above 1: the candidate is smaller or faster).

    >>> r = compare(nn.Linear(8, 8), nn.Linear(8, 2), torch.zeros(1, 8), rounds=1, min_run_time=0.01)
    >>> r["ratio"]["params"], r["ratio"]["macs"]  # 72 vs 18 parameters, 64 vs 16 MACs
    (4.0, 4.0)
    """
    _check_module(baseline, "baseline")
    _check_module(candidate, "candidate")
    _check_input(example_inputs)
    V.positive_int(threads, "threads")
    V.positive_int(rounds, "rounds")
    V.number(min_run_time, "min_run_time", low=0, low_open=True)
    runs_a, runs_b = [], []
    for i in range(rounds):
        # after the first round a model was run a moment ago: one call re-warms what the other evicted
        warm = 3 if i == 0 else 1
        runs_a.append(latency(baseline, example_inputs, threads=threads, min_run_time=min_run_time, warmup=warm))
        runs_b.append(latency(candidate, example_inputs, threads=threads, min_run_time=min_run_time, warmup=warm))

    def row(model, runs):
        return {"params": count_params(model), "nonzero": count_nonzero(model),
                "macs": count_macs(model, example_inputs), "bytes": dense_bytes(model),
                "latency_ms": min(r.median_ms for r in runs), "latency_min_ms": min(r.min_ms for r in runs)}

    a, b = row(baseline, runs_a), row(candidate, runs_b)
    ratios = {k: a[k] / b[k] if b[k] else float("inf") for k in a}
    return {"baseline": a, "candidate": b, "ratio": ratios}


@renamed_kwargs(example_input="example_inputs")
def summary(model: nn.Module, example_inputs) -> dict:
    """Params, non-zeros, MACs, dense bytes and median latency of one model.

    Reads ``model``; does not change its weights.

    Args:
        model: put in eval mode by the timing; weights unchanged.
        example_inputs: a tensor, or a tuple of tensors, the model accepts.

    Returns:
        ``{"params", "nonzero", "macs", "bytes", "latency_ms"}``.

    >>> s = summary(nn.Linear(4, 4), torch.zeros(1, 4)); s["params"], s["macs"], s["bytes"], s["latency_ms"] > 0
    (20, 16, 80, True)
    """
    _check_module(model)
    _check_input(example_inputs)
    return {"params": count_params(model), "nonzero": count_nonzero(model),
            "macs": count_macs(model, example_inputs), "bytes": dense_bytes(model),
            "latency_ms": latency(model, example_inputs).median_ms}
