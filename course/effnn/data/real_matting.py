"""A Human Matting folder: portrait photos and their alpha mattes, read as the portraits' tensors.

Layout (one folder, here called ``matting/``)::

    matting/images/<name>.jpg   (or .jpeg / .png; any size, RGB, grey or RGBA)
    matting/alpha/<name>.png    (or .jpg; the matte of the same size: a grey image 0..255, or an
                                 RGBA cut-out whose alpha channel is the matte)

Every image needs exactly one matte with the same ``<name>`` and the same size, and vice versa;
anything else is an error rather than a silently dropped sample. Images are resized (bilinear,
aspect ratio not kept) to ``size x size`` and scaled to [0, 1]; the matte is resized the same way
and a pixel is *person* where alpha > 0.5. The result has exactly the format of the embedded
portraits (:class:`effnn.data.Portraits`): images float32 ``(n, 3, size, size)`` in [0, 1], masks
int64 ``(n, size, size)`` of 0/1. Pillow reads the files (matplotlib, which the course needs,
depends on it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import validate as V

SPLITS = ("train", "val", "test")
#: Fractions of a seeded permutation of all pairs: the first 80 % train, then 10 % val, 10 % test.
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
ALPHA_SUFFIXES = (".png", ".jpg")
MIN_SIZE = 8


def _by_stem(folder: Path, suffixes) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in suffixes:
            if path.stem in files:
                raise ValueError(f"two files named {path.stem!r} in {folder}: {files[path.stem].name} "
                                 f"and {path.name}; keep one")
            files[path.stem] = path
    return files


def missing_parts(folder) -> list[str]:
    """Which of ``images/`` and ``alpha/`` (with at least one image) ``folder`` lacks.

    Args:
        folder: a folder (``str`` or ``Path``); it need not exist.
    Returns:
        The missing parts, a list of strings (empty when the folder is complete).

    >>> missing_parts(Path("/no/such/folder"))
    ['images/', 'alpha/']
    """
    folder = Path(folder)
    missing = [f"{sub}/" for sub in ("images", "alpha") if not (folder / sub).is_dir()]
    if not missing and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in (folder / "images").iterdir()):
        missing.append("images/<name>.jpg|.png (the folder is empty)")
    return missing


def matting_pairs(folder) -> list[tuple[Path, Path]]:
    """All ``(image, alpha)`` path pairs of a Human Matting folder, sorted by name.

    Args:
        folder: the folder holding ``images/`` and ``alpha/`` (``str`` or ``Path``); it must exist.
    Returns:
        A list of ``(image path, alpha path)`` tuples.
    Raises:
        FileNotFoundError: ``images/`` or ``alpha/`` is missing or empty.
        ValueError: an image has no matte, a matte has no image, or a name is used twice (the
            message names the files).

    >>> import tempfile; from PIL import Image
    >>> folder = Path(tempfile.mkdtemp()); (folder / "images").mkdir(); (folder / "alpha").mkdir()
    >>> for i in range(10):  # ten 12x12 photos, each with a matte that is all person
    ...     Image.new("RGB", (12, 12), (200, 100, 50)).save(folder / "images" / f"p{i}.jpg")
    ...     Image.new("L", (12, 12), 255).save(folder / "alpha" / f"p{i}.png")
    >>> pairs = matting_pairs(folder); len(pairs), pairs[0][0].name, pairs[0][1].name
    (10, 'p0.jpg', 'p0.png')
    """
    folder = V.existing_path(folder, "folder", what="Human Matting folder")
    missing = missing_parts(folder)
    if missing:
        raise FileNotFoundError(f"Human Matting folder {folder} lacks {', '.join(missing)}")
    images = _by_stem(folder / "images", IMAGE_SUFFIXES)
    alphas = _by_stem(folder / "alpha", ALPHA_SUFFIXES)
    for what, names, other in (("image", sorted(images.keys() - alphas.keys()), "alpha/<name>.png"),
                               ("matte", sorted(alphas.keys() - images.keys()), "images/<name>.jpg")):
        if names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise ValueError(f"{len(names)} {what}(s) in {folder} have no {other}: {shown}. Every "
                             "image needs a matte with the same name; add or remove them")
    return [(images[stem], alphas[stem]) for stem in sorted(images)]


def _open(path: Path, draft_size: int | None = None):
    """Open and decode an image; a JPEG is decoded at the smallest DCT scale still >= ``draft_size``."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        size = img.size
        if draft_size is not None and img.format == "JPEG":
            img.draft("RGB", (draft_size, draft_size))  # 2-8x faster for photos much larger than size
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None
    return img, size


def _alpha_array(img, path: Path) -> np.ndarray:
    """The matte in [0, 1]: the alpha band of an RGBA/LA image, else the grey value."""
    if "A" in img.getbands():
        band = img.getchannel("A")
    elif img.mode in ("L", "1", "P", "RGB"):
        band = img.convert("L")
    else:
        raise ValueError(f"{path}: unsupported matte mode {img.mode!r}; save it as an 8-bit grey or "
                         "RGBA PNG")
    return np.asarray(band, dtype=np.float32) / 255


