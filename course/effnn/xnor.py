"""A compiled XNOR-popcount matrix product of ±1 matrices (XNOR-Net, Rastegari et al., 2016), and its timing.

A ±1 vector of length n is stored as bits in 64-bit words. For two such vectors,
``dot = n - 2 * popcount(a XOR b)``: XOR marks the mismatches (XNOR would mark the matches,
``dot = 2 * matches - n``; the two are the same identity). The identity holds for *any* bit layout the
two operands share, provided the padding bits agree.

This module's layout (:func:`pack_rows`) is its own and deliberately **not** the one A2 asks you to
write: the most significant bit comes first (bit 63 - j of word w holds element 64 w + j, 1 for +1),
and the padding bits of the last word are **1** (as if the row were padded with +1 in both operands).
:func:`xnor_matmul_fast` accepts only operands in this layout (it checks the padding bits), so it
complements A2's own packing and product; it does not replace them.

- :func:`pack_rows`: float matrix -> (rows, W) uint64 words in this module's layout.
- :func:`xnor_matmul_fast`: a numba kernel. ``llvm.ctpop.i64`` (reached through a numba intrinsic,
  because ``np.bitwise_count`` is not supported in jitted code) compiles to the hardware popcount;
  the innermost loop runs over contiguous columns of the transposed packed B, so LLVM vectorizes it
  (``vpopcntq`` on AVX-512 VPOPCNTDQ: 8 words, i.e. 512 binary MACs, per instruction). Rows of A
  run in parallel (``prange``) when the product is large enough to pay for waking the threads.
  Without numba it falls back to numpy (XOR and ``np.bitwise_count``). On an AVX-512 CPU this module
  lets LLVM use the full 512-bit registers, which its tuning for such CPUs otherwise avoids
  (:func:`_full_width_vectors`).
- :func:`time_gemms`: fp32 ``torch.matmul`` against the kernel, in one process.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from . import validate as V

WORD_BITS = 64

try:  # numba is optional: numpy is the fallback
    import numba
    from numba import njit, prange, types
    from numba.extending import intrinsic

    HAVE_NUMBA = True
except Exception:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False


def _full_width_vectors() -> bool:
    """Let numba's LLVM vectorize with 512-bit registers on an AVX-512 CPU; True if this process now does.

    LLVM's tuning for recent Intel server CPUs prefers 256-bit vectors (``prefer-256-bit``), which halves
    the width of every vectorized XOR, ``vpopcntq`` and FMA in these kernels. Switching that preference off
    (numba's documented ``config.CPU_FEATURES``, the host's own features plus ``-prefer-256-bit``) took
    A2's packed pass from 48 to 33 us at batch 256 on the course's 2-core machine. It only applies
    before numba's first compiled function in the process (the target machine is built then) and never
    over a choice the user made (``NUMBA_CPU_NAME`` or ``NUMBA_CPU_FEATURES``); a CPU without AVX-512 is
    left as it is. Called once, when this module is imported.

    Returns:
        True if numba in this process uses the full-width setting.

    >>> isinstance(_full_width_vectors(), bool)
    True
    """
    if not HAVE_NUMBA:
        return False
    from numba.core import codegen
    from numba.core.registry import cpu_target

    if numba.config.CPU_FEATURES is not None:  # the user's choice, or this function's earlier call
        return numba.config.CPU_FEATURES.endswith(",-prefer-256-bit")
    if numba.config.CPU_NAME is not None:
        return False
    if "_toplevel_target_context" in vars(cpu_target):  # something compiled already: too late to change
        return False
    features = codegen.get_host_cpu_features()
    if "+avx512f" not in features.split(","):
        return False
    numba.config.CPU_FEATURES = features + ",-prefer-256-bit"
    return True


_full_width_vectors()


# ----------------------------------------------------------------------------- packing
def _as_numpy(x, name: str) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    return x


def _words(n: int) -> int:
    return -(-n // WORD_BITS)


def pack_rows(x) -> np.ndarray:
    """``sign(x)`` of a 2-D (rows, K) matrix as (rows, ceil(K / 64)) uint64 words in this module's layout.

    Most significant bit first (bit 63 - j of word w is element 64 w + j), 1 for +1 (sign(0) = +1),
    padding bits 1. Only :func:`xnor_matmul_fast` reads this layout.

    Args:
        x: a 2-D numeric (or bool) numpy array or tensor with a non-empty second axis, no NaN.
    Returns:
        A new ``(rows, ceil(K / 64))`` uint64 array.

    >>> pack_rows(np.array([[1.0, -1.0, 0.0]]))
    array([[13835058055282163711]], dtype=uint64)
    >>> hex(int(_[0, 0]))
    '0xbfffffffffffffff'
    """
    x = _as_numpy(x, "x")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TypeError(f"x must be numeric, got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"x must be a 2-D matrix with a non-empty second axis, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
        raise ValueError("x contains NaN, which has no sign")
    k = x.shape[1]
    bits = np.ones((x.shape[0], _words(k) * WORD_BITS), dtype=bool)
    bits[:, :k] = x >= 0
    big = np.ascontiguousarray(np.packbits(bits, axis=1, bitorder="big")).view(">u8")
    return big.astype(np.uint64)


def _check_padding(words: np.ndarray, n: int, name: str) -> None:
    """The padding bits (low bits of the last word) must be set, as :func:`pack_rows` sets them."""
    pad = words.shape[-1] * WORD_BITS - n if words.ndim == 2 else 0
    if pad > 0:
        mask = np.uint64((1 << pad) - 1)
        if words.size and not np.all((words[..., -1] & mask) == mask):
            raise ValueError(f"{name} is not in effnn.xnor's layout: pack the operands with "
                             "effnn.xnor.pack_rows (padding bits set, most significant bit first)")


def _check_operands(a_bits, b_bits, n):
    a_bits = _as_numpy(a_bits, "a_bits")
    b_bits = _as_numpy(b_bits, "b_bits")
    for name, arr in (("a_bits", a_bits), ("b_bits", b_bits)):
        if arr.dtype != np.uint64 or arr.ndim != 2:
            raise TypeError(f"{name} must be a 2-D uint64 array from pack_rows, got {arr.dtype} {arr.shape}")
    n = V.positive_int(n, "n")  # the inner dimension K
    if a_bits.shape[1] != b_bits.shape[1]:
        raise ValueError(f"a_bits and b_bits differ in words per row: {a_bits.shape[1]} vs {b_bits.shape[1]}")
    if a_bits.shape[1] != _words(n):
        raise ValueError(f"n={n} needs {_words(n)} words per row, the operands have {a_bits.shape[1]}")
    _check_padding(a_bits, int(n), "a_bits")
    _check_padding(b_bits, int(n), "b_bits")
    return np.ascontiguousarray(a_bits), b_bits, int(n)


def _numpy_product(a_bits, b_bits, n: int, block_rows: int = 64) -> np.ndarray:
    """The fallback without numba (same result, much slower)."""
    block_rows = V.positive_int(block_rows, "block_rows")
    out = np.empty((a_bits.shape[0], b_bits.shape[0]), dtype=np.int32)
    for i in range(0, a_bits.shape[0], block_rows):
        d = np.bitwise_count(a_bits[i:i + block_rows, None, :] ^ b_bits[None, :, :]).sum(-1, dtype=np.int32)
        out[i:i + block_rows] = n - 2 * d
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
    """``"numba"`` when the compiled kernel is available, else ``"numpy"``.

    Returns:
        ``"numba"`` or ``"numpy"``.

    >>> backend() in ("numba", "numpy")
    True
    """
    return "numba" if HAVE_NUMBA else "numpy"


def transpose_packed(b_bits) -> np.ndarray:
    """(N, W) -> contiguous (W, N): the layout the fast kernel streams over.

    Args:
        b_bits: 2-D packed words ``(N, W)`` (a numpy array or tensor).
    Returns:
        A C-contiguous ``(W, N)`` array (a copy, unless ``b_bits.T`` already is contiguous).

    >>> bits = pack_rows(random_signs(2, 130))
    >>> bits.shape, transpose_packed(bits).shape
    ((2, 3), (3, 2))
    """
    b = _as_numpy(b_bits, "b_bits")
    if b.ndim != 2:
        raise ValueError(f"b_bits must be 2-D packed words (N, W), got shape {b.shape}")
    return np.ascontiguousarray(b.T)


def xnor_matmul_fast(a_bits, b_bits, n: int, *, b_transposed: bool = False,
                     threads: int | None = None) -> np.ndarray:
    """``A @ B`` (int32, M x N), exactly, from ``a_bits = pack_rows(A)`` and ``b_bits = pack_rows(B.T)``.

    Operands must be in this module's layout (:func:`pack_rows`); others are refused with a
    ``ValueError`` where their padding shows it. Pack the weights once, offline, and pass them
    transposed.

    Args:
        a_bits: ``pack_rows(A)``, ``(M, W)`` uint64.
        b_bits: ``pack_rows(B.T)``, ``(N, W)`` uint64; or ``(W, N)`` with ``b_transposed``.
        n: the inner dimension K, >= 1, with ``W = ceil(K / 64)``.
        b_transposed: ``b_bits`` is already ``(W, N)`` (:func:`transpose_packed`).
        threads: numba threads for this call, >= 1 (1: the serial kernel); None for numba's setting.
    Returns:
        A new ``(M, N)`` int32 array, equal to ``A @ B``.

    >>> a, b = random_signs(2, 100, seed=0), random_signs(100, 3, seed=1)
    >>> out = xnor_matmul_fast(pack_rows(a), pack_rows(b.T), 100)
    >>> out.dtype, np.array_equal(out, a @ b)
    (dtype('int32'), True)
    """
    b = _as_numpy(b_bits, "b_bits")
    b_transposed = V.flag(b_transposed, "b_transposed")
    if threads is not None:
        threads = V.positive_int(threads, "threads")
    a_bits, _, n = _check_operands(a_bits, b.T if b_transposed and b.ndim == 2 else b, n)
    if not HAVE_NUMBA:
        return _numpy_product(a_bits, b.T if b_transposed else b, n)
    bt = np.ascontiguousarray(b) if b_transposed else transpose_packed(b)
    out = np.empty((a_bits.shape[0], bt.shape[1]), dtype=np.int32)
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
    """Compile the fast kernel now (about a second) so that the first timed call does not.

    Returns:
        None (compiles and caches the kernels; without numba it only runs the numpy fallback once).

    >>> warmup()
    """
    a = pack_rows(np.ones((2, 70), np.float32))
    xnor_matmul_fast(a, a, 70, threads=1)
    if HAVE_NUMBA:
        _xnor_gemm_kernel(a, transpose_packed(a), 70, np.empty((2, 2), np.int32))


# ----------------------------------------------------------------------------- timing
def random_signs(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A seeded float32 ±1 matrix.

    Args:
        rows: >= 1.
        cols: >= 1.
        seed: an int >= 0 (numpy's ``default_rng``; the global generators are untouched).
    Returns:
        A new ``(rows, cols)`` float32 array of -1 and +1.

    >>> random_signs(2, 4, seed=0)
    array([[ 1., -1., -1., -1.],
           [ 1.,  1.,  1.,  1.]], dtype=float32)
    """
    rows, cols = V.positive_int(rows, "rows"), V.positive_int(cols, "cols")
    rng = np.random.default_rng(V.integer(seed, "seed", low=0))
    return np.where(rng.random((rows, cols)) < 0.5, np.float32(-1), np.float32(1))


