"""Low-rank factorization: replace one big layer by two thin ones found with a truncated SVD.

A weight matrix :math:`W \\in \\mathbb{R}^{m\\times n}` of rank :math:`r` costs :math:`r(m+n)`
parameters and MACs per sample as :math:`W \\approx (U_r\\sqrt{S_r})(\\sqrt{S_r}V_r^\\top)` instead of
:math:`mn`; by Eckart-Young the truncated SVD is the best rank-:math:`r` approximation in the
Frobenius norm. For convolutions the same SVD is taken of a reshaped kernel (Jaderberg et al. 2014):

- ``"spatial"``: a :math:`k\\times 1` conv into ``rank`` channels, then a :math:`1\\times k` conv
  (their scheme 2, vertical then horizontal filters);
- ``"channel"``: ``rank`` full :math:`k\\times k` filters, then a :math:`1\\times 1` conv back to
  ``d`` outputs (the "d' filters then 1x1" decomposition).

Both are exact at full rank and are initialised in closed form (filter reconstruction, no data).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from . import validate as V

CONV_SCHEMES = ("spatial", "channel")


def _check_rank(rank, max_rank: int) -> int:
    return V.integer(rank, "rank", low=1, high=max_rank)


def _split_svd(matrix: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, B)`` with ``A @ B`` the best rank-``rank`` approximation; the singular values are split
    evenly (:math:`\\sqrt{S}` on each side) so both factors have similar scale for fine-tuning."""
    u, s, vh = torch.linalg.svd(matrix.detach().double(), full_matrices=False)
    root = s[:rank].sqrt()
    return (u[:, :rank] * root).float(), (root[:, None] * vh[:rank]).float()


def singular_values(layer: nn.Module) -> torch.Tensor:
    """Singular values of a Linear weight (or of a conv kernel reshaped to ``out x in*k*k``).

    Reads ``layer``; does not change its weights.

    Args:
        layer: an ``nn.Linear`` or ``nn.Conv2d`` with finite weights; read only.
    Returns:
        A new float32 tensor of ``min(out, in*k*k)`` singular values, largest first.

    >>> singular_values(nn.Linear(3, 2)).shape
    torch.Size([2])
    """
    if not isinstance(layer, (nn.Linear, nn.Conv2d)):
        raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")
    w = layer.weight.detach()
    if not bool(torch.isfinite(w).all()):
        raise ValueError("layer.weight contains NaN or infinity")
    return torch.linalg.svdvals(w.reshape(w.shape[0], -1).double()).float()


def relative_error(layer: nn.Module, rank: int) -> float:
    """:math:`\\|W - W_r\\|_F / \\|W\\|_F = \\sqrt{\\sum_{i>r} s_i^2 / \\sum_i s_i^2}` (Eckart-Young).

    Reads ``layer``; does not change its weights.

    Args:
        layer: an ``nn.Linear`` or ``nn.Conv2d`` with a non-zero weight; read only.
        rank: an int in ``[1, number of singular values]``.
    Returns:
        A float in [0, 1]: what a rank-``rank`` factorization loses before any fine-tuning.

    >>> lin = nn.Linear(8, 8)
    >>> relative_error(lin, 8), 0 < relative_error(lin, 2) < 1
    (0.0, True)
    """
    s = singular_values(layer)
    _check_rank(rank, len(s))
    if float(s.pow(2).sum()) == 0:
        raise ValueError("layer.weight is all zeros: the relative error is undefined")
    return float((s[rank:].pow(2).sum() / s.pow(2).sum()).sqrt())


def svd_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    """``Linear(n, m)`` -> ``Linear(n, rank, bias=False)`` then ``Linear(rank, m)``, from the SVD.

    Args:
        layer: the ``nn.Linear`` to approximate (left unchanged).
        rank: an int in ``[1, min(n, m)]``; at full rank the result computes the same function.
    Returns:
        a new ``nn.Sequential`` of the two factors.

    >>> lin = nn.Linear(6, 4); x = torch.randn(3, 6)
    >>> torch.allclose(svd_linear(lin, 4)(x), lin(x), atol=1e-5)
    True
    """
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"layer must be nn.Linear, got {type(layer).__name__}")
    _check_rank(rank, min(layer.in_features, layer.out_features))
    a, b = _split_svd(layer.weight, rank)
    first = nn.Linear(layer.in_features, rank, bias=False)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None)
    return _two_stage(first, b, second, a, layer.bias)


