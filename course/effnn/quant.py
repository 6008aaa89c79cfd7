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

from . import validate as V
from ._deprecate import renamed_kwargs


# ---------------------------------------------------------------------------------------------
# The affine map
# ---------------------------------------------------------------------------------------------

def _check_bits(bits, name: str = "bits") -> int:
    return V.bits(bits, name)


def _check_axis(x: torch.Tensor, axis, name: str = "axis"):
    if axis is None:
        return None
    axis = V.integer(axis, name)
    if not -x.dim() <= axis < max(x.dim(), 1):
        raise ValueError(f"{name} must be None or a dimension of the tensor (ndim {x.dim()}), got {axis}")
    return axis


def _check_float(x, name: str = "x") -> torch.Tensor:
    V.tensor(x, name, floating=True, min_numel=1)
    if not bool(torch.isfinite(x.detach()).all()):
        raise ValueError(f"{name} contains NaN or infinity")
    return x


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """Integer range: signed restricted ``[-(2^(b-1)-1), 2^(b-1)-1]`` or unsigned ``[0, 2^b-1]``.

    The restricted signed range keeps +-x symmetric (so 2 bits give the ternary ``{-1, 0, 1}``);
    1-bit weights are the binary case (``effnn.binary``), not a symmetric affine grid.

    Args:
        bits: an int in [1, 16] (>= 2 when ``symmetric``).
        symmetric: signed restricted range (True) or unsigned (False).
    Returns:
        ``(qmin, qmax)``, ints.

    >>> qrange(8, symmetric=True), qrange(4, symmetric=False)
    ((-127, 127), (0, 15))
    """
    bits = _check_bits(bits)
    V.flag(symmetric, "symmetric")
    if symmetric:
        if bits < 2:
            raise ValueError(f"bits must be >= 2 for symmetric quantization, got {bits}")
        top = 2 ** (bits - 1) - 1
        return -top, top
    return 0, 2 ** bits - 1


def qparams(x_min, x_max, bits: int, *, symmetric: bool = True):
    """Scale and zero point that map ``[x_min, x_max]`` (tensors or floats) onto the integer range.

    The range is widened to contain 0, so zero (padding, ReLU outputs, pruned weights) stays exact.

    Args:
        x_min: the range's low end: a number or a float tensor (one value per channel).
        x_max: the high end, shaped like ``x_min``, ``>= x_min``.
        bits: an int in [1, 16] (>= 2 when ``symmetric``).
        symmetric: zero point 0 and a signed range, or an asymmetric unsigned range.
    Returns:
        ``(scale, zero_point)``: float32 tensor(s) > 0 and int64 tensor(s), shaped like the range ends.

    >>> scale, zp = qparams(-1.0, 1.0, 8)
    >>> round(float(scale) * 127, 6), int(zp)
    (1.0, 0)
    """
    qmin, qmax = qrange(bits, symmetric)
    x_min = _as_range(x_min, "x_min")
    x_max = _as_range(x_max, "x_max")
    if x_min.shape != x_max.shape and x_min.dim() and x_max.dim():
        raise ValueError(f"x_min {tuple(x_min.shape)} and x_max {tuple(x_max.shape)} differ in shape")
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


def _as_range(value, name: str) -> torch.Tensor:
    """A number or a float tensor of range ends, finite."""
    if torch.is_tensor(value):
        out = value.detach().to(torch.float32)
    else:
        out = torch.tensor(V.number(value, name), dtype=torch.float32)
    if out.numel() == 0:
        raise ValueError(f"{name} is empty")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{name} must be finite, got NaN or infinity")
    return out


def _check_scale(scale, zero_point, x: torch.Tensor, axis):
    """``scale`` > 0 and finite, ``zero_point`` finite; per-channel sizes must match ``x`` along ``axis``."""
    s = _as_range(scale, "scale")
    if bool((s <= 0).any()):
        raise ValueError("scale must be > 0")
    z = _as_range(zero_point, "zero_point")
    for t, name in ((s, "scale"), (z, "zero_point")):
        if t.dim() > 1 or (t.dim() == 1 and t.numel() > 1 and (axis is None or t.numel() != x.shape[axis])):
            raise ValueError(f"{name} must be a number or one value per slice along axis, got shape {tuple(t.shape)}")


