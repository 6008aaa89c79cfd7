"""Run the docstring examples of every effnn module, so the examples students read stay true.

Modules that need optional heavy imports at import time are still collected; a module with no
examples simply contributes no test. Doctests are kept cheap (tiny tensors, no training).
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest
import torch
from torch import nn

import effnn


def _modules() -> list[str]:
    names = ["effnn"]
    for info in pkgutil.walk_packages(effnn.__path__, prefix="effnn."):
        if info.name.split(".")[-1] != "assets":
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    globs = {"np": np, "torch": torch, "nn": nn, **vars(module)}
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=globs):
        runner.run(test, clear_globs=False)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"


def test_there_are_examples_to_run():
    """The examples exist: this suite cannot pass by finding nothing."""
    import effnn.prune
    import effnn.validate

    finder = doctest.DocTestFinder(exclude_empty=True)
    examples = sum(len(t.examples) for m in (effnn.prune, effnn.validate) for t in finder.find(m))
    assert examples >= 10


# Public names of the core modules that have no runnable example, each with the reason. Anything
# else public in these modules must show a runnable example, so a new function cannot ship without one.
_CORE = ("search", "criteria", "lth", "lowrank", "distill", "quant", "arch", "nas", "conditional", "compression",
         "sparse_speed", "structure_speed", "findings", "plot", "prune", "measure", "train", "structured",
         "experiment", "energy", "models", "config", "grading", "data")
_NO_EXAMPLE = {
    "effnn.structured.run_speedup": "times both models with measure.compare: seconds, not a quick example",
    "effnn.structured.speedup_experiment": "the keyword form of run_speedup",
    "effnn.arch.efficientnet_scaling_macs": "builds EfficientNets with transformers: several seconds each",
    "effnn.grading.judge": "needs the judge process of a grading run",
    "effnn.grading.serve": "needs the judge process of a grading run",
}


def _core_public_names() -> list[str]:
    import inspect

    out = []
    for name in _modules():
        if name.split(".")[1:2] and name.split(".")[1] not in _CORE:
            continue
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", "") == name and not hasattr(obj, "__deprecated_alias_of__"):
                out.append(f"{name}.{attr}")
    return out


def test_every_public_name_of_the_core_modules_has_a_runnable_example():
    finder = doctest.DocTestFinder(exclude_empty=True)
    names = _core_public_names()
    assert len(names) > 200, "the walk over the core modules found too few names"
    missing = []
    for full in names:
        module_name, attr = full.rsplit(".", 1)
        obj = getattr(importlib.import_module(module_name), attr)
        if not sum(len(t.examples) for t in finder.find(obj, full)) and full not in _NO_EXAMPLE:
            missing.append(full)
    assert not missing, f"public names without a runnable example in their docstring: {missing}"
    stale = [n for n in _NO_EXAMPLE if n not in names]
    assert not stale, f"_NO_EXAMPLE lists names that no longer exist: {stale}"
