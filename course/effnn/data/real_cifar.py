"""CIFAR-10 from its python batches (``cifar-10-batches-py``), with numpy only (no torchvision).

Each batch (``data_batch_1`` ... ``data_batch_5``, ``test_batch``; Krizhevsky, "Learning Multiple
Layers of Features from Tiny Images", 2009) is a pickled dict: ``b"data"`` a ``uint8`` array
``(10000, 3072)`` (1024 red, 1024 green, 1024 blue values of a 32x32 image, rows first) and
``b"labels"`` a list of ints 0..9.

**Why unpickling is safe here.** A pickle can name any importable callable and run it. The batches
are read with an unpickler whose ``find_class`` resolves only the few names a pickled numpy array
needs (``ndarray``, ``dtype``, numpy's own array reconstructors, and ``_codecs.encode`` restricted to
latin-1, which Python 3 uses for bytes under protocol 2, and ``bytes()`` with no argument for an
empty one). Dicts, lists, ints and bytes need no name
at all. Anything else (``os.system``, ``builtins.eval``...) is refused before it is called.
"""
from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np

from .. import validate as V

PARTS = ("train", "test")
BATCH_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10

try:  # numpy >= 2 keeps these under numpy._core; older pickles name numpy.core
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.numeric import _frombuffer as _np_frombuffer
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct
    from numpy.core.numeric import _frombuffer as _np_frombuffer


class Refused(pickle.UnpicklingError):
    """The pickle names something a CIFAR-10 batch never holds.

    >>> import io; SafeUnpickler(io.BytesIO(pickle.dumps(Path("x")))).load()
    Traceback (most recent call last):
    ...
    effnn.data.real_cifar.Refused: refusing to load pathlib...: ...
    """


def _reconstruct(cls, shape, dtype):
    if cls is not np.ndarray:
        raise Refused(f"refusing to reconstruct {cls!r}: only numpy.ndarray is allowed")
    return _np_reconstruct(cls, shape, dtype)


def _latin1(text, encoding="utf-8", errors="strict"):
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise Refused(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1", errors)


def _empty_bytes(*args):
    if args:
        raise Refused("refusing bytes(...) with arguments")
    return b""


_ALLOWED = {
    ("__builtin__", "bytes"): _empty_bytes,  # protocol 2 writes b"" as bytes(): Python 2's name
    ("builtins", "bytes"): _empty_bytes,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _np_frombuffer,
    ("_codecs", "encode"): _latin1,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, numbers, bytes/str and numpy arrays.

    A pickle can run any code on load; a dataset file found on disk must not. Anything else raises
    :class:`Refused`.

    >>> import io; SafeUnpickler(io.BytesIO(pickle.dumps({"labels": [1, 2]}))).load()
    {'labels': [1, 2]}
    """

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise Refused(
                f"refusing to load {module}.{name}: a CIFAR-10 batch holds only a dict of bytes, "
                "lists and a numpy array") from None


def _field(batch: dict, key: str):
    for k in (key.encode(), key):  # the official files are Python 2 pickles: bytes keys
        if k in batch:
            return batch[k]
    raise KeyError(key)


def read_cifar_batch(path):
    """One CIFAR-10 python batch as arrays.

    Args:
        path: a batch file (``str`` or ``Path``).
    Returns:
        ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``.
    Raises:
        FileNotFoundError if it is missing; ``ValueError`` if it is truncated, not a pickle, pickles
        anything but plain data, or lacks ``data``/``labels`` of the right shape and range.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> with open(folder / "test_batch", "wb") as f:  # the layout of a real batch, two images
    ...     pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, f)
    >>> images, labels = read_cifar_batch(folder / "test_batch"); images.shape, labels.tolist()
    ((2, 3, 32, 32), [1, 2])
    """
    path = V.existing_path(path, "path", what="CIFAR-10 batch")
    try:
        with open(path, "rb") as f:
            batch = SafeUnpickler(f, encoding="bytes").load()
    except Refused as exc:
        raise ValueError(f"{path} is not a CIFAR-10 batch: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError, KeyError) as exc:
        raise ValueError(f"{path} is truncated or not a pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch: it holds a {type(batch).__name__}, not a dict")
    try:
        data, labels = _field(batch, "data"), _field(batch, "labels")
    except KeyError as exc:
        raise ValueError(f"{path} is not a CIFAR-10 batch: no {exc.args[0]!r} entry "
                         f"(keys: {sorted(map(repr, batch))})") from None
    n_values = int(np.prod(IMAGE_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != n_values:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path} has wrong dims: data must be uint8 of shape (N, {n_values}), got {got}")
    if len(data) == 0:
        raise ValueError(f"{path} holds no images")
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError):
        labels = np.asarray([], dtype=object)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(data):
        raise ValueError(f"{path} has wrong labels: expected {len(data)} integers, got "
                         f"{labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise ValueError(f"{path} has labels outside 0..9 (min {labels.min()}, max {labels.max()})")
    return data.reshape(len(data), *IMAGE_SHAPE).copy(), labels.astype(np.int64)


def expected_files(part: str) -> list[str]:
    """The batch files one part needs.

    Args:
        part: ``"train"`` or ``"test"``.
    Returns:
        A new list of file names.

    >>> expected_files("test"), len(expected_files("train"))
    (['test_batch'], 5)
    """
    return list(BATCH_FILES[V.choice(part, "part", PARTS)])


def missing_files(folder: Path, part: str) -> list[str]:
    """Which of the part's batch files ``folder`` lacks.

    Args:
        folder: a folder (``str`` or ``Path``); it need not exist.
        part: ``"train"`` or ``"test"``.
    Returns:
        The missing file names, a list (empty when all are there).

    >>> missing_files(Path("/no/such/folder"), "test")
    ['test_batch']
    """
    return [name for name in expected_files(part) if not (Path(folder) / name).is_file()]


def read_cifar10(folder, part: str = "train"):
    """One part of CIFAR-10: the five training batches concatenated in order, or the test batch.

    Args:
        folder: the folder with the batch files (``str`` or ``Path``); it must exist.
        part: ``"train"`` or ``"test"``.
    Returns:
        ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``, new arrays.
    Raises:
        FileNotFoundError: the folder or one of the part's batch files is missing.
        ValueError: a batch is malformed (see :func:`read_cifar_batch`).

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> with open(folder / "test_batch", "wb") as f:  # the layout of a real batch, two images
    ...     pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, f)
    >>> read_cifar10(folder, "test")[0].shape
    (2, 3, 32, 32)
    """
    folder = V.existing_path(folder, "folder", what="CIFAR-10 folder")
    part = V.choice(part, "part", PARTS)
    missing = missing_files(folder, part)
    if missing:
        raise FileNotFoundError(f"CIFAR-10 {part} files missing in {folder}: {', '.join(missing)}")
    batches = [read_cifar_batch(folder / name) for name in BATCH_FILES[part]]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
