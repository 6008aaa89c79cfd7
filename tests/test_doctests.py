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
