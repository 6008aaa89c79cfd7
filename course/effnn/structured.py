"""Structural (channel) pruning: a thin, explicit wrapper over torch-pruning.

Removing a channel of one conv forces the same removal in every layer that reads or shares it
(the next conv's input, a BatchNorm, the other branch of a residual add). torch-pruning's
``DependencyGraph`` (DepGraph, Fang et al. 2023) finds these coupled *groups*; this module only
chooses the importance, the amounts (fractions of channels removed) and the layers to leave alone, so that a lecture can show each
choice explicitly. The model really shrinks, in place: fewer MACs, and a CPU speedup you can measure.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import validate as V
from ._deprecate import renamed_kwargs
from .experiment import Result

#: Names accepted by ``importance=``; each maps to one torch-pruning importance class.
IMPORTANCES = ("l1", "l2", "fpgm", "bn_scale", "taylor", "lamp", "random")

_ROOT_TYPES = (nn.modules.conv._ConvNd, nn.Linear)


def _tp():
    import torch_pruning as tp

    return tp


def make_importance(importance="l2"):
    """A torch-pruning importance from a name (see :data:`IMPORTANCES`) or an instance.

    - ``l1``/``l2``: group norm of the channel's weights, :math:`\\sum_{g}\\|W_{g,c}\\|_p`;
    - ``fpgm``: distance to the geometric median of the layer's filters (He et al. 2019);
    - ``bn_scale``: :math:`|\\gamma_c|` of the following BatchNorm (network slimming, Liu et al. 2017);
    - ``taylor``: :math:`|\\sum w\\,\\partial L/\\partial w|` per channel (Molchanov et al. 2019), needs
      gradients: call ``loss.backward()`` on calibration data before pruning;
    - ``lamp``: layer-adaptive magnitude scores (Lee et al. 2021); ``random``: a control.

    Args:
        importance: a name from :data:`IMPORTANCES` (any case), or a torch-pruning ``Importance``.
    Returns:
        A new torch-pruning ``Importance``, or the instance given.

    >>> type(make_importance("l1")).__name__
    'GroupMagnitudeImportance'
    """
    tp = _tp()
    if isinstance(importance, tp.importance.Importance):
        return importance
    if not isinstance(importance, str):
        raise TypeError(f"importance must be a name or a torch_pruning Importance, got {type(importance).__name__}")
    name = importance.lower()
    factories = {
        "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
        "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
        "fpgm": lambda: tp.importance.FPGMImportance(p=2),
        "bn_scale": lambda: tp.importance.BNScaleImportance(),
        "taylor": lambda: tp.importance.GroupTaylorImportance(),
        "lamp": lambda: tp.importance.LAMPImportance(p=2),
        "random": lambda: tp.importance.RandomImportance(),
    }
    if name not in factories:
        raise ValueError(f"importance must be one of {IMPORTANCES}, got {importance!r}")
    return factories[name]()


def _as_tuple(example_inputs):
    """The model's positional inputs: a tensor, or a tuple of tensors."""
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    if not inputs:
        raise ValueError("example_inputs is an empty tuple: pass the tensor(s) the model is called with")
    for i, x in enumerate(inputs):
        V.tensor(x, "example_inputs" if len(inputs) == 1 else f"example_inputs[{i}]")
    return inputs


def _ignored(model: nn.Module, example_inputs, ignored_layers) -> list[nn.Module]:
    """The layers to leave whole: as given (checked to be layers of ``model``), else the output layers."""
    _as_tuple(example_inputs)
    if ignored_layers is None:
        return output_layers(model, example_inputs)
    if isinstance(ignored_layers, nn.Module) or not hasattr(ignored_layers, "__iter__"):
        raise TypeError(f"ignored_layers must be a list of layers of the model, got {type(ignored_layers).__name__}")
    ignored, own = list(ignored_layers), set(model.modules())
    if not all(isinstance(m, nn.Module) and m in own for m in ignored):
        raise ValueError("ignored_layers must contain only layers (nn.Module) of this model")
    return ignored


