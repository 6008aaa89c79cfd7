"""The small models the course prunes, quantizes and distils, plus a Segformer builder.

All models take NCHW images; the MLP flattens them itself, so one data pipeline feeds them all.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from . import validate as V


def _hidden(hidden, name: str = "hidden") -> list[int]:
    return V.sequence_of(hidden, name, V.positive_int)


class LeNet300100(nn.Module):
    """LeNet-300-100 (the MLP of "Learning both Weights and Connections", Han et al. 2015).

    ``in_features`` follows the data: 64 for 8x8 digits, 784 for MNIST. ``hidden``: the widths.

    Args:
        in_features: input values per sample, >= 1 (64 for 8x8 digits, 784 for MNIST); inputs are flattened.
        num_classes: output logits, >= 2.
        hidden: the hidden layers' widths, each >= 1 (one ReLU layer per entry).

    >>> net = LeNet300100(); net(torch.zeros(2, 8, 8)).shape, sum(p.numel() for p in net.parameters())
    (torch.Size([2, 10]), 50610)
    """

    def __init__(self, in_features: int = 64, num_classes: int = 10, hidden=(300, 100)):
        super().__init__()
        V.integer(in_features, "in_features")
        V.integer(num_classes, "num_classes")
        if in_features < 1 or num_classes < 2:
            raise ValueError("in_features must be >= 1 and num_classes >= 2")
        hidden = _hidden(hidden)
        sizes = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        self.net = nn.Sequential(*layers)
        self.in_features = in_features

    def forward(self, x):
        if x[0].numel() != self.in_features:
            raise ValueError(f"expected {self.in_features} features per sample, got shape {tuple(x.shape)}")
        return self.net(x)


class LeNet5(nn.Module):
    """A LeNet-5-style CNN: two conv/pool stages and three fully connected layers.

    8x8 inputs (digits) use 3x3 convolutions with padding; 28x28 and larger use 5x5 as in LeCun 1998.

    Args:
        in_channels: input channels, >= 1.
        num_classes: output logits, >= 2.
        input_size: the side of the square input, >= 8 (below 16: 3x3 kernels, else 5x5).
        channels: the two conv layers' output channels.
        hidden: the two hidden fully connected widths.

    >>> LeNet5()(torch.zeros(2, 1, 8, 8)).shape, LeNet5(input_size=28).features[0].kernel_size
    (torch.Size([2, 10]), (5, 5))
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 8,
                 channels=(6, 16), hidden=(120, 84)):
        super().__init__()
        V.positive_int(in_channels, "in_channels")
        V.integer(num_classes, "num_classes", low=2)
        V.integer(input_size, "input_size")
        if input_size < 8:
            raise ValueError(f"input_size must be >= 8, got {input_size}")
        channels = _hidden(channels, "channels")
        hidden = _hidden(hidden)
        if len(channels) != 2 or len(hidden) != 2:
            raise ValueError(f"channels and hidden must have 2 entries each, got {channels} and {hidden}")
        k, pad = (3, 1) if input_size < 16 else (5, 2)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, k, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, k, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = input_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * side * side, hidden[0]), nn.ReLU(),
            nn.Linear(hidden[0], hidden[1]), nn.ReLU(), nn.Linear(hidden[1], num_classes),
        )

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"LeNet5 expects NCHW input, got shape {tuple(x.shape)}")
        return self.classifier(self.features(x))


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the identity: its two convs' outputs are coupled channels.

    Args:
        channels: input = output channels of both convs, >= 1.

    >>> ResidualBlock(4)(torch.zeros(1, 4, 5, 5)).shape
    torch.Size([1, 4, 5, 5])
    """

    def __init__(self, channels: int):
        V.positive_int(channels, "channels")
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class ResCNN(nn.Module):
    """A small CNN with BatchNorm and residual blocks, for structural-pruning experiments.

    Args:
        in_channels: input channels, >= 1.
        num_classes: output logits, >= 2.
        width: stage 1's channels, >= 1 (stage 2 has ``2 * width``).
        blocks: residual blocks per stage, >= 0.

    >>> ResCNN(width=4, blocks=1)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32, blocks: int = 1):
        super().__init__()
        V.positive_int(in_channels, "in_channels")
        V.integer(num_classes, "num_classes", low=2)
        V.positive_int(width, "width")
        V.integer(blocks, "blocks", low=0)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.stage1 = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(2 * width), nn.ReLU())
        self.stage2 = nn.Sequential(*[ResidualBlock(2 * width) for _ in range(blocks)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes))

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"ResCNN expects NCHW input, got shape {tuple(x.shape)}")
        return self.head(self.stage2(self.down(self.stage1(self.stem(x)))))


