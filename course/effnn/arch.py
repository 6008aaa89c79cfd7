"""Efficient building blocks and architectures, with their cost formulas next to the measured cost.

- :class:`DepthwiseSeparableConv` (MobileNet, Howard et al. 2017): a :math:`k\\times k` depthwise
  conv then a :math:`1\\times 1` pointwise conv, :math:`\\frac{1}{d}+\\frac{1}{k^2}` of a standard conv.
- :class:`Fire` (SqueezeNet, Iandola et al. 2016): squeeze with 1x1, expand with 1x1 and 3x3.
- :func:`compound_scaling` (EfficientNet, Tan & Le 2019): depth :math:`\\alpha^\\phi`, width
  :math:`\\beta^\\phi`, resolution :math:`\\gamma^\\phi`, FLOPs :math:`(\\alpha\\beta^2\\gamma^2)^\\phi`.
- :func:`architecture_table`: params / MACs / CPU latency of real architectures with random weights,
  built by torchvision when it imports and otherwise by transformers; nothing is downloaded.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import validate as V
from .validate import positive_int


# ----------------------------------------------------------------------------------- formulas
def conv_macs(c_in: int, c_out: int, k: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """MACs of a conv: every output value sums :math:`(c_{in}/g)\\,k^2` products.

    Args:
        c_in: input channels, >= 1.
        c_out: output channels, >= 1.
        k: kernel side, >= 1.
        h_out: output height, >= 1.
        w_out: output width, >= 1.
        groups: >= 1, dividing ``c_in`` and ``c_out``.
    Returns:
        MACs, an int.

    >>> conv_macs(3, 8, 3, 10, 10)
    21600
    """
    for v, n in ((c_in, "c_in"), (c_out, "c_out"), (k, "k"), (h_out, "h_out"), (w_out, "w_out"), (groups, "groups")):
        positive_int(v, n)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")
    return c_out * h_out * w_out * (c_in // groups) * k * k


def conv_params(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = False) -> int:
    """Weights of a conv (plus ``c_out`` biases).

    Args:
        c_in: input channels, >= 1.
        c_out: output channels, >= 1.
        k: kernel side, >= 1.
        groups: >= 1, dividing ``c_in`` and ``c_out``.
        bias: count ``c_out`` biases too.
    Returns:
        The parameter count, an int.

    >>> conv_params(3, 8, 3, bias=True)
    224
    """
    for v, n in ((c_in, "c_in"), (c_out, "c_out"), (k, "k"), (groups, "groups")):
        positive_int(v, n)
    V.flag(bias, "bias")
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def separable_macs(c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> int:
    """:math:`c_{in}k^2HW` (depthwise) :math:`+\\,c_{in}c_{out}HW` (pointwise).

    Compare :func:`conv_macs` of the standard conv: the saving is about :math:`1/c_{out} + 1/k^2`.

    Args:
        c_in: input channels, >= 1.
        c_out: output channels, >= 1.
        k: depthwise kernel side, >= 1.
        h_out: output height, >= 1.
        w_out: output width, >= 1.
    Returns:
        MACs, an int.

    >>> separable_macs(8, 16, 3, 10, 10), conv_macs(8, 16, 3, 10, 10)
    (20000, 115200)
    """
    return conv_macs(c_in, c_in, k, h_out, w_out, groups=c_in) + conv_macs(c_in, c_out, 1, h_out, w_out)


def separable_params(c_in: int, c_out: int, k: int) -> int:
    """:math:`c_{in}k^2` (depthwise) :math:`+\\,c_{in}c_{out}` (pointwise) weights.

    Args:
        c_in: input channels, >= 1.
        c_out: output channels, >= 1.
        k: depthwise kernel side, >= 1.
    Returns:
        The weight count (no biases), an int.

    >>> separable_params(3, 8, 3)
    51
    """
    return conv_params(c_in, c_in, k, groups=c_in) + conv_params(c_in, c_out, 1)


class DepthwiseSeparableConv(nn.Module):
    """Depthwise :math:`k\\times k` (``groups=c_in``) then pointwise 1x1; no bias, no norm, so the
    parameter and MAC counts equal :func:`separable_params` / :func:`separable_macs` exactly.

    Args:
        c_in: input channels, >= 1.
        c_out: output channels, >= 1.
        k: the depthwise kernel side, >= 1 (padding ``k // 2`` keeps the size for odd ``k``).
        stride: the depthwise conv's stride, >= 1.

    >>> block = DepthwiseSeparableConv(8, 16)
    >>> block(torch.zeros(1, 8, 10, 10)).shape, sum(p.numel() for p in block.parameters()) == separable_params(8, 16, 3)
    (torch.Size([1, 16, 10, 10]), True)
    """

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1):
        super().__init__()
        for value, name in ((c_in, "c_in"), (c_out, "c_out"), (k, "k"), (stride, "stride")):
            positive_int(value, name)
        self.depthwise = nn.Conv2d(c_in, c_in, k, stride=stride, padding=k // 2, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class Fire(nn.Module):
    """SqueezeNet's fire module: 1x1 squeeze to ``s`` channels, then concat(1x1 -> e1, 3x3 -> e3).

    Params :math:`c_{in}s + s e_1 + 9 s e_3` (+ biases) instead of :math:`9 c_{in}(e_1+e_3)`.
    The output has ``expand1x1 + expand3x3`` channels at the input's size.

    Args:
        c_in: input channels, >= 1.
        squeeze: the 1x1 squeeze's output channels, >= 1.
        expand1x1: the 1x1 expand's output channels, >= 1.
        expand3x3: the 3x3 expand's output channels, >= 1.

    >>> fire = Fire(64, squeeze=16, expand1x1=64, expand3x3=64)
    >>> fire(torch.zeros(1, 64, 5, 5)).shape, sum(p.numel() for p in fire.parameters())
    (torch.Size([1, 128, 5, 5]), 11408)
    """

    def __init__(self, c_in: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        for v, n in ((c_in, "c_in"), (squeeze, "squeeze"), (expand1x1, "expand1x1"), (expand3x3, "expand3x3")):
            positive_int(v, n)
        self.squeeze = nn.Conv2d(c_in, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)

    def forward(self, x):
        s = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], 1)


def squeezenet(num_classes: int = 1000, version: str = "1.1") -> nn.Sequential:
    """SqueezeNet 1.0 / 1.1 built from :class:`Fire` (same layer sizes as the paper / torchvision).

    Random weights; the head is a 1x1 conv, so any input of at least 64 pixels a side works.

    Args:
        num_classes: output logits, >= 1.
        version: ``"1.0"`` or ``"1.1"`` (1.1: the same accuracy for about 2.4x fewer MACs).
    Returns:
        A new ``nn.Sequential``.

    >>> squeezenet(num_classes=10)(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 10])
    """
    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
    if version == "1.0":
        stem = [nn.Conv2d(3, 96, 7, stride=2), nn.ReLU(), pool()]
        body = [Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
                Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256), pool(), Fire(512, 64, 256, 256)]
    elif version == "1.1":
        stem = [nn.Conv2d(3, 64, 3, stride=2), nn.ReLU(), pool()]
        body = [Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(), Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128), pool(), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256), Fire(512, 64, 256, 256)]
    else:
        raise ValueError(f"version must be '1.0' or '1.1', got {version!r}")
    head = [nn.Dropout(0.5), nn.Conv2d(512, positive_int(num_classes, "num_classes"), 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*stem, *body, *head)


# ---------------------------------------------------------------------------- compound scaling
#: The coefficients EfficientNet's grid search found for B0 (alpha * beta^2 * gamma^2 = 1.92 ~ 2).
EFFICIENTNET_ABG = (1.2, 1.1, 1.15)


def compound_scaling(phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15,
                     base_resolution: int = 224) -> dict:
    """Depth / width / resolution multipliers for compound coefficient ``phi`` and the FLOPs factor.

    FLOPs of a conv net grow like depth x width^2 x resolution^2, so the factor is
    :math:`(\\alpha\\beta^2\\gamma^2)^\\phi \\approx 2^\\phi`.

    Args:
        phi: the compound coefficient, a finite number >= 0.
        alpha: depth base, >= 1.
        beta: width base, >= 1.
        gamma: resolution base, >= 1.
        base_resolution: B0's input side, >= 1.
    Returns:
        ``{"phi", "depth", "width", "resolution_mult", "resolution", "flops_factor"}``
        (``resolution`` rounded to an int).

    >>> s = compound_scaling(1); s["resolution"], round(s["flops_factor"], 2)
    (258, 1.92)
    """
    V.number(phi, "phi", low=0)
    for v, n in ((alpha, "alpha"), (beta, "beta"), (gamma, "gamma")):
        if V.number(v, n) < 1:
            raise ValueError(f"{n} must be >= 1 (scaling never shrinks), got {v!r}")
    positive_int(base_resolution, "base_resolution")
    return {"phi": phi, "depth": alpha ** phi, "width": beta ** phi, "resolution_mult": gamma ** phi,
            "resolution": int(round(base_resolution * gamma ** phi)),
            "flops_factor": (alpha * beta ** 2 * gamma ** 2) ** phi}


def compound_grid(target: float = 2.0, step: float = 0.05, tol: float = 0.1, max_value: float = 2.0) -> list[tuple]:
    """All ``(alpha, beta, gamma)`` on a grid with :math:`|\\alpha\\beta^2\\gamma^2 - target| \\le tol`:
    the feasible set EfficientNet's small grid search chose from at :math:`\\phi = 1`.

    Args:
        target: the FLOPs factor wanted at ``phi = 1``, >= 1.
        step: the grid spacing, > 0 (at most 1000 values per axis).
        tol: the allowed miss, >= 0.
        max_value: the grid's top for each of alpha, beta, gamma, >= 1.
    Returns:
        A list of ``(alpha, beta, gamma)`` tuples, in grid order.

    >>> grid = compound_grid(step=0.1, tol=0.05); len(grid), grid[0]
    (10, (1.0, 1.0, 1.4))
    """
    V.number(target, "target", low=1)
    V.number(step, "step", low=0, low_open=True)
    V.number(tol, "tol", low=0)
    V.number(max_value, "max_value", low=1)
    if (max_value - 1) / step > 1000:
        raise ValueError(f"step={step} is too fine for max_value={max_value}: over 1000 grid values per axis")
    values = [round(1 + i * step, 6) for i in range(int(round((max_value - 1) / step)) + 1)]
    return [(a, b, g) for a in values for b in values for g in values
            if abs(a * b * b * g * g - target) <= tol]


# -------------------------------------------------------------------------- real architectures
def backend() -> str:
    """``"torchvision"`` when it imports (conda CPU builds), else ``"transformers"`` (pip CPU here).

    Returns:
        ``"torchvision"`` or ``"transformers"``.

    >>> backend() in ("torchvision", "transformers")
    True
    """
    try:
        import torchvision.models  # noqa: F401
        return "torchvision"
    except Exception:  # ImportError, or RuntimeError from a CUDA-only wheel on a CPU machine
        return "transformers"


class _Logits(nn.Module):
    """Make a transformers image classifier look like ``model(x) -> logits``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(pixel_values=x).logits


