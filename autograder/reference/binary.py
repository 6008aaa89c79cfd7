"""Reference answers of A2, sections 1-4 (instructors only; the grading jail cannot import this).

These are the answers to A2's exercises: they used to live in ``effnn.binary`` and were moved here
so that a student cannot alias or copy them. ``effnn.binary`` keeps only what lecture 04b needs, with
other estimators (BinaryConnect's identity STE, Bi-Real Net's ApproxSign).

- :class:`SignSTE` / :func:`sign_ste`: forward ``sign`` with sign(0) = +1; backward passes the
  gradient where ``|x| <= 1`` and zeros it elsewhere (the "hard tanh" STE of Hubara et al., 2016).
- :class:`BinaryLinear` / :class:`BinaryConv2d`: keep real *latent* weights for the optimizer and use
  ``sign(W)`` in the forward pass (BinaryConnect, Courbariaux et al., 2015), optionally times a
  per-output-channel scale ``alpha = mean|W|`` and with binary inputs (XNOR-Net, Rastegari et al., 2016).
- :func:`clip_latent_weights`: the ``after_step`` hook that keeps latent weights in [-1, 1].
- :func:`binarized_mlp` / :func:`binarized_cnn`: digits models with real first and last layers and
  BatchNorm after every binary layer, in three modes (``fp32``, ``binary_weights``, ``binary_full``).
- :func:`packed_weight_bytes` / :func:`packed_model_bytes`: what the binary layers cost as bits.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

MODES = ("fp32", "binary_weights", "binary_full")


class SignSTE(torch.autograd.Function):
    """sign(x) in {-1, +1} (sign(0) = +1); gradient passed straight through where |x| <= 1."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() <= 1).to(grad_output.dtype)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """Apply :class:`SignSTE` (checks the argument, so a wrong type fails with a clear message)."""
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    return SignSTE.apply(x)


def channel_scale(weight: torch.Tensor) -> torch.Tensor:
    """XNOR-Net's optimal scale per output channel: alpha = mean |W| over all but dim 0.

    Shaped to broadcast against ``weight`` (``(out, 1)`` or ``(out, 1, 1, 1)``).
    """
    if weight.dim() < 2:
        raise ValueError(f"weight must have an output-channel dimension, got shape {tuple(weight.shape)}")
    return weight.abs().mean(dim=tuple(range(1, weight.dim())), keepdim=True)


class _BinaryMixin:
    """Shared logic: which weight the forward pass uses, and how inputs are binarized."""

    scale: bool
    binary_input: bool

    def _init_binary(self, scale: bool, binary_input: bool) -> None:
        if not isinstance(scale, bool) or not isinstance(binary_input, bool):
            raise TypeError("scale and binary_input must be bools")
        self.scale = scale
        self.binary_input = binary_input
        with torch.no_grad():  # latent weights start inside the clipping range
            self.weight.clamp_(-1.0, 1.0)

    def binary_weight(self) -> torch.Tensor:
        """The weight the forward pass uses: sign(W), or alpha * sign(W) when ``scale``."""
        b = sign_ste(self.weight)
        return b * channel_scale(self.weight) if self.scale else b

    def binarize_input(self, x: torch.Tensor) -> torch.Tensor:
        return sign_ste(x) if self.binary_input else x

    def clip_(self, bound: float = 1.0) -> None:
        """Clip the latent weights in place (BinaryConnect: keeps them where the STE has gradient)."""
        with torch.no_grad():
            self.weight.clamp_(-bound, bound)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale}, binary_input={self.binary_input}"


class BinaryLinear(_BinaryMixin, nn.Linear):
    """``nn.Linear`` whose forward pass uses binarized weights (and, optionally, binarized inputs)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 scale: bool = False, binary_input: bool = False):
        super().__init__(in_features, out_features, bias=bias)
        self._init_binary(scale, binary_input)

    def forward(self, x):
        return F.linear(self.binarize_input(x), self.binary_weight(), self.bias)


class BinaryConv2d(_BinaryMixin, nn.Conv2d):
    """``nn.Conv2d`` whose forward pass uses binarized weights (and, optionally, binarized inputs).

    With binary inputs, zero padding would add a third value; pad with ``padding_mode`` or accept
    that zeros contribute nothing (as most BNN code does).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, *, scale: bool = False, binary_input: bool = False, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         bias=bias, **kwargs)
        self._init_binary(scale, binary_input)

    def forward(self, x):
        return self._conv_forward(self.binarize_input(x), self.binary_weight(), self.bias)


BINARY_LAYERS = (BinaryLinear, BinaryConv2d)


def binary_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every binary layer in ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [(n, m) for n, m in model.named_modules() if isinstance(m, BINARY_LAYERS)]


def clip_latent_weights(model: nn.Module, bound: float = 1.0) -> None:
    """Clip every binary layer's latent weights to [-bound, bound]; use as ``fit(after_step=...)``."""
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    for _, layer in binary_layers(model):
        layer.clip_(bound)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _linear(mode: str, a: int, b: int, scale: bool) -> nn.Module:
    if mode == "fp32":
        return nn.Linear(a, b, bias=False)
    return BinaryLinear(a, b, bias=False, scale=scale, binary_input=(mode == "binary_full"))


def _conv(mode: str, a: int, b: int, scale: bool) -> nn.Module:
    if mode == "fp32":
        return nn.Conv2d(a, b, 3, padding=1, bias=False)
    return BinaryConv2d(a, b, 3, padding=1, bias=False, scale=scale, binary_input=(mode == "binary_full"))


