"""Deep Compression (Han, Mao & Dally, 2016): prune, share weights with k-means, Huffman-code.

1. **Prune** small weights and retrain (masks from ``torch.nn.utils.prune``).
2. **Quantize by weight sharing**: k-means over each layer's surviving weights gives ``2^bits``
   centroids; every weight stores only its cluster index. The centroids are then fine-tuned: the
   gradient of a centroid is the sum of the gradients of the weights in its cluster, which is
   exactly what autograd computes for ``weight = centroids[index]``.
3. **Huffman-code** the cluster indices and the gaps between surviving positions (relative
   sparse indexing, with a padding zero whenever a gap does not fit in ``index_bits``).

The storage accounting below counts every bit that a decoder would need: codes, codebooks,
Huffman tables and biases.
"""
from __future__ import annotations

import heapq
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import validate as V


def _check_bits(name: str, bits) -> int:
    return V.bits(bits, name)


def _symbols(symbols, name: str = "symbols") -> list:
    """A list of hashable symbols from a list, tuple, tensor or numpy array."""
    if torch.is_tensor(symbols) or isinstance(symbols, np.ndarray):
        return symbols.reshape(-1).tolist()
    if isinstance(symbols, (str, bytes)) or not isinstance(symbols, (list, tuple)):
        raise TypeError(f"{name} must be a list, tuple, tensor or numpy array, got {type(symbols).__name__}")
    try:
        for s in symbols:
            hash(s)
    except TypeError:
        raise TypeError(f"{name} must hold hashable symbols (numbers, strings)") from None
    return list(symbols)


def _code(code, name: str = "code") -> dict:
    V.mapping(code, name)
    if not code:
        raise ValueError(f"{name} is empty")
    for s, c in code.items():
        if not isinstance(c, str) or not c or set(c) - {"0", "1"}:
            raise ValueError(f"{name}[{s!r}] must be a non-empty string of '0'/'1', got {c!r}")
    return code


# ---------------------------------------------------------------------------------------------
# k-means weight sharing
# ---------------------------------------------------------------------------------------------