def _bcast(t: torch.Tensor, like: torch.Tensor, axis: int | None) -> torch.Tensor:
    if axis is None or t.dim() == 0:
        return t
    shape = [1] * like.dim()
    shape[axis] = -1
    return t.reshape(shape)


def quantize(x: torch.Tensor, scale, zero_point, bits: int, *, symmetric: bool = True,
             axis: int | None = None) -> torch.Tensor:
    """``clamp(round(x / scale) + zero_point)`` as int64. ``axis`` is the per-channel dim.

    Args:
        x: a non-empty float tensor of finite values.
        scale: > 0: a number, or one per slice along ``axis``.
        zero_point: a number, or one per slice along ``axis``.
        bits: an int in [1, 16] (>= 2 when ``symmetric``).
        symmetric: clamp to the signed restricted range, else to ``[0, 2^b - 1]``.
        axis: the per-channel dimension of ``x``, or None for one scale.
    Returns:
        A new int64 tensor shaped like ``x``.

    >>> quantize(torch.tensor([0.5, -2.0]), 0.25, 0, 4).tolist()
    [2, -7]
    """
    _check_float(x)
    qmin, qmax = qrange(bits, symmetric)
    axis = _check_axis(x, axis)
    _check_scale(scale, zero_point, x, axis)
    scale = _bcast(torch.as_tensor(scale, dtype=torch.float32), x, axis)
    zero_point = _bcast(torch.as_tensor(zero_point), x, axis)
    return (torch.round(x / scale) + zero_point).clamp(qmin, qmax).to(torch.int64)


def dequantize(q: torch.Tensor, scale, zero_point, *, axis: int | None = None) -> torch.Tensor:
    """``scale * (q - zero_point)``: back to floats.

    Args:
        q: the integer tensor from :func:`quantize`.
        scale: > 0: a number, or one per slice along ``axis``.
        zero_point: a number, or one per slice along ``axis``.
        axis: the per-channel dimension of ``q``, or None for one scale.
    Returns:
        A new float32 tensor shaped like ``q``.

    >>> dequantize(torch.tensor([2, -7]), 0.25, 0).tolist()
    [0.5, -1.75]
    """
    V.tensor(q, "q")
    axis = _check_axis(q, axis)
    _check_scale(scale, zero_point, q, axis)
    scale = _bcast(torch.as_tensor(scale, dtype=torch.float32), q, axis)
    zero_point = _bcast(torch.as_tensor(zero_point), q, axis)
    return scale * (q - zero_point).to(torch.float32)


def tensor_qparams(x: torch.Tensor, bits: int, *, symmetric: bool = True, axis: int | None = None):
    """Min-max scale and zero point of ``x``: one pair, or one per slice along ``axis``.

    Args:
        x: a non-empty float tensor of finite values; read only.
        bits: an int in [1, 16] (>= 2 when ``symmetric``).
        symmetric: as in :func:`qparams`.
        axis: the per-channel dimension, or None for one pair.
    Returns:
        ``(scale, zero_point)`` as :func:`qparams` returns them (0-d, or one per slice along ``axis``).

    >>> scale, zp = tensor_qparams(torch.tensor([-1.0, 1.0]), 8)
    >>> round(float(scale) * 127, 6), int(zp)
    (1.0, 0)
    """
    _check_float(x)
    axis = _check_axis(x, axis)
    if axis is None:
        return qparams(x.min(), x.max(), bits, symmetric=symmetric)
    flat = x.detach().transpose(0, axis).reshape(x.shape[axis], -1)
    return qparams(flat.min(1).values, flat.max(1).values, bits, symmetric=symmetric)


