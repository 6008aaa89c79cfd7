"""Per-input gating of residual blocks: ConvNet-AIG at digits scale.

Veit & Belongie, "Convolutional Networks with Adaptive Inference Graphs" (2018): before every
residual block a tiny gate (global average pool, two linear layers) looks at the features and
decides, per input, whether the block runs. The decision is discrete; during training it is drawn
with the Gumbel-softmax trick and passed straight through (hard forward, soft gradient), at inference
it is the argmax. A *target-rate* loss :math:`\\sum_l (\\bar g_l - t)^2` keeps each block's average
execution rate near ``t``, so the network learns *which* inputs need which blocks. Skipped blocks
are really skipped at inference: only the selected samples go through a block.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from . import validate as V


def _block(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))


class GatedResNet(nn.Module):
    """A stem, ``blocks`` residual blocks of constant ``width``, each behind a gate, and a linear head.

    ``gated=False`` builds the same network with every block always on (the baseline). After a
    forward pass, ``last_gates`` holds one ``(N,)`` tensor of 0/1 decisions per block.

    Args:
        in_channels: input channels, >= 1.
        num_classes: output logits, >= 2.
        width: channels of the stem and every block, >= 1.
        blocks: residual blocks, >= 1.
        gate_hidden: each gate's hidden width, >= 1.
        gated: gate the blocks (False: the always-on baseline).
        temperature: the Gumbel-softmax temperature in training, > 0.

    >>> _ = torch.manual_seed(0)
    >>> model = GatedResNet(width=4, blocks=2, gate_hidden=4)
    >>> model(torch.randn(3, 1, 8, 8)).shape, [tuple(g.shape) for g in model.last_gates]
    (torch.Size([3, 10]), [(3,), (3,)])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, blocks: int = 4,
                 gate_hidden: int = 16, gated: bool = True, temperature: float = 1.0):
        super().__init__()
        V.positive_int(in_channels, "in_channels")
        V.integer(num_classes, "num_classes", low=2)
        width, blocks = V.positive_int(width, "width"), V.positive_int(blocks, "blocks")
        V.positive_int(gate_hidden, "gate_hidden")
        self.gated = V.flag(gated, "gated")
        self.temperature = V.number(temperature, "temperature", low=0, low_open=True)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.ModuleList(_block(width) for _ in range(blocks))
        self.gates = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, gate_hidden), nn.ReLU(),
                          nn.Linear(gate_hidden, 2)) for _ in range(blocks))
        for g in self.gates:  # start with every block on, as a plain ResNet
            nn.init.constant_(g[-1].bias, 0.0)
            with torch.no_grad():
                g[-1].bias[1] = 2.0
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
        self.last_gates: list[torch.Tensor] = []

    def _decide(self, gate: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if not self.gated:
            return x.new_ones(len(x))
        logits = gate(x)
        if self.training:
            return F.gumbel_softmax(logits, tau=self.temperature, hard=True)[:, 1]
        return (logits[:, 1] > logits[:, 0]).float()

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"GatedResNet expects NCHW input, got shape {tuple(x.shape)}")
        x = self.stem(x)
        self.last_gates = []
        for gate, block in zip(self.gates, self.blocks):
            g = self._decide(gate, x)
            self.last_gates.append(g)
            if self.training:
                x = F.relu(x + g[:, None, None, None] * block(x))
            else:  # real skipping: only the selected samples run the block
                rows = g.nonzero(as_tuple=True)[0]
                out = x.clone()
                if len(rows):
                    out[rows] = x[rows] + block(x[rows])
                x = F.relu(out)
        return self.head(x)

    def execution_rates(self) -> torch.Tensor:
        """Share of the last batch that ran each block, shape ``(blocks,)``."""
        if not self.last_gates:
            raise RuntimeError("run a forward pass first")
        return torch.stack([g.detach().float().mean() for g in self.last_gates])


def target_rate_loss_fn(target: float = 0.5, weight: float = 2.0):
    """``loss_fn(model, x, y)`` for :func:`effnn.train.fit`: cross-entropy plus
    ``weight * sum_l (mean gate_l - target)^2`` (AIG's target-rate loss).

    Args:
        target: the wanted execution rate of every block, in [0, 1].
        weight: the rate term's weight, >= 0.
    Returns:
        ``loss_fn(model, x, y) -> scalar tensor``; ``model`` must be a :class:`GatedResNet` (an
        ungated one gets plain cross-entropy).

    >>> _ = torch.manual_seed(0)
    >>> model = GatedResNet(width=4, blocks=2, gate_hidden=4)
    >>> loss_fn = target_rate_loss_fn(target=0.5, weight=2.0)
    >>> x, y = torch.randn(3, 1, 8, 8), torch.tensor([0, 1, 2])
    >>> loss_fn(model, x, y).item() >= torch.nn.functional.cross_entropy(model(x), y).item()
    True
    """
    target = V.probability(target, "target")
    weight = V.number(weight, "weight", low=0)

    def loss_fn(model, x, y):
        if not isinstance(model, GatedResNet):
            raise TypeError(f"model must be a GatedResNet, got {type(model).__name__}")
        ce = F.cross_entropy(model(x), y)
        if not model.gated:
            return ce
        rates = torch.stack([g.mean() for g in model.last_gates])
        return ce + weight * (rates - target).pow(2).sum()

    return loss_fn


def per_sample_macs(model: GatedResNet, x: torch.Tensor) -> torch.Tensor:
    """MACs each sample of ``x`` costs at inference: stem, head and every gate always, plus each
    block it runs. Counted with :func:`effnn.measure.count_macs` on one sample. Leaves ``model`` in
    eval mode; does not change its weights.

    Args:
        model: a :class:`GatedResNet`; left in eval mode, weights unchanged.
        x: ``(N, C, H, W)`` float inputs, non-empty.
    Returns:
        An ``(N,)`` float tensor of MACs.

    >>> _ = torch.manual_seed(0)
    >>> gated, always = GatedResNet(width=4, blocks=2), GatedResNet(width=4, blocks=2, gated=False)
    >>> x = torch.randn(3, 1, 8, 8)
    >>> per_sample_macs(gated, x).shape
    torch.Size([3])
    >>> per_sample_macs(always, x).unique().numel()  # every sample runs every block
    1
    """
    from .measure import count_macs

    if not isinstance(model, GatedResNet):
        raise TypeError(f"model must be a GatedResNet, got {type(model).__name__}")
    V.tensor(x, "x", ndim=4, floating=True, min_numel=1)
    model.eval()
    with torch.no_grad():
        model(x)
        one = x[:1]
        feat = model.stem(one)
        fixed = count_macs(model.stem, one) + count_macs(model.head, feat)
        if model.gated:
            fixed += sum(count_macs(g, feat) for g in model.gates)
        block = count_macs(model.blocks[0], feat)
    gates = torch.stack(model.last_gates, 1)  # N x blocks
    return fixed + block * gates.sum(1)