def kmeans_codebook(weights: torch.Tensor, bits: int, *, mask: torch.Tensor | None = None,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster the weights (those where ``mask`` is true) into ``2^bits`` shared values.

    Returns ``(centroids, index)``: ``centroids`` has ``2^bits`` entries and ``index`` has the shape
    of ``weights`` (masked-out positions get index 0; the mask keeps them at zero). Linear
    initialisation over ``[min, max]``, which Han et al. found best: it keeps the rare large weights.

    Args:
        weights: a tensor of finite values, any shape; read only.
        bits: index bits, an int in [1, 16]: ``2^bits`` clusters.
        mask: a tensor with as many entries as ``weights``; true (non-zero) entries are clustered, at least one.
        seed: an int >= 0, k-means' ``random_state``.
    Returns:
        ``(centroids, index)``: ``(2^bits,)`` float32 and int64 shaped like ``weights``; new tensors.

    >>> c, index = kmeans_codebook(torch.tensor([-1.0, -0.9, 0.0, 1.0, 1.1]), bits=1)
    >>> [round(v, 3) for v in c.tolist()], index.tolist()
    ([-0.633, 1.05], [0, 0, 0, 1, 1])
    """
    from sklearn.cluster import KMeans

    if not torch.is_tensor(weights):
        raise TypeError(f"weights must be a tensor, got {type(weights).__name__}")
    bits = _check_bits("bits", bits)
    V.integer(seed, "seed", low=0)
    if mask is not None:
        V.tensor(mask, "mask")
    if weights.numel() and not bool(torch.isfinite(weights.detach()).all()):
        raise ValueError("weights contain NaN or infinity")
    k = 2 ** bits
    w = weights.detach().reshape(-1).double().cpu()
    keep = torch.ones_like(w, dtype=torch.bool) if mask is None else mask.reshape(-1).bool().cpu()
    if mask is not None and mask.numel() != weights.numel():
        raise ValueError(f"mask has {mask.numel()} entries, weights have {weights.numel()}")
    values = w[keep].numpy().reshape(-1, 1)
    if len(values) == 0:
        raise ValueError("no weights left to cluster (the mask is all zero)")
    init = np.linspace(values.min(), values.max(), k).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer distinct values than clusters: fine, some stay empty
        km = KMeans(n_clusters=k, init=init, n_init=1, random_state=seed).fit(values)
    centroids = torch.from_numpy(km.cluster_centers_.reshape(-1)).float()
    index = torch.zeros(w.numel(), dtype=torch.int64)
    index[keep] = torch.from_numpy(km.labels_.astype(np.int64))
    return centroids, index.reshape(weights.shape)


class SharedWeight(nn.Module):
    """A Linear or Conv2d whose weight is ``centroids[index] * mask``: only the centroids train.

    ``bias_bits`` (default 8) stores the bias as symmetric linear integers with one fp32 scale,
    and the forward pass uses exactly those values, so the measured accuracy is the stored model's.
    Built for every layer by :func:`share_weights`.

    Args:
        layer: an ``nn.Linear`` or ``nn.Conv2d``, wrapped (not copied); its weight is frozen and its
            non-zero pattern becomes the mask.
        bits: index bits, an int in [1, 16].
        seed: k-means' seed, an int >= 0.
        bias_bits: bits of the stored bias, an int in [1, 16]; None for an fp32 bias.

    >>> sw = SharedWeight(nn.Linear(4, 3), bits=2); sw.centroids.numel(), sw(torch.zeros(1, 4)).shape
    (4, torch.Size([1, 3]))
    """

    def __init__(self, layer: nn.Module, bits: int, *, seed: int = 0, bias_bits: int | None = 8):
        super().__init__()
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")
        _check_bits("bits", bits)
        w = layer.weight.detach()
        mask = w != 0
        centroids, index = kmeans_codebook(w, bits, mask=mask, seed=seed)
        self.bits = bits
        self.bias_bits = None if bias_bits is None else _check_bits("bias_bits", bias_bits)
        self.layer = layer
        self.layer.weight.requires_grad_(False)
        self.centroids = nn.Parameter(centroids)
        self.register_buffer("index", index)
        self.register_buffer("mask", mask)

    def weight(self) -> torch.Tensor:
        return self.centroids[self.index] * self.mask

    def bias(self) -> torch.Tensor | None:
        b = self.layer.bias
        if b is None or self.bias_bits is None:
            return b
        from .quant import fake_quantize

        return fake_quantize(b, self.bias_bits, symmetric=True)

    def forward(self, x):
        w, b = self.weight(), self.bias()
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, w, b)
        c = self.layer
        return F.conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups)


def share_weights(model: nn.Module, bits, *, seed: int = 0, bias_bits: int | None = 8) -> nn.Module:
    """Replace (in place) each Linear/Conv2d by a :class:`SharedWeight`.

    ``bits`` is one int, or a list with one entry per layer in order. Biases stay trainable.
    In place: returns ``model``.

    Args:
        model: changed in place (not a bare layer: wrap it in ``nn.Sequential``).
        bits: an int in [1, 16], or one per Linear/Conv2d layer in ``modules()`` order.
        seed: k-means' seed, an int >= 0.
        bias_bits: as in :class:`SharedWeight`.
    Returns:
        ``model``.

    >>> _ = torch.manual_seed(0); m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> [l.centroids.numel() for l in shared_layers(share_weights(m, [3, 2]))]
    [8, 4]
    """
    V.module(model, "model")
    if isinstance(model, (nn.Linear, nn.Conv2d)):
        raise ValueError("model is a bare layer; wrap it in nn.Sequential so it can be replaced in place")
    if not isinstance(bits, (list, tuple)):
        _check_bits("bits", bits)
    if bias_bits is not None:
        _check_bits("bias_bits", bias_bits)
    layers = [(p, n) for p in model.modules() for n, c in p.named_children()
              if isinstance(c, (nn.Linear, nn.Conv2d))]
    per_layer = list(bits) if isinstance(bits, (list, tuple)) else [bits] * len(layers)
    if not layers:
        raise ValueError(f"model ({type(model).__name__}) has no nn.Linear or nn.Conv2d layer: nothing to share")
    if len(per_layer) != len(layers):
        raise ValueError(f"bits has {len(per_layer)} entries for {len(layers)} layers")
    for i, b in enumerate(per_layer):
        _check_bits(f"bits[{i}]", b)
    for (parent, name), b in zip(layers, per_layer):
        setattr(parent, name, SharedWeight(getattr(parent, name), _check_bits("bits", b), seed=seed,
                                           bias_bits=bias_bits))
    return model


def shared_layers(model: nn.Module) -> list[SharedWeight]:
    """The :class:`SharedWeight` layers of ``model``, in order.

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
    Returns:
        A new list of the :class:`SharedWeight` modules themselves; empty when there are none.

    >>> m = nn.Sequential(nn.Linear(2, 2)); len(shared_layers(m))
    0
    >>> len(shared_layers(share_weights(m, 1)))
    1
    """
    V.module(model, "model")
    return [m for m in model.modules() if isinstance(m, SharedWeight)]


# ---------------------------------------------------------------------------------------------
# Huffman coding
# ---------------------------------------------------------------------------------------------

def huffman_code(symbols) -> dict:
    """A prefix-free code ``{symbol: '0101...'}`` from the symbol frequencies in ``symbols``.

    Ties are broken by insertion order, so the code is deterministic. One distinct symbol gets
    the one-bit code ``'0'``.

    Args:
        symbols: a non-empty list, tuple, tensor or array of hashable symbols.
    Returns:
        ``{symbol: codeword}``, codewords as strings of ``'0'``/``'1'``.

    >>> sorted(huffman_code([0, 0, 0, 1, 2]).items())
    [(0, '1'), (1, '00'), (2, '01')]
    """
    counts = Counter(_symbols(symbols))
    if not counts:
        raise ValueError("symbols is empty")
    if len(counts) == 1:
        return {next(iter(counts)): "0"}
    heap = [(n, i, {s: ""}) for i, (s, n) in enumerate(counts.items())]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        n0, _, c0 = heapq.heappop(heap)
        n1, _, c1 = heapq.heappop(heap)
        merged = {s: "0" + c for s, c in c0.items()}
        merged.update({s: "1" + c for s, c in c1.items()})
        heapq.heappush(heap, (n0 + n1, tie, merged))
        tie += 1
    return heap[0][2]


def huffman_encode(symbols, code: dict) -> str:
    """Concatenate the codewords of ``symbols`` (a string of '0'/'1', for teaching clarity).

    Args:
        symbols: a list, tuple, tensor or array; each must have a codeword.
        code: ``{symbol: codeword}`` (e.g. :func:`huffman_code`).
    Returns:
        A string of ``'0'``/``'1'``.

    >>> huffman_encode([0, 2], {0: '0', 1: '10', 2: '11'})
    '011'
    """
    seq = _symbols(symbols)
    _code(code)
    try:
        return "".join(code[s] for s in seq)
    except KeyError as err:
        raise ValueError(f"symbols: symbol {err.args[0]!r} has no codeword in code") from None


def huffman_decode(bits: str, code: dict) -> list:
    """Invert :func:`huffman_encode`: read bits until they spell a codeword (prefix-freeness).

    Args:
        bits: a string of ``'0'``/``'1'``, ending on a codeword boundary.
        code: a prefix-free ``{symbol: codeword}``.
    Returns:
        The list of decoded symbols.

    >>> huffman_decode('011', {0: '0', 1: '10', 2: '11'})
    [0, 2]
    """
    if not isinstance(bits, str):
        raise TypeError(f"bits must be a string of '0'/'1', got {type(bits).__name__}")
    if set(bits) - {"0", "1"}:
        raise ValueError("bits must contain only '0' and '1'")
    _code(code)
    if not is_prefix_free(code):
        raise ValueError("code is not prefix-free: decoding would be ambiguous")
    inverse = {c: s for s, c in code.items()}
    out, word = [], ""
    for b in bits:
        word += b
        if word in inverse:
            out.append(inverse[word])
            word = ""
    if word:
        raise ValueError("bits end in the middle of a codeword")
    return out


def is_prefix_free(code: dict) -> bool:
    """True when no codeword is the beginning of another.

    Args:
        code: a non-empty ``{symbol: codeword}``.
    Returns:
        A bool.

    >>> is_prefix_free({0: '0', 1: '01'})
    False
    """
    _code(code)
    words = sorted(code.values())
    return all(not b.startswith(a) for a, b in zip(words, words[1:]))


def huffman_bits(symbols) -> int:
    """Length in bits of the Huffman-coded sequence.

    Args:
        symbols: a non-empty list, tuple, tensor or array of hashable symbols.
    Returns:
        The number of bits, an int (the code table itself is not counted).

    >>> huffman_bits([0, 0, 0, 1, 2])
    7
    """
    counts = Counter(_symbols(symbols))
    code = huffman_code(list(counts.elements()))
    return sum(len(code[s]) * n for s, n in counts.items())


# ---------------------------------------------------------------------------------------------
# Relative sparse indexing and storage accounting
# ---------------------------------------------------------------------------------------------

def relative_index(mask: torch.Tensor, index_bits: int) -> tuple[list[int], list[int]]:
    """Gaps between consecutive kept positions of the flattened ``mask`` (Han's relative index).

    A gap larger than ``2^index_bits - 1`` is bridged with padding entries: each padding
    entry advances by the largest gap and stores a zero weight. Returns ``(gaps, is_padding)``
    with one entry per stored weight (real or padding).

    Args:
        mask: a tensor, non-zero = kept; read flat.
        index_bits: the gap width, an int in [1, 16].
    Returns:
        ``(gaps, is_padding)``: two lists of ints of equal length.

    >>> relative_index(torch.tensor([1, 0, 0, 1, 0, 0, 0, 0, 1], dtype=torch.bool), index_bits=2)
    ([1, 3, 3, 2], [0, 0, 1, 0])
    """
    index_bits = _check_bits("index_bits", index_bits)
    V.tensor(mask, "mask")
    limit = 2 ** index_bits - 1
    positions = torch.nonzero(mask.reshape(-1)).reshape(-1).tolist()
    gaps, padding, last = [], [], -1
    for p in positions:
        gap = p - last
        while gap > limit:
            gaps.append(limit)
            padding.append(1)
            gap -= limit
        gaps.append(gap)
        padding.append(0)
        last = p
    return gaps, padding


def decode_positions(gaps: list[int], padding: list[int]) -> list[int]:
    """Positions of the real weights from the gaps (the inverse of :func:`relative_index`).

    Args:
        gaps: ints >= 1, as :func:`relative_index` returns them.
        padding: 0/1 per gap, the same length.
    Returns:
        The flat positions of the real (non-padding) entries, a list of ints.

    >>> decode_positions([2, 3], [0, 0])
    [1, 4]
    """
    gaps = V.sequence_of(gaps, "gaps", lambda v, n: V.integer(v, n, low=1))
    padding = V.sequence_of(padding, "padding", lambda v, n: V.integer(v, n, low=0, high=1), length=len(gaps))
    pos, out = -1, []
    for g, pad in zip(gaps, padding):
        pos += g
        if not pad:
            out.append(pos)
    return out


#: A Huffman table is stored as one code length (0..31) per symbol of the alphabet: with
#: canonical Huffman codes the lengths alone define the code.
TABLE_BITS_PER_SYMBOL = 5


@dataclass
class LayerStorage:
    """Bits one compressed layer needs, by part; ``total_bits`` sums them. Built by :func:`layer_storage`.

    Args:
        name: the layer's module name.
        params: the weight's entries.
        nonzero: kept weights.
        weight_bits: bits of the coded cluster indices (padding entries included).
        index_bits: bits of the coded relative positions.
        codebook_bits: bits of the fp32 centroids.
        table_bits: bits of the two Huffman tables.
        bias_bits: bits of the bias (and its scale).
        extras: more facts (``stored_entries``, ``padding``, ``index_bits``).

    >>> LayerStorage("fc", params=4, nonzero=3, weight_bits=3, index_bits=6, codebook_bits=64,
    ...              table_bits=0, bias_bits=0).total_bits
    73
    """
    name: str
    params: int
    nonzero: int
    weight_bits: int  # Huffman-coded cluster indices (including padding zeros)
    index_bits: int  # Huffman-coded relative positions
    codebook_bits: int  # 2^b fp32 centroids
    table_bits: int  # the two Huffman tables
    bias_bits: int
    extras: dict = field(default_factory=dict)

    @property
    def total_bits(self) -> int:
        return self.weight_bits + self.index_bits + self.codebook_bits + self.table_bits + self.bias_bits


def layer_storage(name: str, index: torch.Tensor, mask: torch.Tensor, n_centroids: int, *,
                  index_bits: int = 5, bias_numel: int = 0, bias_bits_each: int = 32,
                  huffman: bool = True) -> LayerStorage:
    """Storage of one layer: cluster indices + gaps, each Huffman-coded (or fixed width if not).

    Padding entries get a reserved weight symbol ``n_centroids`` (decoded as 0), so the weight
    alphabet has ``n_centroids + 1`` symbols when padding occurs.

    Args:
        name: the layer's name, a str.
        index: the cluster index of every weight, ints in ``[0, n_centroids)``.
        mask: kept weights, shaped like ``index``.
        n_centroids: the codebook's size, >= 1.
        index_bits: the gap width, an int in [1, 16].
        bias_numel: bias entries, >= 0.
        bias_bits_each: bits per bias entry, >= 0.
        huffman: Huffman-code indices and gaps (else fixed width, no tables).
    Returns:
        A :class:`LayerStorage`.

    >>> s = layer_storage("fc", torch.tensor([0, 0, 1, 1]), torch.tensor([True, False, True, True]), 2,
    ...                   index_bits=2, huffman=False)
    >>> s.weight_bits, s.index_bits, s.codebook_bits  # 3 x 1 bit, 3 x 2 bits, 2 fp32 centroids
    (3, 6, 64)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    V.tensor(index, "index")
    V.tensor(mask, "mask")
    V.positive_int(n_centroids, "n_centroids")
    V.integer(bias_numel, "bias_numel", low=0)
    V.integer(bias_bits_each, "bias_bits_each", low=0)
    V.flag(huffman, "huffman")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n_centroids):
        raise ValueError(f"index values must be in [0, n_centroids={n_centroids})")
    if index.shape != mask.shape:
        raise ValueError(f"index {tuple(index.shape)} and mask {tuple(mask.shape)} differ in shape")
    gaps, padding = relative_index(mask, index_bits)
    kept = index.reshape(-1)[mask.reshape(-1).bool()].tolist()
    symbols, it = [], iter(kept)
    for pad in padding:
        symbols.append(n_centroids if pad else next(it))
    alphabet_w = n_centroids + (1 if any(padding) else 0)
    if not symbols:
        w_bits = i_bits = table = 0
    elif huffman:
        w_bits, i_bits = huffman_bits(symbols), huffman_bits(gaps)
        table = TABLE_BITS_PER_SYMBOL * (alphabet_w + 2 ** index_bits)
    else:
        w_bits = len(symbols) * max(1, math.ceil(math.log2(alphabet_w)))
        i_bits, table = len(gaps) * index_bits, 0
    return LayerStorage(name, mask.numel(), len(kept), w_bits, i_bits, 32 * n_centroids, table,
                        bias_numel * bias_bits_each,
                        {"stored_entries": len(symbols), "padding": int(sum(padding))})


def model_storage(model: nn.Module, *, index_bits: int | None = 5, huffman: bool = True) -> list[LayerStorage]:
    """:func:`layer_storage` of every :class:`SharedWeight` layer of ``model``.

    Reads ``model``; does not change its weights.

    A quantized bias costs ``bias_bits`` per entry plus one fp32 scale; a float bias 32 bits each.
    ``index_bits=None`` lets the encoder pick, per layer, the gap width (2..8) that stores the layer
    in the fewest bits (a pure storage choice: it does not change the weights).

    Args:
        model: read only; it needs a :class:`SharedWeight` layer.
        index_bits: the gap width, an int in [1, 16]; None to pick the best of 2..8 per layer.
        huffman: Huffman-code indices and gaps (else fixed width).
    Returns:
        One :class:`LayerStorage` per :class:`SharedWeight` layer, in ``named_modules()`` order.

    >>> _ = torch.manual_seed(0); m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> [s.name for s in model_storage(share_weights(m, 2))]
    ['0', '2']
    """
    V.module(model, "model")
    V.flag(huffman, "huffman")
    if index_bits is not None:
        _check_bits("index_bits", index_bits)
    if index_bits is None:
        per_bits = [model_storage(model, index_bits=b, huffman=huffman) for b in range(2, 9)]
        return [min(options, key=lambda l: l.total_bits) for options in zip(*per_bits)]
    out = []
    for name, m in model.named_modules():
        if isinstance(m, SharedWeight):
            n_bias = m.layer.bias.numel() if m.layer.bias is not None else 0
            each = 32 if m.bias_bits is None else m.bias_bits
            layer = layer_storage(name, m.index, m.mask, m.centroids.numel(), index_bits=index_bits,
                                  bias_numel=n_bias, bias_bits_each=each, huffman=huffman)
            if n_bias and m.bias_bits is not None:
                layer.bias_bits += 32  # the bias scale
            layer.extras["index_bits"] = index_bits
            out.append(layer)
    if not out:
        raise ValueError("model has no SharedWeight layers: call share_weights first")
    return out


def compression_table(dense_bytes: int, layers: list[LayerStorage]) -> dict:
    """Totals: compressed bytes, ratio to the fp32 model, mean bits per non-zero weight.

    Args:
        dense_bytes: the fp32 model's size in bytes, >= 1.
        layers: a non-empty list of :class:`LayerStorage` (:func:`model_storage`).
    Returns:
        ``{"params", "nonzero", "kept", "compressed_bytes", "ratio", "bits_per_weight"}``: ``kept`` is
        a fraction, ``ratio`` is dense over compressed, ``bits_per_weight`` counts codes and gaps per kept weight.

    >>> s = LayerStorage("fc", params=4, nonzero=3, weight_bits=3, index_bits=6, codebook_bits=64,
    ...                  table_bits=0, bias_bits=0)
    >>> t = compression_table(16, [s]); t["compressed_bytes"], t["bits_per_weight"]
    (10, 3.0)
    """
    V.positive_int(dense_bytes, "dense_bytes")
    layers = V.sequence_of(layers, "layers", _storage)
    if not layers:
        raise ValueError("layers is empty: pass model_storage(model)")
    total_bits = sum(l.total_bits for l in layers)
    nnz = sum(l.nonzero for l in layers)
    params = sum(l.params for l in layers)
    return {"params": params, "nonzero": nnz, "kept": nnz / params,
            "compressed_bytes": math.ceil(total_bits / 8), "ratio": dense_bytes * 8 / total_bits,
            "bits_per_weight": (sum(l.weight_bits + l.index_bits for l in layers)) / max(nnz, 1)}


def _storage(value, name):
    if not isinstance(value, LayerStorage):
        raise TypeError(f"{name} must be a LayerStorage, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------
# The three-stage pipeline
# ---------------------------------------------------------------------------------------------

def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def prune_and_retrain(model: nn.Module, amounts, train_data, cfg, *, steps: int = 3) -> nn.Module:
    """Stage 1: per-layer magnitude pruning to ``amounts`` in ``steps`` rounds, retraining after
    each (``torch.nn.utils.prune`` keeps the masks applied), then the masks are made permanent.

    In place: changes ``model`` and returns it (copy it first to keep the original).

    Args:
        model: changed in place; it needs an ``nn.Linear`` or ``nn.Conv2d``.
        amounts: one final fraction in [0, 1) per Linear/Conv2d in ``modules()`` order, or one for all.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        cfg: the :class:`~effnn.train.TrainConfig` of each retraining round.
        steps: rounds, an int >= 1 (geometric schedule of the kept fraction).
    Returns:
        ``model``, with plain weights (no masks left).

    >>> from effnn.prune import weight_sparsity
    >>> from effnn.train import TrainConfig
    >>> _ = torch.manual_seed(0); m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> data = (torch.randn(32, 8), torch.arange(32) % 2)
    >>> _ = prune_and_retrain(m, [0.5, 0.5], data, TrainConfig(epochs=1, batch_size=16), steps=2)
    >>> round(weight_sparsity(m), 2)
    0.5
    """
    from torch.nn.utils import prune

    from .train import _config, fit

    V.module(model, "model")
    layers = _weighted_layers(model)
    if not layers:
        raise ValueError(f"model ({type(model).__name__}) has no nn.Linear or nn.Conv2d layer: nothing to prune")
    amounts = list(amounts) if isinstance(amounts, (list, tuple)) else [amounts] * len(layers)
    if len(amounts) != len(layers):
        raise ValueError(f"amounts has {len(amounts)} entries for {len(layers)} layers")
    amounts = [V.fraction(a, f"amounts[{i}]") for i, a in enumerate(amounts)]
    V.data(train_data, "train_data")
    _config(cfg)
    steps = V.positive_int(steps, "steps")
    for step in range(1, steps + 1):
        for layer, final in zip(layers, amounts):
            target = 1 - (1 - final) ** (step / steps)  # geometric schedule of the kept fraction
            # zeros from earlier rounds are the smallest weights, so they are counted in ``target``
            prune.l1_unstructured(layer, "weight", amount=round(target * layer.weight.numel()))
        fit(model, train_data, cfg, desc=f"prune step {step}/{steps}")
        for layer in layers:
            prune.remove(layer, "weight")
    return model


def share_and_finetune(model: nn.Module, bits, train_data, cfg, *, seed: int = 0) -> nn.Module:
    """Stage 2: k-means weight sharing, then fine-tune the centroids (and biases).

    In place: changes ``model`` and returns it (copy it first to keep the original).

    Args:
        model: changed in place, as by :func:`share_weights`.
        bits: as in :func:`share_weights`.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        cfg: the fine-tuning's :class:`~effnn.train.TrainConfig`; None to share without fine-tuning.
        seed: k-means' seed, an int >= 0.
    Returns:
        ``model``.

    >>> from effnn.train import TrainConfig
    >>> _ = torch.manual_seed(0); m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> data = (torch.randn(32, 8), torch.arange(32) % 2)
    >>> [type(l).__name__ for l in share_and_finetune(m, 2, data, TrainConfig(epochs=1, batch_size=16))]
    ['SharedWeight', 'ReLU', 'SharedWeight']
    """
    from .train import _config, fit

    V.module(model, "model")
    V.data(train_data, "train_data")
    if cfg is not None:
        _config(cfg)
    share_weights(model, bits, seed=seed)
    if cfg is not None:
        fit(model, train_data, cfg, desc="centroid fine-tuning")
    return model


#: The LeNet-300-100 setting of the lecture and the benchmark: Han et al. keep 8% of this
#: network's weights (fc1 8%, fc2 9%, fc3 26%) with 6-bit shared weights; on 8x8 digits we keep
#: 8% / 6% / 50%, with 3 / 3 / 4 bits.
LENET_SETTING = {"amounts": (0.92, 0.94, 0.5), "bits": (3, 3, 4), "steps": 5, "index_bits": 5}


def han_table(model: nn.Module, *, index_bits: int = 5) -> list[dict]:
    """Per-layer rows in the format of Han et al.'s Table 2 (plus a total row).

    Reads ``model``; does not change its weights.

    ``P+Q``: pruned and quantized, fixed-width codes; ``P+Q+H``: the same codes Huffman-coded.
    Bits are per stored entry (padding entries included, which is why a 3-bit layer with padding
    needs 4-bit fixed-width codes: 8 clusters plus the padding symbol). Compression rates are
    against fp32 weights and biases of the same layer. Needs :class:`SharedWeight` layers.

    Args:
        model: read only; it needs :class:`SharedWeight` layers.
        index_bits: the gap width, an int in [1, 16].
    Returns:
        One dict per layer plus a ``"total"`` row: ``layer``, ``weights``, ``kept_%``,
        ``cluster_bits``, ``weight_bits_PQ(H)``, ``index_bits_PQ(H)``, ``ratio_PQ(H)``.

    >>> _ = torch.manual_seed(0); m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> rows = han_table(share_weights(m, 2)); [r["layer"] for r in rows]
    ['0', '2', 'total']
    """
    V.module(model, "model")
    plain = model_storage(model, index_bits=index_bits, huffman=False)
    coded = model_storage(model, index_bits=index_bits, huffman=True)
    rows = []
    for p, h in zip(plain + [None], coded + [None]):
        if p is None:
            p = LayerStorage("total", *(sum(getattr(l, f) for l in plain) for f in
                                        ("params", "nonzero", "weight_bits", "index_bits", "codebook_bits",
                                         "table_bits", "bias_bits")))
            h = LayerStorage("total", *(sum(getattr(l, f) for l in coded) for f in
                                        ("params", "nonzero", "weight_bits", "index_bits", "codebook_bits",
                                         "table_bits", "bias_bits")))
            n_bias = sum(m.layer.bias.numel() for m in shared_layers(model) if m.layer.bias is not None)
            bits = "/".join(str(m.bits) for m in shared_layers(model))
        else:
            m = dict(model.named_modules())[p.name]
            n_bias = m.layer.bias.numel() if m.layer.bias is not None else 0
            bits = str(m.bits)
        dense_bits = 32 * (p.params + n_bias)
        entries = max(h.extras.get("stored_entries", 0), 1) if p.name != "total" else max(
            sum(l.extras["stored_entries"] for l in coded), 1)
        rows.append({"layer": p.name, "weights": p.params, "kept_%": 100 * p.nonzero / p.params,
                     "cluster_bits": bits, "weight_bits_PQ": p.weight_bits / entries, "weight_bits_PQH": h.weight_bits / entries,
                     "index_bits_PQ": p.index_bits / entries, "index_bits_PQH": h.index_bits / entries,
                     "ratio_PQ": dense_bits / p.total_bits, "ratio_PQH": dense_bits / h.total_bits})
    return rows


def markdown_table(rows: list[dict], digits: int = 3):
    """Show a list of row dicts as a Markdown table in a notebook (plain text elsewhere).

    Columns come from the first row; floats get ``digits`` significant digits.

    Args:
        rows: a non-empty list of dicts; the first row's keys are the columns.
        digits: significant digits of floats, >= 1.
    Returns:
        An ``IPython.display.Markdown`` (its ``.data`` is the table's text).

    >>> print(markdown_table([{"layer": "fc1", "ratio": 12.3456}]).data)
    | layer | ratio |
    |---|---|
    | fc1 | 12.3 |
    """
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f"rows must be a list of dicts, got {type(rows).__name__}")
    if not rows:
        raise ValueError("rows is empty")
    for i, r in enumerate(rows):
        V.mapping(r, f"rows[{i}]")
    V.integer(digits, "digits", low=1)
    cols = list(rows[0])
    fmt = lambda v: f"{v:.{digits}g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    from IPython.display import Markdown

    return Markdown("\n".join(lines))
