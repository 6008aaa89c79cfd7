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


def _check_module(model):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def effective_parameters(model: nn.Module):
    """Yield ``(name, tensor)`` of the weights the forward pass really uses.

    For modules pruned with ``torch.nn.utils.prune`` this is ``weight = weight_orig * weight_mask``,
    not the dense ``weight_orig``.
    """
    _check_module(model)
    for mod_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            full = f"{mod_name}.{name}" if mod_name else name
            if name.endswith("_orig") and hasattr(module, name[:-5] + "_mask"):
                yield full[:-5], getattr(module, name[:-5])
            else:
                yield full, p


def count_params(model: nn.Module) -> int:
    """Number of parameters (dense count; masks do not change it)."""
    return sum(t.numel() for _, t in effective_parameters(model))


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameters after any pruning mask is applied."""
    return sum(int(torch.count_nonzero(t.detach())) for _, t in effective_parameters(model))


def sparsity(model: nn.Module) -> float:
    """Fraction of parameters that are exactly zero."""
    total = count_params(model)
    return 1.0 - count_nonzero(model) / total if total else 0.0


def _as_inputs(example):
    return example if isinstance(example, tuple) else (example,)


@torch.no_grad()
def count_macs(model: nn.Module, example_input) -> int:
    """Dense multiply-accumulates of one forward pass on ``example_input`` (FLOPs / 2)."""
    _check_module(model)
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(*_as_inputs(example_input))
    model.train(was_training)
    return counter.get_total_flops() // 2


def dense_bytes(model: nn.Module, include_buffers: bool = True) -> int:
    """Bytes of all parameters (and buffers) stored densely in their dtypes."""
    _check_module(model)
    total = sum(t.numel() * t.element_size() for _, t in effective_parameters(model))
    if include_buffers:
        total += sum(b.numel() * b.element_size() for name, b in model.named_buffers()
                     if not name.endswith("_mask"))
    return total


def sparse_bytes(model: nn.Module, value_bits: int = 32, index_bits: int = 32) -> int:
    """Bytes of the weights stored as CSR: non-zero values + column indices + row pointers."""
    if value_bits < 1 or index_bits < 1:
        raise ValueError("value_bits and index_bits must be >= 1")
    bits = 0
    for _, t in effective_parameters(model):
        t2 = t.detach().reshape(t.shape[0], -1) if t.dim() > 1 else t.detach().reshape(1, -1)
        nnz = int(torch.count_nonzero(t2))
        bits += nnz * (value_bits + index_bits) + (t2.shape[0] + 1) * index_bits
    return (bits + 7) // 8


def serialized_bytes(model: nn.Module) -> int:
    """Size of ``torch.save(model.state_dict())``: works for quantized modules too."""
    _check_module(model)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


@dataclass
class Latency:
    """Median and interquartile range of one forward pass, in milliseconds."""
    median_ms: float
    iqr_ms: float
    runs: int
    threads: int
    min_ms: float = float("nan")  # the least-disturbed block: robust to bursts of load elsewhere

    def __str__(self) -> str:
        return f"{self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f}, {self.runs} runs, {self.threads} threads)"


def latency(fn_or_model, example_input=None, *, threads: int = 2, min_run_time: float = 0.3,
            warmup: int = 3) -> Latency:
    """Time ``model(example_input)`` (or a zero-argument callable) with ``torch.utils.benchmark``."""
    import torch.utils.benchmark as benchmark

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if isinstance(fn_or_model, nn.Module):
        model = fn_or_model.eval()
        inputs = _as_inputs(example_input)
        fn = lambda: model(*inputs)  # noqa: E731
    elif callable(fn_or_model):
        fn = fn_or_model
    else:
        raise TypeError("latency() takes an nn.Module with an example input, or a callable")
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
        m = timer.blocked_autorange(min_run_time=min_run_time)
    return Latency(m.median * 1e3, m.iqr * 1e3, len(m.times), threads, min(m.times) * 1e3)


def compare(baseline: nn.Module, candidate: nn.Module, example_input, *, threads: int = 2,
            rounds: int = 3, min_run_time: float = 0.2) -> dict:
    """Ratios baseline / candidate for params, non-zeros, MACs, bytes and latency.

    Latency is measured in one process, alternating the two models ``rounds`` times. ``latency_ms``
    keeps each model's best median, so that a burst of background load hits both equally;
    ``latency_min_ms`` is each model's fastest single run, the least noisy estimate on a busy machine.
    """
    runs_a, runs_b = [], []
    for _ in range(rounds):
        runs_a.append(latency(baseline, example_input, threads=threads, min_run_time=min_run_time))
        runs_b.append(latency(candidate, example_input, threads=threads, min_run_time=min_run_time))

    def row(model, runs):
        return {"params": count_params(model), "nonzero": count_nonzero(model),
                "macs": count_macs(model, example_input), "bytes": dense_bytes(model),
                "latency_ms": min(r.median_ms for r in runs), "latency_min_ms": min(r.min_ms for r in runs)}

    a, b = row(baseline, runs_a), row(candidate, runs_b)
    ratios = {k: a[k] / b[k] if b[k] else float("inf") for k in a}
    return {"baseline": a, "candidate": b, "ratio": ratios}


def summary(model: nn.Module, example_input) -> dict:
    """Params, non-zeros, MACs, dense bytes and median latency of one model."""
    return {"params": count_params(model), "nonzero": count_nonzero(model),
            "macs": count_macs(model, example_input), "bytes": dense_bytes(model),
            "latency_ms": latency(model, example_input).median_ms}