def quant_error(x: torch.Tensor, bits: int, *, symmetric: bool = True, axis: int | None = None) -> float:
    """Mean squared error of a min-max quantize-dequantize round trip.

    Args:
        x: a non-empty float tensor of finite values; read only.
        bits: an int in [1, 16] (>= 2 when ``symmetric``).
        symmetric: as in :func:`qparams`.
        axis: the per-channel dimension, or None for one scale.
    Returns:
        The mean squared error, a float >= 0.

    >>> quant_error(torch.tensor([-1.0, 0.0, 1.0]), 8)
    0.0
    """
    _check_float(x)
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
    """Quantize-dequantize ``x`` in float with an STE gradient (min-max range unless given).

    Args:
        x: a non-empty float tensor of finite values.
        bits: an int in [1, 16] (>= 2 when ``symmetric``).
        symmetric: as in :func:`qparams`.
        axis: the per-channel dimension, or None for one scale.
        scale: a fixed scale (> 0); None for ``x``'s min-max range. Give it with ``zero_point``.
        zero_point: a fixed zero point; None with ``scale``.
    Returns:
        A new float tensor shaped like ``x``, on the quantization grid; its gradient is the clipped STE.

    >>> fake_quantize(torch.tensor([0.3, -1.0]), 2).tolist()
    [0.0, -1.0]
    """
    _check_float(x)
    qmin, qmax = qrange(bits, symmetric)
    axis = _check_axis(x, axis)
    if (scale is None) != (zero_point is None):
        raise ValueError("scale and zero_point must be given together (or both left None)")
    if scale is not None:
        _check_scale(scale, zero_point, x, axis)
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

    Args:
        method: ``"minmax"`` or ``"percentile"``.
        percentile: ``p`` in (50, 100], used by ``"percentile"``.

    >>> obs = RangeObserver(); _ = obs(torch.tensor([-1.0, 2.0])); _ = obs(torch.tensor([0.5, 3.0]))
    >>> obs.lo.item(), obs.hi.item(), obs.batches
    (-1.0, 3.0, 2)
    """

    def __init__(self, method: str = "minmax", percentile: float = 99.9):
        super().__init__()
        V.choice(method, "method", ("minmax", "percentile"))
        V.number(percentile, "percentile", low=50.0, high=100.0, low_open=True)
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

    Args:
        layer: an ``nn.Linear`` or ``nn.Conv2d``; wrapped, not copied.
        w_bits: weight bits, an int in [1, 16] (>= 2: weights are symmetric).
        a_bits: activation bits, an int in [1, 16]; None for float activations.
        per_channel: one weight scale per output channel (else one per tensor).
        observer: ``"minmax"`` or ``"percentile"`` (:class:`RangeObserver`).
        percentile: as in :class:`RangeObserver`.

    >>> _ = torch.manual_seed(0); w = QuantWrapper(nn.Linear(4, 2), w_bits=2, a_bits=None); w.mode = "quant"
    >>> w.quantized_weight()[0].unique().numel()  # 2 bits, symmetric: at most 3 levels per row
    3
    """

    def __init__(self, layer: nn.Module, w_bits: int = 8, a_bits: int | None = 8, *,
                 per_channel: bool = True, observer: str = "minmax", percentile: float = 99.9):
        super().__init__()
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")
        self.layer = layer
        self.w_bits = _check_bits(w_bits, "w_bits")
        self.a_bits = None if a_bits is None else _check_bits(a_bits, "a_bits")
        self.per_channel = V.flag(per_channel, "per_channel")
        V.choice(observer, "observer", ("minmax", "percentile"))
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
    """The :class:`QuantWrapper` layers of ``model``, in order.

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
    Returns:
        A new list of the wrapper modules themselves (not copies); empty when there are none.

    >>> len(quant_layers(wrap_for_quant(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)))))
    2
    """
    V.module(model, "model")
    return [m for m in model.modules() if isinstance(m, QuantWrapper)]


