"""MNIST-1D, generated locally from the ``mnist1d`` package's templates (never downloaded).

Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D" (2020): ten hand-drawn 1-D digit
templates, randomly padded, scaled, translated, sheared and noised into 40-point signals. Digits
(8x8) is too easy to separate methods; on MNIST-1D a linear model, an MLP and a CNN land far apart
(32 / 68 / 94 % in the paper), and a test set can be as large as a comparison needs.

With the default sizes (4,000 train, 1,000 test, seed 42) this is the paper's dataset: the package's
own ``make_dataset`` with its default arguments. Other sizes draw one pool of ``n_train + n_val +
n_test`` samples from the same generator and cut it in that order. Generated pools are cached under
``effnn.config.cache_dir() / "mnist1d"``. The package's download path (``get_dataset``, the ``url``
argument) is never used: generation runs with every network entry point made to raise.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import random
import socket
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import validate
from ..config import cache_dir, keep_file

SPLITS = ("train", "val", "test")
#: The paper's split: 5,000 samples, the first 4,000 for training.
MNIST1D_DEFAULT_SIZES = {"train": 4000, "val": 0, "test": 1000}
#: The paper's generator seed.
MNIST1D_SEED = 42
SIGNAL_LENGTH = 40

#: Test accuracy (%) of the paper's classifiers on the default MNIST-1D split (their Table 1, also
#: the package README): logistic regression, MLP, CNN, GRU and a human expert.
PUBLISHED_BASELINES = {"logistic regression": 32.0, "MLP": 68.0, "CNN": 94.0, "GRU": 91.0,
                       "human expert": 96.0}
PUBLISHED_SOURCE = ('Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D" (2020), '
                    "Table 1 and the mnist1d README")


class NetworkRefused(RuntimeError):
    """Raised if anything tries to reach the network while MNIST-1D is generated.

    The course runs offline: generation must never fall back to a download.

    >>> issubclass(NetworkRefused, RuntimeError)
    True
    """


def _refuse(*args, **kwargs):
    raise NetworkRefused("MNIST-1D is generated locally; effnn never downloads it")


@contextlib.contextmanager
def _no_network():
    """Make the usual network entry points raise for the duration of the generation."""
    import urllib.request

    patches = [(urllib.request, "urlopen"), (socket, "create_connection")]
    try:
        import requests

        patches += [(requests, "get"), (requests, "request")]
    except ImportError:  # pragma: no cover - requests is a dependency of mnist1d
        pass
    saved = [(mod, name, getattr(mod, name)) for mod, name in patches]
    try:
        for mod, name in patches:
            setattr(mod, name, _refuse)
        yield
    finally:
        for mod, name, original in saved:
            setattr(mod, name, original)


def generator_args(num_samples: int, seed: int) -> dict:
    """The package's default generator arguments with the given size and seed, and without ``url``.

    Args:
        num_samples: samples to generate (cast with ``int``; the generator makes ``num_samples // 10`` per class).
        seed: the generator's seed (cast with ``int``).
    Returns:
        A new dict of ``make_dataset`` arguments, ``train_split=1.0``.

    >>> args = generator_args(10, seed=0); args["num_samples"], "url" in args
    (10, False)
    """
    from mnist1d.data import get_dataset_args

    args = get_dataset_args(as_dict=True)
    args.pop("url", None)  # the download path is never taken
    args.update(num_samples=int(num_samples), seed=int(seed), train_split=1.0)
    return args


def _cache_path(args: dict) -> Path:
    from importlib.metadata import version

    key = json.dumps({**args, "mnist1d": version("mnist1d")}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return cache_dir() / "mnist1d" / f"mnist1d-n{args['num_samples']}-seed{args['seed']}-{digest}.npz"


def _generate(args: dict) -> tuple[np.ndarray, np.ndarray]:
    """Run the package's ``make_dataset`` offline, leaving the global RNGs as they were."""
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    assert "url" not in args
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with _no_network():
            data = make_dataset(ObjectView(dict(args)))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return data["x"].astype(np.float32), data["y"].astype(np.int64)


@lru_cache(maxsize=4)
def _pool(total: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``total`` samples for ``seed``, read from the cache or generated and cached."""
    args = generator_args(-(-total // 10) * 10, seed)  # the generator makes num_samples // 10 per class
    path = _cache_path(args)
    if path.exists():
        with np.load(path) as f:
            x, y = f["x"], f["y"]
    else:
        x, y = _generate(args)
        keep_file(path, lambda tmp: np.savez(tmp, x=x, y=y))  # read-only (the grader's): generates again
    return x[:total], y[:total]


def mnist1d(split: str = "train", *, n_train: int = MNIST1D_DEFAULT_SIZES["train"],
            n_val: int = MNIST1D_DEFAULT_SIZES["val"], n_test: int = MNIST1D_DEFAULT_SIZES["test"],
            seed: int = MNIST1D_SEED, channel: bool = False):
    """Return ``(x, y)`` tensors of one split.

    ``x`` has shape ``(N, 40)`` (``(N, 1, 40)`` when ``channel``, for a ``Conv1d``), float32,
    standardised over the whole pool as the package does; ``y`` holds class ids 0..9. The split
    depends only on ``seed`` and the three sizes.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        n_train: training samples, >= 1.
        n_val: validation samples, >= 0.
        n_test: test samples, >= 1.
        seed: the generator's seed, an int >= 0.
        channel: add a channel dimension, ``(N, 1, 40)``.
    Returns:
        ``(x, y)``: new float32 and int64 tensors.

    >>> x, y = mnist1d("test", n_train=100, n_test=20); x.shape, y.dtype
    (torch.Size([20, 40]), torch.int64)
    """
    split = validate.choice(split, "split", SPLITS)
    n_train = validate.positive_int(n_train, "n_train")
    n_val = validate.integer(n_val, "n_val", low=0)
    n_test = validate.positive_int(n_test, "n_test")
    seed = validate.integer(seed, "seed", low=0)
    channel = validate.flag(channel, "channel")
    x, y = _pool(n_train + n_val + n_test, seed)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val),
              "test": (n_train + n_val, n_train + n_val + n_test)}
    lo, hi = bounds[split]
    xs = torch.from_numpy(x[lo:hi].copy())
    if channel:
        xs = xs[:, None, :]
    return xs, torch.from_numpy(y[lo:hi].copy())


def mnist1d_loaders(batch_size: int = 64, *, n_train: int = MNIST1D_DEFAULT_SIZES["train"],
                    n_val: int = MNIST1D_DEFAULT_SIZES["val"],
                    n_test: int = MNIST1D_DEFAULT_SIZES["test"], seed: int = MNIST1D_SEED,
                    channel: bool = False, shuffle_seed: int = 0) -> dict[str, DataLoader]:
    """DataLoaders for the splits (``val`` only when ``n_val > 0``); only ``train`` shuffles, seeded.

    Args:
        batch_size: >= 1.
        n_train: training samples, >= 1.
        n_val: validation samples, >= 0 (0: no ``val`` loader).
        n_test: test samples, >= 1.
        seed: the generator's seed, an int >= 0.
        channel: ``(N, 1, 40)`` inputs, for a ``Conv1d``.
        shuffle_seed: an int that seeds the training order.
    Returns:
        ``{split: DataLoader}``, new loaders.

    >>> loaders = mnist1d_loaders(16, n_train=100, n_test=20); sorted(loaders), loaders["train"].batch_size
    (['test', 'train'], 16)
    """
    batch_size = validate.positive_int(batch_size, "batch_size")
    sizes = dict(n_train=n_train, n_val=n_val, n_test=n_test, seed=seed, channel=channel)
    loaders = {}
    for split in SPLITS:
        if split == "val" and not n_val:
            continue
        x, y = mnist1d(split, **sizes)
        gen = torch.Generator().manual_seed(validate.integer(shuffle_seed, "shuffle_seed"))
        loaders[split] = DataLoader(TensorDataset(x, y), batch_size=batch_size,
                                    shuffle=(split == "train"), generator=gen)
    return loaders


def published_baselines() -> str:
    """The paper's test accuracies as one printable line, with its source.

    Printed beside a lecture's own numbers, never in their place.

    Returns:
        The line, a str.

    >>> published_baselines().startswith("published on MNIST-1D (Greydanus & Kobak")
    True
    """
    row = ", ".join(f"{k} {v:.0f} %" for k, v in PUBLISHED_BASELINES.items())
    return f"published on MNIST-1D ({PUBLISHED_SOURCE}): {row}"
