"""Hidden checks of A2 (binarized neural network).

Inputs are seeded here and never appear in the release. Messages say what is wrong, never the
expected value. Trained models are re-evaluated here: on the validation split (the accuracy the
student reports must be the model's) and on the test split, which the notebook never touches.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._common import call as _call
from ._common import expects_error as _expects_error

#: Minimum re-measured test accuracy of the fully binarized models (graded in fast mode).
MLP_TARGET = 0.92
CNN_TARGET = 0.90


# ----------------------------------------------------------------------------- helpers


def _sign(x):
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _not_effnn(obj, what: str):
    from effnn import binary

    ours = (binary.SignSTE, binary.BinaryLinear, binary.BinaryConv2d)
    if obj in ours or (isinstance(obj, type) and issubclass(obj, ours)):
        raise AssertionError(f"{what} must be your own implementation, not the one from effnn.binary")


def _is_class(obj, base, what: str):
    if not isinstance(obj, type) or not issubclass(obj, base):
        raise AssertionError(f"{what} must be a subclass of {base.__module__}.{base.__qualname__}")


# ----------------------------------------------------------------------------- 1. SignSTE
def _boundary_tensor(gen, shape, dtype=torch.float32):
    x = torch.randn(*shape, generator=gen, dtype=dtype) * 1.5
    flat = x.view(-1)
    idx = torch.randperm(flat.numel(), generator=gen)
    q = max(1, flat.numel() // 8)
    flat[idx[:q]] = 0.0
    flat[idx[q:2 * q]] = 1.0
    flat[idx[2 * q:3 * q]] = -1.0
    flat[idx[3 * q:3 * q + 1]] = -0.0
    return x


def check_sign_ste(SignSTE):
    _is_class(SignSTE, torch.autograd.Function, "SignSTE")
    _not_effnn(SignSTE, "SignSTE")
    gen = torch.Generator().manual_seed(41_207)
    for shape, dtype in (((37,), torch.float32), ((5, 11), torch.float64), ((2, 3, 4, 5), torch.float32)):
        x = _boundary_tensor(gen, shape, dtype).requires_grad_(True)
        y = _call(SignSTE.apply, x, what="SignSTE.apply")
        if not torch.is_tensor(y) or y.shape != x.shape:
            raise AssertionError("SignSTE.apply must return a tensor with the input's shape")
        if y.dtype != x.dtype:
            raise AssertionError("SignSTE must keep the input's dtype")
        ref = _sign(x.detach())
        if not torch.equal(y.detach(), ref):
            if torch.equal(y.detach()[x.detach() != 0], ref[x.detach() != 0]):
                raise AssertionError("SignSTE's forward is wrong at x = 0 (sign(0) must be +1)")
            raise AssertionError("SignSTE's forward is not the sign of its input")
        upstream = torch.randn(*shape, generator=gen, dtype=dtype)
        try:
            (g,) = torch.autograd.grad(y, x, upstream)
        except Exception as exc:
            raise AssertionError(f"backward through SignSTE failed ({type(exc).__name__})") from None
        expected = upstream * (x.detach().abs() <= 1).to(dtype)
        if g is None or g.shape != x.shape or not torch.allclose(g, expected):
            inside = x.detach().abs() < 1
            if g is not None and g.shape == x.shape and torch.allclose(g[inside], expected[inside]):
                raise AssertionError("SignSTE's gradient is wrong at the boundary |x| = 1 (it must pass there)")
            raise AssertionError("SignSTE's backward must pass the upstream gradient where |x| <= 1 "
                                 "and zero it elsewhere")


# ----------------------------------------------------------------------------- 2. binary layers
def _reference_weight(w, scale: bool):
    b = _sign(w)
    if scale:
        b = b * w.abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)
    return b


def _copy_latent(layer, gen):
    with torch.no_grad():
        layer.weight.copy_(torch.rand(layer.weight.shape, generator=gen) * 2 - 1)
        layer.weight.view(-1)[0] = 0.0  # sign(0) = +1 here too
        if getattr(layer, "bias", None) is not None:
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen))


def _grad_variants(w, x, fn, upstream, scale):
    """Latent-weight gradients of the reference, with alpha differentiated and with alpha detached."""
    grads = []
    for detach_alpha in ((False, True) if scale else (False,)):
        wl = w.detach().clone().requires_grad_(True)
        b = torch.where(wl >= 0, 1.0, -1.0) + (wl - wl.detach()) * (wl.detach().abs() <= 1)  # STE
        if scale:
            alpha = wl.abs().mean(dim=tuple(range(1, wl.dim())), keepdim=True)
            b = b * (alpha.detach() if detach_alpha else alpha)
        (g,) = torch.autograd.grad(fn(x, b), wl, upstream)
        grads.append(g)
    return grads


def _check_layer(layer, x, what, functional, scale, binary_input, gen):
    _copy_latent(layer, gen)
    out = _call(layer, x, what=f"{what}.forward")
    xin = _sign(x) if binary_input else x
    w_ref = _reference_weight(layer.weight.detach(), scale)
    bias = layer.bias.detach() if getattr(layer, "bias", None) is not None else None
    expected = functional(xin, w_ref, bias)
    if not torch.is_tensor(out) or out.shape != expected.shape:
        raise AssertionError(f"{what} returns the wrong output shape")
    if not torch.allclose(out.detach(), expected, atol=1e-4, rtol=1e-4):
        flags = f"scale={scale}, binary_input={binary_input}"
        raise AssertionError(f"{what}({flags}) computes a different output than the binarized layer should")
    upstream = torch.randn(expected.shape, generator=gen)
    try:
        (g,) = torch.autograd.grad(out, layer.weight, upstream)
    except Exception as exc:
        raise AssertionError(f"{what}: no gradient reaches the latent weights ({type(exc).__name__})") from None
    fn = lambda inp, w: functional(inp, w, bias)  # noqa: E731
    if not any(torch.allclose(g, ref, atol=1e-4, rtol=1e-3)
               for ref in _grad_variants(layer.weight, xin, fn, upstream, scale)):
        raise AssertionError(f"{what}: the latent weights' gradient is not the straight-through one")


def check_binary_layers(BinaryLinear, BinaryConv2d, clip_latent_weights):
    _is_class(BinaryLinear, nn.Module, "BinaryLinear")
    _is_class(BinaryConv2d, nn.Module, "BinaryConv2d")
    _not_effnn(BinaryLinear, "BinaryLinear")
    _not_effnn(BinaryConv2d, "BinaryConv2d")
    gen = torch.Generator().manual_seed(90_311)
    F = nn.functional
    for scale in (False, True):
        for binary_input in (False, True):
            lin = _call(BinaryLinear, 37, 13, bias=True, scale=scale, binary_input=binary_input,
                        what="BinaryLinear(...)")
            x = torch.randn(6, 37, generator=gen)
            x[0, :3] = 0.0
            _check_layer(lin, x, "BinaryLinear", F.linear, scale, binary_input, gen)
            conv = _call(BinaryConv2d, 3, 5, 3, stride=1, padding=1, bias=False, scale=scale,
                         binary_input=binary_input, what="BinaryConv2d(...)")
            xc = torch.randn(2, 3, 7, 6, generator=gen)
            _check_layer(conv, xc, "BinaryConv2d", lambda a, w, b: F.conv2d(a, w, b, padding=1),
                         scale, binary_input, gen)
    # clipping: only binary layers, in place, to [-1, 1]
    model = nn.Sequential(nn.Linear(4, 6), _call(BinaryLinear, 6, 3, what="BinaryLinear(...)"),
                          _call(BinaryConv2d, 2, 2, 3, what="BinaryConv2d(...)"))
    with torch.no_grad():
        for m in model:
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 3)
    real_before = model[0].weight.detach().clone()
    latent_before = [model[i].weight.detach().clone() for i in (1, 2)]
    _call(clip_latent_weights, model, what="clip_latent_weights")
    if not torch.equal(model[0].weight, real_before):
        raise AssertionError("clip_latent_weights must leave real (non-binary) layers alone")
    for i, before in zip((1, 2), latent_before):
        if not torch.equal(model[i].weight.detach(), before.clamp(-1, 1)):
            raise AssertionError("clip_latent_weights must clip every binary layer's latent weights to [-1, 1]")


# ----------------------------------------------------------------------------- 3. trained models
def _binary_modules(model, classes):
    return [m for m in model.modules() if isinstance(m, classes)]


def _check_structure(model, classes, what):
    if not isinstance(model, nn.Module):
        raise AssertionError(f"{what} must be a torch.nn.Module")
    if not isinstance(classes, tuple) or not all(isinstance(c, type) for c in classes):
        raise AssertionError("pass your binary layer classes as a tuple")
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, *classes))]
    binary = _binary_modules(model, classes)
    if len(layers) < 3 or not binary:
        raise AssertionError(f"{what} must have a real first layer, binary layers, and a real last layer")
    if isinstance(layers[0], classes) or isinstance(layers[-1], classes):
        raise AssertionError(f"{what}: the first and the last layer must stay real")
    if not all(getattr(m, "binary_input", False) for m in binary):
        raise AssertionError(f"{what}: every binary layer must binarize its input (binary_input=True)")
    if not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules()):
        raise AssertionError(f"{what} must use BatchNorm after its binary layers")
    # the binary layers really binarize: their output only depends on the signs of input and weights
    gen = torch.Generator().manual_seed(5_551)
    for m in binary:
        w = m.weight.detach()
        if w.abs().max() > 1 + 1e-6:
            raise AssertionError(f"{what}: latent weights outside [-1, 1]; clip them after every step")
        shape = (3, w.shape[1]) if w.dim() == 2 else (2, w.shape[1], 6, 6)
        x = torch.randn(*shape, generator=gen)
        try:
            with torch.no_grad():
                y1 = m(x)
                y2 = m(x * (torch.rand(shape, generator=gen) + 0.5))  # same signs, other magnitudes
        except Exception as exc:
            raise AssertionError(f"{what}: a binary layer failed on an input ({type(exc).__name__})") from None
        if not torch.allclose(y1, y2, atol=1e-4):
            raise AssertionError(f"{what}: a binary layer's output depends on more than its input's signs")


def _accuracy(model, split, what):
    from effnn.data import digits
    from effnn.train import accuracy

    x, y = digits(split)
    try:
        return accuracy(model, (x, y))
    except Exception as exc:
        raise AssertionError(f"{what} fails on digits images of shape (N, 1, 8, 8) "
                             f"({type(exc).__name__})") from None


def _check_trained(model, reported, classes, target, what):
    _check_structure(model, classes, what)
    if isinstance(reported, bool) or not isinstance(reported, (float, int, np.floating)):
        raise AssertionError(f"the reported accuracy of {what} must be a number in [0, 1]")
    val = _accuracy(model, "val", what)
    if abs(float(reported) - val) > 1.0 / 300 + 1e-9:
        raise AssertionError(f"the reported validation accuracy of {what} is not what the model scores; "
                             "report the measured number of the model you hand in")
    test = _accuracy(model, "test", what)
    if test < target:
        raise AssertionError(f"{what} is below the accuracy target on held-out digits")


def check_trained_mlp(model, reported_val_accuracy, binary_classes):
    _check_trained(model, reported_val_accuracy, binary_classes, MLP_TARGET, "the binarized MLP")


def check_trained_cnn(model, reported_val_accuracy, binary_classes):
    _check_trained(model, reported_val_accuracy, binary_classes, CNN_TARGET, "the binarized CNN")
    if not any(m.weight.dim() == 4 for m in _binary_modules(model, binary_classes)):
        raise AssertionError("the binarized CNN must have binary convolutions")


# ----------------------------------------------------------------------------- 4. packing
def _reference_pack(x):
    from effnn.xnor import pack_signs

    return pack_signs(x)


def check_packing(pack_signs, unpack_signs):
    rng = np.random.default_rng(2_718)
    for rows, k in ((1, 1), (3, 5), (2, 63), (4, 64), (3, 65), (5, 100), (2, 129), (1, 1000)):
        x = rng.standard_normal((rows, k)).astype(np.float32)
        x[0, 0] = 0.0
        for as_tensor in (False, True):
            arg = torch.from_numpy(x.copy()) if as_tensor else x.copy()
            bits = _call(pack_signs, arg, what="pack_signs")
            bits = bits.numpy() if torch.is_tensor(bits) else bits
            if not isinstance(bits, np.ndarray) or bits.dtype != np.uint64:
                raise AssertionError("pack_signs must return a numpy array of uint64 words")
            if bits.shape != (rows, -(-k // 64)):
                raise AssertionError("pack_signs returns the wrong number of words for some sizes")
            if not np.array_equal(bits, _reference_pack(x)):
                raise AssertionError("pack_signs does not follow the bit layout (bit j of word w is element "
                                     "64*w + j, 1 for +1, padding bits 0) for some sizes")
        back = _call(unpack_signs, _reference_pack(x), k, what="unpack_signs")
        back = back.numpy() if torch.is_tensor(back) else np.asarray(back)
        if back.shape != (rows, k) or not np.array_equal(back, np.where(x >= 0, 1.0, -1.0)):
            raise AssertionError("unpack_signs(pack_signs(x), n) is not sign(x) for some sizes")
    _expects_error(unpack_signs, (_reference_pack(np.ones((2, 70))), 200), (ValueError,),
                   "unpack_signs with an n that does not match the words")


def check_packed_memory(packed_memory, BinaryLinear, BinaryConv2d):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(10, 100), _call(BinaryLinear, 100, 7, what="BinaryLinear(...)"),
                          _call(BinaryConv2d, 3, 4, 3, what="BinaryConv2d(...)"), nn.Linear(7, 2))
    got = _call(packed_memory, model, what="packed_memory")
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError("packed_memory must return a tuple (fp32_bytes, packed_bytes)")
    fp32 = 4 * (100 * 7 + 4 * 3 * 3 * 3)
    packed = 8 * (7 * 2 + 4 * 1)  # one row of K bits per output channel, in 64-bit words
    if got[0] != fp32:
        raise AssertionError("packed_memory: the fp32 bytes must count only the binary layers' weights")
    if got[1] != packed:
        raise AssertionError("packed_memory: the packed bytes must be one row of 64-bit words per output channel")


# ----------------------------------------------------------------------------- 5. XNOR GEMM
def check_xnor_matmul(xnor_matmul):
    rng = np.random.default_rng(16_180)
    shapes = [(1, 1, 1), (2, 64, 3), (3, 65, 2), (7, 127, 5), (4, 128, 9), (11, 200, 6), (1, 1000, 17),
              (16, 33, 1)]
    for m, k, n in shapes:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        a[0, 0] = 0.0
        expected = np.where(a >= 0, 1.0, -1.0) @ np.where(b >= 0, 1.0, -1.0)
        got = _call(xnor_matmul, _reference_pack(a), _reference_pack(b.T), k, what="xnor_matmul")
        got = got.numpy() if torch.is_tensor(got) else got
        if not isinstance(got, np.ndarray) or got.shape != (m, n):
            raise AssertionError("xnor_matmul must return an (M, N) array")
        if not np.issubdtype(got.dtype, np.integer):
            raise AssertionError("xnor_matmul must return integers (it counts bits)")
        if not np.array_equal(got, expected):
            raise AssertionError("xnor_matmul differs from the float product of the ±1 matrices for some shapes")