@torch.no_grad()
def output_layers(model: nn.Module, example_inputs) -> list[nn.Module]:
    """The conv/linear layers whose output is the model's output (e.g. the classifier).

    Reads ``model``; does not change its weights.

    Their output channels are the classes, so they must never be pruned. Found by running the model
    once and keeping the last conv/linear called whose output has the model output's shape.

    Args:
        model: run once (its train/eval mode is restored); weights unchanged.
        example_inputs: a tensor, or a tuple of tensors, the model is called with.
    Returns:
        A list with that layer, or an empty list when no conv/linear output has the output's shape.

    >>> from effnn.models import ResCNN
    >>> net = ResCNN(width=4)
    >>> output_layers(net, torch.randn(1, 1, 8, 8)) == [net.head[2]]
    True
    """
    V.module(model)
    inputs = _as_tuple(example_inputs)
    calls: list[tuple[nn.Module, torch.Size]] = []
    hooks = [m.register_forward_hook(lambda mod, _i, out: calls.append((mod, out.shape)))
             for m in model.modules() if isinstance(m, _ROOT_TYPES)]
    was_training = model.training
    model.eval()
    try:
        out = model(*inputs)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    out_shape = getattr(out, "shape", None)
    for mod, shape in reversed(calls):
        if shape == out_shape:
            return [mod]
    return []


@renamed_kwargs(ratio="amount", global_pruning=("scope", lambda g: "global" if g else "layer",
                                                 "global_pruning=True is scope='global'"),
                per_layer_ratios="amounts")
def prune_channels(model: nn.Module, example_inputs, amount: float = 0.5, *, importance="l2",
                   scope: str = "layer", amounts: dict[nn.Module, float] | None = None,
                   ignored_layers=None, round_to: int | None = None) -> nn.Module:
    """Remove ``amount`` of the channels; in place: ``model`` itself shrinks and is returned.

    Args:
        model: a CNN or MLP; its conv/linear layers lose whole output channels (and every layer
            coupled to them loses the matching inputs).
        example_inputs: a tensor (or tuple of tensors) the model is called with, for tracing.
        amount: fraction of channels removed, in [0, 1): per group (``scope="layer"``) or over the
            whole network (``scope="global"``, groups compete on normalized importance).
        importance: a name from :data:`IMPORTANCES` or a torch-pruning ``Importance``.
        scope: ``"layer"`` (every group loses ``amount``) or ``"global"``.
        amounts: ``{layer: amount}`` overriding ``amount`` for the group rooted at that layer
            (what an AMC/Optuna search tunes).
        ignored_layers: layers whose output channels stay; ``None`` ignores the output layer(s)
            found by :func:`output_layers`, a list is used as given (add the classifier yourself).
        round_to: keep channel counts multiples of this (SIMD-friendly widths).

    Returns:
        The same ``model`` object, now with smaller layers (copy it first to keep the original).

    >>> from effnn.models import ResCNN
    >>> net = ResCNN(in_channels=1, width=8, blocks=1)
    >>> _ = prune_channels(net, torch.randn(1, 1, 8, 8), amount=0.5)
    >>> net.stem[0].out_channels
    4
    """
    V.module(model)
    amount = V.fraction(amount, "amount")
    scope = V.choice(scope, "scope", ("layer", "global"))
    ratios = {}
    if amounts is not None and not isinstance(amounts, dict):
        raise TypeError(f"amounts must be a dict {{layer: amount}}, got {type(amounts).__name__}")
    own = set(model.modules())
    for layer, r in (amounts or {}).items():
        if not isinstance(layer, nn.Module):
            raise TypeError("amounts keys must be nn.Module layers of the model")
        if layer not in own:
            raise ValueError("amounts keys must be layers of this model")
        ratios[layer] = V.fraction(r, "amounts value")
    round_to = None if round_to is None else V.positive_int(round_to, "round_to")
    if not any(isinstance(m, _ROOT_TYPES) for m in model.modules()):
        raise ValueError("model has no Conv or Linear layer: there are no channels to prune")
    imp = make_importance(importance)
    tp = _tp()
    if isinstance(imp, tp.importance.GroupTaylorImportance) and not any(
            p.grad is not None for p in model.parameters()):
        raise ValueError("importance='taylor' needs gradients: run loss.backward() on calibration data first")
    ignored = _ignored(model, example_inputs, ignored_layers)
    if amount == 0.0 and not ratios:
        return model
    pruner = tp.pruner.BasePruner(
        model, example_inputs, importance=imp, global_pruning=scope == "global", pruning_ratio=amount,
        pruning_ratio_dict=ratios or None, ignored_layers=ignored, round_to=round_to)
    pruner.step()
    return model


