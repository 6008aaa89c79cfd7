"""Procedural portrait segmentation: a person-like silhouette over a varied background.

It stands in for the Human Matting dataset, offline. Each sample is drawn from its own seeded
generator, ``default_rng([seed, index])``, so any sample can be rebuilt alone, in any order, at any
size. Shapes are rasterised at twice the target size and averaged 2x2, which gives a soft alpha;
the binary target is ``alpha >= 0.5``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import validate as V

SKIN = np.array([[255, 224, 196], [241, 194, 125], [224, 172, 105], [198, 134, 66],
                 [141, 85, 36], [94, 58, 36], [255, 205, 148]], dtype=np.float32) / 255
HAIR = np.array([[20, 17, 15], [60, 40, 30], [110, 75, 40], [170, 130, 80], [220, 200, 150],
                 [120, 40, 20], [80, 80, 80]], dtype=np.float32) / 255
SPLIT_OFFSETS = {"train": 1, "val": 2, "test": 3}
DEFAULT_COUNTS = {"train": 2000, "val": 200, "test": 200}


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    """scikit-learn's bundled sample photos (china.jpg, flower.jpg) as float arrays in [0, 1]."""
    from sklearn.datasets import load_sample_images

    return tuple(img.astype(np.float32) / 255 for img in load_sample_images().images)


def _resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    rows = np.linspace(0, h - 1, size).round().astype(int)
    cols = np.linspace(0, w - 1, size).round().astype(int)
    return img[rows][:, cols]


def _background(rng: np.random.Generator, s: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    kind = rng.random()
    if kind < 0.55:  # a crop of a real photo
        photo = _photos()[rng.integers(len(_photos()))]
        h, w = photo.shape[:2]
        side = int(rng.uniform(0.25, 1.0) * min(h, w))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        bg = _resize_nearest(photo[top:top + side, left:left + side], s)
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
    elif kind < 0.85:  # a gradient with soft blotches
        c0, c1 = rng.random(3), rng.random(3)
        ang = rng.uniform(0, 2 * np.pi)
        t = np.clip(0.5 + (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)), 0, 1)[..., None]
        bg = c0 * (1 - t) + c1 * t
        for _ in range(rng.integers(1, 5)):
            cy, cx, r = rng.random(), rng.random(), rng.uniform(0.05, 0.3)
            g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
            bg = bg * (1 - 0.6 * g) + 0.6 * g * rng.random(3)
    else:  # flat
        bg = np.broadcast_to(rng.random(3), (s, s, 3))
    bg = np.array(bg, dtype=np.float32)
    for _ in range(rng.integers(0, 4)):  # distractor ellipses, not part of the target
        cy, cx = rng.random(), rng.random()
        ry, rx = rng.uniform(0.03, 0.15), rng.uniform(0.03, 0.15)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        bg[inside] = rng.random(3)
    return bg


def _person(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray):
    """Boolean masks of the person's parts at the working resolution."""
    s = rng.uniform(0.8, 1.2)
    cx = rng.uniform(0.35, 0.65)
    hy = rng.uniform(0.2, 0.36)
    hrx, hry = 0.11 * s, 0.14 * s
    rot = rng.uniform(-0.3, 0.3)
    dx, dy = xx - cx, yy - hy
    u = np.cos(rot) * dx + np.sin(rot) * dy
    v = -np.sin(rot) * dx + np.cos(rot) * dy
    head = (u / hrx) ** 2 + (v / hry) ** 2 <= 1

    y_sh = hy + hry + rng.uniform(0.03, 0.08) * s
    tilt = rng.uniform(-0.15, 0.15)
    bx = xx - cx - tilt * (yy - y_sh)  # body x, leaning
    neck = (np.abs(bx) <= 0.045 * s) & (yy >= hy) & (yy <= y_sh + 0.02)
    w_top = rng.uniform(0.19, 0.28) * s
    w_bot = w_top + rng.uniform(0.0, 0.1)
    r_sh = rng.uniform(0.04, 0.09) * s
    half = w_top + (w_bot - w_top) * np.clip((yy - y_sh) / max(1 - y_sh, 1e-3), 0, 1)
    trunk = (yy >= y_sh + r_sh) & (np.abs(bx) <= half)
    top_band = (yy >= y_sh) & (yy < y_sh + r_sh) & (np.abs(bx) <= w_top - r_sh)
    shoulders = ((np.abs(bx) - (w_top - r_sh)) ** 2 + (yy - y_sh - r_sh) ** 2 <= r_sh ** 2)
    torso = trunk | top_band | (shoulders & (yy >= y_sh))

    style = rng.random()
    if style < 0.45:  # short hair: a cap over the top of the head
        hair = (((u / (hrx * 1.12)) ** 2 + ((v + 0.02 * s) / (hry * 1.1)) ** 2 <= 1)
                & (v < rng.uniform(-0.3, 0.1) * hry))
    elif style < 0.8:  # long hair: falls behind the head down to the shoulders
        hair = ((((u / (hrx * 1.3)) ** 2 + ((v + 0.01) / (hry * 1.15)) ** 2 <= 1) & (v < 0))
                | ((np.abs(u) <= hrx * 1.25) & (v >= 0) & (yy <= y_sh + rng.uniform(0.0, 0.12))))
    else:  # bald or hair the same colour as skin
        hair = np.zeros_like(head)
    return head, neck, torso, hair


