"""A bigger model at fewer bits or a smaller one at more bits, for the same bytes.

Quantization and a smaller architecture both shrink a model. At a fixed storage budget the question
is which to spend it on: many coarse weights or few precise ones. This module sizes MLPs so that
every bit width fills the same budget (:func:`widest_mlp`), trains each in float, quantizes its
weights with quantization-aware training (:func:`effnn.quant.qat`, weights only: the budget is the
model's storage) and reports test accuracy per seed (:func:`equal_bytes_experiment`).

Bytes are counted honestly (:func:`mlp_bytes`): ``w_bits`` per weight, plus what a decoder needs
besides, one fp32 scale per output row of every quantized layer and the fp32 biases.
"""
from __future__ import annotations

from dataclasses import replace

from torch import nn

from . import validate as V


def mlp_bytes(in_features: int, hidden: int, num_classes: int, w_bits: int, depth: int = 2) -> float:
    """Storage of an MLP with ``depth`` hidden layers of width ``hidden`` at ``w_bits`` per weight.

    Weights take ``w_bits`` each; a quantized layer (``w_bits < 32``) adds one fp32 scale per output
    row (symmetric per-channel quantization); biases stay fp32.

    Args:
        in_features: inputs, >= 1.
        hidden: the hidden width, >= 1.
        num_classes: outputs, >= 2.
        w_bits: bits per weight, in [1, 32] (32: float, no scales).
        depth: hidden layers, >= 1.
    Returns:
        Bytes, a float (fractional when ``w_bits`` does not fill whole bytes).

    >>> mlp_bytes(40, 10, 10, 32, depth=1)   # (40*10 + 10*10) weights + 20 biases, 4 bytes each
    2080.0
    >>> mlp_bytes(40, 10, 10, 4, depth=1)    # 500 weights at half a byte, 20 scales, 20 biases
    410.0
    """
    in_features, hidden = V.positive_int(in_features, "in_features"), V.positive_int(hidden, "hidden")
    num_classes = V.integer(num_classes, "num_classes", low=2)
    w_bits = V.integer(w_bits, "w_bits", low=1, high=32)
    depth = V.positive_int(depth, "depth")
    widths = [in_features] + [hidden] * depth + [num_classes]
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    rows = sum(widths[1:])
    scales = rows if w_bits < 32 else 0
    return weights * w_bits / 8 + 4 * (scales + rows)


def widest_mlp(budget_bytes: float, w_bits: int, in_features: int = 40, num_classes: int = 10,
               depth: int = 2) -> int:
    """The largest hidden width whose :func:`mlp_bytes` at ``w_bits`` fits in ``budget_bytes``.

    Args:
        budget_bytes: the storage budget in bytes, > 0.
        w_bits: bits per weight, in [1, 32].
        in_features: inputs, >= 1.
        num_classes: outputs, >= 2.
        depth: hidden layers, >= 1.
    Returns:
        The hidden width, an int >= 1.

    >>> widest_mlp(mlp_bytes(40, 32, 10, 32), 32)
    32
    >>> widest_mlp(mlp_bytes(40, 32, 10, 32), 4) > 2 * 32
    True
    """
    budget_bytes = V.number(budget_bytes, "budget_bytes", low=0, low_open=True)
    if mlp_bytes(in_features, 1, num_classes, w_bits, depth) > budget_bytes:
        raise ValueError(f"budget_bytes={budget_bytes} is smaller than the narrowest MLP at {w_bits} bits")
    lo, hi = 1, 2
    while mlp_bytes(in_features, hi, num_classes, w_bits, depth) <= budget_bytes:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:  # invariant: lo fits, hi does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if mlp_bytes(in_features, mid, num_classes, w_bits, depth) <= budget_bytes else (lo, mid)
    return lo


