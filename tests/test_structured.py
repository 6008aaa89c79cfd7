"""Structural pruning through torch-pruning: shapes shrink, coupled channels stay consistent."""
import pytest
import torch
from torch import nn

from effnn.measure import count_macs, count_params
from effnn.models import LeNet300100, ResCNN
from effnn.structured import dependency_groups, output_layers, prune_channels

X = torch.randn(2, 1, 8, 8)


def test_uniform_ratio_halves_every_group_and_keeps_the_classifier():
    torch.manual_seed(0)
    model = ResCNN(width=16, blocks=1)
    macs0 = count_macs(model, X[:1])
    out = prune_channels(model, X[:1], 0.5)
    assert out is model
    assert model.stem[0].out_channels == 8 and model.stage1[0].conv1.out_channels == 8
    assert model.down[0].out_channels == 16 and model.stage2[0].conv1.out_channels == 16
    assert model.head[2].out_features == 10 and model.head[2].in_features == 16
    assert model(X).shape == (2, 10)
    assert count_macs(model, X[:1]) < 0.35 * macs0


def test_per_layer_ratio_overrides_the_default():
    model = LeNet300100()
    prune_channels(model, torch.randn(1, 64), 0.5, amounts={model.net[1]: 0.2})
    assert model.net[1].out_features == 240
    assert model.net[3].out_features == 50 and model.net[5].out_features == 10


def test_round_to_and_zero_ratio():
    model = LeNet300100()
    n0 = count_params(model)
    prune_channels(model, torch.randn(1, 64), 0.0)
    assert count_params(model) == n0
    prune_channels(model, torch.randn(1, 64), 0.3, round_to=16)
    assert model.net[1].out_features % 16 == 0 and model.net[3].out_features % 16 == 0


def test_residual_block_couples_both_convs_feeding_the_skip():
    model = ResCNN(width=8, blocks=1)
    groups = dependency_groups(model, X[:1])
    skip = next(g for g in groups if ("stage1.0.conv2", "out_channels") in g.members)
    names = {n for n, _ in skip.members}
    assert {"stem.0", "stem.1", "stage1.0.bn2", "stage1.0.conv1", "down.0"} <= names
    inner = next(g for g in groups if ("stage1.0.conv1", "out_channels") in g.members)
    assert {n for n, _ in inner.members} == {"stage1.0.conv1", "stage1.0.bn1", "stage1.0.conv2"}
    assert all(g.root != "head.2" for g in groups)


def test_output_layer_is_found():
    model = ResCNN(width=8)
    assert output_layers(model, X[:1]) == [model.head[2]]


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5])
def test_bad_amount_raises(amount):
    with pytest.raises(ValueError, match="amount"):
        prune_channels(LeNet300100(), torch.randn(1, 64), amount)


def test_bad_inputs_raise():
    model = LeNet300100()
    with pytest.raises(ValueError, match="amounts"):
        prune_channels(model, torch.randn(1, 64), 0.5, amounts={model.net[1]: 1.0})
    with pytest.raises(ValueError, match="scope"):
        prune_channels(model, torch.randn(1, 64), 0.5, scope="globally")
    with pytest.raises(ValueError, match="importance"):
        prune_channels(model, torch.randn(1, 64), 0.5, importance="bogus")
    with pytest.raises(ValueError, match="taylor"):
        prune_channels(model, torch.randn(1, 64), 0.5, importance="taylor")
    with pytest.raises(TypeError, match="model"):
        prune_channels(nn.Linear(2, 2).weight, torch.randn(1, 2), 0.5)


def test_taylor_importance_runs_after_backward():
    torch.manual_seed(0)
    model = LeNet300100()
    nn.functional.cross_entropy(model(torch.randn(8, 64)), torch.arange(8)).backward()
    prune_channels(model, torch.randn(1, 64), 0.5, importance="taylor")
    assert model.net[1].out_features == 150


