"""Bit-packed ±1 matrices and the XNOR-popcount matrix product (XNOR-Net, Rastegari et al., 2016).

A ±1 vector of length n is stored as bits (1 for +1, 0 for -1) in 64-bit words. For two such
vectors, ``dot = n - 2 * popcount(a XOR b)``: XOR marks the mismatches (XNOR would mark the matches,
``dot = 2 * matches - n``; the two are the same identity). Padding bits are 0 in both operands, so
they never count as mismatches and sizes that are not a multiple of 64 need no special case.

Layout: ``A`` is (M, K) and ``B`` is (K, N); ``pack_signs(A)`` is (M, W) and ``pack_signs(B.T)`` is
(N, W) with W = ceil(K / 64): both operands are packed along K.

Two kernels compute ``A @ B`` from the bits, exactly:

- :func:`xnor_matmul_numpy`: numpy XOR + ``np.bitwise_count``, row blocks at a time. Readable and
  slow (several times slower than fp32 ``torch.matmul``).
- :func:`xnor_matmul_fast`: a numba kernel. ``llvm.ctpop.i64`` (reached through a numba intrinsic,
  because ``np.bitwise_count`` is not supported in jitted code) compiles to the hardware popcount;
  the innermost loop runs over contiguous columns of the transposed packed B, so LLVM vectorizes it
  (``vpopcntq`` on AVX-512 VPOPCNTDQ: 8 words, i.e. 512 binary MACs, per instruction). Rows of A
  run in parallel (``prange``) when the product is large enough to pay for waking the threads.
  Without numba it falls back to the numpy kernel.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

WORD_BITS = 64

try:  # numba is optional: the numpy kernel is the fallback
    import numba
    from numba import njit, prange, types
    from numba.extending import intrinsic

    HAVE_NUMBA = True
except Exception:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False


# ----------------------------------------------------------------------------- packing
def _as_numpy(x, name: str) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    return x


def n_words(n: int) -> int:
    """64-bit words needed to hold ``n`` bits."""
    return math.ceil(n / WORD_BITS)


def pack_signs(x) -> np.ndarray:
    """Pack ``sign(x)`` (sign(0) = +1) along the last axis into uint64 words, bit j = element j.

    ``x`` is (..., K); the result is (..., ceil(K / 64)) uint64, padding bits 0.
    """
    x = _as_numpy(x, "x")
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last axis, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TypeError(f"x must be numeric, got dtype {x.dtype}")
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
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if packed.ndim < 1 or packed.shape[-1] != n_words(n):
        raise ValueError(f"packed has {packed.shape[-1] if packed.ndim else 0} words per row; "
                         f"n={n} needs {n_words(n)}")
    as_bytes = np.ascontiguousarray(packed).view(np.uint8)
    bits = np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n]
    return np.where(bits == 1, np.float32(1), np.float32(-1))


def sign_matrix(x) -> np.ndarray:
    """``sign(x)`` as float32 ±1 (sign(0) = +1): the matrix the packed bits stand for."""
    x = _as_numpy(x, "x")
    return np.where(x >= 0, np.float32(1), np.float32(-1))


# ----------------------------------------------------------------------------- kernels
def _check_operands(a_bits, b_bits, n):
    a_bits = _as_numpy(a_bits, "a_bits")
    b_bits = _as_numpy(b_bits, "b_bits")
    for name, arr in (("a_bits", a_bits), ("b_bits", b_bits)):
        if arr.dtype != np.uint64 or arr.ndim != 2:
            raise TypeError(f"{name} must be a 2-D uint64 array from pack_signs, got {arr.dtype} {arr.shape}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int (the inner dimension K), got {n!r}")
    if a_bits.shape[1] != b_bits.shape[1]:
        raise ValueError(f"a_bits and b_bits differ in words per row: {a_bits.shape[1]} vs {b_bits.shape[1]}")
    if a_bits.shape[1] != n_words(n):
        raise ValueError(f"n={n} needs {n_words(n)} words per row, the operands have {a_bits.shape[1]}")
    return np.ascontiguousarray(a_bits), b_bits, int(n)


def xnor_matmul_numpy(a_bits, b_bits, n: int, block_rows: int = 64) -> np.ndarray:
    """``A @ B`` (int32, M x N) from ``a_bits`` = pack_signs(A) (M, W) and ``b_bits`` = pack_signs(B.T) (N, W)."""
    a_bits, b_bits, n = _check_operands(a_bits, b_bits, n)
    out = np.empty((a_bits.shape[0], b_bits.shape[0]), dtype=np.int32)
    for i in range(0, a_bits.shape[0], block_rows):
        mismatches = np.bitwise_count(a_bits[i:i + block_rows, None, :] ^ b_bits[None, :, :]).sum(
            -1, dtype=np.int32)
        out[i:i + block_rows] = n - 2 * mismatches
    return out


def _cache_ok() -> bool:
    """numba writes its cache next to this file (or to NUMBA_CACHE_DIR): only cache if writable."""
    target = os.environ.get("NUMBA_CACHE_DIR") or str(Path(__file__).resolve().parent)
    return os.access(target, os.W_OK)


if HAVE_NUMBA:
    @intrinsic
    def popcount64(typingctx, x):
        """Hardware popcount of a uint64 via LLVM's ``llvm.ctpop.i64``."""
        if not isinstance(x, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return types.uint64(types.uint64), codegen

    def _xnor_gemm_body(a_bits, bt_bits, n, out):  # pragma: no cover - compiled
        m = a_bits.shape[0]
        words = a_bits.shape[1]
        cols = bt_bits.shape[1]
        for i in prange(m):
            acc = np.zeros(cols, dtype=np.uint64)
            for w in range(words):
                aw = a_bits[i, w]
                row = bt_bits[w]
                for j in range(cols):  # contiguous: LLVM vectorizes xor + popcount + add
                    acc[j] += popcount64(aw ^ row[j])
            for j in range(cols):
                out[i, j] = n - 2 * np.int64(acc[j])

    _xnor_gemm_kernel = njit(parallel=True, cache=_cache_ok())(_xnor_gemm_body)
    # prange runs as range here; not cached: it shares its source (and cache key) with the parallel one
    _xnor_gemm_serial = njit(cache=False)(_xnor_gemm_body)

#: Below this many word operations (M * N * W) one thread wins: waking a thread pool costs more.
PARALLEL_MIN_WORK = 1 << 21


def backend() -> str:
    """``"numba"`` when the compiled kernel is available, else ``"numpy"``."""
    return "numba" if HAVE_NUMBA else "numpy"


def transpose_packed(b_bits) -> np.ndarray:
    """(N, W) -> contiguous (W, N): the layout the fast kernel streams over."""
    return np.ascontiguousarray(_as_numpy(b_bits, "b_bits").T)


def xnor_matmul_fast(a_bits, b_bits, n: int, *, b_transposed: bool = False,
                     threads: int | None = None) -> np.ndarray:
    """Same result as :func:`xnor_matmul_numpy`, with the numba kernel (numpy fallback).

    ``b_transposed=True`` means ``b_bits`` is already (W, N) from :func:`transpose_packed` (pack
    weights once, offline). ``threads`` sets numba's thread count for this call.
    """
    b = _as_numpy(b_bits, "b_bits")
    a_bits, _, n = _check_operands(a_bits, b.T if b_transposed and b.ndim == 2 else b, n)
    if not HAVE_NUMBA:
        return xnor_matmul_numpy(a_bits, b.T if b_transposed else b, n)
    bt = np.ascontiguousarray(b) if b_transposed else transpose_packed(b)
    out = np.empty((a_bits.shape[0], bt.shape[1]), dtype=np.int32)
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if threads == 1 or out.size * bt.shape[0] < PARALLEL_MIN_WORK:
        _xnor_gemm_serial(a_bits, bt, n, out)
    elif threads is not None:
        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            _xnor_gemm_kernel(a_bits, bt, n, out)
        finally:
            numba.set_num_threads(previous)
    else:
        _xnor_gemm_kernel(a_bits, bt, n, out)
    return out


def warmup() -> None:
    """Compile the fast kernel now (about a second) so that the first timed call does not."""
    a = pack_signs(np.ones((2, 70), np.float32))
    xnor_matmul_fast(a, a, 70, threads=1)
    if HAVE_NUMBA:
        _xnor_gemm_kernel(a, transpose_packed(a), 70, np.empty((2, 2), np.int32))


# ----------------------------------------------------------------------------- timing
def random_signs(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A seeded float32 ±1 matrix."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random((rows, cols)) < 0.5, np.float32(-1), np.float32(1))


def time_gemms(m: int, k: int, n: int, *, threads: int = 2, rounds: int = 3, min_run_time: float = 0.2,
               numpy_kernel: bool = True, seed: int = 0) -> dict:
    """Time fp32 ``torch.matmul`` vs the XNOR kernels on one (M x K) @ (K x N) product, same run.

    The timers alternate ``rounds`` times and each keeps its best median (``torch.utils.benchmark``),
    so background load hits all of them alike. B is packed once beforehand (weights are packed
    offline); A is packed outside the timed region as well, and packing is timed on its own.
    Returns milliseconds, speed ratios (> 1 = faster than fp32) and whether the results are exact.
    """
    from .measure import latency

    a, b = random_signs(m, k, seed), random_signs(k, n, seed + 1)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    a_bits, b_bits = pack_signs(a), pack_signs(b.T)
    bt = transpose_packed(b_bits)
    warmup()
    reference = (ta @ tb).numpy()
    exact = {"fast": bool(np.array_equal(xnor_matmul_fast(a_bits, bt, k, b_transposed=True, threads=threads),
                                         reference))}
    fns = {"fp32": lambda: torch.matmul(ta, tb),
           "fast": lambda: xnor_matmul_fast(a_bits, bt, k, b_transposed=True, threads=threads),
           "pack_a": lambda: pack_signs(a)}
    if numpy_kernel:
        exact["numpy"] = bool(np.array_equal(xnor_matmul_numpy(a_bits, b_bits, k), reference))
        fns["numpy"] = lambda: xnor_matmul_numpy(a_bits, b_bits, k)
    best = {name: math.inf for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], latency(fn, threads=threads, min_run_time=min_run_time).median_ms)
    result = {"shape": [m, k, n], "ms": best, "exact": exact, "backend": backend(),
              "fast_vs_fp32": best["fp32"] / best["fast"]}
    if numpy_kernel:
        result["numpy_vs_fp32"] = best["fp32"] / best["numpy"]
    binary_macs = m * k * n
    result["fast_gbmacs_per_s"] = binary_macs / (best["fast"] * 1e-3) / 1e9
    return result
