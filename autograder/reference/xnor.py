"""Reference answers of A2, sections 4-5 (instructors only; the grading jail cannot import this).

The exercise's bit layout: a ±1 row of length K is stored in W = ceil(K / 64) uint64 words, bit j of
word w holds element 64 w + j (1 for +1, sign(0) = +1), padding bits 0. For two such rows
``dot = n - 2 * popcount(a XOR b)``. ``pack_rows`` and ``xnor_matmul_fast`` in :mod:`effnn.xnor`
use another layout on purpose, so that they cannot stand in for these answers.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from effnn import validate as V
from effnn.xnor import _as_numpy  # the given kernel's input check, shared

WORD_BITS = 64


def n_words(n: int) -> int:
    """64-bit words needed to hold ``n`` bits."""
    return math.ceil(n / WORD_BITS)


def pack_signs(x) -> np.ndarray:
    """Pack ``sign(x)`` (sign(0) = +1) along the last axis into uint64 words, bit j = element j.

    ``x`` is (..., K); the result is (..., ceil(K / 64)) uint64, padding bits 0.
    """
    x = _as_numpy(x, "x")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TypeError(f"x must be numeric, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last axis, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
        raise ValueError("x contains NaN, which has no sign")
    k = x.shape[-1]
    bits = np.zeros(x.shape[:-1] + (n_words(k) * WORD_BITS,), dtype=bool)
    bits[..., :k] = x >= 0
    packed = np.packbits(bits, axis=-1, bitorder="little")  # (..., W * 8) bytes
    return np.ascontiguousarray(packed).view("<u8")


def unpack_signs(packed, n: int) -> np.ndarray:
    """Inverse of :func:`pack_signs`: (..., W) uint64 words -> (..., n) float32 array of ±1."""
    packed = _as_numpy(packed, "packed")
    if packed.dtype != np.uint64:
        raise TypeError(f"packed must be uint64 words, got dtype {packed.dtype}")
    n = V.positive_int(n, "n")
    if packed.ndim < 1 or packed.shape[-1] != n_words(n):
        raise ValueError(f"packed has {packed.shape[-1] if packed.ndim else 0} words per row; "
                         f"n={n} needs {n_words(n)}")
    as_bytes = np.ascontiguousarray(packed).view(np.uint8)
    bits = np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n]
    return np.where(bits == 1, np.float32(1), np.float32(-1))


def sign_matrix(x) -> np.ndarray:
    """``sign(x)`` as float32 ±1 (sign(0) = +1): the matrix the packed bits stand for."""
    x = _as_numpy(x, "x")
    if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
        raise ValueError("x contains NaN, which has no sign")
    return np.where(x >= 0, np.float32(1), np.float32(-1))


def _check_operands(a_bits, b_bits, n):
    a_bits = _as_numpy(a_bits, "a_bits")
    b_bits = _as_numpy(b_bits, "b_bits")
    for name, arr in (("a_bits", a_bits), ("b_bits", b_bits)):
        if arr.dtype != np.uint64 or arr.ndim != 2:
            raise TypeError(f"{name} must be a 2-D uint64 array from pack_signs, got {arr.dtype} {arr.shape}")
    n = V.positive_int(n, "n")  # the inner dimension K
    if a_bits.shape[1] != b_bits.shape[1]:
        raise ValueError(f"a_bits and b_bits differ in words per row: {a_bits.shape[1]} vs {b_bits.shape[1]}")
    if a_bits.shape[1] != n_words(n):
        raise ValueError(f"n={n} needs {n_words(n)} words per row, the operands have {a_bits.shape[1]}")
    return np.ascontiguousarray(a_bits), b_bits, int(n)


def xnor_matmul_numpy(a_bits, b_bits, n: int, block_rows: int = 64) -> np.ndarray:
    """``A @ B`` (int32, M x N) from ``a_bits`` = pack_signs(A) (M, W) and ``b_bits`` = pack_signs(B.T) (N, W)."""
    a_bits, b_bits, n = _check_operands(a_bits, b_bits, n)
    block_rows = V.positive_int(block_rows, "block_rows")
    out = np.empty((a_bits.shape[0], b_bits.shape[0]), dtype=np.int32)
    for i in range(0, a_bits.shape[0], block_rows):
        mismatches = np.bitwise_count(a_bits[i:i + block_rows, None, :] ^ b_bits[None, :, :]).sum(
            -1, dtype=np.int32)
        out[i:i + block_rows] = n - 2 * mismatches
    return out


def numpy_candidate(a: np.ndarray, b: np.ndarray) -> dict:
    """For :func:`effnn.xnor.time_gemms` (``extra=``): the numpy XNOR product of A @ B, B packed beforehand."""
    a_bits, b_bits = pack_signs(a), pack_signs(b.T)
    k = a.shape[1]
    return {"numpy": lambda: xnor_matmul_numpy(a_bits, b_bits, k)}
