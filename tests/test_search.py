"""Budgeted per-layer pruning search, offline Optuna logging, learning-curve extrapolation."""
import numpy as np
import pytest
import torch

from effnn.measure import count_macs
from effnn.models import LeNet5
from effnn.search import (MacModel, fit_learning_curve, global_at_budget, journal_storage, keep_for_budget,
                          prune_at_budget, search_amounts)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LeNet5(channels=(8, 16), hidden=(32, 16)).eval()


X = torch.zeros(1, 1, 8, 8)


def test_mac_model_is_exact_on_a_chain(model):
    mm = MacModel(model, X)
    assert mm.names == ["features.0", "features.3", "classifier.1", "classifier.3"]
    assert mm.estimate([1, 1, 1, 1]) == count_macs(model, X)
    # keeping half of every layer's channels: the halves that are exact
    pruned = LeNet5(channels=(4, 8), hidden=(16, 8))
    assert mm.estimate([0.5] * 4) == count_macs(pruned, X)


def test_keep_for_budget_hits_the_budget(model):
    mm = MacModel(model, X)
    budget = 0.3 * mm.total
    keep = keep_for_budget(mm, [1, 0.5, 1, 1], budget)
    assert mm.estimate(keep) == pytest.approx(budget, rel=1e-6)
    assert keep[1] == pytest.approx(keep[0] / 2)
    uniform = keep_for_budget(mm, [1, 1, 1, 1], budget)
    assert len(set(np.round(uniform, 9))) == 1


def test_pruning_strategies_respect_the_measured_budget(model):
    budget = 0.3 * count_macs(model, X)
    uniform, keep = prune_at_budget(model, X, budget)
    assert count_macs(uniform, X) <= budget
    glob, ratio = global_at_budget(model, X, budget, steps=6)
    assert count_macs(glob, X) <= budget and 0 < ratio < 1
    assert count_macs(model, X) > budget  # originals untouched
    assert uniform(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_search_is_deterministic_and_logged_offline(model, tmp_path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget = 0.4 * count_macs(model, X)
    score = lambda m: -abs(count_macs(m, X) - budget) - 0.01 * m.features[0].out_channels  # noqa: E731
    runs = []
    for _ in range(2):
        storage = journal_storage(tmp_path / "log.jsonl", "s")
        study = search_amounts(model, X, budget, score, n_trials=4, seed=3, storage=storage, study_name="s",
                              progress=False)
        runs.append([t.value for t in study.trials])
    assert runs[0] == runs[1] and len(runs[0]) == 4
    assert study.trials[0].params == {f"p{i}": 1.0 for i in range(4)}  # trial 0 is uniform
    again = optuna.load_study(study_name="s", storage=journal_storage(tmp_path / "log.jsonl", "s"))
    assert len(again.trials) == 4 and all(t.user_attrs["macs"] <= budget for t in again.trials)
    assert again.user_attrs["macs_budget"] == budget


def test_learning_curve_recovers_a_power_law():
    epochs = np.arange(1, 31)
    truth = 0.95 - 0.4 * epochs ** -0.8
    f = fit_learning_curve(truth[:8], "pow3")
    assert f(30) == pytest.approx(truth[-1], abs=2e-3)
    assert f.params[0] == pytest.approx(0.95, abs=5e-3)
    g = fit_learning_curve(0.9 - 0.5 * np.exp(-0.3 * epochs[:10]), "exp3")
    assert g(40) == pytest.approx(0.9 - 0.5 * np.exp(-0.3 * 40), abs=2e-3)


def test_bad_input(model):
    mm = MacModel(model, X)
    with pytest.raises(ValueError, match="budget"):
        keep_for_budget(mm, [1, 1, 1, 1], 1.0)
    with pytest.raises(ValueError, match="keep"):
        mm.estimate([1, 1])
    with pytest.raises(ValueError, match="preferences"):
        keep_for_budget(mm, [1, 0, 1, 1], mm.total)
    with pytest.raises(ValueError, match="values"):
        fit_learning_curve([0.1, 0.2])
    with pytest.raises(ValueError, match="family"):
        fit_learning_curve([0.1, 0.2, 0.3], "linear")
    with pytest.raises(ValueError, match="n_trials"):
        search_amounts(model, X, mm.total, lambda m: 0.0, n_trials=0)
    with pytest.raises(TypeError, match="model"):
        MacModel("lenet", X)
