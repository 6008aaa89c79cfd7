"""Linear (uniform) quantization from scratch, fake-quant with a straight-through estimator, PTQ
calibration, ternary weights, and real int8 through ``torch.ao.quantization``.

The affine map of Jacob et al. (2018): ``q = clamp(round(x / s) + z, qmin, qmax)`` and
``x_hat = s * (q - z)``. Symmetric quantization fixes ``z = 0`` and a signed, restricted range
``[-(2^(b-1) - 1), 2^(b-1) - 1]``; asymmetric uses ``[0, 2^b - 1]`` and a zero point so that
``x = 0`` is exact. The ranges come from the tensor itself (weights) or from calibration
batches (activations: min-max or a percentile that ignores outliers).
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


# ---------------------------------------------------------------------------------------------
# The affine map
# ---------------------------------------------------------------------------------------------

def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise TypeError(f"bits must be an int, got {type(bits).__name__}")
    if bits < 1 or bits > 16:
        raise ValueError(f"bits must be in 1..16, got {bits}")
    return bits


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """Integer range: signed restricted ``[-(2^(b-1)-1), 2^(b-1)-1]`` or unsigned ``[0, 2^b-1]``.

    The restricted signed range keeps +-x symmetric (so 2 bits give the ternary ``{-1, 0, 1}``);
    1-bit weights are the binary case (``effnn.binary``), not a symmetric affine grid.
    """
    bits = _check_bits(bits)
    if symmetric:
        if bits < 2:
            raise ValueError(f"bits must be >= 2 for symmetric quantization, got {bits}")
        top = 2 ** (bits - 1) - 1
        return -top, top
    return 0, 2 ** bits - 1


def qparams(x_min, x_max, bits: int, *, symmetric: bool = True):
    """Scale and zero point that map ``[x_min, x_max]`` (tensors or floats) onto the integer range.

    The range is widened to contain 0, so zero (padding, ReLU outputs, pruned weights) stays exact.
    """
    qmin, qmax = qrange(bits, symmetric)
    x_min = torch.as_tensor(x_min, dtype=torch.float32)
    x_max = torch.as_tensor(x_max, dtype=torch.float32)
    if torch.any(x_min > x_max):
        raise ValueError("x_min must be <= x_max")
    x_min = torch.minimum(x_min, torch.zeros_like(x_min))
    x_max = torch.maximum(x_max, torch.zeros_like(x_max))
    tiny = torch.finfo(torch.float32).eps
    if symmetric:
        scale = torch.maximum(x_max, -x_min) / qmax
        zero_point = torch.zeros_like(scale, dtype=torch.int64)
    else:
        scale = (x_max - x_min) / (qmax - qmin)
        zero_point = torch.round(qmin - x_min / scale.clamp_min(tiny)).to(torch.int64).clamp(qmin, qmax)
    return scale.clamp_min(tiny), zero_point


def _bcast(t: torch.Tensor, like: torch.Tensor, axis: int | None) -> torch.Tensor:
    if axis is None or t.dim() == 0:
        return t
    shape = [1] * like.dim()
    shape[axis] = -1
    return t.reshape(shape)


def quantize(x: torch.Tensor, scale, zero_point, bits: int, *, symmetric: bool = True,
             axis: int | None = None) -> torch.Tensor:
    """``clamp(round(x / scale) + zero_point)`` as int64. ``axis`` is the per-channel dim."""
    qmin, qmax = qrange(bits, symmetric)
    scale = _bcast(torch.as_tensor(scale, dtype=torch.float32), x, axis)
    zero_point = _bcast(torch.as_tensor(zero_point), x, axis)
    return (torch.round(x / scale) + zero_point).clamp(qmin, qmax).to(torch.int64)


def dequantize(q: torch.Tensor, scale, zero_point, *, axis: int | None = None) -> torch.Tensor:
    """``scale * (q - zero_point)``: back to floats."""
    scale = _bcast(torch.as_tensor(scale, dtype=torch.float32), q, axis)
    zero_point = _bcast(torch.as_tensor(zero_point), q, axis)
    return scale * (q - zero_point).to(torch.float32)


def tensor_qparams(x: torch.Tensor, bits: int, *, symmetric: bool = True, axis: int | None = None):
    """Min-max scale and zero point of ``x``: one pair, or one per slice along ``axis``."""
    if axis is None:
        return qparams(x.min(), x.max(), bits, symmetric=symmetric)
    flat = x.detach().transpose(0, axis).reshape(x.shape[axis], -1)
    return qparams(flat.min(1).values, flat.max(1).values, bits, symmetric=symmetric)


def quant_error(x: torch.Tensor, bits: int, *, symmetric: bool = True, axis: int | None = None) -> float:
    """Mean squared error of a min-max quantize-dequantize round trip."""
    scale, zp = tensor_qparams(x, bits, symmetric=symmetric, axis=axis)
    x_hat = dequantize(quantize(x, scale, zp, bits, symmetric=symmetric, axis=axis), scale, zp, axis=axis)
    return float(((x - x_hat) ** 2).mean())


# ---------------------------------------------------------------------------------------------
# Fake quantization and the straight-through estimator
# ---------------------------------------------------------------------------------------------

class _FakeQuantSTE(torch.autograd.Function):
    """Forward: quantize-dequantize. Backward: identity inside the clamping range, zero outside
    (the "clipped" straight-through estimator of Bengio et al. 2013 / Hubara et al. 2016)."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        q = torch.round(x / scale) + zero_point
        ctx.save_for_backward((q >= qmin) & (q <= qmax))
        return scale * (q.clamp(qmin, qmax) - zero_point)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None


