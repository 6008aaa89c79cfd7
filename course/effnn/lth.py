"""Lottery tickets: iterative magnitude pruning with rewinding, its controls, and sparse training.

- :func:`find_tickets`: IMP (Frankle & Carbin 2019): train, prune ``p%`` of the remaining weights
  per layer, rewind the survivors to :math:`\\theta_0` (or to :math:`\\theta_k`, late rewinding,
  Frankle et al. 2019), retrain; repeat. Controls on the same masks: random re-initialisation, and
  SNIP (Lee et al. 2019), which prunes once at initialisation by :math:`|g \\odot w|`.
- :func:`error_barrier`: linear mode connectivity (Frankle et al. 2020): two copies trained from
  one rewind point with different data orders; the error bump on the segment between them.
- :class:`DeepR`: DEEP R rewiring (Bellec et al. 2018): training under a fixed connection budget.

Masks are ``torch.nn.utils.prune`` masks (see :mod:`effnn.prune`), so masked weights stay zero
while training, and rewinding only touches ``weight_orig``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from torch import nn

from . import validate as V
from ._deprecate import renamed_fields
from .experiment import Result
from .criteria import taylor_weight
from .prune import (_layers_of, check_amount, install_mask, mask_of, prunable_layers, prune_by_scores,
                    weight_of, weight_sparsity)
from .train import TrainConfig, _config, accuracy, evaluate_loss, fit, progress_bar, seed_everything


# --- snapshots and rewinding ---------------------------------------------------------------------

def _canonical(name: str) -> str:
    return name[:-5] if name.endswith("_orig") else name


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter, keyed by its unpruned name (``weight_orig`` -> ``weight``).

    Args:
        model: read only.
    Returns:
        ``{name: detached copy}`` of every parameter.

    >>> sorted(snapshot(nn.Linear(2, 1)))
    ['bias', 'weight']
    """
    V.module(model, "model")
    return {_canonical(n): p.detach().clone() for n, p in model.named_parameters()}