def binarized_mlp(mode: str = "binary_full", *, in_features: int = 64, hidden=(256, 256, 256),
                  num_classes: int = 10, scale: bool = True) -> nn.Sequential:
    """An MLP for digits: real first layer, binary hidden layers, real last layer.

    Every layer but the last is followed by BatchNorm and Hardtanh (the activation whose gradient
    matches the STE's window). ``mode="fp32"`` builds the same architecture with real layers.
    """
    _check_mode(mode)
    if len(hidden) < 2:
        raise ValueError("hidden needs at least two sizes (a real first layer, then binary layers)")
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(in_features, hidden[0], bias=False),
                               nn.BatchNorm1d(hidden[0]), nn.Hardtanh()]
    for a, b in zip(hidden[:-1], hidden[1:]):
        layers += [_linear(mode, a, b, scale), nn.BatchNorm1d(b), nn.Hardtanh()]
    layers.append(nn.Linear(hidden[-1], num_classes))
    return nn.Sequential(*layers)


def binarized_cnn(mode: str = "binary_full", *, in_channels: int = 1, channels=(32, 64, 64),
                  num_classes: int = 10, input_size: int = 8, scale: bool = True) -> nn.Sequential:
    """A small CNN for 8x8 digits: real first conv, binary 3x3 convs, real classifier.

    Layout: conv(real)-BN-Hardtanh, then per binary conv: conv-BN-Hardtanh, with 2x2 max-pooling
    after the 2nd and 3rd convs; then flatten and a real linear classifier.
    """
    _check_mode(mode)
    if len(channels) != 3:
        raise ValueError(f"channels must hold three widths, got {channels!r}")
    c1, c2, c3 = channels
    side = input_size // 4
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.Hardtanh(),
        _conv(mode, c1, c2, scale), nn.MaxPool2d(2), nn.BatchNorm2d(c2), nn.Hardtanh(),
        _conv(mode, c2, c3, scale), nn.MaxPool2d(2), nn.BatchNorm2d(c3), nn.Hardtanh(),
        nn.Flatten(), nn.Linear(c3 * side * side, num_classes),
    )


def packed_weight_bytes(model: nn.Module, word_bits: int = 64) -> tuple[int, int]:
    """``(fp32_bytes, packed_bytes)`` of the binary layers' weights.

    Each output channel's signs are packed into ``word_bits``-bit words (padding the last word), as
    the XNOR GEMM stores them. The per-channel alpha is not counted: with BatchNorm right after the
    layer it folds exactly into BatchNorm's per-channel scale at inference.
    """
    fp32 = packed = 0
    for _, layer in binary_layers(model):
        w = layer.weight
        k = w[0].numel()
        fp32 += w.numel() * 4
        packed += w.shape[0] * math.ceil(k / word_bits) * (word_bits // 8)
    return fp32, packed


def packed_model_bytes(model: nn.Module, word_bits: int = 64) -> int:
    """Bytes of the whole model with binary weights as bits and everything else in fp32."""
    from effnn.measure import dense_bytes

    fp32, packed = packed_weight_bytes(model, word_bits)
    return dense_bytes(model) - fp32 + packed


# ----------------------------------------------------------------------------- XNOR-Net's K, stochastic sign
def activation_scale(x: torch.Tensor, kernel_size: int, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """XNOR-Net's K for a convolution: ``A = mean_c |x|`` convolved with a k x k box of 1/k².

    ``x`` is (B, C, H, W); the result is (B, 1, H', W'), the output size of the convolution. Zero
    padding counts as 0 in the mean (the box filter's weights are 1/k² everywhere, as in the paper).
    """
    if not torch.is_tensor(x) or x.dim() != 4:
        raise ValueError("x must be a (B, C, H, W) tensor")
    a = x.abs().mean(dim=1, keepdim=True)
    return F.avg_pool2d(a, kernel_size, stride=stride, padding=padding, count_include_pad=True)


class StochasticSignSTE(torch.autograd.Function):
    """BinaryConnect's stochastic binarization: +1 with probability clip((x + 1) / 2, 0, 1), else -1.

    Backward: the same straight-through gradient as :class:`SignSTE` (passed where |x| <= 1).
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        p = ((x + 1) / 2).clamp(0, 1)
        return torch.where(torch.rand_like(x) < p, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() <= 1).to(grad_output.dtype)


def binary_regularizer(model: nn.Module) -> torch.Tensor:
    """Tang et al. (2017)'s ``sum (1 - W²)`` over the latent weights of every binary layer (0-dim tensor).

    Minimizing it pushes latent weights towards ±1, away from 0 where signs flip back and forth.
    """
    terms = [(1 - layer.weight ** 2).sum() for _, layer in binary_layers(model)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def fold_threshold(alpha, a, b):
    """Integer thresholds ``(s, t)`` with ``s * z >= t`` exactly when ``a * (alpha * z) + b >= 0``.

    ``z`` is a binary layer's integer XNOR product, ``alpha`` its scale and ``v * a + b`` the BatchNorm
    after it (all per output channel); ``sign(hardtanh(.))`` of that is then a comparison of integers.
    ``s`` is the sign of ``alpha * a`` (-1, 0 or +1), ``t = ceil(-b / |alpha * a|)``; where ``alpha * a``
    is 0, the output is ``b >= 0`` for every ``z``: ``s = 0`` and ``t = 0`` (always) or ``1`` (never).
    """
    g = torch.as_tensor(alpha, dtype=torch.float64) * torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    s = torch.sign(g).long()
    t = torch.ceil(-b / g.abs().clamp_min(1e-300)).clamp(-2 ** 40, 2 ** 40).long()
    t = torch.where(s == 0, (b < 0).long(), t)
    return s, t