def fake_quantize(x: torch.Tensor, bits: int, *, symmetric: bool = True, axis: int | None = None,
                  scale=None, zero_point=None) -> torch.Tensor:
    """Quantize-dequantize ``x`` in float with an STE gradient (min-max range unless given)."""
    qmin, qmax = qrange(bits, symmetric)
    if scale is None:
        scale, zero_point = tensor_qparams(x.detach(), bits, symmetric=symmetric, axis=axis)
    scale = _bcast(torch.as_tensor(scale, dtype=torch.float32), x, axis)
    zero_point = _bcast(torch.as_tensor(zero_point, dtype=torch.float32), x, axis)
    return _FakeQuantSTE.apply(x, scale, zero_point, qmin, qmax)


class RangeObserver(nn.Module):
    """Tracks the activation range over calibration batches.

    ``method="minmax"`` keeps the running min and max; ``"percentile"`` keeps the mean over batches
    of the ``(100 - p)``-th and ``p``-th percentiles, clipping rare outliers to spend levels where
    the mass is.
    """

    def __init__(self, method: str = "minmax", percentile: float = 99.9):
        super().__init__()
        if method not in ("minmax", "percentile"):
            raise ValueError(f"method must be 'minmax' or 'percentile', got {method!r}")
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.method, self.percentile = method, percentile
        self.register_buffer("lo", torch.tensor(float("inf")))
        self.register_buffer("hi", torch.tensor(float("-inf")))
        self.batches = 0

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Update the range with one batch; return the batch unchanged."""
        flat = x.detach().float().flatten()
        if self.method == "minmax":
            self.lo = torch.minimum(self.lo, flat.min())
            self.hi = torch.maximum(self.hi, flat.max())
        else:
            q = torch.quantile(flat[:2_000_000], torch.tensor([1 - self.percentile / 100, self.percentile / 100]))
            n = self.batches
            lo, hi = (q[0], q[1]) if n == 0 else ((self.lo * n + q[0]) / (n + 1), (self.hi * n + q[1]) / (n + 1))
            self.lo, self.hi = lo, hi
        self.batches += 1
        return x

    @property
    def ready(self) -> bool:
        return self.batches > 0


class QuantWrapper(nn.Module):
    """A Linear or Conv2d whose weights (symmetric, per output channel or per tensor) and input
    activations (asymmetric, per tensor, range from calibration) pass through fake quantization.

    ``mode``: ``"float"`` (off), ``"calibrate"`` (observe inputs, compute in float) or ``"quant"``.
    In training the weight fake-quant uses the STE, which is quantization-aware training (QAT).
    """

    def __init__(self, layer: nn.Module, w_bits: int = 8, a_bits: int | None = 8, *,
                 per_channel: bool = True, observer: str = "minmax", percentile: float = 99.9):
        super().__init__()
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")
        self.layer = layer
        self.w_bits = _check_bits(w_bits)
        self.a_bits = None if a_bits is None else _check_bits(a_bits)
        self.per_channel = per_channel
        self.observer = RangeObserver(observer, percentile)
        self.mode = "float"

    def quantized_weight(self) -> torch.Tensor:
        axis = 0 if self.per_channel else None
        return fake_quantize(self.layer.weight, self.w_bits, symmetric=True, axis=axis)

    def forward(self, x):
        if self.mode == "calibrate":
            self.observer(x)
            return self.layer(x)
        if self.mode == "float":
            return self.layer(x)
        if self.a_bits is not None:
            if not self.observer.ready:
                raise RuntimeError("calibrate the model before switching activations to 'quant'")
            scale, zp = qparams(self.observer.lo, self.observer.hi, self.a_bits, symmetric=False)
            x = fake_quantize(x, self.a_bits, symmetric=False, scale=scale, zero_point=zp)
        w = self.quantized_weight()
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, w, self.layer.bias)
        c = self.layer
        return F.conv2d(x, w, c.bias, c.stride, c.padding, c.dilation, c.groups)


def quant_layers(model: nn.Module) -> list[QuantWrapper]:
    return [m for m in model.modules() if isinstance(m, QuantWrapper)]


def wrap_for_quant(model: nn.Module, w_bits: int = 8, a_bits: int | None = 8, **kwargs) -> nn.Module:
    """A deep copy of ``model`` with every Linear / Conv2d wrapped in a :class:`QuantWrapper`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    _check_bits(w_bits)
    model = copy.deepcopy(model)

    def swap(parent):
        for name, child in parent.named_children():
            if isinstance(child, (nn.Linear, nn.Conv2d)):
                setattr(parent, name, QuantWrapper(child, w_bits, a_bits, **kwargs))
            else:
                swap(child)

    swap(model)
    return model


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    if mode not in ("float", "calibrate", "quant"):
        raise ValueError(f"mode must be 'float', 'calibrate' or 'quant', got {mode!r}")
    for layer in quant_layers(model):
        layer.mode = mode
    return model


