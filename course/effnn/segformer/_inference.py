"""Inference on the baseline: logits in batches, upsampling, the teacher's logits, the latency probe."""
from __future__ import annotations

import torch
from torch import nn

from .. import validate as V
from ._data import as_float

DEPLOY_SIZE = 256  # latency is measured here: at 96x96 per-op overhead hides most of the gain
# ... on one thread: a batch-1 deployment on one laptop or phone core, and the only stable timing on a
# shared 2-core machine (there, 2-thread ratios of the same pair of models drift by about 10 %)
DEPLOY_THREADS = 1


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Logits ``(N, C, H/4, W/4)`` of every image (uint8 or float), in eval mode.

    Reads ``model``; does not change its weights.

    Args:
        model: read only (its train/eval mode is restored).
        images: ``(N, 3, H, W)``, uint8 or float.
        batch_size: images per forward pass, >= 1 (memory, not the result).
    Returns:
        A new float tensor ``(N, C, H/4, W/4)``.

    >>> from effnn.models import build_segformer
    >>> tiny = dict(hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=32)
    >>> model = build_segformer(2, seed=0, **tiny).train()
    >>> images = torch.zeros(3, 3, 64, 64, dtype=torch.uint8)
    >>> predict_logits(model, images, batch_size=2).shape, model.training
    (torch.Size([3, 2, 16, 16]), True)
    """
    V.module(model)
    V.tensor(images, "images", ndim=4)
    batch_size = V.positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    out = torch.cat([logits_of(model, as_float(images[i:i + batch_size]))
                     for i in range(0, len(images), batch_size)])
    model.train(was_training)
    return out


def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(N, C, H/4, W/4)`` whatever the model returns (a HF output or a tensor).

    Reads ``model``; does not change its weights.

    Args:
        model: called once on ``x``; weights unchanged (it runs in whatever mode it is in, with gradients).
        x: the float input batch.
    Returns:
        The logits tensor.

    >>> from effnn.models import build_segformer
    >>> tiny = dict(hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=32)
    >>> model = build_segformer(2, seed=0, **tiny).eval()
    >>> logits_of(model, torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 2, 16, 16])
    """
    out = V.module(model, "model")(x)
    return out.logits if hasattr(out, "logits") else out


def upsample(logits: torch.Tensor, size) -> torch.Tensor:
    """Bilinear upsampling of logits to the label size, as Segformer's own loss does.

    Args:
        logits: ``(N, C, h, w)``.
        size: the target ``(H, W)``, two ints >= 1 (a tuple, list or ``torch.Size``).
    Returns:
        ``(N, C, H, W)``: ``logits`` itself when it already has that size, else a new tensor.

    >>> upsample(torch.zeros(1, 2, 16, 16), (64, 64)).shape
    torch.Size([1, 2, 64, 64])
    """
    V.tensor(logits, "logits", ndim=4)
    if isinstance(size, torch.Size):
        size = tuple(size)
    size = tuple(V.sequence_of(size, "size", lambda v, n: V.positive_int(v, n), length=2))
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return nn.functional.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


@torch.no_grad()
def teacher_logits(teacher: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The teacher's logits for every image, computed once and reused by every fine-tuning run.

    Reads ``teacher`` (left in eval mode); does not change its weights.

    Args:
        teacher: read only; put in eval mode.
        images: ``(N, 3, H, W)``, uint8 or float.
        batch_size: images per forward pass, >= 1 (memory, not the result).
    Returns:
        A new float tensor ``(N, C, H/4, W/4)``.

    >>> from effnn.models import build_segformer
    >>> tiny = dict(hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=32)
    >>> teacher = build_segformer(2, seed=0, **tiny)
    >>> images = torch.rand(2, 3, 64, 64)
    >>> torch.equal(teacher_logits(teacher, images), predict_logits(teacher, images)), teacher.training
    (True, False)
    """
    V.module(teacher, "teacher")
    V.tensor(images, "images", ndim=4)
    batch_size = V.positive_int(batch_size, "batch_size")
    teacher.eval()
    return torch.cat([logits_of(teacher, as_float(images[i:i + batch_size]))
                      for i in range(0, len(images), batch_size)])


def deploy_input(size: int = DEPLOY_SIZE) -> torch.Tensor:
    """The latency probe: one RGB image at the deployment resolution, batch 1.

    Args:
        size: the image side, an int >= 32.
    Returns:
        A new ``(1, 3, size, size)`` float tensor in [0, 1), the same for every call (own seeded generator).

    >>> x = deploy_input(64)
    >>> x.shape, torch.equal(x, deploy_input(64))
    (torch.Size([1, 3, 64, 64]), True)
    """
    size = V.integer(size, "size", low=32)
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