@torch.no_grad()
def rewind(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Copy ``state`` (from :func:`snapshot`) back into the parameters; masks are kept.

    After ``rewind(model, theta0)`` the pruned network computes with ``theta0 * mask``: the ticket.

    In place: changes ``model``'s parameters and returns it.

    Args:
        model: changed in place (parameters only; masks and buffers stay).
        state: ``{name: tensor}`` with a value of the right shape for every parameter (extra keys are ignored).
    Returns:
        ``model``.

    >>> net = nn.Sequential(nn.Linear(2, 2)); theta0 = snapshot(net)
    >>> with torch.no_grad(): _ = net[0].weight.add_(1.0)
    >>> torch.equal(rewind(net, theta0)[0].weight, theta0["0.weight"])
    True
    """
    V.module(model, "model")
    V.mapping(state, "state")
    params = dict(model.named_parameters())
    missing = [n for n in params if _canonical(n) not in state]
    if missing:
        raise ValueError(f"state has no value for {missing}")
    for n, p in params.items():
        v = state[_canonical(n)]
        V.tensor(v, f"state[{_canonical(n)!r}]")
        if v.shape != p.shape:
            raise ValueError(f"state[{_canonical(n)!r}] has shape {tuple(v.shape)}, the model {tuple(p.shape)}")
    for n, p in params.items():
        p.copy_(state[_canonical(n)])
    return model


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Each prunable layer's mask (ones if unpruned), keyed by module name.

    Reads ``model``; does not change its weights.

    Args:
        model: read only; it must have a prunable layer.
    Returns:
        ``{module name: copy of its 0/1 mask}``.

    >>> sorted(masks(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))))
    ['0', '2']
    """
    V.module(model, "model")
    layers = set(_layers_of(model, None))
    return {n: mask_of(m).detach().clone() for n, m in model.named_modules() if m in layers}


def apply_masks(model: nn.Module, mask_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Install the masks of :func:`masks` (e.g. from another model) on ``model``; returns ``model``.

    In place: changes ``model`` and returns it (copy it first to keep the original).

    Args:
        model: changed in place.
        mask_dict: a non-empty ``{module name: 0/1 mask shaped like its weight}``; an existing mask is
            replaced, not multiplied (:func:`effnn.prune.install_mask`).
    Returns:
        ``model``.

    >>> from effnn.prune import magnitude_prune
    >>> donor = magnitude_prune(nn.Sequential(nn.Linear(4, 4)), 0.5)
    >>> round(weight_sparsity(apply_masks(nn.Sequential(nn.Linear(4, 4)), masks(donor))), 2)
    0.5
    """
    V.module(model, "model")
    V.mapping(mask_dict, "mask_dict")
    if not mask_dict:
        raise ValueError("mask_dict is empty: nothing to install")
    modules = dict(model.named_modules())
    unknown = [n for n in mask_dict if n not in modules]
    if unknown:
        raise ValueError(f"mask_dict names modules the model does not have: {unknown}")
    for name, mask in mask_dict.items():
        V.tensor(mask, f"mask_dict[{name!r}]")
        layer = modules[name]
        if mask.shape != getattr(layer, "weight", torch.empty(0)).shape:
            raise ValueError(f"mask_dict[{name!r}] has shape {tuple(mask.shape)}, the layer's weight "
                             f"{tuple(getattr(layer, 'weight', torch.empty(0)).shape)}")
        install_mask(layer, mask)
    return model


# --- training with a probe: rewind point and early stopping -----------------------------------------

class TrainingProbe:
    """``after_step`` hook: saves :math:`\\theta_k` at step ``rewind_step`` and tracks the val loss.

    ``early_stop_step`` is the step of minimum validation loss (evaluated every ``eval_every`` steps),
    the quantity Frankle & Carbin plot as "early-stopping iteration". See :func:`train_probed`.

    Args:
        val_data: ``(x, y)`` tensors, a Dataset or a DataLoader; None: no loss tracked.
        rewind_step: the ``k`` of theta_k, an int >= 0 (0: saved by :meth:`start`).
        eval_every: optimizer steps between validations, >= 1.

    >>> net = nn.Sequential(nn.Linear(4, 2)); probe = TrainingProbe(rewind_step=0)
    >>> probe.start(net); sorted(probe.rewind_state)  # theta_0, saved before the first step
    ['0.bias', '0.weight']
    """

    def __init__(self, val_data=None, rewind_step: int = 0, eval_every: int = 10):
        V.integer(rewind_step, "rewind_step", low=0)
        V.positive_int(eval_every, "eval_every")
        if val_data is not None:
            V.data(val_data, "val_data")
        self.val_data, self.rewind_step, self.eval_every = val_data, rewind_step, eval_every
        self.step = 0
        self.rewind_state = None
        self.val_loss: list[tuple[int, float]] = []

    def start(self, model: nn.Module) -> None:
        if self.rewind_step == 0:
            self.rewind_state = snapshot(model)

    def __call__(self, model: nn.Module) -> None:
        self.step += 1
        if self.step == self.rewind_step:
            self.rewind_state = snapshot(model)
        if self.val_data is not None and self.step % self.eval_every == 0:
            self.val_loss.append((self.step, evaluate_loss(model, self.val_data)))

    @property
    def early_stop_step(self) -> int:
        return min(self.val_loss, key=lambda t: t[1])[0] if self.val_loss else self.step


def train_probed(model: nn.Module, train_data, cfg: TrainConfig, *, val_data=None, rewind_step: int = 0,
                 eval_every: int = 10, after_step: Callable | None = None) -> TrainingProbe:
    """:func:`effnn.train.fit` with a :class:`TrainingProbe` attached; returns the probe.

    In place: trains ``model`` itself. ``after_step`` runs after the probe at every step.

    Args:
        model: trained in place.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        cfg: a :class:`~effnn.train.TrainConfig`.
        val_data: data for the validation loss, or None.
        rewind_step: as in :class:`TrainingProbe`.
        eval_every: as in :class:`TrainingProbe`.
        after_step: ``after_step(model)``, run before the probe at every step; or None.
    Returns:
        The :class:`TrainingProbe`; its ``rewind_state`` is the final weights when training was
        shorter than ``rewind_step``.

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 8); y = (x[:, 0] > 0).long(); d = (x, y)
    >>> mk = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=16, lr=1e-2)
    >>> p = train_probed(mk(), d, cfg, val_data=d, rewind_step=2, eval_every=2)
    >>> p.step, sorted(p.rewind_state)[:2]
    (4, ['0.bias', '0.weight'])
    """
    V.module(model, "model")
    V.data(train_data, "train_data")
    _config(cfg)
    if after_step is not None:
        V.function(after_step, "after_step")
    probe = TrainingProbe(val_data, rewind_step, eval_every)
    probe.start(model)

    def hook(m):
        if after_step is not None:
            after_step(m)
        probe(m)

    fit(model, train_data, cfg, after_step=hook, desc="train")
    if probe.rewind_state is None:  # training was shorter than the rewind step
        probe.rewind_state = snapshot(model)
    return probe


# --- IMP / LTH, with random re-init and SNIP controls ----------------------------------------------

@renamed_fields(rate="amount", output_rate="output_amount")
@dataclass
class LTHConfig:
    """One IMP run: ``rounds`` of pruning ``amount`` of the remaining weights of each layer.

    Args:
        rounds: pruning rounds after the dense run.
        amount: fraction of each hidden layer's *remaining* weights removed per round, in [0, 1)
            (Frankle & Carbin's pruning rate p).
        output_amount: the same for the output layer (Frankle & Carbin halve it).
        rewind_step: ``0`` resets to :math:`\\theta_0`; ``k > 0`` rewinds to the weights after ``k`` steps.
        train: the :class:`~effnn.train.TrainConfig` of every round.
        controls: ``"reinit"`` and/or ``"snip"``: the control runs per round.
        eval_every: validation every this many steps, >= 1 (early-stopping iteration).
        seed: seeds everything.

    ``LTHConfig.fast()`` is the fast-mode preset (two rounds, one epoch each). ``rate`` and
    ``output_rate`` are the deprecated names of ``amount`` and ``output_amount``.
    """
    rounds: int = 6
    amount: float = 0.4
    output_amount: float = 0.2
    rewind_step: int = 0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=15, fast_epochs=1, lr=1.2e-3))
    controls: tuple[str, ...] = ("reinit", "snip")
    eval_every: int = 10
    seed: int = 0

    def __post_init__(self):
        V.fraction(self.amount, "amount")
        V.fraction(self.output_amount, "output_amount")
        V.integer(self.rounds, "rounds", low=0)
        V.integer(self.rewind_step, "rewind_step", low=0)
        V.positive_int(self.eval_every, "eval_every")
        V.integer(self.seed, "seed")
        _config(self.train, "train")
        if isinstance(self.controls, str) or not isinstance(self.controls, (tuple, list)):
            raise TypeError(f"controls must be a tuple of names, got {type(self.controls).__name__}")
        unknown = set(self.controls) - {"reinit", "snip"}
        if unknown:
            raise ValueError(f"controls must be among ('reinit', 'snip'), got {sorted(unknown)}")

    @classmethod
    def fast(cls, **overrides) -> "LTHConfig":
        """The fast-mode preset: two rounds of one-epoch trainings (everything else as given)."""
        return cls(**{"rounds": 2, "train": TrainConfig(epochs=1, fast_epochs=1, lr=1.2e-3), **overrides})

    def layer_sparsity(self, round_: int, n_layers: int) -> list[float]:
        """Per-layer sparsity after ``round_`` rounds: :math:`1 - (1 - p)^r`.

        >>> [round(v, 2) for v in LTHConfig(amount=0.5, output_amount=0.2).layer_sparsity(2, 2)]
        [0.75, 0.36]
        """
        V.integer(round_, "round_", low=0)
        V.positive_int(n_layers, "n_layers")
        amounts = [self.amount] * (n_layers - 1) + [self.output_amount]
        return [1 - (1 - p) ** round_ for p in amounts]


def snip_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers=None) -> dict:
    """SNIP connection sensitivity :math:`|\\partial L/\\partial w \\odot w|` at the current weights.

    Reads ``model``; does not change its weights. Each score is shaped like its layer's weight.

    Args:
        model: its weights are read; one backward pass runs, and every parameter's ``.grad`` is left
            as None (gradients it held before are dropped too).
        x: one batch of inputs, non-empty.
        y: ``(N,)`` class labels.
        layers: the layers to score (default: every prunable layer).
    Returns:
        ``{layer module: scores}``, new tensors.

    >>> net = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> [s.shape for s in snip_scores(net, torch.randn(16, 8), torch.arange(16) % 2).values()]
    [torch.Size([4, 8]), torch.Size([2, 4])]
    """
    V.module(model, "model")
    V.tensor(x, "x", min_numel=1)
    V.tensor(y, "y", ndim=1)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    layers = _layers_of(model, layers)
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    scores = {}
    for m in layers:
        pruned = hasattr(m, "weight_orig")
        grad = m.weight_orig.grad * m.weight_mask if pruned else m.weight.grad
        scores[m] = taylor_weight(weight_of(m), grad)
    model.zero_grad(set_to_none=True)
    return scores


def snip_prune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amount: float) -> nn.Module:
    """Prune ``amount`` of all weights at once, at initialization, by SNIP scores (global).

    In place: changes ``model`` and returns it (copy it first to keep the original).
    The control IMP's tickets must beat.

    Args:
        model: pruned in place.
        x: one batch of inputs the scores are computed on.
        y: its ``(N,)`` class labels.
        amount: the fraction of all prunable weights removed, in [0, 1).
    Returns:
        ``model``.

    >>> from effnn.prune import weight_sparsity
    >>> _ = torch.manual_seed(0); x = torch.randn(16, 8); y = torch.arange(16) % 2
    >>> round(weight_sparsity(snip_prune(nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)), x, y, 0.5)), 2)
    0.5
    """
    check_amount(amount)
    return prune_by_scores(model, snip_scores(model, x, y), amount, scope="global")


def imp_prune(model: nn.Module, cfg: LTHConfig, round_: int) -> nn.Module:
    """Magnitude-prune each layer to its round-``round_`` sparsity (the mask only grows).

    In place: changes ``model`` and returns it (copy it first to keep the original).

    Args:
        model: pruned in place; it must have a prunable layer (the last one gets ``cfg.output_amount``).
        cfg: an :class:`LTHConfig`.
        round_: the round, an int >= 0 (0: no pruning).
    Returns:
        ``model``.

    >>> from effnn.prune import layer_sparsity
    >>> net = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10))
    >>> [round(s, 2) for s in layer_sparsity(imp_prune(net, LTHConfig(amount=0.5, output_amount=0.2), 1)).values()]
    [0.5, 0.2]
    """
    V.module(model, "model")
    if not isinstance(cfg, LTHConfig):
        raise TypeError(f"cfg must be an LTHConfig, got {type(cfg).__name__}")
    V.integer(round_, "round_", low=0)
    layers = _layers_of(model, None)
    amounts = dict(zip(layers, cfg.layer_sparsity(round_, len(layers))))
    return prune_by_scores(model, {m: weight_of(m).detach().abs() for m in layers}, scope="layer",
                           amounts=amounts)


def find_tickets(model_fn: Callable[[], nn.Module], train_data, val_data, test_data,
                 cfg: LTHConfig | None = None) -> list[dict]:
    """Run IMP and its controls; one record per round (round 0 = the dense network).

    Each record: ``remaining`` (fraction of weights left), ``acc_ticket`` and ``early_stop`` of the
    rewound ticket, and, when asked in ``cfg.controls``, ``acc_reinit`` (same mask, fresh init) and
    ``acc_snip`` (SNIP at init to the same fraction). Accuracies are on ``test_data`` after the full
    training, ``masks`` the round's masks. ``model_fn()`` must build a fresh network; the seed comes
    from ``cfg.seed``. Every data argument is an ``(x, y)`` pair (``val_data`` may be None).

    Args:
        model_fn: ``model_fn() -> nn.Module``, a fresh network each call.
        train_data: ``(x, y)`` tensors (or a Dataset / DataLoader; SNIP uses its first batch).
        val_data: data for the early-stopping iteration, or None.
        test_data: data for the accuracies.
        cfg: an :class:`LTHConfig` (default ``LTHConfig()``).
    Returns:
        A list of record dicts, one per round.

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 8); y = (x[:, 0] > 0).long(); d = (x, y)
    >>> mk = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=16, lr=1e-2)
    >>> recs = find_tickets(mk, d, None, d, LTHConfig(rounds=1, train=cfg, controls=("reinit",)))
    >>> [round(r["remaining"], 3) for r in recs], "acc_reinit" in recs[1]
    ([1.0, 0.644], True)
    """
    V.function(model_fn, "model_fn")
    V.data(train_data, "train_data")
    if val_data is not None:
        V.data(val_data, "val_data")
    V.data(test_data, "test_data")
    cfg = LTHConfig() if cfg is None else cfg
    if not isinstance(cfg, LTHConfig):
        raise TypeError(f"cfg must be an LTHConfig, got {type(cfg).__name__}")
    seed_everything(cfg.seed)
    model = model_fn()
    train_cfg = replace(cfg.train, seed=cfg.seed)
    probe = train_probed(model, train_data, train_cfg, val_data=val_data, rewind_step=cfg.rewind_step,
                         eval_every=cfg.eval_every)
    rewind_state = probe.rewind_state
    records = [{"round": 0, "remaining": 1.0, "acc_ticket": accuracy(model, test_data),
                "early_stop": probe.early_stop_step}]
    for key in cfg.controls:
        records[0][f"acc_{key}"] = records[0]["acc_ticket"]
    x_snip, y_snip = _first_batch(train_data, 256)
    for r in progress_bar(range(1, cfg.rounds + 1), desc="IMP rounds", leave=False):
        imp_prune(model, cfg, r)
        rewind(model, rewind_state)
        probe = train_probed(model, train_data, train_cfg, val_data=val_data, eval_every=cfg.eval_every)
        row = {"round": r, "remaining": 1 - weight_sparsity(model), "acc_ticket": accuracy(model, test_data),
               "early_stop": probe.early_stop_step, "masks": masks(model)}
        if "reinit" in cfg.controls:
            seed_everything(10_000 + cfg.seed * 100 + r)
            control = apply_masks(model_fn(), masks(model))
            p = train_probed(control, train_data, train_cfg, val_data=val_data, eval_every=cfg.eval_every)
            row["acc_reinit"], row["early_stop_reinit"] = accuracy(control, test_data), p.early_stop_step
        if "snip" in cfg.controls:
            seed_everything(cfg.seed)
            control = snip_prune(model_fn(), x_snip, y_snip, 1 - row["remaining"])
            fit(control, train_data, train_cfg, desc="SNIP")
            row["acc_snip"] = accuracy(control, test_data)
        records.append(row)
    return records


@dataclass
class LTHResult(Result):
    """What :func:`run_lth` found: one record per round (see :func:`find_tickets`), round 0 dense.

    Args:
        records: the :func:`find_tickets` records, round 0 first.

    >>> LTHResult(records=[{"round": 0, "remaining": 1.0}]).last["remaining"]
    1.0
    """
    records: list

    @property
    def last(self) -> dict:
        """The most pruned round's record."""
        return self.records[-1]


