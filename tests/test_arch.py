"""Architectures: MAC/param formulas vs counted, compound-scaling arithmetic, the table fallback."""
import math

import pytest
import torch

from effnn import arch
from effnn.measure import count_macs, count_params


@pytest.mark.parametrize("c_in,c_out,k,stride,side", [(8, 16, 3, 1, 10), (32, 64, 3, 2, 16), (6, 10, 5, 1, 7)])
def test_depthwise_separable_matches_formulas(c_in, c_out, k, stride, side):
    m = arch.DepthwiseSeparableConv(c_in, c_out, k, stride)
    x = torch.randn(1, c_in, side, side)
    out = m(x)
    h = out.shape[-1]
    assert h == (side + 2 * (k // 2) - k) // stride + 1
    assert count_macs(m, x) == arch.separable_macs(c_in, c_out, k, h, h)
    assert count_params(m) == arch.separable_params(c_in, c_out, k)
    standard = torch.nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False)
    assert count_macs(standard, x) == arch.conv_macs(c_in, c_out, k, h, h)
    ratio = arch.separable_macs(c_in, c_out, k, h, h) / arch.conv_macs(c_in, c_out, k, h, h)
    assert ratio == pytest.approx(1 / c_out + 1 / k ** 2)


def test_grouped_conv_macs():
    conv = torch.nn.Conv2d(8, 12, 3, padding=1, groups=4, bias=False)
    assert count_macs(conv, torch.randn(1, 8, 5, 5)) == arch.conv_macs(8, 12, 3, 5, 5, groups=4) == 12 * 25 * 2 * 9


def test_fire_module_params_and_shape():
    f = arch.Fire(96, 16, 64, 64)
    assert count_params(f) == (96 * 16 + 16) + (16 * 64 + 64) + (16 * 64 * 9 + 64) == 11920
    assert f(torch.randn(2, 96, 9, 9)).shape == (2, 128, 9, 9)


def test_squeezenet_params_match_the_paper_size():
    assert count_params(arch.squeezenet(1000, "1.0")) == 1_248_424
    assert count_params(arch.squeezenet(1000, "1.1")) == 1_235_496


def test_compound_scaling_arithmetic():
    s = arch.compound_scaling(2)
    assert s["depth"] == pytest.approx(1.44)
    assert s["width"] == pytest.approx(1.21)
    assert s["resolution_mult"] == pytest.approx(1.3225)
    assert s["resolution"] == 296
    assert s["flops_factor"] == pytest.approx((1.2 * 1.1 ** 2 * 1.15 ** 2) ** 2)
    assert arch.compound_scaling(0)["flops_factor"] == 1.0
    assert math.log2(arch.compound_scaling(3)["flops_factor"]) == pytest.approx(3 * math.log2(1.92027), rel=1e-4)
    grid = arch.compound_grid(step=0.05, tol=0.1)
    assert (1.2, 1.1, 1.15) in grid
    assert all(abs(a * b * b * g * g - 2) <= 0.1 + 1e-9 for a, b, g in grid)


def test_scaled_cnn_macs_grow_with_width_squared():
    x = torch.randn(1, 1, 8, 8)
    base = count_macs(arch.scaled_cnn(1, 1), x)
    wide = count_macs(arch.scaled_cnn(1, 2), x)
    assert 3.0 < wide / base <= 4.0  # the first conv grows linearly, the rest quadratically


def test_table_rows():
    rows = arch.architecture_table(["SqueezeNet-1.1"], resolution=32, min_run_time=0.01, progress=False)
    assert len(rows) == 1 and rows[0]["model"] == "SqueezeNet-1.1"
    assert rows[0]["params_M"] == pytest.approx(1.235496)
    assert rows[0]["macs_M"] > 0 and rows[0]["latency_ms"] > 0


def test_backend_builds_real_architectures_without_download():
    assert arch.backend() in ("torchvision", "transformers")
    model = arch.build("MobileNetV2")
    assert count_params(model) == pytest.approx(3.5e6, rel=0.03)  # paper: 3.4M
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)


def test_bad_input():
    with pytest.raises(ValueError, match="groups"):
        arch.conv_macs(6, 4, 3, 2, 2, groups=4)
    with pytest.raises(TypeError, match="c_in"):
        arch.DepthwiseSeparableConv(2.0, 4)
    with pytest.raises(ValueError, match="phi"):
        arch.compound_scaling(-1)
    with pytest.raises(ValueError, match="beta"):
        arch.compound_scaling(1, beta=0.9)
    with pytest.raises(ValueError, match="name"):
        arch.build("AlexNet")
    with pytest.raises(ValueError, match="version"):
        arch.squeezenet(10, "2.0")


def test_torchvision_path_and_per_model_fallback(monkeypatch):
    fake = {"ResNet-18": lambda: torch.nn.Linear(2, 2)}
    monkeypatch.setattr(arch, "_torchvision_zoo", lambda: fake)
    model, source = arch._build("ResNet-18", "torchvision")
    assert source == "torchvision" and isinstance(model, torch.nn.Linear)
    _, source = arch._build("SqueezeNet-1.1", "torchvision")  # not in this zoo: built from fire modules
    assert source == "effnn.arch.squeezenet"
    with pytest.raises(ValueError, match="source"):
        arch._build("ResNet-18", "timm")
