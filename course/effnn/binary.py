"""Binary networks for lecture 04b: BinaryConnect, BWN and XNOR-Net-style MLPs on digits.

This module is what the lecture trains; A2 asks you to build your own binary layers, and this code
is deliberately *not* their answer: it uses other straight-through estimators.

- :class:`SignIdentitySTE` / :func:`sign_identity`: forward ``sign`` (sign(0) = +1), backward the
  identity, i.e. the gradient with respect to the binary weight is applied to the latent weight
  unchanged (BinaryConnect, Courbariaux et al., 2015). Clipping the latent weights to [-1, 1] after
  every step keeps them where this is meaningful.
- :class:`ApproxSign` / :func:`approx_sign`: forward ``sign``, backward the derivative of Bi-Real
  Net's piecewise-quadratic approximation of sign, ``max(0, 2 - 2|x|)`` (Liu et al., 2018), for the
  activations.
- :class:`BinaryConnectLinear`: ``nn.Linear`` whose forward pass uses ``sign(W)`` (times
  ``mean|W|`` per output channel with ``scale=True``: "BWN"); :class:`SignActivation` binarizes the
  activations in front of it (XNOR-Net).
- :func:`clip_binaryconnect`: the ``after_step`` hook that keeps the latent weights in [-1, 1].
- :func:`binarized_mlp`: a digits MLP with real first and last layers and BatchNorm after every
  layer, in three modes (``fp32``, ``binary_weights``, ``binary_full``).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from . import validate as V

MODES = ("fp32", "binary_weights", "binary_full")


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _float_tensor(x, name: str = "x") -> torch.Tensor:
    return V.tensor(x, name, floating=True)


class SignIdentitySTE(torch.autograd.Function):
    """sign(x) in {-1, +1} (sign(0) = +1); the gradient passes unchanged everywhere (BinaryConnect).

    >>> x = torch.tensor([-0.5, 0.0, 2.0], requires_grad=True)
    >>> y = SignIdentitySTE.apply(x)
    >>> y.sum().backward()
    >>> y.detach(), x.grad
    (tensor([-1.,  1.,  1.]), tensor([1., 1., 1.]))
    """

    @staticmethod
    def forward(ctx, x):
        return _sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def sign_identity(x: torch.Tensor) -> torch.Tensor:
    """Apply :class:`SignIdentitySTE` (checks the argument).

    Args:
        x: a floating-point tensor.
    Returns:
        A new tensor of -1/+1 shaped like ``x``; its gradient is passed to ``x`` unchanged.

    >>> sign_identity(torch.tensor([-3.0, 0.0, 0.1]))
    tensor([-1.,  1.,  1.])
    >>> sign_identity([1.0])
    Traceback (most recent call last):
        ...
    TypeError: x must be a torch.Tensor, got list
    """
    return SignIdentitySTE.apply(_float_tensor(x))


class ApproxSign(torch.autograd.Function):
    """sign(x) (sign(0) = +1); backward ``grad * max(0, 2 - 2|x|)`` (Bi-Real Net's ApproxSign).

    >>> x = torch.tensor([-2.0, -0.25, 0.0, 0.5], requires_grad=True)
    >>> y = ApproxSign.apply(x)
    >>> y.sum().backward()
    >>> y.detach(), x.grad
    (tensor([-1., -1.,  1.,  1.]), tensor([0.0000, 1.5000, 2.0000, 1.0000]))
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (2 - 2 * x.abs()).clamp_min(0).to(grad_output.dtype)


def approx_sign(x: torch.Tensor) -> torch.Tensor:
    """Apply :class:`ApproxSign` (checks the argument).

    Args:
        x: a floating-point tensor.
    Returns:
        A new tensor of -1/+1 shaped like ``x``; its gradient is scaled by ``max(0, 2 - 2|x|)``.

    >>> approx_sign(torch.tensor([-3.0, 0.0, 0.1]))
    tensor([-1.,  1.,  1.])
    """
    return ApproxSign.apply(_float_tensor(x))


class SignActivation(nn.Module):
    """Binary activations: ``approx_sign`` as a layer (XNOR-Net puts it in front of a binary layer).

    >>> SignActivation()(torch.tensor([[-0.2, 0.7]]))
    tensor([[-1.,  1.]])
    """

    def forward(self, x):
        return approx_sign(x)


class BinaryConnectLinear(nn.Linear):
    """``nn.Linear`` with binary weights: ``sign(W)`` (BinaryConnect) or ``mean|W| * sign(W)`` per output
    row when ``scale`` (BWN), through the identity STE. Inputs stay as they are.

    Args:
        in_features: inputs, >= 1.
        out_features: outputs, >= 1.
        bias: learn a (real) bias.
        scale: multiply each output row by its ``mean|W|`` (BWN) instead of plain signs.

    >>> _ = torch.manual_seed(0)
    >>> layer = BinaryConnectLinear(3, 2, bias=False, scale=True)
    >>> w = layer.weight.detach()
    >>> x = torch.ones(1, 3)
    >>> torch.allclose(layer(x), x @ (w.abs().mean(1, keepdim=True) * w.sign()).T)
    True
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, scale: bool = False):
        super().__init__(V.positive_int(in_features, "in_features"), V.positive_int(out_features, "out_features"),
                         bias=V.flag(bias, "bias"))
        self.scale = V.flag(scale, "scale")
        with torch.no_grad():  # latent weights start inside the clipping range
            self.weight.clamp_(-1.0, 1.0)

    def forward(self, x):
        w = sign_identity(self.weight)
        if self.scale:
            w = w * self.weight.abs().mean(dim=1, keepdim=True)
        return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale}"


def clip_binaryconnect(model: nn.Module, bound: float = 1.0) -> None:
    """Clip the latent weights of every :class:`BinaryConnectLinear` of ``model`` to [-bound, bound].

    In place: changes ``model``; returns None (an ``after_step`` hook).

    Use as ``fit(after_step=...)``. Only this module's layer is clipped (not subclasses, not other
    binary layers): it is the lecture's hook, not a general one.

    Args:
        model: changed in place (only its :class:`BinaryConnectLinear` layers; none is fine).
        bound: > 0, finite.
    Returns:
        None.

    >>> layer = BinaryConnectLinear(2, 2)
    >>> with torch.no_grad():
    ...     _ = layer.weight.fill_(3.0)
    >>> clip_binaryconnect(nn.Sequential(layer), bound=1.0)
    >>> layer.weight.max().item()
    1.0
    """
    V.module(model, "model")
    bound = V.number(bound, "bound", low=0, low_open=True)
    with torch.no_grad():
        for m in model.modules():
            if type(m) is BinaryConnectLinear:
                m.weight.clamp_(-bound, bound)


def binarized_mlp(mode: str = "binary_full", *, in_features: int = 64, hidden=(256, 256, 256),
                  num_classes: int = 10, scale: bool = True) -> nn.Sequential:
    """A digits MLP: a real first layer, one block per further hidden size, a real last layer.

    Every block is ``[SignActivation] -> layer -> BatchNorm -> Hardtanh``, the layer being
    :class:`BinaryConnectLinear` (or ``nn.Linear`` for ``fp32``); the sign in front is there only in
    ``binary_full``. ``mode="fp32"`` builds the same architecture with real layers.

    Args:
        mode: ``"fp32"``, ``"binary_weights"`` or ``"binary_full"``.
        in_features: input features, >= 1 (inputs are flattened).
        hidden: at least two hidden widths, each >= 1.
        num_classes: output logits, >= 1.
        scale: BWN scaling of the binary layers (see :class:`BinaryConnectLinear`).
    Returns:
        A new ``nn.Sequential``.

    >>> _ = torch.manual_seed(0)
    >>> model = binarized_mlp("binary_full", in_features=8, hidden=(16, 16), num_classes=3)
    >>> model(torch.randn(4, 8)).shape
    torch.Size([4, 3])
    >>> sum(isinstance(m, BinaryConnectLinear) for m in model.modules())
    1
    """
    V.choice(mode, "mode", MODES)
    hidden = V.sequence_of(list(hidden) if isinstance(hidden, tuple) else hidden, "hidden", V.positive_int)
    in_features, num_classes = V.positive_int(in_features, "in_features"), V.positive_int(num_classes, "num_classes")
    scale = V.flag(scale, "scale")
    if len(hidden) < 2:
        raise ValueError("hidden needs at least two sizes (a real first layer, then binary layers)")
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(in_features, hidden[0], bias=False),
                               nn.BatchNorm1d(hidden[0]), nn.Hardtanh()]
    for a, b in zip(hidden[:-1], hidden[1:]):
        block: list[nn.Module] = [SignActivation()] if mode == "binary_full" else []
        block.append(nn.Linear(a, b, bias=False) if mode == "fp32" else BinaryConnectLinear(a, b, bias=False,
                                                                                              scale=scale))
        layers.append(nn.Sequential(*block, nn.BatchNorm1d(b), nn.Hardtanh()))
    layers.append(nn.Linear(hidden[-1], num_classes))
    return nn.Sequential(*layers)