def run_lth(config: LTHConfig, data, model_fn: Callable[[], nn.Module] | None = None) -> LTHResult:
    """Run :class:`LTHConfig`: IMP with rewinding and its controls (open_lth's runner shape).

    Args:
        config: the run (``LTHConfig.fast()`` in fast mode, or any config).
        data: ``(train, val, test)``, each an ``(x, y)`` pair (``val`` may be None: no early-stopping
            iteration).
        model_fn: builds a fresh network; default: a :class:`~effnn.models.LeNet300100` sized to the data.

    Returns:
        An :class:`LTHResult`; every model it trains is its own, nothing passed in is changed.

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 8); y = (x[:, 0] > 0).long(); d = (x, y)
    >>> mk = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=16, lr=1e-2)
    >>> res = run_lth(LTHConfig(rounds=1, train=cfg, controls=()), (d, None, d), mk)
    >>> len(res.records), round(res.last["remaining"], 3)
    (2, 0.644)
    """
    if not isinstance(config, LTHConfig):
        raise TypeError(f"config must be an effnn.lth.LTHConfig, got {type(config).__name__}")
    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise TypeError("data must be a (train, val, test) triple of (x, y) pairs")
    train, val, test = data
    V.data(train, "data[0] (train)")
    if model_fn is None:
        from .models import LeNet300100

        in_features = train[0][0].numel()
        model_fn = lambda: LeNet300100(in_features=in_features)  # noqa: E731
    return LTHResult(records=find_tickets(model_fn, train, val, test, config))


