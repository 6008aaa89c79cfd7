"""Early exit and mixture of experts: real per-sample routing, counted costs, bad input."""
import pytest
import torch

from effnn.conditional import EarlyExitCNN, TopKMoE, cascade_predict, exit_macs, exits_loss, threshold_sweep
from effnn.measure import count_macs


@pytest.fixture()
def net():
    torch.manual_seed(0)
    return EarlyExitCNN(widths=(4, 8, 16)).eval()


def test_exit_macs_are_cumulative_and_end_at_the_full_model(net):
    x = torch.randn(5, 1, 8, 8)
    costs = exit_macs(net, x)
    assert costs == sorted(costs) and len(costs) == 3
    assert costs[-1] == count_macs(net, x[:1])
    # exit 0 = conv 1->4 (3x3 on 8x8) + head (4 channels x 4x4 cells) -> 10
    assert costs[0] == 4 * 64 * 9 + 4 * 16 * 10


def test_cascade_thresholds(net):
    x = torch.randn(32, 1, 8, 8)
    full = net(x).argmax(1)
    preds, where = cascade_predict(net, x, 1.0)  # nobody is that sure: all go to the end
    assert torch.equal(preds, full) and (where == 2).all()
    preds, where = cascade_predict(net, x, 0.0)  # everybody leaves at the first exit
    assert (where == 0).all()
    assert torch.equal(preds, net.exits(x)[0].argmax(1))


def test_cascade_prediction_equals_its_exit_head(net):
    torch.manual_seed(1)
    x = torch.randn(64, 1, 8, 8)
    preds, where = cascade_predict(net, x, 0.12)
    all_exits = [z.argmax(1) for z in net.exits(x)]
    for i in range(len(x)):
        assert preds[i] == all_exits[where[i]][i]
    rows = threshold_sweep(net, (x, torch.zeros(64, dtype=torch.long)), [0.0, 1.0])
    assert rows[0]["macs"] == exit_macs(net, x)[0] and rows[1]["macs"] == exit_macs(net, x)[-1]
    assert sum(rows[0]["exit_share"]) == pytest.approx(1.0)


def test_exits_loss_sums_all_heads(net):
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    parts = [torch.nn.functional.cross_entropy(z, y) for z in net.exits(x)]
    torch.testing.assert_close(exits_loss(net, x, y), sum(parts))


def test_moe_routes_each_sample_to_k_experts():
    torch.manual_seed(0)
    moe = TopKMoE(6, 3, n_experts=4, k=2, hidden=5)
    x = torch.randn(10, 6)
    out = moe(x)
    assert out.shape == (10, 3)
    assert moe.last_load.sum() == 20
    scores = moe.gate(x)
    top, idx = scores.topk(2, 1)
    w = top.softmax(1)
    expected = torch.stack([sum(w[i, j] * moe.experts[idx[i, j]](x[i:i + 1])[0] for j in range(2))
                            for i in range(10)])
    torch.testing.assert_close(out, expected)
    assert count_macs(moe, x[:1]) == moe.active_macs() == 6 * 4 + 2 * (6 * 5 + 5 * 3)


def test_moe_balance_loss_range():
    torch.manual_seed(0)
    moe = TopKMoE(4, 2, n_experts=4, k=1)
    moe(torch.randn(64, 4))
    assert 1.0 - 1e-6 <= moe.balance_loss().item() <= 4.0


def test_bad_input(net):
    with pytest.raises(ValueError, match="k"):
        TopKMoE(4, 2, n_experts=2, k=3)
    with pytest.raises(TypeError, match="n_experts"):
        TopKMoE(4, 2, n_experts=2.0)
    with pytest.raises(ValueError, match="threshold"):
        cascade_predict(net, torch.randn(2, 1, 8, 8), 1.5)
    with pytest.raises(ValueError, match="widths"):
        EarlyExitCNN(widths=(8,))
    with pytest.raises(TypeError, match="model"):
        exit_macs(torch.nn.Linear(2, 2), torch.randn(1, 2))