def wrap_for_quant(model: nn.Module, w_bits: int = 8, a_bits: int | None = 8, **kwargs) -> nn.Module:
    """A deep copy of ``model`` with every Linear / Conv2d wrapped in a :class:`QuantWrapper`.

    Args:
        model: copied, not changed; it needs an ``nn.Linear`` or ``nn.Conv2d`` inside a container.
        w_bits: weight bits, an int in [1, 16].
        a_bits: activation bits, an int in [1, 16]; None for float activations.
        **kwargs: ``per_channel``, ``observer``, ``percentile`` of :class:`QuantWrapper`.
    Returns:
        The new model, its wrappers in ``"float"`` mode (calibrate before ``"quant"``).

    >>> wrap_for_quant(nn.Sequential(nn.Linear(2, 2)), 4)[0].w_bits
    4
    """
    V.module(model, "model")
    _check_bits(w_bits, "w_bits")
    if a_bits is not None:
        _check_bits(a_bits, "a_bits")
    if not any(isinstance(m, (nn.Linear, nn.Conv2d)) for m in model.modules()):
        raise ValueError(f"model ({type(model).__name__}) has no nn.Linear or nn.Conv2d layer: nothing to quantize")
    if isinstance(model, (nn.Linear, nn.Conv2d)):
        raise ValueError("model is a bare layer; wrap it in nn.Sequential so it can be swapped for a QuantWrapper")
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
    """Switch every :class:`QuantWrapper` of ``model`` to ``mode``; returns ``model``.

    In place: changes ``model`` and returns it (copy it first to keep the original).

    Args:
        model: changed in place; it needs a :class:`QuantWrapper` (:func:`wrap_for_quant`).
        mode: ``"float"`` (plain layers), ``"calibrate"`` (record activation ranges) or ``"quant"``.
    Returns:
        ``model``.

    >>> q = set_mode(wrap_for_quant(nn.Sequential(nn.Linear(4, 2))), "calibrate")
    >>> [w.mode for w in quant_layers(q)]
    ['calibrate']
    """
    V.module(model, "model")
    V.choice(mode, "mode", ("float", "calibrate", "quant"))
    if not quant_layers(model):
        raise ValueError("model has no QuantWrapper layers: call wrap_for_quant first")
    for layer in quant_layers(model):
        layer.mode = mode
    return model


@torch.no_grad()
def calibrate(model: nn.Module, data, batches: int = 8, batch_size: int = 128) -> nn.Module:
    """Run up to ``batches`` batches of ``data`` through ``model`` to fix activation ranges.

    In place: changes ``model`` and returns it (copy it first to keep the original).

    Args:
        model: a model from :func:`wrap_for_quant`, changed in place (its train/eval mode is restored).
        data: ``(x, y)`` tensors, Dataset or DataLoader; the labels are ignored.
        batches: the most batches to run, an int >= 1.
        batch_size: an int >= 1 (ignored for a DataLoader).
    Returns:
        ``model``, in ``"quant"`` mode with its activation ranges set.

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 4); d = (x, (x[:, 0] > 0).long())
    >>> m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> q = calibrate(wrap_for_quant(m, 8, 8), d, batches=2, batch_size=16)
    >>> {w.mode for w in quant_layers(q)}, quant_layers(q)[0].observer.batches
    ({'quant'}, 2)
    """
    from .train import as_loader

    V.module(model, "model")
    V.data(data, "data")
    V.positive_int(batches, "batches")
    V.positive_int(batch_size, "batch_size")
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
    """Post-training quantization: wrap, calibrate, and return the fake-quantized copy.

    Args:
        model: copied, not changed.
        calib_data: ``(x, y)`` tensors, Dataset or DataLoader; calibrated in batches of 128.
        w_bits, a_bits: weight and activation bits (``a_bits=None``: float activations).
        observer: ``"minmax"`` or ``"percentile"`` (:class:`RangeObserver`).
        per_channel: one weight scale per output channel (else one per tensor).
        batches: calibration batches, an int >= 1.
    Returns:
        the fake-quantized copy (a model of :class:`QuantWrapper` layers, in eval mode).

    >>> q = ptq(nn.Sequential(nn.Linear(2, 2)), (torch.randn(16, 2), torch.zeros(16)), 4)
    >>> q[0].w_bits
    4
    """
    V.data(calib_data, "calib_data")
    V.positive_int(batches, "batches")
    V.choice(observer, "observer", ("minmax", "percentile"))
    qmodel = wrap_for_quant(model, w_bits, a_bits, per_channel=per_channel, observer=observer)
    return calibrate(qmodel, calib_data, batches=batches)