def _first_batch(data, n: int):
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        return data[0][:n], data[1][:n]
    return next(iter(data))


# --- linear mode connectivity ----------------------------------------------------------------------

@torch.no_grad()
def interpolate(model_a: nn.Module, model_b: nn.Module, alpha: float) -> nn.Module:
    """A copy of ``model_a`` with parameters :math:`(1-\\alpha)\\theta_A + \\alpha\\theta_B` (masks of A).

    Returns a new model; neither input changes. The building block of :func:`error_barrier`.

    Args:
        model_a: copied, not changed.
        model_b: read only; the same parameter names and shapes as ``model_a``.
        alpha: a finite number (0: A, 1: B; outside [0, 1] extrapolates).
    Returns:
        The new model.

    >>> a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    >>> torch.allclose(interpolate(a, b, 0.5).bias, (a.bias + b.bias) / 2)
    True
    """
    V.module(model_a, "model_a")
    V.module(model_b, "model_b")
    alpha = V.number(alpha, "alpha")
    pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    if {n: p.shape for n, p in pa.items()} != {n: p.shape for n, p in pb.items()}:
        raise ValueError("model_a and model_b must have the same parameter names and shapes")
    out = copy.deepcopy(model_a)
    for n, p in out.named_parameters():
        p.lerp_(pb[n], alpha)
    return out


