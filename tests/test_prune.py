"""Pruning masks: exact sparsity, global vs per-layer scope, N:M patterns, blocks, schedules."""
import copy

import pytest
import torch
from torch import nn

from effnn.models import LeNet300100, LeNet5
from effnn.prune import (PruneRetrainConfig, block_prune, is_nm_sparse, iterative_schedule, layer_sparsity,
                         magnitude_prune, nm_mask, nm_prune, polynomial_schedule, prunable_layers, prune_retrain,
                         random_prune, remove_masks, weight_sparsity)
from effnn.train import TrainConfig, fit


def _model(seed=0):
    torch.manual_seed(seed)
    return LeNet300100(hidden=(30, 20))


def test_global_magnitude_hits_the_exact_count_and_removes_the_smallest():
    model = _model()
    weights = torch.cat([m.weight.detach().abs().flatten() for m in prunable_layers(model)])
    magnitude_prune(model, 0.7, scope="global")
    n = weights.numel()
    zeros = sum(int((m.weight == 0).sum()) for m in prunable_layers(model))
    assert zeros == round(0.7 * n)
    kept = torch.cat([m.weight.detach().abs().flatten() for m in prunable_layers(model)])
    assert kept[kept > 0].min() >= weights.sort().values[zeros - 1]
    assert len(set(round(v, 3) for v in layer_sparsity(model).values())) > 1  # layers differ


def test_layer_scope_gives_every_layer_the_same_sparsity():
    model = _model()
    magnitude_prune(model, 0.6, scope="layer")
    for layer in prunable_layers(model):
        assert int((layer.weight == 0).sum()) == round(0.6 * layer.weight.numel())


def test_mask_only_grows_and_uses_torch_prune():
    model = _model()
    magnitude_prune(model, 0.5)
    first = {id(m): m.weight_mask.clone() for m in prunable_layers(model)}
    magnitude_prune(model, 0.8)
    for m in prunable_layers(model):
        assert hasattr(m, "weight_orig") and hasattr(m, "weight_mask")
        assert bool((m.weight_mask <= first[id(m)]).all())
    assert weight_sparsity(model) == pytest.approx(0.8, abs=1e-3)


def test_masks_are_torch_prunes_own():
    """magnitude_prune decides nothing itself: its masks are those of torch.nn.utils.prune."""
    from torch.nn.utils import prune as torch_prune

    for scope in ("global", "layer"):
        ours, theirs = _model(), _model()
        magnitude_prune(ours, 0.6, scope=scope)
        layers = prunable_layers(theirs)
        if scope == "global":
            torch_prune.global_unstructured([(m, "weight") for m in layers], pruning_method=torch_prune.L1Unstructured,
                                            amount=round(0.6 * sum(m.weight.numel() for m in layers)))
        else:
            for m in layers:
                torch_prune.l1_unstructured(m, "weight", amount=round(0.6 * m.weight.numel()))
        for a, b in zip(prunable_layers(ours), layers):
            assert torch.equal(a.weight_mask, b.weight_mask)


def test_a_smaller_amount_keeps_the_mask():
    model = _model()
    magnitude_prune(model, 0.8)
    before = [m.weight_mask.clone() for m in prunable_layers(model)]
    magnitude_prune(model, 0.5)
    magnitude_prune(model, 0.5, scope="layer")
    assert all(torch.equal(m.weight_mask, b) for m, b in zip(prunable_layers(model), before))


def test_masked_weights_stay_zero_through_training():
    model = _model()
    magnitude_prune(model, 0.9)
    x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    fit(model, (x, y), TrainConfig(epochs=2, fast_epochs=2, lr=1e-2))
    for m in prunable_layers(model):
        assert bool((m.weight[m.weight_mask == 0] == 0).all())
        assert (m.weight_orig[m.weight_mask == 1] != 0).any()
    clone = copy.deepcopy(model)  # a pruned, trained model can be copied
    assert torch.equal(clone(x), model(x))


def test_freshly_pruned_model_deep_copies_and_trains():
    model = magnitude_prune(_model(), 0.5)
    clone = copy.deepcopy(model)
    x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    before = clone.net[1].weight_orig.detach().clone()
    fit(clone, (x, y), TrainConfig(epochs=1, lr=1e-2))
    assert not torch.equal(clone.net[1].weight_orig, before)  # gradients reach weight_orig
    assert torch.equal(model.net[1].weight_mask, clone.net[1].weight_mask)


def test_remove_masks_bakes_zeros_in():
    model = _model()
    magnitude_prune(model, 0.5)
    remove_masks(model)
    layer = prunable_layers(model)[0]
    assert not hasattr(layer, "weight_mask") and isinstance(layer.weight, nn.Parameter)
    assert weight_sparsity(model) == pytest.approx(0.5, abs=1e-3)


def test_random_prune_is_seeded():
    a, b = random_prune(_model(), 0.5, seed=3), random_prune(_model(), 0.5, seed=3)
    assert all(torch.equal(x.weight_mask, y.weight_mask) for x, y in zip(prunable_layers(a), prunable_layers(b)))


