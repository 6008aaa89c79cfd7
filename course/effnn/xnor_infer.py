"""Whole-model inference of a binarized MLP through bit-packed weights *and* activations.

Simulated binary training (A2's layers) computes ``sign(x) @ (alpha * sign(W))`` in float32. At
inference nothing of that needs floats: between two binary layers sit only BatchNorm, Hardtanh and the
next layer's ``sign``, and ``sign(hardtanh(BN(alpha * z)))`` of an integer XNOR product ``z`` is a
comparison of ``z`` with one integer per output channel (FINN, Umuroglu et al., 2017, calls it a
threshold). So a binary layer maps packed input bits to packed output bits, and a whole stack of them
runs on bits. The first and last layers stay real, as in XNOR-Net and BNN (Hubara et al., 2016).

The thresholds are the caller's: :class:`PackedBinaryMLP` takes them ready-made (``s``, ``t`` per
output channel: output bit = ``s * z >= t``, with ``s`` in {-1, 0, +1}), because folding BatchNorm into
them is an exercise of A2. Bits use :mod:`effnn.xnor`'s layout (most significant bit first, padding
bits 1), so the layers feed each other with no repacking and :func:`effnn.xnor.xnor_matmul_fast`
is the reference of every product.

- :class:`PackedBinaryMLP`: first layer real (matmul, BatchNorm folded into ``h * a + b >= 0``), then
  bits through every hidden binary layer, then the last binary layer's real output (BatchNorm and
  Hardtanh as ``clip(z * a + b, -1, 1)``) into the real classifier. Everything after the first layer
  is one compiled pass over blocks of four rows (per row: sign and pack, then per layer XOR, popcount,
  threshold and pack, the row's bits staying in L1; then the classifier for the four rows together,
  each weight loaded once for the four), blocks split over numba's threads for a large batch; no torch
  call follows the pass. At build the thresholds become bounds on the mismatch count (a channel with
  ``s = -1`` gets its weight bits inverted), so a layer's output bit is one integer comparison. On an
  AVX-512 CPU the kernels are compiled for 512-bit registers (see ``effnn.xnor``).
- :func:`time_models`: the fp32 model against the packed one, same process, alternating.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import validate as V
from . import xnor

try:
    import numba
    from numba import njit, prange

    from .xnor import popcount64

    _NUMBA = xnor.HAVE_NUMBA
except Exception:  # pragma: no cover - exercised only where numba is missing
    _NUMBA = False

_WORD = 64
_BLOCK = 4  # rows the classifier takes together


def _n_words(n: int) -> int:
    return -(-n // _WORD)


# ----------------------------------------------------------------------------- compiled kernels
if _NUMBA:
    _ONE = np.uint64(1)

    @njit(cache=xnor._cache_ok(), inline="always")
    def _sign_pack_row(h_row, fa, fb, bits):  # pragma: no cover - compiled
        """bits = the signs of ``h_row * fa + fb`` (>= 0 -> 1) in effnn.xnor's layout (MSB first, padding 1)."""
        count = h_row.shape[0]
        full = count // _WORD
        for w in range(full):
            word = np.uint64(0)
            for b in range(_WORD):  # branch-free: LLVM vectorizes the masks and the OR-reduction
                j = w * _WORD + b
                fire = np.uint64(0) - np.uint64(h_row[j] * fa[j] + fb[j] >= np.float32(0.0))
                word |= (_ONE << np.uint64(_WORD - 1 - b)) & fire
            bits[w] = word
        if full * _WORD < count:
            word = np.uint64(0)
            for b in range(_WORD):
                j = full * _WORD + b
                bit = (h_row[j] * fa[j] + fb[j] >= np.float32(0.0)) if j < count else True
                word |= np.uint64(bit) << np.uint64(_WORD - 1 - b)
            bits[full] = word

    @njit(cache=xnor._cache_ok(), inline="always")
    def _four_rows(wflat, off, cols):  # pragma: no cover - compiled
        """Four consecutive ``cols``-long rows of the flat weight buffer from ``off``: one 4-word block."""
        return (wflat[off:off + cols], wflat[off + cols:off + 2 * cols],
                wflat[off + 2 * cols:off + 3 * cols], wflat[off + 3 * cols:off + 4 * cols])

    @njit(cache=xnor._cache_ok(), inline="always")
    def _four_word_count(a0, a1, a2, a3, r0, r1, r2, r3, j):  # pragma: no cover - compiled
        """Channel j's mismatches over one 4-word block: popcount of the input words XOR its weight words."""
        return np.int64(popcount64(a0 ^ r0[j]) + popcount64(a1 ^ r1[j])
                        + popcount64(a2 ^ r2[j]) + popcount64(a3 ^ r3[j]))

    @njit(cache=xnor._cache_ok(), inline="always")
    def _clipped(z, a, b):  # pragma: no cover - compiled
        """The last binary layer's real output ``clip(z * a + b, -1, 1)`` for an int32 product ``z`` (an int32
        converts to float32 as a vector, an int64 does not)."""
        return min(np.float32(1.0), max(np.float32(-1.0), np.float32(z) * a + b))

    @njit(cache=xnor._cache_ok(), inline="always")
    def _mismatches(bits, wflat, off, words, cols, acc):  # pragma: no cover - compiled
        """acc[j] = popcount(bits XOR column j of the (words, cols) weights at wflat[off:]), four words a pass.

        Indexing the flat buffer directly (not a reshaped slice) keeps the unit stride visible to LLVM,
        which then vectorizes xor + popcount + add over contiguous j.
        """
        w = 0
        while w + 4 <= words:
            a0, a1, a2, a3 = bits[w], bits[w + 1], bits[w + 2], bits[w + 3]
            r0, r1, r2, r3 = _four_rows(wflat, off + w * cols, cols)
            if w == 0:
                for j in range(cols):
                    acc[j] = _four_word_count(a0, a1, a2, a3, r0, r1, r2, r3, j)
            else:
                for j in range(cols):
                    acc[j] += _four_word_count(a0, a1, a2, a3, r0, r1, r2, r3, j)
            w += 4
        if w == 0:
            for j in range(cols):
                acc[j] = 0
        while w < words:
            aw = bits[w]
            row = wflat[off + w * cols:off + (w + 1) * cols]
            for j in range(cols):
                acc[j] += np.int64(popcount64(aw ^ row[j]))
            w += 1

    @njit(cache=xnor._cache_ok(), inline="always")
    def _threshold_pack(acc, thr, cols, bits):  # pragma: no cover - compiled
        """bits = (acc <= thr) per channel, packed in effnn.xnor's layout: the next layer's input."""
        full = cols // _WORD
        for w in range(full):
            word = np.uint64(0)
            for b in range(_WORD):
                j = w * _WORD + b
                word |= (_ONE << np.uint64(_WORD - 1 - b)) & (np.uint64(0) - np.uint64(acc[j] <= thr[j]))
            bits[w] = word
        if full * _WORD < cols:
            word = np.uint64(0)
            for b in range(_WORD):
                j = full * _WORD + b
                bit = (acc[j] <= thr[j]) if j < cols else True
                word |= np.uint64(bit) << np.uint64(_WORD - 1 - b)
            bits[full] = word

    @njit(cache=xnor._cache_ok(), inline="always")
    def _four_words_threshold_pack(bits, wflat, off, cols, thr, toff):  # pragma: no cover - compiled
        """A 4-word (<= 256-input) threshold layer in one pass: XOR, popcount, ``acc <= thr`` and packing
        per output word, with no mismatch count stored; ``bits`` (read first) becomes the layer's output."""
        a0, a1, a2, a3 = bits[0], bits[1], bits[2], bits[3]
        r0, r1, r2, r3 = _four_rows(wflat, off, cols)
        th = thr[toff:toff + cols]
        full = cols // _WORD
        for w in range(full):
            word = np.uint64(0)
            for b in range(_WORD):
                j = w * _WORD + b
                c = _four_word_count(a0, a1, a2, a3, r0, r1, r2, r3, j)
                word |= (_ONE << np.uint64(_WORD - 1 - b)) & (np.uint64(0) - np.uint64(c <= th[j]))
            bits[w] = word
        if full * _WORD < cols:
            word = np.uint64(0)
            for b in range(_WORD):
                j = full * _WORD + b
                fire = True
                if j < cols:
                    fire = _four_word_count(a0, a1, a2, a3, r0, r1, r2, r3, j) <= th[j]
                word |= np.uint64(fire) << np.uint64(_WORD - 1 - b)
            bits[full] = word

    @njit(cache=xnor._cache_ok(), inline="always")
    def _four_words_real(bits, wflat, off, cols, n, a, b, real):  # pragma: no cover - compiled
        """The last binary layer on a 4-word (<= 256-input) row: ``real = clip((n - 2 acc) * a + b, -1, 1)``
        straight from XOR and popcount, with no mismatch count stored."""
        a0, a1, a2, a3 = bits[0], bits[1], bits[2], bits[3]
        r0, r1, r2, r3 = _four_rows(wflat, off, cols)
        for j in range(cols):
            real[j] = _clipped(np.int32(n - 2 * _four_word_count(a0, a1, a2, a3, r0, r1, r2, r3, j)), a[j], b[j])

    @njit(cache=xnor._cache_ok(), fastmath={"reassoc", "contract"})
    def _dot(u, v, c):  # pragma: no cover - compiled
        """``u . v[c]``, vectorized: reassociating the sum is what lets LLVM use wide registers. It is its own
        function (not inlined by numba) so that this licence covers the dot product and nothing else."""
        total = np.float32(0.0)
        for j in range(u.shape[0]):
            total += u[j] * v[c, j]
        return total

    @njit(cache=xnor._cache_ok(), fastmath={"reassoc", "contract"})
    def _four_rows_five_classes(real, wc, c, bc, out, i):  # pragma: no cover - compiled
        """Logits of rows i..i+3 (``real[0..3]``) for classes c..c+4: twenty sums in one sweep over the width.

        Each weight is loaded once for four rows and each real value once for five classes, so the loop
        is bound by its multiply-adds, not by loads; one row and one class at a time (:func:`_dot`) loads
        two numbers per multiply-add and spends as long again reducing each short sum.
        """
        p0 = p1 = p2 = p3 = p4 = q0 = q1 = q2 = q3 = q4 = np.float32(0.0)
        u0 = u1 = u2 = u3 = u4 = v0 = v1 = v2 = v3 = v4 = np.float32(0.0)
        for j in range(real.shape[1]):
            x0, x1, x2, x3 = real[0, j], real[1, j], real[2, j], real[3, j]
            w0, w1, w2, w3, w4 = wc[c, j], wc[c + 1, j], wc[c + 2, j], wc[c + 3, j], wc[c + 4, j]
            p0 += x0 * w0; p1 += x0 * w1; p2 += x0 * w2; p3 += x0 * w3; p4 += x0 * w4  # noqa: E702
            q0 += x1 * w0; q1 += x1 * w1; q2 += x1 * w2; q3 += x1 * w3; q4 += x1 * w4  # noqa: E702
            u0 += x2 * w0; u1 += x2 * w1; u2 += x2 * w2; u3 += x2 * w3; u4 += x2 * w4  # noqa: E702
            v0 += x3 * w0; v1 += x3 * w1; v2 += x3 * w2; v3 += x3 * w3; v4 += x3 * w4  # noqa: E702
        for row, (s0, s1, s2, s3, s4) in enumerate(((p0, p1, p2, p3, p4), (q0, q1, q2, q3, q4),
                                                     (u0, u1, u2, u3, u4), (v0, v1, v2, v3, v4))):
            out[i + row, c] = s0 + bc[c]
            out[i + row, c + 1] = s1 + bc[c + 1]
            out[i + row, c + 2] = s2 + bc[c + 2]
            out[i + row, c + 3] = s3 + bc[c + 3]
            out[i + row, c + 4] = s4 + bc[c + 4]

    @njit(cache=xnor._cache_ok(), inline="always")
    def _classify(real, rows, wc, bc, out, i):  # pragma: no cover - compiled
        """``out[i:i+rows] = real[:rows] @ wc.T + bc``: blocks of four rows and five classes, then the rest."""
        classes = wc.shape[0]
        c = 0
        if rows == _BLOCK:
            while c + 5 <= classes:
                _four_rows_five_classes(real, wc, c, bc, out, i)
                c += 5
        for row in range(rows):
            for k in range(c, classes):
                out[i + row, k] = _dot(real[row], wc, k) + bc[k]

    @njit(cache=xnor._cache_ok(), inline="always")
    def _mlp_rows(h, fa, fb, wflat, geometry, thr, a, b, wc, bc, start, stop, out):  # pragma: no cover - compiled
        """Every step after the first layer for rows start..stop-1, four rows at a time (their bits stay in
        L1): the binary layers row by row, then the classifier ``wc`` (classes, width), ``bc`` on the four
        rows' real outputs together.

        ``geometry[k] = (words_in, cols, weight offset, threshold offset, n)`` of binary layer k.
        """
        layers = geometry.shape[0]
        most_words, most_cols = 1, 1
        for k in range(layers):
            most_words = max(most_words, geometry[k, 0], (geometry[k, 1] + _WORD - 1) // _WORD)
            most_cols = max(most_cols, geometry[k, 1])
        bits = np.empty(most_words, dtype=np.uint64)
        acc = np.empty(most_cols, dtype=np.int64)
        real = np.empty((_BLOCK, geometry[layers - 1, 1]), dtype=np.float32)
        for i in range(start, stop, _BLOCK):
            rows = min(_BLOCK, stop - i)
            for row in range(rows):
                _sign_pack_row(h[i + row], fa, fb, bits)
                for k in range(layers):
                    words, cols, woff, toff, n = geometry[k, 0], geometry[k, 1], geometry[k, 2], \
                        geometry[k, 3], geometry[k, 4]
                    if words == 4:
                        if k < layers - 1:
                            _four_words_threshold_pack(bits, wflat, woff, cols, thr, toff)
                        else:
                            _four_words_real(bits, wflat, woff, cols, n, a, b, real[row])
                        continue
                    _mismatches(bits, wflat, woff, words, cols, acc)
                    if k < layers - 1:
                        _threshold_pack(acc, thr[toff:toff + cols], cols, bits)
                    else:
                        for j in range(cols):
                            real[row, j] = _clipped(np.int32(n - 2 * acc[j]), a[j], b[j])
            _classify(real, rows, wc, bc, out, i)

    @njit(parallel=True, cache=xnor._cache_ok())
    def _mlp_parallel(h, fa, fb, wflat, geometry, thr, a, b, wc, bc, chunks, out):  # pragma: no cover - compiled
        """The rows in ``chunks`` contiguous blocks, one per thread (each allocates its row buffers once)."""
        rows = h.shape[0]
        per = (rows + chunks - 1) // chunks
        for c in prange(chunks):
            _mlp_rows(h, fa, fb, wflat, geometry, thr, a, b, wc, bc, c * per, min(rows, (c + 1) * per), out)

    @njit(cache=xnor._cache_ok())
    def _mlp_serial(h, fa, fb, wflat, geometry, thr, a, b, wc, bc, chunks, out):  # pragma: no cover - compiled
        """Small batches: no thread pool to wake (on a busy machine a parallel region waits for every thread)."""
        _mlp_rows(h, fa, fb, wflat, geometry, thr, a, b, wc, bc, 0, h.shape[0], out)

    def _sign_pack_body(h, fa, fb, bits):  # pragma: no cover - compiled
        for i in prange(h.shape[0]):
            _sign_pack_row(h[i], fa, fb, bits[i])

    _KERNELS = {"mlp": (_mlp_parallel, _mlp_serial)}
    # prange runs as range in the serial twin; not cached: it shares its source (and cache key)
    _KERNELS["sign_pack"] = (njit(parallel=True, cache=xnor._cache_ok())(_sign_pack_body),
                             njit(cache=False)(_sign_pack_body))


#: Below this many word operations one thread wins (measured on 2 cores: a 256-row batch of the
#: 256-wide MLP already gains from a second thread, a handful of rows does not).
PARALLEL_MIN_WORK = 1 << 18


def _run(name: str, work: int, *args) -> None:
    parallel, serial = _KERNELS[name]
    (parallel if work >= PARALLEL_MIN_WORK else serial)(*args)


# ----------------------------------------------------------------------------- the model
@dataclass
class PackedLayer:
    """One hidden binary layer: weights packed and transposed (W, N) for ``n`` inputs, and what follows it.

    Either thresholds ``s``, ``t`` (output bit = ``s * z >= t``: the next layer's binary input) or, for the
    last binary layer, a real per-channel affine map ``a``, ``b`` (``clip(z * a + b, -1, 1)``).

    Args:
        weights_t: the packed, transposed weights ``(W, N)`` (:func:`effnn.xnor.transpose_packed`).
        n: the layer's inputs ``K`` (``W = ceil(K / 64)``).
        s: ``(N,)`` ints in {-1, 0, 1}, or None (then ``a`` and ``b``).
        t: ``(N,)`` int thresholds, or None.
        a: ``(N,)`` float scales of the last binary layer, or None.
        b: ``(N,)`` float shifts of the last binary layer, or None.

    >>> a, b = np.ones(5, np.float32), np.zeros(5, np.float32)
    >>> layer = PackedLayer(np.zeros((2, 5), np.uint64), n=100, a=a, b=b)
    >>> layer.out_features
    5
    """

    weights_t: np.ndarray
    n: int
    s: np.ndarray | None = None
    t: np.ndarray | None = None
    a: np.ndarray | None = None
    b: np.ndarray | None = None

    @property
    def out_features(self) -> int:
        return int(self.weights_t.shape[1])


def _vector(value, name: str, size: int, dtype) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {value.shape}")
    if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {value.dtype}")
    if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
        raise ValueError(f"{name} contains NaN or infinity")
    return np.ascontiguousarray(value.astype(dtype))


def packed_layer(weight, *, s=None, t=None, a=None, b=None) -> PackedLayer:
    """A :class:`PackedLayer` from a binary layer's latent ``weight`` (out, in): only its signs are kept.

    Give ``s`` and ``t`` (integers; ``s`` in {-1, 0, 1}) for a layer whose output feeds another binary
    layer, or ``a`` and ``b`` (floats) for the last binary layer.

    Args:
        weight: ``(out, in)`` float latent weights, finite, non-empty; read only.
        s: ``(out,)`` values in {-1, 0, 1} (tensor or array), with ``t``; or None.
        t: ``(out,)`` integer thresholds (an integer dtype: floats are refused), with ``s``; or None.
        a: ``(out,)`` floats, with ``b``, for the last binary layer; or None.
        b: ``(out,)`` floats, with ``a``; or None.
    Returns:
        A new :class:`PackedLayer`.

    >>> w = torch.randn(5, 100)
    >>> packed_layer(w, a=torch.ones(5), b=torch.zeros(5)).weights_t.shape
    (2, 5)
    >>> packed_layer(w, s=torch.ones(5), t=torch.zeros(5))
    Traceback (most recent call last):
        ...
    TypeError: t must hold integers (thresholds on an integer product): round them first
    """
    V.tensor(weight, "weight", ndim=2, floating=True, finite=True, min_numel=1)
    out = weight.shape[0]
    layer = PackedLayer(xnor.transpose_packed(xnor.pack_rows(weight)), int(weight.shape[1]))
    if (s is None) != (t is None) or (a is None) != (b is None) or (s is None) == (a is None):
        raise ValueError("give either thresholds (s and t) or an affine map (a and b), not both")
    if s is not None:
        layer.s = _vector(s, "s", out, np.int64)
        if not np.isin(layer.s, (-1, 0, 1)).all():
            raise ValueError("s must hold only -1, 0 and +1")
        if np.issubdtype(np.asarray(t.detach() if torch.is_tensor(t) else t).dtype, np.floating):
            raise TypeError("t must hold integers (thresholds on an integer product): round them first")
        layer.t = _vector(t, "t", out, np.int64)
    else:
        layer.a = _vector(a, "a", out, np.float32)
        layer.b = _vector(b, "b", out, np.float32)
    return layer


class PackedBinaryMLP:
    """Inference of a binarized MLP on bits: real first layer, packed hidden layers, real classifier.

    Args:
        first_weight: the real first layer's weight (hidden, in), float and finite; a copy is kept.
        first_a: ``(hidden,)`` scales of its BatchNorm (the per-channel ``h * a + b`` that BatchNorm
            computes at inference, e.g. :func:`bn_affine`).
        first_b: ``(hidden,)`` shifts of that BatchNorm.
        layers: :class:`PackedLayer` s from :func:`packed_layer`; all but the last with thresholds, the
            last with an affine map.
        last: the real classifier (a ``torch.nn.Linear``); its weight and bias are copied.
    Returns (when called on a batch ``x``): the logits, a float32 tensor.

    >>> _ = torch.manual_seed(0)
    >>> w0, w1, last = torch.randn(16, 8), torch.randn(4, 16), nn.Linear(4, 3)
    >>> a0, b0, a1, b1 = torch.rand(16) + 0.5, torch.randn(16), torch.rand(4), torch.randn(4)
    >>> mlp = PackedBinaryMLP(w0, a0, b0, [packed_layer(w1, a=a1, b=b1)], last)
    >>> x = torch.randn(2, 8)
    >>> bits = torch.where(x @ w0.T * a0 + b0 >= 0, 1.0, -1.0)
    >>> expected = last((bits @ w1.sign().T * a1 + b1).clamp(-1, 1))
    >>> torch.allclose(mlp(x), expected)
    True
    """

    def __init__(self, first_weight, first_a, first_b, layers, last):
        V.tensor(first_weight, "first_weight", ndim=2, floating=True, finite=True, min_numel=1)
        self.first_weight = first_weight.detach().float().contiguous()
        self._first_weight_t = self.first_weight.T.contiguous()  # (in, hidden): the faster GEMM operand
        hidden = self.first_weight.shape[0]
        self.first_a = _vector(first_a, "first_a", hidden, np.float32)
        self.first_b = _vector(first_b, "first_b", hidden, np.float32)
        V.sequence_of(list(layers) if isinstance(layers, tuple) else layers, "layers", _layer_check)
        if not layers:
            raise ValueError("layers is empty: a packed MLP needs at least one binary layer")
        self.layers = list(layers)
        width = hidden
        for i, layer in enumerate(self.layers):
            if layer.n != width:
                raise ValueError(f"layers[{i}] takes {layer.n} inputs, the previous layer gives {width}")
            last_one = i == len(self.layers) - 1
            if last_one != (layer.a is not None):
                raise ValueError("every layer but the last needs thresholds (s, t); the last an affine map (a, b)")
            width = layer.out_features
        self.last = V.module(last, "last")
        if not isinstance(last, torch.nn.Linear) or last.in_features != width:
            raise ValueError(f"last must be a torch.nn.Linear with {width} inputs")
        if not _NUMBA:
            raise RuntimeError("PackedBinaryMLP needs numba (a course dependency); it is not installed")
        self._plan = _plan(self.layers)
        # the classifier runs inside the compiled pass, on copies taken now (classes, width) and (classes,)
        self._last_weight = np.array(last.weight.detach().float().numpy(), dtype=np.float32, order="C")
        self._last_bias = (np.zeros(last.out_features, dtype=np.float32) if last.bias is None
                           else np.array(last.bias.detach().float().numpy(), dtype=np.float32))

    def _first(self, x) -> np.ndarray:
        """The real first layer's output (rows, hidden), float32."""
        V.tensor(x, "x", floating=True, min_numel=1)
        if x.dim() < 2:
            raise ValueError(f"x must be a batch (rows, features...), got shape {tuple(x.shape)}")
        flat = x.detach() if x.dim() == 2 else torch.flatten(x.detach(), 1)
        if flat.shape[1] != self._first_weight_t.shape[0]:
            raise ValueError(f"x has {flat.shape[1]} features per sample; the first layer takes "
                             f"{self._first_weight_t.shape[0]}")
        return torch.mm(flat.float(), self._first_weight_t).numpy()

    def bits_in(self, x: torch.Tensor) -> np.ndarray:
        """The first binary layer's input, packed: sign(BN(first layer(x)))."""
        h = self._first(x)
        out = np.empty((h.shape[0], _n_words(h.shape[1])), dtype=np.uint64)
        _run("sign_pack", h.size, h, self.first_a, self.first_b, out)
        return out

    def __call__(self, x) -> torch.Tensor:
        h = self._first(x)  # on detached tensors: no autograd to switch off (inference_mode costs 2 us a call)
        rows, work = h.shape[0], self._plan[3]
        parallel = rows * work >= PARALLEL_MIN_WORK
        logits = np.empty((rows, self.last.out_features), dtype=np.float32)
        # as many blocks as numba has threads at most: prange shares them among the threads now set
        self._pass(h, min(rows, numba.config.NUMBA_NUM_THREADS) if parallel else 0, logits)
        return torch.from_numpy(logits)

    def _pass(self, h: np.ndarray, chunks: int, logits: np.ndarray) -> None:
        """The compiled pass on the first layer's output ``h``: ``logits`` filled in place. ``chunks`` row
        blocks over numba's threads, or 0 for the serial kernel."""
        wflat, geometry, thr, _ = self._plan
        (_KERNELS["mlp"][0] if chunks else _KERNELS["mlp"][1])(
            h, self.first_a, self.first_b, wflat, geometry, thr, self.layers[-1].a, self.layers[-1].b,
            self._last_weight, self._last_bias, max(chunks, 1), logits)

    def packed_bytes(self) -> int:
        """Bytes of the packed hidden weights (the real layers and the per-channel numbers not counted)."""
        return sum(layer.weights_t.nbytes for layer in self.layers)


def _layer_check(value, name):
    if not isinstance(value, PackedLayer):
        raise TypeError(f"{name} must be a PackedLayer (from effnn.xnor_infer.packed_layer), got "
                        f"{type(value).__name__}")
    return value


def _plan(layers: list[PackedLayer]):
    """The compiled runner's operands: every layer's packed weights in one buffer, and integer thresholds
    on the mismatch count ``acc`` (``z = n - 2 acc``) so that a channel fires when ``acc <= thr``.

    ``s * z >= t`` is ``acc <= (n - t) // 2`` for ``s = +1``; for ``s = -1`` the channel's weight bits are
    inverted (its mismatches become ``n - acc``), which turns ``acc >= ceil((n + t) / 2)`` into the same
    form; for ``s = 0`` the channel is constant (``thr = n``: always, ``-1``: never).
    """
    chunks, geometry, thr, offset, toffset = [], [], [], 0, 0
    for k, layer in enumerate(layers):
        wt = layer.weights_t
        words, cols, n = wt.shape[0], wt.shape[1], layer.n
        if k < len(layers) - 1:
            s, t = layer.s, layer.t
            pad = words * _WORD - n
            real_bits = np.full(words, np.iinfo(np.uint64).max, dtype=np.uint64)
            real_bits[-1] = np.uint64(((1 << _WORD) - 1) ^ ((1 << pad) - 1))
            wt = np.where(s[None, :] < 0, wt ^ real_bits[:, None], wt)
            low = -((-(n + t)) // 2)  # ceil((n + t) / 2)
            bound = np.where(s > 0, (n - t) // 2, np.where(s < 0, n - low, np.where(t <= 0, n, -1)))
            thr.append(np.clip(bound, -1, n).astype(np.int64))
        chunks.append(np.ascontiguousarray(wt, dtype=np.uint64).ravel())
        geometry.append((words, cols, offset, toffset, n))
        offset += words * cols
        toffset += cols if k < len(layers) - 1 else 0
    work = sum(g[0] * g[1] for g in geometry)
    thr = np.concatenate(thr) if thr else np.zeros(0, np.int64)
    return np.concatenate(chunks), np.array(geometry, dtype=np.int64), thr, work


def bn_affine(bn: torch.nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a, b)`` with ``BN(h) = h * a + b`` at inference (running statistics), per channel, float32.

    Args:
        bn: a BatchNorm layer (any dimension); read only (its running statistics are used whatever its mode).
    Returns:
        ``(a, b)``, two new float32 ``(C,)`` tensors.

    >>> bn = nn.BatchNorm1d(2).eval()
    >>> with torch.no_grad():
    ...     _ = bn.running_mean.fill_(1.0), bn.running_var.fill_(4.0)
    >>> a, b = bn_affine(bn)
    >>> h = torch.randn(3, 2)
    >>> torch.allclose(bn(h), h * a + b, atol=1e-6)
    True
    """
    if not isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
        raise TypeError(f"bn must be a BatchNorm layer, got {type(bn).__name__}")
    inv = torch.rsqrt(bn.running_var + bn.eps)
    a = bn.weight.detach() * inv if bn.affine else inv
    shift = bn.bias.detach() if bn.affine else torch.zeros_like(a)
    return a.float(), (shift - bn.running_mean * a).float()


def _is_binary(layer) -> bool:
    """A2's binary linear layer, recognised by what it is (a Linear subclass with binary inputs)."""
    return (isinstance(layer, torch.nn.Linear) and type(layer) is not torch.nn.Linear
            and getattr(layer, "binary_input", False) is True)


def from_sequential(model: torch.nn.Sequential, fold) -> PackedBinaryMLP:
    """A :class:`PackedBinaryMLP` from a trained, fully binarized MLP laid out as A2's Exercise 3.

    ``model``: a flat ``nn.Sequential`` of ``[Flatten,] Linear, BatchNorm1d, Hardtanh``, then per binary
    layer ``BinaryLinear(binary_input=True), BatchNorm1d, Hardtanh``, then the real ``Linear``
    classifier. ``fold(alpha, a, b) -> (s, t)`` turns a binary layer's scale ``alpha`` and the
    ``BN(v) = v * a + b`` after it into integer thresholds (A2 asks you to write it). Only the signs of
    the latent weights are kept; ``alpha`` is ``mean |W|`` per output row when the layer has
    ``scale=True``, else 1. The model is read, not changed.

    Args:
        model: the ``nn.Sequential`` above (in eval mode for the running statistics to mean anything); read only.
        fold: ``fold(alpha, a, b) -> (s, t)``, called on copies, once per binary layer but the last.
    Returns:
        A new :class:`PackedBinaryMLP` (it copies the first and last layers' weights).

    >>> class BinaryLinear(nn.Linear):  # stands in for A2's layer
    ...     binary_input = True
    >>> def block(cls):
    ...     return [cls(16, 16, bias=False), nn.BatchNorm1d(16), nn.Hardtanh()]
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(*block(nn.Linear), *block(BinaryLinear), *block(BinaryLinear), nn.Linear(16, 3))
    >>> model = model.eval()
    >>> fold = lambda alpha, a, b: (torch.ones(16).long(), torch.zeros(16).long())  # placeholder: A2 asks for it
    >>> packed = from_sequential(model, fold)
    >>> len(packed.layers), packed(torch.randn(2, 16)).shape
    (2, torch.Size([2, 3]))
    """
    V.module(model, "model")
    if not callable(fold):
        raise TypeError(f"fold must be a function fold(alpha, a, b) -> (s, t), got {type(fold).__name__}")
    mods = [m for m in model if not isinstance(m, torch.nn.Flatten)] if isinstance(model, torch.nn.Sequential) else []
    pattern = "Linear, BatchNorm1d, Hardtanh, (BinaryLinear, BatchNorm1d, Hardtanh) x L, Linear"
    ok = len(mods) >= 7 and (len(mods) - 1) % 3 == 0 and type(mods[0]) is torch.nn.Linear \
        and type(mods[-1]) is torch.nn.Linear
    for i in range(0, len(mods) - 1, 3) if ok else ():
        block = mods[i:i + 3]
        ok = ok and isinstance(block[1], torch.nn.BatchNorm1d) and isinstance(block[2], torch.nn.Hardtanh) \
            and (i == 0 or _is_binary(block[0]))
    if not ok:
        raise ValueError(f"model must be a flat nn.Sequential of {pattern} (A2's fully binarized MLP)")
    if mods[0].bias is not None:
        raise ValueError("the first layer must have no bias (BatchNorm after it has one)")
    first_a, first_b = bn_affine(mods[1])
    binary = [(mods[i], mods[i + 1]) for i in range(3, len(mods) - 1, 3)]
    layers = []
    for k, (layer, bn) in enumerate(binary):
        if layer.bias is not None:
            raise ValueError("binary layers must have no bias (BatchNorm after them has one)")
        w = layer.weight.detach()
        alpha = w.abs().mean(dim=1) if getattr(layer, "scale", False) else torch.ones(w.shape[0])
        a, b = bn_affine(bn)
        if k < len(binary) - 1:
            s, t = fold(alpha.clone(), a.clone(), b.clone())
            layers.append(packed_layer(w, s=s, t=t))
        else:
            layers.append(packed_layer(w, a=alpha * a, b=b))
    return PackedBinaryMLP(mods[0].weight, first_a, first_b, layers, mods[-1])


# ----------------------------------------------------------------------------- timing
def time_models(models: dict, batch_sizes=(1, 256), *, in_features: int = 64, threads: int = 2,
                rounds: int = 3, min_run_time: float = 0.2, seed: int = 0) -> dict:
    """Best median latency (ms) of each ``{name: callable(x) -> logits}`` per batch size, alternating.

    All candidates run in this process on the same seeded input, one after the other, ``rounds``
    times; each keeps its best median, so a burst of background load hits them alike. ``median_ms``
    is the best median of ``torch.utils.benchmark``'s blocks, ``min_ms`` the fastest single call, the
    least distorted by a loaded machine.

    Args:
        models: a non-empty ``{name: callable(x) -> logits}``.
        batch_sizes: batch sizes, ints >= 1.
        in_features: features of the random input, >= 1.
        threads: torch and numba threads during the timing, >= 1 (both restored afterwards).
        rounds: alternations, >= 1.
        min_run_time: seconds per timing, > 0.
        seed: seeds the inputs.
    Returns:
        ``{batch: {name: {"median_ms", "min_ms"}}}``.

    >>> zeros = {"zeros": lambda x: torch.zeros(len(x), 3)}
    >>> times = time_models(zeros, batch_sizes=(1,), in_features=4, rounds=1, min_run_time=0.01)
    >>> sorted(times[1]["zeros"])
    ['median_ms', 'min_ms']
    """
    from .measure import latency

    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict {name: callable}")
    for name, fn in models.items():
        if not callable(fn):
            raise TypeError(f"models[{name!r}] must be callable")
    V.sequence_of(list(batch_sizes) if isinstance(batch_sizes, range) else batch_sizes, "batch_sizes",
                  V.positive_int)
    V.integer(seed, "seed")
    V.positive_int(in_features, "in_features")
    V.positive_int(threads, "threads")
    V.positive_int(rounds, "rounds")
    V.number(min_run_time, "min_run_time", low=0, low_open=True)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    numba_threads = _numba_threads(threads)
    out = {}
    try:
        gen = torch.Generator().manual_seed(seed)
        for batch in batch_sizes:
            x = torch.rand(batch, in_features, generator=gen)
            best = {name: {"median_ms": math.inf, "min_ms": math.inf} for name in models}
            for _ in range(rounds):
                for name, fn in models.items():
                    run = latency(lambda fn=fn: fn(x), threads=threads, min_run_time=min_run_time)
                    fastest = _fastest_call(lambda fn=fn: fn(x), min_run_time / 2)
                    best[name] = {"median_ms": min(best[name]["median_ms"], run.median_ms),
                                  "min_ms": min(best[name]["min_ms"], run.min_ms, fastest)}
            out[int(batch)] = best
    finally:
        torch.set_num_threads(previous)
        _numba_threads(numba_threads)
    return out


def _fastest_call(fn, seconds: float, least: int = 5) -> float:
    """The fastest of single timed calls of ``fn`` over about ``seconds`` (ms): a block of calls averages
    in every stall a busy machine adds, one call can slip between them."""
    import time

    best, calls, start = math.inf, 0, time.perf_counter()
    with torch.inference_mode():
        while calls < least or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
            calls += 1
    return best * 1e3


def _numba_threads(threads: int) -> int:
    """Set numba's thread count (capped at what it started with); return the previous one."""
    if not _NUMBA:
        return threads
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return previous