@dataclass
class CoupledGroup:
    """Layers whose channels must be removed together, as ``(layer name, what is pruned)`` pairs.

    Found by :func:`dependency_groups`; ``print`` shows one member a line.

    Args:
        root: the root layer's module name.
        channels: the number of channels the group can lose.
        members: ``(layer name, what is pruned)`` pairs, e.g. ``("bn1", "batchnorm")``.

    >>> print(CoupledGroup("conv1", 8, [("conv1", "out_channels"), ("bn1", "batchnorm")]))
    group rooted at conv1 (8 channels):
      conv1                    out_channels
      bn1                      batchnorm
    """
    root: str
    channels: int
    members: list[tuple[str, str]]

    def __str__(self) -> str:
        lines = [f"group rooted at {self.root} ({self.channels} channels):"]
        lines += [f"  {name:<24} {what}" for name, what in self.members]
        return "\n".join(lines)


def _what(handler) -> str:
    name = getattr(handler, "__name__", None) or type(handler).__name__
    for prefix in ("prune_", "_prune_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def dependency_groups(model: nn.Module, example_inputs, ignored_layers=None) -> list[CoupledGroup]:
    """The coupled-channel groups torch-pruning's DepGraph finds, one per prunable root layer.

    Reads ``model``; does not change its weights.

    Each member says which layer and which of its dimensions (``out_channels`` or ``in_channels``)
    would lose the same channels. A residual
    block shows up as one group holding both convs that write into the skip connection.

    Args:
        model: traced (run once), not changed.
        example_inputs: a tensor, or a tuple of tensors, the model is called with.
        ignored_layers: layers that are not roots; None for the output layer(s) (:func:`output_layers`).

    Returns:
        one :class:`CoupledGroup` per prunable root layer (print one to see its members).

    >>> from effnn.models import ResCNN
    >>> groups = dependency_groups(ResCNN(width=4, blocks=1), torch.randn(1, 1, 8, 8))
    >>> any(("stage1.0.conv2", "out_channels") in g.members for g in groups)
    True
    """
    V.module(model)
    tp = _tp()
    ignored = _ignored(model, example_inputs, ignored_layers)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs)
    names = {m: n for n, m in model.named_modules()}
    groups = []
    for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=_ROOT_TYPES):
        members, seen = [], set()
        for dep, _idxs in group:
            module = dep.target.module
            if module not in names:  # torch-pruning's internal nodes (add, flatten...) have no name
                continue
            key = (names[module], _what(dep.handler))
            if key not in seen:
                seen.add(key)
                members.append(key)
        root = group[0].dep.target.module
        groups.append(CoupledGroup(root=names.get(root, str(root)), channels=len(group[0].idxs),
                                   members=members))
    return groups


@dataclass
class SpeedupConfig:
    """Lecture 02's structured-pruning experiment: train a ResCNN, remove channels, fine-tune, time.

    Args:
        width, blocks: the :class:`~effnn.models.ResCNN` (channels of the first stage, residual blocks).
        amount: fraction of channels removed per group, in [0, 1).
        epochs, finetune_epochs: training of the dense model, fine-tuning of the pruned one (fast
            mode trains one epoch each, as :meth:`fast` says).
        importance: see :data:`IMPORTANCES`.
        input_size: time the models at this image side (the network is fully convolutional up to
            the pooling); ``None``: the data's.
        seed: seeds the model and both trainings.
        threads: torch threads while timing (batch 1).

    >>> SpeedupConfig(amount=0.25).amount, SpeedupConfig.fast().epochs
    (0.25, 1)
    """
    width: int = 32
    blocks: int = 1
    amount: float = 0.5
    epochs: int = 4
    finetune_epochs: int = 2
    importance: str = "l2"
    input_size: int | None = None
    seed: int = 0
    threads: int = 2

    def __post_init__(self):
        V.positive_int(self.width, "width")
        V.integer(self.blocks, "blocks", low=0)
        V.fraction(self.amount, "amount")
        V.positive_int(self.epochs, "epochs")
        V.integer(self.finetune_epochs, "finetune_epochs", low=0)
        V.positive_int(self.threads, "threads")
        if self.input_size is not None:
            V.positive_int(self.input_size, "input_size")
        V.integer(self.seed, "seed")
        make_importance(self.importance)

    @classmethod
    def fast(cls, **overrides) -> "SpeedupConfig":
        """The fast-mode preset: one epoch of training and of fine-tuning."""
        return cls(**{"epochs": 1, "finetune_epochs": 1, **overrides})


