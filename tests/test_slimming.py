"""effnn.slimming: the 1-D CNN, the BN-scale penalty, and the prune-then-fine-tune comparison."""
import pytest
import torch
from torch import nn

from effnn import slimming as SL
from effnn.train import TrainConfig


def _data(n=96, length=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, length, generator=g)
    y = (x[:, :20].sum(1) > 0).long() + 2 * (x[:, 20:].sum(1) > 0).long()  # 4 learnable classes
    return x, y


def test_convnet1d_shapes_and_bad_input():
    net = SL.ConvNet1d(length=40, width=8)
    assert net(torch.zeros(3, 40)).shape == (3, 10)
    assert net(torch.zeros(3, 1, 40)).shape == (3, 10)
    assert net.classifier[1].in_features == 8 * 10  # 40 -> 20 -> 10 after two stride-2 convs
    assert SL.ConvNet1d(length=41, width=4).classifier[1].in_features == 4 * 11
    with pytest.raises(ValueError, match="expects"):
        net(torch.zeros(3, 39))
    with pytest.raises(ValueError, match="width"):
        SL.ConvNet1d(width=0)


def test_bn_scales_and_penalty_exact():
    torch.manual_seed(0)
    net = SL.ConvNet1d(length=40, width=8)
    gammas = SL.bn_scales(net)
    assert gammas.shape == (24,) and torch.equal(gammas, torch.ones(24))  # BatchNorm initialises gamma = 1
    x, y = _data(8)
    ce = nn.functional.cross_entropy(net(x), y)
    assert SL.slimming_loss(0.5)(net, x, y).item() == pytest.approx(ce.item() + 0.5 * 24, abs=1e-6)
    assert SL.slimming_loss(0.0)(net, x, y).item() == pytest.approx(ce.item(), abs=1e-6)
    with pytest.raises(ValueError, match="BatchNorm"):
        SL.bn_scales(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="l1"):
        SL.slimming_loss(-1.0)


def test_penalty_gradient_is_lambda_sign_gamma():
    net = SL.ConvNet1d(length=40, width=4)
    x, y = _data(8)
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    g_ce = net.features[1].weight.grad.clone()
    net.zero_grad()
    SL.slimming_loss(0.25)(net, x, y).backward()
    assert torch.allclose(net.features[1].weight.grad - g_ce, torch.full((4,), 0.25), atol=1e-6)


def test_criteria_after_finetuning_runs_every_arm_at_one_shape():
    train, test = _data(128, seed=0), _data(64, seed=1)
    kwargs = dict(amount=0.5, seeds=(0,), width=8, l1=5e-2, train_cfg=TrainConfig(epochs=2, fast_epochs=2, lr=3e-3),
                  finetune_cfg=TrainConfig(epochs=1, fast_epochs=1, lr=1e-3), calibration=32, latency_rounds=1)
    out = SL.criteria_after_finetuning(train, test, **kwargs)
    assert list(out["acc"]) == [a[0] for a in SL.ARMS]
    assert all(len(v) == 1 and 0 <= v[0] <= 1 for v in out["acc"].values())
    assert out["n_test"] == 64 and out["amount"] == 0.5
    # 8 -> 4 channels in every conv: the first conv's MACs halve, the other two quarter, the classifier halves
    dense = 8 * 1 * 5 * 40 + 8 * 8 * 3 * 20 + 8 * 8 * 3 * 10 + 80 * 10
    pruned = 4 * 1 * 5 * 40 + 4 * 4 * 3 * 20 + 4 * 4 * 3 * 10 + 40 * 10
    assert (out["macs_dense"], out["macs_pruned"]) == (dense, pruned)
    assert out["latency"]["ratio"]["macs"] == dense / pruned  # the timed pair is the counted pair
    assert out["gammas"]["slimmed"].mean() < out["gammas"]["plain"].mean()
    again = SL.criteria_after_finetuning(train, test, **{**kwargs, "latency_rounds": 0})
    assert "latency" not in again
    assert again["acc"] == out["acc"] and again["acc_no_finetune"] == out["acc_no_finetune"]  # seeded


def test_criteria_after_finetuning_rejects_bad_arguments():
    data = _data(16)
    with pytest.raises(ValueError, match="amount"):
        SL.criteria_after_finetuning(data, data, amount=1.5)
    with pytest.raises(ValueError, match="distinct"):
        SL.criteria_after_finetuning(data, data, arms=(("a", "l1", False), ("a", "l2", False)))
    with pytest.raises(ValueError, match="seeds"):
        SL.criteria_after_finetuning(data, data, seeds=[])
    with pytest.raises(ValueError, match="calibration"):
        SL.criteria_after_finetuning(data, data, calibration=0)
