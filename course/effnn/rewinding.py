"""Accuracy of a sparse subnetwork against the step it is rewound to.

Frankle et al. (*Stabilizing the Lottery Ticket Hypothesis*, 2019; *Linear Mode Connectivity and the
Lottery Ticket Hypothesis*, 2020) found that a pruning mask trained from the initial weights
:math:`\\theta_0` often fails at larger learning rates, while the same mask rewound to the weights
:math:`\\theta_k` of an early step ``k`` succeeds. :func:`rewind_sweep` measures that curve cheaply:
one dense training records :math:`\\theta_k` for every ``k`` asked (:class:`Snapshots`), one magnitude
mask is cut from the trained weights, and the masked network is retrained from each :math:`\\theta_k`,
plus the random re-initialisation control. One mask for every ``k`` keeps the rewind point the only
thing that changes.
"""
from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Callable

import torch
from torch import nn

from . import validate as V


class Snapshots:
    """``after_step`` hook for :func:`effnn.train.fit`: a copy of the weights after each step in ``steps``.

    Step 0 (the initialisation) is taken when the hook is created. ``saved[k]`` is a
    :func:`effnn.lth.snapshot` (keyed by unpruned parameter names, ready for :func:`effnn.lth.rewind`).

    Args:
        model: read now (step 0, if asked) and by each call.
        steps: a non-empty list (or range) of steps >= 0 to save; duplicates ignored.

    >>> from effnn.train import TrainConfig, fit
    >>> _ = torch.manual_seed(0)
    >>> model, data = nn.Linear(4, 2), (torch.randn(64, 4), torch.randint(0, 2, (64,)))
    >>> hook = Snapshots(model, steps=[0, 2])
    >>> _ = fit(model, data, TrainConfig(epochs=1, fast_epochs=1, batch_size=32), after_step=hook)
    >>> sorted(hook.saved), torch.equal(hook.saved[2]["weight"], model.weight)
    ([0, 2], True)
    """

    def __init__(self, model: nn.Module, steps):
        from .lth import snapshot

        V.module(model, "model")
        steps = V.sequence_of(list(steps) if isinstance(steps, range) else steps, "steps",
                              lambda v, n: V.integer(v, n, low=0))
        V.nonempty(steps, "steps")
        self.steps, self.step = sorted(set(steps)), 0
        self.saved = {0: snapshot(model)} if 0 in self.steps else {}

    def __call__(self, model: nn.Module) -> None:
        from .lth import snapshot

        self.step += 1
        if self.step in self.steps:
            self.saved[self.step] = snapshot(model)


def fit_warmup(model: nn.Module, train_data, cfg, warmup_steps: int) -> nn.Module:
    """:func:`effnn.train.fit` with a linear learning-rate warm-up over the first ``warmup_steps`` steps
    (its ``warmup_steps`` argument), returning the model.

    The rate climbs from ``cfg.lr / warmup_steps`` to ``cfg.lr`` (torch's ``LinearLR``) and stays there,
    the warm-up Frankle & Carbin needed for IMP on deeper networks. Same seed, data order and optimizer
    as ``fit``, so ``warmup_steps=1`` trains exactly as ``fit`` does.

    Args:
        model: trained in place.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        cfg: a :class:`~effnn.train.TrainConfig` (required).
        warmup_steps: an int >= 1.
    Returns:
        ``model``, in eval mode.

    >>> from effnn.train import TrainConfig
    >>> _ = torch.manual_seed(0)
    >>> model, data = nn.Linear(4, 2), (torch.randn(64, 4), torch.randint(0, 2, (64,)))
    >>> fit_warmup(model, data, TrainConfig(epochs=1, fast_epochs=1, batch_size=16), warmup_steps=2) is model
    True
    """
    from .train import _config, fit

    V.module(model, "model")
    _config(cfg)  # required here: fit's default config would hide a forgotten one
    fit(model, train_data, cfg, warmup_steps=V.positive_int(warmup_steps, "warmup_steps"), desc="warm-up")
    return model


def steps_per_epoch(train_data, batch_size: int) -> int:
    """Optimizer steps in one epoch over ``(x, y)`` tensors at ``batch_size``.

    Args:
        train_data: an ``(x, y)`` pair (its length is ``len(y)``).
        batch_size: >= 1.
    Returns:
        ``ceil(len(y) / batch_size)``, an int.

    >>> steps_per_epoch((torch.zeros(100, 2), torch.zeros(100)), batch_size=32)
    4
    """
    V.data(train_data, "train_data")
    return math.ceil(len(train_data[1]) / V.positive_int(batch_size, "batch_size"))