@dataclass
class SpeedupResult(Result):
    """What :func:`run_speedup` measured: accuracies, dense/pruned ratios, the timing and both models.

    Ratios are dense over pruned (above 1: pruning helped); ``compare`` is
    :func:`effnn.measure.compare`'s full dict. Fields also read as ``result["macs_ratio"]``.

    Args:
        acc_dense: the dense model's test accuracy.
        acc_pruned_no_finetune: the pruned model's, before fine-tuning.
        acc_pruned: the pruned model's, after fine-tuning.
        macs_ratio, latency_ratio, params_ratio: dense over pruned (latency: best median, batch 1).
        compare: :func:`effnn.measure.compare`'s full dict.
        dense: the trained dense ResCNN.
        pruned: the pruned, fine-tuned copy.

    >>> [f for f in SpeedupResult.__dataclass_fields__ if f.endswith("_ratio")]
    ['macs_ratio', 'latency_ratio', 'params_ratio']
    """
    acc_dense: float
    acc_pruned_no_finetune: float
    acc_pruned: float
    macs_ratio: float
    latency_ratio: float
    params_ratio: float
    compare: dict
    dense: nn.Module
    pruned: nn.Module


def run_speedup(config: SpeedupConfig, data=None) -> SpeedupResult:
    """Run :class:`SpeedupConfig`: the dense model is trained here; the pruned one is a pruned copy.

    Args:
        config: the experiment.
        data: ``(train, test)``, each an ``(x, y)`` pair of image tensors; ``None``: the digits.

    Returns:
        A :class:`SpeedupResult`: MACs and latency (batch 1, :func:`effnn.measure.compare`: both
        models alternated in one process) of dense vs pruned, and their test accuracies.
    """
    import copy

    if not isinstance(config, SpeedupConfig):
        raise TypeError(f"config must be an effnn.structured.SpeedupConfig, got {type(config).__name__}")
    from .data import classification
    from .measure import compare
    from .models import ResCNN
    from .train import TrainConfig, accuracy, fit, seed_everything

    c = config
    if data is not None:
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise TypeError("data must be a (train, test) pair of (x, y) image tensors, or None for the digits")
        for name, split in zip(("data[0] (train)", "data[1] (test)"), data):
            V.data(split, name)
            if not (isinstance(split, (tuple, list)) and torch.is_tensor(split[0]) and split[0].ndim == 4):
                raise ValueError(f"{name} must be (images (N, C, H, W), labels): a ResCNN takes images")
    train, test = data if data is not None else (classification("train"), classification("test"))
    seed_everything(c.seed)
    dense = ResCNN(in_channels=train[0].shape[1], width=c.width, blocks=c.blocks)
    fit(dense, train, TrainConfig(epochs=c.epochs, fast_epochs=1, lr=2e-3, seed=c.seed), desc="ResCNN")
    pruned = copy.deepcopy(dense)
    side = c.input_size or train[0].shape[-1]
    example = torch.randn(1, train[0].shape[1], side, side)
    prune_channels(pruned, example, c.amount, importance=c.importance)
    acc_pruned = accuracy(pruned, test)
    fit(pruned, train, TrainConfig(epochs=c.finetune_epochs, fast_epochs=1, lr=1e-3, seed=c.seed), desc="fine-tune")
    cmp = compare(dense.eval(), pruned.eval(), example, threads=c.threads, rounds=5)
    return SpeedupResult(acc_dense=accuracy(dense, test), acc_pruned_no_finetune=acc_pruned,
                         acc_pruned=accuracy(pruned, test), macs_ratio=cmp["ratio"]["macs"],
                         latency_ratio=cmp["ratio"]["latency_ms"], params_ratio=cmp["ratio"]["params"],
                         compare=cmp, dense=dense, pruned=pruned)


@renamed_kwargs(ratio="amount")
def speedup_experiment(width: int = 32, blocks: int = 1, amount: float = 0.5, *, epochs: int = 4,
                       finetune_epochs: int = 2, importance="l2", input_size: int | None = None,
                       seed: int = 0, threads: int = 2, data=None) -> SpeedupResult:
    """Keyword form of ``run_speedup(SpeedupConfig(...), data)``: same arguments, same result.

    The result reads like the dict this function used to return (``res["acc_dense"]``).

    Args:
        width, blocks, amount, epochs, finetune_epochs, importance, input_size, seed, threads: the
            fields of :class:`SpeedupConfig`.
        data: as in :func:`run_speedup`.
    Returns:
        A :class:`SpeedupResult`.
    """
    return run_speedup(SpeedupConfig(width=width, blocks=blocks, amount=amount, epochs=epochs,
                                     finetune_epochs=finetune_epochs, importance=importance,
                                     input_size=input_size, seed=seed, threads=threads), data)
