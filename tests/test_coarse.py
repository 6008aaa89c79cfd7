"""effnn.coarse: heads removed for real equal heads masked, and block deletion leaves the model intact."""
import copy
import itertools

import pytest
import torch
from torch import nn

from effnn import coarse as C
from effnn.measure import count_macs, count_params
from effnn.models import ResCNN, ResidualBlock
from effnn.train import accuracy


def _vit(seed=0):
    torch.manual_seed(seed)
    return C.RowTransformer(width=8, height=8, dim=32, num_heads=4, depth=2).eval()


def test_row_transformer_shapes_and_bad_input():
    m = _vit()
    assert m(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(ValueError, match="expects"):
        m(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="divisible"):
        C.HeadAttention(30, 4)


def test_pruned_heads_equal_the_same_heads_masked():
    """Removing half the heads with torch-pruning computes exactly what the original model computes
    with those heads' outputs multiplied by 0 (one keep-set per layer must match, and only one)."""
    m, x = _vit(), torch.rand(5, 1, 8, 8)
    pruned = C.prune_heads(copy.deepcopy(m), x, 0.5)
    assert [a.num_heads for a in C.attention_layers(pruned)] == [2, 2]
    assert count_macs(pruned, x[:1]) < count_macs(m, x[:1]) and count_params(pruned) < count_params(m)
    y = pruned(x)
    matches = []
    for keep in itertools.product(itertools.combinations(range(4), 2), repeat=2):
        for att, k in zip(C.attention_layers(m), keep):
            att.head_gate = torch.zeros(4)
            att.head_gate[list(k)] = 1.0
        if torch.allclose(m(x), y, atol=1e-5):
            matches.append(keep)
    assert len(matches) == 1, matches


def test_prune_heads_refuses_bad_input():
    m, x = _vit(), torch.rand(1, 1, 8, 8)
    with pytest.raises(ValueError, match="amount"):
        C.prune_heads(m, x, 1.0)
    with pytest.raises(TypeError, match="amount"):
        C.prune_heads(m, x, "half")
    with pytest.raises(ValueError, match="no HeadAttention"):
        C.prune_heads(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), x, 0.5)
    assert C.prune_heads(m, x, 0.0) is m and [a.num_heads for a in C.attention_layers(m)] == [4, 4]


def test_head_ablation_grid_and_model_unchanged():
    m, x = _vit(), torch.rand(40, 1, 8, 8)
    y = m(x).argmax(1)  # labels the intact model gets all right
    before = m(x)
    grid = C.head_ablation(m, (x, y))
    assert grid.shape == (2, 4) and bool(((grid >= 0) & (grid <= 1)).all())
    assert torch.equal(m(x), before) and all(a.head_gate is None for a in C.attention_layers(m))


def test_plain_twin_has_the_same_convolutions_without_skips():
    net = ResCNN(width=8, blocks=2)
    twin = C.plain_twin(net)
    assert not any(isinstance(mod, ResidualBlock) for mod in twin.modules())
    assert len(C.blocks_of(twin)) == len(C.blocks_of(net)) == 4
    assert count_params(twin) == count_params(net)
    assert twin(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_deleting_a_block_that_adds_nothing_changes_nothing():
    """A residual block whose last BN scale and shift are 0 adds 0 to a non-negative input, so it is the
    identity: deleting it leaves every prediction, hence the accuracy, exactly as it was."""
    torch.manual_seed(0)
    net = ResCNN(width=8, blocks=2).eval()
    for _, block in C.blocks_of(net):
        nn.init.zeros_(block.bn2.weight)
        nn.init.zeros_(block.bn2.bias)
    x = torch.rand(30, 1, 8, 8)
    y = torch.arange(30) % 10
    before = net(x)
    acc = accuracy(net, (x, y))
    assert C.block_deletion(net, (x, y)) == {n: acc for n, _ in C.blocks_of(net)}
    assert torch.equal(net(x), before)
    with pytest.raises(ValueError, match="no residual or plain blocks"):
        C.block_deletion(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (x, y))