@torch.no_grad()
def calibrate(model: nn.Module, data, batches: int = 8, batch_size: int = 128) -> nn.Module:
    """Run up to ``batches`` batches of ``data`` through ``model`` to fix activation ranges."""
    from .train import as_loader

    if batches < 1:
        raise ValueError(f"batches must be >= 1, got {batches}")
    was_training = model.training
    model.eval()
    set_mode(model, "calibrate")
    for i, (x, _) in enumerate(as_loader(data, batch_size, shuffle=False)):
        if i >= batches:
            break
        model(x)
    set_mode(model, "quant")
    model.train(was_training)
    return model


def ptq(model: nn.Module, calib_data, w_bits: int, a_bits: int | None = None, *,
        observer: str = "minmax", per_channel: bool = True, batches: int = 8) -> nn.Module:
    """Post-training quantization: wrap, calibrate, and return the fake-quantized copy."""
    qmodel = wrap_for_quant(model, w_bits, a_bits, per_channel=per_channel, observer=observer)
    return calibrate(qmodel, calib_data, batches=batches)


def qat(model: nn.Module, train_data, w_bits: int, a_bits: int | None, cfg=None, *,
        per_channel: bool = True, observer: str = "minmax", batches: int = 8) -> nn.Module:
    """Quantization-aware training: start from PTQ, then fine-tune through the fake quantizers.

    Weight ranges follow the weights at every step; activation ranges stay at their calibrated
    values; gradients pass the rounding by the straight-through estimator.
    """
    from .train import TrainConfig, fit

    qmodel = ptq(model, train_data, w_bits, a_bits, per_channel=per_channel, observer=observer,
                 batches=batches)
    fit(qmodel, train_data, cfg or TrainConfig(epochs=5, lr=1e-4), desc=f"QAT W{w_bits}A{a_bits}")
    return qmodel


# ---------------------------------------------------------------------------------------------
# Ternary weights (Trained Ternary Quantization, Zhu et al. 2017)
# ---------------------------------------------------------------------------------------------

