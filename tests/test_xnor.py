"""A2's reference packing and numpy XNOR product (autograder.reference.xnor), and effnn.xnor's compiled
kernel, which reads only its own layout."""
import numpy as np
import pytest
import torch

from autograder.reference import xnor
from effnn import xnor as fast

SHAPES = [(1, 1, 1), (1, 8, 1), (3, 7, 5), (2, 63, 4), (5, 64, 3), (4, 65, 9), (33, 130, 64),
          (8, 1000, 257), (64, 129, 1)]


@pytest.mark.parametrize("k", [1, 7, 8, 9, 63, 64, 65, 127, 128, 200])
def test_pack_unpack_round_trip(k):
    x = np.random.default_rng(k).standard_normal((3, k)).astype(np.float32)
    x[0, 0] = 0.0  # sign(0) = +1
    bits = xnor.pack_signs(x)
    assert bits.dtype == np.uint64 and bits.shape == (3, xnor.n_words(k))
    assert np.array_equal(xnor.unpack_signs(bits, k), xnor.sign_matrix(x))
    assert xnor.unpack_signs(bits, k)[0, 0] == 1


def test_pack_bit_order_and_padding():
    bits = xnor.pack_signs(np.array([1.0, -1.0, 1.0, 1.0] + [-1.0] * 60 + [1.0]))
    assert bits.tolist() == [0b1101, 1]
    assert xnor.pack_signs(torch.tensor([[-1.0] * 3])).tolist() == [[0]]


def test_pack_rejects_bad_input():
    with pytest.raises(TypeError, match="x"):
        xnor.pack_signs([1, -1])
    with pytest.raises(ValueError, match="n"):
        xnor.unpack_signs(xnor.pack_signs(np.ones((2, 70))), 64)
    with pytest.raises(TypeError, match="packed"):
        xnor.unpack_signs(np.ones((2, 2)), 70)


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_xnor_matmul_equals_float_product(m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    a[0, 0] = 0.0
    expected = xnor.sign_matrix(a) @ xnor.sign_matrix(b)
    for got in (xnor.xnor_matmul_numpy(xnor.pack_signs(a), xnor.pack_signs(b.T), k),
                fast.xnor_matmul_fast(fast.pack_rows(a), fast.pack_rows(b.T), k)):
        assert got.dtype == np.int32 and got.shape == (m, n)
        assert np.array_equal(got, expected)


def test_fast_layout_is_not_the_exercise_layout():
    row = np.array([[1.0, -1.0, 1.0, 1.0] + [-1.0] * 60 + [1.0]])
    assert fast.pack_rows(row).tolist() == [[0b1011 << 60, (1 << 64) - 1]]  # MSB first, padding 1
    assert not np.array_equal(fast.pack_rows(row), xnor.pack_signs(row))
    a = np.ones((2, 70))
    with pytest.raises(ValueError, match="layout"):  # the exercise's bits are refused where padding shows
        fast.xnor_matmul_fast(xnor.pack_signs(a), xnor.pack_signs(a), 70)


def test_fast_kernel_with_pretransposed_weights_and_threads():
    a, b = fast.random_signs(9, 300, 1), fast.random_signs(300, 17, 2)
    bt = fast.transpose_packed(fast.pack_rows(b.T))
    got = fast.xnor_matmul_fast(fast.pack_rows(a), bt, 300, b_transposed=True, threads=1)
    assert np.array_equal(got, a @ b)


def test_gemm_rejects_mismatched_operands():
    for pack, fn in ((xnor.pack_signs, xnor.xnor_matmul_numpy), (fast.pack_rows, fast.xnor_matmul_fast)):
        a = pack(np.ones((2, 70)))
        b = pack(np.ones((3, 200)))
        with pytest.raises(ValueError, match="words"):
            fn(a, b, 70)
        with pytest.raises(ValueError, match="n"):
            fn(a, a, 200)
        with pytest.raises(TypeError, match="a_bits"):
            fn(np.ones((2, 2)), a, 70)


def test_fast_backend_is_compiled_here():
    assert fast.backend() == "numba"  # numba is a course dependency; the fallback is for other installs


def test_time_gemms_reports_exact_results():
    r = fast.time_gemms(64, 128, 32, rounds=1, min_run_time=0.01, extra=xnor.numpy_candidate)
    assert r["exact"] == {"fast": True, "numpy": True}
    assert r["fast_vs_fp32"] > 0 and r["numpy_vs_fp32"] > 0 and r["ms"]["pack_a"] > 0


def test_effnn_offers_no_exercise_answer():
    for name in ("pack_signs", "unpack_signs", "xnor_matmul_numpy", "sign_matrix"):
        assert not hasattr(fast, name), name


# ----------------------------------------------------------------------------- argument checks (effnn.validate)
def test_bad_arguments_are_clear_errors():
    a = xnor.pack_signs(np.ones((2, 70)))
    with pytest.raises(ValueError, match="block_rows"):
        xnor.xnor_matmul_numpy(a, a, 70, block_rows=-1)
    with pytest.raises(TypeError, match="block_rows"):
        xnor.xnor_matmul_numpy(a, a, 70, block_rows=1.5)
    with pytest.raises(TypeError, match="n must be an int"):  # the type before the range
        xnor.xnor_matmul_numpy(a, a, "70")
    assert np.array_equal(xnor.xnor_matmul_numpy(a, a, np.int64(70)), np.full((2, 2), 70))  # numpy ints are ints
    for pack in (xnor.pack_signs, fast.pack_rows, xnor.sign_matrix):
        with pytest.raises(ValueError, match="NaN"):
            pack(np.array([[1.0, np.nan]]))
    f = fast.pack_rows(np.ones((2, 70)))
    with pytest.raises(ValueError, match="threads"):
        fast.xnor_matmul_fast(f, f, 70, threads=0)
    with pytest.raises(TypeError, match="b_transposed"):
        fast.xnor_matmul_fast(f, f, 70, b_transposed=1)
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="min_run_time"):
            fast.time_gemms(4, 4, 4, min_run_time=bad)
    with pytest.raises(TypeError, match="rows"):
        fast.random_signs("3", 3)