def _transformers_zoo() -> dict:
    import transformers as T

    def eff(phi=0.0):
        s = compound_scaling(phi)
        return T.EfficientNetForImageClassification(T.EfficientNetConfig(
            width_coefficient=s["width"], depth_coefficient=s["depth"], image_size=s["resolution"],
            hidden_dim=int(round(1280 * s["width"] / 8) * 8), num_labels=1000))

    return {
        "ResNet-50": lambda: T.ResNetForImageClassification(T.ResNetConfig(num_labels=1000)),
        "ResNet-18": lambda: T.ResNetForImageClassification(T.ResNetConfig(
            depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512], layer_type="basic", num_labels=1000)),
        "MobileNetV1": lambda: T.MobileNetV1ForImageClassification(T.MobileNetV1Config(num_labels=1000)),
        "MobileNetV2": lambda: T.MobileNetV2ForImageClassification(T.MobileNetV2Config(num_labels=1000)),
        "EfficientNet-B0": lambda: eff(0.0),
    }


def _torchvision_zoo() -> dict:
    import torchvision.models as tvm

    return {"ResNet-50": tvm.resnet50, "ResNet-18": tvm.resnet18, "MobileNetV2": tvm.mobilenet_v2,
            "EfficientNet-B0": tvm.efficientnet_b0, "SqueezeNet-1.1": tvm.squeezenet1_1}