def error_barrier(model_a: nn.Module, model_b: nn.Module, data, alphas=None) -> dict:
    """Test error along the segment between two networks and its barrier height.

    Reads ``model_a``; does not change its weights.

    :math:`\\text{barrier} = \\max_\\alpha E((1-\\alpha)\\theta_A + \\alpha\\theta_B) - \\tfrac12(E(\\theta_A) + E(\\theta_B))`;
    near 0 means the two runs ended in one linearly connected basin ("stable to SGD noise").

    Args:
        model_a: read only.
        model_b: read only; the same parameter names and shapes.
        data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        alphas: at least two finite points on the segment (a list or tensor); None for 11 in [0, 1].
    Returns:
        ``{"alphas", "errors", "barrier"}``: the points, the test error (in [0, 1]) at each, and the barrier.

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 8); y = (x[:, 0] > 0).long(); d = (x, y)
    >>> mk = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=16, lr=1e-2)
    >>> r = error_barrier(mk(), mk(), d, alphas=[0.0, 0.5, 1.0]); sorted(r), len(r["errors"])
    (['alphas', 'barrier', 'errors'], 3)
    """
    V.data(data, "data")
    if alphas is not None:
        if torch.is_tensor(alphas):
            alphas = alphas.tolist()
        alphas = V.sequence_of(list(alphas) if hasattr(alphas, "__iter__") and not isinstance(alphas, str)
                               else alphas, "alphas", V.number)
        if len(alphas) < 2:
            raise ValueError("alphas must hold at least two points")
    alphas = torch.linspace(0, 1, 11).tolist() if alphas is None else list(alphas)
    errors = [1 - accuracy(interpolate(model_a, model_b, a), data) for a in alphas]
    barrier = max(errors) - 0.5 * (errors[0] + errors[-1])
    return {"alphas": alphas, "errors": errors, "barrier": barrier}


