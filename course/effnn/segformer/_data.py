"""Portrait-segmentation data for A1: rendered once, cached as 8-bit, served as floats."""
from __future__ import annotations

import torch

from .. import config
from .. import validate as V


def portrait_tensors(split: str = "train", n: int | None = None, size: int = 96, seed: int = 0):
    """``(images uint8 (n,3,H,W), masks uint8 (n,H,W))`` of portraits, cached on disk.

    Rendering costs ~10-25 ms a sample, so thousands of training images are rendered once and kept
    under ``config.cache_dir()``. Images are stored as 8-bit like real photos; :func:`as_float`
    turns a batch into the [0, 1] floats the model takes. ``EFFNN_DATA=real`` reads the Human
    Matting folder instead (alpha > 0.5 is foreground). ``n=None`` means the split's default
    size; any other ``n`` must be a positive int.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        n: samples, >= 1; None for the split's default size.
        size: the image side in pixels, >= 32.
        seed: an int >= 0; sample ``i`` depends only on ``(seed, i)``.
    Returns:
        ``(images, masks)``: new uint8 tensors ``(n, 3, size, size)`` and ``(n, size, size)`` (0/1).

    >>> import os, tempfile
    >>> from unittest import mock
    >>> tmp = tempfile.TemporaryDirectory()  # a throwaway cache
    >>> with mock.patch.dict(os.environ, {"EFFNN_CACHE": tmp.name, "EFFNN_DATA": "embedded"}):
    ...     x, y = portrait_tensors("val", n=2, size=32)
    ...     cached = sorted(p.name for p in (config.cache_dir() / "portraits").iterdir())
    >>> x.dtype, tuple(x.shape), y.dtype, tuple(y.shape), cached
    (torch.uint8, (2, 3, 32, 32), torch.uint8, (2, 32, 32), ['val_n2_s32_seed0.pt'])
    >>> tmp.cleanup()
    """
    from ..data import segmentation

    split = V.choice(split, "split", ("train", "val", "test"))
    n = None if n is None else V.positive_int(n, "n")
    size = V.integer(size, "size", low=32)
    seed = V.integer(seed, "seed", low=0)

    if config.data_source() == "real":
        x, y = segmentation(split, n=n, size=size, seed=seed)
        return (x * 255).round().to(torch.uint8), y.to(torch.uint8)
    from ..data import portrait_split

    ds = portrait_split(split, n=n, size=size, seed=seed)
    folder = config.cache_dir() / "portraits"
    path = folder / f"{split}_n{ds.n}_s{size}_seed{seed}.pt"
    # sample i depends only on (seed, i), so a larger cached set serves any smaller request
    for cached in sorted(folder.glob(f"{split}_n*_s{size}_seed{seed}.pt")) if folder.is_dir() else []:
        try:
            if int(cached.name.split("_n")[1].split("_")[0]) >= ds.n:
                x, y = torch.load(cached)
                return x[:ds.n].clone(), y[:ds.n].clone()
        except Exception:  # a half-written or foreign file: ignore it
            continue
    x, y = ds.tensors(progress=not config.quiet())
    x = (x * 255).round().to(torch.uint8)
    y = y.to(torch.uint8)
    config.keep_file(path, lambda tmp: torch.save((x, y), tmp))  # read-only (the grader's): renders again
    return x, y


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]; float images pass through.

    Args:
        images: a tensor; uint8 is scaled by 1/255, any other dtype is only cast.
    Returns:
        A float32 tensor (a new one, except for float32 input, which is returned as is).

    >>> as_float(torch.tensor([[[[0, 255]]]], dtype=torch.uint8))
    tensor([[[[0., 1.]]]])
    """
    V.tensor(images, "images")
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


def portraits(split: str = "val", n: int | None = None, size: int = 96, seed: int = 0):
    """``(images float (n,3,H,W) in [0,1], masks long (n,H,W))`` ready for a model.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        n: samples, >= 1; None for the split's default size.
        size: the image side in pixels, >= 32.
        seed: an int >= 0.
    Returns:
        ``(images, masks)``: float32 ``(n, 3, size, size)`` in [0, 1] and int64 ``(n, size, size)``.

    >>> import os, tempfile
    >>> from unittest import mock
    >>> tmp = tempfile.TemporaryDirectory()  # a throwaway cache
    >>> with mock.patch.dict(os.environ, {"EFFNN_CACHE": tmp.name, "EFFNN_DATA": "embedded"}):
    ...     x, y = portraits("val", n=2, size=32)
    >>> tmp.cleanup()
    >>> x.dtype, float(x.min()) >= 0, float(x.max()) <= 1, y.dtype, sorted(y.unique().tolist())
    (torch.float32, True, True, torch.int64, [0, 1])
    """
    x, y = portrait_tensors(split, n=n, size=size, seed=seed)
    return as_float(x), y.long()