def rewind_sweep(model_fn: Callable[[], nn.Module], train_data, test_data, cfg, steps, *,
                 amount: float = 0.96, output_amount: float = 0.5, seeds=(0, 1), control: bool = True,
                 warmup_steps: int | None = None) -> dict:
    """Test accuracy of one magnitude mask rewound to each step in ``steps`` and retrained.

    Per seed: train ``model_fn()`` densely with ``cfg`` (recording :math:`\\theta_k`), remove ``amount``
    of each hidden layer's weights and ``output_amount`` of the output layer's by magnitude, then for
    each ``k`` rewind the survivors to :math:`\\theta_k` and retrain with ``cfg``; with ``control`` the
    same mask also trains from a fresh initialisation; with ``warmup_steps`` the mask rewound to
    :math:`\\theta_0` also trains with a learning-rate warm-up (:func:`fit_warmup`), in ``acc_warmup``.
    Every ``k`` must fall inside the dense training.

    The result holds ``acc[k]``, ``acc_reinit`` and ``acc_warmup`` (one value per seed; empty when not
    asked), ``dense`` per seed, ``remaining`` (the fraction of weights left), ``steps_per_epoch``,
    ``total_steps`` and ``n_test``.

    Args:
        model_fn: ``model_fn() -> nn.Module``, a fresh network each call.
        train_data: ``(x, y)`` tensors.
        test_data: ``(x, y)`` tensors.
        cfg: the :class:`~effnn.train.TrainConfig` of every training (its seed is replaced per seed).
        steps: a non-empty list (or range) of rewind steps >= 0, at most the dense training's steps.
        amount: the fraction of each hidden layer's weights removed, in [0, 1).
        output_amount: the same for the output layer.
        seeds: a non-empty list (or range) of ints >= 0.
        control: also train the random re-initialisation control.
        warmup_steps: an int >= 1 for the warm-up arm, or None for no such arm.
    Returns:
        A dict with the keys above; ``acc`` maps each ``k`` to a list (one accuracy per seed).

    >>> from effnn.train import TrainConfig
    >>> data = (torch.randn(64, 8), torch.randint(0, 2, (64,)))
    >>> model_fn = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=32)
    >>> out = rewind_sweep(model_fn, data, data, cfg, steps=[0, 1], amount=0.5, seeds=(0,))
    >>> sorted(out["acc"]), len(out["acc_reinit"]), out["total_steps"]
    ([0, 1], 1, 2)
    """
    from .lth import apply_masks, masks, rewind
    from .prune import magnitude_prune, prunable_layers, weight_sparsity
    from .train import _config, accuracy, fit, seed_everything

    V.function(model_fn, "model_fn")
    V.data(train_data, "train_data")
    V.data(test_data, "test_data")
    _config(cfg)
    amount, output_amount = V.fraction(amount, "amount"), V.fraction(output_amount, "output_amount")
    steps = V.sequence_of(list(steps) if isinstance(steps, range) else steps, "steps",
                          lambda v, n: V.integer(v, n, low=0))
    V.nonempty(steps, "steps")
    seeds = V.sequence_of(list(seeds) if isinstance(seeds, range) else seeds, "seeds",
                          lambda v, n: V.integer(v, n, low=0))
    V.nonempty(seeds, "seeds")
    control = V.flag(control, "control")
    if warmup_steps is not None:
        warmup_steps = V.positive_int(warmup_steps, "warmup_steps")
    per_epoch = steps_per_epoch(train_data, cfg.batch_size)
    total = per_epoch * cfg.effective_epochs
    if max(steps) > total:
        raise ValueError(f"steps must lie within the dense training ({total} steps), got {max(steps)}")
    out = {"acc": {k: [] for k in steps}, "acc_reinit": [], "acc_warmup": [], "dense": [], "steps_per_epoch": per_epoch,
           "total_steps": total, "n_test": len(test_data[1])}
    for seed in seeds:
        run_cfg = replace(cfg, seed=seed)
        seed_everything(seed)
        dense = model_fn()
        snaps = Snapshots(dense, steps + ([0] if warmup_steps is not None else []))
        fit(dense, train_data, run_cfg, after_step=snaps, desc="dense")
        out["dense"].append(accuracy(dense, test_data))
        layers = prunable_layers(dense)
        magnitude_prune(dense, amount, scope="layer", layers=layers, amounts={layers[-1]: output_amount})
        out["remaining"] = 1 - weight_sparsity(dense)
        for k in steps:
            ticket = rewind(copy.deepcopy(dense), snaps.saved[k])
            fit(ticket, train_data, run_cfg, desc=f"rewound to step {k}")
            out["acc"][k].append(accuracy(ticket, test_data))
        if warmup_steps is not None:
            ticket = rewind(copy.deepcopy(dense), snaps.saved[0])
            out["acc_warmup"].append(accuracy(fit_warmup(ticket, train_data, run_cfg, warmup_steps), test_data))
        if control:
            seed_everything(10_000 + seed)
            twin = apply_masks(model_fn(), masks(dense))
            fit(twin, train_data, run_cfg, desc="random re-init")
            out["acc_reinit"].append(accuracy(twin, test_data))
    return out
