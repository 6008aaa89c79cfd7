"""Low-rank factorization: exact at full rank, Eckart-Young error, parameter savings, bad input."""
import pytest
import torch
from torch import nn

from effnn.lowrank import (factorize_conv, factorize_linears, max_conv_rank, relative_error,
                           singular_values, svd_linear)
from effnn.measure import count_params
from effnn.models import LeNet300100


def test_svd_linear_full_rank_is_exact():
    torch.manual_seed(0)
    layer = nn.Linear(20, 30)
    x = torch.randn(7, 20)
    f = svd_linear(layer, 20)
    assert [m.weight.shape for m in f] == [torch.Size([20, 20]), torch.Size([30, 20])]
    torch.testing.assert_close(f(x), layer(x), atol=1e-5, rtol=1e-5)


def test_svd_linear_truncation_error_matches_eckart_young():
    torch.manual_seed(1)
    layer = nn.Linear(16, 12, bias=False)
    f = svd_linear(layer, 5)
    approx = f[1].weight @ f[0].weight
    err = ((approx - layer.weight).norm() / layer.weight.norm()).item()
    assert err == pytest.approx(relative_error(layer, 5), rel=1e-4)
    s = singular_values(layer)
    assert err == pytest.approx(float((s[5:] ** 2).sum().sqrt() / s.norm()), rel=1e-4)
    assert relative_error(layer, 12) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("scheme", ["spatial", "channel"])
def test_factorize_conv_full_rank_is_exact(scheme):
    torch.manual_seed(2)
    conv = nn.Conv2d(5, 7, (3, 5), stride=(2, 1), padding=(1, 2))
    f = factorize_conv(conv, max_conv_rank(conv, scheme), scheme)
    x = torch.randn(2, 5, 11, 9)
    torch.testing.assert_close(f(x), conv(x), atol=1e-4, rtol=1e-4)


def test_factorize_conv_shapes_and_params():
    conv = nn.Conv2d(16, 32, 3, padding=1, bias=False)
    spatial = factorize_conv(conv, 4, "spatial")
    assert spatial[0].kernel_size == (3, 1) and spatial[1].kernel_size == (1, 3)
    assert count_params(spatial) == 16 * 4 * 3 + 4 * 32 * 3
    channel = factorize_conv(conv, 4, "channel")
    assert channel[0].kernel_size == (3, 3) and channel[1].kernel_size == (1, 1)
    assert count_params(channel) == 16 * 4 * 9 + 4 * 32


def test_factorize_linears_replaces_only_when_it_saves():
    model = LeNet300100()
    small = factorize_linears(model, 8, skip=("net.5",))
    assert isinstance(small.net[1], nn.Sequential) and isinstance(small.net[3], nn.Sequential)
    assert isinstance(small.net[5], nn.Linear)
    assert count_params(small) == (64 * 8 + 8 * 300 + 300) + (300 * 8 + 8 * 100 + 100) + 100 * 10 + 10
    assert isinstance(model.net[1], nn.Linear)  # the original is untouched
    same = factorize_linears(model, 64)  # rank 64 on 64->300 would not save
    assert isinstance(same.net[1], nn.Linear)


def test_bad_input():
    with pytest.raises(ValueError, match="rank"):
        svd_linear(nn.Linear(4, 3), 4)
    with pytest.raises(TypeError, match="rank"):
        svd_linear(nn.Linear(4, 3), 1.5)
    with pytest.raises(TypeError, match="layer"):
        svd_linear(nn.Conv2d(1, 1, 1), 1)
    with pytest.raises(ValueError, match="scheme"):
        factorize_conv(nn.Conv2d(2, 2, 3), 1, "cp")
    with pytest.raises(ValueError, match="groups"):
        factorize_conv(nn.Conv2d(2, 2, 3, groups=2), 1)
    with pytest.raises(ValueError, match="rank"):
        factorize_linears(LeNet300100(), 0)
