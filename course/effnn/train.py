"""A plain, seeded train / evaluate loop with progress bars and a fast mode.

The loop is deliberately small: lectures pass hooks (``after_step``) to keep pruning masks
applied or to clip latent binary weights, instead of writing loops of their own.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from . import config
from . import validate as V


def progress_bar(iterable=None, **kwargs):
    """A ``tqdm.auto`` bar, hidden under CI / nbgrader / ``EFFNN_QUIET`` unless asked otherwise.

    Args:
        iterable: what to iterate over (None for a manually updated bar).
        **kwargs: passed to ``tqdm``; ``disable`` is forced to True when :func:`effnn.config.quiet`.
    Returns:
        A ``tqdm.auto.tqdm`` bar (iterate it like ``iterable``).

    >>> sum(progress_bar(range(3), disable=True))
    3
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", config.quiet())
    if config.quiet():
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


def seed_everything(seed: int = 0) -> None:
    """Seed python, numpy and torch so a run is repeatable on one machine.

    Args:
        seed: any int (numpy ints too).
    Returns:
        None; seeds Python's ``random``, numpy (``seed % 2**32``) and torch, and sets
        ``PYTHONHASHSEED`` if unset.

    >>> seed_everything(3); a = torch.rand(1); seed_everything(3); bool(torch.rand(1) == a)
    True
    """
    seed = V.integer(seed, "seed")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


@dataclass
class TrainConfig:
    """Hyperparameters of one training run (open_lth style: plain and typed).

    Args:
        epochs: passes over the training data.
        fast_epochs: the epochs fast mode trains instead (``EFFNN_FAST=1`` / nbgrader; capped at
            ``epochs``); the code path stays the same. This is the one per-run fast-mode size, so a
            lecture can say "8 epochs, 1 in fast mode" in one line; :meth:`fast` is the preset that
            fast mode effectively runs.
        lr, batch_size, weight_decay, momentum: the optimizer's settings.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        seed: seeds the model's data order and dropout.

    >>> TrainConfig(epochs=8, fast_epochs=2).epochs, TrainConfig.fast().epochs
    (8, 1)
    """
    epochs: int = 10
    fast_epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    optimizer: str = "adam"  # "adam", "adamw" or "sgd"
    momentum: float = 0.9
    seed: int = 0

    def __post_init__(self):
        V.integer(self.epochs, "epochs", low=0)
        V.integer(self.fast_epochs, "fast_epochs", low=0)
        V.number(self.lr, "lr", low=0, low_open=True)
        V.positive_int(self.batch_size, "batch_size")
        V.number(self.weight_decay, "weight_decay", low=0)
        V.number(self.momentum, "momentum", low=0, high=1)
        V.choice(self.optimizer, "optimizer", ("adam", "adamw", "sgd"))
        V.integer(self.seed, "seed")

    @classmethod
    def fast(cls, **overrides) -> "TrainConfig":
        """The fast-mode preset: one epoch (everything else as given)."""
        return cls(**{"epochs": 1, "fast_epochs": 1, **overrides})

    @property
    def effective_epochs(self) -> int:
        """``epochs``, or ``min(fast_epochs, epochs)`` in fast mode."""
        return config.pick(self.epochs, min(self.fast_epochs, self.epochs))


