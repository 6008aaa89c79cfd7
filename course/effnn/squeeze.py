"""SqueezeNet at the scale of 8x8 digits, for its Deep Compression story.

Iandola et al. (*SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size*, 2016) reach AlexNet's accuracy with 50x fewer parameters by design (fire modules: 1x1
"squeeze" convs feeding 1x1 and 3x3 "expand" convs, late pooling, no fully connected layers), and
then compress the small network further with Deep Compression, 510x smaller than AlexNet in all.
:func:`mini_squeezenet` keeps that design (:class:`effnn.arch.Fire`, a 1x1 conv classifier, global
average pooling) at a size that trains on digits in seconds; lecture 04c runs Deep Compression on
it with :mod:`effnn.compression`.
"""
from __future__ import annotations

from torch import nn

from . import validate as V
from .arch import Fire


def mini_squeezenet(in_channels: int = 1, num_classes: int = 10, width: int = 32, squeeze: int = 16) -> nn.Sequential:
    """A three-fire SqueezeNet for small images: conv stem, two fires, max-pool, a wider fire, 1x1 classifier.

    Fires expand to ``width`` channels (half 1x1, half 3x3) from ``squeeze`` channels, the last one to
    ``2 * width`` from ``2 * squeeze``; as in SqueezeNet the classifier is a 1x1 conv followed by global
    average pooling, so there is no fully connected layer. SqueezeNet puts a ReLU on the class maps;
    at this size that ReLU can silence every class at the start of training, so it is left out.

    Args:
        in_channels: input channels, >= 1.
        num_classes: output logits, >= 2.
        width: the first fires' output channels, even, >= 2.
        squeeze: the first fires' squeeze channels, >= 1.
    Returns:
        A new ``nn.Sequential``.

    >>> sum(p.numel() for p in mini_squeezenet().parameters())
    18570
    """
    in_channels = V.positive_int(in_channels, "in_channels")
    num_classes = V.integer(num_classes, "num_classes", low=2)
    width, squeeze = V.positive_int(width, "width"), V.positive_int(squeeze, "squeeze")
    if width % 2:
        raise ValueError(f"width must be even (half 1x1, half 3x3 expand channels), got {width}")
    half = width // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
        Fire(width, squeeze, half, half), Fire(width, squeeze, half, half),
        nn.MaxPool2d(2),
        Fire(width, 2 * squeeze, width, width),
        nn.Conv2d(2 * width, num_classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
