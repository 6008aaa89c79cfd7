"""effnn.dropout_tickets: dropout goes in without renaming the weighted layers, and the experiment
trains every arm the same way (deterministic, masks shared by ticket and twin)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from effnn.dropout_tickets import add_dropout, dropout_experiment
from effnn.models import LeNet300100
from effnn.train import TrainConfig


def test_add_dropout_keeps_parameter_names_and_only_acts_in_training():
    net = LeNet300100(in_features=8, hidden=(6, 5))
    names = [n for n, _ in net.named_parameters()]
    x = torch.randn(4, 8)
    before = net(x)
    assert add_dropout(net, 0.5) is net
    assert [n for n, _ in net.named_parameters()] == names
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 2
    assert all(m.p == 0.5 for m in net.modules() if isinstance(m, nn.Dropout))
    net.eval()
    assert torch.equal(net(x), before)  # dropout is the identity at evaluation
    net.train()
    torch.manual_seed(0)
    assert not torch.equal(net(x), before)


def test_add_dropout_zero_changes_nothing_and_bad_input_is_refused():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    assert [type(m) for m in add_dropout(net, 0.0)] == [nn.Linear, nn.ReLU, nn.Linear]
    with pytest.raises(ValueError, match="ReLU"):
        add_dropout(nn.Linear(2, 2), 0.5)
    with pytest.raises(ValueError, match="p"):
        add_dropout(net, 1.0)


def _data(seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 8, generator=gen)
    return x, (x[:, 0] > 0).long()


def test_dropout_experiment_is_deterministic_and_prunes_as_asked():
    make = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))  # noqa: E731
    cfg = TrainConfig(epochs=2, fast_epochs=2, batch_size=32, lr=1e-2)
    kw = dict(dropouts=(0.0, 0.5), amount=0.75, output_amount=0.5, seeds=(0, 1))
    a = dropout_experiment(make, _data(0), _data(1), cfg, **kw)
    b = dropout_experiment(make, _data(0), _data(1), cfg, **kw)
    assert a == b
    assert sorted(a["ticket"]) == [0.0, 0.5] and all(len(a[k][p]) == 2 for k in ("dense", "ticket", "reinit")
                                                      for p in (0.0, 0.5))
    # 8*16 weights at 75 % and 16*2 at 50 %: 32 + 16 of 160 remain
    assert a["remaining"] == pytest.approx(48 / 160)
    assert a["n_test"] == 96
    # the arms differ: dropout changes the training, so some accuracy differs between the two rates
    assert a["dense"][0.0] != a["dense"][0.5] or a["ticket"][0.0] != a["ticket"][0.5]