#: Published figures: (params in millions, multiply-adds in millions at 224x224, source).
PAPER = {
    "ResNet-50": (25.6, 3800, "He et al. 2016, Table 1 (3.8e9 FLOPs = mult-adds)"),
    "ResNet-18": (11.7, 1800, "He et al. 2016, Table 1"),
    "MobileNetV1": (4.2, 569, "Howard et al. 2017, Table 8"),
    "MobileNetV2": (3.4, 300, "Sandler et al. 2018, Table 4"),
    "EfficientNet-B0": (5.3, 390, "Tan & Le 2019, Table 2 (0.39B FLOPs = mult-adds)"),
    "SqueezeNet-1.1": (1.24, None, "Iandola et al. 2016 (1.0: 1.25M params); 1.1 is its cheaper revision"),
}


def _build(name: str, source: str) -> tuple[nn.Module, str]:
    """The model and the path that really built it (torchvision lacks MobileNetV1; transformers
    lacks SqueezeNet, which :func:`squeezenet` builds from fire modules)."""
    if source not in ("torchvision", "transformers"):
        raise ValueError(f"source must be 'torchvision' or 'transformers', got {source!r}")
    known = set(PAPER)
    if name not in known:
        raise ValueError(f"name must be one of {sorted(known)}, got {name!r}")
    torch.manual_seed(0)
    if source == "torchvision" and name in _torchvision_zoo():
        return _torchvision_zoo()[name]().eval(), "torchvision"
    if name == "SqueezeNet-1.1":
        return squeezenet(1000, "1.1").eval(), "effnn.arch.squeezenet"
    return _Logits(_transformers_zoo()[name]()).eval(), "transformers"