def render_portrait(rng: np.random.Generator, size: int = 96):
    """Draw one sample: image ``(size, size, 3)`` float32 in [0, 1] and alpha ``(size, size)``.

    Args:
        rng: a ``numpy.random.Generator`` (it is advanced).
        size: the image side, >= 1 (drawn at twice that and averaged 2x2).
    Returns:
        ``(image, alpha)``: new float32 numpy arrays.

    >>> image, alpha = render_portrait(np.random.default_rng(0), size=16); image.shape, image.dtype, alpha.shape
    ((16, 16, 3), dtype('float32'), (16, 16))
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    size = V.positive_int(size, "size")
    s = 2 * size
    grid = (np.arange(s, dtype=np.float32) + 0.5) / s
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    bg = _background(rng, s, yy, xx)
    head, neck, torso, hair = _person(rng, yy, xx)

    skin = SKIN[rng.integers(len(SKIN))] * rng.uniform(0.85, 1.1)
    cloth_a, cloth_b = rng.random(3), rng.random(3)
    if rng.random() < 0.2:  # camouflage: clothes (or skin) close to the background
        mean_bg = bg.reshape(-1, 3).mean(0)
        cloth_a = np.clip(mean_bg + rng.normal(0, 0.05, 3), 0, 1)
        if rng.random() < 0.5:
            skin = np.clip(mean_bg + rng.normal(0, 0.08, 3), 0, 1)
    img = bg.copy()
    if rng.random() < 0.4:  # stripes
        period = rng.uniform(0.03, 0.1)
        stripe = (np.sin(2 * np.pi * yy / period) > 0)[..., None]
        cloth = np.where(stripe, cloth_a, cloth_b)
        img = np.where(torso[..., None], cloth, img)
    else:
        img[torso] = cloth_a
    img[neck & ~torso] = skin
    img[head] = skin
    img[hair] = HAIR[rng.integers(len(HAIR))]
    person = head | neck | torso | hair

    shade = 1 + 0.15 * (xx - 0.5) * rng.choice([-1, 1])  # a little side lighting on the person
    img = np.where(person[..., None], img * shade[..., None], img)
    img = img + rng.normal(0, rng.uniform(0.0, 0.04), img.shape)
    img = np.clip(img, 0, 1).astype(np.float32)

    pool = lambda a: a.reshape(size, 2, size, 2, *a.shape[2:]).mean(axis=(1, 3))  # noqa: E731
    return pool(img), pool(person.astype(np.float32))


class Portraits(Dataset):
    """``n`` portraits of ``size x size`` pixels, deterministic from ``seed``.

    Items are ``(image, mask)``: a float tensor ``(3, size, size)`` in [0, 1] and a long tensor
    ``(size, size)`` with 1 = person. :meth:`tensors` renders all of them at once (cached).

    Args:
        n: samples, >= 1.
        size: the image side, even and >= 8.
        seed: an int >= 0; sample ``i`` is drawn from ``default_rng([seed, i])``.

    >>> ds = Portraits(2, size=16); image, mask = ds[0]; len(ds), image.shape, mask.shape
    (2, torch.Size([3, 16, 16]), torch.Size([16, 16]))
    """

    def __init__(self, n: int, size: int = 96, seed: int = 0):
        self.n = V.positive_int(n, "n")
        self.size = V.integer(size, "size", low=8)
        if self.size % 2:
            raise ValueError(f"size must be an even number >= 8, got {size}")
        self.seed = V.integer(seed, "seed", low=0)
        self._cache = None

    def __len__(self) -> int:
        return self.n

    def render(self, index: int):
        """Image ``(H, W, 3)`` and soft alpha ``(H, W)`` as numpy arrays."""
        index = self._index(index)
        return render_portrait(np.random.default_rng([self.seed, index]), self.size)

    def _index(self, index) -> int:
        index = V.integer(index, "index")
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} portraits")
        return index

    def __getitem__(self, index: int):
        index = self._index(index)
        if self._cache is not None:
            return self._cache[0][index], self._cache[1][index]
        img, alpha = self.render(index)
        return torch.from_numpy(img).permute(2, 0, 1).contiguous(), torch.from_numpy(alpha >= 0.5).long()

    def tensors(self, progress: bool = False):
        """All images ``(n, 3, H, W)`` and masks ``(n, H, W)``, rendered once and kept."""
        progress = V.flag(progress, "progress")
        if self._cache is None:
            from ..train import progress_bar

            items = [self[i] for i in progress_bar(range(self.n), desc="rendering portraits",
                                                   disable=not progress)]
            self._cache = (torch.stack([a for a, _ in items]), torch.stack([b for _, b in items]))
        return self._cache


def portrait_split(split: str = "train", n: int | None = None, size: int = 96, seed: int = 0) -> Portraits:
    """The train/val/test portraits: each split has its own seed derived from ``seed``.

    The default counts are :data:`DEFAULT_COUNTS`.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        n: samples, >= 1; None for the split's default count.
        size: the image side, even and >= 8.
        seed: an int >= 0.
    Returns:
        A new :class:`Portraits` (nothing rendered yet).

    >>> len(portrait_split("val", n=3, size=16))
    3
    """
    split = V.choice(split, "split", tuple(SPLIT_OFFSETS))
    n = DEFAULT_COUNTS[split] if n is None else V.positive_int(n, "n")
    seed = V.integer(seed, "seed", low=0)
    return Portraits(n, size=size, seed=1000 * seed + SPLIT_OFFSETS[split])