def spawn_and_compare(parent: nn.Module, state: dict, train_data, test_data, cfg: TrainConfig,
                      seeds=(1, 2), alphas=None) -> dict:
    """Train two copies of ``parent`` rewound to ``state`` with different data orders; their barrier.

    Trains copies; ``parent`` is not changed.

    Args:
        parent: copied twice, not changed (its masks come along).
        state: ``{name: tensor}`` from :func:`snapshot`, loaded into both copies.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        test_data: the same kinds, for the barrier.
        cfg: the :class:`~effnn.train.TrainConfig` of both copies (their ``seed`` is replaced).
        seeds: two ints, the data-order seeds.
        alphas: as in :func:`error_barrier`.
    Returns:
        :func:`error_barrier` of the two trained copies.

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 8); y = (x[:, 0] > 0).long(); d = (x, y)
    >>> mk = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=16, lr=1e-2)
    >>> net = mk(); sorted(spawn_and_compare(net, snapshot(net), d, d, cfg, alphas=[0.0, 1.0]))
    ['alphas', 'barrier', 'errors']
    """
    V.module(parent, "parent")
    V.mapping(state, "state")
    V.data(train_data, "train_data")
    V.data(test_data, "test_data")
    _config(cfg)
    seeds = V.sequence_of(seeds, "seeds", V.integer, length=2)
    children = []
    for s in seeds:
        child = rewind(copy.deepcopy(parent), state)
        fit(child, train_data, replace(cfg, seed=s), desc="child")
        children.append(child)
    return error_barrier(children[0], children[1], test_data, alphas)


