"""One-shot NAS with a weight-sharing supernet, and Kendall's tau to judge its ranking.

Every layer of :class:`SuperNet` stores the largest kernel (``max width x max width x k_max x
k_max``); a sub-net with width ``w`` and kernel ``k`` uses the first ``w`` filters and the centre
``k x k`` of each (Once-for-All, Cai et al. 2020, without its kernel transform). Training samples one
path per step uniformly (Single Path One-Shot, Guo et al. 2020), so all sub-nets share and update the
same weights; afterwards sub-nets are *ranked* by their accuracy with the inherited weights. The
ranking is only useful if it agrees with stand-alone training: that agreement is Kendall's tau.
"""
from __future__ import annotations

import itertools
import random

import torch
from torch import nn
from torch.nn import functional as F

from . import validate as V
from .train import TrainConfig, _config, accuracy, make_optimizer, progress_bar, seed_everything, as_loader


def _iterable(v) -> bool:
    return hasattr(v, "__iter__") and not isinstance(v, (str, bytes, dict))


def kendall_tau(a, b) -> float:
    """Kendall's :math:`\\tau_b`: (concordant - discordant) pairs, normalised for ties.

    :math:`\\tau_b = (n_c - n_d) / \\sqrt{(n_0 - n_1)(n_0 - n_2)}` with :math:`n_0 = n(n-1)/2` and
    :math:`n_1, n_2` the pairs tied in ``a`` or in ``b``; equals ``scipy.stats.kendalltau``.

    Args:
        a: finite numbers (a list, tuple or other iterable), at least two.
        b: as many finite numbers; neither may be constant.
    Returns:
        A float in [-1, 1].

    >>> kendall_tau([1, 2, 3], [1, 3, 2])
    0.3333333333333333
    """
    a = V.sequence_of(list(a) if _iterable(a) else a, "a", V.number)
    b = V.sequence_of(list(b) if _iterable(b) else b, "b", V.number)
    if len(a) != len(b):
        raise ValueError(f"a and b must have the same length, got {len(a)} and {len(b)}")
    if len(a) < 2:
        raise ValueError("kendall_tau needs at least two items")
    concordant = discordant = ties_a = ties_b = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        da, db = a[i] - a[j], b[i] - b[j]
        if da == 0:
            ties_a += 1
        if db == 0:
            ties_b += 1
        if da * db > 0:
            concordant += 1
        elif da * db < 0:
            discordant += 1
    n0 = len(a) * (len(a) - 1) // 2
    denom = ((n0 - ties_a) * (n0 - ties_b)) ** 0.5
    if denom == 0:
        raise ValueError("kendall_tau is undefined when a or b is constant (all ties)")
    return (concordant - discordant) / denom


