"""One setting, ``EFFNN_DATA``, picks embedded or real data for every experiment.

Real data is never downloaded: it must already sit under ``EFFNN_DATA_DIR``. When it (or
torchvision) is missing, the loader says exactly what to do instead of failing deep inside.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import config
from .digits import digits
from .portraits import portrait_split

REAL_CLASSIFICATION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def _torchvision():
    try:
        import torchvision  # noqa: F401
        from torchvision import datasets, transforms
    except Exception as exc:  # ImportError, or the CUDA-only wheel's RuntimeError
        raise RuntimeError(
            "Real classification data needs a working torchvision. On a CPU-only pip install the "
            "PyPI torchvision wheel is CUDA-linked and does not import; use the conda environment "
            "(environment.yml) or keep EFFNN_DATA=embedded. Import error: " f"{exc}") from exc
    return datasets, transforms


def classification(split: str = "train", name: str | None = None, *, flatten: bool = False, seed: int = 0):
    """``(x, y)`` tensors: digits when embedded, ``name`` (default MNIST) when ``EFFNN_DATA=real``."""
    source = config.data_source()
    if name is None:
        name = "digits" if source == "embedded" else "mnist"
    if name == "digits":
        return digits(split, flatten=flatten, seed=seed)
    if name not in REAL_CLASSIFICATION:
        raise ValueError(f"unknown dataset {name!r}; choose 'digits' or one of {tuple(REAL_CLASSIFICATION)}")
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    datasets, transforms = _torchvision()
    root = config.data_dir()
    cls = getattr(datasets, REAL_CLASSIFICATION[name])
    try:
        ds = cls(str(root), train=(split != "test"), download=False, transform=transforms.ToTensor())
    except RuntimeError as exc:
        raise FileNotFoundError(
            f"{name} is not under {root}. Download it once on a connected machine with torchvision "
            f"(download=True) into that folder, or set EFFNN_DATA_DIR. ({exc})") from exc
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    y = torch.as_tensor([ds[i][1] for i in range(len(ds))])
    if split != "test":  # hold out the last 10% of the official train set for validation
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        cut = int(0.9 * len(y))
        idx = perm[:cut] if split == "train" else perm[cut:]
        x, y = x[idx], y[idx]
    return (x.reshape(len(x), -1) if flatten else x), y


def _matting_pairs(root: Path):
    images = sorted(p for p in (root / "images").glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    pairs = []
    for img in images:
        alpha = next((root / "alpha" / (img.stem + ext) for ext in (".png", ".jpg")
                      if (root / "alpha" / (img.stem + ext)).exists()), None)
        if alpha is not None:
            pairs.append((img, alpha))
    return pairs


def matting_folder(root: str | Path, size: int = 96, split: str = "train", seed: int = 0):
    """A Human Matting folder (``images/``, ``alpha/`` with matching stems) as tensors.

    Foreground is ``alpha > 0.5``. 80/10/10 split by a seeded permutation.
    """
    from PIL import Image

    root = Path(root)
    pairs = _matting_pairs(root) if root.is_dir() else []
    if not pairs:
        raise FileNotFoundError(
            f"No Human Matting data under {root}: expected images/<name>.jpg with alpha/<name>.png. "
            "Copy the dataset there, set EFFNN_DATA_DIR, or keep EFFNN_DATA=embedded.")
    perm = np.random.default_rng(seed).permutation(len(pairs))
    a, b = int(0.8 * len(pairs)), int(0.9 * len(pairs))
    idx = {"train": perm[:a], "val": perm[a:b], "test": perm[b:]}[split]
    xs, ys = [], []
    for i in idx:
        img_path, alpha_path = pairs[i]
        img = Image.open(img_path).convert("RGB").resize((size, size), Image.BILINEAR)
        alpha = Image.open(alpha_path).convert("L").resize((size, size), Image.BILINEAR)
        xs.append(torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1))
        ys.append(torch.from_numpy(np.asarray(alpha, dtype=np.float32) / 255 > 0.5).long())
    return torch.stack(xs), torch.stack(ys)


def segmentation(split: str = "train", n: int | None = None, size: int = 96, seed: int = 0):
    """``(images, masks)``: procedural portraits when embedded, the Human Matting folder when real."""
    if config.data_source() == "embedded":
        return portrait_split(split, n=n, size=size, seed=seed).tensors()
    x, y = matting_folder(config.data_dir() / "matting", size=size, split=split, seed=seed)
    return (x[:n], y[:n]) if n else (x, y)
