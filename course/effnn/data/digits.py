"""scikit-learn's 8x8 handwritten digits with a fixed, seeded train/val/test split.

It is real data that ships with scikit-learn, so every experiment runs offline. It stands in for
MNIST in the LeNet experiments of the course.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import validate as V

SPLITS = ("train", "val", "test")
#: 1,797 images in all: 1,197 train, 300 validation, 300 test.
DIGITS_SPLIT_SIZES = {"train": 1197, "val": 300, "test": 300}


@lru_cache(maxsize=8)
def _split_indices(seed: int) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    n = len(load_digits().target)
    perm = np.random.default_rng(seed).permutation(n)
    a = DIGITS_SPLIT_SIZES["train"]
    b = a + DIGITS_SPLIT_SIZES["val"]
    return {"train": perm[:a], "val": perm[a:b], "test": perm[b:]}


@lru_cache(maxsize=1)
def _arrays():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8) in [0, 1]
    return x, d.target.astype(np.int64)


def digits(split: str = "train", *, flatten: bool = False, seed: int = 0):
    """Return ``(x, y)`` tensors of one split.

    ``x`` has shape ``(N, 1, 8, 8)`` with values in [0, 1] (``(N, 64)`` when ``flatten``); ``y`` holds
    class ids 0..9. The split depends only on ``seed``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        flatten: return ``x`` as ``(N, 64)``.
        seed: an int >= 0 that fixes the split.
    Returns:
        ``(x, y)``: new float32 and int64 tensors.

    >>> x, y = digits("test")
    >>> tuple(x.shape), tuple(y.shape)
    ((300, 1, 8, 8), (300,))
    """
    split = V.choice(split, "split", SPLITS)
    flatten = V.flag(flatten, "flatten")
    seed = V.integer(seed, "seed", low=0)
    x, y = _arrays()
    idx = _split_indices(seed)[split]
    xs = torch.from_numpy(x[idx].copy())
    if flatten:
        xs = xs.reshape(len(idx), -1)
    return xs, torch.from_numpy(y[idx].copy())


def digits_loaders(batch_size: int = 64, *, flatten: bool = False, seed: int = 0,
                   shuffle_seed: int = 0) -> dict[str, DataLoader]:
    """DataLoaders for the three splits; only ``train`` shuffles, with a generator seeded by ``shuffle_seed``.

    Args:
        batch_size: >= 1.
        flatten: ``(N, 64)`` inputs instead of ``(N, 1, 8, 8)``.
        seed: an int >= 0 that fixes the split.
        shuffle_seed: an int >= 0 that seeds the training order.
    Returns:
        ``{"train", "val", "test"}``: new DataLoaders.

    >>> loaders = digits_loaders(32); sorted(loaders), next(iter(loaders["test"]))[0].shape
    (['test', 'train', 'val'], torch.Size([32, 1, 8, 8]))
    """
    batch_size = V.positive_int(batch_size, "batch_size")
    flatten = V.flag(flatten, "flatten")
    seed = V.integer(seed, "seed", low=0)
    shuffle_seed = V.integer(shuffle_seed, "shuffle_seed", low=0)
    loaders = {}
    for split in SPLITS:
        x, y = digits(split, flatten=flatten, seed=seed)
        gen = torch.Generator().manual_seed(shuffle_seed)
        loaders[split] = DataLoader(TensorDataset(x, y), batch_size=batch_size,
                                    shuffle=(split == "train"), generator=gen)
    return loaders
