"""MNIST and Fashion-MNIST straight from their IDX files, with numpy only (no torchvision).

The IDX format (LeCun et al., "Gradient-based learning applied to document recognition", 1998) is
a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
values in C order. Both datasets ship the same four files, plain or gzipped:
``train-images-idx3-ubyte`` (magic ``0x00000803``, shape ``(60000, 28, 28)``),
``train-labels-idx1-ubyte`` (``0x00000801``, ``(60000,)``) and the ``t10k-*`` pair (10,000 each).
A malformed file fails with a ``ValueError`` that names the file and what is wrong with it.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .. import validate as V

PARTS = ("train", "test")
#: The official files of each part: (images, labels).
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
# type byte of the magic number -> numpy dtype (IDX stores multi-byte values big-endian)
_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz`` (a broken gzip is a ``ValueError``).

    Args:
        path: a ``pathlib.Path`` to an existing file.
    Returns:
        The bytes.

    >>> import gzip, tempfile; path = Path(tempfile.mkdtemp()) / "x.gz"; _ = path.write_bytes(gzip.compress(b"abc"))
    >>> read_bytes(path)
    b'abc'
    """
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable gzip file (truncated or corrupt): {exc}") from None


def read_idx(path) -> np.ndarray:
    """Parse one IDX file (plain or ``.gz``) into a numpy array of the shape its header gives.

    Args:
        path: the file (``str`` or ``Path``).
    Returns:
        A new array in native byte order; ``uint8`` for the MNIST files.
    Raises:
        FileNotFoundError if it is missing; ``ValueError`` for a bad magic number, a truncated
        file or bytes left over after the data.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = write_idx(folder / "labels", np.array([3, 7], np.uint8)); read_idx(folder / "labels")
    array([3, 7], dtype=uint8)
    """
    path = V.existing_path(path, "path", what="IDX file")
    raw = read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path} is truncated: {len(raw)} bytes, not even the 4-byte IDX magic number")
    magic = int.from_bytes(raw[:4], "big")
    ndim = raw[3]
    if raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES or ndim == 0:
        raise ValueError(f"{path} has a bad magic number 0x{magic:08x}: an IDX file starts with "
                         "00 00 <type> <ndim> (MNIST images 0x00000803, labels 0x00000801)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: the header needs {header} bytes for {ndim} "
                         f"dimensions, the file has {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_TYPES[raw[2]]
    want = math.prod(dims) * dtype.itemsize
    have = len(raw) - header
    if have < want:
        raise ValueError(f"{path} is truncated: its header gives shape {dims} ({want} bytes of data), "
                         f"the file holds {have}")
    if have > want:
        raise ValueError(f"{path} has {have - want} bytes after the {want} its header ({dims}) "
                         "describes: not a valid IDX file")
    return np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=header) \
        .astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def write_idx(path, array: np.ndarray) -> Path:
    """Write ``array`` as one plain IDX file (the inverse of :func:`read_idx`), e.g. a small subset
    to try the real-data path on.

    Args:
        path: the file to write (``str`` or ``Path``); its folder must exist.
        array: a non-empty numpy array of one of the IDX types (uint8, int8, int16, int32, float32,
            float64), of at most 255 dimensions.
    Returns:
        ``path`` as a ``pathlib.Path``.

    >>> import tempfile
    >>> path = write_idx(Path(tempfile.mkdtemp()) / "t10k-labels-idx1-ubyte", np.array([3, 7], np.uint8))
    >>> path.read_bytes()[:4].hex(), read_idx(path).tolist()
    ('00000801', [3, 7])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array must be a numpy array, got {type(array).__name__}")
    codes = {np.dtype(dt.newbyteorder("=")): code for code, dt in _IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"array has dtype {array.dtype}; IDX holds only {sorted(str(d) for d in codes)}")
    if array.ndim == 0 or array.ndim > 255 or array.size == 0:
        raise ValueError(f"array must have 1 to 255 dimensions and at least one value, got shape {array.shape}")
    path = Path(path)
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=_IDX_TYPES[code]).tobytes())
    return path


def idx_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, else ``folder/name.gz``, else None (the plain file wins: no unzipping).

    Args:
        folder: a ``pathlib.Path``.
        name: the file name without ``.gz``.
    Returns:
        A ``pathlib.Path`` to an existing file, or None.

    >>> import tempfile; folder = Path(tempfile.mkdtemp()); _ = (folder / "a.gz").write_bytes(b"")
    >>> idx_file(folder, "a").name, idx_file(folder, "b")
    ('a.gz', None)
    """
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def expected_files(part: str) -> list[str]:
    """The file names one part needs, as the error messages spell them.

    Args:
        part: ``"train"`` or ``"test"``.
    Returns:
        A new list of the two names, each with ``[.gz]``.

    >>> expected_files("test")
    ['t10k-images-idx3-ubyte[.gz]', 't10k-labels-idx1-ubyte[.gz]']
    """
    return [f"{name}[.gz]" for name in IDX_FILES[V.choice(part, "part", PARTS)]]


def missing_files(folder: Path, part: str) -> list[str]:
    """Which of the part's files ``folder`` lacks (all of them when it is not a folder).

    Args:
        folder: a folder (``str`` or ``Path``); it need not exist.
        part: ``"train"`` or ``"test"``.
    Returns:
        The missing names (with ``[.gz]``), a list (empty when both are there).

    >>> missing_files(Path("/no/such/folder"), "test") == expected_files("test")
    True
    """
    return [f"{name}[.gz]" for name in IDX_FILES[V.choice(part, "part", PARTS)]
            if not Path(folder).is_dir() or idx_file(Path(folder), name) is None]


def read_idx_pair(folder, part: str = "train", *, title: str = "MNIST"):
    """One part of MNIST or Fashion-MNIST as arrays.

    Args:
        folder: the folder holding the IDX files.
        part: ``"train"`` (60,000 official training images) or ``"test"`` (10,000).
        title: the dataset's name in error messages.
    Returns:
        ``(images uint8 (N, 28, 28), labels int64 (N,))``.
    Raises:
        FileNotFoundError naming the missing files; ``ValueError`` for a malformed file, wrong
        dimensions, different image and label counts or a label outside 0..9.

    >>> import struct, tempfile
    >>> def write_idx(path, a):  # the IDX layout: 00 00 08 <ndim>, big-endian sizes, then the bytes
    ...     path.write_bytes(bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes())
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    >>> write_idx(folder / "t10k-labels-idx1-ubyte", np.array([3, 7], np.uint8))
    >>> images, labels = read_idx_pair(folder, "test"); images.shape, labels.tolist()
    ((2, 28, 28), [3, 7])
    """
    folder = V.existing_path(folder, "folder", what=f"{title} folder")
    part = V.choice(part, "part", PARTS)
    missing = missing_files(folder, part)
    if missing:
        raise FileNotFoundError(f"{title} {part} files missing in {folder}: {', '.join(missing)}")
    image_path, label_path = (idx_file(folder, name) for name in IDX_FILES[part])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"{image_path} has wrong dims: {title} images are unsigned bytes of shape "
                         f"(N, 28, 28) (magic 0x00000803), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{label_path} has wrong dims: {title} labels are unsigned bytes of shape "
                         f"(N,) (magic 0x00000801), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{image_path.name} holds {len(images)} images but {label_path.name} holds "
                         f"{len(labels)} labels: the two files do not belong together")
    if len(labels) == 0:
        raise ValueError(f"{image_path} holds no images")
    if labels.max() >= NUM_CLASSES:
        raise ValueError(f"{label_path} has label {int(labels.max())}; {title} labels are 0..9")
    return images, labels.astype(np.int64)