def test_ignored_layers_are_checked_to_be_layers_of_the_model():
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    x = torch.randn(1, 1, 8, 8)
    kept = dependency_groups(model, x, ignored_layers=[model[2]])
    assert all(g.root != "2" for g in kept)
    with pytest.raises(ValueError, match="ignored_layers"):
        dependency_groups(model, x, ignored_layers=[nn.Linear(2, 2)])
    with pytest.raises(TypeError, match="ignored_layers"):
        prune_channels(model, x, 0.5, ignored_layers=model[2])
    with pytest.raises(TypeError, match="example_inputs"):
        prune_channels(model, [x], 0.5)


def _widths(model):
    return [m.out_features for m in model.net if isinstance(m, nn.Linear)]


def test_old_keywords_still_work_with_a_deprecation_warning_and_the_same_result():
    """ratio / global_pruning / per_layer_ratios (lectures and A1 until renamed) give what the new names give."""
    for old, new in [(dict(ratio=0.5), dict(amount=0.5)),
                     (dict(global_pruning=True), dict(scope="global")),
                     (dict(global_pruning=False), dict(scope="layer"))]:
        torch.manual_seed(0)
        a, b = LeNet300100(), LeNet300100()
        b.load_state_dict(a.state_dict())
        with pytest.warns(DeprecationWarning, match=f"'{next(iter(old))}' is deprecated; use '{next(iter(new))}'"):
            prune_channels(a, torch.randn(1, 64), **({"amount": 0.4} if "ratio" not in old else {}), **old)
        prune_channels(b, torch.randn(1, 64), **({"amount": 0.4} if "amount" not in new else {}), **new)
        assert _widths(a) == _widths(b)
    model = LeNet300100()
    with pytest.warns(DeprecationWarning, match="per_layer_ratios"):
        prune_channels(model, torch.randn(1, 64), 0.5, per_layer_ratios={model.net[1]: 0.2})
    assert model.net[1].out_features == 240
    with pytest.raises(TypeError, match="pass 'amount' only"):
        prune_channels(LeNet300100(), torch.randn(1, 64), amount=0.5, ratio=0.5)


def test_global_scope_prunes_layers_unevenly_and_layer_scope_evenly():
    torch.manual_seed(0)
    model = LeNet300100()
    with torch.no_grad():
        model.net[1].weight[:240].mul_(0.01)  # 240 of layer 1's 300 units are nearly dead
    prune_channels(model, torch.randn(1, 64), 0.5, scope="global")
    assert _widths(model) == [100, 100, 10]  # layer 1 loses 2/3 of its units, layer 2 none
    uniform = prune_channels(LeNet300100(), torch.randn(1, 64), 0.5, scope="layer")
    assert _widths(uniform) == [150, 50, 10]


def test_speedup_config_and_runner_match_the_keyword_form():
    from effnn.data import classification
    from effnn.structured import SpeedupConfig, run_speedup, speedup_experiment

    tr, te = classification("train"), classification("test")
    data = ((tr[0][:64], tr[1][:64]), (te[0][:32], te[1][:32]))
    res = run_speedup(SpeedupConfig(width=8, amount=0.5, epochs=1, finetune_epochs=0, threads=1), data)
    assert res.pruned.stem[0].out_channels == 4 and res.dense.stem[0].out_channels == 8
    assert res["macs_ratio"] == res.macs_ratio > 1.5
    with pytest.warns(DeprecationWarning, match="'ratio' is deprecated"):
        old = speedup_experiment(width=8, ratio=0.5, epochs=1, finetune_epochs=0, threads=1, data=data)
    assert old["acc_dense"] == res.acc_dense and old["macs_ratio"] == res.macs_ratio
    with pytest.raises(ValueError, match="amount"):
        SpeedupConfig(amount=1.0)
    with pytest.raises(TypeError, match="config"):
        run_speedup({"width": 8}, data)
    assert SpeedupConfig.fast(width=8) == SpeedupConfig(width=8, epochs=1, finetune_epochs=1)
