"""Datasets of the course: embedded (offline) by default, real ones behind ``EFFNN_DATA=real``.

- :func:`digits` / :func:`digits_loaders`: scikit-learn's bundled 8x8 digits, fixed seeded split.
- :class:`Portraits` / :func:`portrait_split`: procedural person-silhouette segmentation.
- :func:`classification` / :func:`segmentation`: pick embedded or real data by the one setting.
- Real data, read from files under ``EFFNN_DATA_DIR`` without torchvision and never downloaded:
  :func:`read_idx` (MNIST / Fashion-MNIST), :func:`read_cifar_batch` (CIFAR-10),
  :func:`matting_folder` (Human Matting), :func:`real_classification`, :func:`locate`.
- :mod:`effnn.data.mnist1d` (a submodule, imported on use): MNIST-1D generated locally by the
  ``mnist1d`` package, harder than digits and of any size, with the paper's published baselines.
"""
from .digits import DIGITS_SPLIT_SIZES, digits, digits_loaders
from .portraits import Portraits, portrait_split, render_portrait
from .real import DATASETS, REAL_CLASSIFICATION, locate, real_classification, real_segmentation
from .real_cifar import read_cifar10, read_cifar_batch
from .real_matting import matting_folder, matting_pairs, read_matting_pair
from .real_mnist import read_idx, read_idx_pair
from .select import classification, segmentation

__all__ = [
    "DIGITS_SPLIT_SIZES", "digits", "digits_loaders",
    "Portraits", "portrait_split", "render_portrait",
    "classification", "segmentation",
    "DATASETS", "REAL_CLASSIFICATION", "locate", "real_classification", "real_segmentation",
    "read_idx", "read_idx_pair", "read_cifar_batch", "read_cifar10",
    "matting_folder", "matting_pairs", "read_matting_pair",
]
