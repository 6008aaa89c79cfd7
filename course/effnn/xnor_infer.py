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
  Hardtanh as ``clip(z * a + b, -1, 1)``) into the real classifier.
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
    from numba import njit, prange

    from .xnor import popcount64

    _NUMBA = xnor.HAVE_NUMBA
except Exception:  # pragma: no cover - exercised only where numba is missing
    _NUMBA = False

_WORD = 64


def _n_words(n: int) -> int:
    return -(-n // _WORD)


# ----------------------------------------------------------------------------- compiled kernels
if _NUMBA:
    @njit(cache=xnor._cache_ok(), inline="always")
    def _pack_row_into(bits_row, fire, count):  # pragma: no cover - compiled
        """fire[:count] (uint64 0/1) -> bits_row in effnn.xnor's layout (MSB first, padding bits 1)."""
        full = count // _WORD
        for w in range(full):
            word = np.uint64(0)
            for b in range(_WORD):  # branch-free: LLVM vectorizes the shifts and the OR-reduction
                word |= fire[w * _WORD + b] << np.uint64(_WORD - 1 - b)
            bits_row[w] = word
        if full < bits_row.shape[0]:
            word = np.uint64(0)
            for b in range(_WORD):
                j = full * _WORD + b
                bit = fire[j] if j < count else np.uint64(1)
                word |= bit << np.uint64(_WORD - 1 - b)
            bits_row[full] = word

    @njit(cache=xnor._cache_ok(), inline="always")
    def _row_popcounts(a_row, bt, acc):  # pragma: no cover - compiled
        """acc[j] = popcount(a_row XOR column j of bt), four words per pass (fewer loads and stores of acc)."""
        words = a_row.shape[0]
        cols = bt.shape[1]
        for j in range(cols):
            acc[j] = 0
        w = 0
        while w + 4 <= words:
            a0, a1, a2, a3 = a_row[w], a_row[w + 1], a_row[w + 2], a_row[w + 3]
            r0, r1, r2, r3 = bt[w], bt[w + 1], bt[w + 2], bt[w + 3]
            for j in range(cols):  # contiguous in j: LLVM vectorizes xor + popcount + add
                acc[j] += np.int64(popcount64(a0 ^ r0[j]) + popcount64(a1 ^ r1[j])
                                   + popcount64(a2 ^ r2[j]) + popcount64(a3 ^ r3[j]))
            w += 4
        while w < words:
            aw = a_row[w]
            row = bt[w]
            for j in range(cols):
                acc[j] += np.int64(popcount64(aw ^ row[j]))
            w += 1

    def _threshold_body(a_bits, bt, n, s, t, out_bits):  # pragma: no cover - compiled
        rows, words = a_bits.shape
        cols = bt.shape[1]
        for i in prange(rows):
            acc = np.empty(cols, dtype=np.int64)
            _row_popcounts(a_bits[i], bt, acc)
            fire = np.empty(cols, dtype=np.uint64)
            for j in range(cols):
                fire[j] = np.uint64(s[j] * (n - 2 * acc[j]) >= t[j])
            _pack_row_into(out_bits[i], fire, cols)

    def _affine_body(a_bits, bt, n, a, b, out):  # pragma: no cover - compiled
        rows, words = a_bits.shape
        cols = bt.shape[1]
        for i in prange(rows):
            acc = np.empty(cols, dtype=np.int64)
            _row_popcounts(a_bits[i], bt, acc)
            for j in range(cols):
                v = np.float32(n - 2 * acc[j]) * a[j] + b[j]
                out[i, j] = min(np.float32(1.0), max(np.float32(-1.0), v))

    def _sign_pack_body(h, a, b, out_bits):  # pragma: no cover - compiled
        rows, cols = h.shape
        for i in prange(rows):
            fire = np.empty(cols, dtype=np.uint64)
            for j in range(cols):
                fire[j] = np.uint64(h[i, j] * a[j] + b[j] >= np.float32(0.0))
            _pack_row_into(out_bits[i], fire, cols)

    def _fused_body(h, fa, fb, wts, n, s, t, a, b, out):  # pragma: no cover - compiled
        """Every step of the MLP for one row at a time: the row's bits stay in L1 between the layers."""
        rows, width = h.shape
        layers = wts.shape[0]
        words = wts.shape[1]
        for i in prange(rows):
            fire = np.empty(width, dtype=np.uint64)
            for j in range(width):
                fire[j] = np.uint64(h[i, j] * fa[j] + fb[j] >= np.float32(0.0))
            bits = np.empty(words, dtype=np.uint64)
            _pack_row_into(bits, fire, width)
            acc = np.empty(width, dtype=np.int64)
            for layer in range(layers - 1):
                _row_popcounts(bits, wts[layer], acc)
                for j in range(width):
                    fire[j] = np.uint64(s[layer, j] * (n - 2 * acc[j]) >= t[layer, j])
                _pack_row_into(bits, fire, width)
            _row_popcounts(bits, wts[layers - 1], acc)
            for j in range(width):
                v = np.float32(n - 2 * acc[j]) * a[j] + b[j]
                out[i, j] = min(np.float32(1.0), max(np.float32(-1.0), v))

    _KERNELS = {}
    for _name, _body in (("threshold", _threshold_body), ("affine", _affine_body), ("sign_pack", _sign_pack_body),
                         ("fused", _fused_body)):
        _KERNELS[_name] = (njit(parallel=True, cache=xnor._cache_ok())(_body), njit(cache=False)(_body))


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
        first_weight: the real first layer's weight (hidden, in); its BatchNorm is given as ``first_a``,
            ``first_b`` (the per-channel ``h * a + b`` that BatchNorm computes at inference).
        layers: :class:`PackedLayer` s from :func:`packed_layer`; all but the last with thresholds, the
            last with an affine map.
        last: the real classifier (a ``torch.nn.Linear``).
    Returns (when called on a batch ``x``): the logits, a float32 tensor.
    """

    def __init__(self, first_weight, first_a, first_b, layers, last):
        V.tensor(first_weight, "first_weight", ndim=2, floating=True, finite=True, min_numel=1)
        self.first_weight = first_weight.detach().float().contiguous()
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
        self._fused = None
        if all(layer.n == hidden and layer.out_features == hidden for layer in self.layers):
            mid = self.layers[:-1]
            self._fused = (
                np.ascontiguousarray(np.stack([layer.weights_t for layer in self.layers])), hidden,
                np.stack([layer.s for layer in mid]) if mid else np.zeros((0, hidden), np.int64),
                np.stack([layer.t for layer in mid]) if mid else np.zeros((0, hidden), np.int64),
                self.layers[-1].a, self.layers[-1].b)

    def bits_in(self, x: torch.Tensor) -> np.ndarray:
        """The first binary layer's input, packed: sign(BN(first layer(x)))."""
        h = torch.flatten(x, 1).float() @ self.first_weight.T
        h = h.numpy()
        out = np.empty((h.shape[0], _n_words(h.shape[1])), dtype=np.uint64)
        _run("sign_pack", h.size, h, self.first_a, self.first_b, out)
        return out

    @torch.inference_mode()
    def __call__(self, x) -> torch.Tensor:
        V.tensor(x, "x", floating=True, min_numel=1)
        if self._fused is not None:
            h = (torch.flatten(x, 1).float() @ self.first_weight.T).numpy()
            real = np.empty(h.shape, dtype=np.float32)
            wts = self._fused[0]
            _run("fused", h.shape[0] * wts.shape[0] * wts.shape[1] * wts.shape[2], h, self.first_a, self.first_b,
                 *self._fused, real)
            return self.last(torch.from_numpy(real))
        bits = self.bits_in(x)
        rows = bits.shape[0]
        for layer in self.layers[:-1]:
            out = np.empty((rows, _n_words(layer.out_features)), dtype=np.uint64)
            _run("threshold", rows * layer.out_features * bits.shape[1], bits, layer.weights_t, layer.n,
                 layer.s, layer.t, out)
            bits = out
        layer = self.layers[-1]
        real = np.empty((rows, layer.out_features), dtype=np.float32)
        _run("affine", real.size * bits.shape[1], bits, layer.weights_t, layer.n, layer.a, layer.b, real)
        return self.last(torch.from_numpy(real))

    def packed_bytes(self) -> int:
        """Bytes of the packed hidden weights (the real layers and the per-channel numbers not counted)."""
        return sum(layer.weights_t.nbytes for layer in self.layers)


def _layer_check(value, name):
    if not isinstance(value, PackedLayer):
        raise TypeError(f"{name} must be a PackedLayer (from effnn.xnor_infer.packed_layer), got "
                        f"{type(value).__name__}")
    return value


def bn_affine(bn: torch.nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a, b)`` with ``BN(h) = h * a + b`` at inference (running statistics), per channel, float32."""
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
    times; each keeps its best median, so a burst of background load hits them alike. Returns
    ``{batch: {name: {"median_ms", "min_ms"}}}`` (``min_ms``: the fastest single run, the least
    distorted by a loaded machine).
    """
    from .measure import latency

    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict {name: callable}")
    for name, fn in models.items():
        if not callable(fn):
            raise TypeError(f"models[{name!r}] must be callable")
    V.sequence_of(list(batch_sizes), "batch_sizes", V.positive_int)
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
                    best[name] = {"median_ms": min(best[name]["median_ms"], run.median_ms),
                                  "min_ms": min(best[name]["min_ms"], run.min_ms)}
            out[int(batch)] = best
    finally:
        torch.set_num_threads(previous)
        _numba_threads(numba_threads)
    return out


def _numba_threads(threads: int) -> int:
    """Set numba's thread count (capped at what it started with); return the previous one."""
    if not _NUMBA:
        return threads
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return previous
