"""effnn.cp: the CP layer computes its kernel's CP approximation; exact for a kernel of CP rank R."""
import pytest
import torch
from torch import nn

from effnn import cp
from effnn.measure import count_macs, count_params


def _rank_r_conv(rank=3, d=6, c=4, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b, y, x = (torch.randn(n, rank, generator=g) for n in (d, c, k, k))
    conv = nn.Conv2d(c, d, k, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.einsum("or,cr,yr,xr->ocyx", a, b, y, x))
        conv.bias.copy_(torch.randn(d, generator=g))
    return conv


def test_exact_for_a_kernel_of_cp_rank_r():
    conv = _rank_r_conv()
    layers = cp.cp_conv(conv, 3)
    assert layers.kernel_error < 1e-6
    x = torch.randn(2, 4, 7, 7, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(layers(x), conv(x), atol=1e-4)


def test_stride_and_padding_are_kept():
    conv = _rank_r_conv()
    conv.stride, conv.padding = (2, 2), (1, 1)
    x = torch.randn(1, 4, 9, 9, generator=torch.Generator().manual_seed(2))
    out = cp.cp_conv(conv, 3)(x)
    assert out.shape == conv(x).shape == (1, 6, 5, 5)
    assert torch.allclose(out, conv(x), atol=1e-4)


def test_seeded_error_value_and_determinism():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, padding=1)
    e1 = cp.cp_conv(conv, 4, seed=0).kernel_error
    e2 = cp.cp_conv(conv, 4, seed=0).kernel_error
    assert e1 == e2
    assert e1 == pytest.approx(0.86636, abs=1e-4)
    assert cp.cp_conv(conv, 20).kernel_error < cp.cp_conv(conv, 4).kernel_error


def test_counts_follow_the_formula():
    conv = nn.Conv2d(64, 32, 3, padding=1, bias=False)
    layers = cp.cp_layers(conv, 10)
    assert count_params(layers) == cp.cp_params(conv, 10) == 10 * (64 + 3 + 3 + 32)
    x = torch.zeros(1, 64, 8, 8)
    assert count_macs(layers, x) == 10 * (64 + 3 + 3 + 32) * 64


def test_factor_scales_are_balanced():
    conv = _rank_r_conv()
    (a, b, y, x), _ = cp.cp_factors(conv, 3)
    norms = torch.stack([f.norm(dim=0) for f in (a, b, y, x)])  # 4 x R
    assert torch.allclose(norms, norms[0:1].expand_as(norms), rtol=1e-4)


@pytest.mark.parametrize("bad, err", [(nn.Linear(3, 3), TypeError), (nn.Conv2d(4, 4, 3, groups=2), ValueError),
                                      (nn.Conv2d(4, 4, 3, dilation=2), ValueError)])
def test_refuses_other_layers(bad, err):
    with pytest.raises(err, match="conv"):
        cp.cp_conv(bad, 2)


@pytest.mark.parametrize("rank", [0, 2.0, True])
def test_refuses_bad_rank(rank):
    with pytest.raises((TypeError, ValueError), match="rank"):
        cp.cp_conv(nn.Conv2d(2, 2, 3), rank)


def test_refuses_zero_kernel():
    conv = nn.Conv2d(2, 2, 3)
    nn.init.zeros_(conv.weight)
    with pytest.raises(ValueError, match="zeros"):
        cp.cp_conv(conv, 2)