def equal_bytes_experiment(train, test, *, budget_width: int = 32, bits=(32, 8, 4, 2), seeds=(0, 1),
                           train_cfg=None, qat_cfg=None) -> list[dict]:
    """Train, at every bit width in ``bits``, the widest 2-hidden-layer MLP that fits one budget.

    The budget is an fp32 MLP of width ``budget_width``. For ``w_bits < 32`` the float network is
    trained with ``train_cfg`` and then quantized by QAT with ``qat_cfg`` (weights only, per-channel);
    the fp32 network trains ``qat_cfg``'s epochs in float instead, so every arm trains equally long.
    One row per bit width: ``bits``, ``width``, ``bytes``, ``params``, ``acc`` (one test accuracy
    per seed) and ``acc_float`` (the same width after ``train_cfg`` alone, before quantization).

    Args:
        train: ``(x, y)`` tensors, ``x`` flat ``(N, features)``; labels from 0.
        test: ``(x, y)`` tensors, the same kind.
        budget_width: the width of the fp32 MLP that sets the budget, >= 1.
        bits: a non-empty list (or range) of bit widths in [1, 32].
        seeds: a non-empty list (or range) of ints >= 0.
        train_cfg: the float :class:`~effnn.train.TrainConfig` (default 8 epochs, 1 in fast mode).
        qat_cfg: the QAT (or extra float) :class:`~effnn.train.TrainConfig` (default 3 epochs, 1 in fast mode).
    Returns:
        A list of row dicts, in ``bits`` order; each also holds the ``budget`` in bytes.

    >>> from effnn.train import TrainConfig
    >>> x = torch.randn(32, 8)
    >>> data = (x, (x[:, 0] > 0).long())
    >>> cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=32)
    >>> rows = equal_bytes_experiment(data, data, budget_width=8, bits=(32, 4), seeds=(0,),
    ...                               train_cfg=cfg, qat_cfg=cfg)
    >>> [(r["bits"], r["width"], r["bytes"] <= r["budget"]) for r in rows]
    [(32, 8, True), (4, 20, True)]
    """
    from .models import LeNet300100
    from .quant import qat
    from .train import TrainConfig, accuracy, fit, seed_everything

    V.data(train, "train")
    V.data(test, "test")
    budget_width = V.positive_int(budget_width, "budget_width")
    bits = V.sequence_of(list(bits) if isinstance(bits, range) else bits, "bits",
                         lambda v, n: V.integer(v, n, low=1, high=32))
    V.nonempty(bits, "bits")
    seeds = V.sequence_of(list(seeds) if isinstance(seeds, range) else seeds, "seeds",
                          lambda v, n: V.integer(v, n, low=0))
    V.nonempty(seeds, "seeds")
    train_cfg = TrainConfig(epochs=8, fast_epochs=1, lr=2e-3) if train_cfg is None else train_cfg
    qat_cfg = TrainConfig(epochs=3, fast_epochs=1, lr=5e-4) if qat_cfg is None else qat_cfg
    for cfg, name in ((train_cfg, "train_cfg"), (qat_cfg, "qat_cfg")):
        if not isinstance(cfg, TrainConfig):
            raise TypeError(f"{name} must be an effnn.train.TrainConfig or None, got {type(cfg).__name__}")
    d_in, n_cls = train[0].shape[1], int(train[1].max()) + 1
    budget = mlp_bytes(d_in, budget_width, n_cls, 32)
    rows = []
    for b in bits:
        width = widest_mlp(budget, b, d_in, n_cls)
        row = {"bits": b, "width": width, "bytes": mlp_bytes(d_in, width, n_cls, b), "budget": budget,
               "acc": [], "acc_float": []}
        for seed in seeds:
            seed_everything(seed)
            net = LeNet300100(in_features=d_in, num_classes=n_cls, hidden=(width, width))
            fit(net, train, replace(train_cfg, seed=seed), desc=f"width {width}")
            row["params"] = sum(m.weight.numel() for m in net.modules() if isinstance(m, nn.Linear))
            row["acc_float"].append(accuracy(net, test))
            # every arm gets the same extra epochs: QAT for the quantized ones, float training for fp32
            if b < 32:
                net = qat(net, train, b, None, replace(qat_cfg, seed=seed))
            else:
                fit(net, train, replace(qat_cfg, seed=seed), desc=f"width {width}, more epochs")
            row["acc"].append(accuracy(net, test))
        rows.append(row)
    return rows