def _two_stage(first: nn.Module, first_w, second: nn.Module, second_w, bias) -> nn.Sequential:
    """Load the two factors into ``first`` then ``second``; the original bias goes on the second."""
    with torch.no_grad():
        first.weight.copy_(first_w)
        second.weight.copy_(second_w)
        if bias is not None:
            second.bias.copy_(bias)
    return nn.Sequential(first, second)


def max_conv_rank(conv: nn.Conv2d, scheme: str = "spatial") -> int:
    """The rank at which :func:`factorize_conv` is exact.

    Args:
        conv: an ``nn.Conv2d``; read only.
        scheme: ``"spatial"`` or ``"channel"``.
    Returns:
        An int; a rank whose two factors cost more than ``conv`` saves nothing.

    >>> conv = nn.Conv2d(3, 8, 3)
    >>> max_conv_rank(conv), max_conv_rank(conv, "channel")
    (9, 8)
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be nn.Conv2d, got {type(conv).__name__}")
    V.choice(scheme, "scheme", CONV_SCHEMES)
    d, c, kh, kw = conv.weight.shape
    return min(c * kh, d * kw) if scheme == "spatial" else min(d, c * kh * kw)


def factorize_conv(conv: nn.Conv2d, rank: int, scheme: str = "spatial") -> nn.Sequential:
    """Two convolutions whose composition approximates ``conv`` (see the module docstring).

    Args:
        conv: an ``nn.Conv2d`` with ``groups=1``, dilation 1 and numeric zero padding; not changed.
        rank: an int in ``[1, max_conv_rank(conv, scheme)]``.
        scheme: ``"spatial"`` or ``"channel"``.
    Returns:
        A new ``nn.Sequential`` of the two convs (same stride and padding overall; the bias on the second).

    >>> _ = torch.manual_seed(0); conv = nn.Conv2d(3, 8, 3, padding=1); x = torch.randn(1, 3, 6, 6)
    >>> two = factorize_conv(conv, 9); [c.kernel_size for c in two]
    [(3, 1), (1, 3)]
    >>> torch.allclose(two(x), conv(x), atol=1e-4)  # exact at full rank
    True
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be nn.Conv2d, got {type(conv).__name__}")
    if scheme not in CONV_SCHEMES:
        raise ValueError(f"scheme must be one of {CONV_SCHEMES}, got {scheme!r}")
    if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError("conv must have groups=1, dilation=1 and numeric zero padding")
    _check_rank(rank, max_conv_rank(conv, scheme))
    d, c, kh, kw = conv.weight.shape
    (sh, sw), (ph, pw) = conv.stride, conv.padding
    w = conv.weight.detach()
    if scheme == "spatial":
        # M[(c, y), (o, x)] = W[o, c, y, x]  ->  vertical filters V[r, c, y], horizontal H[o, r, x]
        a, b = _split_svd(w.permute(1, 2, 0, 3).reshape(c * kh, d * kw), rank)
        first = nn.Conv2d(c, rank, (kh, 1), stride=(sh, 1), padding=(ph, 0), bias=False)
        second = nn.Conv2d(rank, d, (1, kw), stride=(1, sw), padding=(0, pw), bias=conv.bias is not None)
        first_w = a.reshape(c, kh, rank).permute(2, 0, 1).unsqueeze(-1)
        second_w = b.reshape(rank, d, kw).permute(1, 0, 2).unsqueeze(2)
    else:
        a, b = _split_svd(w.reshape(d, c * kh * kw), rank)
        first = nn.Conv2d(c, rank, (kh, kw), stride=(sh, sw), padding=(ph, pw), bias=False)
        second = nn.Conv2d(rank, d, 1, bias=conv.bias is not None)
        first_w = b.reshape(rank, c, kh, kw)
        second_w = a.reshape(d, rank, 1, 1)
    return _two_stage(first, first_w, second, second_w, conv.bias)


