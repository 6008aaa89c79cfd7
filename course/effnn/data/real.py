"""Where each real dataset lives under ``EFFNN_DATA_DIR``, and the one error when it is not there.

Nothing is downloaded and torchvision is not needed: the readers parse the files with numpy
(:mod:`.real_mnist`, :mod:`.real_cifar`) and Pillow (:mod:`.real_matting`). Each dataset has one
documented folder under :func:`effnn.config.data_dir` (the first name below); torchvision's own
layout is read too, so a folder that torchvision once filled works as it is.

- ``mnist``: ``mnist/`` (or ``MNIST/raw/``), the four IDX files, plain or ``.gz``;
- ``fashion_mnist``: ``fashion_mnist/`` (or ``FashionMNIST/raw/``), the same four file names;
- ``cifar10``: ``cifar10/`` (or ``cifar10/cifar-10-batches-py/``, ``cifar-10-batches-py/``),
  ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``;
- ``matting``: ``matting/`` with ``images/`` and ``alpha/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import config
from .. import validate as V
from . import real_cifar, real_matting, real_mnist

SPLITS = ("train", "val", "test")
#: Share of the official training part kept for training; the rest (a seeded draw) is validation.
TRAIN_FRACTION = 0.9


@dataclass(frozen=True)
class RealDataset:
    """A dataset's name in messages, its folders (documented one first) and what goes in them.

    One entry of :data:`DATASETS` each, so every loader's missing-file error reads the same.

    Args:
        title: the name in messages ("MNIST").
        folders: candidate folders under the data folder, the documented one first.
        put: the sentence that says what goes in the folder.
        expected: ``expected(part) -> list of file names``.
        missing: ``missing(folder, part) -> list of the missing ones``.

    >>> DATASETS["mnist"].title, DATASETS["mnist"].folders
    ('MNIST', ('mnist', 'MNIST/raw'))
    """
    title: str
    folders: tuple[str, ...]
    put: str
    expected: Callable[[str], list]
    missing: Callable[[Path, str], list]


DATASETS = {
    "mnist": RealDataset("MNIST", ("mnist", "MNIST/raw"), "Put the four IDX files there",
                         real_mnist.expected_files, real_mnist.missing_files),
    "fashion_mnist": RealDataset("Fashion-MNIST", ("fashion_mnist", "FashionMNIST/raw"),
                                 "Put the four IDX files there",
                                 real_mnist.expected_files, real_mnist.missing_files),
    "cifar10": RealDataset("CIFAR-10", ("cifar10", "cifar10/cifar-10-batches-py", "cifar-10-batches-py"),
                           "Put the six batch files of cifar-10-batches-py there",
                           real_cifar.expected_files, real_cifar.missing_files),
    "matting": RealDataset("Human Matting", ("matting",),
                           "Put the photos in images/ and their mattes (same names) in alpha/",
                           lambda part: ["images/", "alpha/"],
                           lambda folder, part: real_matting.missing_parts(folder)),
}
#: The classification sets ``classification(name=...)`` reads.
REAL_CLASSIFICATION = ("mnist", "fashion_mnist", "cifar10")


def locate(name: str, part: str = "train", root=None) -> Path:
    """The folder of dataset ``name`` that holds the files of ``part`` (``"train"`` or ``"test"``).

    Args:
        name: one of :data:`DATASETS`.
        part: which official files must be there (ignored for ``matting``).
        root: the data folder; default :func:`effnn.config.data_dir` (``EFFNN_DATA_DIR``).
    Returns:
        The first candidate folder (a ``pathlib.Path``) that holds every expected file.
    Raises:
        FileNotFoundError that names the expected files, the folder they belong in and the README
        section, when no candidate folder holds them.

    >>> import tempfile
    >>> from effnn.data.real_mnist import write_idx
    >>> root = Path(tempfile.mkdtemp()); (root / "mnist").mkdir()
    >>> _ = write_idx(root / "mnist" / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))  # a two-image
    >>> _ = write_idx(root / "mnist" / "t10k-labels-idx1-ubyte", np.array([3, 7], np.uint8))  # MNIST test part
    >>> locate("mnist", "test", root=root).name
    'mnist'
    """
    spec = DATASETS[V.choice(name, "name", tuple(DATASETS))]
    part = V.choice(part, "part", ("train", "test"))
    if root is None:
        root = config.data_dir()
    elif not isinstance(root, (str, Path)):
        raise TypeError(f"root must be a path (str or pathlib.Path), got {type(root).__name__}")
    root = Path(root).expanduser()
    candidates = [root / sub for sub in spec.folders]
    for folder in candidates:
        if folder.is_dir() and not spec.missing(folder, part):
            return folder
    folder = next((c for c in candidates if c.is_dir()), candidates[0])
    state = (f"missing: {', '.join(spec.missing(folder, part))}" if folder.is_dir()
             else "the folder does not exist")
    also = (f" (torchvision's layout, {', '.join(str(c) for c in candidates[1:])}, is read too)"
            if len(candidates) > 1 else "")
    raise FileNotFoundError(
        f"{spec.title} not found: expected {', '.join(spec.expected(part))} in {folder} ({state}). "
        f"{spec.put}{also} (see README, \"Real data\"). Nothing is downloaded: EFFNN_DATA_DIR "
        f"sets the data folder (now {root}); EFFNN_DATA=embedded needs no files.")


def holdout(count: int, split: str, seed: int) -> np.ndarray:
    """Indices of ``train`` or ``val`` within the official training part: a seeded 90/10 draw.

    Args:
        count: the official training part's size, >= 1.
        split: ``"train"`` or ``"val"``.
        seed: an int >= 0; both splits of one seed are disjoint and cover ``range(count)``.
    Returns:
        A new int array of indices (``int(0.9 * count)`` for train, the rest for val).

    >>> len(holdout(10, "train", seed=0)), len(holdout(10, "val", seed=0))
    (9, 1)
    """
    count = V.positive_int(count, "count")
    split = V.choice(split, "split", ("train", "val"))
    seed = V.integer(seed, "seed", low=0)
    perm = np.random.default_rng(seed).permutation(count)
    cut = int(TRAIN_FRACTION * count)
    return perm[:cut] if split == "train" else perm[cut:]


def real_classification(name: str = "mnist", split: str = "train", *, root=None, flatten: bool = False,
                        seed: int = 0):
    """``(x float32 (N, C, H, W) in [0, 1], y int64 (N,))`` of MNIST, Fashion-MNIST or CIFAR-10.

    ``test`` is the official test part; ``train`` and ``val`` split the official training part
    90/10 by a permutation seeded by ``seed`` (MNIST: 54,000 / 6,000; CIFAR-10: 45,000 / 5,000).
    ``flatten`` returns ``(N, C*H*W)``. Nothing is downloaded (see :func:`locate`).

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        root: the data folder (``str`` or ``Path``); None for :func:`effnn.config.data_dir`.
        flatten: return ``x`` as ``(N, C*H*W)``.
        seed: an int >= 0 for the train/val draw.
    Returns:
        ``(x, y)``: new float32 and int64 tensors.

    >>> import tempfile
    >>> from effnn.data.real_mnist import write_idx
    >>> root = Path(tempfile.mkdtemp()); (root / "mnist").mkdir()
    >>> _ = write_idx(root / "mnist" / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))  # a two-image
    >>> _ = write_idx(root / "mnist" / "t10k-labels-idx1-ubyte", np.array([3, 7], np.uint8))  # MNIST test part
    >>> x, y = real_classification("mnist", "test", root=root); x.shape, x.dtype, y.tolist()
    (torch.Size([2, 1, 28, 28]), torch.float32, [3, 7])
    """
    name = V.choice(name, "name", REAL_CLASSIFICATION)
    split = V.choice(split, "split", SPLITS)
    flatten = V.flag(flatten, "flatten")
    seed = V.integer(seed, "seed", low=0)
    part = "test" if split == "test" else "train"
    folder = locate(name, part, root)
    if name == "cifar10":
        images, labels = real_cifar.read_cifar10(folder, part)
    else:
        images, labels = real_mnist.read_idx_pair(folder, part, title=DATASETS[name].title)
        images = images[:, None]  # one channel
    if split != "test":
        idx = holdout(len(labels), split, seed)
        images, labels = images[idx], labels[idx]
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255)  # one float copy
    if flatten:
        x = x.reshape(len(x), -1)
    return x, torch.from_numpy(np.ascontiguousarray(labels))


def real_segmentation(split: str = "train", n: int | None = None, size: int = 96, seed: int = 0, *,
                      root=None):
    """The Human Matting folder ``<root>/matting`` as portraits' tensors (see :mod:`.real_matting`).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        n: samples, >= 1; None for the whole split.
        size: the image side the photos are resized to, >= 8.
        seed: an int >= 0 for the split.
        root: the data folder; None for :func:`effnn.config.data_dir`.
    Returns:
        ``(images float32 (n, 3, size, size) in [0, 1], masks int64 (n, size, size) of 0/1)``.

    >>> import tempfile; from PIL import Image
    >>> root = Path(tempfile.mkdtemp()); m = root / "matting"; (m / "images").mkdir(parents=True); (m / "alpha").mkdir()
    >>> for i in range(10):
    ...     Image.new("RGB", (12, 12)).save(m / "images" / f"p{i}.jpg")
    ...     Image.new("L", (12, 12)).save(m / "alpha" / f"p{i}.png")
    >>> real_segmentation("val", size=8, root=root)[0].shape
    torch.Size([1, 3, 8, 8])
    """
    split = V.choice(split, "split", SPLITS)
    return real_matting.matting_folder(locate("matting", root=root), size=size, split=split, seed=seed, n=n)