def instability(model_fn: Callable[[], nn.Module], train_data, test_data, cfg: TrainConfig, rewind_step: int,
                *, mask: dict | None = None, seed: int = 0, alphas=None) -> dict:
    """Frankle et al. 2020: train to step ``rewind_step``, then two copies with different data orders.

    The network (with ``mask`` from :func:`masks`, if given) is trained once to record
    :math:`\\theta_k`; two children restart from it with data-order seeds ``seed+1`` and ``seed+2``.
    Returns :func:`error_barrier` of the children: ~0 means stable to SGD noise from step ``k`` on.
    Trains its own networks from ``model_fn``.

    Args:
        model_fn: ``model_fn() -> nn.Module``, a fresh network.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        test_data: the same kinds, for the barrier.
        cfg: the :class:`~effnn.train.TrainConfig` of every training.
        rewind_step: ``k``, an int >= 0.
        mask: ``{module name: mask}`` from :func:`masks`, or None for a dense network.
        seed: seeds the init and the parent's data order.
        alphas: as in :func:`error_barrier`.
    Returns:
        ``{"alphas", "errors", "barrier"}`` of the two children.

    >>> _ = torch.manual_seed(0); x = torch.randn(64, 8); y = (x[:, 0] > 0).long(); d = (x, y)
    >>> mk = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=16, lr=1e-2)
    >>> sorted(instability(mk, d, d, cfg, rewind_step=2, alphas=[0.0, 0.5, 1.0]))
    ['alphas', 'barrier', 'errors']
    """
    V.function(model_fn, "model_fn")
    V.data(train_data, "train_data")
    V.data(test_data, "test_data")
    _config(cfg)
    V.integer(rewind_step, "rewind_step", low=0)
    V.integer(seed, "seed")
    if mask is not None:
        V.mapping(mask, "mask")
    seed_everything(seed)
    parent = model_fn()
    if mask is not None:
        apply_masks(parent, mask)
    probe = train_probed(parent, train_data, replace(cfg, seed=seed), rewind_step=rewind_step)
    return spawn_and_compare(parent, probe.rewind_state, train_data, test_data, cfg,
                             seeds=(seed + 1, seed + 2), alphas=alphas)


# --- DEEP R ---------------------------------------------------------------------------------------

class DeepR:
    """DEEP R (Bellec et al. 2018) as an ``after_step`` hook: a fixed number of live connections.

    Each connection has a fixed sign :math:`s_k` and a parameter :math:`\\theta_k`, :math:`w_k = s_k\\theta_k`;
    it is live while :math:`\\theta_k > 0`. After each optimizer step, live weights get an L1 shrink
    and Langevin noise, :math:`\\theta \\leftarrow \\theta - \\eta\\alpha + \\sqrt{2\\eta T}\\,\\nu`; any
    weight that crosses zero dies, and as many dormant connections, chosen at random, are born with
    :math:`\\theta = \\epsilon` and a random sign. The count per layer never changes.

    Args:
        model: changed in place: each layer of ``layers`` gets a random mask keeping ``density``.
        density: the fraction of connections that stay live, in (0, 1]. This is the one place effnn
            takes a kept fraction instead of ``amount`` (``density = 1 - amount``): DEEP R is
            defined by its connectivity, and the lecture speaks its language.
        lr: the optimizer's learning rate (the update above scales with it).
        l1, temperature: the L1 shrink and the Langevin noise temperature.
        seed: seeds the masks, signs, noise and rewiring.
        layers: the layers to rewire (default: every prunable layer).

    >>> from effnn.prune import weight_sparsity
    >>> _ = torch.manual_seed(0); x = torch.randn(64, 8); y = (x[:, 0] > 0).long(); d = (x, y)
    >>> mk = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=16, lr=1e-2)
    >>> net = mk(); hook = DeepR(net, 0.25, lr=1e-2)
    >>> _ = fit(net, d, cfg, after_step=hook); round(1 - weight_sparsity(net), 2)  # still 25% live
    0.25
    """

    def __init__(self, model: nn.Module, density: float, *, lr: float, l1: float = 0.2,
                 temperature: float = 1e-6, seed: int = 0, layers=None):
        V.module(model, "model")
        density = V.number(density, "density", low=0, high=1, low_open=True)
        V.number(lr, "lr", low=0, low_open=True)
        V.number(l1, "l1", low=0)
        V.number(temperature, "temperature", low=0)
        V.integer(seed, "seed")
        self.layers = _layers_of(model, layers)
        self.lr, self.l1, self.temperature = lr, l1, temperature
        self.gen = torch.Generator().manual_seed(seed)
        self.rewired = 0
        for layer in self.layers:
            n = layer.weight.numel()
            keep = max(1, round(density * n))
            mask = torch.zeros(n)
            mask[torch.randperm(n, generator=self.gen)[:keep]] = 1.0
            install_mask(layer, mask.view_as(layer.weight))
        self.signs = [torch.sign(layer.weight_orig.detach()).clamp_min(0) * 2 - 1 for layer in self.layers]

    def connections(self) -> list[int]:
        """Live connections per layer (constant through training)."""
        return [int(layer.weight_mask.sum()) for layer in self.layers]

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> None:
        noise_scale = math.sqrt(2 * self.lr * self.temperature)
        for layer, sign in zip(self.layers, self.signs):
            w, m = layer.weight_orig, layer.weight_mask
            live = m.bool()
            w[live] -= self.lr * self.l1 * sign[live]
            if noise_scale:
                w[live] += noise_scale * torch.randn(int(live.sum()), generator=self.gen)
            died = live & (w * sign <= 0)
            n_died = int(died.sum())
            if not n_died:
                continue
            m[died] = 0.0
            w[died] = 0.0
            dormant = (m == 0).flatten().nonzero().squeeze(1)
            born = dormant[torch.randperm(len(dormant), generator=self.gen)[:n_died]]
            new_sign = torch.randint(0, 2, (n_died,), generator=self.gen).float() * 2 - 1
            m.view(-1)[born] = 1.0
            sign.view(-1)[born] = new_sign
            w.view(-1)[born] = new_sign * 1e-6
            self.rewired += n_died


