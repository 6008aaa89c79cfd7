"""The coarsest structures pruning removes: whole attention heads and whole residual blocks.

Removing a head or a block deletes a whole sub-computation, so the saving is real on any hardware; the
question is only how much accuracy it costs. Two findings from the literature are measured with this
module in lecture 01:

- *Are Sixteen Heads Really Better than One?* (Michel, Levy, Neubig, 2019): most single heads of a
  trained transformer can be masked at test time at little cost, and some heads matter a lot.
- *Residual Networks Behave Like Ensembles of Relatively Shallow Networks* (Veit, Wilber, Belongie,
  2016): deleting one block of a trained residual network costs little, while deleting one layer of a
  plain (non-residual) network of the same shape breaks it.

Heads are removed for real by torch-pruning (``num_heads`` / ``prune_num_heads``), which keeps the
query, key, value and output projections of each head consistent.
"""
from __future__ import annotations

import copy

import torch
import torch_pruning as tp
from torch import nn

from . import validate as V


class HeadAttention(nn.Module):
    """Multi-head self-attention written with separate q/k/v projections (the layout torch-pruning
    prunes head by head). ``head_gate`` (None, or one 0/1 value per head) masks heads for ablation.

    Args:
        dim: the token width, >= 1, divisible by ``num_heads``.
        num_heads: heads, >= 1.

    >>> _ = torch.manual_seed(0)
    >>> attn = HeadAttention(dim=8, num_heads=2)
    >>> x = torch.randn(1, 3, 8)
    >>> attn.head_gate = torch.tensor([1.0, 0.0])  # mask head 1
    >>> attn(x).shape
    torch.Size([1, 3, 8])
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        V.positive_int(dim, "dim")
        V.positive_int(num_heads, "num_heads")
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.head_gate: torch.Tensor | None = None

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = (p(x).view(b, t, self.num_heads, -1).transpose(1, 2) for p in (self.q, self.k, self.v))
        weights = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / q.shape[-1] ** 0.5, dim=-1)
        heads = torch.matmul(weights, v)                                   # (b, heads, t, head_dim)
        if self.head_gate is not None:
            heads = heads * self.head_gate.view(1, -1, 1, 1)
        return self.out(heads.transpose(1, 2).reshape(b, t, -1))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + MLP(norm(x)).

    Args:
        dim: the token width, >= 1, divisible by ``num_heads``.
        num_heads: heads, >= 1.
        mlp_ratio: the MLP's hidden width over ``dim``, >= 1.

    >>> TransformerBlock(dim=8, num_heads=2)(torch.zeros(1, 3, 8)).shape
    torch.Size([1, 3, 8])
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int = 2):
        super().__init__()
        V.positive_int(dim, "dim")
        V.positive_int(mlp_ratio, "mlp_ratio")
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = HeadAttention(dim, num_heads)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class RowTransformer(nn.Module):
    """A small transformer classifier for (N, 1, H, W) images that reads each image row as a token.

    Args:
        width: the image width (features per row token), >= 1.
        height: the image height (tokens), >= 1.
        dim: the token width, >= 1, divisible by ``num_heads``.
        num_heads: heads per block, >= 1.
        depth: transformer blocks, >= 1.
        num_classes: output logits, >= 2.

    >>> model = RowTransformer(width=8, height=8, dim=16, num_heads=2, depth=1)
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, width: int = 8, height: int = 8, dim: int = 32, num_heads: int = 4, depth: int = 2,
                 num_classes: int = 10):
        super().__init__()
        for value, name in ((width, "width"), (height, "height"), (dim, "dim"), (depth, "depth")):
            V.positive_int(value, name)
        V.integer(num_classes, "num_classes", low=2)
        self.embed = nn.Linear(width, dim)
        self.position = nn.Parameter(torch.zeros(1, height, dim))
        self.blocks = nn.Sequential(*[TransformerBlock(dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"RowTransformer expects (N, 1, H, W) input, got shape {tuple(x.shape)}")
        tokens = self.embed(x[:, 0]) + self.position
        return self.head(self.norm(self.blocks(tokens)).mean(1))


def attention_layers(model: nn.Module) -> list[HeadAttention]:
    """The model's attention layers, in order.

    Args:
        model: read only.
    Returns:
        A new list of the :class:`HeadAttention` modules themselves; empty when there are none.

    >>> [a.num_heads for a in attention_layers(RowTransformer(dim=16, num_heads=2, depth=2))]
    [2, 2]
    """
    return [m for m in V.module(model, "model").modules() if isinstance(m, HeadAttention)]


@torch.no_grad()
def head_ablation(model: nn.Module, data) -> torch.Tensor:
    """Test accuracy with one head masked at a time: a (layers, heads) tensor. The model is unchanged.

    Args:
        model: a model with :class:`HeadAttention` layers (all with the same number of heads).
        data: ``(x, y)`` tensors to score on.
    Returns:
        A float tensor ``(layers, max heads)`` of accuracies in [0, 1]; ``head_gate`` is reset to None after each.

    >>> _ = torch.manual_seed(0)
    >>> model = RowTransformer(dim=16, num_heads=2, depth=2)
    >>> data = (torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,)))
    >>> head_ablation(model, data).shape
    torch.Size([2, 2])
    """
    from .train import accuracy

    layers = attention_layers(V.module(model, "model"))
    if not layers:
        raise ValueError("model has no HeadAttention layers to ablate")
    grid = torch.zeros(len(layers), max(a.num_heads for a in layers))
    for i, att in enumerate(layers):
        for h in range(att.num_heads):
            att.head_gate = torch.ones(att.num_heads)
            att.head_gate[h] = 0.0
            try:
                grid[i, h] = accuracy(model, data)
            finally:
                att.head_gate = None
    return grid


def prune_heads(model: nn.Module, example_inputs, amount: float, *, ignored_layers=None) -> nn.Module:
    """Remove the fraction ``amount`` of heads in every attention layer (smallest L2 norm of a head's
    q/k/v/out weights first), in place, with torch-pruning; returns the model.

    Each layer keeps at least one head. ``num_heads`` of each layer is updated to the heads left.

    Args:
        model: pruned in place; it needs :class:`HeadAttention` layers.
        example_inputs: one input tensor the model is traced with.
        amount: the fraction of heads removed per layer, in [0, 1) (0 returns ``model`` untouched).
        ignored_layers: modules torch-pruning must leave whole; None for none.
    Returns:
        ``model``.

    >>> _ = torch.manual_seed(0)
    >>> model = RowTransformer(dim=16, num_heads=4, depth=1)
    >>> x = torch.randn(2, 1, 8, 8)
    >>> prune_heads(model, x, 0.5) is model
    True
    >>> [a.num_heads for a in attention_layers(model)], model(x).shape
    ([2], torch.Size([2, 10]))
    """
    V.module(model, "model")
    amount = V.fraction(amount, "amount")
    V.tensor(example_inputs, "example_inputs")
    ignored_layers = V.sequence_of([] if ignored_layers is None else ignored_layers, "ignored_layers", V.module)
    layers = attention_layers(model)
    if not layers:
        raise ValueError("model has no HeadAttention layers whose heads could be pruned")
    if amount == 0:
        return model
    num_heads = {p: att.num_heads for att in layers for p in (att.q, att.k, att.v)}
    # Only the attention groups (q, k, v and the output projection's inputs, coupled by the two matmuls)
    # are pruned, and within them whole heads only (prune_head_dims=False). torch-pruning removes heads
    # only inside a group that is pruned at all, hence pruning_ratio=amount with everything else ignored.
    ignored = ignored_layers + [m for m in model.modules() if isinstance(m, nn.Linear)
                                             and m not in num_heads]
    unwrapped = [(p, p.dim() - 1) for n, p in model.named_parameters(recurse=False)]  # e.g. positions
    pruner = tp.pruner.MetaPruner(
        model, example_inputs, importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=amount,
        num_heads=num_heads, prune_num_heads=True, prune_head_dims=False, head_pruning_ratio=amount,
        ignored_layers=ignored, unwrapped_parameters=unwrapped)
    pruner.step()
    for att in layers:
        att.num_heads = int(pruner.num_heads[att.q])
    return model


# ----------------------------------------------------------------------------- whole blocks
class PlainBlock(nn.Module):
    """conv-BN-ReLU-conv-BN-ReLU without the identity: the plain twin of ``models.ResidualBlock``.

    Args:
        channels: input = output channels of both convs, >= 1.

    >>> PlainBlock(4)(torch.zeros(1, 4, 6, 6)).shape
    torch.Size([1, 4, 6, 6])
    """

    def __init__(self, channels: int):
        super().__init__()
        V.positive_int(channels, "channels")
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                                  nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())

    def forward(self, x):
        return self.body(x)


def plain_twin(model: nn.Module) -> nn.Module:
    """A fresh copy of a ``models.ResCNN`` whose residual blocks are plain blocks of the same shape.

    Args:
        model: a ``models.ResCNN`` (with ``stage1`` and ``stage2``); copied, not changed.
    Returns:
        The new model: the other layers are copies of ``model``'s (weights included), the plain blocks
        are freshly initialised.

    >>> from effnn.models import ResCNN
    >>> model = ResCNN(width=4, blocks=1)
    >>> twin = plain_twin(model)
    >>> twin is not model, sum(isinstance(m, PlainBlock) for m in twin.modules())
    (True, 2)
    >>> sum(p.numel() for p in twin.parameters()) == sum(p.numel() for p in model.parameters())
    True
    """
    from .models import ResidualBlock

    V.module(model, "model")
    if not all(isinstance(getattr(model, s, None), nn.Sequential) for s in ("stage1", "stage2")):
        raise TypeError(f"model must be a models.ResCNN (stages stage1 and stage2), got {type(model).__name__}")
    twin = copy.deepcopy(model)
    for stage in (twin.stage1, twin.stage2):
        for i, block in enumerate(stage):
            if isinstance(block, ResidualBlock):
                stage[i] = PlainBlock(block.conv1.in_channels)
    return twin


def blocks_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, block)`` for each residual or plain block of a ``models.ResCNN``-shaped model.

    Args:
        model: read only; it needs at least one block.
    Returns:
        A list of ``(module name, block)`` pairs, the blocks themselves (not copies).

    >>> from effnn.models import ResCNN
    >>> [name for name, _ in blocks_of(ResCNN(width=4, blocks=1))]
    ['stage1.0', 'stage2.0']
    """
    from .models import ResidualBlock

    found = [(n, m) for n, m in V.module(model, "model").named_modules()
             if isinstance(m, (ResidualBlock, PlainBlock))]
    if not found:
        raise ValueError("model has no residual or plain blocks to delete")
    return found


@torch.no_grad()
def block_deletion(model: nn.Module, data) -> dict[str, float]:
    """Test accuracy with one block replaced by the identity at a time ({block name: accuracy}); the
    model is unchanged.

    Args:
        model: each block is swapped out and put back, so ``model`` ends as it started.
        data: ``(x, y)`` tensors, a Dataset or a DataLoader.
    Returns:
        ``{block name: accuracy in [0, 1]}``.

    >>> from effnn.models import ResCNN
    >>> _ = torch.manual_seed(0)
    >>> model = ResCNN(width=4, blocks=1).eval()
    >>> data = (torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,)))
    >>> sorted(block_deletion(model, data))
    ['stage1.0', 'stage2.0']
    """
    from .train import accuracy

    out = {}
    for name, _ in blocks_of(V.module(model, "model")):
        parent_name, _, index = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        original = parent[int(index)]
        parent[int(index)] = nn.Identity()
        try:
            out[name] = accuracy(model, data)
        finally:
            parent[int(index)] = original
    return out
