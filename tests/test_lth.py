"""IMP bookkeeping, rewinding, SNIP, linear-mode-connectivity and DEEP R invariants."""
import copy

import pytest
import torch

from effnn.lth import (DeepR, LTHConfig, apply_masks, error_barrier, find_tickets, imp_prune, instability, interpolate,
                       masks, rewind, spawn_and_compare, snapshot, snip_scores, static_sparse, train_probed)
from effnn.models import LeNet300100
from effnn.prune import magnitude_prune, prunable_layers, weight_sparsity
from effnn.train import TrainConfig, accuracy, fit


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 64, generator=g), torch.randint(0, 10, (n,), generator=g)


def _model(seed=0):
    torch.manual_seed(seed)
    return LeNet300100(hidden=(24, 16))


def test_rewind_restores_theta0_exactly_under_a_mask():
    model = _model()
    theta0 = snapshot(model)
    fit(model, _data(), TrainConfig(epochs=1, lr=1e-2))
    magnitude_prune(model, 0.7)
    rewind(model, theta0)
    for name, m in model.named_modules():
        if hasattr(m, "weight_orig"):
            assert torch.equal(m.weight_orig, theta0[f"{name}.weight"])
            model(torch.zeros(1, 64))  # refresh the forward's weight
            assert torch.equal(m.weight, theta0[f"{name}.weight"] * m.weight_mask)
            assert torch.equal(m.bias, theta0[f"{name}.bias"])


def test_probe_saves_the_rewind_point_and_early_stop():
    model = _model()
    ref = _model()
    fit(ref, _data(), TrainConfig(epochs=3, fast_epochs=3, lr=1e-2, seed=5))  # 2 steps per epoch
    probe = train_probed(model, _data(), TrainConfig(epochs=3, fast_epochs=3, lr=1e-2, seed=5), val_data=_data(32, 1),
                         rewind_step=2, eval_every=1)
    assert probe.step == 6 and len(probe.val_loss) == 6 and 1 <= probe.early_stop_step <= 6
    assert not torch.equal(probe.rewind_state["net.1.weight"], snapshot(_model())["net.1.weight"])
    assert torch.allclose(snapshot(model)["net.1.weight"], snapshot(ref)["net.1.weight"])


def test_imp_layer_amounts_and_output_layer_amount():
    model = _model()
    cfg = LTHConfig(amount=0.4, output_amount=0.2)
    imp_prune(model, cfg, 2)
    layers = prunable_layers(model)
    for layer, s in zip(layers, [1 - 0.6 ** 2, 1 - 0.6 ** 2, 1 - 0.8 ** 2]):
        assert int((layer.weight_mask == 0).sum()) == round(s * layer.weight.numel())


def test_find_tickets_bookkeeping():
    recs = find_tickets(_model, _data(), _data(32, 1), _data(32, 2),
                        LTHConfig(rounds=2, amount=0.5, train=TrainConfig(epochs=1, lr=1e-2)))
    assert [r["round"] for r in recs] == [0, 1, 2]
    assert recs[0]["remaining"] == 1.0 and recs[2]["remaining"] < recs[1]["remaining"] < 1
    assert all(0 <= r[k] <= 1 for r in recs for k in ("acc_ticket", "acc_reinit", "acc_snip"))


def test_masks_copy_between_models_and_survive_training():
    a = magnitude_prune(_model(), 0.8)
    b = apply_masks(_model(1), masks(a))
    fit(b, _data(), TrainConfig(epochs=2, lr=1e-2))
    for la, lb in zip(prunable_layers(a), prunable_layers(b)):
        assert torch.equal(la.weight_mask, lb.weight_mask)
        assert bool((lb.weight[lb.weight_mask == 0] == 0).all())


def test_snip_scores_are_grad_times_weight():
    model = _model()
    x, y = _data(16)
    scores = snip_scores(model, x, y)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    first = prunable_layers(model)[0]
    assert torch.allclose(scores[first], (first.weight.grad * first.weight).abs())


