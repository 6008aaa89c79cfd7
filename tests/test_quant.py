"""effnn.quant: the affine map on seeded tensors, round-trip bounds, the STE, PTQ and TTQ."""
import pytest
import torch
from torch import nn

from effnn import quant


def test_qrange():
    assert quant.qrange(8, symmetric=True) == (-127, 127)
    assert quant.qrange(8, symmetric=False) == (0, 255)
    assert quant.qrange(2, symmetric=True) == (-1, 1)
    assert quant.qrange(1, symmetric=False) == (0, 1)


def test_exact_integers_symmetric():
    x = torch.tensor([-1.0, -0.6, 0.0, 0.26, 1.0])
    scale, zp = quant.tensor_qparams(x, 4, symmetric=True)
    assert scale.item() == pytest.approx(1 / 7) and zp.item() == 0
    q = quant.quantize(x, scale, zp, 4, symmetric=True)
    assert q.tolist() == [-7, -4, 0, 2, 7]   # -0.6 * 7 = -4.2 -> -4; 0.26 * 7 = 1.82 -> 2


def test_exact_integers_asymmetric():
    x = torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0])
    scale, zp = quant.tensor_qparams(x, 2, symmetric=False)
    assert scale.item() == pytest.approx(1.0) and zp.item() == 0
    assert quant.quantize(x, scale, zp, 2, symmetric=False).tolist() == [0, 0, 1, 2, 3]
    y = torch.tensor([-1.0, 0.0, 2.0])
    scale, zp = quant.tensor_qparams(y, 8, symmetric=False)
    assert zp.item() == 85  # round(0 - (-1) / (3 / 255)) = round(85.0)
    q = quant.quantize(y, scale, zp, 8, symmetric=False)
    assert q.tolist() == [0, 85, 255]
    assert quant.dequantize(q, scale, zp)[1].item() == 0.0  # zero is exact


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_round_trip_error_is_at_most_half_a_step(bits, symmetric):
    x = torch.randn(1000, generator=torch.Generator().manual_seed(bits))
    scale, zp = quant.tensor_qparams(x, bits, symmetric=symmetric)
    x_hat = quant.dequantize(quant.quantize(x, scale, zp, bits, symmetric=symmetric), scale, zp)
    assert (x - x_hat).abs().max().item() <= scale.item() / 2 + 1e-6


def test_error_falls_with_bits_and_per_channel_helps():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 32, generator=g) * torch.logspace(-2, 0, 16).reshape(-1, 1)
    errors = [quant.quant_error(w, b) for b in (2, 4, 6, 8)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < errors[0] / 100
    assert quant.quant_error(w, 4, axis=0) < quant.quant_error(w, 4)


def test_per_channel_scales():
    w = torch.tensor([[1.0, -2.0], [0.5, 0.25]])
    scale, zp = quant.tensor_qparams(w, 8, symmetric=True, axis=0)
    assert torch.allclose(scale, torch.tensor([2 / 127, 0.5 / 127]))
    q = quant.quantize(w, scale, zp, 8, symmetric=True, axis=0)
    assert q.tolist() == [[64, -127], [127, 64]]


def test_ste_gradient_is_identity_inside_and_zero_outside():
    x = torch.tensor([-3.0, -0.4, 0.1, 0.9, 5.0], requires_grad=True)
    y = quant.fake_quantize(x, 4, symmetric=True, scale=torch.tensor(1 / 7), zero_point=torch.tensor(0))
    y.backward(torch.ones_like(y))
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert y.detach().tolist() == pytest.approx([-1.0, -3 / 7, 1 / 7, 6 / 7, 1.0])


def test_ptq_model_matches_float_at_8_bits_and_degrades_at_2():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(64, 8)
    data = (x, torch.zeros(64, dtype=torch.long))
    ref = model(x)
    e8 = (quant.ptq(model, data, 8, 8)(x) - ref).abs().max().item()
    e2 = (quant.ptq(model, data, 2, 2)(x) - ref).abs().max().item()
    assert e8 < 0.02 < e2
    assert isinstance(model[0], nn.Linear)  # the original is untouched


def test_percentile_observer_clips_outliers():
    x = torch.cat([torch.linspace(-1, 1, 10_000), torch.tensor([100.0])])
    mm, pc = quant.RangeObserver("minmax"), quant.RangeObserver("percentile", 99.0)
    mm(x), pc(x)
    assert mm.hi.item() == 100.0
    assert pc.hi.item() < 1.0


def test_quant_before_calibration_raises():
    q = quant.QuantWrapper(nn.Linear(3, 2))
    q.mode = "quant"
    with pytest.raises(RuntimeError, match="calibrate"):
        q(torch.zeros(1, 3))


def test_ternary_levels_and_gradients():
    w = torch.tensor([-0.9, -0.02, 0.01, 0.5, 1.0], requires_grad=True)
    w_p = torch.tensor(2.0, requires_grad=True)
    w_n = torch.tensor(3.0, requires_grad=True)
    t = quant.ternarize(w, w_p, w_n, threshold=0.05)
    assert t.tolist() == [-3.0, 0.0, 0.0, 2.0, 2.0]
    t.backward(torch.tensor([1.0, 1.0, 1.0, 1.0, 0.5]))
    assert w_p.grad.item() == 1.5  # summed over the positive positions
    assert w_n.grad.item() == -1.0  # minus the sum over the negative ones
    assert w.grad.tolist() == [3.0, 1.0, 1.0, 2.0, 1.0]


def test_ternary_linear_sparsity_grows_with_threshold():
    torch.manual_seed(0)
    layer = nn.Linear(50, 20)
    s = [quant.TernaryLinear.from_linear(layer, t).sparsity() for t in (0.05, 0.3, 0.6)]
    assert s == sorted(s) and s[0] < s[-1]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
def test_int8_helpers_run_and_shrink():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    x = torch.rand(32, 1, 8, 8)
    dyn = quant.dynamic_int8(mlp)
    assert (dyn(x) - mlp(x)).abs().max().item() < 0.05
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 10))
    st = quant.static_int8(cnn, (x, torch.zeros(32, dtype=torch.long)))
    assert st(x).shape == (32, 10)
    assert (st(x) - cnn(x)).abs().max().item() < 0.1
    from effnn.measure import serialized_bytes
    assert serialized_bytes(dyn) < serialized_bytes(mlp) / 2


@pytest.mark.parametrize("bad", [0, -1, 17])
def test_bad_bits_raise(bad):
    with pytest.raises(ValueError, match="bits"):
        quant.qrange(bad, symmetric=False)
    with pytest.raises(ValueError, match="bits"):
        quant.fake_quantize(torch.zeros(3), bad)


def test_bad_input_types_raise():
    with pytest.raises(TypeError, match="bits"):
        quant.qrange(4.0, symmetric=True)
    with pytest.raises(ValueError, match="bits"):
        quant.qrange(1, symmetric=True)
    with pytest.raises(TypeError, match="layer"):
        quant.QuantWrapper(nn.ReLU())
    with pytest.raises(ValueError, match="method"):
        quant.RangeObserver("mean")
    with pytest.raises(ValueError, match="backend"):
        quant.static_int8(nn.Linear(2, 2), (torch.zeros(1, 2), torch.zeros(1)), backend="tpu")
