"""effnn.xnor_infer's compiled runner against a plain integer reference, layer by layer.

The runner turns each threshold ``s * z >= t`` into a bound on the mismatch count (inverting the weight
bits of channels with ``s = -1``) and fuses XOR, popcount, threshold and packing; these tests pin that
rewrite on every kind of channel (s = +1, -1, 0 with t on either side, t far outside [-n, n]), on
widths that fill whole 64-bit words (the fused 4-word path) and widths that leave padding bits.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from effnn import xnor_infer

STEP = 2.0 ** -6  # scales and shifts on a power-of-two grid: every float product below is exact


def _signs(a):
    return np.where(a >= 0, 1, -1).astype(np.int64)


def _random_layer(rng, out, n):
    """A latent weight and thresholds with every kind of channel."""
    w = rng.standard_normal((out, n)).astype(np.float32)
    s = rng.choice([-1, 0, 1], size=out, p=[0.4, 0.1, 0.5]).astype(np.int64)
    t = rng.integers(-n - 3, n + 4, size=out).astype(np.int64)
    t[:4] = [-10 * n, 10 * n, 0, 1]  # always / never / the two edges of a constant channel
    return w, s, t


def _reference(x, first_w, fa, fb, hidden, last_w, last_a, last_b, last):
    """The same network in int64 and float32 numpy, one step at a time."""
    h = (x.numpy() @ first_w.T).astype(np.float32)
    y = np.where(h * fa + fb >= np.float32(0), 1, -1).astype(np.int64)
    for w, s, t in hidden:
        z = y @ _signs(w).T
        y = np.where(s * z >= t, 1, -1).astype(np.int64)
    z = (y @ _signs(last_w).T).astype(np.float32)
    real = np.clip(z * last_a + last_b, np.float32(-1), np.float32(1)).astype(np.float32)
    with torch.no_grad():
        return last(torch.from_numpy(real))


@pytest.mark.parametrize("widths", [(256, 256, 256), (256, 256, 256, 256), (70, 130, 65), (64, 320, 256),
                                    (200, 64, 300)])
@pytest.mark.parametrize("rows", [1, 3, 700])  # 700 rows of these widths take the parallel kernel
def test_runner_equals_the_integer_reference(widths, rows):
    rng = np.random.default_rng(sum(widths) + rows)
    first_w = rng.standard_normal((widths[0], 16)).astype(np.float32)
    fa = (rng.integers(-64, 65, widths[0]) * STEP).astype(np.float32)
    fb = (rng.integers(-64, 65, widths[0]) * STEP).astype(np.float32)
    hidden = [_random_layer(rng, b, a) for a, b in zip(widths[:-2], widths[1:-1])]
    last_w = rng.standard_normal((widths[-1], widths[-2])).astype(np.float32)
    last_a = (rng.integers(-8, 9, widths[-1]) * STEP).astype(np.float32)
    last_b = (rng.integers(-64, 65, widths[-1]) * STEP).astype(np.float32)
    last = torch.nn.Linear(widths[-1], widths[-1], bias=False)
    with torch.no_grad():
        last.weight.copy_(torch.eye(widths[-1]))  # logits = the real values themselves, exactly
    layers = [xnor_infer.packed_layer(torch.from_numpy(w), s=s, t=t) for w, s, t in hidden]
    layers.append(xnor_infer.packed_layer(torch.from_numpy(last_w), a=last_a, b=last_b))
    model = xnor_infer.PackedBinaryMLP(torch.from_numpy(first_w), fa, fb, layers, last)
    x = torch.from_numpy((rng.integers(-32, 33, (rows, 16)) * STEP).astype(np.float32))
    want = _reference(x, first_w, fa, fb, hidden, last_w, last_a, last_b, last)
    got = model(x)
    assert torch.equal(got, want)
    assert len(torch.unique(got)) > 3  # not saturated: the values carry the integer products
    bits = model.bits_in(x)
    h = (x.numpy() @ first_w.T).astype(np.float32)
    from effnn import xnor
    assert np.array_equal(bits, xnor.pack_rows(np.where(h * fa + fb >= 0, 1.0, -1.0)))


def test_runner_leaves_its_layers_unchanged():
    """Inverting the weight bits of s = -1 channels happens on a copy: the layers stay as given."""
    rng = np.random.default_rng(0)
    w, s, t = _random_layer(rng, 64, 64)
    s[:] = -1
    layer = xnor_infer.packed_layer(torch.from_numpy(w), s=s, t=t)
    before = layer.weights_t.copy()
    last = xnor_infer.packed_layer(torch.randn(64, 64), a=np.ones(64, np.float32), b=np.zeros(64, np.float32))
    model = xnor_infer.PackedBinaryMLP(torch.randn(64, 8), np.ones(64), np.zeros(64), [layer, last],
                                       torch.nn.Linear(64, 3))
    model(torch.randn(5, 8))
    assert np.array_equal(layer.weights_t, before)


def test_runner_names_a_wrong_input():
    last = xnor_infer.packed_layer(torch.randn(64, 64), a=np.ones(64, np.float32), b=np.zeros(64, np.float32))
    model = xnor_infer.PackedBinaryMLP(torch.randn(64, 8), np.ones(64), np.zeros(64), [last], torch.nn.Linear(64, 3))
    with pytest.raises(ValueError, match="x has 9 features per sample; the first layer takes 8"):
        model(torch.randn(2, 9))
    with pytest.raises(ValueError, match="x must be a batch"):
        model(torch.randn(8))
    with pytest.raises(TypeError, match="x"):
        model.bits_in(np.ones((2, 8), np.float32))


@pytest.mark.parametrize("classes", [10, 7, 3, 1])  # five-class sweeps, then the classes left over
@pytest.mark.parametrize("rows", [1, 3, 4, 9, 700])  # four-row blocks, a short last block, the parallel kernel
def test_classifier_blocks_match_the_float_product(rows, classes):
    """The classifier runs on four rows and five classes at a time, single dot products for the rest:
    every logit equals the float64 product of the real outputs, whatever block its row or class fell in."""
    rng = np.random.default_rng(10 * rows + classes)
    last_w = rng.standard_normal((64, 64)).astype(np.float32)
    last_a = (rng.integers(-8, 9, 64) * STEP).astype(np.float32)
    last_b = (rng.integers(-64, 65, 64) * STEP).astype(np.float32)
    first_w = rng.standard_normal((64, 16)).astype(np.float32)
    ones, zeros = np.ones(64, np.float32), np.zeros(64, np.float32)
    layer = xnor_infer.packed_layer(torch.from_numpy(last_w), a=last_a, b=last_b)
    classifier = torch.nn.Linear(64, classes)
    model = xnor_infer.PackedBinaryMLP(torch.from_numpy(first_w), ones, zeros, [layer], classifier)
    x = torch.from_numpy(rng.standard_normal((rows, 16)).astype(np.float32))
    identity = torch.nn.Linear(64, 64, bias=False)
    with torch.no_grad():
        identity.weight.copy_(torch.eye(64))
    real = xnor_infer.PackedBinaryMLP(torch.from_numpy(first_w), ones, zeros, [layer], identity)(x)
    want = real.double() @ classifier.weight.detach().double().T + classifier.bias.detach().double()
    got = model(x)
    assert got.shape == (rows, classes)
    assert torch.allclose(got.double(), want, rtol=0, atol=1e-5)
    one_by_one = torch.cat([model(x[i:i + 1]) for i in range(min(rows, 9))])
    assert torch.allclose(one_by_one, got[:9], rtol=0, atol=1e-5)  # a row's logits do not depend on its batch