class SuperNet(nn.Module):
    """``layers`` shared conv layers on NCHW images, a 2x2 max-pool after the first, then a shared
    linear head on the flattened ``width x (side/2)^2`` features.

    An architecture is a tuple of ``(width, kernel)`` per layer; see :meth:`search_space`. Because
    the flatten is channel-major, a sub-net of width ``w`` reads the first ``w * (side/2)^2``
    columns of the head. ``forward(x, arch)`` runs one sub-net (default: the largest);
    ``extract(arch)`` copies it out as a plain network with the same outputs.

    Args:
        in_channels: input channels, >= 1.
        num_classes: output logits, >= 1.
        layers: shared conv layers, >= 1.
        widths: the width choices per layer, positive ints.
        kernels: the kernel-size choices per layer, odd positive ints.
        input_size: the side of the square input, even and >= 2.

    >>> _ = torch.manual_seed(0); sn = SuperNet(layers=2, widths=(2, 4), kernels=(1, 3))
    >>> arch = ((2, 3), (4, 1)); x = torch.ones(1, 1, 8, 8)
    >>> len(sn.search_space()), torch.allclose(sn.extract(arch)(x), sn(x, arch))
    (16, True)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, layers: int = 3,
                 widths=(4, 8, 16), kernels=(1, 3, 5), input_size: int = 8):
        super().__init__()
        V.positive_int(in_channels, "in_channels")
        V.positive_int(num_classes, "num_classes")
        V.positive_int(layers, "layers")
        widths = V.sequence_of(widths, "widths", V.positive_int)
        kernels = V.sequence_of(kernels, "kernels", V.positive_int)
        if not widths or not kernels or any(k % 2 == 0 or k < 1 for k in kernels) or min(widths) < 1:
            raise ValueError("widths must be positive and kernels odd positive integers")
        V.integer(input_size, "input_size")
        self.widths, self.kernels = tuple(sorted(widths)), tuple(sorted(kernels))
        wmax, kmax = self.widths[-1], self.kernels[-1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        c = in_channels
        for _ in range(layers):
            conv = nn.Conv2d(c, wmax, kmax, padding=kmax // 2)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # He init: signal survives depth
            nn.init.zeros_(conv.bias)
            self.weights.append(conv.weight)
            self.biases.append(conv.bias)
            c = wmax
        if input_size < 2 or input_size % 2:
            raise ValueError(f"input_size must be even and >= 2, got {input_size}")
        self.cells = (input_size // 2) ** 2
        self.head = nn.Linear(wmax * self.cells, num_classes)
        self.in_channels, self.input_size = in_channels, input_size

    def search_space(self) -> list[tuple]:
        choices = list(itertools.product(self.widths, self.kernels))
        return list(itertools.product(choices, repeat=len(self.weights)))

    def sample(self, rng: random.Random) -> tuple:
        """A uniformly random architecture drawn with ``rng`` (a ``random.Random``)."""
        if not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
        return tuple((rng.choice(self.widths), rng.choice(self.kernels)) for _ in self.weights)

    def _check(self, arch):
        if not isinstance(arch, (tuple, list)) or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in arch):
            raise TypeError("arch must be a tuple of (width, kernel) pairs")
        if len(arch) != len(self.weights):
            raise ValueError(f"arch must have {len(self.weights)} (width, kernel) pairs, got {len(arch)}")
        for w, k in arch:
            if w not in self.widths or k not in self.kernels:
                raise ValueError(f"arch choice {(w, k)} is outside widths {self.widths} x kernels {self.kernels}")

    def _slice(self, i: int, c_in: int, w: int, k: int):
        kmax = self.kernels[-1]
        off = (kmax - k) // 2
        weight = self.weights[i][:w, :c_in, off:off + k, off:off + k]
        return weight, self.biases[i][:w]

    def forward(self, x, arch=None):
        arch = arch or tuple((self.widths[-1], self.kernels[-1]) for _ in self.weights)
        self._check(arch)
        c = self.in_channels
        for i, (w, k) in enumerate(arch):
            weight, bias = self._slice(i, c, w, k)
            x = F.relu(F.conv2d(x, weight, bias, padding=k // 2))
            if i == 0:
                x = F.max_pool2d(x, 2)
            c = w
        return F.linear(x.flatten(1), self.head.weight[:, :c * self.cells], self.head.bias)

    @torch.no_grad()
    def extract(self, arch) -> nn.Sequential:
        """A stand-alone ``nn.Sequential`` holding copies of the sub-net's slices of the weights."""
        self._check(arch)
        layers, c = [], self.in_channels
        for i, (w, k) in enumerate(arch):
            conv = nn.Conv2d(c, w, k, padding=k // 2)
            weight, bias = self._slice(i, c, w, k)
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
            layers += [conv, nn.ReLU()] + ([nn.MaxPool2d(2)] if i == 0 else [])
            c = w
        head = nn.Linear(c * self.cells, self.head.out_features)
        head.weight.copy_(self.head.weight[:, :c * self.cells])
        head.bias.copy_(self.head.bias)
        return nn.Sequential(*layers, nn.Flatten(), head)


def fresh_subnet(supernet: SuperNet, arch, seed: int = 0) -> nn.Sequential:
    """The same architecture with fresh random weights, for stand-alone training.

    ``supernet`` is not changed. The control that tells whether inherited
    weights rank architectures as training from scratch would.

    Args:
        supernet: read only (for its shape settings).
        arch: one ``(width, kernel)`` pair per layer, from the supernet's choices.
        seed: seeds the fresh weights (through ``torch.manual_seed``, the global generator).
    Returns:
        A new ``nn.Sequential``.

    >>> sn = SuperNet(layers=2, widths=(2, 4), kernels=(1, 3))
    >>> fresh_subnet(sn, ((2, 3), (4, 1)))[0].weight.shape
    torch.Size([2, 1, 3, 3])
    """
    if not isinstance(supernet, SuperNet):
        raise TypeError(f"supernet must be a SuperNet, got {type(supernet).__name__}")
    supernet._check(arch)
    V.integer(seed, "seed")
    torch.manual_seed(seed)
    net = SuperNet(supernet.in_channels, supernet.head.out_features, len(supernet.weights),
                   supernet.widths, supernet.kernels, supernet.input_size)
    return net.extract(arch)


def train_supernet(supernet: SuperNet, train_data, cfg: TrainConfig | None = None, desc: str = "supernet") -> list[float]:
    """Single-path uniform sampling: one random sub-net per step, trained with cross-entropy.

    In place: trains ``supernet`` itself. ``cfg`` sets epochs, batch size, optimizer and seed.

    Args:
        supernet: trained in place, left in eval mode.
        train_data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        cfg: a :class:`~effnn.train.TrainConfig`, or None for the default.
        desc: the progress bar's label.
    Returns:
        The mean training loss of each epoch, a list of floats.

    >>> _ = torch.manual_seed(0); sn = SuperNet(layers=2, widths=(2, 4), kernels=(1, 3))
    >>> data = (torch.randn(32, 1, 8, 8), torch.arange(32) % 2)
    >>> len(train_supernet(sn, data, TrainConfig(epochs=2, fast_epochs=2, batch_size=16)))
    2
    """
    if not isinstance(supernet, SuperNet):
        raise TypeError(f"supernet must be a SuperNet, got {type(supernet).__name__}")
    V.data(train_data, "train_data")
    cfg = TrainConfig() if cfg is None else _config(cfg)
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}")
    seed_everything(cfg.seed)
    rng = random.Random(cfg.seed)
    loader = as_loader(train_data, cfg.batch_size, shuffle=True, seed=cfg.seed)
    opt = make_optimizer(supernet.parameters(), cfg)
    losses = []
    for _ in progress_bar(range(cfg.effective_epochs), desc=desc, leave=False):
        supernet.train()
        total = count = 0
        for x, y in loader:
            loss = F.cross_entropy(supernet(x, supernet.sample(rng)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(y), count + len(y)
        losses.append(total / count)
    supernet.eval()
    return losses


def supernet_accuracy(supernet: SuperNet, arch, data) -> float:
    """Accuracy of one sub-net with inherited weights (the supernet's proxy score).

    Reads ``supernet``; does not change its weights.

    Args:
        supernet: read only.
        arch: one ``(width, kernel)`` pair per layer, from the supernet's choices.
        data: ``(x, y)`` tensors, a Dataset or a DataLoader.
    Returns:
        The accuracy, a float in [0, 1].

    >>> sn = SuperNet(layers=2, widths=(2, 4), kernels=(1, 3))
    >>> 0.0 <= supernet_accuracy(sn, ((2, 3), (4, 1)), (torch.randn(8, 1, 8, 8), torch.arange(8) % 2)) <= 1.0
    True
    """
    if not isinstance(supernet, SuperNet):
        raise TypeError(f"supernet must be a SuperNet, got {type(supernet).__name__}")
    V.data(data, "data")
    return accuracy(supernet.extract(arch), data)


def spread_archs(supernet: SuperNet, n: int, seed: int = 0) -> list[tuple]:
    """``n`` distinct architectures spread over the cost range (sorted by parameter count, then
    evenly spaced with a seeded jitter), so the ranking spans small and large sub-nets.

    Args:
        supernet: read only.
        n: architectures wanted, an int in ``[2, size of the search space]``.
        seed: seeds the jitter.
    Returns:
        Up to ``n`` distinct architectures (duplicates dropped), cheapest first.

    >>> spread_archs(SuperNet(layers=2, widths=(2, 4), kernels=(1, 3)), 4)
    [((2, 1), (2, 3)), ((4, 3), (2, 3)), ((4, 1), (4, 1)), ((2, 3), (4, 3))]
    """
    if not isinstance(supernet, SuperNet):
        raise TypeError(f"supernet must be a SuperNet, got {type(supernet).__name__}")
    n = V.integer(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    V.integer(seed, "seed")
    space = supernet.search_space()
    if n > len(space):
        raise ValueError(f"n must be <= {len(space)} (the size of the search space), got {n}")
    rng = random.Random(seed)
    cost = lambda a: sum(p.numel() for p in supernet.extract(a).parameters())  # noqa: E731
    ranked = sorted(space, key=lambda a: (cost(a), a))
    step = len(ranked) / n
    picks = [ranked[min(len(ranked) - 1, int(i * step + rng.random() * step))] for i in range(n)]
    return list(dict.fromkeys(picks))
