"""CP decomposition of a convolution: one 4-way kernel becomes four cheap convolutions.

Lebedev et al., "Speeding-up Convolutional Neural Networks Using Fine-tuned CP-Decomposition"
(2015) write the kernel :math:`W \\in \\mathbb{R}^{d\\times c\\times k_h\\times k_w}` as a sum of
``rank`` outer products (canonical polyadic, CP):

.. math:: W_{o,c,y,x} \\approx \\sum_{r=1}^{R} A_{o,r}\\, B_{c,r}\\, Y_{y,r}\\, X_{x,r},

and run it as a :math:`1\\times1` conv :math:`c\\to R`, a :math:`k_h\\times1` and a :math:`1\\times k_w`
depthwise conv on the :math:`R` maps, and a :math:`1\\times1` conv :math:`R\\to d`: about
:math:`R\\,(c + k_h + k_w + d)` MACs per output pixel instead of :math:`d\\,c\\,k_h k_w`. The factors
are fitted by alternating least squares (tensorly's ``parafac``): unlike a matrix SVD there is no
closed form, the fit can stall, and the paper fine-tunes the four layers afterwards.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from . import validate as V


def _check_conv(conv) -> nn.Conv2d:
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be nn.Conv2d, got {type(conv).__name__}")
    if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError("conv must have groups=1, dilation=1 and numeric zero padding")
    if not bool(torch.isfinite(conv.weight).all()):
        raise ValueError("conv.weight contains NaN or infinity")
    return conv


def cp_factors(conv: nn.Conv2d, rank: int, *, n_iter_max: int = 200, seed: int = 0):
    """The CP factors ``(A, B, Y, X)`` of ``conv``'s kernel (shapes ``d x R``, ``c x R``,
    ``kh x R``, ``kw x R``) and the relative error :math:`\\|W-\\hat W\\|_F/\\|W\\|_F`.

    The scale of every rank-one term is spread evenly over its four factors (the fourth root on
    each), so that fine-tuning sees factors of similar size, as :mod:`effnn.lowrank` does with
    :math:`\\sqrt{S}`. Deterministic for a ``seed`` (SVD start, seeded fill where a mode is
    shorter than ``rank``).

    Args:
        conv: an ``nn.Conv2d`` with ``groups=1``, dilation 1, numeric zero padding and a finite,
            non-zero weight; read only.
        rank: ``R``, an int >= 1.
        n_iter_max: ALS iterations at most, >= 1.
        seed: an int >= 0.
    Returns:
        ``((A, B, Y, X), error)``: four new float32 tensors and the relative error, a float.

    >>> _ = torch.manual_seed(0)
    >>> conv = nn.Conv2d(3, 4, 3)
    >>> (a, b, y, x), error = cp_factors(conv, rank=2, n_iter_max=20)
    >>> [tuple(f.shape) for f in (a, b, y, x)], 0 < error < 1
    ([(4, 2), (3, 2), (3, 2), (3, 2)], True)
    """
    import tensorly as tl
    from tensorly.decomposition import parafac

    _check_conv(conv)
    rank = V.positive_int(rank, "rank")
    n_iter_max = V.positive_int(n_iter_max, "n_iter_max")
    seed = V.integer(seed, "seed", low=0)
    w = conv.weight.detach().double().numpy()
    norm = float(np.linalg.norm(w))
    if norm == 0:
        raise ValueError("conv.weight is all zeros: nothing to decompose")
    with tl.backend_context("numpy"), warnings.catch_warnings():
        # where a mode is shorter than rank, the SVD start fills the rest from random_state (seeded)
        warnings.filterwarnings("ignore", message="Trying to compute SVD with n_eigenvecs")
        weights, factors = parafac(w, rank, n_iter_max=n_iter_max, init="svd", tol=1e-8,
                                   normalize_factors=True, random_state=seed)
        error = float(np.linalg.norm(w - tl.cp_to_tensor((weights, factors))) / norm)
    root = np.abs(weights) ** 0.25
    sign = np.sign(weights)
    sign[sign == 0] = 1
    scaled = [f * root for f in factors]
    scaled[0] = scaled[0] * sign
    return tuple(torch.from_numpy(np.ascontiguousarray(f)).float() for f in scaled), error


def cp_layers(conv: nn.Conv2d, rank: int) -> nn.Sequential:
    """The four convolutions of a rank-``rank`` CP layer with PyTorch's default initialisation:
    the shapes, MACs and latency of :func:`cp_conv` without the (slow) ALS fit.

    Args:
        conv: an ``nn.Conv2d`` as for :func:`cp_factors`; read only (for its shape, stride and padding).
        rank: ``R``, an int >= 1.
    Returns:
        A new ``nn.Sequential`` of the four convs, randomly initialised.

    >>> layers = cp_layers(nn.Conv2d(16, 32, 3, padding=1), rank=8)
    >>> layers(torch.zeros(1, 16, 6, 6)).shape
    torch.Size([1, 32, 6, 6])
    """
    _check_conv(conv)
    rank = V.positive_int(rank, "rank")
    d, c, kh, kw = conv.weight.shape
    (sh, sw), (ph, pw) = conv.stride, conv.padding
    first = nn.Conv2d(c, rank, 1, bias=False)
    vertical = nn.Conv2d(rank, rank, (kh, 1), stride=(sh, 1), padding=(ph, 0), groups=rank, bias=False)
    horizontal = nn.Conv2d(rank, rank, (1, kw), stride=(1, sw), padding=(0, pw), groups=rank, bias=False)
    last = nn.Conv2d(rank, d, 1, bias=conv.bias is not None)
    return nn.Sequential(first, vertical, horizontal, last)


def cp_conv(conv: nn.Conv2d, rank: int, *, n_iter_max: int = 200, seed: int = 0) -> nn.Sequential:
    """Four convolutions (1x1, kh x 1 depthwise, 1 x kw depthwise, 1x1) that compute the CP
    approximation of ``conv`` (left unchanged); the bias goes on the last one. The relative
    kernel error of the fit is stored as the ``kernel_error`` attribute of the result.

    Args:
        conv: as for :func:`cp_factors`; not changed.
        rank: ``R``, an int >= 1.
        n_iter_max: ALS iterations at most, >= 1.
        seed: an int >= 0.
    Returns:
        A new ``nn.Sequential`` of the four convs, with ``kernel_error`` (a float) set.

    >>> _ = torch.manual_seed(0)
    >>> conv = nn.Conv2d(3, 4, 3, padding=1)
    >>> approx = cp_conv(conv, rank=36, n_iter_max=50)
    >>> [type(m).__name__ for m in approx], approx.kernel_error < 1e-3
    (['Conv2d', 'Conv2d', 'Conv2d', 'Conv2d'], True)
    >>> x = torch.randn(1, 3, 5, 5)
    >>> torch.allclose(approx(x), conv(x), atol=1e-3)
    True
    """
    (a, b, y, x), error = cp_factors(conv, rank, n_iter_max=n_iter_max, seed=seed)
    layers = cp_layers(conv, rank)
    first, vertical, horizontal, last = layers
    with torch.no_grad():
        first.weight.copy_(b.t()[:, :, None, None])
        vertical.weight.copy_(y.t()[:, None, :, None])
        horizontal.weight.copy_(x.t()[:, None, None, :])
        last.weight.copy_(a[:, :, None, None])
        if conv.bias is not None:
            last.bias.copy_(conv.bias.detach())
    layers.kernel_error = error
    return layers


def cp_params(conv: nn.Conv2d, rank: int) -> int:
    """Parameters of :func:`cp_conv` without building it: :math:`R(c + k_h + k_w + d)` (+ bias).

    Args:
        conv: as for :func:`cp_factors`; read only.
        rank: ``R``, an int >= 1.
    Returns:
        The parameter count, an int.

    >>> conv = nn.Conv2d(16, 32, 3)
    >>> cp_params(conv, 8), sum(p.numel() for p in cp_conv(conv, 8, n_iter_max=5).parameters())
    (464, 464)
    """
    _check_conv(conv)
    rank = V.positive_int(rank, "rank")
    d, c, kh, kw = conv.weight.shape
    return rank * (c + kh + kw + d) + (d if conv.bias is not None else 0)
