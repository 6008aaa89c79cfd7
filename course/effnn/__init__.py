"""effnn: helpers for the Efficient Neural Networks course.

Submodules are imported lazily so that `import effnn` stays fast and never pulls transformers
or torchvision unless a notebook asks for them.
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
          "grading", "validate"}


def _is_submodule(name: str) -> bool:
    """Any module file of the package is reachable as ``effnn.<name>`` (new ones too)."""
    import pkgutil

    return not name.startswith("_") and name in {m.name for m in pkgutil.iter_modules(__path__)}
