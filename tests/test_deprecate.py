"""effnn._deprecate: renamed keywords, fields and functions keep working one release, with a warning."""
import inspect
import warnings
from dataclasses import dataclass

import pytest

from effnn._deprecate import renamed_fields, renamed_function, renamed_kwargs


@renamed_kwargs(ratio="amount", keep=("amount", lambda k: 1 - k, "amount = 1 - keep"))
def prune(x, amount=0.5):
    return x * amount


@renamed_fields(rate="amount")
@dataclass
class Cfg:
    amount: float = 0.4
    rounds: int = 2


def test_old_keyword_maps_to_the_new_one_and_warns_with_the_new_name():
    with pytest.warns(DeprecationWarning, match=r"prune: argument 'ratio' is deprecated; use 'amount'"):
        assert prune(2, ratio=0.25) == 0.5
    with pytest.warns(DeprecationWarning, match=r"amount = 1 - keep"):
        assert prune(2, keep=0.75) == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name never warns
        assert prune(2, amount=0.25) == 0.5
    assert list(inspect.signature(prune).parameters) == ["x", "amount"]


def test_old_and_new_keyword_together_is_refused():
    with pytest.raises(TypeError, match="pass 'amount' only"):
        prune(1, amount=0.1, ratio=0.2)


def test_the_warning_points_at_the_caller():
    with pytest.warns(DeprecationWarning) as caught:
        prune(1, ratio=0.1)
    assert caught[0].filename == __file__


def test_renamed_dataclass_field_in_constructor_and_as_attribute():
    with pytest.warns(DeprecationWarning, match="Cfg: argument 'rate'"):
        cfg = Cfg(rate=0.3)
    assert cfg == Cfg(amount=0.3)
    with pytest.warns(DeprecationWarning, match="attribute 'rate'"):
        assert cfg.rate == 0.3
    with pytest.warns(DeprecationWarning):
        cfg.rate = 0.6
    assert cfg.amount == 0.6
    assert [f for f in Cfg.__dataclass_fields__] == ["amount", "rounds"]


def test_renamed_function_calls_the_new_one_and_warns():
    old = renamed_function(prune, "old_prune")
    with pytest.warns(DeprecationWarning, match="function 'old_prune' is deprecated; use 'prune'"):
        assert old(4, amount=0.5) == 2
    assert old.__name__ == "old_prune" and old.__deprecated_alias_of__ is prune


def test_effnn_keeps_every_old_name_of_the_vocabulary_working():
    """One call per renamed keyword / field / function of effnn (the renames list in CONTRIBUTING.md)."""
    import torch
    from torch import nn

    from effnn import criteria, lth, measure, prune as P, search, sparse_speed, structured

    x = torch.randn(2, 4)
    cases = [
        (lambda: measure.count_macs(nn.Linear(4, 2), example_input=x), "example_input"),
        (lambda: structured.prune_channels(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)), x, ratio=0.5), "ratio"),
        (lambda: structured.prune_channels(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)), x, 0.5,
                                           global_pruning=True), "global_pruning"),
        (lambda: lth.LTHConfig(rate=0.3, output_rate=0.1), "rate"),
        (lambda: P.PruneRetrainConfig(sparsity=0.5), "sparsity"),
        (lambda: P.HanConfig(sparsity=0.5), "sparsity"),
        (lambda: sparse_speed.random_sparse(2, 2, sparsity=0.5), "sparsity"),
        (lambda: criteria.criterion_weights(criteria.TinyMLP(4, 2, 2), x, torch.zeros(2, dtype=torch.long),
                                            sparsities=(1.5,)), "sparsities"),
    ]
    for call, old in cases:
        with pytest.warns(DeprecationWarning, match=f"'{old}' is deprecated"):
            try:
                call()
            except ValueError as err:  # the bad value is reported under the new name
                assert "amounts" in str(err)
    assert search.search_ratios.__deprecated_alias_of__ is search.search_amounts
