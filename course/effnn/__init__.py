"""effnn: helpers for the Efficient Neural Networks course.

Submodules are imported lazily so that `import effnn` stays fast and never pulls transformers
or torchvision unless a notebook asks for them.

One vocabulary (every module, lecture and assignment):

- ``amount``: the fraction of weights / channels *removed*, in [0, 1) (torch.nn.utils.prune's
  name); ``amounts``: a per-layer ``{layer: amount}`` dict. DEEP R's ``density`` (the fraction
  kept, ``1 - amount``) is the one exception, in :mod:`effnn.lth`, because the method is defined
  by its connectivity.
- ``scope="global" | "layer"``: layers compete for one global amount, or each loses ``amount``.
- ``example_inputs``: the tensor (or tuple of tensors) a model is traced or timed with
  (torch-pruning's name).
- Fast mode (``EFFNN_FAST=1``, nbgrader): sizes shrink, the code path stays. A config's
  ``.fast()`` classmethod is its fast preset; ``TrainConfig.fast_epochs`` is the epochs fast mode
  trains; a benchmark takes ``fast: bool``.
- Experiments: a typed config dataclass plus ``run_<name>(config, data) -> <Name>Result``
  (:mod:`effnn.experiment`).

One rule for models (torch.nn.utils.prune's): **a function that changes a model changes it in
place and returns that same module**, so ``pruned = f(model)`` and ``f(model)`` mean the same.
Copy first (``copy.deepcopy``) to keep the original. The documented exceptions build *new*
models and say so in their docstrings: searches and experiments that try many variants (they
prune copies: :mod:`effnn.search`, ``run_*`` experiments), and conversions whose result is a
different kind of module (``effnn.quant``'s int8 models, factorized layers). Functions that only
measure (``measure.*``, ``*_sparsity``) never change the model.

Old names (``ratio``, ``rate``, ``sparsity``, ``global_pruning``, ``per_layer_ratios``,
``example_input``...) still work for one release and warn with the new name (:mod:`effnn._deprecate`).
"""
from importlib import import_module

__version__ = "0.1.0"
__all__ = ["config", "data", "models", "train", "measure", "plot"]


def __getattr__(name):
    if name in __all__ or name in _EXTRA or _is_submodule(name):
        return import_module(f"effnn.{name}")
    raise AttributeError(f"module 'effnn' has no attribute {name!r}")


# Modules added by later lectures are listed here so `effnn.<name>` works without an import.
_EXTRA = {"prune", "criteria", "structured", "lth", "quant", "compression", "distill", "lowrank",
          "conditional", "arch", "search", "nas", "binary", "xnor", "segformer", "energy", "sparse_speed",
          "grading", "validate", "experiment"}


def _is_submodule(name: str) -> bool:
    """Any module file of the package is reachable as ``effnn.<name>`` (new ones too)."""
    import pkgutil

    return not name.startswith("_") and name in {m.name for m in pkgutil.iter_modules(__path__)}
