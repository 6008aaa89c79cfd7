"""A teacher made of several networks: the average of their logits.

Averaging logits multiplies the members' probabilities (a geometric mean, renormalised by the
softmax), the "geometric ensemble" whose soft targets Hinton, Vinyals & Dean distil in
"Distilling the Knowledge in a Neural Network" (2015). Softening by a temperature then acts on the
ensemble as a whole, so :func:`effnn.distill.kd_loss_fn` takes it as it takes any teacher.
"""
from __future__ import annotations

import torch
from torch import nn

from . import validate as V


class LogitEnsemble(nn.Module):
    """``forward(x)`` is the mean of ``members``' logits; the members are not trained by it.

    Args:
        members: a non-empty list (or ``nn.ModuleList``) of modules with logits of one shape; kept,
            not copied, so their parameters are the ensemble's too.

    >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> x = torch.ones(1, 3)
    >>> torch.allclose(LogitEnsemble([a, b])(x), (a(x) + b(x)) / 2)
    True
    """

    def __init__(self, members):
        super().__init__()
        if isinstance(members, nn.Module) or not isinstance(members, (list, tuple, nn.ModuleList)):
            raise TypeError(f"members must be a list of nn.Module, got {type(members).__name__}")
        V.nonempty(members, "members")
        for i, m in enumerate(members):
            V.module(m, f"members[{i}]")
        self.members = nn.ModuleList(members)

    def forward(self, x):
        return torch.stack([m(x) for m in self.members]).mean(0)
