"""effnn.bit_budget: honest byte counts, the widest MLP for a budget, and the equal-bytes experiment."""
import pytest
import torch

from effnn import bit_budget as BB
from effnn.train import TrainConfig


def test_mlp_bytes_counts_weights_scales_and_biases():
    # 40 -> 32 -> 32 -> 10: 40*32 + 32*32 + 32*10 = 2624 weights, 74 rows (biases, and scales when quantized)
    assert BB.mlp_bytes(40, 32, 10, 32) == 2624 * 4 + 74 * 4 == 10792
    assert BB.mlp_bytes(40, 32, 10, 8) == 2624 + 74 * 8
    assert BB.mlp_bytes(40, 32, 10, 2) == 2624 / 4 + 74 * 8
    assert BB.mlp_bytes(40, 32, 10, 4, depth=1) == (40 * 32 + 32 * 10) / 2 + 42 * 8
    with pytest.raises(ValueError, match="w_bits"):
        BB.mlp_bytes(40, 32, 10, 0)
    with pytest.raises(ValueError, match="hidden"):
        BB.mlp_bytes(40, 0, 10, 8)


@pytest.mark.parametrize("bits, width", [(32, 32), (8, 75), (4, 111), (2, 157), (1, 216)])
def test_widest_mlp_fills_the_fp32_width_32_budget(bits, width):
    budget = BB.mlp_bytes(40, 32, 10, 32)
    assert BB.widest_mlp(budget, bits) == width
    assert BB.mlp_bytes(40, width, 10, bits) <= budget < BB.mlp_bytes(40, width + 1, 10, bits)


def test_widest_mlp_refuses_a_budget_too_small():
    with pytest.raises(ValueError, match="budget_bytes"):
        BB.widest_mlp(10, 8)
    with pytest.raises(ValueError, match="budget_bytes"):
        BB.widest_mlp(-1, 8)


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 12, generator=g)
    return x, (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()


def test_equal_bytes_experiment_rows():
    train, test = _data(96, 0), _data(48, 1)
    kwargs = dict(budget_width=4, bits=(32, 4), seeds=(0,), train_cfg=TrainConfig(epochs=1, lr=1e-2),
                  qat_cfg=TrainConfig(epochs=1, lr=1e-3))
    rows = BB.equal_bytes_experiment(train, test, **kwargs)
    assert [r["bits"] for r in rows] == [32, 4]
    assert rows[0]["width"] == 4 and rows[1]["width"] == BB.widest_mlp(rows[0]["budget"], 4, 12, 4)
    assert rows[0]["budget"] == BB.mlp_bytes(12, 4, 4, 32)
    assert all(r["bytes"] <= r["budget"] for r in rows)
    assert rows[1]["params"] == 12 * rows[1]["width"] + rows[1]["width"] ** 2 + rows[1]["width"] * 4
    assert all(len(r["acc"]) == 1 and len(r["acc_float"]) == 1 for r in rows)
    assert BB.equal_bytes_experiment(train, test, **kwargs) == rows  # seeded
    with pytest.raises(ValueError, match=r"bits\[0\]"):
        BB.equal_bytes_experiment(train, test, bits=(0,))