#: MiT-b0 (SegFormer, Xie et al. 2021): the smallest Mix Transformer encoder.
MIT_B0 = dict(
    num_channels=3, num_encoder_blocks=4, depths=[2, 2, 2, 2], sr_ratios=[8, 4, 2, 1],
    hidden_sizes=[32, 64, 160, 256], patch_sizes=[7, 3, 3, 3], strides=[4, 2, 2, 2],
    num_attention_heads=[1, 2, 5, 8], mlp_ratios=[4, 4, 4, 4], decoder_hidden_size=256,
)


def segformer_config(num_labels: int = 2, **overrides):
    """A ``SegformerConfig``: MiT-b0 by default; any field can be overridden.

    Per-stage lists must have one entry per encoder block, and each hidden size must divide by its
    heads: checked here, with the field named, before transformers fails deeper.

    Args:
        num_labels: segmentation classes, >= 1.
        **overrides: ``SegformerConfig`` fields replacing MiT-b0's (per-stage lists: one positive int
            per encoder block).
    Returns:
        A new ``transformers.SegformerConfig``.

    >>> c = segformer_config(3, depths=[1, 1, 1, 1]); c.num_labels, c.depths, c.hidden_sizes
    (3, [1, 1, 1, 1], [32, 64, 160, 256])
    """
    from transformers import SegformerConfig

    V.integer(num_labels, "num_labels", low=1)
    fields = {**MIT_B0, **overrides}
    blocks = V.positive_int(fields["num_encoder_blocks"], "num_encoder_blocks")
    for key in ("depths", "sr_ratios", "hidden_sizes", "patch_sizes", "strides", "num_attention_heads", "mlp_ratios"):
        V.sequence_of(fields[key], key, V.positive_int, length=blocks)
    heads, hidden = fields["num_attention_heads"], fields["hidden_sizes"]
    for h, d in zip(heads, hidden):
        if d % h:
            raise ValueError(f"hidden_sizes: hidden size {d} is not divisible by {h} attention heads "
                             f"(num_attention_heads)")
    return SegformerConfig(num_labels=num_labels, **fields)


def build_segformer(num_labels: int = 2, pretrained: str | Path | None = None, seed: int = 0, **overrides):
    """``SegformerForSemanticSegmentation``: random init from a config, or a local pretrained folder.

    Nothing is downloaded: ``pretrained`` must be a local directory written by ``save_pretrained``.
    Other keywords override :func:`segformer_config` fields. Returns a new model, seeded by ``seed``.

    Args:
        num_labels: segmentation classes, >= 1 (a pretrained head of another size is re-initialised).
        pretrained: a local folder written by ``save_pretrained``, or None for a random init.
        seed: seeds the random init (unused with ``pretrained``).
        **overrides: :func:`segformer_config` fields, for a random init only.
    Returns:
        A new ``SegformerForSemanticSegmentation``.

    >>> m = build_segformer(2, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32],
    ...                     num_attention_heads=[1, 1, 1, 1], decoder_hidden_size=16)
    >>> m(torch.zeros(1, 3, 32, 32)).logits.shape  # logits at a quarter of the input side
    torch.Size([1, 2, 8, 8])
    """
    from transformers import SegformerForSemanticSegmentation

    V.integer(num_labels, "num_labels", low=1)
    V.integer(seed, "seed")
    if pretrained is not None:
        if not isinstance(pretrained, (str, Path)):
            raise TypeError(f"pretrained must be a path (str or pathlib.Path), got {type(pretrained).__name__}")
        path = Path(pretrained).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"pretrained Segformer folder not found: {path} (no download is attempted)")
        return SegformerForSemanticSegmentation.from_pretrained(str(path), num_labels=num_labels,
                                                                ignore_mismatched_sizes=True,
                                                                local_files_only=True)
    torch.manual_seed(seed)
    return SegformerForSemanticSegmentation(segformer_config(num_labels, **overrides))


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Spatial output size of a convolution: floor((size + 2p - k) / s) + 1.

    Args:
        size: the input's side, >= 1.
        kernel: the kernel's side, >= 1, at most ``size + 2 * padding``.
        stride: >= 1.
        padding: zeros added on each side, >= 0.
    Returns:
        The output's side, an int.

    >>> conv_output_size(28, 5, stride=1, padding=2)
    28
    """
    V.positive_int(size, "size")
    V.positive_int(kernel, "kernel")
    V.positive_int(stride, "stride")
    V.integer(padding, "padding", low=0)
    if size + 2 * padding < kernel:
        raise ValueError(f"kernel={kernel} is larger than the padded input ({size} + 2*{padding})")
    return math.floor((size + 2 * padding - kernel) / stride) + 1