def read_matting_pair(image, alpha, size: int = 96):
    """One photo and its matte as ``(image float32 (3, size, size) in [0, 1], mask int64 (size, size))``.

    Both are resized bilinearly (Pillow) to ``size x size``; the mask is ``alpha > 0.5``. The two
    files must have the same width and height. A JPEG photo is decoded directly at a reduced scale
    (Pillow's ``draft``, never below ``size``), which is much faster for large photos.

    Args:
        image: the photo's path; it must exist.
        alpha: the matte's path; it must exist.
        size: the output side, >= 8.
    Returns:
        ``(image, mask)``: new float32 and int64 tensors.

    >>> import tempfile; from PIL import Image
    >>> folder = Path(tempfile.mkdtemp()); (folder / "images").mkdir(); (folder / "alpha").mkdir()
    >>> for i in range(10):  # ten 12x12 photos, each with a matte that is all person
    ...     Image.new("RGB", (12, 12), (200, 100, 50)).save(folder / "images" / f"p{i}.jpg")
    ...     Image.new("L", (12, 12), 255).save(folder / "alpha" / f"p{i}.png")
    >>> image, mask = read_matting_pair(folder / "images" / "p0.jpg", folder / "alpha" / "p0.png", size=8)
    >>> image.shape, mask.shape, int(mask.sum())
    (torch.Size([3, 8, 8]), torch.Size([8, 8]), 64)
    """
    from PIL import Image

    image = V.existing_path(image, "image", what="image file")
    alpha = V.existing_path(alpha, "alpha", what="alpha matte")
    size = V.integer(size, "size", low=MIN_SIZE)
    (img, img_size), (matte, matte_size) = _open(image, draft_size=size), _open(alpha)
    if img_size != matte_size:
        raise ValueError(f"wrong dims: {image.name} is {img_size[0]}x{img_size[1]} but its matte "
                         f"{alpha.name} is {matte_size[0]}x{matte_size[1]}")
    rgb = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32) / 255
    a = Image.fromarray(_alpha_array(matte, alpha))  # float32: mode "F"
    a = a.resize((size, size), Image.BILINEAR)
    mask = np.asarray(a) > 0.5
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous(), torch.from_numpy(mask).long()


def split_indices(count: int, split: str, seed: int) -> np.ndarray:
    """Indices of ``split`` among ``count`` pairs: a seeded permutation cut 80/10/10.

    Args:
        count: the number of pairs, >= 1.
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: an int >= 0; the three splits of one seed are disjoint.
    Returns:
        A new int array of indices (possibly empty for a tiny ``count``).

    >>> [len(split_indices(10, s, seed=0)) for s in ("train", "val", "test")]
    [8, 1, 1]
    """
    count = V.positive_int(count, "count")
    split = V.choice(split, "split", SPLITS)
    seed = V.integer(seed, "seed", low=0)
    perm = np.random.default_rng(seed).permutation(count)
    a = int(SPLIT_FRACTIONS["train"] * count)
    b = int((SPLIT_FRACTIONS["train"] + SPLIT_FRACTIONS["val"]) * count)
    return {"train": perm[:a], "val": perm[a:b], "test": perm[b:]}[split]


def matting_folder(root, size: int = 96, split: str = "train", seed: int = 0, n: int | None = None):
    """A split of a Human Matting folder as ``(images float32 (n,3,size,size), masks int64 (n,size,size))``.

    Args:
        root: the folder holding ``images/`` and ``alpha/``.
        size: side of the square the pairs are resized to (>= 8).
        split: ``"train"``, ``"val"`` or ``"test"`` (80/10/10 of a permutation seeded by ``seed``;
            the three are disjoint for one seed).
        seed: an int >= 0.
        n: how many samples of the split to read (the first ``n``, so only they are decoded);
            None reads the whole split. Asking for more than the split holds is an error.
    Returns:
        ``(images, masks)``: new float32 and int64 tensors.

    >>> import tempfile; from PIL import Image
    >>> folder = Path(tempfile.mkdtemp()); (folder / "images").mkdir(); (folder / "alpha").mkdir()
    >>> for i in range(10):  # ten 12x12 photos, each with a matte that is all person
    ...     Image.new("RGB", (12, 12), (200, 100, 50)).save(folder / "images" / f"p{i}.jpg")
    ...     Image.new("L", (12, 12), 255).save(folder / "alpha" / f"p{i}.png")
    >>> images, masks = matting_folder(folder, size=8, split="train"); images.shape, masks.dtype
    (torch.Size([8, 3, 8, 8]), torch.int64)
    """
    root = V.existing_path(root, "root", what="Human Matting folder")
    size = V.integer(size, "size", low=MIN_SIZE)
    split = V.choice(split, "split", SPLITS)
    seed = V.integer(seed, "seed", low=0)
    n = None if n is None else V.positive_int(n, "n")
    pairs = matting_pairs(root)
    idx = split_indices(len(pairs), split, seed)
    if len(idx) == 0:
        raise ValueError(f"the {split} split of {root} is empty: {len(pairs)} pairs in all are cut "
                         "80/10/10; add more pairs")
    if n is not None:
        if n > len(idx):
            raise ValueError(f"n={n} but the {split} split of {root} holds {len(idx)} of its "
                             f"{len(pairs)} pairs")
        idx = idx[:n]
    items = [read_matting_pair(*pairs[i], size=size) for i in idx]
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])
