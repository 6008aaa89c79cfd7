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


@pytest.fixture
def _one_thread():
    """Examples run on tiny tensors: torch's thread pool only adds contention on a loaded 2-core machine
    (a tiny Segformer forward took seconds with two threads there, milliseconds with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name, _one_thread):
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


# Public names of effnn (as ``tools/api_fuzz.py``'s ``public_names`` lists them: a name defined in a
# private submodule such as ``effnn.segformer._data`` counts under the package that re-exports it)
# that have no runnable example, each with the reason. Anything else public must show a runnable
# example, so a new function cannot ship without one.
_NO_EXAMPLE = {
    "structured.run_speedup": "times both models with measure.compare: seconds, not a quick example",
    "structured.speedup_experiment": "the keyword form of run_speedup",
    "arch.efficientnet_scaling_macs": "builds EfficientNets with transformers: several seconds each",
    "grading.judge": "needs the judge process of a grading run",
    "grading.serve": "needs the judge process of a grading run",
    "slimming.criteria_after_finetuning": "times every pruned model against the baseline (measure.compare): "
                                          "about two seconds even on a tiny set",
}


def _public_names() -> list[str]:
    from tools.api_fuzz import public_names

    return public_names()


def _has_example(full: str, finder: doctest.DocTestFinder) -> bool:
    module_name, attr = full.rsplit(".", 1)
    obj = getattr(importlib.import_module(f"effnn.{module_name}"), attr)
    return sum(len(t.examples) for t in finder.find(obj, full)) > 0


def test_every_public_name_has_a_runnable_example():
    finder = doctest.DocTestFinder(exclude_empty=True)
    names = _public_names()
    assert len(names) > 300, "the walk over effnn found too few names"
    assert "segformer.portraits" in names and "validate.fraction" in names, "the walk missed a module"
    missing = [n for n in names if n not in _NO_EXAMPLE and not _has_example(n, finder)]
    assert not missing, f"public names without a runnable example in their docstring: {missing}"
    stale = [n for n in _NO_EXAMPLE if n not in names]
    assert not stale, f"_NO_EXAMPLE lists names that no longer exist: {stale}"
    wrongly_listed = [n for n in _NO_EXAMPLE if _has_example(n, finder)]
    assert not wrongly_listed, f"_NO_EXAMPLE lists names that now have an example: {wrongly_listed}"


def test_the_examples_of_private_submodules_are_collected():
    """``effnn.segformer``'s names live in private submodules; their examples must still run here."""
    modules = _modules()
    assert {"effnn.segformer._data", "effnn.segformer._inference", "effnn.segformer._baseline",
            "effnn.segformer._structure"} <= set(modules)
    import effnn.segformer._data as data

    finder = doctest.DocTestFinder(exclude_empty=True)
    assert sum(len(t.examples) for t in finder.find(data, "effnn.segformer._data", globs=vars(data))) >= 5
