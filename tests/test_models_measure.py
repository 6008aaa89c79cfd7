import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from effnn import measure, models
from effnn.energy import inference_energy


def test_lenet300100_shapes_and_param_count():
    m = models.LeNet300100(64)
    assert m(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    assert measure.count_params(m) == 64 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert models.LeNet300100(784)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="features"):
        m(torch.zeros(2, 1, 28, 28))


@pytest.mark.parametrize("size", [8, 28])
def test_lenet5_and_rescnn_shapes(size):
    assert models.LeNet5(input_size=size)(torch.zeros(3, 1, size, size)).shape == (3, 10)
    assert models.ResCNN(width=8, blocks=2)(torch.zeros(3, 1, size, size)).shape == (3, 10)
    with pytest.raises(ValueError, match="NCHW"):
        models.LeNet5(input_size=size)(torch.zeros(3, size * size))


def test_segformer_builder_mit_b0_and_overrides(tmp_path):
    m = models.build_segformer()
    assert m.config.hidden_sizes == [32, 64, 160, 256]
    out = m(pixel_values=torch.zeros(1, 3, 64, 64)).logits
    assert out.shape == (1, 2, 16, 16)  # Segformer predicts at 1/4 resolution
    small = models.build_segformer(hidden_sizes=[16, 32, 80, 128], decoder_hidden_size=64)
    assert measure.count_params(small) < measure.count_params(m) / 3
    with pytest.raises(ValueError, match="divisible"):
        models.build_segformer(hidden_sizes=[30, 64, 160, 256], num_attention_heads=[4, 2, 5, 8])
    with pytest.raises(FileNotFoundError, match="no download"):
        models.build_segformer(pretrained=tmp_path / "missing")
    small.save_pretrained(tmp_path / "ckpt")
    again = models.build_segformer(pretrained=tmp_path / "ckpt")
    x = torch.rand(1, 3, 32, 32)
    small.eval(), again.eval()
    assert torch.allclose(small(pixel_values=x).logits, again(pixel_values=x).logits)


def test_linear_costs_by_hand():
    lin = nn.Linear(300, 100)
    assert measure.count_params(lin) == 30100
    assert measure.count_macs(lin, torch.zeros(7, 300)) == 7 * 300 * 100
    assert measure.dense_bytes(lin) == 4 * 30100
    assert measure.dense_bytes(lin.half()) == 2 * 30100


def test_conv_macs_by_hand():
    conv = nn.Conv2d(3, 16, 5, stride=2, padding=2, bias=False)
    out = models.conv_output_size(32, 5, 2, 2)
    assert out == 16
    assert measure.count_macs(conv, torch.zeros(1, 3, 32, 32)) == 16 * out * out * 3 * 5 * 5


def test_nonzero_and_sparse_bytes_follow_pruning_masks():
    lin = nn.Linear(10, 4)
    prune.l1_unstructured(lin, "weight", amount=0.5)
    assert measure.count_params(lin) == 44
    assert measure.count_nonzero(lin) == 20 + int(torch.count_nonzero(lin.bias))
    # CSR by hand: weight 20 nnz * (32 + 32) bits + 5 row pointers * 32; bias 4 nnz * 64 + 2 * 32
    nnz_b = int(torch.count_nonzero(lin.bias))
    assert measure.sparse_bytes(lin) == (20 * 64 + 5 * 32 + nnz_b * 64 + 2 * 32) // 8
    assert measure.dense_bytes(lin) == 4 * 44  # the mask buffer is not counted as model size
    assert 0.45 < measure.sparsity(lin) < 0.5


def test_latency_and_compare_report_consistent_ratios():
    big, small = nn.Linear(512, 512), nn.Linear(512, 8)
    lat = measure.latency(big, torch.zeros(64, 512), min_run_time=0.05)
    assert lat.median_ms > 0 and lat.threads == 2
    r = measure.compare(big, small, torch.zeros(64, 512), rounds=1, min_run_time=0.05)
    assert r["ratio"]["params"] == pytest.approx((512 * 512 + 512) / (512 * 8 + 8))
    assert r["ratio"]["macs"] == 64
    assert r["ratio"]["latency_ms"] > 0  # speed itself is recorded by benchmarks, not asserted in tests
    for side in ("baseline", "candidate"):  # the fastest run can never be slower than the median
        assert 0 < r[side]["latency_min_ms"] <= r[side]["latency_ms"]


def test_measure_bad_inputs():
    with pytest.raises(TypeError, match="nn.Module"):
        measure.count_params("model")
    with pytest.raises(ValueError, match="threads"):
        measure.latency(nn.Linear(2, 2), torch.zeros(1, 2), threads=0)
    with pytest.raises(ValueError):
        measure.sparse_bytes(nn.Linear(2, 2), value_bits=0)


def test_energy_estimate_by_hand():
    e = inference_energy(macs=1000, weight_count=10, dtype="fp32", weights_in="dram")
    assert e["compute_uj"] == pytest.approx(1000 * (3.7 + 0.9) * 1e-6)
    assert e["memory_uj"] == pytest.approx(10 * 640 * 1e-6)
    assert inference_energy(0, 10, "int8", "sram")["memory_uj"] == pytest.approx(10 * 5 / 4 * 1e-6)
    with pytest.raises(ValueError, match="dtype"):
        inference_energy(1, 1, "fp8")
