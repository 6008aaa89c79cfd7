"""Channel criteria compared where it counts: after pruning *and* fine-tuning.

Lecture 02 scores channels by L1/L2 filter norm (Li et al. 2017), by the BatchNorm scale
:math:`|\\gamma_c|` (network slimming, Liu et al. 2017) and by the distance to the layer's geometric
median (FPGM, He et al. 2019). Scores only matter through the accuracy the pruned network reaches
once it is fine-tuned, so this module trains a small 1-D CNN with BatchNorm on MNIST-1D, prunes the
same fraction of channels of every layer with each criterion (torch-pruning's importances, via
:func:`effnn.structured.prune_channels`), fine-tunes every copy with the same budget, and reports test
accuracies per seed. Network slimming is what makes :math:`|\\gamma|` informative: the baseline is
trained with an L1 penalty :math:`\\lambda\\sum|\\gamma|` (:func:`slimming_loss`), which drives
unneeded channels' scales towards zero before they are cut.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import torch
from torch import nn

from . import validate as V

#: Arms of :func:`criteria_after_finetuning`: (name, importance, baseline trained with the L1 penalty).
#: The last two share the penalised baseline, so they separate the criterion from the training.
ARMS = (("L1 norm", "l1", False), ("L2 norm", "l2", False), ("FPGM", "fpgm", False),
        ("Taylor", "taylor", False), ("BN |gamma|, no penalty", "bn_scale", False),
        ("L1 norm, penalised baseline", "l1", True), ("network slimming", "bn_scale", True))


class ConvNet1d(nn.Module):
    """Three conv-BN-ReLU blocks over a 1-D signal, then a linear classifier.

    Takes ``(N, L)`` or ``(N, 1, L)`` signals (MNIST-1D is ``(N, 40)``). Every conv is followed by a
    BatchNorm, so each channel has a scale :math:`\\gamma_c` for network slimming to read.

    Args:
        length: the signal length, >= 1.
        width: channels of every conv, >= 1.
        num_classes: output logits, >= 2.

    >>> _ = torch.manual_seed(0)
    >>> model = ConvNet1d(length=40, width=8)
    >>> model(torch.randn(2, 40)).shape, model(torch.randn(2, 1, 40)).shape
    (torch.Size([2, 10]), torch.Size([2, 10]))
    """

    def __init__(self, length: int = 40, width: int = 32, num_classes: int = 10):
        super().__init__()
        length = V.positive_int(length, "length")
        width = V.positive_int(width, "width")
        V.integer(num_classes, "num_classes", low=2)
        self.features = nn.Sequential(
            nn.Conv1d(1, width, 5, padding=2, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
        )
        out_len = (((length + 1) // 2) + 1) // 2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * out_len, num_classes))
        self.length = length

    def forward(self, x):
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[-1] != self.length:
            raise ValueError(f"ConvNet1d expects (N, {self.length}) or (N, C, {self.length}) input, "
                             f"got shape {tuple(x.shape)}")
        return self.classifier(self.features(x))


def bn_scales(model: nn.Module) -> torch.Tensor:
    """All BatchNorm scales :math:`\\gamma` of ``model``, concatenated (what slimming thresholds).

    Args:
        model: read only; it needs an affine BatchNorm layer.
    Returns:
        A 1-D tensor, concatenated from the scale parameters (attached to their graph: detach before storing).

    >>> bn_scales(ConvNet1d(width=8)).shape
    torch.Size([24])
    """
    V.module(model, "model")
    gammas = [m.weight for m in model.modules()
              if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None]
    if not gammas:
        raise ValueError("model has no BatchNorm layer with a scale (affine=True): nothing to slim")
    return torch.cat([g.flatten() for g in gammas])


def slimming_loss(l1: float):
    """A ``loss_fn`` for :func:`effnn.train.fit`: cross-entropy plus :math:`\\lambda\\sum_c|\\gamma_c|`.

    The sparsity penalty of network slimming (Liu et al. 2017) on every BatchNorm scale.

    Args:
        l1: the penalty weight, >= 0.
    Returns:
        ``loss_fn(model, x, y) -> scalar tensor``.

    >>> _ = torch.manual_seed(0)
    >>> model, x, y = ConvNet1d(width=4), torch.randn(4, 40), torch.tensor([0, 1, 2, 3])
    >>> plain = torch.nn.functional.cross_entropy(model(x), y)
    >>> torch.allclose(slimming_loss(0.01)(model, x, y), plain + 0.01 * bn_scales(model).abs().sum())
    True
    """
    l1 = V.number(l1, "l1", low=0)

    def loss_fn(model, x, y):
        return nn.functional.cross_entropy(model(x), y) + l1 * bn_scales(model).abs().sum()

    return loss_fn


def criteria_after_finetuning(train, test, *, amount: float = 0.75, seeds=(0, 1), width: int = 32,
                              l1: float = 1e-2, train_cfg=None, finetune_cfg=None, arms=ARMS,
                              calibration: int = 512, latency_rounds: int = 3) -> dict:
    """Prune ``amount`` of every conv's channels by each arm's criterion, fine-tune, and test.

    Per seed: one baseline trained plainly and one with :func:`slimming_loss` (``l1``) for the arms
    that ask for it; every arm prunes a copy of its baseline uniformly (so all pruned networks have the
    same shape, MACs and latency) and fine-tunes it with ``finetune_cfg``. The Taylor arm scores with
    the gradient of the loss on the first ``calibration`` training samples. The result holds ``acc[arm]``
    and ``acc_no_finetune[arm]`` (one value per seed), ``dense[plain|slimmed]`` per seed, the MACs of the
    dense and pruned networks, ``latency`` (:func:`effnn.measure.compare` of the first seed's dense and
    pruned networks at batch 1, one thread, ``latency_rounds`` rounds; 0 skips it), ``gammas`` (the
    |gamma| of the first seed's two baselines) and ``n_test``.

    Args:
        train: ``(x, y)`` tensors of ``(N, L)`` signals.
        test: ``(x, y)`` tensors, the same kind.
        amount: the fraction of every conv's channels removed, in [0, 1).
        seeds: a non-empty list of ints.
        width: the :class:`ConvNet1d` width.
        l1: the slimming penalty, >= 0.
        train_cfg: the baselines' :class:`~effnn.train.TrainConfig` (default 10 epochs, 1 in fast mode).
        finetune_cfg: the fine-tuning's (default 3 epochs, 1 in fast mode).
        arms: ``(name, importance, penalised baseline)`` triples with distinct names (default :data:`ARMS`).
        calibration: training samples for the Taylor gradient, >= 1.
        latency_rounds: rounds of the latency comparison, >= 0 (0 skips it).
    Returns:
        A dict with the keys above, plus ``amount``, ``macs_dense`` and ``macs_pruned``.
    """
    from .measure import compare, count_macs
    from .structured import prune_channels
    from .train import TrainConfig, accuracy, fit, seed_everything

    V.data(train, "train")
    V.data(test, "test")
    amount = V.fraction(amount, "amount")
    seeds = V.sequence_of(seeds, "seeds", V.integer)
    V.nonempty(seeds, "seeds")
    l1 = V.number(l1, "l1", low=0)
    calibration = V.positive_int(calibration, "calibration")
    latency_rounds = V.integer(latency_rounds, "latency_rounds", low=0)
    train_cfg = train_cfg or TrainConfig(epochs=10, fast_epochs=1, lr=3e-3)
    finetune_cfg = finetune_cfg or TrainConfig(epochs=3, fast_epochs=1, lr=1e-3)
    names = [a[0] for a in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arms must have distinct names, got {names}")
    length = train[0].shape[-1]
    example = torch.zeros(1, length)
    out = {"acc": {n: [] for n in names}, "acc_no_finetune": {n: [] for n in names},
           "dense": {"plain": [], "slimmed": []}, "n_test": len(test[1]), "amount": amount}
    for seed in seeds:
        bases = {}
        for slimmed in sorted({a[2] for a in arms}):
            seed_everything(seed)
            net = ConvNet1d(length=length, width=width)
            fit(net, train, replace(train_cfg, seed=seed), loss_fn=slimming_loss(l1) if slimmed else None,
                desc="slimming baseline" if slimmed else "baseline")
            bases[slimmed] = net
            out["dense"]["slimmed" if slimmed else "plain"].append(accuracy(net, test))
        if "gammas" not in out:
            out["gammas"] = {("slimmed" if k else "plain"): bn_scales(v).detach().abs().clone()
                             for k, v in bases.items()}
            out["macs_dense"] = count_macs(bases[min(bases)], example)
        for name, importance, slimmed in arms:
            pruned = copy.deepcopy(bases[slimmed])
            if importance == "taylor":
                pruned.zero_grad(set_to_none=True)
                x, y = train[0][:calibration], train[1][:calibration]
                nn.functional.cross_entropy(pruned(x), y).backward()
            prune_channels(pruned, example, amount, importance=importance)
            pruned.zero_grad(set_to_none=True)
            out["acc_no_finetune"][name].append(accuracy(pruned, test))
            fit(pruned, train, replace(finetune_cfg, seed=seed), desc=f"fine-tune {name}")
            out["acc"][name].append(accuracy(pruned, test))
            if "macs_pruned" not in out:
                out["macs_pruned"] = count_macs(pruned, example)
                if latency_rounds:
                    out["latency"] = compare(bases[slimmed].eval(), pruned.eval(), example, threads=1,
                                             rounds=latency_rounds)
    return out