# ----------------------------------------------------------------------------- effnn.xnor_infer: a whole MLP on bits
def _trained_like(hidden, seed=0):
    """A reference binary MLP with random latent weights and BatchNorm statistics (some scales <= 0)."""
    from autograder.reference import binary

    gen = torch.Generator().manual_seed(seed)
    model = binary.binarized_mlp("binary_full", hidden=hidden)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 3)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 20 + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=gen))
                m.weight[:3] = 0.0  # a constant channel
                m.bias.copy_(torch.randn(m.num_features, generator=gen))
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 2 - 1)
    return model.eval()


@pytest.mark.parametrize("hidden", [(256, 256, 256), (128, 128, 128, 128), (70, 130, 65), (64, 200)])
def test_packed_mlp_predicts_as_the_simulated_model(hidden):
    from autograder.reference import binary
    from effnn import xnor_infer

    model = _trained_like(hidden)
    packed = xnor_infer.from_sequential(model, binary.fold_threshold)
    x = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = model(x), packed(x)
    assert torch.equal(got.argmax(1), want.argmax(1))
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    assert torch.equal(packed(x[:1]).argmax(1), want[:1].argmax(1))  # batch 1 takes the serial path
    assert packed.packed_bytes() == sum(8 * b * -(-a // 64) for a, b in zip(hidden[:-1], hidden[1:]))


def test_packed_mlp_refuses_what_it_cannot_run():
    from autograder.reference import binary
    from effnn import xnor_infer

    model = _trained_like((64, 64, 64))
    with pytest.raises(TypeError, match="fold"):
        xnor_infer.from_sequential(model, "fold")
    with pytest.raises(ValueError, match="model must be a flat nn.Sequential"):
        xnor_infer.from_sequential(binary.binarized_mlp("fp32"), binary.fold_threshold)
    with pytest.raises(ValueError, match="model must be a flat nn.Sequential"):
        xnor_infer.from_sequential(binary.binarized_mlp("binary_weights"), binary.fold_threshold)  # real inputs
    w = torch.randn(4, 8)
    with pytest.raises(ValueError, match="either thresholds"):
        xnor_infer.packed_layer(w, s=np.ones(4), t=np.zeros(4), a=np.ones(4), b=np.zeros(4))
    with pytest.raises(ValueError, match="s must hold"):
        xnor_infer.packed_layer(w, s=np.full(4, 2), t=np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="t must hold integers"):
        xnor_infer.packed_layer(w, s=np.ones(4, np.int64), t=np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        xnor_infer.packed_layer(w, a=np.ones(3), b=np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        xnor_infer.packed_layer(w, a=np.full(4, np.nan), b=np.zeros(4))
    packed = xnor_infer.from_sequential(model, binary.fold_threshold)
    with pytest.raises(TypeError, match="x"):
        packed(np.ones((2, 64), np.float32))
    with pytest.raises(ValueError, match="models"):
        xnor_infer.time_models({})
    with pytest.raises(ValueError, match="min_run_time"):
        xnor_infer.time_models({"m": packed}, min_run_time=float("nan"))


def test_time_models_reports_each_batch_and_model():
    from autograder.reference import binary
    from effnn import xnor_infer

    model = _trained_like((64, 64, 64))
    packed = xnor_infer.from_sequential(model, binary.fold_threshold)
    t = xnor_infer.time_models({"sim": model, "packed": packed}, (1, 3), threads=1, rounds=1, min_run_time=0.01)
    assert set(t) == {1, 3} and all(set(v) == {"sim", "packed"} for v in t.values())
    assert all(r["min_ms"] <= r["median_ms"] for v in t.values() for r in v.values())


# ----------------------------------------------------------------------------- effnn.xnor_conv: packed im2col
@pytest.mark.parametrize("shape,out,k,stride,padding", [
    ((2, 3, 5, 5), 4, 3, 1, 1), ((1, 32, 8, 8), 64, 3, 1, 1), ((3, 5, 9, 7), 6, 3, 2, 1), ((2, 2, 6, 6), 3, 1, 1, 0),
    ((2, 4, 7, 7), 5, 5, 2, 2), ((1, 70, 4, 4), 3, 3, 1, 1), ((1, 1, 3, 3), 1, 3, 1, 0)])
def test_binary_conv_is_exact(shape, out, k, stride, padding):
    from effnn import xnor_conv

    gen = torch.Generator().manual_seed(sum(shape) + out)
    x, w = torch.randn(*shape, generator=gen), torch.randn(out, shape[1], k, k, generator=gen)
    x[0, 0, 0, 0] = 0.0
    want = xnor_conv.float_reference(x, w, stride=stride, padding=padding)
    assert torch.equal(xnor_conv.binary_conv2d(x, w, stride=stride, padding=padding), want)
    packed = xnor_conv.pack_filters(w)
    assert torch.equal(xnor_conv.binary_conv2d(x, w, stride=stride, padding=padding, packed=packed), want)


def test_binary_conv_refuses_bad_input():
    from effnn import xnor_conv

    x, w = torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3)
    with pytest.raises(ValueError, match="channels"):
        xnor_conv.binary_conv2d(torch.randn(1, 4, 5, 5), w)
    with pytest.raises(ValueError, match="stride"):
        xnor_conv.binary_conv2d(x, w, stride=0)
    with pytest.raises(TypeError, match="padding"):
        xnor_conv.binary_conv2d(x, w, padding=1.0)
    with pytest.raises(ValueError, match="smaller"):
        xnor_conv.binary_conv2d(torch.randn(1, 3, 2, 2), w)
    with pytest.raises(ValueError, match="NaN"):
        xnor_conv.binary_conv2d(torch.full((1, 3, 5, 5), float("nan")), w)