def _config(cfg, name: str = "cfg") -> "TrainConfig":
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"{name} must be an effnn.train.TrainConfig, got {type(cfg).__name__}")
    return cfg


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``cfg.optimizer`` names, over ``params``, with ``cfg``'s lr / weight decay / momentum.

    Args:
        params: an iterable of parameters, e.g. ``model.parameters()`` (not empty).
        cfg: a :class:`TrainConfig`.
    Returns:
        A new ``torch.optim.Adam``, ``AdamW`` or ``SGD`` (with ``cfg.momentum``) over ``params``.

    >>> type(make_optimizer(nn.Linear(2, 2).parameters(), TrainConfig(optimizer="sgd"))).__name__
    'SGD'
    """
    _config(cfg)
    if torch.is_tensor(params) or not hasattr(params, "__iter__"):
        raise TypeError(f"params must be an iterable of parameters (model.parameters()), got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError("params is empty: the model has no trainable parameters")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def as_loader(data, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """Accept a DataLoader, a Dataset, or an ``(x, y)`` pair of tensors.

    Args:
        data: ``(x, y)`` tensors, a Dataset or a DataLoader (not empty).
        batch_size: samples per batch, >= 1 (ignored for a DataLoader).
        shuffle: shuffle each epoch (ignored for a DataLoader).
        seed: seeds the shuffling generator, so the order repeats for a seed.
    Returns:
        ``data`` itself if it is a DataLoader, else a new DataLoader over it.

    >>> len(as_loader((torch.zeros(5, 2), torch.zeros(5)), batch_size=2, shuffle=False))
    3
    """
    V.data(data, "data")
    V.positive_int(batch_size, "batch_size")
    V.flag(shuffle, "shuffle")
    V.integer(seed, "seed")
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data):
        if len(data[0]) != len(data[1]):
            raise ValueError(f"x and y differ in length: {len(data[0])} vs {len(data[1])}")
        data = TensorDataset(*data)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed))


def fit(model: nn.Module, train_data, cfg: TrainConfig | None = None, *,
        loss_fn: Callable | None = None, after_step: Callable[[nn.Module], None] | None = None,
        val_data=None, desc: str = "training", warmup_steps: int = 0) -> dict:
    """Train ``model`` in place; return the history (loss per epoch, val accuracy if given).

    ``loss_fn(model, x, y)`` defaults to cross-entropy on ``model(x)``; ``after_step(model)`` runs
    after every optimizer step (re-apply masks, clip weights...). ``warmup_steps > 0`` ramps the
    learning rate linearly from ``cfg.lr / warmup_steps`` to ``cfg.lr`` over the first optimizer steps
    (torch's ``LinearLR``; the warm-up IMP needs on deeper networks), then keeps it.

    Args:
        model: trained in place.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader (not empty).
        cfg: a :class:`TrainConfig` (default ``TrainConfig()``); fast mode trains
            ``cfg.effective_epochs``.
        loss_fn: ``loss_fn(model, x, y) -> scalar tensor``; None for cross-entropy on ``model(x)``.
        after_step: ``after_step(model)``, run under ``torch.no_grad()`` after every optimizer step.
        val_data: data to measure :func:`accuracy` on after each epoch, or None.
        desc: the progress bar's label.
        warmup_steps: optimizer steps of linear learning-rate warm-up, >= 0 (0: none).
    Returns:
        ``{"loss": [...], "val_acc": [...]}``, one entry per epoch (mean training loss per sample;
        ``val_acc`` stays empty without ``val_data``). ``model`` is left in eval mode.

    >>> m = nn.Linear(2, 2); h = fit(m, (torch.randn(8, 2), torch.randint(0, 2, (8,))), TrainConfig(epochs=1))
    >>> len(h["loss"])
    1
    """
    V.module(model, "model")
    V.data(train_data, "train_data")
    cfg = TrainConfig() if cfg is None else _config(cfg)
    if loss_fn is not None:
        V.function(loss_fn, "loss_fn")
    if after_step is not None:
        V.function(after_step, "after_step")
    if val_data is not None:
        V.data(val_data, "val_data")
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}")
    warmup_steps = V.integer(warmup_steps, "warmup_steps", low=0)
    seed_everything(cfg.seed)
    loader = as_loader(train_data, cfg.batch_size, shuffle=True, seed=cfg.seed)
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    ramp = (torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup_steps, total_iters=warmup_steps)
            if warmup_steps else None)
    loss_fn = loss_fn or (lambda m, x, y: nn.functional.cross_entropy(m(x), y))
    history = {"loss": [], "val_acc": []}
    epochs = cfg.effective_epochs
    bar = progress_bar(range(epochs), desc=desc, leave=False)
    for _ in bar:
        model.train()
        total, count = 0.0, 0
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model, x, y)
            loss.backward()
            opt.step()
            if ramp is not None:
                ramp.step()
            if after_step is not None:
                with torch.no_grad():
                    after_step(model)
            total += loss.item() * len(x)
            count += len(x)
        history["loss"].append(total / max(count, 1))
        if val_data is not None:
            history["val_acc"].append(accuracy(model, val_data))
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", val=f"{history['val_acc'][-1]:.3f}")
    model.eval()
    return history


@torch.no_grad()
def _mean_over(model: nn.Module, data, per_batch, batch_size: int) -> float:
    """Sum ``per_batch(logits, y)`` over ``data`` in eval mode, divided by the sample count."""
    V.module(model, "model")
    V.data(data, "data")
    was_training = model.training
    model.eval()
    total = count = 0
    for x, y in as_loader(data, batch_size, shuffle=False):
        total += float(per_batch(model(x), y))
        count += len(y)
    model.train(was_training)
    return total / max(count, 1)


@torch.no_grad()
def predict(model: nn.Module, data, batch_size: int = 512) -> torch.Tensor:
    """Logits for every sample of ``data`` (tensors, Dataset or DataLoader), in order.

    Reads ``model``; does not change its weights.

    Args:
        model: read only (its train/eval mode is restored).
        data: ``(x, y)`` tensors, a Dataset or a DataLoader (not empty); the labels are ignored.
        batch_size: samples per forward pass, >= 1 (memory, not the result).

    Returns:
        a ``(N, classes)`` tensor of logits (the model is put back in its previous train/eval mode).

    >>> predict(nn.Linear(2, 3), (torch.zeros(5, 2), torch.zeros(5))).shape
    torch.Size([5, 3])
    """
    V.module(model, "model")
    V.data(data, "data")
    was_training = model.training
    model.eval()
    out = torch.cat([model(x) for x, _ in as_loader(data, batch_size, shuffle=False)])
    model.train(was_training)
    return out


def accuracy(model: nn.Module, data, batch_size: int = 512) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` on ``data`` (not empty: an empty set has no accuracy).

    Reads ``model``; does not change its weights.

    Args:
        model: read only (its train/eval mode is restored).
        data: ``(x, y)`` tensors, a Dataset or a DataLoader (not empty).
        batch_size: samples per forward pass, >= 1 (memory, not the result).
    Returns:
        The fraction of samples whose arg-max logit equals the label, a float in [0, 1].

    >>> m = nn.Linear(2, 2)
    >>> with torch.no_grad(): _ = m.weight.copy_(torch.eye(2)), m.bias.zero_()
    >>> accuracy(m, (torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([0, 0])))
    0.5
    """
    return _mean_over(model, data, lambda logits, y: (logits.argmax(1) == y).sum(), batch_size)


def evaluate_loss(model: nn.Module, data, batch_size: int = 512) -> float:
    """Mean cross-entropy over ``data``.

    Reads ``model``; does not change its weights.

    Args:
        model: read only (its train/eval mode is restored).
        data: ``(x, y)`` tensors, a Dataset or a DataLoader (not empty); ``y`` holds class indices.
        batch_size: samples per forward pass, >= 1 (memory, not the result).
    Returns:
        The mean cross-entropy per sample (nats), a float.

    >>> round(evaluate_loss(nn.Linear(2, 2, bias=False).requires_grad_(False).apply(lambda m: m.weight.zero_()),
    ...                     (torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))), 4)
    0.6931
    """
    return _mean_over(model, data, lambda logits, y: nn.functional.cross_entropy(logits, y, reduction="sum"),
                      batch_size)
