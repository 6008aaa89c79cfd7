"""A binary convolution as an XNOR-popcount GEMM: packed im2col (XNOR-Net, Rastegari et al., 2016).

A convolution is a matrix product once every receptive field is laid out as a row (im2col): the
(B * H' * W', C * k * k) patches times the (C * k * k, O) filters. With ±1 inputs and weights the
product runs on bits through :func:`effnn.xnor.xnor_matmul_fast`.

Zero padding is the one catch: a padded position is 0, a third value that no bit can hold. Here the
padding is filled with +1 before packing, and the spurious contribution, the sum of the filter's
signs over the padded positions, is subtracted afterwards. That correction depends only on the
position in the output map, not on the input, so it is computed once per input size (a float
convolution of a 0/1 "is padding" map with the filter signs). The result is an exact integer map,
equal to ``conv2d(sign(x), sign(W), padding=p)``.

- :func:`binary_conv2d`: the packed product, with ``weights`` packed once by :func:`pack_filters`.
- :func:`float_reference`: the float convolution of the signs that it must equal.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from . import validate as V
from . import xnor


def _signs(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _check_geometry(kernel_size, stride, padding) -> tuple[int, int, int]:
    return (V.positive_int(kernel_size, "kernel_size"), V.positive_int(stride, "stride"),
            V.integer(padding, "padding", low=0))


def pack_filters(weight: torch.Tensor):
    """The sign bits of an (O, C, k, k) weight, one packed row per filter, transposed to (W, O).

    That is the layout :func:`binary_conv2d` streams over (``packed=``), so filters are packed once
    (``W = ceil(C * k * k / 64)`` words per filter).

    Args:
        weight: ``(O, C, k, k)`` float, finite, non-empty, square filters (only the signs count).
    Returns:
        A new contiguous ``(W, O)`` uint64 array.

    >>> w = torch.randn(4, 3, 3, 3)
    >>> pack_filters(w).shape
    (1, 4)
    >>> x = torch.randn(1, 3, 5, 5)
    >>> torch.equal(binary_conv2d(x, w, packed=pack_filters(w)), binary_conv2d(x, w))
    True
    """
    V.tensor(weight, "weight", ndim=4, floating=True, finite=True, min_numel=1)
    if weight.shape[2] != weight.shape[3]:
        raise ValueError(f"weight must have square k x k filters, got shape {tuple(weight.shape)}")
    return xnor.transpose_packed(xnor.pack_rows(weight.detach().reshape(weight.shape[0], -1)))


def float_reference(x: torch.Tensor, weight: torch.Tensor, *, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """``conv2d(sign(x), sign(weight))`` in float32, zero padding: what :func:`binary_conv2d` must equal.

    Args:
        x: ``(B, C, H, W)`` float, finite, non-empty (only the signs count; sign(0) = +1).
        weight: ``(O, C, k, k)`` float, finite (only the signs count).
        stride: >= 1.
        padding: zeros on each side, >= 0.
    Returns:
        A new float32 ``(B, O, H', W')`` tensor of integers.

    >>> x, w = torch.tensor([[[[0.5, -2.0], [0.0, 3.0]]]]), torch.ones(1, 1, 2, 2)
    >>> float_reference(x, w)
    tensor([[[[2.]]]])
    """
    V.tensor(x, "x", ndim=4, floating=True, finite=True, min_numel=1)
    V.tensor(weight, "weight", ndim=4, floating=True, finite=True, min_numel=1)
    _, stride, padding = _check_geometry(weight.shape[-1], stride, padding)
    return F.conv2d(_signs(x), _signs(weight.detach()), stride=stride, padding=padding)


def binary_conv2d(x: torch.Tensor, weight: torch.Tensor, *, stride: int = 1, padding: int = 0,
                  packed=None) -> torch.Tensor:
    """The ±1 convolution ``conv2d(sign(x), sign(weight))`` through packed im2col and the XNOR kernel.

    Args:
        x: (B, C, H, W) activations (only their signs count; sign(0) = +1).
        weight: (O, C, k, k) latent weights (only their signs count).
        stride, padding: as in ``torch.nn.functional.conv2d`` (zero padding).
        packed: ``pack_filters(weight)``, to pack the filters once instead of every call.
    Returns:
        (B, O, H', W') float32 tensor of exact integers.

    >>> x, w = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3)
    >>> torch.equal(binary_conv2d(x, w, padding=1), float_reference(x, w, padding=1))
    True
    """
    V.tensor(x, "x", ndim=4, floating=True, finite=True, min_numel=1)
    V.tensor(weight, "weight", ndim=4, floating=True, finite=True, min_numel=1)
    k, stride, padding = _check_geometry(weight.shape[-1], stride, padding)
    batch, channels, height, width = x.shape
    if weight.shape[1] != channels:
        raise ValueError(f"weight expects {weight.shape[1]} input channels, x has {channels}")
    if height + 2 * padding < k or width + 2 * padding < k:
        raise ValueError(f"x ({height}x{width}, padding {padding}) is smaller than the {k}x{k} filter")
    if packed is not None and not hasattr(packed, "shape"):
        raise TypeError(f"packed must be pack_filters(weight) (an array of words), got {type(packed).__name__}")
    bt = pack_filters(weight) if packed is None else packed
    out_h = (height + 2 * padding - k) // stride + 1
    out_w = (width + 2 * padding - k) // stride + 1
    signs = F.pad(_signs(x.detach()), (padding,) * 4, value=1.0)  # +1 in the padding, corrected below
    cols = F.unfold(signs, k, stride=stride)  # (B, C*k*k, L)
    rows = cols.transpose(1, 2).reshape(-1, channels * k * k)
    product = xnor.xnor_matmul_fast(xnor.pack_rows(rows), bt, channels * k * k, b_transposed=True)
    out = torch.from_numpy(product).float().reshape(batch, out_h * out_w, -1).transpose(1, 2)
    out = out.reshape(batch, -1, out_h, out_w)
    if padding:
        border = torch.ones(1, channels, height + 2 * padding, width + 2 * padding)
        border[..., padding:padding + height, padding:padding + width] = 0
        out = out - F.conv2d(border, _signs(weight.detach()), stride=stride)
    return out.contiguous()