def test_interpolation_endpoints_and_barrier():
    a, b = _model(0), _model(1)
    assert all(torch.equal(p, q) for p, q in zip(interpolate(a, b, 0.0).parameters(), a.parameters()))
    assert all(torch.allclose(p, q) for p, q in zip(interpolate(a, b, 1.0).parameters(), b.parameters()))
    mid = interpolate(a, b, 0.5)
    assert torch.allclose(mid.net[1].weight, (a.net[1].weight + b.net[1].weight) / 2)
    res = error_barrier(a, a, _data(32), alphas=[0, 0.5, 1])
    assert res["barrier"] == pytest.approx(0.0) and len(res["errors"]) == 3
    assert res["errors"][0] == pytest.approx(1 - accuracy(a, _data(32)))


def test_deep_r_keeps_the_connection_budget_and_rewires():
    model = _model()
    layers = prunable_layers(model)[:-1]
    rewire = DeepR(model, 0.1, lr=1e-2, l1=1.0, seed=0, layers=layers)
    budget = rewire.connections()
    assert budget == [round(0.1 * m.weight.numel()) for m in layers]
    fit(model, _data(), TrainConfig(epochs=3, lr=1e-2), after_step=rewire)
    assert rewire.connections() == budget and rewire.rewired > 0
    for m, sign in zip(layers, rewire.signs):
        live = m.weight_mask.bool()
        assert bool((m.weight_orig[live] * sign[live] > 0).all())  # live weights keep their sign
    ctrl = static_sparse(_model(), 0.1, layers=None)
    assert weight_sparsity(ctrl) == pytest.approx(0.9, abs=0.01)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="amount"):
        LTHConfig(amount=1.0)
    with pytest.raises(ValueError, match="controls"):
        LTHConfig(controls=("magic",))
    with pytest.raises(ValueError, match="density"):
        DeepR(_model(), 0.0, lr=1e-2)
    with pytest.raises(ValueError, match="state"):
        rewind(_model(), {})


def test_children_with_the_same_data_order_are_identical():
    parent = magnitude_prune(_model(), 0.5)
    res = spawn_and_compare(parent, snapshot(parent), _data(), _data(32, 1), TrainConfig(epochs=1, lr=1e-2),
                            seeds=(3, 3), alphas=[0, 0.5, 1])
    assert res["barrier"] == 0 and len(set(res["errors"])) == 1


def test_instability_of_a_masked_net():
    mask = masks(magnitude_prune(_model(), 0.5))
    res = instability(_model, _data(), _data(32, 1), TrainConfig(epochs=1, lr=1e-2), rewind_step=1, mask=mask,
                      alphas=[0, 0.5, 1])
    assert len(res["errors"]) == 3 and 0 <= res["barrier"] <= 1


def test_old_rate_names_still_work_with_a_deprecation_warning():
    """Lecture 03 and older code pass rate= / output_rate= and read cfg.rate: same config, one warning each."""
    with pytest.warns(DeprecationWarning, match="'rate' is deprecated; use 'amount'"):
        old = LTHConfig(rate=0.5, output_rate=0.25)
    assert old == LTHConfig(amount=0.5, output_amount=0.25)
    with pytest.warns(DeprecationWarning, match="'output_rate' is deprecated"):
        assert old.output_rate == 0.25
    with pytest.raises(ValueError, match="amount"):  # the check names the new argument
        with pytest.warns(DeprecationWarning):
            LTHConfig(rate=1.5)
    assert LTHConfig.fast(seed=3).rounds == 2 and LTHConfig.fast(seed=3).seed == 3


def test_run_lth_is_find_tickets_in_the_runner_shape():
    from effnn.lth import LTHResult, run_lth

    cfg = LTHConfig(rounds=1, amount=0.5, controls=(), train=TrainConfig(epochs=1, lr=1e-2))
    data = (_data(), _data(32, 1), _data(32, 2))
    res = run_lth(cfg, data, model_fn=_model)
    assert isinstance(res, LTHResult) and [r["round"] for r in res.records] == [0, 1]
    assert res.last["acc_ticket"] == find_tickets(_model, *data, cfg)[-1]["acc_ticket"]
    assert res.last["remaining"] < 0.6
    with pytest.raises(TypeError, match="data"):
        run_lth(cfg, data[:2])
