"""Winning tickets trained with dropout: does the ticket's edge over a random re-init survive it?

Frankle & Carbin (*The Lottery Ticket Hypothesis*, 2019, Section 5) train their convolutional
networks with and without dropout and find winning tickets either way. Dropout already thins the
network at random on every step, so one may ask whether the ticket's advantage (its pairing of mask
and initial values) still shows once the dense network learns to survive random removal.
:func:`dropout_experiment` measures it on one magnitude mask per seed, with the same training
budget for every arm; :func:`add_dropout` puts the dropout into any ReLU network.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from . import validate as V


def add_dropout(model: nn.Module, p: float) -> nn.Module:
    """Put ``nn.Dropout(p)`` after every ReLU of ``model`` (each ReLU becomes ``Sequential(ReLU, Dropout)``).

    The weighted layers keep their names, so masks and snapshots keyed by name still fit.

    Args:
        model: changed in place and returned; it must contain at least one ``nn.ReLU``.
        p: the probability of zeroing an activation, in [0, 1); 0 leaves ``model`` unchanged.
    Returns:
        ``model``.

    >>> net = add_dropout(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), 0.5)
    >>> [type(m).__name__ for m in net[1]], [n for n, _ in net.named_parameters()][:2]
    (['ReLU', 'Dropout'], ['0.weight', '0.bias'])
    """
    V.module(model, "model")
    p = V.fraction(p, "p")
    relus = [(parent, name) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, nn.ReLU)]
    if not relus:
        raise ValueError("model has no nn.ReLU to put dropout after")
    if p == 0:
        return model
    for parent, name in relus:
        setattr(parent, name, nn.Sequential(getattr(parent, name), nn.Dropout(p)))
    return model


def dropout_experiment(model_fn: Callable[[], nn.Module], train_data, test_data, cfg, *, dropouts=(0.0, 0.5),
                       amount: float = 0.97, output_amount: float = 0.75, seeds=(0, 1, 2)) -> dict:
    """Ticket against random re-init, with and without dropout, on one one-shot magnitude mask per seed.

    For each dropout rate and seed: build ``model_fn()`` with :func:`add_dropout`, record
    :math:`\\theta_0`, train it densely with ``cfg``, remove ``amount`` of each hidden layer's weights and
    ``output_amount`` of the output layer's by magnitude, then retrain the survivors from :math:`\\theta_0`
    (the ticket) and, as the control, the same mask from a fresh initialisation. Every network trains
    with the same dropout rate and the same ``cfg``.

    Args:
        model_fn: builds a fresh ReLU network (a new initialisation on every call).
        train_data: ``(x, y)`` tensors for every training.
        test_data: ``(x, y)`` tensors for the accuracies.
        cfg: an ``effnn.train.TrainConfig``; its ``seed`` is replaced by each of ``seeds``.
        dropouts: dropout rates in [0, 1), at least one.
        amount: fraction of each hidden layer's weights removed, in [0, 1).
        output_amount: fraction of the output layer's weights removed, in [0, 1).
        seeds: non-negative integers, at least one.
    Returns:
        ``{"dense": {p: [acc per seed]}, "ticket": {...}, "reinit": {...}, "remaining": fraction of weights
        left, "n_test": test samples}``.

    >>> import torch; from effnn.train import TrainConfig
    >>> data = (torch.randn(64, 8), torch.randint(0, 2, (64,)))
    >>> fn = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> out = dropout_experiment(fn, data, data, TrainConfig(epochs=1, fast_epochs=1), dropouts=(0.0, 0.5),
    ...                          amount=0.5, output_amount=0.5, seeds=(0,))
    >>> sorted(out["ticket"]), len(out["reinit"][0.5]), out["remaining"]
    ([0.0, 0.5], 1, 0.5)
    """
    from .rewinding import rewind_sweep

    V.function(model_fn, "model_fn")
    dropouts = V.sequence_of(dropouts, "dropouts", V.fraction)
    V.nonempty(dropouts, "dropouts")
    out: dict = {"dense": {}, "ticket": {}, "reinit": {}}
    for p in dropouts:
        # rewinding to step 0 is the ticket; rewind_sweep's control is the re-initialised twin
        sweep = rewind_sweep(lambda p=p: add_dropout(model_fn(), p), train_data, test_data, cfg, [0], amount=amount,
                             output_amount=output_amount, seeds=seeds, control=True)
        out["dense"][p], out["ticket"][p], out["reinit"][p] = sweep["dense"], sweep["acc"][0], sweep["acc_reinit"]
        out["remaining"], out["n_test"] = sweep["remaining"], sweep["n_test"]
    return out
