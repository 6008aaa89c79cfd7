"""One setting, ``EFFNN_DATA``, picks embedded or real data for every experiment.

Real data is never downloaded: it must already sit under ``EFFNN_DATA_DIR`` (see :mod:`.real` for
the folders). It is read by the course's own readers, so torchvision is not needed. When files are
missing or malformed, the error says which file, where it belongs, and what is wrong with it.
"""
from __future__ import annotations

from .. import config
from .. import validate as V
from .digits import SPLITS, digits
from .portraits import portrait_split
from .real import REAL_CLASSIFICATION, real_classification, real_segmentation
from .real_matting import matting_folder  # noqa: F401  (kept importable from here)

CLASSIFICATION_NAMES = ("digits",) + REAL_CLASSIFICATION


def classification(split: str = "train", name: str | None = None, *, flatten: bool = False, seed: int = 0):
    """``(x, y)`` tensors of a classification set: x float32 ``(N, C, H, W)`` in [0, 1], y int64.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        name: ``"digits"``, ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``; None picks by
            ``EFFNN_DATA``: digits when embedded, MNIST when real.
        flatten: return ``x`` as ``(N, C*H*W)``.
        seed: the split's seed (digits: 1197/300/300; real sets: a 90/10 train/val draw).
    Returns:
        ``(x, y)``: new float32 and int64 tensors.

    >>> x, y = classification("val", "digits")
    >>> tuple(x.shape), y.dtype
    ((300, 1, 8, 8), torch.int64)
    """
    split = V.choice(split, "split", SPLITS)
    flatten = V.flag(flatten, "flatten")
    seed = V.integer(seed, "seed", low=0)
    if name is None:
        name = "digits" if config.data_source() == "embedded" else "mnist"
    name = V.choice(name, "name", CLASSIFICATION_NAMES)
    if name == "digits":
        return digits(split, flatten=flatten, seed=seed)
    return real_classification(name, split, flatten=flatten, seed=seed)


def segmentation(split: str = "train", n: int | None = None, size: int = 96, seed: int = 0):
    """``(images float32 (n, 3, size, size) in [0, 1], masks int64 (n, size, size) of 0/1)``.

    Procedural portraits when ``EFFNN_DATA`` is embedded; the Human Matting folder
    ``EFFNN_DATA_DIR/matting`` when it is real.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        n: samples, >= 1; None for the default count (embedded) or the whole split (real).
        size: the image side, >= 8 (even for the embedded portraits).
        seed: an int >= 0.
    Returns:
        ``(images, masks)`` tensors.

    >>> import os; from unittest import mock
    >>> with mock.patch.dict(os.environ, {"EFFNN_DATA": "embedded"}):
    ...     images, masks = segmentation("val", n=2, size=16)
    >>> images.shape, masks.shape, masks.dtype
    (torch.Size([2, 3, 16, 16]), torch.Size([2, 16, 16]), torch.int64)
    """
    split = V.choice(split, "split", SPLITS)
    n = None if n is None else V.positive_int(n, "n")
    size = V.integer(size, "size", low=8)
    seed = V.integer(seed, "seed", low=0)
    if config.data_source() == "embedded":
        return portrait_split(split, n=n, size=size, seed=seed).tensors()
    return real_segmentation(split, n=n, size=size, seed=seed)