def build(name: str, source: str | None = None) -> nn.Module:
    """One architecture with random weights (eval mode), ``model(x) -> logits``; no download.

    Args:
        name: a key of ``PAPER``.
        source: ``"torchvision"`` or ``"transformers"``; None for :func:`backend`. torchvision lacks
            MobileNetV1 (built by transformers then); with transformers, SqueezeNet comes from
            :func:`squeezenet`.
    Returns:
        A new model in eval mode, seeded, so two builds are equal.

    >>> m = build("SqueezeNet-1.1", source="transformers"); type(m).__name__, m.training
    ('Sequential', False)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if source is not None and not isinstance(source, str):
        raise TypeError(f"source must be a str or None, got {type(source).__name__}")
    return _build(name, source or backend())[0]


def architecture_table(names=None, resolution: int = 224, *, source: str | None = None,
                       min_run_time: float = 0.3, progress: bool = True) -> list[dict]:
    """Params, MACs and CPU latency (batch 1, 2 threads) of each architecture, with paper figures;
    ``source`` in each row says which library built it.

    Latency is noisy: compare rows of one call, not across machines.

    Args:
        names: keys of ``PAPER`` (default: all).
        resolution: the input side, >= 32.
        source: ``"torchvision"`` or ``"transformers"``; None for :func:`backend`.
        min_run_time: seconds per timing, > 0.
        progress: show a progress bar over the models.
    Returns:
        One dict per model: ``model``, ``source``, ``params_M``, ``macs_M``, ``latency_ms``,
        ``paper_params_M``, ``paper_macs_M_224``, ``resolution``.

    >>> rows = architecture_table(["SqueezeNet-1.1"], resolution=32, source="transformers",
    ...                           min_run_time=0.01, progress=False)
    >>> rows[0]["source"], round(rows[0]["params_M"], 3), rows[0]["paper_params_M"]
    ('effnn.arch.squeezenet', 1.235, 1.24)
    """
    from .measure import count_macs, count_params, latency
    from .train import progress_bar

    source = source or backend()
    V.choice(source, "source", ("torchvision", "transformers"))
    if names is not None and (isinstance(names, str) or not hasattr(names, "__iter__")):
        raise TypeError(f"names must be a list of architecture names, got {type(names).__name__}")
    names = list(names or PAPER)
    for n in names:
        V.choice(n, "names", sorted(PAPER))
    positive_int(resolution, "resolution")
    if resolution < 32:
        raise ValueError(f"resolution must be >= 32 (the networks downsample 32x), got {resolution}")
    V.number(min_run_time, "min_run_time", low=0, low_open=True)
    V.flag(progress, "progress")
    x = torch.randn(1, 3, resolution, resolution)
    rows = []
    for name in progress_bar(names, desc="architectures", disable=not progress):
        model, built_by = _build(name, source)
        paper = PAPER[name]
        rows.append({"model": name, "source": built_by, "params_M": count_params(model) / 1e6,
                     "macs_M": count_macs(model, x) / 1e6,
                     "latency_ms": latency(model, x, min_run_time=min_run_time, warmup=1).median_ms,
                     "paper_params_M": paper[0], "paper_macs_M_224": paper[1], "resolution": resolution})
    return rows


def efficientnet_scaling_macs(phis=(0, 1, 2), resolution_scale: float = 1.0) -> list[dict]:
    """Measured MACs of EfficientNet scaled by :func:`compound_scaling` (transformers' config, whose
    ``width_coefficient``/``depth_coefficient`` round channels and repeats as the paper does).

    ``resolution_scale`` < 1 shrinks every input side (for fast mode): the ratios stay comparable.

    Args:
        phis: a non-empty list of compound coefficients, each >= 0.
        resolution_scale: in (0, 1]: every input side is scaled by it (at least 32 pixels).
    Returns:
        One dict per phi: the :func:`compound_scaling` keys plus ``input_side``, ``params_M``,
        ``macs_M`` and ``measured_factor`` (MACs over the first phi's).
    """
    import transformers as T

    from .measure import count_macs, count_params

    if isinstance(phis, (str, bytes)) or not hasattr(phis, "__iter__"):
        raise TypeError(f"phis must be a list of numbers, got {type(phis).__name__}")
    phis = list(phis)
    if not phis:
        raise ValueError("phis is empty")
    for i, phi in enumerate(phis):
        V.number(phi, f"phis[{i}]", low=0)
    V.number(resolution_scale, "resolution_scale", low=0, high=1, low_open=True)
    rows = []
    for phi in phis:
        s = compound_scaling(phi)
        cfg = T.EfficientNetConfig(width_coefficient=s["width"], depth_coefficient=s["depth"],
                                   image_size=s["resolution"], num_labels=1000,
                                   hidden_dim=int(round(1280 * s["width"] / 8) * 8))
        torch.manual_seed(0)
        model = _Logits(T.EfficientNetForImageClassification(cfg)).eval()
        side = max(32, int(round(s["resolution"] * resolution_scale)))
        macs = count_macs(model, torch.randn(1, 3, side, side))
        rows.append({**s, "input_side": side, "params_M": count_params(model) / 1e6, "macs_M": macs / 1e6})
    base = rows[0]["macs_M"]
    for r in rows:
        r["measured_factor"] = r["macs_M"] / base
    return rows


def scaled_cnn(depth_mult: float = 1.0, width_mult: float = 1.0, base_depth: int = 2, base_width: int = 16,
               num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """A plain 2-stage CNN whose depth and width scale like EfficientNet's (ceil depth, round width).

    Stage 2 has twice stage 1's width.

    Args:
        depth_mult: > 0; each stage has ``ceil(base_depth * depth_mult)`` convs.
        width_mult: > 0; stage 1 has ``round(base_width * width_mult)`` channels (at least 1).
        base_depth: convs per stage at multiplier 1, >= 1.
        base_width: stage 1's channels at multiplier 1, >= 1.
        num_classes: output logits, >= 1.
        in_channels: input channels, >= 1.
    Returns:
        A new ``nn.Sequential``.

    >>> net = scaled_cnn(depth_mult=1.5, width_mult=0.5)
    >>> sum(isinstance(m, nn.Conv2d) for m in net), net[0].out_channels, net(torch.zeros(2, 1, 8, 8)).shape
    (6, 8, torch.Size([2, 10]))
    """
    V.number(depth_mult, "depth_mult", low=0, low_open=True)
    V.number(width_mult, "width_mult", low=0, low_open=True)
    for v, n in ((base_depth, "base_depth"), (base_width, "base_width"), (num_classes, "num_classes"),
                 (in_channels, "in_channels")):
        positive_int(v, n)
    depth = int(math.ceil(base_depth * depth_mult))
    width = max(1, int(round(base_width * width_mult)))
    layers, c = [], in_channels
    for stage in range(2):
        for _ in range(depth):
            layers += [nn.Conv2d(c, width * (stage + 1), 3, padding=1), nn.ReLU()]
            c = width * (stage + 1)
        layers.append(nn.MaxPool2d(2) if stage == 0 else nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c, num_classes))
