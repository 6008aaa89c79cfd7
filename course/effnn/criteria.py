"""Pruning criteria: how important is a weight, a filter, a channel?

Each function returns a score shaped like what it ranks (low score = prune first) and its
docstring gives the formula. The second-order ones (OBD, OBS, WoodFisher, K-FAC) take the
curvature as an argument, so a lecture can pass the exact Hessian of a tiny model
(:func:`hessian`) or a cheap approximation, and compare.

Data-free: :func:`magnitude`, :func:`filter_norm`, :func:`bn_scale`, :func:`geometric_median_distance`.
Data-aware: :func:`taylor_weight`, :func:`taylor_activation`, :func:`taylor_group`, :func:`obd_saliency`,
:func:`obs_saliency` / :func:`obs_prune`, :func:`empirical_fisher`, :func:`woodfisher_inverse`,
:func:`kfac_factors`.
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import Callable

import torch
from torch import nn

from . import validate as V
from ._deprecate import renamed_kwargs
from .experiment import Result


def _tensor(x, name: str, *, ndim=None) -> torch.Tensor:
    """``x`` detached, after checking it is a non-empty tensor of finite values."""
    V.tensor(x, name, ndim=ndim, min_numel=1)
    x = x.detach()
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinity")
    return x


def _norm_p(p) -> int:
    p = V.integer(p, "p")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    return p


def _xy(model, x, y):
    V.module(model, "model")
    x = _tensor(x, "x")
    V.tensor(y, "y", ndim=1)
    if y.is_floating_point():
        raise TypeError(f"y must hold integer class labels, got {y.dtype}")
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")


# --- data-free ------------------------------------------------------------------------------------

def magnitude(weight: torch.Tensor, p: int = 1) -> torch.Tensor:
    """Per-weight magnitude :math:`|w|^p` (``p=1``: L1, ``p=2``: L2): small weights matter little.

    Args:
        weight: a non-empty tensor of finite values, any shape; read only.
        p: 1 or 2.
    Returns:
        A new tensor shaped like ``weight``.

    >>> magnitude(torch.tensor([-2.0, 1.0]), p=2).tolist()
    [4.0, 1.0]
    """
    p = _norm_p(p)
    return _tensor(weight, "weight").abs().pow(p)


def filter_norm(weight: torch.Tensor, p: int = 1) -> torch.Tensor:
    """Per-output-channel norm :math:`\\|W_j\\|_p = (\\sum_{i,k,l} |w_{j,i,k,l}|^p)^{1/p}`.

    Args:
        weight: ``(out, ...)``, non-empty and finite; read only.
        p: 1 or 2.
    Returns:
        ``(out,)`` scores, small = prune first.

    >>> filter_norm(torch.tensor([[1.0, -2.0], [0.5, 0.5]])).tolist()
    [3.0, 1.0]
    """
    p = _norm_p(p)
    w = _tensor(weight, "weight")
    return w.reshape(w.shape[0], -1).norm(p=p, dim=1)


def bn_scale(bn: nn.Module) -> torch.Tensor:
    """Network slimming (Liu et al. 2017): channel ``c`` of :math:`\\gamma_c \\hat x_c + \\beta_c` scores :math:`|\\gamma_c|`.

    Args:
        bn: an affine ``BatchNorm1d/2d/3d`` layer; read only.
    Returns:
        ``(C,)`` scores, a detached tensor (a new one: ``abs`` copies).

    >>> bn = nn.BatchNorm1d(2); _ = bn.weight.data.copy_(torch.tensor([-0.5, 2.0]))
    >>> bn_scale(bn).tolist()
    [0.5, 2.0]
    """
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.weight is None:
        raise TypeError("bn must be an affine BatchNorm layer")
    return bn.weight.detach().abs()


def geometric_median_distance(weight: torch.Tensor) -> torch.Tensor:
    """FPGM (He et al. 2019): :math:`g(F_j) = \\sum_{j'} \\|F_j - F_{j'}\\|_2`.

    The filter nearest the geometric median of its layer (smallest sum) is the most replaceable
    by the others, whatever its norm, so it is pruned first.

    Args:
        weight: ``(out, ...)``, non-empty and finite; read only.
    Returns:
        ``(out,)`` sums of L2 distances to the other filters, small = prune first.

    >>> geometric_median_distance(torch.tensor([[0.0], [1.0], [3.0]])).tolist()
    [4.0, 3.0, 5.0]
    """
    w = _tensor(weight, "weight")
    flat = w.reshape(w.shape[0], -1)
    return torch.cdist(flat, flat).sum(dim=1)


# --- first order -----------------------------------------------------------------------------------

def taylor_weight(weight: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """First-order Taylor: :math:`|\\Delta L| \\approx |w\\, \\partial L/\\partial w|` for setting ``w`` to 0.

    SNIP (Lee et al. 2019) uses the same score at initialization.

    Args:
        weight: any shape, non-empty and finite; read only.
        grad: ``dL/dweight``, same shape.
    Returns:
        A new tensor shaped like ``weight``.

    >>> taylor_weight(torch.tensor([2.0, -1.0]), torch.tensor([0.5, 3.0])).tolist()
    [1.0, 3.0]
    """
    w, g = _tensor(weight, "weight"), _tensor(grad, "grad")
    if w.shape != g.shape:
        raise ValueError(f"weight {tuple(w.shape)} and grad {tuple(g.shape)} differ in shape")
    return (w * g).abs()


def taylor_group(weight: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Molchanov et al. 2019, per output channel: :math:`(\\sum_{w \\in W_j} w\\, \\partial L/\\partial w)^2`.

    Args:
        weight: ``(out, ...)``, non-empty and finite; read only.
        grad: ``dL/dweight``, same shape.
    Returns:
        ``(out,)`` scores, small = prune first.

    >>> taylor_group(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, -1.0]])).tolist()
    [1.0]
    """
    w, g = _tensor(weight, "weight"), _tensor(grad, "grad")
    if w.shape != g.shape:
        raise ValueError(f"weight {tuple(w.shape)} and grad {tuple(g.shape)} differ in shape")
    return (w * g).reshape(w.shape[0], -1).sum(dim=1).pow(2)


