"""Supernet weight sharing and Kendall's tau."""
import random

import pytest
import torch
from scipy.stats import kendalltau

from effnn.nas import SuperNet, fresh_subnet, kendall_tau, spread_archs, supernet_accuracy, train_supernet
from effnn.train import TrainConfig


@pytest.mark.parametrize("a,b", [([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]),
                                 ([0.9, 0.8, 0.95, 0.7, 0.85, 0.6], [0.92, 0.81, 0.9, 0.75, 0.88, 0.5]),
                                 ([1, 2, 2, 3, 5], [2, 1, 3, 3, 4])])
def test_kendall_tau_matches_scipy(a, b):
    assert kendall_tau(a, b) == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)


def test_kendall_tau_known_values():
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


def test_subnet_extraction_equals_supernet_path():
    torch.manual_seed(0)
    net = SuperNet()
    x = torch.randn(6, 1, 8, 8)
    rng = random.Random(0)
    for _ in range(5):
        arch = net.sample(rng)
        torch.testing.assert_close(net.extract(arch)(x), net(x, arch), atol=1e-5, rtol=1e-5)
    assert len(net.search_space()) == (3 * 3) ** 3


def test_weights_are_shared():
    torch.manual_seed(0)
    net = SuperNet(layers=1, widths=(2, 4), kernels=(1, 3))
    sub = net.extract(((2, 1),))
    # width 2, kernel 1 = first two filters, centre tap of the 3x3 kernel
    torch.testing.assert_close(sub[0].weight, net.weights[0][:2, :, 1:2, 1:2])
    x = torch.randn(3, 1, 8, 8)
    net.weights[0].data[:2, :, 1, 1] += 1.0  # changing the shared weight changes the small sub-net
    assert not torch.allclose(net(x, ((2, 1),)), sub(x))


def test_training_is_deterministic_and_subnets_differ():
    data = (torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,)))
    cfg = TrainConfig(epochs=1, fast_epochs=1, batch_size=32)
    torch.manual_seed(0)
    a = SuperNet()
    torch.manual_seed(0)
    b = SuperNet()
    assert train_supernet(a, data, cfg) == train_supernet(b, data, cfg)
    archs = spread_archs(a, 4, seed=0)
    assert len(archs) == len(set(archs)) == 4
    assert 0.0 <= supernet_accuracy(a, archs[0], data) <= 1.0
    fresh = fresh_subnet(a, archs[0], seed=1)
    assert not torch.equal(fresh[0].weight, a.extract(archs[0])[0].weight)


def test_bad_input():
    net = SuperNet()
    with pytest.raises(ValueError, match="arch"):
        net(torch.randn(1, 1, 8, 8), ((4, 3),))
    with pytest.raises(ValueError, match="arch"):
        net.extract(((5, 3), (4, 3), (4, 3)))
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="kernels"):
        SuperNet(kernels=(2,))
    with pytest.raises(ValueError, match="n"):
        spread_archs(net, 1)