class _TernarySTE(torch.autograd.Function):
    """Forward ``w_p`` / 0 / ``-w_n`` by threshold; backward as in TTQ: the scales get the summed
    gradient of their positions, the latent weights get the gradient scaled by their level's
    scale (1 in the zero band)."""

    @staticmethod
    def forward(ctx, w, w_p, w_n, delta):
        pos, neg = w > delta, w < -delta
        ctx.save_for_backward(pos, neg, w_p, w_n)
        return w_p * pos - w_n * neg

    @staticmethod
    def backward(ctx, grad):
        pos, neg, w_p, w_n = ctx.saved_tensors
        g_wp = (grad * pos).sum().reshape(w_p.shape)
        g_wn = -(grad * neg).sum().reshape(w_n.shape)
        scale = torch.where(pos, w_p, torch.where(neg, w_n, torch.ones_like(w_p)))
        return grad * scale, g_wp, g_wn, None


def ternarize(w: torch.Tensor, w_p, w_n, threshold: float = 0.05) -> torch.Tensor:
    """TTQ levels ``{-w_n, 0, +w_p}`` with ``delta = threshold * max|w|`` (differentiable)."""
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    delta = threshold * w.detach().abs().max()
    return _TernarySTE.apply(w, torch.as_tensor(w_p), torch.as_tensor(w_n), delta)


class TernaryLinear(nn.Linear):
    """A Linear layer with trained ternary weights: latent fp32 weights, learned ``w_p`` and ``w_n``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, threshold: float = 0.05):
        super().__init__(in_features, out_features, bias)
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        self.threshold = threshold
        self.w_p = nn.Parameter(torch.tensor(1.0))
        self.w_n = nn.Parameter(torch.tensor(1.0))

    @classmethod
    def from_linear(cls, layer: nn.Linear, threshold: float = 0.05) -> "TernaryLinear":
        """Start from a trained layer: scales initialised to the mean |w| of each side."""
        t = cls(layer.in_features, layer.out_features, layer.bias is not None, threshold)
        with torch.no_grad():
            t.weight.copy_(layer.weight / layer.weight.abs().max())  # TTQ normalises to [-1, 1]
            if layer.bias is not None:
                t.bias.copy_(layer.bias)
            w, scale = t.weight, layer.weight.abs().max()
            delta = threshold * w.abs().max()
            t.w_p.fill_(float(w[w > delta].mean() * scale) if (w > delta).any() else float(scale))
            t.w_n.fill_(float(-w[w < -delta].mean() * scale) if (w < -delta).any() else float(scale))
        return t

    def ternary_weight(self) -> torch.Tensor:
        return ternarize(self.weight, self.w_p, self.w_n, self.threshold)

    def forward(self, x):
        return F.linear(x, self.ternary_weight(), self.bias)

    def sparsity(self) -> float:
        with torch.no_grad():
            return float((self.ternary_weight() == 0).float().mean())


def ternarize_model(model: nn.Module, threshold: float = 0.05, skip_first_last: bool = False) -> nn.Module:
    """A copy of ``model`` whose Linear layers are :class:`TernaryLinear` (optionally not the first/last)."""
    model = copy.deepcopy(model)
    linears = [(p, n) for p in model.modules() for n, c in p.named_children() if isinstance(c, nn.Linear)]
    for i, (parent, name) in enumerate(linears):
        if skip_first_last and i in (0, len(linears) - 1):
            continue
        setattr(parent, name, TernaryLinear.from_linear(getattr(parent, name), threshold))
    return model


def ternary_sparsity(model: nn.Module) -> float:
    """Fraction of zero weights over all :class:`TernaryLinear` layers."""
    layers = [m for m in model.modules() if isinstance(m, TernaryLinear)]
    if not layers:
        raise ValueError("model has no TernaryLinear layers")
    with torch.no_grad():
        zeros = sum(int((m.ternary_weight() == 0).sum()) for m in layers)
    return zeros / sum(m.weight.numel() for m in layers)


def clip_latent(model: nn.Module, bound: float = 1.0) -> None:
    """Keep the latent weights of ternary layers in ``[-bound, bound]`` (an ``after_step`` hook)."""
    for m in model.modules():
        if isinstance(m, TernaryLinear):
            m.weight.clamp_(-bound, bound)


# ---------------------------------------------------------------------------------------------
# Real int8 through torch.ao.quantization
# ---------------------------------------------------------------------------------------------

def _silence_ao():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
    warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")


def dynamic_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 (weights int8, activations quantized on the fly) for every Linear."""
    from torch.ao.quantization import quantize_dynamic

    _silence_ao()
    return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