def taylor_activation(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Molchanov et al. 2017, per channel: :math:`|\\frac{1}{M}\\sum_m a_m\\, \\partial L/\\partial a_m|`.

    ``activation`` and ``grad`` are ``(N, C, ...)``; the product is averaged over the spatial
    positions, its absolute value then averaged over the batch: a channel whose removal changes
    the loss little on every sample scores low.

    Args:
        activation: ``(N, C, ...)`` activations, non-empty and finite.
        grad: ``dL/dactivation``, same shape.
    Returns:
        ``(C,)`` scores, small = prune first.

    >>> a = torch.ones(2, 3, 4); g = torch.zeros(2, 3, 4); g[:, 1] = 0.5
    >>> taylor_activation(a, g).tolist()
    [0.0, 0.5, 0.0]
    """
    a, g = _tensor(activation, "activation"), _tensor(grad, "grad")
    if a.shape != g.shape or a.dim() < 2:
        raise ValueError(f"activation {tuple(a.shape)} and grad {tuple(g.shape)} must match, (N, C, ...)")
    prod = (a * g).reshape(a.shape[0], a.shape[1], -1).mean(dim=2)
    return prod.abs().mean(dim=0)


# --- exact curvature of a tiny model ------------------------------------------------------------------

def flat_params(params) -> torch.Tensor:
    """Concatenate tensors into one vector (the order every Hessian here uses).

    Args:
        params: a non-empty list (or iterable) of tensors.
    Returns:
        A new detached 1-D tensor, the entries of each tensor in order.

    >>> flat_params([torch.ones(2, 2), torch.zeros(1)]).tolist()
    [1.0, 1.0, 1.0, 1.0, 0.0]
    """
    params = _param_list(params)
    return torch.cat([p.detach().reshape(-1) for p in params])


def _param_list(params, name: str = "params") -> list:
    if torch.is_tensor(params) or isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{name} must be a list of tensors, got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError(f"{name} is empty")
    for i, p in enumerate(params):
        V.tensor(p, f"{name}[{i}]")
    return params


def hessian(loss_of: Callable[[list[torch.Tensor]], torch.Tensor], params) -> torch.Tensor:
    """The exact Hessian :math:`H = \\nabla^2 L` w.r.t. ``params`` flattened (autograd, tiny models only).

    ``loss_of(tensors)`` must compute the loss with ``tensors`` in place of ``params``.

    Args:
        loss_of: ``loss_of(tensors) -> scalar tensor``, computing the loss from tensors shaped like ``params``.
        params: a non-empty list of tensors, the point the Hessian is taken at.
    Returns:
        The ``(d, d)`` Hessian, ``d`` = all entries of ``params`` in :func:`flat_params` order.

    >>> hessian(lambda ts: (ts[0] ** 2).sum() + ts[0][0] * ts[0][1], [torch.zeros(2)]).tolist()
    [[2.0, 1.0], [1.0, 2.0]]
    """
    V.function(loss_of, "loss_of")
    params = _param_list(params)
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]

    def flat_loss(v):
        return loss_of([t.view(s) for t, s in zip(v.split(sizes), shapes)])

    return torch.autograd.functional.hessian(flat_loss, flat_params(params), vectorize=True)


def obd_saliency(weight: torch.Tensor, hessian_diag: torch.Tensor) -> torch.Tensor:
    """Optimal Brain Damage (LeCun et al. 1990): :math:`s_i = \\tfrac12 h_{ii} w_i^2`.

    At a minimum the gradient term vanishes and a diagonal Hessian leaves only this.

    Args:
        weight: any shape, non-empty and finite.
        hessian_diag: the Hessian's diagonal, same shape.
    Returns:
        Per-weight saliency, shaped like ``weight``; small = prune first.

    >>> obd_saliency(torch.tensor([2.0, 1.0]), torch.tensor([1.0, 10.0])).tolist()
    [2.0, 5.0]
    """
    w, h = _tensor(weight, "weight"), _tensor(hessian_diag, "hessian_diag")
    if w.shape != h.shape:
        raise ValueError(f"weight {tuple(w.shape)} and hessian_diag {tuple(h.shape)} differ in shape")
    return 0.5 * h * w.pow(2)


def obs_saliency(w: torch.Tensor, h_inv: torch.Tensor) -> torch.Tensor:
    """Optimal Brain Surgeon (Hassibi & Stork 1993): :math:`L_q = \\frac{w_q^2}{2\\,[H^{-1}]_{qq}}`.

    The loss increase of removing ``w_q`` *and* moving the other weights optimally (see
    :func:`obs_update`), in the quadratic model of the loss.

    Args:
        w: the weights, any shape (read flat, ``d`` entries).
        h_inv: the ``(d, d)`` inverse Hessian, positive diagonal (see :func:`damped_inverse`).
    Returns:
        ``(d,)`` saliencies; the smallest is removed first.

    >>> obs_saliency(torch.tensor([2.0, 1.0]), torch.diag(torch.tensor([4.0, 0.5]))).tolist()
    [0.5, 1.0]
    """
    w, h_inv = _tensor(w, "w"), _tensor(h_inv, "h_inv")
    _check_h_inv(h_inv, w.numel())
    return w.reshape(-1).pow(2) / (2 * torch.diagonal(h_inv))


def _check_h_inv(h_inv: torch.Tensor, d: int) -> None:
    if h_inv.shape != (d, d):
        raise ValueError(f"h_inv must be ({d}, {d}), got {tuple(h_inv.shape)}")
    if not bool((torch.diagonal(h_inv) > 0).all()):
        raise ValueError("h_inv must have a positive diagonal (an inverse of a positive definite matrix; "
                         "see damped_inverse)")


def obs_update(w: torch.Tensor, h_inv: torch.Tensor, q: int) -> torch.Tensor:
    """The compensating update :math:`\\delta w = -\\frac{w_q}{[H^{-1}]_{qq}} H^{-1} e_q` (it zeroes ``w_q``).

    Args:
        w: the weights, any shape (read flat, ``d`` entries).
        h_inv: the ``(d, d)`` inverse Hessian, positive diagonal.
        q: the index of the weight removed, in ``[0, d)``.
    Returns:
        ``(d,)``: the update to add to the flat ``w`` (a new tensor; ``w`` is not changed).

    >>> obs_update(torch.tensor([1.0, 2.0]), torch.eye(2), 0).tolist()
    [-1.0, -0.0]
    """
    w, h_inv = _tensor(w, "w"), _tensor(h_inv, "h_inv")
    w = w.reshape(-1)
    _check_h_inv(h_inv, w.numel())
    q = V.integer(q, "q", low=0, high=w.numel() - 1)
    return -w[q] / h_inv[q, q] * h_inv[:, q]


def obs_path(w: torch.Tensor, h_inv: torch.Tensor, *, candidates: torch.Tensor | None = None):
    """Yield ``(w, mask)`` after each greedy OBS removal, until every candidate is gone.

    After removing ``q`` the inverse Hessian of the remaining weights is the Schur complement
    :math:`H^{-1} - H^{-1} e_q e_q^T H^{-1} / [H^{-1}]_{qq}` (as in WoodFisher and Optimal Brain
    Compression), so no matrix is inverted again.

    Args:
        w: the weights, any shape (read flat, ``d`` entries); copied, not changed.
        h_inv: the ``(d, d)`` inverse Hessian, positive diagonal; copied, not changed.
        candidates: ``d`` bool (or 0/1) entries marking the weights that may go; None for all.
    Returns:
        A generator of ``(w, mask)``, one per removal: ``w`` (float64, flat) carries the compensating
        updates, ``mask`` (bool) marks survivors. Both are the same tensors updated in place at each
        step: clone them to keep one. The arguments are checked at the call, not at the first item.

    >>> [m.tolist() for _, m in obs_path(torch.tensor([3.0, 1.0]), torch.eye(2))]
    [[True, False], [False, False]]
    """
    w = _tensor(w, "w").clone().double().reshape(-1)
    h_inv = _tensor(h_inv, "h_inv").clone().double()
    d = w.numel()
    _check_h_inv(h_inv, d)
    alive = torch.ones(d, dtype=torch.bool) if candidates is None else _candidates(candidates, d).clone()
    return _greedy_obs(w, h_inv, alive)  # checked now, not at the first next()


def _greedy_obs(w: torch.Tensor, h_inv: torch.Tensor, alive: torch.Tensor):
    d = w.numel()
    removed = torch.zeros(d, dtype=torch.bool)
    inf = torch.tensor(float("inf"), dtype=w.dtype)
    while bool(alive.any()):
        score = torch.where(alive, w.pow(2) / (2 * torch.diagonal(h_inv)), inf)
        q = int(torch.argmin(score))
        col = h_inv[:, q].clone()
        w -= w[q] / col[q] * col
        h_inv -= torch.outer(col, col) / col[q]
        alive[q] = False
        removed[q] = True
        w[removed] = 0.0  # exactly zero, whatever the round-off of the updates
        yield w, ~removed


def _candidates(candidates, d: int) -> torch.Tensor:
    V.tensor(candidates, "candidates")
    if candidates.numel() != d:
        raise ValueError(f"candidates must have {d} entries (one per weight), got {candidates.numel()}")
    if candidates.dtype != torch.bool and not bool(((candidates == 0) | (candidates == 1)).all()):
        raise ValueError("candidates must be a bool (or 0/1) tensor")
    return candidates.detach().bool().reshape(-1)


def obs_prune(w: torch.Tensor, h_inv: torch.Tensor, n_prune: int, *, candidates: torch.Tensor | None = None):
    """Remove ``n_prune`` weights one by one with OBS (:func:`obs_path`); returns ``(new_w, kept_mask)``.

    Each removal picks the lowest :func:`obs_saliency` and applies :func:`obs_update` to the rest.

    Args:
        w: the weights (any shape, read flat); not changed.
        h_inv: ``(d, d)`` with a positive diagonal.
        n_prune: an int in ``[0, number of candidates]``.
        candidates: ``d`` bool (or 0/1) entries marking the weights that may go; None for all.
    Returns:
        ``(new_w, kept_mask)``, both flat.

    >>> new_w, kept = obs_prune(torch.tensor([3.0, 0.1, -2.0]), torch.eye(3), 1)
    >>> new_w.tolist(), kept.tolist()
    ([3.0, 0.0, -2.0], [True, False, True])
    """
    d = _tensor(w, "w").numel()
    h = _tensor(h_inv, "h_inv")
    _check_h_inv(h, d)
    n_max = d if candidates is None else int(_candidates(candidates, d).sum())
    n_prune = V.integer(n_prune, "n_prune")
    if not 0 <= n_prune <= n_max:
        raise ValueError(f"n_prune must be in [0, {n_max}], got {n_prune}")
    if n_prune == 0:
        return w.detach().clone().reshape(-1).float(), torch.ones(d, dtype=torch.bool)
    for i, (new_w, kept) in enumerate(obs_path(w, h_inv, candidates=candidates), start=1):
        if i == n_prune:
            return new_w.float(), kept
    raise AssertionError("unreachable: n_prune was checked against the candidates")


# --- Fisher approximations ----------------------------------------------------------------------

def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: list[str] | None = None):
    """Gradients of each sample's cross-entropy, ``(N, d)``, via ``torch.func.vmap`` (no loop).

    Reads ``model``; does not change its weights. ``params``: parameter names (default: all),
    concatenated in that order. Their outer products build the empirical Fisher.

    Args:
        model: read only; called on one sample at a time (``torch.func.functional_call``).
        x: ``(N, ...)`` inputs, non-empty and finite.
        y: ``(N,)`` integer class labels.
        params: names of the model's parameters to differentiate, in that order; None for all.
    Returns:
        ``(N, d)``: row ``n`` is sample ``n``'s gradient, flattened and concatenated.

    >>> _ = torch.manual_seed(0); m = TinyMLP(4, 3, 2)
    >>> per_sample_grads(m, torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1]), params=["3.bias"]).shape
    torch.Size([5, 2])
    """
    from torch.func import functional_call, grad, vmap

    _xy(model, x, y)
    named = dict(model.named_parameters())
    if params is not None and (isinstance(params, str) or not hasattr(params, "__iter__")):
        raise TypeError(f"params must be a list of parameter names, got {type(params).__name__}")
    names = list(named) if params is None else list(params)
    unknown = [n for n in names if n not in named]
    if unknown or not names:
        raise ValueError(f"params must name parameters of the model, unknown {unknown}; known {list(named)}")
    frozen = {k: v.detach() for k, v in named.items() if k not in names}

    def loss(theta, xi, yi):
        out = functional_call(model, {**frozen, **theta}, (xi.unsqueeze(0),))
        return nn.functional.cross_entropy(out, yi.unsqueeze(0))

    g = vmap(grad(loss), in_dims=(None, 0, 0))({k: named[k].detach() for k in names}, x, y)
    return torch.cat([g[k].reshape(len(x), -1) for k in names], dim=1)


def empirical_fisher(grads: torch.Tensor, damp: float = 0.0) -> torch.Tensor:
    """:math:`\\hat F = \\lambda I + \\frac1N \\sum_n \\nabla\\ell_n \\nabla\\ell_n^T` from ``(N, d)`` gradients.

    A Hessian stand-in that needs only gradients.

    Args:
        grads: ``(N, d)`` per-sample gradients (e.g. :func:`per_sample_grads`).
        damp: ``lambda`` >= 0, added to the diagonal.
    Returns:
        ``(d, d)``, a new tensor.

    >>> empirical_fisher(torch.tensor([[1.0, 0.0], [1.0, 2.0]]), damp=0.5).tolist()
    [[1.5, 1.0], [1.0, 2.5]]
    """
    g = _tensor(grads, "grads")
    if g.dim() != 2:
        raise ValueError(f"grads must be (N, d), got {tuple(g.shape)}")
    damp = V.number(damp, "damp", low=0)
    return g.T @ g / len(g) + damp * torch.eye(g.shape[1], dtype=g.dtype)


def woodfisher_inverse(grads: torch.Tensor, damp: float = 1e-3) -> torch.Tensor:
    """:math:`\\hat F^{-1}` by the Woodbury recursion (Singh & Alistarh 2020), one gradient at a time.

    :math:`\\hat F_0^{-1} = \\lambda^{-1} I`, :math:`\\hat F_{n+1}^{-1} = \\hat F_n^{-1} -
    \\frac{\\hat F_n^{-1} g g^T \\hat F_n^{-1}}{N + g^T \\hat F_n^{-1} g}`: rank-one updates, no inversion.
    The result equals ``inverse(empirical_fisher(grads, damp))``.

    Args:
        grads: ``(N, d)`` per-sample gradients.
        damp: ``lambda`` > 0 (it starts the recursion at ``I / lambda``).
    Returns:
        ``(d, d)`` float32 (computed in float64).

    >>> g = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
    >>> torch.allclose(woodfisher_inverse(g, 0.5), torch.linalg.inv(empirical_fisher(g, 0.5)))
    True
    """
    g = _tensor(grads, "grads").double()
    if g.dim() != 2:
        raise ValueError(f"grads must be (N, d), got {tuple(g.shape)}")
    damp = V.number(damp, "damp", low=0, low_open=True)
    n, d = g.shape
    f_inv = torch.eye(d, dtype=g.dtype) / damp
    for gi in g:
        u = f_inv @ gi
        f_inv -= torch.outer(u, u) / (n + gi @ u)
    return f_inv.float()


def kfac_factors(inputs: torch.Tensor, grad_outputs: torch.Tensor):
    """K-FAC (Martens & Grosse 2015) for a linear layer :math:`y = W x`: ``(A, G)`` with

    :math:`A = \\mathbb{E}[x x^T]`, :math:`G = \\mathbb{E}[g g^T]`, :math:`g = \\partial \\ell/\\partial y`,
    so the layer's Fisher block is approximated by :math:`G \\otimes A` (for ``W.flatten()``, row-major)
    and inverted as :math:`G^{-1} \\otimes A^{-1}`. Inputs are ``(N, in)`` and ``(N, out)``.

    Args:
        inputs: ``(N, in)`` layer inputs.
        grad_outputs: ``(N, out)`` gradients of the loss w.r.t. the layer's outputs.
    Returns:
        ``(A, G)``: ``(in, in)`` and ``(out, out)``.

    >>> a, g = kfac_factors(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0]]))
    >>> a.tolist(), g.tolist()
    ([[1.0, 2.0], [2.0, 4.0]], [[9.0]])
    """
    x, g = _tensor(inputs, "inputs"), _tensor(grad_outputs, "grad_outputs")
    if x.dim() != 2 or g.dim() != 2 or len(x) != len(g):
        raise ValueError(f"inputs (N, in) and grad_outputs (N, out) expected, got {tuple(x.shape)}, {tuple(g.shape)}")
    return x.T @ x / len(x), g.T @ g / len(g)


# --- the experiment: loss increase at equal sparsity, no retraining ----------------------------------

CRITERIA = ("random", "magnitude", "taylor", "obd", "obs", "woodfisher")


class TinyMLP(nn.Sequential):
    """64 -> hidden -> 10 with tanh: small enough for an exact Hessian, smooth enough for Taylor.

    Args:
        in_features: input values per sample, >= 1 (inputs are flattened).
        hidden: hidden units, >= 1.
        num_classes: output logits, >= 1.

    >>> TinyMLP(hidden=4)(torch.zeros(3, 8, 8)).shape
    torch.Size([3, 10])
    """

    def __init__(self, in_features: int = 64, hidden: int = 16, num_classes: int = 10):
        for v, n in ((in_features, "in_features"), (hidden, "hidden"), (num_classes, "num_classes")):
            V.positive_int(v, n)
        super().__init__(nn.Flatten(), nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, num_classes))


def weight_loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """``(names, loss_of)``: the model's weight matrices and the loss as a function of them.

    Reads ``model``; does not change its weights. ``loss_of`` is what :func:`hessian` differentiates.

    Args:
        model: read only; its parameters named ``*weight`` are the variables, the rest stay fixed.
        x: inputs, non-empty and finite.
        y: ``(N,)`` integer class labels.
    Returns:
        ``(names, loss_of)``: the weight names in ``named_parameters`` order, and ``loss_of(tensors)``,
        the mean cross-entropy on ``(x, y)`` with ``tensors`` in place of those weights.

    >>> m = TinyMLP(4, 3, 2); _ = m[3].bias.data.zero_(); x, y = torch.zeros(2, 4), torch.tensor([0, 1])
    >>> names, loss_of = weight_loss_fn(m, x, y); names
    ['1.weight', '3.weight']
    >>> round(loss_of([torch.zeros(3, 4), torch.zeros(2, 3)]).item(), 4)  # zero weights and output bias: log 2
    0.6931
    """
    from torch.func import functional_call

    _xy(model, x, y)
    names = [n for n, p in model.named_parameters() if n.endswith("weight")]
    frozen = {n: p.detach() for n, p in model.named_parameters() if n not in names}

    def loss_of(tensors):
        out = functional_call(model, {**frozen, **dict(zip(names, tensors))}, (x,))
        return nn.functional.cross_entropy(out, y)

    return names, loss_of


def damped_inverse(h: torch.Tensor, damp: float = 1e-3) -> torch.Tensor:
    """:math:`(H + \\lambda I)^{-1}` with :math:`\\lambda` just large enough to make it positive definite.

    Away from an exact minimum the Hessian of a network is indefinite, and OBS with a negative
    :math:`[H^{-1}]_{qq}` would "gain" loss by removing weights; :math:`\\lambda = \\max(0, -\\lambda_{min})
    + \\text{damp}\\cdot\\overline{|h_{ii}|}` fixes that (the Levenberg-Marquardt trick).

    Args:
        h: a square matrix (a Hessian or Fisher), finite.
        damp: > 0, the extra damping relative to the mean absolute diagonal.
    Returns:
        The ``(d, d)`` inverse, float64.

    >>> bool((torch.diagonal(damped_inverse(torch.tensor([[1.0, 2.0], [2.0, 1.0]]))) > 0).all())
    True
    """
    h = _tensor(h, "h", ndim=2).double()
    if h.shape[0] != h.shape[1]:
        raise ValueError(f"h must be square, got shape {tuple(h.shape)}")
    damp = V.number(damp, "damp", low=0, low_open=True)
    lam = max(0.0, -float(torch.linalg.eigvalsh(h)[0])) + damp * float(torch.diagonal(h).abs().mean())
    return torch.linalg.inv(h + lam * torch.eye(len(h), dtype=h.dtype))


def _sparsities(amounts, check):
    if isinstance(amounts, (str, bytes)) or not isinstance(amounts, (list, tuple)):
        raise TypeError(f"amounts must be a list or tuple of fractions, got {type(amounts).__name__}")
    if not amounts:
        raise ValueError("amounts is empty")
    return [check(s, "amounts value") for s in amounts]


def _zero_lowest(w, score, k):
    """``w`` with the ``k`` lowest-scored entries zeroed (torch's topk; ties in its own order)."""
    out = w.clone()
    if k:
        out[torch.topk(score, k, largest=False).indices] = 0.0
    return out


@renamed_kwargs(sparsities="amounts")
def criterion_weights(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amounts=(0.5, 0.8), *,
                      damp: float = 1e-3, seeds: int = 5, fisher_samples: int | None = None) -> dict:
    """Prune each fraction in ``amounts`` of the weights (globally, no retraining) by every criterion.

    Reads ``model``; does not change its weights.

    ``random`` has ``seeds`` weight vectors per amount, the others one. OBS (exact Hessian) and
    WoodFisher (empirical Fisher from ``fisher_samples`` per-sample gradients) also move the
    surviving weights; the other criteria only zero the pruned ones.

    Args:
        model: read only; copies of its ``*weight`` parameters, flattened, are pruned (biases stay).
        x: inputs, non-empty and finite.
        y: ``(N,)`` integer class labels.
        amounts: fractions of the weights removed, each in [0, 1).
        damp: > 0, the damping of the Hessian and Fisher inverses.
        seeds: random-pruning draws, >= 1.
        fisher_samples: per-sample gradients for WoodFisher, >= 1; None for all of ``x``.
    Returns:
        ``{amount: {criterion: list of flat weight vectors}}``, new tensors.

    >>> _ = torch.manual_seed(0); m = TinyMLP(4, 2, 2)
    >>> t = criterion_weights(m, torch.randn(6, 4), torch.tensor([0, 1] * 3), amounts=(0.5,), seeds=1)
    >>> sorted(t[0.5]), int((t[0.5]["magnitude"][0] == 0).sum())
    (['magnitude', 'obd', 'obs', 'random', 'taylor', 'woodfisher'], 6)
    """
    from .prune import check_amount

    _xy(model, x, y)
    amounts = _sparsities(amounts, check_amount)
    damp = V.number(damp, "damp", low=0, low_open=True)
    V.positive_int(seeds, "seeds")
    if fisher_samples is not None:
        V.positive_int(fisher_samples, "fisher_samples")
    if not [n for n, _ in model.named_parameters() if n.endswith("weight")]:
        raise ValueError(f"model ({type(model).__name__}) has no weight parameters: nothing to prune")
    names, loss_of = weight_loss_fn(model, x, y)
    params = [dict(model.named_parameters())[n] for n in names]
    w = flat_params(params)
    d = w.numel()
    ks = {s: round(s * d) for s in amounts}
    tensors = [p.detach().clone().requires_grad_(True) for p in params]
    grad = flat_params(torch.autograd.grad(loss_of(tensors), tensors))
    h = hessian(loss_of, params)
    n_fisher = len(x) if fisher_samples is None else min(fisher_samples, len(x))
    g = per_sample_grads(model, x[:n_fisher], y[:n_fisher], params=names)
    f_inv = woodfisher_inverse(g, damp=damp * float(g.pow(2).sum(1).mean()) / d)

    def along_path(h_inv):
        found, k_max = {}, max(ks.values())
        for i, (new_w, _) in enumerate(obs_path(w, h_inv), start=1):
            for s, k in ks.items():
                if k == i:
                    found[s] = new_w.float().clone()
            if i >= k_max:
                break
        return {s: found.get(s, w.clone()) for s in amounts}

    obs, wf = along_path(damped_inverse(h, damp)), along_path(f_inv)
    gen = torch.Generator().manual_seed(0)
    table = {}
    for s, k in ks.items():
        table[s] = {
            "random": [_zero_lowest(w, torch.rand(d, generator=gen), k) for _ in range(seeds)],
            "magnitude": [_zero_lowest(w, magnitude(w), k)],
            "taylor": [_zero_lowest(w, taylor_weight(w, grad), k)],
            "obd": [_zero_lowest(w, obd_saliency(w, torch.diagonal(h)), k)],
            "obs": [obs[s]],
            "woodfisher": [wf[s]],
        }
    return table


@renamed_kwargs(sparsities="amounts")
def loss_increase(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amounts=(0.5, 0.8), **kwargs) -> dict:
    """``{amount: {criterion: mean ΔL}}``: the loss increase on ``(x, y)`` each criterion causes.

    Reads ``model``; does not change its weights.

    Keyword arguments go to :func:`criterion_weights`. A positive value: pruning hurt the loss.

    Args:
        model: read only.
        x: inputs, non-empty and finite.
        y: ``(N,)`` integer class labels.
        amounts: fractions of the weights removed, each in [0, 1).
        **kwargs: ``damp``, ``seeds``, ``fisher_samples`` of :func:`criterion_weights`.
    Returns:
        ``{amount: {criterion: mean loss increase}}``, floats (nats; random averaged over its seeds).

    >>> _ = torch.manual_seed(0); m = TinyMLP(4, 2, 2)
    >>> t = loss_increase(m, torch.randn(6, 4), torch.tensor([0, 1] * 3), amounts=(0.5,), seeds=1)
    >>> t[0.5]["obs"] <= t[0.5]["magnitude"] + 1e-6
    True
    """
    from .prune import check_amount

    _xy(model, x, y)
    _sparsities(amounts, check_amount)
    names, loss_of = weight_loss_fn(model, x, y)
    params = [dict(model.named_parameters())[n] for n in names]
    shapes, sizes = [p.shape for p in params], [p.numel() for p in params]

    @torch.no_grad()
    def loss_at(v):
        return float(loss_of([t.view(sh) for t, sh in zip(v.split(sizes), shapes)]))

    base = loss_at(flat_params(params))
    table = criterion_weights(model, x, y, amounts, **kwargs)
    return {s: {c: sum(loss_at(v) - base for v in vs) / len(vs) for c, vs in row.items()}
            for s, row in table.items()}


@dataclass
class CriteriaConfig:
    """Lecture 02's criteria comparison: a :class:`TinyMLP` trained once, pruned by every criterion.

    Args:
        hidden: the MLP's hidden width (small: OBS needs the exact Hessian of every weight).
        epochs: training epochs (fast mode trains them too: the comparison needs a trained net).
        amounts: the fractions of weights removed, each in [0, 1).
        seed: seeds the model and its training.
        fisher_samples: per-sample gradients for WoodFisher (``None``: every training sample).

    >>> CriteriaConfig(amounts=(0.5,)).amounts, CriteriaConfig.fast().epochs
    ((0.5,), 10)
    """
    hidden: int = 16
    epochs: int = 40
    amounts: tuple = (0.5, 0.8)
    seed: int = 0
    fisher_samples: int | None = None

    def __post_init__(self):
        from .prune import check_amount

        V.positive_int(self.hidden, "hidden")
        V.positive_int(self.epochs, "epochs")
        _sparsities(self.amounts, check_amount)
        V.integer(self.seed, "seed")
        if self.fisher_samples is not None:
            V.positive_int(self.fisher_samples, "fisher_samples")

    @classmethod
    def fast(cls, **overrides) -> "CriteriaConfig":
        """The fast-mode preset (the benchmark's): 8 hidden units, 10 epochs, 300 Fisher samples."""
        return cls(**{"hidden": 8, "epochs": 10, "fisher_samples": 300, **overrides})


@dataclass
class CriteriaResult(Result):
    """The trained MLP, its training accuracy, and ``table = {amount: {criterion: mean loss increase}}``.

    Args:
        model: the trained :class:`TinyMLP`.
        train_acc: its training accuracy, in [0, 1].
        table: ``{amount: {criterion: mean loss increase}}`` (:func:`loss_increase`).

    >>> r = CriteriaResult(model=TinyMLP(), train_acc=0.9, table={}); r["train_acc"]
    0.9
    """
    model: nn.Module
    train_acc: float
    table: dict


def run_criteria(config: CriteriaConfig, data=None) -> CriteriaResult:
    """Train a :class:`TinyMLP` and tabulate :func:`loss_increase` (training loss, no retraining).

    Args:
        config: a :class:`CriteriaConfig`.
        data: an ``(x, y)`` pair of tensors (inputs are flattened); None for the digits training set.
    Returns:
        A :class:`CriteriaResult`; the MLP is built here, nothing passed in is changed.

    >>> _ = torch.manual_seed(0); x, y = torch.randn(40, 6), torch.arange(40) % 2
    >>> r = run_criteria(CriteriaConfig(hidden=2, epochs=1, amounts=(0.5,)), (x, y))
    >>> sorted(r.table[0.5])[:2], 0.0 <= r.train_acc <= 1.0
    (['magnitude', 'obd'], True)
    """
    from .data import classification
    from .train import TrainConfig, accuracy, fit, seed_everything

    if not isinstance(config, CriteriaConfig):
        raise TypeError(f"config must be an effnn.criteria.CriteriaConfig, got {type(config).__name__}")
    if data is not None:
        V.data(data, "data")
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise TypeError("data must be an (x, y) pair of tensors")
    c = config
    x, y = data if data is not None else classification("train", flatten=True)
    x = x.reshape(len(x), -1)
    seed_everything(c.seed)
    model = TinyMLP(in_features=x.shape[1], hidden=c.hidden)
    fit(model, (x, y), TrainConfig(epochs=c.epochs, fast_epochs=c.epochs, lr=3e-3, batch_size=128, seed=c.seed),
        desc="tiny MLP")
    table = loss_increase(model, x, y, c.amounts, fisher_samples=c.fisher_samples)
    return CriteriaResult(model=model, train_acc=accuracy(model, (x, y)), table=table)


@renamed_kwargs(sparsities="amounts")
def criteria_experiment(hidden: int = 16, epochs: int = 40, amounts=(0.5, 0.8), seed: int = 0,
                        fisher_samples: int | None = None, data=None) -> CriteriaResult:
    """Keyword form of ``run_criteria(CriteriaConfig(...), data)``: same arguments, same result.

    Args:
        hidden, epochs, amounts, seed, fisher_samples: the fields of :class:`CriteriaConfig` (a list
            of amounts is accepted).
        data: as for :func:`run_criteria`.
    Returns:
        A :class:`CriteriaResult`.

    >>> _ = torch.manual_seed(0); x, y = torch.randn(40, 6), torch.arange(40) % 2
    >>> list(criteria_experiment(hidden=2, epochs=1, amounts=(0.5,), data=(x, y)).table)
    [0.5]
    """
    if isinstance(amounts, list):
        amounts = tuple(amounts)
    return run_criteria(CriteriaConfig(hidden=hidden, epochs=epochs, amounts=amounts, seed=seed,
                                       fisher_samples=fisher_samples), data)
