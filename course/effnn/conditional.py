"""Conditional computation: spend compute per sample, not per model.

- :class:`EarlyExitCNN`: a CNN with a classifier after every stage. At inference a sample leaves at
  the first exit whose softmax confidence :math:`\\max_c p_c \\ge \\tau` (a cascade, as in
  BranchyNet 2016 and MSDNet 2018), so easy digits cost a fraction of the MACs.
- :class:`TopKMoE`: a sparsely gated mixture of experts (Shazeer et al. 2017): a gate scores
  ``n_experts`` MLPs and each sample runs only its ``k`` best, weighted by a softmax over those k.
"""
from __future__ import annotations

import torch
from torch import nn

from . import validate as V
from ._deprecate import renamed_kwargs
from .validate import positive_int
from torch.nn import functional as F

from .measure import count_macs


class EarlyExitCNN(nn.Module):
    """Conv stages of growing width, each followed by a cheap exit head (avg-pool to ``pool x pool``,
    then linear: a coarse map keeps where the strokes are, which a global average would lose).

    ``forward`` returns the last exit's logits (so ``effnn.train.accuracy`` measures the full model);
    :meth:`exits` returns every exit's logits, which the joint training loss sums.

    Args:
        in_channels: input channels, >= 1.
        num_classes: output logits per exit, >= 1.
        widths: at least two stage widths, each >= 1 (one stage and one exit each).
        pool: the side of each exit head's pooled map, >= 1.

    >>> _ = torch.manual_seed(0); m = EarlyExitCNN(widths=(4, 8)); x = torch.randn(6, 1, 8, 8)
    >>> [z.shape for z in m.exits(x)], m(x).shape
    ([torch.Size([6, 10]), torch.Size([6, 10])], torch.Size([6, 10]))
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths=(8, 16, 32), pool: int = 4):
        super().__init__()
        if isinstance(widths, (str, bytes)) or not isinstance(widths, (list, tuple)):
            raise TypeError(f"widths must be a list or tuple of ints, got {type(widths).__name__}")
        if len(widths) < 2:
            raise ValueError(f"widths must name at least two stages, got {widths!r}")
        positive_int(num_classes, "num_classes")
        stages, heads, c = [], [], positive_int(in_channels, "in_channels")
        pool = positive_int(pool, "pool")
        for w in widths:
            stages.append(nn.Sequential(nn.Conv2d(c, positive_int(w, "widths"), 3, padding=1),
                                        nn.BatchNorm2d(w), nn.ReLU()))
            heads.append(nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(w * pool * pool, num_classes)))
            c = w
        self.stages, self.heads = nn.ModuleList(stages), nn.ModuleList(heads)

    def exits(self, x) -> list[torch.Tensor]:
        out = []
        for stage, head in zip(self.stages, self.heads):
            x = stage(x)
            out.append(head(x))
        return out

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return self.heads[-1](x)


def exits_loss(model: EarlyExitCNN, x, y, weights=None) -> torch.Tensor:
    """Joint training loss :math:`\\sum_i w_i\\,\\mathrm{CE}(z_i, y)` over all exits (``fit(loss_fn=...)``).

    Reads ``model``; does not change its weights.

    Args:
        model: an :class:`EarlyExitCNN`; read only.
        x: ``(N, C, H, W)`` inputs, non-empty.
        y: ``(N,)`` class labels.
        weights: one number >= 0 per exit; None for all 1.
    Returns:
        A scalar tensor with a graph, ready for ``backward()``.

    >>> _ = torch.manual_seed(0); m = EarlyExitCNN(widths=(4, 8)); x = torch.randn(6, 1, 8, 8)
    >>> loss = exits_loss(m, x, torch.arange(6) % 3, weights=[0.5, 1.0]); loss.shape, loss.requires_grad
    (torch.Size([]), True)
    """
    if not isinstance(model, EarlyExitCNN):
        raise TypeError(f"model must be an EarlyExitCNN, got {type(model).__name__}")
    V.tensor(x, "x", ndim=4, min_numel=1)
    V.tensor(y, "y", ndim=1)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    if weights is not None:
        weights = V.sequence_of(weights, "weights", lambda v, n: V.number(v, n, low=0),
                                length=len(model.stages))
    logits = model.exits(x)
    weights = weights or [1.0] * len(logits)
    return sum(w * F.cross_entropy(z, y) for w, z in zip(weights, logits))


class _Prefix(nn.Module):
    """Stages ``0..i`` plus exit ``i``: what a sample leaving at exit ``i`` has paid for."""

    def __init__(self, model: EarlyExitCNN, i: int):
        super().__init__()
        self.stages, self.head = model.stages[: i + 1], model.heads[i]

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return self.head(x)


@renamed_kwargs(example_input="example_inputs")
def exit_macs(model: EarlyExitCNN, example_inputs) -> list[int]:
    """Cumulative MACs of one sample that leaves at exit 0, 1, ... (counted, not estimated).

    Reads ``model``; does not change its weights.

    A sample that continues does not pay for the heads it skipped past, only for their stages.

    Args:
        model: an :class:`EarlyExitCNN`; read only.
        example_inputs: ``(N, C, H, W)``, non-empty; only its first sample is counted.
    Returns:
        One MAC count (an int) per exit, cumulative.

    >>> _ = torch.manual_seed(0); m = EarlyExitCNN(widths=(4, 8)); x = torch.randn(6, 1, 8, 8)
    >>> exit_macs(m, x[:1])
    [2944, 22016]
    """
    if not isinstance(model, EarlyExitCNN):
        raise TypeError(f"model must be an EarlyExitCNN, got {type(model).__name__}")
    V.tensor(example_inputs, "example_inputs", ndim=4, min_numel=1)
    one = example_inputs[:1]
    return [count_macs(_Prefix(model, i), one) for i in range(len(model.stages))]


@torch.no_grad()
def cascade_predict(model: EarlyExitCNN, x: torch.Tensor, threshold: float):
    """Run the cascade for real: after each stage only the still-unsure samples go on.

    Reads ``model``; does not change its weights.

    A sample leaves at the first exit whose top softmax probability reaches ``threshold``.

    Args:
        model: an :class:`EarlyExitCNN`; put in eval mode, weights unchanged.
        x: ``(N, C, H, W)`` inputs, non-empty.
        threshold: the confidence to leave at, in [0, 1] (0: everyone leaves at exit 0).
    Returns:
        ``(predictions, exit_index)``: two ``(N,)`` int64 tensors; the last exit always answers.

    >>> _ = torch.manual_seed(0); m = EarlyExitCNN(widths=(4, 8)); x = torch.randn(6, 1, 8, 8)
    >>> cascade_predict(m, x, 0.0)[1].tolist(), cascade_predict(m, x, 1.0)[1].tolist()
    ([0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1])
    """
    if not isinstance(model, EarlyExitCNN):
        raise TypeError(f"model must be an EarlyExitCNN, got {type(model).__name__}")
    V.tensor(x, "x", ndim=4, min_numel=1)
    V.probability(threshold, "threshold")
    model.eval()
    n = len(x)
    preds = torch.empty(n, dtype=torch.long)
    where = torch.full((n,), len(model.stages) - 1, dtype=torch.long)
    alive = torch.arange(n)
    h = x
    for i, (stage, head) in enumerate(zip(model.stages, model.heads)):
        h = stage(h)
        prob = head(h).softmax(1)
        conf, pred = prob.max(1)
        done = conf >= threshold if i < len(model.stages) - 1 else torch.ones_like(conf, dtype=torch.bool)
        preds[alive[done]] = pred[done]
        where[alive[done]] = i
        alive, h = alive[~done], h[~done]
        if len(alive) == 0:
            break
    return preds, where


def threshold_sweep(model: EarlyExitCNN, data, thresholds) -> list[dict]:
    """Accuracy and mean MACs per sample of the cascade at each confidence threshold.

    Reads ``model``; does not change its weights.

    Args:
        model: an :class:`EarlyExitCNN`; put in eval mode, weights unchanged.
        data: an ``(x, y)`` pair of tensors.
        thresholds: a non-empty list (or tensor) of thresholds in [0, 1].
    Returns:
        One dict per threshold: ``threshold``, ``acc`` (in [0, 1]), ``macs`` (mean per sample) and
        ``exit_share`` (the fraction leaving at each exit).

    >>> _ = torch.manual_seed(0); m = EarlyExitCNN(widths=(4, 8)); x = torch.randn(6, 1, 8, 8)
    >>> [(r["macs"], r["exit_share"]) for r in threshold_sweep(m, (x, torch.arange(6) % 3), [0.0, 1.0])]
    [(2944.0, [1.0, 0.0]), (22016.0, [0.0, 1.0])]
    """
    if not isinstance(model, EarlyExitCNN):
        raise TypeError(f"model must be an EarlyExitCNN, got {type(model).__name__}")
    V.data(data, "data")
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data)):
        raise TypeError("data must be an (x, y) pair of tensors")
    if torch.is_tensor(thresholds):
        thresholds = thresholds.tolist()
    thresholds = V.sequence_of(list(thresholds) if hasattr(thresholds, "__iter__") and not isinstance(thresholds, str)
                               else thresholds, "thresholds", V.probability)
    if not thresholds:
        raise ValueError("thresholds is empty")
    x, y = data
    costs = torch.tensor(exit_macs(model, x), dtype=torch.float64)
    rows = []
    for t in thresholds:
        preds, where = cascade_predict(model, x, t)
        rows.append({"threshold": float(t), "acc": (preds == y).float().mean().item(),
                     "macs": costs[where].mean().item(),
                     "exit_share": torch.bincount(where, minlength=len(costs)).div(len(y)).tolist()})
    return rows


class TopKMoE(nn.Module):
    """``y = sum_{e in topk(g(x))} softmax(g(x)_topk)_e * expert_e(x)`` with real sparse dispatch.

    Only the samples routed to an expert are passed through it, so the compute per sample is
    ``k`` experts plus the gate whatever ``n_experts`` is. ``last_load`` keeps how many samples each
    expert got in the latest forward pass; :meth:`balance_loss` is the Switch-Transformer auxiliary
    loss that keeps the gate from sending everything to one expert.

    Args:
        in_features: input features, >= 1 (inputs are flattened).
        out_features: outputs, >= 1.
        n_experts: expert MLPs, >= 1.
        k: experts run per sample, in [1, n_experts].
        hidden: each expert's hidden width, >= 1.

    >>> _ = torch.manual_seed(0); moe = TopKMoE(4, 3, n_experts=4, k=1)
    >>> moe(torch.randn(5, 4)).shape, int(moe.last_load.sum()), moe.active_macs()  # 5 samples, 1 expert each
    (torch.Size([5, 3]), 5, 240)
    """

    def __init__(self, in_features: int, out_features: int, n_experts: int = 4, k: int = 1, hidden: int = 32):
        super().__init__()
        n_experts, k = positive_int(n_experts, "n_experts"), positive_int(k, "k")
        if k > n_experts:
            raise ValueError(f"k must be <= n_experts ({n_experts}), got {k}")
        self.k, self.n_experts = k, n_experts
        self.gate = nn.Linear(positive_int(in_features, "in_features"), n_experts)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(in_features, positive_int(hidden, "hidden")), nn.ReLU(),
                          nn.Linear(hidden, positive_int(out_features, "out_features")))
            for _ in range(n_experts))
        self.out_features = out_features
        self.last_load = torch.zeros(n_experts)
        self._aux = torch.tensor(0.0)

    def forward(self, x):
        x = x.flatten(1)
        scores = self.gate(x)
        top, idx = scores.topk(self.k, dim=1)
        weights = top.softmax(1)
        out = x.new_zeros(len(x), self.out_features)
        for e, expert in enumerate(self.experts):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if len(rows):
                out.index_add_(0, rows, weights[rows, slot, None] * expert(x[rows]))
        load = torch.bincount(idx.flatten(), minlength=self.n_experts).float()
        self.last_load = load.detach()
        share = load / load.sum()
        self._aux = self.n_experts * (share * scores.softmax(1).mean(0)).sum()
        return out

    def balance_loss(self) -> torch.Tensor:
        """:math:`E\\sum_e f_e P_e` of the last forward: 1 when balanced, up to E when collapsed."""
        return self._aux

    def active_macs(self) -> int:
        """MACs per sample by the formula: gate + k experts (compare with ``count_macs``)."""
        first, last = self.experts[0][0], self.experts[0][2]
        per_expert = first.in_features * first.out_features + last.in_features * last.out_features
        return self.gate.in_features * self.gate.out_features + self.k * per_expert