def time_gemms(m: int, k: int, n: int, *, threads: int = 2, rounds: int = 3, min_run_time: float = 0.2,
               extra=None, seed: int = 0) -> dict:
    """Time fp32 ``torch.matmul`` vs the compiled XNOR kernel on one (M x K) @ (K x N) product, same run.

    The timers alternate ``rounds`` times and each keeps its best median (``torch.utils.benchmark``),
    so background load hits all of them alike. B is packed once beforehand (weights are packed
    offline); A is packed outside the timed region as well, and packing (``pack_a``) is timed on its
    own. ``extra(A, B)`` may return more candidates ``{name: zero-argument callable returning A @ B}``,
    timed and checked alongside. Speed ratios above 1 are faster than fp32.

    Args:
        m: A's rows, >= 1.
        k: the inner dimension, >= 1.
        n: B's columns, >= 1.
        threads: threads for torch and the kernel, >= 1.
        rounds: alternations of the timers, >= 1.
        min_run_time: seconds per timing, > 0.
        extra: ``extra(A, B) -> {name: callable}`` with more candidates, or None.
        seed: seeds A (``seed``) and B (``seed + 1``).
    Returns:
        ``{"shape", "ms", "exact", "backend", "<name>_vs_fp32"..., "fast_gbmacs_per_s"}``: ``ms`` maps
        each candidate (and ``pack_a``) to its best median in ms, ``exact`` each candidate to a bool.

    >>> r = time_gemms(4, 64, 4, threads=1, rounds=1, min_run_time=0.01)
    >>> r["exact"], sorted(r["ms"])
    ({'fast': True}, ['fast', 'fp32', 'pack_a'])
    """
    from .measure import latency

    m, k, n = (V.positive_int(v, name) for v, name in ((m, "m"), (k, "k"), (n, "n")))
    threads, rounds = V.positive_int(threads, "threads"), V.positive_int(rounds, "rounds")
    min_run_time = V.number(min_run_time, "min_run_time", low=0, low_open=True)
    seed = V.integer(seed, "seed")
    if extra is not None and not callable(extra):
        raise TypeError(f"extra must be a function extra(A, B) -> {{name: callable}}, got {type(extra).__name__}")
    a, b = random_signs(m, k, seed), random_signs(k, n, seed + 1)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    a_bits = pack_rows(a)
    bt = transpose_packed(pack_rows(b.T))
    warmup()
    reference = (ta @ tb).numpy()
    fns = {"fp32": lambda: torch.matmul(ta, tb),
           "fast": lambda: xnor_matmul_fast(a_bits, bt, k, b_transposed=True, threads=threads)}
    others = dict(extra(a, b)) if extra is not None else {}
    if not set(others).isdisjoint({"fp32", "fast", "pack_a"}):
        raise ValueError("extra candidates need names other than fp32, fast and pack_a")
    fns.update(others)
    exact = {name: bool(np.array_equal(np.asarray(fn()), reference)) for name, fn in fns.items() if name != "fp32"}
    fns["pack_a"] = lambda: pack_rows(a)
    best = {name: math.inf for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], latency(fn, threads=threads, min_run_time=min_run_time).median_ms)
    result = {"shape": [m, k, n], "ms": best, "exact": exact, "backend": backend()}
    for name in ("fast", *others):
        result[f"{name}_vs_fp32"] = best["fp32"] / best[name]
    binary_macs = m * k * n
    result["fast_gbmacs_per_s"] = binary_macs / (best["fast"] * 1e-3) / 1e9
    return result