def test_two_four_mask_pattern():
    torch.manual_seed(0)
    w = torch.randn(6, 16)
    mask = nm_mask(w, 2, 4)
    assert mask.sum() == w.numel() / 2
    assert is_nm_sparse(w * mask, 2, 4) and not is_nm_sparse(w, 2, 4)
    blocks = (w.abs() * mask).reshape(6, 4, 4)
    dropped = (w.abs() * (1 - mask)).reshape(6, 4, 4)
    assert bool((blocks.max(-1).values >= dropped.max(-1).values).all())
    model = nm_prune(_model(), 2, 4)
    assert all(is_nm_sparse(m.weight, 2, 4) for m in prunable_layers(model) if m.weight.shape[1] % 4 == 0)


def test_block_granularities_remove_whole_blocks():
    torch.manual_seed(0)
    model = LeNet5()
    conv = model.features[3]  # (16, 6, 3, 3)
    block_prune(model, 0.5, "filter", layers=[conv])
    filt = (conv.weight != 0).reshape(16, -1).any(1)
    assert int(filt.sum()) == 8
    model = LeNet5()
    conv = model.features[3]
    block_prune(model, 0.5, "kernel", layers=[conv])
    alive = (conv.weight != 0).reshape(16 * 6, 9)
    assert bool((alive.all(1) | ~alive.any(1)).all()) and int(alive.any(1).sum()) == 48


def test_schedules():
    s = iterative_schedule(0.9, 3)
    assert s[-1] == pytest.approx(0.9) and (1 - s[0]) ** 3 == pytest.approx(0.1)
    p = polynomial_schedule(0.9, 4)
    assert p[-1] == pytest.approx(0.9) and p == sorted(p) and p[1] - p[0] > p[3] - p[2]


@pytest.mark.parametrize("amount", [-0.1, 1.0, 2])
def test_bad_amount_raises(amount):
    with pytest.raises(ValueError, match="amount"):
        magnitude_prune(_model(), amount)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="scope"):
        magnitude_prune(_model(), 0.5, scope="net")
    with pytest.raises(TypeError, match="amount"):
        magnitude_prune(_model(), "half")
    with pytest.raises(ValueError, match="granularity"):
        block_prune(_model(), 0.5, "row")
    with pytest.raises(ValueError, match="steps"):
        iterative_schedule(0.5, 0)
    with pytest.raises(ValueError, match="amount"):
        PruneRetrainConfig(amount=1.0)


def test_prune_retrain_reaches_target_and_records_rounds():
    model = _model()
    x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    hist = prune_retrain(model, (x, y), PruneRetrainConfig(amount=0.8, steps=3, retrain=TrainConfig(epochs=1)),
                         val_data=(x, y))
    assert [round(h["target"], 4) for h in hist] == [round(v, 4) for v in polynomial_schedule(0.8, 3)]
    assert weight_sparsity(model) == pytest.approx(0.8, abs=1e-3)
    assert all(0 <= h["acc_retrained"] <= 1 for h in hist)


def test_prune_retrain_fast_preset_shrinks_only_the_retraining():
    """PruneRetrainConfig.fast(): one epoch per round; rounds, schedule and overrides as asked."""
    fast, full = PruneRetrainConfig.fast(amount=0.7, steps=4), PruneRetrainConfig(amount=0.7, steps=4)
    assert (fast.retrain.epochs, fast.retrain.fast_epochs) == (1, 1)
    assert full.retrain.epochs == 8
    assert (fast.amount, fast.steps, fast.scope, fast.schedule) == (full.amount, full.steps, full.scope, full.schedule)
    assert PruneRetrainConfig.fast(retrain=TrainConfig(epochs=3)).retrain.epochs == 3
    with pytest.raises(ValueError, match="amount"):
        PruneRetrainConfig.fast(amount=1.5)


def test_old_sparsity_name_of_the_configs_still_works_with_a_deprecation_warning():
    """Lecture 01 passes HanConfig(sparsity=...): same config as amount=, with a warning naming amount."""
    from effnn.prune import HanConfig

    with pytest.warns(DeprecationWarning, match="'sparsity' is deprecated; use 'amount'"):
        old = HanConfig(sparsity=0.9, steps=2)
    assert old == HanConfig(amount=0.9, steps=2)
    with pytest.warns(DeprecationWarning, match="attribute 'sparsity'"):
        assert PruneRetrainConfig(amount=0.7).sparsity == 0.7
    with pytest.raises(TypeError, match="pass 'amount' only"):
        HanConfig(amount=0.5, sparsity=0.5)


def test_run_han_result_has_every_number_and_reads_like_the_old_dict():
    from effnn.data import classification
    from effnn.prune import HanConfig, HanResult, han_experiment, run_han

    tr, te = classification("train", flatten=True), classification("test", flatten=True)
    data = {"train": (tr[0][:128], tr[1][:128]), "test": (te[0][:64], te[1][:64])}
    cfg = HanConfig(amount=0.8, steps=2, dense=TrainConfig(epochs=1), retrain=TrainConfig(epochs=1))
    res = run_han(cfg, data)
    assert isinstance(res, HanResult)
    assert res["weight_ratio"] == res.weight_ratio == res.nonzero_dense / res.nonzero_iterative
    assert 0.2 * res.nonzero_dense < res.nonzero_iterative < 0.35 * res.nonzero_dense  # 20 % of weights + biases
    assert set(res) >= {"acc_dense", "acc_oneshot_equal_budget", "layer_sparsity_iterative", "dense_model"}
    again = han_experiment(cfg, data)
    assert again.acc_iterative == res.acc_iterative  # same seed, same numbers
    with pytest.raises(TypeError, match="config"):
        run_han({"amount": 0.5}, data)