def qat(model: nn.Module, train_data, w_bits: int, a_bits: int | None, cfg=None, *,
        per_channel: bool = True, observer: str = "minmax", batches: int = 8) -> nn.Module:
    """Quantization-aware training: start from PTQ, then fine-tune through the fake quantizers.

    Returns a new (fake-quantized) model; ``model`` is not changed.

    Weight ranges follow the weights at every step; activation ranges stay at their calibrated
    values; gradients pass the rounding by the straight-through estimator.

    Args:
        model: copied, not changed.
        train_data: ``(x, y)`` tensors, Dataset or DataLoader; it also calibrates the activations.
        w_bits, a_bits: weight and activation bits (``a_bits=None``: float activations).
        cfg: a :class:`~effnn.train.TrainConfig` for the fine-tuning (default 5 epochs at lr 1e-4).
        per_channel: one weight scale per output channel (else one per tensor).
        observer: ``"minmax"`` or ``"percentile"`` (:class:`RangeObserver`).
        batches: calibration batches, an int >= 1.
    Returns:
        the trained fake-quantized copy.

    >>> from effnn.train import TrainConfig
    >>> _ = torch.manual_seed(0); x = torch.randn(64, 4); d = (x, (x[:, 0] > 0).long())
    >>> m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> q = qat(m, d, w_bits=4, a_bits=8, cfg=TrainConfig(epochs=1, batch_size=32))
    >>> [w.w_bits for w in quant_layers(q)], type(m[0]).__name__  # the original stays float
    ([4, 4], 'Linear')
    """
    from .train import TrainConfig, _config, fit

    V.data(train_data, "train_data")
    if cfg is not None:
        _config(cfg)
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
    """TTQ levels ``{-w_n, 0, +w_p}`` with ``delta = threshold * max|w|`` (differentiable).

    Args:
        w: a non-empty float tensor of finite latent weights.
        w_p: the positive level: a number or a one-element tensor (learned in :class:`TernaryLinear`).
        w_n: the magnitude of the negative level, likewise.
        threshold: in [0, 1), relative to ``max|w|``.
    Returns:
        A new tensor shaped like ``w`` with values in ``{-w_n, 0, w_p}``.

    >>> ternarize(torch.tensor([0.9, 0.01, -1.0]), 2.0, 3.0, 0.05).tolist()
    [2.0, 0.0, -3.0]
    """
    _check_float(w, "w")
    threshold = V.fraction(threshold, "threshold")
    for v, name in ((w_p, "w_p"), (w_n, "w_n")):
        if torch.is_tensor(v):
            if v.numel() != 1 or not bool(torch.isfinite(v.detach()).all()):
                raise ValueError(f"{name} must be one finite number")
        else:
            V.number(v, name)
    delta = threshold * w.detach().abs().max()
    return _TernarySTE.apply(w, torch.as_tensor(w_p), torch.as_tensor(w_n), delta)