def _fusable(model: nn.Module) -> list[list[str]]:
    """Names of (Conv2d|Linear, [BatchNorm2d], ReLU) runs inside Sequentials, for ``fuse_modules``."""
    groups = []
    for prefix, seq in model.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        items = list(seq.named_children())
        i = 0
        while i < len(items):
            name, mod = items[i]
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                group = [name]
                j = i + 1
                if isinstance(mod, nn.Conv2d) and j < len(items) and isinstance(items[j][1], nn.BatchNorm2d):
                    group.append(items[j][0])
                    j += 1
                if j < len(items) and isinstance(items[j][1], nn.ReLU):
                    group.append(items[j][0])
                    j += 1
                if len(group) > 1:
                    groups.append([f"{prefix}.{n}" if prefix else n for n in group])
                i = j
            else:
                i += 1
    return groups


class _QuantStubbed(nn.Module):
    """``QuantStub -> model -> DeQuantStub``: where tensors enter and leave the int8 world."""

    def __init__(self, model: nn.Module):
        super().__init__()
        from torch.ao.quantization import DeQuantStub, QuantStub

        self.quant, self.model, self.dequant = QuantStub(), model, DeQuantStub()

    def forward(self, x):
        return self.dequant(self.model(self.quant(x)))


@torch.no_grad()
def static_int8(model: nn.Module, calib_data, *, backend: str = "x86", batches: int = 8,
                batch_size: int = 128) -> nn.Module:
    """Eager-mode static int8: fuse conv/linear + BN + ReLU, insert observers, calibrate, convert.

    Works for models whose layers sit in ``nn.Sequential`` blocks with a plain forward (LeNet5,
    MLPs). ``backend`` is ``"x86"`` (fbgemm kernels; fast here) or ``"qnnpack"`` (ARM).
    """
    import torch.ao.quantization as tq

    if backend not in ("x86", "fbgemm", "qnnpack"):
        raise ValueError(f"backend must be 'x86', 'fbgemm' or 'qnnpack', got {backend!r}")
    from .train import as_loader

    _silence_ao()
    torch.backends.quantized.engine = backend
    m = copy.deepcopy(model).eval()
    groups = _fusable(m)
    if groups:
        m = tq.fuse_modules(m, groups)
    m = _QuantStubbed(m).eval()
    m.qconfig = tq.get_default_qconfig(backend)
    tq.prepare(m, inplace=True)
    for i, (x, _) in enumerate(as_loader(calib_data, batch_size, shuffle=False)):
        if i >= batches:
            break
        m(x)
    return tq.convert(m, inplace=False)


@dataclass
class Int8Report:
    """fp32 vs int8 in one process: latency (ms), serialized size (bytes) and accuracy."""
    fp32_ms: float
    int8_ms: float
    fp32_bytes: int
    int8_bytes: int
    acc_fp32: float
    acc_int8: float

    @property
    def speedup(self) -> float:
        return self.fp32_ms / self.int8_ms

    @property
    def size_ratio(self) -> float:
        return self.fp32_bytes / self.int8_bytes

    def as_dict(self) -> dict:
        return {"speedup": self.speedup, "size_ratio": self.size_ratio, "acc_fp32": self.acc_fp32,
                "acc_int8": self.acc_int8, "fp32_ms": self.fp32_ms, "int8_ms": self.int8_ms,
                "fp32_bytes": self.fp32_bytes, "int8_bytes": self.int8_bytes}


def compare_int8(fp32: nn.Module, int8: nn.Module, example_input, test_data, *, rounds: int = 3,
                 min_run_time: float = 0.2, threads: int = 2) -> Int8Report:
    """Time both models alternately, ``rounds`` times each, and keep each model's fastest timed
    block (best-of-N, as ``timeit`` advises: on a shared CPU the slower blocks measure the other
    programs); plus size and accuracy of both."""
    from .measure import latency, serialized_bytes
    from .train import accuracy

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    a, b = [], []
    for _ in range(rounds):
        a.append(latency(fp32, example_input, threads=threads, min_run_time=min_run_time).min_ms)
        b.append(latency(int8, example_input, threads=threads, min_run_time=min_run_time).min_ms)
    return Int8Report(min(a), min(b), serialized_bytes(fp32), serialized_bytes(int8),
                      accuracy(fp32, test_data), accuracy(int8, test_data))
