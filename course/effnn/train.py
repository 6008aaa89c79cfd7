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


def progress_bar(iterable=None, **kwargs):
    """A ``tqdm.auto`` bar, hidden under CI / nbgrader / ``EFFNN_QUIET`` unless asked otherwise."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", config.quiet())
    if config.quiet():
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


def seed_everything(seed: int = 0) -> None:
    """Seed python, numpy and torch so a run is repeatable on one machine."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


@dataclass
class TrainConfig:
    """Hyperparameters of one training run (open_lth style: plain and typed).

    ``fast_epochs`` replaces ``epochs`` in fast mode; everything else stays the same.
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
        if self.epochs < 0 or self.fast_epochs < 0:
            raise ValueError("epochs must be >= 0")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer must be adam, adamw or sgd, got {self.optimizer!r}")

    @property
    def effective_epochs(self) -> int:
        return config.pick(self.epochs, min(self.fast_epochs, self.epochs))


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def as_loader(data, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """Accept a DataLoader, a Dataset, or an ``(x, y)`` pair of tensors."""
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
        val_data=None, desc: str = "training") -> dict:
    """Train ``model`` in place; return the history (loss per epoch, val accuracy if given).

    ``loss_fn(model, x, y)`` defaults to cross-entropy on ``model(x)``; ``after_step(model)`` runs
    after every optimizer step (re-apply masks, clip weights...).
    """
    cfg = cfg or TrainConfig()
    seed_everything(cfg.seed)
    loader = as_loader(train_data, cfg.batch_size, shuffle=True, seed=cfg.seed)
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
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
    """Logits for every sample of ``data`` (tensors, Dataset or DataLoader), in order."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x) for x, _ in as_loader(data, batch_size, shuffle=False)])
    model.train(was_training)
    return out


def accuracy(model: nn.Module, data, batch_size: int = 512) -> float:
    """Top-1 accuracy in [0, 1]."""
    return _mean_over(model, data, lambda logits, y: (logits.argmax(1) == y).sum(), batch_size)


def evaluate_loss(model: nn.Module, data, batch_size: int = 512) -> float:
    """Mean cross-entropy over ``data``."""
    return _mean_over(model, data, lambda logits, y: nn.functional.cross_entropy(logits, y, reduction="sum"),
                      batch_size)