class TernaryLinear(nn.Linear):
    """A Linear layer with trained ternary weights: latent fp32 weights, learned ``w_p`` and ``w_n``.

    Trained Ternary Quantization (Zhu et al. 2017): weights below ``threshold`` times the largest
    |w| become 0, the rest ``+w_p`` or ``-w_n``; the latent weights keep learning through the STE.

    Args:
        in_features: inputs, >= 1.
        out_features: outputs, >= 1.
        bias: learn a bias.
        threshold: in [0, 1): weights with ``|w| <= threshold * max|w|`` become 0.

    >>> layer = TernaryLinear(4, 3); layer(torch.randn(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, threshold: float = 0.05):
        V.positive_int(in_features, "in_features")
        V.positive_int(out_features, "out_features")
        V.flag(bias, "bias")
        threshold = V.fraction(threshold, "threshold")
        super().__init__(in_features, out_features, bias)
        self.threshold = threshold
        self.w_p = nn.Parameter(torch.tensor(1.0))
        self.w_n = nn.Parameter(torch.tensor(1.0))

    @classmethod
    def from_linear(cls, layer: nn.Linear, threshold: float = 0.05) -> "TernaryLinear":
        """Start from a trained layer: scales initialised to the mean |w| of each side."""
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"layer must be an nn.Linear, got {type(layer).__name__}")
        _check_float(layer.weight.detach(), "layer.weight")
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
    """A copy of ``model`` whose Linear layers are :class:`TernaryLinear` (optionally not the first/last).

    Args:
        model: copied, not changed; it needs an ``nn.Linear`` inside a container.
        threshold: in [0, 1), as in :class:`TernaryLinear`.
        skip_first_last: keep the first and last Linear layers in float (they lose most accuracy).

    Returns:
        a new model; ``model`` is not changed.

    >>> type(ternarize_model(nn.Sequential(nn.Linear(2, 2)))[0]).__name__
    'TernaryLinear'
    """
    V.module(model, "model")
    threshold = V.fraction(threshold, "threshold")
    V.flag(skip_first_last, "skip_first_last")
    model = copy.deepcopy(model)
    linears = [(p, n) for p in model.modules() for n, c in p.named_children() if isinstance(c, nn.Linear)]
    if not linears:
        raise ValueError("model has no nn.Linear layer inside a container: nothing to ternarize")
    for i, (parent, name) in enumerate(linears):
        if skip_first_last and i in (0, len(linears) - 1):
            continue
        setattr(parent, name, TernaryLinear.from_linear(getattr(parent, name), threshold))
    return model


def ternary_sparsity(model: nn.Module) -> float:
    """Fraction of zero weights over all :class:`TernaryLinear` layers.

    Reads ``model``; does not change its weights.

    Args:
        model: read only; it needs a :class:`TernaryLinear` layer.
    Returns:
        The fraction of zero ternary weights, a float in [0, 1].

    >>> m = ternarize_model(nn.Sequential(nn.Linear(4, 4)))
    >>> 0.0 <= ternary_sparsity(m) < 1.0
    True
    """
    V.module(model, "model")
    layers = [m for m in model.modules() if isinstance(m, TernaryLinear)]
    if not layers:
        raise ValueError("model has no TernaryLinear layers")
    with torch.no_grad():
        zeros = sum(int((m.ternary_weight() == 0).sum()) for m in layers)
    return zeros / sum(m.weight.numel() for m in layers)


def clip_latent(model: nn.Module, bound: float = 1.0) -> None:
    """Keep the latent weights of ternary layers in ``[-bound, bound]`` (an ``after_step`` hook).

    In place: changes ``model``; returns None (an ``after_step`` hook).

    Works inside or outside ``torch.no_grad()``; a model without ternary layers is refused.

    Args:
        model: changed in place; it needs a :class:`TernaryLinear` layer.
        bound: > 0, finite.
    Returns:
        None.

    >>> m = ternarize_model(nn.Sequential(nn.Linear(2, 2)))
    >>> with torch.no_grad(): _ = m[0].weight.fill_(3.0)
    >>> clip_latent(m); float(m[0].weight.detach().max())
    1.0
    """
    V.module(model, "model")
    bound = V.number(bound, "bound", low=0, low_open=True)
    layers = [m for m in model.modules() if isinstance(m, TernaryLinear)]
    if not layers:
        raise ValueError("model has no TernaryLinear layers: call ternarize_model first")
    with torch.no_grad():
        for m in layers:
            m.weight.clamp_(-bound, bound)


# ---------------------------------------------------------------------------------------------
# Real int8 through torch.ao.quantization
# ---------------------------------------------------------------------------------------------

def _silence_ao():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
    warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
    # torch 2.13 also announces, at every quantize_dynamic, the end of its quantized tensor functions
    warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*")


def dynamic_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 (weights int8, activations quantized on the fly) for every Linear; a copy.

    Args:
        model: copied, not changed; it needs an ``nn.Linear``. The copy is put in eval mode.

    Returns:
        a new model; ``model`` is not changed.

    >>> type(dynamic_int8(nn.Sequential(nn.Linear(2, 2)))[0]).__name__
    'Linear'
    """
    from torch.ao.quantization import quantize_dynamic

    V.module(model, "model")
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError(f"model ({type(model).__name__}) has no nn.Linear layer: nothing to quantize")

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

    Args:
        model: copied, not changed; it needs at least one Linear or Conv2d.
        calib_data: ``(x, y)`` tensors, Dataset or DataLoader (not empty).
        backend: ``"x86"``, ``"fbgemm"`` (its old name) or ``"qnnpack"``; sets
            ``torch.backends.quantized.engine`` for the whole process.
        batches: calibration batches, an int >= 1 (0 would leave every range unset: all-zero outputs).
        batch_size: an int >= 1 (ignored for a DataLoader).
    Returns:
        the converted int8 model.

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 4); d = (x, (x[:, 0] > 0).long())
    >>> m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> q = static_int8(m, d, batches=2, batch_size=32)
    >>> type(q.model[0]).__name__, q(x[:2]).shape  # Linear + ReLU fused into one int8 kernel
    ('LinearReLU', torch.Size([2, 2]))
    """
    import torch.ao.quantization as tq

    V.module(model, "model")
    V.choice(backend, "backend", ("x86", "fbgemm", "qnnpack"))
    V.data(calib_data, "calib_data")
    V.positive_int(batches, "batches")  # 0 batches would calibrate nothing: an all-zero model
    V.positive_int(batch_size, "batch_size")
    if not any(isinstance(m, (nn.Linear, nn.Conv2d)) for m in model.modules()):
        raise ValueError(f"model ({type(model).__name__}) has no nn.Linear or nn.Conv2d layer: nothing to quantize")
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
    """fp32 vs int8 in one process: latency (ms), serialized size (bytes) and accuracy.

    ``speedup`` and ``size_ratio`` are fp32 over int8 (> 1: int8 wins); ``as_dict()`` flattens it.

    Args:
        fp32_ms: the float model's latency, in ms.
        int8_ms: the int8 model's latency, in ms.
        fp32_bytes: the float model's serialized size, in bytes.
        int8_bytes: the int8 model's serialized size, in bytes.
        acc_fp32: the float model's accuracy, in [0, 1].
        acc_int8: the int8 model's accuracy, in [0, 1].

    >>> r = Int8Report(fp32_ms=1.0, int8_ms=0.5, fp32_bytes=4000, int8_bytes=1000, acc_fp32=0.9, acc_int8=0.89)
    >>> r.speedup, r.size_ratio
    (2.0, 4.0)
    """
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


@renamed_kwargs(example_input="example_inputs")
def compare_int8(fp32: nn.Module, int8: nn.Module, example_inputs, test_data, *, rounds: int = 3,
                 min_run_time: float = 0.2, threads: int = 2) -> Int8Report:
    """Time both models alternately, ``rounds`` times each, and keep each model's fastest timed
    block (best-of-N, as ``timeit`` advises: on a shared CPU the slower blocks measure the other
    programs); plus size and accuracy of both.

    Reads both models; changes neither's weights (the timing puts both in eval mode).

    Args:
        fp32, int8: the two models (e.g. ``model`` and ``dynamic_int8(model)``).
        example_inputs: the batch both are timed on (a tensor, or a tuple of tensors).
        test_data: ``(x, y)`` tensors, Dataset or DataLoader for the accuracies.
        rounds: alternations of the two timings, >= 1.
        min_run_time: seconds per timing, a finite number > 0.
        threads: torch threads for the timing, >= 1.
    Returns:
        an :class:`Int8Report` (latencies, serialized sizes, accuracies and their ratios).

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 4); d = (x, (x[:, 0] > 0).long())
    >>> m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> r = compare_int8(m, dynamic_int8(m), x[:8], d, rounds=1, min_run_time=0.01)
    >>> type(r).__name__, sorted(r.as_dict())[:3]
    ('Int8Report', ['acc_fp32', 'acc_int8', 'fp32_bytes'])
    """
    from .measure import latency, serialized_bytes
    from .train import accuracy

    V.module(fp32, "fp32")
    V.module(int8, "int8")
    V.positive_int(rounds, "rounds")
    V.positive_int(threads, "threads")
    V.number(min_run_time, "min_run_time", low=0, low_open=True)
    V.data(test_data, "test_data")
    a, b = [], []
    for _ in range(rounds):
        a.append(latency(fp32, example_inputs, threads=threads, min_run_time=min_run_time).min_ms)
        b.append(latency(int8, example_inputs, threads=threads, min_run_time=min_run_time).min_ms)
    return Int8Report(min(a), min(b), serialized_bytes(fp32), serialized_bytes(int8),
                      accuracy(fp32, test_data), accuracy(int8, test_data))
