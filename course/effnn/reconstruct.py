"""Low-rank layers fitted to the data they see: output (response) reconstruction.

:func:`effnn.lowrank.factorize_conv` minimises the *filter* error :math:`\\|W - W_r\\|_F`, which
weighs every input direction alike. Zhang, Zou, He & Sun ("Efficient and Accurate Approximations of
Nonlinear Convolutional Networks", 2015; extended as "Accelerating Very Deep Convolutional Networks
for Classification and Detection", 2015) minimise the error of the layer's *outputs* on real inputs
instead. In their linear case the responses :math:`y = Wx + b` (one :math:`d`-vector per output
pixel) are approximated by :math:`\\hat y = P P^\\top (y - \\bar y) + \\bar y`, with :math:`P` the top
``rank`` eigenvectors of the responses' covariance (a PCA). That is again :math:`r` filters
:math:`P^\\top W` followed by a :math:`1\\times1` conv :math:`P`: the same shapes and MACs as the
channel scheme, different numbers.
"""
from __future__ import annotations

import torch
from torch import nn

from . import validate as V


def conv_responses(conv: nn.Conv2d, inputs: torch.Tensor) -> torch.Tensor:
    """``conv``'s outputs on ``inputs`` as one row per output pixel: shape ``(N*H*W, d)``.

    Args:
        conv: an ``nn.Conv2d``; read only.
        inputs: ``(N, C, H, W)`` floats with ``C = conv.in_channels``.
    Returns:
        A new float64 tensor ``(N*H_out*W_out, d)``, computed without gradients.

    >>> conv = nn.Conv2d(3, 4, 3, padding=1)
    >>> conv_responses(conv, torch.zeros(2, 3, 5, 5)).shape
    torch.Size([50, 4])
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be nn.Conv2d, got {type(conv).__name__}")
    V.tensor(inputs, "inputs", ndim=4, floating=True)
    if inputs.shape[1] != conv.in_channels:
        raise ValueError(f"inputs has {inputs.shape[1]} channels, conv expects {conv.in_channels}")
    with torch.no_grad():
        out = conv(inputs)
    return out.permute(0, 2, 3, 1).reshape(-1, conv.out_channels).double()


def output_reconstruct_conv(conv: nn.Conv2d, rank: int, inputs: torch.Tensor) -> nn.Sequential:
    """``rank`` :math:`k\\times k` filters then a :math:`1\\times1` conv, fitted so that the outputs on
    ``inputs`` (calibration data, e.g. the layer's inputs on training images) are reconstructed
    best in the mean-squared sense (Zhang et al. 2015, linear case). ``conv`` is left unchanged.

    Args:
        conv: an ``nn.Conv2d`` with ``groups=1``, dilation 1 and numeric zero padding; not changed.
        rank: an int in ``[1, conv.out_channels]``.
        inputs: ``(N, C, H, W)`` float calibration inputs giving at least 2 output pixels.
    Returns:
        A new ``nn.Sequential`` of the two convs (the bias on the second).

    >>> _ = torch.manual_seed(0)
    >>> conv = nn.Conv2d(3, 8, 3, padding=1)
    >>> inputs = torch.randn(16, 3, 6, 6)
    >>> approx = output_reconstruct_conv(conv, rank=4, inputs=inputs)
    >>> [type(m).__name__ for m in approx], approx(inputs).shape
    (['Conv2d', 'Conv2d'], torch.Size([16, 8, 6, 6]))
    >>> relative_output_error(conv, output_reconstruct_conv(conv, 8, inputs), inputs) < 1e-3
    True
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be nn.Conv2d, got {type(conv).__name__}")
    if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError("conv must have groups=1, dilation=1 and numeric zero padding")
    d = conv.out_channels
    rank = V.integer(rank, "rank", low=1, high=d)
    y = conv_responses(conv, inputs)
    if len(y) < 2:
        raise ValueError("inputs must give at least 2 output pixels to estimate a covariance")
    mean = y.mean(0)
    cov = (y - mean).T @ (y - mean) / (len(y) - 1)
    _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
    p = vecs[:, -rank:].flip(1)  # d x rank, largest first
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(d, dtype=torch.float64)
    first = nn.Conv2d(conv.in_channels, rank, conv.kernel_size, stride=conv.stride, padding=conv.padding, bias=False)
    second = nn.Conv2d(rank, d, 1, bias=True)
    with torch.no_grad():
        first.weight.copy_(torch.einsum("or,ocyx->rcyx", p, w).float())
        second.weight.copy_(p.float()[:, :, None, None])
        second.bias.copy_((mean + p @ (p.T @ (b - mean))).float())
    return nn.Sequential(first, second)


def relative_output_error(conv: nn.Conv2d, approx: nn.Module, inputs: torch.Tensor) -> float:
    """:math:`\\|y - \\hat y\\|_F / \\|y\\|_F` over all output pixels of ``inputs``.

    Args:
        conv: the original ``nn.Conv2d``; read only.
        approx: its approximation, any module with the same output shape; read only.
        inputs: ``(N, C, H, W)`` float inputs.
    Returns:
        The relative error, a float >= 0.

    >>> conv = nn.Conv2d(3, 4, 3)
    >>> relative_output_error(conv, conv, torch.randn(2, 3, 5, 5))
    0.0
    """
    V.module(approx, "approx")
    y = conv_responses(conv, inputs)
    with torch.no_grad():
        y_hat = approx(inputs)
    y_hat = y_hat.permute(0, 2, 3, 1).reshape(-1, conv.out_channels).double()
    return float((y - y_hat).norm() / y.norm())