def factorize_linears(model: nn.Module, rank: int, *, skip=()) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` (except those named in ``skip``) replaced by
    :func:`svd_linear` at ``min(rank, max rank)``; layers where that would not save parameters stay.

    Returns a new model; ``model`` is not changed.

    Args:
        model: copied, not changed; it needs an ``nn.Linear`` (not a bare one: use :func:`svd_linear`).
        rank: an int >= 1, capped per layer at ``min(in, out)``.
        skip: module names (as in ``named_modules()``) to leave dense.
    Returns:
        The new model.

    >>> m = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    >>> small = factorize_linears(m, 4); small[0], small[2]  # the last layer would not shrink
    (Sequential(
      (0): Linear(in_features=32, out_features=4, bias=False)
      (1): Linear(in_features=4, out_features=32, bias=True)
    ), Linear(in_features=32, out_features=2, bias=True))
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(rank, (bool, float)) or not isinstance(rank, (int, __import__("numpy").integer)) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    if isinstance(skip, str) or not hasattr(skip, "__iter__"):
        raise TypeError(f"skip must be a collection of layer names, got {type(skip).__name__}")
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError(f"model ({type(model).__name__}) has no nn.Linear layer: nothing to factorize")
    if isinstance(model, nn.Linear):
        raise ValueError("model is a bare nn.Linear: use svd_linear, or wrap it in nn.Sequential")
    model = copy.deepcopy(model)
    targets = [(name, m) for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and name not in skip]
    for name, layer in targets:
        m, n = layer.out_features, layer.in_features
        r = min(rank, m, n)
        if r * (m + n) >= m * n:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, svd_linear(layer, r))
    return model


def rank_sweep(model: nn.Module, ranks, train_data, test_data, finetune=None, *, skip=(), progress: bool = True) -> list[dict]:
    """For each rank: parameter ratio (factorized / dense), test accuracy right after the SVD and,
    if ``finetune`` (a ``TrainConfig``) is given, after fine-tuning the two factors.

    Factorizes copies; ``model`` is not changed.

    Args:
        model: copied for each rank, not changed.
        ranks: a non-empty list of ints >= 1.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader for the fine-tuning; may be None
            without ``finetune``.
        test_data: the same kinds, for the accuracies.
        finetune: a :class:`~effnn.train.TrainConfig`, or None for no fine-tuning.
        skip: as in :func:`factorize_linears`.
        progress: show a progress bar over the ranks.
    Returns:
        One dict per rank: ``rank``, ``params_ratio``, ``acc_svd`` and, with ``finetune``, ``acc``.

    >>> m = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    >>> test = (torch.randn(40, 32), torch.arange(40) % 2)
    >>> [round(r["params_ratio"], 3) for r in rank_sweep(m, [4, 8], None, test, progress=False)]
    [0.316, 0.544]
    """
    from .measure import count_params
    from .train import _config, accuracy, fit, progress_bar

    V.module(model, "model")
    if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
        raise TypeError(f"ranks must be a list of ints, got {type(ranks).__name__}")
    ranks = [V.positive_int(r, f"ranks[{i}]") for i, r in enumerate(ranks)]
    if not ranks:
        raise ValueError("ranks is empty")
    V.data(test_data, "test_data")
    if finetune is not None or train_data is not None:
        V.data(train_data, "train_data")
    if finetune is not None:
        _config(finetune, "finetune")
    V.flag(progress, "progress")
    dense = count_params(model)
    rows = []
    for rank in progress_bar(list(ranks), desc="ranks", disable=not progress):
        small = factorize_linears(model, rank, skip=skip)
        row = {"rank": rank, "params_ratio": count_params(small) / dense, "acc_svd": accuracy(small, test_data)}
        if finetune is not None:
            fit(small, train_data, finetune, desc=f"fine-tune rank {rank}")
            row["acc"] = accuracy(small, test_data)
        rows.append(row)
    return rows
