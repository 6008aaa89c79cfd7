"""effnn.rewinding: snapshots at given steps and the rewind-step sweep."""
import copy

import pytest
import torch
from torch import nn

from effnn import lth as L
from effnn import rewinding as R
from effnn.models import LeNet300100
from effnn.train import TrainConfig, fit


def _data(n=64, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()


def test_snapshots_are_the_weights_after_each_step():
    torch.manual_seed(0)
    net = nn.Linear(12, 4)
    theta0 = net.weight.detach().clone()
    snaps = R.Snapshots(net, [0, 2, 3])
    seen = []
    fit(net, _data(64), TrainConfig(epochs=1, batch_size=16, lr=0.1, optimizer="sgd", momentum=0.0),
        after_step=lambda m: (snaps(m), seen.append(m.weight.detach().clone())))
    assert sorted(snaps.saved) == [0, 2, 3] and snaps.step == 4  # 64 / 16 = 4 steps
    assert torch.equal(snaps.saved[0]["weight"], theta0)
    assert torch.equal(snaps.saved[2]["weight"], seen[1]) and torch.equal(snaps.saved[3]["weight"], seen[2])
    with pytest.raises(ValueError, match=r"steps\[0\]"):
        R.Snapshots(net, [-1])
    with pytest.raises(ValueError, match="steps"):
        R.Snapshots(net, [])


def test_steps_per_epoch():
    assert R.steps_per_epoch(_data(64), 16) == 4
    assert R.steps_per_epoch(_data(65), 16) == 5
    with pytest.raises(ValueError, match="batch_size"):
        R.steps_per_epoch(_data(8), 0)


def test_rewind_sweep_rewinds_one_mask_to_each_step():
    train, test = _data(128, seed=0), _data(64, seed=1)
    make = lambda: LeNet300100(in_features=12, hidden=(16, 8), num_classes=4)  # noqa: E731
    cfg = TrainConfig(epochs=2, fast_epochs=2, batch_size=32, lr=1e-2)
    out = R.rewind_sweep(make, train, test, cfg, [0, 3, 8], amount=0.75, output_amount=0.5, seeds=(0,))
    assert (out["steps_per_epoch"], out["total_steps"], out["n_test"]) == (4, 8, 64)
    # 16*12 + 8*16 hidden weights keep a quarter, the 4*8 output weights half
    assert out["remaining"] == pytest.approx((48 + 32 + 16) / (192 + 128 + 32))
    assert sorted(out["acc"]) == [0, 3, 8] and all(len(v) == 1 for v in out["acc"].values())
    assert len(out["acc_reinit"]) == 1 and len(out["dense"]) == 1
    again = R.rewind_sweep(make, train, test, cfg, [0, 3, 8], amount=0.75, output_amount=0.5, seeds=(0,))
    assert again["acc"] == out["acc"] and again["acc_reinit"] == out["acc_reinit"]  # seeded
    alone = R.rewind_sweep(make, train, test, cfg, [8], amount=0.75, output_amount=0.5, seeds=(0,), control=False,
                           warmup_steps=4)
    assert alone["acc_reinit"] == [] and alone["acc"][8] == out["acc"][8]  # the arms change nothing else
    assert len(alone["acc_warmup"]) == 1 and out["acc_warmup"] == []
    with pytest.raises(ValueError, match="within the dense training"):
        R.rewind_sweep(make, train, test, cfg, [0, 9], seeds=(0,))
    with pytest.raises(ValueError, match="seeds"):
        R.rewind_sweep(make, train, test, cfg, [0], seeds=())


def test_rewinding_to_step_zero_is_the_lottery_ticket():
    # rewound to step 0, the sweep's ticket is Frankle & Carbin's: the same theta0 under the mask
    torch.manual_seed(0)
    net = LeNet300100(in_features=12, hidden=(16, 8), num_classes=4)
    snaps = R.Snapshots(net, [0])
    theta0 = L.snapshot(net)
    assert all(torch.equal(snaps.saved[0][k], v) for k, v in theta0.items())


def test_fit_warmup_of_one_step_is_fit():
    data = _data(64)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-2)
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4))
    b = copy.deepcopy(a)
    fit(a, data, cfg)
    R.fit_warmup(b, data, cfg, warmup_steps=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_fit_warmup_ramps_the_learning_rate():
    # plain SGD from zero weights: the first step's size is lr / warmup_steps times the gradient
    data = _data(16)
    net = nn.Sequential(nn.Linear(12, 4))
    nn.init.zeros_(net[0].weight), nn.init.zeros_(net[0].bias)
    probe = copy.deepcopy(net)
    nn.functional.cross_entropy(probe(data[0]), data[1]).backward()
    R.fit_warmup(net, data, TrainConfig(epochs=1, batch_size=16, lr=0.5, optimizer="sgd", momentum=0.0), warmup_steps=5)
    assert torch.allclose(net[0].weight, -0.5 / 5 * probe[0].weight.grad, atol=1e-7)
    with pytest.raises(ValueError, match="warmup_steps"):
        R.fit_warmup(net, data, TrainConfig(epochs=1), warmup_steps=0)
