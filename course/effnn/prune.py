"""Unstructured, N:M and block pruning masks, sparsity schedules, and the prune-retrain loop.

Masks are ``torch.nn.utils.prune`` masks: after pruning, a layer holds ``weight_orig`` (trained)
and the buffer ``weight_mask``; a forward pre-hook computes ``weight = weight_orig * weight_mask``.
So pruned weights stay exactly zero through any later training, and ``prune.remove`` makes the
zeros permanent. Which entries go is decided by torch's own methods too: magnitude and score
pruning call ``prune.l1_unstructured`` / ``prune.global_unstructured`` (ties in torch.topk's order),
this module only turns "a total fraction" into how many *more* entries they remove:

- ``scope="global"``: one threshold over all layers (layers end up with different sparsities);
- ``scope="layer"``: the same fraction in every layer (uniform);
- ``amounts={layer: s}``: an individual fraction per layer.

``amount`` is always the *total* fraction of zeros a layer (or the network) ends with, so calling
:func:`magnitude_prune` again with a larger amount continues from the current mask.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from . import validate as V
from ._deprecate import renamed_fields
from .experiment import Result
from .train import TrainConfig, accuracy, fit, progress_bar

PRUNABLE = (nn.Linear, nn.Conv2d, nn.Conv1d)
SCOPES = ("global", "layer")


def check_amount(amount, name: str = "amount") -> float:
    """A pruning fraction: a number in [0, 1) (numpy scalars too); 1 would delete the whole layer.

    Kept as an alias of :func:`effnn.validate.fraction`, the one home of this check.

    Args:
        amount: a number in [0, 1) (numpy scalars too).
        name: the argument's name, used in the error message.
    Returns:
        ``amount`` as a Python float.

    >>> check_amount(np.float32(0.5))
    0.5
    """
    return V.fraction(amount, name)


def _check_model(model):
    V.module(model, "model")


def _check_layer(layer, name: str = "layer") -> nn.Module:
    V.module(layer, name)
    if not isinstance(getattr(layer, "weight", None), torch.Tensor):
        raise TypeError(f"{name} must be a layer with a weight tensor (nn.Linear, nn.Conv2d...), "
                        f"got {type(layer).__name__}")
    return layer


def _layers_of(model, layers, name: str = "layers") -> list[nn.Module]:
    """``layers`` (default: every prunable layer of ``model``), refusing an empty set clearly."""
    if layers is None:
        out = prunable_layers(model)
        if not out:
            raise ValueError(f"model ({type(model).__name__}) has no prunable layers "
                             f"(nn.Linear, nn.Conv1d, nn.Conv2d): nothing to prune")
        return out
    if isinstance(layers, (nn.Module, str, bytes)) or not hasattr(layers, "__iter__"):
        raise TypeError(f"{name} must be a list of layers, got {type(layers).__name__}")
    out = [_check_layer(m, f"{name}[{i}]") for i, m in enumerate(layers)]
    if not out:
        raise ValueError(f"{name} is empty: nothing to prune")
    return out


def prunable_layers(model: nn.Module, include_output: bool = True) -> list[nn.Module]:
    """Linear and conv layers in definition order (``include_output=False`` drops the last one).

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
        include_output: keep the last Linear/Conv layer (usually the classifier).
    Returns:
        A new list of the model's ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` modules (the modules
        themselves, not copies); empty when there are none.

    >>> len(prunable_layers(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))))
    2
    """
    _check_model(model)
    V.flag(include_output, "include_output")
    layers = [m for m in model.modules() if isinstance(m, PRUNABLE)]
    return layers if include_output else layers[:-1]


def weight_of(layer: nn.Module) -> torch.Tensor:
    """The weight the layer's forward pass uses (``weight_orig * weight_mask`` when pruned).

    Reads ``layer``; does not change its weights.

    Computed afresh: ``layer.weight`` itself is only refreshed by the next forward pass.

    Args:
        layer: a module with a ``weight`` tensor; read only.
    Returns:
        The masked weight (a new tensor attached to ``weight_orig``'s graph) when pruned, else
        ``layer.weight`` itself.

    >>> lin = magnitude_prune(nn.Sequential(nn.Linear(4, 4)), 0.5)[0]
    >>> int((weight_of(lin) == 0).sum())
    8
    """
    _check_layer(layer)
    if hasattr(layer, "weight_orig") and hasattr(layer, "weight_mask"):
        return layer.weight_orig * layer.weight_mask
    return layer.weight


def mask_of(layer: nn.Module) -> torch.Tensor:
    """The layer's 0/1 mask (all ones if it was never pruned).

    Reads ``layer``; does not change its weights.

    Args:
        layer: a module with a ``weight`` tensor; read only.
    Returns:
        The layer's ``weight_mask`` buffer itself (not a copy), or a new all-ones tensor.

    >>> mask_of(nn.Linear(2, 2)).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    _check_layer(layer)
    mask = getattr(layer, "weight_mask", None)
    return mask if mask is not None else torch.ones_like(layer.weight)


def _lowest_mask(scores: torch.Tensor, n_zero: int) -> torch.Tensor:
    """torch's ``L1Unstructured`` mask: 0 at ``n_zero`` of the lowest ``|scores|``, 1 elsewhere."""
    scores = scores.detach().float()
    return prune.L1Unstructured(amount=int(n_zero)).compute_mask(scores, torch.ones_like(scores))


def _zeros(layer: nn.Module) -> int:
    return int((mask_of(layer) == 0).sum())


def _settle(layer: nn.Module) -> None:
    """After ``torch.nn.utils.prune`` acted on ``layer``: keep ``weight`` a detached tensor.

    torch leaves ``weight = weight_orig * weight_mask`` with a graph attached, which ``copy.deepcopy``
    refuses; a forward hook keeps it detached after every later forward pass too.
    """
    layer.weight = layer.weight.detach()
    if _detach_weight not in layer._forward_hooks.values():
        layer.register_forward_hook(_detach_weight)


def install_mask(layer: nn.Module, mask: torch.Tensor) -> None:
    """Set ``layer``'s mask to exactly ``mask``, replacing an old one (which may un-prune weights).

    Unlike ``prune.custom_from_mask``, which multiplies a new mask into the old one, this overwrites
    it: lottery-ticket transplants and DEEP R's rewiring need exactly that.

    Args:
        layer: a Linear/Conv layer, changed in place.
        mask: a 0/1 tensor shaped like ``layer.weight`` (cast to its dtype).
    Returns:
        None.

    >>> lin = nn.Linear(2, 2); install_mask(lin, torch.tensor([[1., 0.], [0., 1.]]))
    >>> mask_of(lin).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    _check_layer(layer)
    V.tensor(mask, "mask")
    if mask.shape != layer.weight.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != weight shape {tuple(layer.weight.shape)}")
    mask = mask.to(layer.weight.dtype)
    if prune.is_pruned(layer) and hasattr(layer, "weight_mask"):
        with torch.no_grad():
            layer.weight_mask.copy_(mask)
            layer.weight = layer.weight_orig * layer.weight_mask  # what the next forward will use
    else:
        prune.custom_from_mask(layer, "weight", mask)
        _settle(layer)


def _detach_weight(module, _inputs, _output):
    """After a forward pass, keep ``module.weight`` as a detached copy of ``weight_orig * weight_mask``.

    The graph of that forward already holds the masked tensor, so training is unaffected, and the
    module stays deep-copyable (``copy.deepcopy`` refuses non-leaf tensors).
    """
    if isinstance(getattr(module, "weight", None), torch.Tensor) and module.weight.grad_fn is not None:
        module.weight = module.weight.detach()


def prune_by_scores(model: nn.Module, scores: dict, amount: float = 0.5, *, scope: str = "global",
                    amounts: dict | None = None) -> nn.Module:
    """Zero the weights of lowest ``|score|``; ``scores`` maps each layer to a tensor shaped like its weight.

    ``amount`` is the total fraction of zeros to end with: already-pruned weights count towards it
    and stay pruned (the mask only grows), and torch removes the rest among the unpruned ones:
    ``scope="global"`` over all scored layers together (``prune.global_unstructured``), ``"layer"``
    in each (``prune.l1_unstructured``); ``amounts`` gives each layer its own fraction.

    Args:
        model: pruned in place and returned.
        scores: ``{layer: tensor shaped like layer.weight}``, at least one layer.
        amount: final fraction of zeros in [0, 1).
        scope: ``"global"`` or ``"layer"``.
        amounts: ``{layer or its name in model: fraction}``; unlisted scored layers get ``amount``.
    Returns:
        ``model``.

    >>> lin = nn.Linear(2, 2)
    >>> m = prune_by_scores(nn.Sequential(lin), {lin: torch.tensor([[1., 2.], [3., 4.]])}, 0.5)
    >>> mask_of(lin).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """
    _check_model(model)
    V.choice(scope, "scope", SCOPES)
    amount = check_amount(amount)
    V.mapping(scores, "scores")
    if not scores:
        raise ValueError("scores is empty: pass {layer: tensor} for at least one layer")
    for layer, s in scores.items():
        _check_layer(layer, "scores key")
        V.tensor(s, f"scores[{type(layer).__name__}]")
        if s.shape != layer.weight.shape:
            raise ValueError(f"scores for {layer} have shape {tuple(s.shape)}, weight {tuple(layer.weight.shape)}")
        if s.is_floating_point() and not bool(torch.isfinite(s).all()):
            raise ValueError(f"scores for {layer} contain NaN or infinity")
    scores = {layer: s.detach().float() for layer, s in scores.items()}
    if amounts is not None:
        amounts = _resolve_amounts(model, amounts, scores)
    if amounts is not None or scope == "layer":
        for layer, s in scores.items():
            frac = amount if amounts is None else amounts.get(layer, amount)
            more = max(0, round(frac * s.numel()) - _zeros(layer))
            prune.l1_unstructured(layer, "weight", amount=more, importance_scores=s)
            _settle(layer)
    else:
        total = sum(s.numel() for s in scores.values())
        more = max(0, round(amount * total) - sum(_zeros(layer) for layer in scores))
        prune.global_unstructured([(layer, "weight") for layer in scores], pruning_method=prune.L1Unstructured,
                                  importance_scores={(layer, "weight"): s for layer, s in scores.items()},
                                  amount=more)
        for layer in scores:
            _settle(layer)
    return model


def _resolve_amounts(model: nn.Module, amounts, scores) -> dict:
    """``amounts`` keyed by layer: names (``"net.1"``) are looked up in ``model``; every key must be
    one of the layers being pruned, so a typo or a wrong layer is an error, not silently ignored."""
    V.mapping(amounts, "amounts")
    out = {}
    for key, frac in amounts.items():
        if isinstance(key, str):
            try:
                layer = model.get_submodule(key)
            except AttributeError:
                names = [n for n, m in model.named_modules() if m in scores]
                raise ValueError(f"amounts key {key!r} is not a module of the model; "
                                 f"prunable layers are {names}") from None
        elif isinstance(key, nn.Module):
            layer = key
        else:
            raise TypeError(f"amounts keys must be layers or their names, got {type(key).__name__}")
        if layer not in scores:
            names = [n for n, m in model.named_modules() if m in scores]
            raise ValueError(f"amounts key {key if isinstance(key, str) else type(key).__name__!r} is not "
                             f"one of the layers being pruned: {names}")
        out[layer] = check_amount(frac, f"amounts[{key!r}]" if isinstance(key, str) else "amounts value")
    return out


def magnitude_prune(model: nn.Module, amount: float = 0.5, *, scope: str = "global", layers=None,
                    amounts: dict | None = None) -> nn.Module:
    """Remove the smallest-|w| weights (Han et al. 2015) with torch's ``L1Unstructured``; returns ``model``.

    ``layers`` defaults to every Linear/Conv layer. ``amount`` is the final fraction of zeros;
    ``amounts`` maps layers (or their names, e.g. ``"net.1"``) to their own fraction.

    Args:
        model: pruned in place (it must have a prunable layer).
        amount: a number in [0, 1) (numpy scalars too).
        scope: ``"global"`` (one threshold) or ``"layer"`` (the same fraction per layer).
        layers: the layers to prune (default: every prunable layer).
        amounts: ``{layer or its name in model: fraction}``; unlisted layers get ``amount``.
    Returns:
        ``model``.

    >>> m = nn.Sequential(nn.Linear(4, 4))
    >>> round(weight_sparsity(magnitude_prune(m, np.float32(0.5))), 2)
    0.5
    """
    _check_model(model)
    layers = _layers_of(model, layers)
    return prune_by_scores(model, {m: weight_of(m).detach().abs() for m in layers}, amount,
                           scope=scope, amounts=amounts)


def random_prune(model: nn.Module, amount: float = 0.5, *, scope: str = "global", layers=None,
                 seed: int = 0) -> nn.Module:
    """The control every criterion must beat: remove a random subset of the weights; returns ``model``.

    In place: changes ``model`` and returns it (copy it first to keep the original).

    Args:
        model: pruned in place; it must have a prunable layer.
        amount: final fraction of zeros in [0, 1).
        scope: ``"global"`` or ``"layer"``.
        layers: the layers to prune (default: every prunable layer).
        seed: an int; the same seed removes the same weights.
    Returns:
        ``model``.

    >>> round(weight_sparsity(random_prune(nn.Sequential(nn.Linear(10, 10)), 0.3)), 2)
    0.3
    """
    _check_model(model)
    layers = _layers_of(model, layers)
    V.integer(seed, "seed")
    gen = torch.Generator().manual_seed(seed)
    scores = {m: torch.rand(m.weight.shape, generator=gen) for m in layers}
    return prune_by_scores(model, scores, amount, scope=scope)


def remove_masks(model: nn.Module) -> nn.Module:
    """Make pruning permanent: ``weight`` becomes a plain parameter with the zeros baked in.

    In place: changes ``model`` and returns it (copy it first to keep the original).

    Args:
        model: changed in place: every pruned layer's ``weight_orig`` / ``weight_mask`` become one ``weight``.

    Returns:
        ``model``, with no ``weight_orig`` / ``weight_mask`` left.

    >>> m = remove_masks(magnitude_prune(nn.Sequential(nn.Linear(4, 4)), 0.5))
    >>> hasattr(m[0], "weight_mask"), round(weight_sparsity(m), 2)
    (False, 0.5)
    """
    _check_model(model)
    for m in model.modules():
        if prune.is_pruned(m) and hasattr(m, "weight_mask"):
            prune.remove(m, "weight")
    return model


def layer_sparsity(model: nn.Module, layers=None) -> dict[str, float]:
    """Fraction of zero weights per prunable layer, keyed by module name.

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
        layers: the layers to report (default: every prunable layer); a layer is listed only if it is
            a module of ``model``.

    Returns:
        ``{module name: fraction of zeros}``.

    >>> layer_sparsity(magnitude_prune(nn.Sequential(nn.Linear(4, 4)), 0.25, scope="layer"))
    {'0': 0.25}
    """
    _check_model(model)
    layers = set(_layers_of(model, layers))
    return {name: float((weight_of(m) == 0).float().mean()) for name, m in model.named_modules() if m in layers}


def weight_sparsity(model: nn.Module, layers=None) -> float:
    """Fraction of zeros over the weights of the prunable layers (biases excluded).

    Reads ``model``; does not change its weights.

    A model without prunable layers has no such fraction: ``ValueError``.

    Args:
        model: read only; it must have a prunable layer.
        layers: the layers to count (default: every prunable layer).
    Returns:
        The fraction of zero weights, a float in [0, 1].

    >>> weight_sparsity(nn.Sequential(nn.Linear(2, 2)))
    0.0
    """
    _check_model(model)
    layers = _layers_of(model, layers)
    total = sum(m.weight.numel() for m in layers)
    zeros = sum(int((weight_of(m) == 0).sum()) for m in layers)
    return zeros / total


# --- N:M semi-structured and block masks ---------------------------------------------------------

def nm_mask(weight: torch.Tensor, n: int = 2, m: int = 4) -> torch.Tensor:
    """Keep the ``n`` largest-|w| of every ``m`` consecutive weights along the input dimension.

    2:4 is what sparse tensor cores of NVIDIA Ampere GPUs run at 2x (Mishra et al. 2021). Requires
    the flattened input size to be divisible by ``m``.

    Args:
        weight: a 2-D, 3-D or 4-D weight, out channels first; read only.
        n: weights kept per group, 1 <= n <= m.
        m: group size, >= 1; it must divide the flattened input size.
    Returns:
        A new 0/1 float tensor shaped like ``weight``.

    >>> nm_mask(torch.tensor([[0.1, -3.0, 2.0, 0.2]])).tolist()
    [[0.0, 1.0, 1.0, 0.0]]
    """
    V.tensor(weight, "weight", ndim=(2, 3, 4))
    n, m = V.positive_int(n, "n"), V.positive_int(m, "m")
    if n > m:
        raise ValueError(f"n must be <= m, got n={n}, m={m}")
    rows = weight.detach().reshape(weight.shape[0], -1)
    if rows.shape[1] % m:
        raise ValueError(f"input size {rows.shape[1]} is not divisible by m={m}")
    blocks = rows.abs().reshape(rows.shape[0], -1, m)
    keep = blocks.topk(n, dim=-1).indices
    mask = torch.zeros_like(blocks).scatter_(-1, keep, 1.0)
    return mask.reshape(weight.shape)


def is_nm_sparse(weight: torch.Tensor, n: int = 2, m: int = 4) -> bool:
    """True when every group of ``m`` consecutive inputs holds at most ``n`` non-zeros.

    Args:
        weight: a 2-D, 3-D or 4-D weight, out channels first; read only.
        n: the most non-zeros allowed per group, >= 1.
        m: group size, >= 1.
    Returns:
        A bool; False when ``m`` does not divide the flattened input size.

    >>> is_nm_sparse(torch.tensor([[1., 0., 0., 2.]])), is_nm_sparse(torch.ones(1, 4))
    (True, False)
    """
    V.tensor(weight, "weight", ndim=(2, 3, 4))
    n, m = V.positive_int(n, "n"), V.positive_int(m, "m")
    rows = weight.detach().reshape(weight.shape[0], -1)
    if rows.shape[1] % m:
        return False
    return bool(((rows != 0).reshape(rows.shape[0], -1, m).sum(-1) <= n).all())


def nm_prune(model: nn.Module, n: int = 2, m: int = 4, layers=None) -> nn.Module:
    """Install an N:M magnitude mask on each layer whose input size is divisible by ``m``; returns ``model``.

    In place: changes ``model`` and returns it (copy it first to keep the original).

    A model where no layer qualifies is refused (``ValueError``) rather than returned unpruned.

    Args:
        model: pruned in place (masks multiply into existing ones).
        n, m: keep ``n`` of every ``m`` consecutive input weights (2:4 is what sparse tensor cores run).
        layers: the layers to consider (default: every prunable layer); those whose input size ``m``
            does not divide are skipped.
    Returns:
        ``model``.

    >>> m = nm_prune(nn.Sequential(nn.Linear(8, 2)))
    >>> is_nm_sparse(weight_of(m[0])), round(weight_sparsity(m), 2)
    (True, 0.5)
    """
    _check_model(model)
    n, m = V.positive_int(n, "n"), V.positive_int(m, "m")
    if n > m:
        raise ValueError(f"n must be <= m, got n={n}, m={m}")
    layers = _layers_of(model, layers)
    fitting = [layer for layer in layers if layer.weight[0].numel() % m == 0]
    if not fitting:
        raise ValueError(f"no layer has an input size divisible by m={m}: nothing to prune")
    for layer in fitting:
        install_mask(layer, nm_mask(weight_of(layer), n, m) * mask_of(layer))
    return model


GRANULARITIES = ("weight", "vector", "kernel", "filter")


def block_scores(weight: torch.Tensor, granularity: str = "weight") -> torch.Tensor:
    """L2 norm of the block each weight belongs to, broadcast back to the weight's shape.

    For a conv weight ``(out, in, kh, kw)`` (Mao et al. 2017): ``weight`` = single entries,
    ``vector`` = one kernel row ``(kw)``, ``kernel`` = one ``kh x kw`` slice, ``filter`` = a whole
    output channel. A linear weight ``(out, in)`` has ``weight``, ``vector`` (= one row) and ``filter``.

    Args:
        weight: a 2-D, 3-D or 4-D weight, out channels first; read only.
        granularity: ``"weight"``, ``"vector"``, ``"kernel"`` or ``"filter"`` (``vector`` and ``kernel``
            on a 4-D weight only, ``vector`` also on a 2-D one).
    Returns:
        A tensor shaped like ``weight``: a new one for ``"weight"``, an expanded view for the block
        granularities (copy it before writing into it).

    >>> block_scores(torch.tensor([[3., 4.], [0., 1.]]), "filter").tolist()
    [[5.0, 5.0], [1.0, 1.0]]
    """
    V.choice(granularity, "granularity", GRANULARITIES)
    V.tensor(weight, "weight", ndim=(2, 3, 4))
    w = weight.detach()
    if granularity == "weight":
        return w.abs()
    if granularity == "filter" or (w.dim() == 2 and granularity == "vector"):
        dims = tuple(range(1, w.dim()))
    elif w.dim() == 4:
        dims = (-1,) if granularity == "vector" else (-2, -1)
    else:
        raise ValueError(f"granularity {granularity!r} needs a 4-D conv weight, got shape {tuple(w.shape)}")
    return w.pow(2).sum(dim=dims, keepdim=True).sqrt().expand_as(w)


def _block_size(weight: torch.Tensor, granularity: str) -> int:
    if granularity == "weight":
        return 1
    if granularity == "filter" or weight.dim() == 2:
        return weight[0].numel()
    return weight.shape[-1] if granularity == "vector" else weight.shape[-2] * weight.shape[-1]


def block_prune(model: nn.Module, amount: float, granularity: str = "weight", *, layers=None) -> nn.Module:
    """Remove the ``amount`` fraction of each layer's weights in whole blocks of ``granularity``.

    Blocks are ranked by their L2 norm; a block is removed whole, so the achieved sparsity can fall
    short of ``amount`` by less than one block.

    Args:
        model: pruned in place (masks multiply into existing ones); returned.
        amount: fraction of each layer's weights to remove, in [0, 1).
        granularity: ``"weight"``, ``"vector"``, ``"kernel"`` or ``"filter"``.
        layers: the layers to prune (default: every prunable layer).
    Returns:
        ``model``.

    >>> m = block_prune(nn.Sequential(nn.Conv2d(1, 4, 3)), 0.5, "filter")
    >>> [int(r.sum()) for r in mask_of(m[0]).reshape(4, -1)].count(0)
    2
    """
    _check_model(model)
    amount = check_amount(amount)
    V.choice(granularity, "granularity", GRANULARITIES)
    layers = _layers_of(model, layers)
    for layer in layers:
        w = weight_of(layer)
        scores = block_scores(w, granularity)
        block = _block_size(w, granularity)
        n_zero = (round(amount * scores.numel()) // block) * block
        install_mask(layer, _lowest_mask(scores, n_zero) * mask_of(layer))
    return model


# --- schedules and the prune-retrain loop -------------------------------------------------------

def iterative_schedule(final: float, steps: int) -> list[float]:
    """Sparsities of ``steps`` rounds that remove the same fraction of the *remaining* weights.

    Round ``t`` ends at sparsity :math:`1 - (1 - s_f)^{t/T}` (Han et al. 2015; Frankle & Carbin 2019).

    Args:
        final: the last round's sparsity, in [0, 1).
        steps: number of rounds, an int >= 1.
    Returns:
        ``steps`` increasing sparsities ending at ``final``.

    >>> [round(s, 2) for s in iterative_schedule(0.75, 2)]
    [0.5, 0.75]
    """
    final = check_amount(final, "final")
    steps = V.positive_int(steps, "steps")
    return [1 - (1 - final) ** ((t + 1) / steps) for t in range(steps)]


def polynomial_schedule(final: float, steps: int, initial: float = 0.0, power: int = 3) -> list[float]:
    """Gradual pruning (Zhu & Gupta 2017): :math:`s_t = s_f + (s_i - s_f)(1 - t/T)^3`, fast first.

    Args:
        final: the last round's fraction of zeros, in [0, 1).
        steps: rounds, an int >= 1.
        initial: the starting fraction, in [0, 1).
        power: the exponent, > 0 (3 in the paper).
    Returns:
        ``steps`` fractions, rising to ``final``.

    >>> [round(s, 3) for s in polynomial_schedule(0.8, 2)]
    [0.7, 0.8]
    """
    final = check_amount(final, "final")
    initial = check_amount(initial, "initial")
    steps = V.positive_int(steps, "steps")
    V.number(power, "power", low=0, low_open=True)
    return [final + (initial - final) * (1 - (t + 1) / steps) ** power for t in range(steps)]


SCHEDULES = {"geometric": iterative_schedule, "polynomial": polynomial_schedule}


@renamed_fields(sparsity="amount")
@dataclass
class PruneRetrainConfig:
    """Han et al. 2015: prune ``amount`` of the weights in ``steps`` rounds, retraining ``retrain`` after each.

    ``steps=1`` is one-shot pruning; ``budget_steps=k`` gives its single retraining the epochs of
    ``k`` rounds, so one-shot and iterative can get the same training budget.
    ``profile`` optionally gives each prunable layer its own final sparsity (Han et al. prune the
    small output layer less), overriding ``amount`` and ``scope``. ``sparsity`` is the deprecated
    name of ``amount`` (the final fraction of weights removed). :meth:`fast` is the fast-mode preset.

    Args:
        amount: the final fraction of weights removed, in [0, 1).
        steps: prune-retrain rounds, >= 1 (1: one-shot).
        scope: ``"global"`` or ``"layer"``.
        profile: one final fraction in [0, 1) per prunable layer, overriding ``amount`` and ``scope``; or None.
        schedule: ``"polynomial"`` (:func:`polynomial_schedule`) or ``"geometric"`` (:func:`iterative_schedule`).
        retrain: the :class:`~effnn.train.TrainConfig` of each retraining round.
        budget_steps: total rounds of retraining epochs to spend, >= 1; None for ``steps``.

    >>> PruneRetrainConfig(amount=0.8, steps=3).amount, PruneRetrainConfig.fast().retrain.epochs
    (0.8, 1)
    """
    amount: float = 0.92
    steps: int = 5
    scope: str = "global"
    profile: tuple[float, ...] | None = None
    schedule: str = "polynomial"  # or "geometric": see polynomial_schedule / iterative_schedule
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, fast_epochs=1, lr=5e-4))
    budget_steps: int | None = None  # total retraining rounds to spend; default = steps

    def __post_init__(self):
        V.fraction(self.amount, "amount")
        V.positive_int(self.steps, "steps")
        V.choice(self.scope, "scope", SCOPES)
        V.choice(self.schedule, "schedule", tuple(SCHEDULES))
        if self.profile is not None:
            V.sequence_of(self.profile, "profile", check_amount)
        if not isinstance(self.retrain, TrainConfig):
            raise TypeError(f"retrain must be a TrainConfig, got {type(self.retrain).__name__}")
        if self.budget_steps is not None:
            V.positive_int(self.budget_steps, "budget_steps")

    @classmethod
    def fast(cls, **overrides) -> "PruneRetrainConfig":
        """The fast-mode preset: one epoch per retraining round; the same rounds and schedule."""
        return cls(**{"retrain": TrainConfig(epochs=1, fast_epochs=1, lr=5e-4), **overrides})


def prune_retrain(model: nn.Module, train_data, cfg: PruneRetrainConfig, *, val_data=None,
                  layers=None) -> list[dict]:
    """Magnitude-prune ``model`` in place along ``cfg.schedule``, retraining after each round.

    Returns one record per round: the target and achieved weight sparsity, the accuracy right after
    pruning and after retraining (on ``val_data`` when given). With ``steps=1`` the single retraining
    lasts ``budget_steps`` rounds, so one-shot and iterative spend the same number of epochs.
    ``layers`` limits pruning to those modules (default: every prunable layer).

    Args:
        model: pruned and retrained in place; it must have a prunable layer.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader (not empty).
        cfg: a :class:`PruneRetrainConfig`.
        val_data: data for the accuracies in each record, or None.
        layers: the layers to prune (default: every prunable layer); ``cfg.profile`` needs one value per layer.
    Returns:
        A list of ``{"target", "sparsity", "acc_pruned", "acc_retrained"}`` dicts, one per round (the
        two accuracies only with ``val_data``).

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 16); y = (x[:, 0] > 0).long()
    >>> m = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> hist = prune_retrain(m, (x, y), PruneRetrainConfig.fast(amount=0.8, steps=2))
    >>> [round(r["target"], 2) for r in hist], round(weight_sparsity(m), 2)
    ([0.7, 0.8], 0.8)
    """
    _check_model(model)
    V.data(train_data, "train_data")
    if not isinstance(cfg, PruneRetrainConfig):
        raise TypeError(f"cfg must be a PruneRetrainConfig, got {type(cfg).__name__}")
    if val_data is not None:
        V.data(val_data, "val_data")
    layers = _layers_of(model, layers)
    if cfg.profile is not None and len(cfg.profile) != len(layers):
        raise ValueError(f"profile has {len(cfg.profile)} values for {len(layers)} prunable layers")
    rounds = cfg.budget_steps or cfg.steps
    epochs_each = [cfg.retrain.epochs] * cfg.steps
    if cfg.steps < rounds:  # spread the same budget over fewer rounds
        epochs_each = [cfg.retrain.epochs * rounds // cfg.steps] * cfg.steps
    history = []
    schedule = SCHEDULES[cfg.schedule]
    bar = progress_bar(list(enumerate(zip(schedule(cfg.amount, cfg.steps), epochs_each))),
                       desc="prune + retrain", leave=False)
    for t, (target, epochs) in bar:
        amounts = None
        if cfg.profile is not None:
            amounts = {m: schedule(s, cfg.steps)[t] for m, s in zip(layers, cfg.profile)}
        magnitude_prune(model, target, scope=cfg.scope, layers=layers, amounts=amounts)
        row = {"target": target, "sparsity": weight_sparsity(model, layers)}
        if val_data is not None:
            row["acc_pruned"] = accuracy(model, val_data)
        fit(model, train_data, _with_epochs(cfg.retrain, epochs), desc="retrain")
        if val_data is not None:
            row["acc_retrained"] = accuracy(model, val_data)
        history.append(row)
    return history


def _with_epochs(cfg: TrainConfig, epochs: int) -> TrainConfig:
    """The same training with ``epochs`` (fast mode scales ``fast_epochs`` alike)."""
    scale = epochs / max(cfg.epochs, 1)
    return replace(cfg, epochs=epochs, fast_epochs=max(1, round(cfg.fast_epochs * scale)))


# --- Han et al. 2015 on LeNet-300-100 ----------------------------------------------------------------

@renamed_fields(sparsity="amount")
@dataclass
class HanConfig:
    """Dense training, then iterative (``steps`` rounds) vs one-shot magnitude pruning of ``amount``.

    One-shot is run twice: with one retraining round as long as one iterative round (the paper's
    "pruning with retraining" curve) and with the whole iterative budget (a stricter control).
    ``sparsity`` is the deprecated name of ``amount``; :meth:`fast` is the fast-mode preset.

    Args:
        amount: the final fraction of weights removed, in [0, 1).
        steps: rounds of iterative pruning, >= 1.
        scope: ``"global"`` or ``"layer"``.
        dense: the :class:`~effnn.train.TrainConfig` of the dense training.
        retrain: the :class:`~effnn.train.TrainConfig` of each retraining round.
        seed: seeds the dense model and every training.

    >>> HanConfig(amount=0.9).amount, HanConfig.fast().dense.epochs
    (0.9, 2)
    """
    amount: float = 0.93
    steps: int = 3
    scope: str = "global"
    dense: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, fast_epochs=2, lr=1e-3))
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, fast_epochs=1, lr=1e-3))
    seed: int = 0

    def __post_init__(self):
        V.fraction(self.amount, "amount")
        V.positive_int(self.steps, "steps")
        V.choice(self.scope, "scope", SCOPES)
        for name in ("dense", "retrain"):
            if not isinstance(getattr(self, name), TrainConfig):
                raise TypeError(f"{name} must be a TrainConfig, got {type(getattr(self, name)).__name__}")
        V.integer(self.seed, "seed")

    @classmethod
    def fast(cls, **overrides) -> "HanConfig":
        """The fast-mode preset: what fast mode trains (2 dense epochs, 1 per retraining round)."""
        return cls(**{"dense": TrainConfig(epochs=2, fast_epochs=2, lr=1e-3),
                      "retrain": TrainConfig(epochs=1, fast_epochs=1, lr=1e-3), **overrides})


@dataclass
class HanResult(Result):
    """What :func:`run_han` measured: dense, iterative, one-shot and equal-budget one-shot pruning.

    Per run (``iterative``, ``oneshot``, ``oneshot_equal_budget``): ``acc_<run>`` after retraining,
    ``acc_<run>_no_retrain``, ``nonzero_<run>`` and ``layer_sparsity_<run>``. A field reads as
    ``result.acc_dense`` or ``result["acc_dense"]``.

    Args:
        acc_dense: the dense model's test accuracy.
        nonzero_dense: its non-zero parameters.
        acc_iterative, acc_oneshot, acc_oneshot_equal_budget: test accuracy after the last retraining.
        acc_iterative_no_retrain, acc_oneshot_no_retrain, acc_oneshot_equal_budget_no_retrain: test
            accuracy right after the last pruning step.
        nonzero_iterative, nonzero_oneshot, nonzero_oneshot_equal_budget: non-zero parameters, biases included.
        layer_sparsity_iterative, layer_sparsity_oneshot, layer_sparsity_oneshot_equal_budget:
            :func:`layer_sparsity` of each pruned model.
        weight_ratio: ``nonzero_dense / nonzero_iterative``.
        dense_model: the trained dense LeNet-300-100.

    >>> [f for f in HanResult.__dataclass_fields__ if f.startswith("acc_oneshot")]
    ['acc_oneshot', 'acc_oneshot_no_retrain', 'acc_oneshot_equal_budget', 'acc_oneshot_equal_budget_no_retrain']
    """
    acc_dense: float
    nonzero_dense: int
    acc_iterative: float
    acc_iterative_no_retrain: float
    nonzero_iterative: int
    layer_sparsity_iterative: dict
    acc_oneshot: float
    acc_oneshot_no_retrain: float
    nonzero_oneshot: int
    layer_sparsity_oneshot: dict
    acc_oneshot_equal_budget: float
    acc_oneshot_equal_budget_no_retrain: float
    nonzero_oneshot_equal_budget: int
    layer_sparsity_oneshot_equal_budget: dict
    weight_ratio: float
    dense_model: nn.Module


def run_han(config: HanConfig | None = None, data: dict | None = None) -> "HanResult":
    """Reproduce the LeNet-300-100 row of Han et al. 2015 for one seed (open_lth's runner shape).

    ``data`` holds ``train`` and ``test`` ``(x, y)`` pairs (default: :func:`effnn.data.classification`,
    digits offline, MNIST with ``EFFNN_DATA=real``). ``weight_ratio`` counts all non-zero parameters
    (biases included) of the dense over the pruned network. ``dense_model`` is the trained baseline.
    Every pruned model is a copy of it; nothing passed in is changed.

    Args:
        config: a :class:`HanConfig` (default ``HanConfig()``).
        data: ``{"train": (x, y), "test": (x, y)}`` of images or flat features; None for the course data.

    Returns:
        A :class:`HanResult` (also readable as ``result["acc_dense"]``, like the old dict).

    >>> _ = torch.manual_seed(0); x = torch.randn(16, 4); y = (x[:, 0] > 0).long()
    >>> data = {"train": (x, y), "test": (x, y)}
    >>> cfg = HanConfig.fast(amount=0.8, steps=1)
    >>> r = run_han(cfg, data); round(r.weight_ratio, 2), r["nonzero_dense"]
    (4.76, 32610)
    """
    from .data import classification
    from .measure import count_nonzero
    from .models import LeNet300100
    from .train import seed_everything

    cfg = HanConfig() if config is None else config
    if not isinstance(cfg, HanConfig):
        raise TypeError(f"config must be a HanConfig, got {type(cfg).__name__}")
    if data is not None:
        V.mapping(data, "data")
        for key in ("train", "test"):
            if key not in data:
                raise ValueError(f"data must have 'train' and 'test' entries, missing {key!r}")
            V.data(data[key], f"data[{key!r}]")
    data = data or {s: classification(s) for s in ("train", "test")}
    train, test = data["train"], data["test"]
    seed_everything(cfg.seed)
    dense = LeNet300100(in_features=train[0][0].numel())
    fit(dense, train, replace(cfg.dense, seed=cfg.seed), desc="dense")
    retrain = replace(cfg.retrain, seed=cfg.seed)
    out = {"acc_dense": accuracy(dense, test), "nonzero_dense": count_nonzero(dense)}
    runs = {"iterative": dict(steps=cfg.steps), "oneshot": dict(steps=1),
            "oneshot_equal_budget": dict(steps=1, budget_steps=cfg.steps)}
    for name, kw in runs.items():
        model = copy.deepcopy(dense)
        hist = prune_retrain(model, train, PruneRetrainConfig(cfg.amount, scope=cfg.scope, retrain=retrain, **kw),
                             val_data=test)
        out[f"acc_{name}"] = accuracy(model, test)
        out[f"acc_{name}_no_retrain"] = hist[-1]["acc_pruned"]
        out[f"nonzero_{name}"] = count_nonzero(model)
        out[f"layer_sparsity_{name}"] = layer_sparsity(model)
    out["weight_ratio"] = out["nonzero_dense"] / out["nonzero_iterative"]
    out["dense_model"] = dense
    return HanResult(**out)


def han_experiment(cfg: HanConfig | None = None, data: dict | None = None) -> HanResult:
    """``run_han(cfg, data)`` under its first name (lecture 01 calls it so).

    Args:
        cfg: a :class:`HanConfig`, or None for the default.
        data: as for :func:`run_han`.
    Returns:
        A :class:`HanResult`.

    >>> _ = torch.manual_seed(0); x = torch.randn(16, 4); y = (x[:, 0] > 0).long()
    >>> data = {"train": (x, y), "test": (x, y)}
    >>> cfg = HanConfig.fast(amount=0.8, steps=1)
    >>> han_experiment(cfg, data).nonzero_dense
    32610
    """
    if cfg is not None and not isinstance(cfg, HanConfig):
        raise TypeError(f"cfg must be a HanConfig, got {type(cfg).__name__}")
    return run_han(cfg, data)
