"""effnn.reconstruct: PCA of the responses (Zhang et al. 2015) beats the kernel SVD on output error."""
import pytest
import torch
from torch import nn

from effnn import lowrank, reconstruct


def _setup(seed=0):
    torch.manual_seed(seed)
    conv = nn.Conv2d(6, 12, 3, padding=1)
    # inputs concentrated in two channel directions, as real feature maps are
    basis = torch.randn(2, 6)
    x = torch.einsum("nkhw,kc->nchw", torch.randn(40, 2, 5, 5), basis) + 0.05 * torch.randn(40, 6, 5, 5)
    return conv, x


def test_full_rank_is_exact():
    conv, x = _setup()
    approx = reconstruct.output_reconstruct_conv(conv, 12, x)
    assert torch.allclose(approx(x), conv(x), atol=1e-4)
    assert reconstruct.relative_output_error(conv, approx, x) < 1e-5


def test_output_reconstruction_beats_filter_reconstruction_on_its_data():
    conv, x = _setup()
    for rank in (1, 2, 4, 8):
        out = reconstruct.relative_output_error(conv, reconstruct.output_reconstruct_conv(conv, rank, x), x)
        filt = reconstruct.relative_output_error(conv, lowrank.factorize_conv(conv, rank, "channel"), x)
        assert out <= filt + 1e-9


def test_seeded_values():
    conv, x = _setup()
    out = reconstruct.relative_output_error(conv, reconstruct.output_reconstruct_conv(conv, 2, x), x)
    filt = reconstruct.relative_output_error(conv, lowrank.factorize_conv(conv, 2, "channel"), x)
    assert out == pytest.approx(0.76636, abs=1e-4)
    assert filt == pytest.approx(0.82416, abs=1e-4)


def test_same_shapes_as_the_channel_scheme():
    conv, x = _setup()
    a = reconstruct.output_reconstruct_conv(conv, 3, x)
    b = lowrank.factorize_conv(conv, 3, "channel")
    assert [m.weight.shape for m in a] == [m.weight.shape for m in b]


def test_responses_shape():
    conv, x = _setup()
    assert reconstruct.conv_responses(conv, x).shape == (40 * 25, 12)


@pytest.mark.parametrize("rank", [0, 13, 1.5])
def test_refuses_bad_rank(rank):
    conv, x = _setup()
    with pytest.raises((TypeError, ValueError), match="rank"):
        reconstruct.output_reconstruct_conv(conv, rank, x)


def test_refuses_wrong_inputs():
    conv, x = _setup()
    with pytest.raises(ValueError, match="channels"):
        reconstruct.output_reconstruct_conv(conv, 2, x[:, :3])
    with pytest.raises((TypeError, ValueError), match="inputs"):
        reconstruct.output_reconstruct_conv(conv, 2, x[0])
    with pytest.raises(TypeError, match="conv"):
        reconstruct.output_reconstruct_conv(nn.Linear(2, 2), 1, x)
