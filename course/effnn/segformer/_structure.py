"""Read-only views of a Segformer's attention structure (what head pruning acts on)."""
from __future__ import annotations

from torch import nn

from .. import validate as V


def _segformer_classes():
    from transformers.models.segformer import modeling_segformer as hf

    return hf


def attentions(model: nn.Module) -> list:
    """Every ``SegformerAttention`` of the model, in order.

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
    Returns:
        A new list of the attention modules themselves (not copies); empty for a model without any.

    >>> from effnn.models import build_segformer
    >>> tiny = dict(hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=32)
    >>> model = build_segformer(2, seed=0, **tiny)
    >>> [a.num_attention_heads for a in attentions(model)]
    [1, 1, 2, 2, 5, 5, 8, 8]
    """
    V.module(model)
    hf = _segformer_classes()
    return [m for m in model.modules() if isinstance(m, hf.SegformerAttention)]


def head_counts(model: nn.Module) -> dict:
    """``{q_proj: h, k_proj: h, v_proj: h}`` for every attention: torch-pruning's ``num_heads``.

    Reads ``model``; does not change its weights.

    Args:
        model: read only.
    Returns:
        ``{projection module: number of heads}``, three entries per attention.

    >>> from effnn.models import build_segformer
    >>> tiny = dict(hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=32)
    >>> heads = head_counts(build_segformer(2, seed=0, **tiny))
    >>> len(heads), sorted(set(heads.values()))
    (24, [1, 2, 5, 8])
    """
    heads = {}
    for att in attentions(model):
        for proj in (att.q_proj, att.k_proj, att.v_proj):
            heads[proj] = att.num_attention_heads
    return heads
