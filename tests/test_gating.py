"""effnn.gating: per-input block skipping (ConvNet-AIG) that really skips, and its MAC count."""
import pytest
import torch
from torch import nn

from effnn import gating
from effnn.measure import count_macs


def _net(**kw):
    torch.manual_seed(0)
    return gating.GatedResNet(width=4, blocks=3, gate_hidden=4, **kw)


def test_eval_skipping_equals_masked_residuals():
    net = _net().eval()
    with torch.no_grad():
        for g in net.gates:  # make the gates disagree across samples
            g[-1].weight.normal_(0, 5.0)
        x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        out = net(x)
        gates = net.last_gates
        h = net.stem(x)
        for g, block in zip(gates, net.blocks):
            h = torch.relu(h + g[:, None, None, None] * block(h))
        ref = net.head(h)
    assert torch.allclose(out, ref, atol=1e-5)
    rates = net.execution_rates()
    assert rates.shape == (3,) and ((rates > 0) & (rates < 1)).any()


def test_initial_gates_are_open_and_ungated_runs_everything():
    x = torch.randn(5, 1, 8, 8)
    net = _net().eval()
    net(x)
    assert net.execution_rates().tolist() == [1.0, 1.0, 1.0]
    plain = _net(gated=False).eval()
    plain(x)
    assert plain.execution_rates().tolist() == [1.0, 1.0, 1.0]


def test_per_sample_macs():
    plain = _net(gated=False)
    x = torch.randn(3, 1, 8, 8)
    feat = plain.stem(x[:1])
    block = count_macs(plain.blocks[0], feat)
    fixed = count_macs(plain.stem, x[:1]) + count_macs(plain.head, feat)
    assert gating.per_sample_macs(plain, x).tolist() == [fixed + 3 * block] * 3
    assert block == 2 * 4 * 4 * 9 * 64  # two 4->4 3x3 convs on 8x8
    net = _net()
    with torch.no_grad():
        net.gates[1][-1].bias.copy_(torch.tensor([5.0, -5.0]))  # block 2 always off
    gate_macs = sum(count_macs(g, feat) for g in net.gates)
    assert gating.per_sample_macs(net, x).tolist() == [fixed + gate_macs + 2 * block] * 3


def test_target_rate_loss_value():
    net = _net().train()
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.arange(8) % 10
    torch.manual_seed(3)
    loss = gating.target_rate_loss_fn(0.25, weight=2.0)(net, x, y)
    torch.manual_seed(3)  # the same Gumbel draws
    logits = net(x)
    rates = torch.stack([g.mean() for g in net.last_gates])
    expected = torch.nn.functional.cross_entropy(logits, y) + 2.0 * (rates - 0.25).pow(2).sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert (rates - 0.25).abs().sum() > 0  # the rate term is not zero here
    loss.backward()  # the straight-through gate lets the loss reach the gates
    assert net.gates[0][-1].weight.grad.abs().sum() > 0
    plain = _net(gated=False).train()
    assert gating.target_rate_loss_fn(0.25)(plain, x, y).item() == pytest.approx(
        torch.nn.functional.cross_entropy(plain(x), y).item(), rel=1e-5)


def test_training_uses_hard_decisions():
    net = _net().train()
    net(torch.randn(6, 1, 8, 8))
    for g in net.last_gates:
        assert set(g.detach().unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("kw, err", [(dict(blocks=0), ValueError), (dict(width=2.0), TypeError),
                                     (dict(temperature=0), ValueError), (dict(gated="yes"), TypeError)])
def test_refuses_bad_arguments(kw, err):
    with pytest.raises(err):
        gating.GatedResNet(**kw)


def test_refuses_bad_inputs():
    with pytest.raises(ValueError, match="NCHW"):
        _net()(torch.randn(2, 64))
    with pytest.raises(RuntimeError, match="forward"):
        _net().execution_rates()
    with pytest.raises(TypeError, match="GatedResNet"):
        gating.target_rate_loss_fn()(nn.Linear(2, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="target"):
        gating.target_rate_loss_fn(1.5)