def static_sparse(model: nn.Module, density: float, seed: int = 0, layers=None) -> nn.Module:
    """The DEEP R control: the same number of connections per layer, chosen at random and frozen.

    In place (masks installed on ``model``'s layers); returns ``model``. ``density`` is the kept
    fraction, as in :class:`DeepR` (``1 - amount``).

    Args:
        model: masks are installed in place on its layers.
        density: the kept fraction per layer, in (0, 1].
        seed: seeds the masks.
        layers: the layers to mask (default: every prunable layer).
    Returns:
        ``model``.

    >>> net = nn.Sequential(nn.Linear(10, 10))
    >>> int(static_sparse(net, 0.3)[0].weight_mask.sum())
    30
    """
    DeepR(model, density, lr=1.0, seed=seed, layers=layers)  # only its random initial masks
    return model


def summarize(runs: list[list[dict]], keys=("acc_ticket", "acc_reinit", "acc_snip")) -> list[dict]:
    """Mean and standard deviation over seeds of each round of :func:`find_tickets` records.

    Args:
        runs: a non-empty list (one per seed) of non-empty lists of records with ``round`` and ``remaining``.
        keys: the record keys to average (a tuple of str); ``early_stop`` is always added when present.
    Returns:
        One dict per round: ``round``, the mean ``remaining``, and ``<key>`` / ``<key>_std`` for each
        key found.

    >>> runs = [[{"round": 0, "remaining": 1.0, "acc_ticket": a}] for a in (0.8, 0.9)]
    >>> round(summarize(runs, keys=("acc_ticket",))[0]["acc_ticket"], 2)
    0.85
    """
    import numpy as np

    if not isinstance(runs, (list, tuple)) or not runs:
        raise ValueError("runs must be a non-empty list of find_tickets records (one list per seed)")
    for i, rows in enumerate(runs):
        if not isinstance(rows, (list, tuple)) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"runs[{i}] must be a non-empty list of record dicts")
    if not isinstance(keys, tuple) or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"keys must be a tuple of record keys (str), got {keys!r}")
    out = []
    for rows in zip(*runs):
        row = {"round": rows[0]["round"], "remaining": float(np.mean([r["remaining"] for r in rows]))}
        for k in keys + ("early_stop",):
            vals = [r[k] for r in rows if k in r]
            if vals:
                row[k], row[f"{k}_std"] = float(np.mean(vals)), float(np.std(vals))
        out.append(row)
    return out
