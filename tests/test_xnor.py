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
