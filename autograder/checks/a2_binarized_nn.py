"""Hidden checks of A2 (binarized neural network).

Each ``check_*(k)`` runs in the judge, outside the submission's sandbox, and drives the student's
code in the kernel through ``k`` (:class:`autograder.judge.Kernel`). Inputs are seeded here and never
appear in the release; expected values come from :mod:`autograder.reference`. Messages say what is
wrong, never the expected value. Trained models are not evaluated in the kernel: their state dicts
come back as plain tensors and are loaded into the reference architecture here, which measures them
on the validation split (the accuracy the student reports must be the model's) and on the test split,
which the notebook never touches.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..judge import Lib, Remote, RemoteError
from ..reference import binary as ref
from ..reference.xnor import pack_signs as _reference_pack
from ._common import call as _call
from ._common import expects_error as _expects_error

#: Minimum re-measured test accuracy of the fully binarized models (graded in fast mode).
MLP_TARGET = 0.92
CNN_TARGET = 0.90
#: The reported validation accuracy may differ from the re-measured one by one image of 300.
VAL_TOLERANCE = 1.0 / 300 + 1e-9


# ----------------------------------------------------------------------------- helpers
def _sign(x):
    """sign with sign(0) = +1, the convention the assignment asks for."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _keep(k, fn, *args, what: str, **kwargs) -> Remote:
    """``fn(*args, **kwargs)`` in the kernel, result kept there (a Remote)."""
    try:
        return k.request("call", fn=fn, args=args, kwargs=kwargs, keep=True)
    except RemoteError as exc:
        if exc.is_a("NotImplementedError"):
            raise AssertionError(f"{what} is not implemented yet") from None
        raise AssertionError(f"{what} raised {exc.names[0]} on a valid input") from None


def _tensor_with_grad(k, x: torch.Tensor) -> Remote:
    """A copy of ``x`` in the kernel that requires grad."""
    remote = k.put(x)
    remote.requires_grad_(True)
    return remote


def _grads(k, out: Remote, inputs, upstream: torch.Tensor, what: str):
    """Gradients of ``out`` w.r.t. ``inputs`` for ``upstream``, computed in the kernel; a failed backward fails the check."""
    try:
        grads = k.call(Lib("torch.autograd.grad"), out, list(inputs), upstream, allow_unused=True)
    except RemoteError as exc:
        raise AssertionError(f"backward through {what} failed ({exc.names[0]})") from None
    if not isinstance(grads, (list, tuple)) or len(grads) != len(inputs):
        raise AssertionError(f"backward through {what} failed")
    return grads


def _is_subclass(k, cls, base: str, what: str) -> None:
    """The kernel's word that ``cls`` subclasses ``base`` (a failure if not; never a proof)."""
    if not isinstance(cls, Remote) or not cls._marker.get("is_class"):
        raise AssertionError(f"{what} must be a subclass of {base}")
    try:
        ok = k.call(Lib("builtins.issubclass"), cls, Lib(base))
    except RemoteError:
        ok = False
    if ok is not True:
        raise AssertionError(f"{what} must be a subclass of {base}")


def _plain_state(k, model, what: str) -> dict:
    """``model.state_dict()`` fetched from the kernel as plain tensors."""
    if not isinstance(model, Remote):
        raise AssertionError(f"{what} must be a torch.nn.Module")
    state = _call(model.state_dict, what=f"{what}.state_dict()")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AssertionError(f"{what}.state_dict() must hold only tensors")
    return state


# ----------------------------------------------------------------------------- 1. SignSTE
def _boundary_tensor(gen, shape, dtype=torch.float32):
    """Random values with many exact 0, +1, -1 and one -0.0: where sign and the STE window are easiest to get wrong."""
    x = torch.randn(*shape, generator=gen, dtype=dtype) * 1.5
    flat = x.view(-1)
    idx = torch.randperm(flat.numel(), generator=gen)
    q = max(1, flat.numel() // 8)
    flat[idx[:q]] = 0.0
    flat[idx[q:2 * q]] = 1.0
    flat[idx[2 * q:3 * q]] = -1.0
    flat[idx[3 * q:3 * q + 1]] = -0.0
    return x


def check_sign_ste(k):
    """SignSTE.apply is sign (sign(0) = +1) forward, and passes the gradient exactly where |x| <= 1."""
    SignSTE = k.arg("SignSTE")
    _is_subclass(k, SignSTE, "torch.autograd.Function", "SignSTE")
    apply = SignSTE.apply
    gen = torch.Generator().manual_seed(41_207)
    for shape, dtype in (((37,), torch.float32), ((5, 11), torch.float64), ((2, 3, 4, 5), torch.float32)):
        x = _boundary_tensor(gen, shape, dtype)
        x_remote = _tensor_with_grad(k, x)
        y_remote = _keep(k, apply, x_remote, what="SignSTE.apply")
        y = k.value(y_remote)
        if not isinstance(y, torch.Tensor) or y.shape != x.shape:
            raise AssertionError("SignSTE.apply must return a tensor with the input's shape")
        if y.dtype != x.dtype:
            raise AssertionError("SignSTE must keep the input's dtype")
        expected = _sign(x)
        if not torch.equal(y, expected):
            if torch.equal(y[x != 0], expected[x != 0]):
                raise AssertionError("SignSTE's forward is wrong at x = 0 (sign(0) must be +1)")
            raise AssertionError("SignSTE's forward is not the sign of its input")
        upstream = torch.randn(*shape, generator=gen, dtype=dtype)
        (g,) = _grads(k, y_remote, [x_remote], upstream, "SignSTE")
        want = upstream * (x.abs() <= 1).to(dtype)
        if not isinstance(g, torch.Tensor) or g.shape != x.shape or not torch.allclose(g, want):
            off_boundary = x.abs() != 1
            if (isinstance(g, torch.Tensor) and g.shape == x.shape
                    and torch.allclose(g[off_boundary], want[off_boundary])):
                raise AssertionError("SignSTE's gradient is wrong at the boundary |x| = 1 (it must pass there)")
            raise AssertionError("SignSTE's backward must pass the upstream gradient where |x| <= 1 "
                                 "and zero it elsewhere")


# ----------------------------------------------------------------------------- 2. binary layers
def _latent(shape, gen):
    """Latent weights, some beyond [-1, 1] (the STE must cancel their gradient), one exactly 0."""
    w = torch.rand(shape, generator=gen) * 3 - 1.5
    w.view(-1)[0] = 0.0  # sign(0) = +1 here too
    return w


def _reference_grads(w, bias, x, fn, upstream, scale, binary_input):
    """(latent-weight gradients with alpha differentiated and detached, input gradient, output)."""
    variants, x_grad, out = [], None, None
    for detach_alpha in ((False, True) if scale else (False,)):
        wl = w.clone().requires_grad_(True)
        xl = x.clone().requires_grad_(True)
        b = ref.sign_ste(wl)
        if scale:
            alpha = ref.channel_scale(wl)
            b = b * (alpha.detach() if detach_alpha else alpha)
        y = fn(ref.sign_ste(xl) if binary_input else xl, b, bias)
        gw, gx = torch.autograd.grad(y, (wl, xl), upstream)
        variants.append(gw)
        x_grad, out = gx, y.detach()
    return variants, x_grad, out


def _check_layer(k, cls, args, kwargs, x, fn, what, scale, binary_input, gen):
    """One binary layer built by the student with seeded latent weights: output and STE gradients equal the reference's."""
    flags = f"scale={scale}, binary_input={binary_input}"
    layer = _call(cls, *args, **kwargs, what=f"{what}(...)")
    w = _latent(_weight_shape(what, args), gen)
    state, bias = {"weight": w}, None
    if kwargs.get("bias", True):
        bias = torch.randn(w.shape[0], generator=gen)
        state["bias"] = bias
    _call(layer.load_state_dict, state, strict=False, what=f"{what}.load_state_dict")
    weight_remote = _keep(k, Lib("builtins.getattr"), layer, "weight", what=f"{what}.weight")
    x_remote = _tensor_with_grad(k, x)
    out_remote = _keep(k, layer, x_remote, what=f"{what}.forward")
    out = k.value(out_remote)
    with torch.no_grad():
        wb = _sign(w) * ref.channel_scale(w) if scale else _sign(w)
        expected = fn(_sign(x) if binary_input else x, wb, bias)
    if not isinstance(out, torch.Tensor) or out.shape != expected.shape:
        raise AssertionError(f"{what} returns the wrong output shape")
    if not torch.allclose(out, expected, atol=1e-4, rtol=1e-4):
        raise AssertionError(f"{what}({flags}) computes a different output than the binarized layer should")
    upstream = torch.randn(expected.shape, generator=gen)
    variants, x_grad, _ = _reference_grads(w, bias, x, fn, upstream, scale, binary_input)
    g_w, g_x = _grads(k, out_remote, [weight_remote, x_remote], upstream, what)
    if not isinstance(g_w, torch.Tensor) or g_w.shape != w.shape:
        raise AssertionError(f"{what}: no gradient reaches the latent weights")
    if not any(torch.allclose(g_w, v, atol=1e-4, rtol=1e-3) for v in variants):
        raise AssertionError(f"{what}({flags}): the latent weights' gradient is not the straight-through one "
                             "(SignSTE on the weights)")
    if not isinstance(g_x, torch.Tensor) or g_x.shape != x.shape or not torch.allclose(g_x, x_grad, atol=1e-4,
                                                                                          rtol=1e-3):
        raise AssertionError(f"{what}({flags}): the input's gradient is not the straight-through one")


def _weight_shape(what, args):
    """The weight shape of BinaryLinear(in, out) or BinaryConv2d(in, out, k) from the constructor arguments."""
    if what == "BinaryLinear":
        return (args[1], args[0])
    return (args[1], args[0], args[2], args[2])


def check_binary_layers(k):
    """BinaryLinear/BinaryConv2d compute with (alpha *) sign(W) and sign(x), pass STE gradients; clipping."""
    BinaryLinear, BinaryConv2d = k.arg("BinaryLinear"), k.arg("BinaryConv2d")
    clip_latent_weights = k.arg("clip_latent_weights")
    _is_subclass(k, BinaryLinear, "torch.nn.Linear", "BinaryLinear")
    _is_subclass(k, BinaryConv2d, "torch.nn.Conv2d", "BinaryConv2d")
    gen = torch.Generator().manual_seed(90_311)
    F = nn.functional
    for scale in (False, True):
        for binary_input in (False, True):
            x = torch.randn(6, 37, generator=gen) * 1.5
            x[0, :3] = 0.0
            _check_layer(k, BinaryLinear, (37, 13), dict(bias=True, scale=scale, binary_input=binary_input),
                         x, F.linear, "BinaryLinear", scale, binary_input, gen)
            xc = torch.randn(2, 3, 7, 6, generator=gen) * 1.5
            _check_layer(k, BinaryConv2d, (3, 5, 3),
                         dict(stride=1, padding=1, bias=False, scale=scale, binary_input=binary_input),
                         xc, lambda a, w, b: F.conv2d(a, w, b, padding=1), "BinaryConv2d", scale, binary_input,
                         gen)
    # clipping: only binary layers, in place, to [-1, 1]
    model = k.build("torch.nn.Sequential", k.build("torch.nn.Linear", 4, 6),
                    _call(BinaryLinear, 6, 3, what="BinaryLinear(...)"),
                    _call(BinaryConv2d, 2, 2, 3, what="BinaryConv2d(...)"))
    weights = {"0.weight": torch.randn(6, 4, generator=gen) * 3, "1.weight": torch.randn(3, 6, generator=gen) * 3,
               "2.weight": torch.randn(2, 2, 3, 3, generator=gen) * 3}
    _call(model.load_state_dict, weights, strict=False, what="load_state_dict")
    _call(clip_latent_weights, model, what="clip_latent_weights")
    state = k.value(model.state_dict())
    if not isinstance(state, dict) or not all(isinstance(state.get(n), torch.Tensor) for n in weights):
        raise AssertionError("clip_latent_weights broke the model's state_dict")
    if not torch.equal(state["0.weight"], weights["0.weight"]):
        raise AssertionError("clip_latent_weights must leave real (non-binary) layers alone")
    for name in ("1.weight", "2.weight"):
        if not torch.equal(state[name], weights[name].clamp(-1, 1)):
            raise AssertionError("clip_latent_weights must clip every binary layer's latent weights to [-1, 1]")


# ----------------------------------------------------------------------------- 3. trained models
def _with_biases(model: nn.Module, state: dict) -> nn.Module:
    """Give the reference's bias-free layers a bias where the student's state dict has one."""
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is None and f"{name}.bias" in state:
            m.bias = nn.Parameter(torch.zeros(m.weight.shape[0]))
    return model


def _rebuild(state: dict, kind: str, what: str) -> nn.Module:
    """The reference architecture of Exercise 3 (fully binary) holding the student's weights."""
    try:
        if kind == "mlp":
            width = int(state["1.weight"].shape[0])
            model = ref.binarized_mlp("binary_full", hidden=(width, width, width))
        else:
            channels = tuple(int(state[f"{i}.weight"].shape[0]) for i in (0, 3, 7))
            model = ref.binarized_cnn("binary_full", channels=channels)
    except (KeyError, IndexError, ValueError, RuntimeError):
        raise AssertionError(f"{what} does not have the layers of Exercise 3 (its state_dict does not fit)") from None
    _with_biases(model, state)
    expected = model.state_dict()
    missing = [n for n in expected if n not in state]
    if missing:
        raise AssertionError(f"{what} does not have the layers of Exercise 3: its state_dict lacks "
                             f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    wrong = [n for n in expected if state[n].shape != expected[n].shape]
    if wrong:
        raise AssertionError(f"{what} does not have the layers of Exercise 3: {', '.join(wrong[:3])} "
                             "has the wrong shape")
    try:
        model.load_state_dict({n: state[n].to(expected[n].dtype) for n in expected})
    except Exception:
        raise AssertionError(f"{what}'s state_dict could not be loaded into Exercise 3's architecture") from None
    return model.eval()


def _accuracy(model, split):
    """Accuracy on a digits split, computed here (judge side), never taken from the kernel."""
    from effnn.data import digits
    from effnn.train import accuracy

    with torch.no_grad():
        return accuracy(model, digits(split))


def _check_trained(k, kind, target, what):
    """The handed-in model's weights, rebuilt in the reference architecture: latent weights in [-1, 1], the
    reported validation accuracy matches, and test accuracy reaches ``target``."""
    model, reported = k.arg("model"), k.arg("reported_val_accuracy")
    if isinstance(reported, torch.Tensor) and reported.numel() == 1 and reported.is_floating_point():
        reported = float(reported)
    if isinstance(reported, bool) or not isinstance(reported, (float, int)) or not 0 <= reported <= 1:
        raise AssertionError(f"the reported accuracy of {what} must be a number in [0, 1]")
    state = _plain_state(k, model, what)
    rebuilt = _rebuild(state, kind, what)
    for m in rebuilt.modules():
        if isinstance(m, ref.BINARY_LAYERS) and m.weight.detach().abs().max() > 1 + 1e-6:
            raise AssertionError(f"{what}: latent weights outside [-1, 1]; clip them after every step")
    torch.manual_seed(0)
    val = _accuracy(rebuilt, "val")
    if abs(float(reported) - val) > VAL_TOLERANCE:
        raise AssertionError(f"the reported validation accuracy of {what} is not what its weights score in "
                             "Exercise 3's fully binarized architecture; report the measured number of the "
                             "model you hand in")
    if _accuracy(rebuilt, "test") < target:
        raise AssertionError(f"{what} is below the accuracy target on held-out digits")


def check_trained_mlp(k):
    """The MLP's weights, in the reference binary MLP here: reported val accuracy true, test >= target."""
    _check_trained(k, "mlp", MLP_TARGET, "the binarized MLP")


def check_trained_cnn(k):
    """The CNN's weights, in the reference binary CNN here: reported val accuracy true, test >= target."""
    _check_trained(k, "cnn", CNN_TARGET, "the binarized CNN")


# ----------------------------------------------------------------------------- 4. packing
def _as_array(value):
    """A numpy array from an array or CPU tensor, else None (the caller says what is wrong)."""
    if isinstance(value, torch.Tensor):
        try:
            return value.numpy()
        except Exception:
            return None
    return value if isinstance(value, np.ndarray) else None


def check_packing(k):
    """pack_signs follows the bit layout for many sizes (arrays and tensors); unpack_signs inverts it."""
    pack_signs, unpack_signs = k.arg("pack_signs"), k.arg("unpack_signs")
    rng = np.random.default_rng(2_718)
    for rows, cols in ((1, 1), (3, 5), (2, 63), (4, 64), (3, 65), (5, 100), (2, 129), (1, 1000)):
        x = rng.standard_normal((rows, cols)).astype(np.float32)
        x[0, 0] = 0.0
        want = _reference_pack(x)
        for as_tensor in (False, True):
            arg = torch.from_numpy(x.copy()) if as_tensor else x.copy()
            bits = _as_array(_call(pack_signs, arg, what="pack_signs"))
            if bits is None or bits.dtype != np.uint64:
                raise AssertionError("pack_signs must return a numpy array of uint64 words")
            if bits.shape != want.shape:
                raise AssertionError("pack_signs returns the wrong number of words for some sizes")
            if not np.array_equal(bits, want):
                raise AssertionError("pack_signs does not follow the bit layout (bit j of word w is element "
                                     "64*w + j, 1 for +1, padding bits 0) for some sizes")
        back = _as_array(_call(unpack_signs, want, cols, what="unpack_signs"))
        if back is None or back.shape != (rows, cols) or not np.array_equal(back, np.where(x >= 0, 1.0, -1.0)):
            raise AssertionError("unpack_signs(pack_signs(x), n) is not sign(x) for some sizes")
    _expects_error(unpack_signs, (_reference_pack(np.ones((2, 70))), 200), ("ValueError",),
                   "unpack_signs with an n that does not match the words")


def check_packed_memory(k):
    """packed_memory counts fp32 bytes and 64-bit-word rows of the binary layers only, on seeded models."""
    packed_memory = k.arg("packed_memory")
    BinaryLinear, BinaryConv2d = k.arg("BinaryLinear"), k.arg("BinaryConv2d")
    gen = torch.Generator().manual_seed(3_141)
    for _ in range(2):
        i, o, c_in, c_out = (int(v) for v in torch.randint(2, 140, (4,), generator=gen))
        c_in, c_out = c_in % 9 + 1, c_out % 9 + 1
        model = k.build("torch.nn.Sequential", k.build("torch.nn.Linear", 10, i),
                        _call(BinaryLinear, i, o, what="BinaryLinear(...)"),
                        _call(BinaryConv2d, c_in, c_out, 3, what="BinaryConv2d(...)"),
                        k.build("torch.nn.Linear", o, 2))
        got = _call(packed_memory, model, what="packed_memory")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError("packed_memory must return a tuple (fp32_bytes, packed_bytes)")
        fp32 = 4 * (i * o + c_out * c_in * 9)
        packed = 8 * (o * -(-i // 64) + c_out * -(-(c_in * 9) // 64))  # one row of words per output channel
        if isinstance(got[0], bool) or got[0] != fp32:
            raise AssertionError("packed_memory: the fp32 bytes must count only the binary layers' weights")
        if isinstance(got[1], bool) or got[1] != packed:
            raise AssertionError("packed_memory: the packed bytes must be one row of 64-bit words per output channel")


# ----------------------------------------------------------------------------- 5. XNOR GEMM
def check_xnor_matmul(k):
    """xnor_matmul on reference-packed operands equals the float product of the ±1 matrices, in integers."""
    xnor_matmul = k.arg("xnor_matmul")
    rng = np.random.default_rng(16_180)
    shapes = [(1, 1, 1), (2, 64, 3), (3, 65, 2), (7, 127, 5), (4, 128, 9), (11, 200, 6), (1, 1000, 17),
              (16, 33, 1)]
    for m, kk, n in shapes:
        a = rng.standard_normal((m, kk)).astype(np.float32)
        b = rng.standard_normal((kk, n)).astype(np.float32)
        a[0, 0] = 0.0
        expected = np.where(a >= 0, 1.0, -1.0) @ np.where(b >= 0, 1.0, -1.0)
        got = _as_array(_call(xnor_matmul, _reference_pack(a), _reference_pack(b.T), kk, what="xnor_matmul"))
        if got is None or got.shape != (m, n):
            raise AssertionError("xnor_matmul must return an (M, N) array")
        if not np.issubdtype(got.dtype, np.integer):
            raise AssertionError("xnor_matmul must return integers (it counts bits)")
        if not np.array_equal(got, expected):
            raise AssertionError("xnor_matmul differs from the float product of the ±1 matrices for some shapes")


# ----------------------------------------------------------------------------- 8. XNOR-Net's K, stochastic sign
def check_activation_scale(k):
    """activation_scale(x, kernel_size, stride, padding) is XNOR-Net's K: mean_c |x| through a k x k box
    of 1/k² (zero padding counted as 0), shaped (B, 1, H', W'), for several sizes, strides and paddings."""
    activation_scale = k.arg("activation_scale")
    gen = torch.Generator().manual_seed(5_772)
    for shape, ksize, stride, padding in (((2, 3, 6, 6), 3, 1, 1), ((1, 5, 7, 5), 3, 2, 0), ((3, 1, 4, 4), 1, 1, 0),
                                          ((2, 4, 9, 8), 5, 2, 2)):
        x = torch.randn(*shape, generator=gen) * 2
        want = ref.activation_scale(x, ksize, stride, padding)
        got = _call(activation_scale, x, ksize, stride, padding, what="activation_scale")
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise AssertionError("activation_scale must return a (B, 1, H', W') tensor, H' and W' as the "
                                 "convolution's output")
        if not torch.allclose(got, want, atol=1e-5, rtol=1e-4):
            raise AssertionError("activation_scale is not mean_c |x| averaged over each k x k window "
                                 "(zero padding counts as 0) for some sizes, strides or paddings")


def check_stochastic_sign(k):
    """StochasticSignSTE.apply is -1/+1 with P(+1) = clip((x+1)/2, 0, 1) (frequencies within 5 sigma
    on 40,000 draws per value; deterministic outside [-1, 1]) and passes the gradient where |x| <= 1."""
    StochasticSignSTE = k.arg("StochasticSignSTE")
    _is_subclass(k, StochasticSignSTE, "torch.autograd.Function", "StochasticSignSTE")
    values = torch.tensor([-3.0, -1.0, -0.6, 0.0, 0.3, 0.9, 1.0, 2.5])
    draws = 40_000
    k.call(Lib("torch.manual_seed"), 2_024)
    x = values.repeat(draws, 1)
    x_remote = _tensor_with_grad(k, x)
    y_remote = _keep(k, StochasticSignSTE.apply, x_remote, what="StochasticSignSTE.apply")
    y = k.value(y_remote)
    if not isinstance(y, torch.Tensor) or y.shape != x.shape or y.dtype != x.dtype:
        raise AssertionError("StochasticSignSTE.apply must return a tensor with the input's shape and dtype")
    if not bool(((y == 1) | (y == -1)).all()):
        raise AssertionError("StochasticSignSTE must return only -1 and +1")
    p = ((values + 1) / 2).clamp(0, 1)
    freq = (y == 1).double().mean(0)
    sigma = (p * (1 - p) / draws).sqrt().double()
    for v, f, want, sd in zip(values.tolist(), freq.tolist(), p.tolist(), sigma.tolist()):
        if sd == 0 and f != want:
            raise AssertionError("StochasticSignSTE must be deterministic where the probability is 0 or 1 "
                                 "(|x| >= 1)")
        if abs(f - want) > 5 * sd + 1e-12:
            raise AssertionError("StochasticSignSTE's frequency of +1 is not clip((x + 1) / 2, 0, 1) for some x")
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    (g,) = _grads(k, y_remote, [x_remote], upstream, "StochasticSignSTE")
    if not isinstance(g, torch.Tensor) or g.shape != x.shape or not torch.allclose(
            g, upstream * (x.abs() <= 1).to(x.dtype)):
        raise AssertionError("StochasticSignSTE's backward must pass the upstream gradient where |x| <= 1 and "
                             "zero it elsewhere (as SignSTE)")


# ----------------------------------------------------------------------------- 9. training tricks
def check_binary_regularizer(k):
    """binary_regularizer(model) is sum(1 - W²) over the binary layers' latent weights only, a scalar
    tensor whose gradient reaches those weights (-2 W), on a seeded model with real layers around them."""
    binary_regularizer = k.arg("binary_regularizer")
    BinaryLinear, BinaryConv2d = k.arg("BinaryLinear"), k.arg("BinaryConv2d")
    gen = torch.Generator().manual_seed(1_618)
    model = k.build("torch.nn.Sequential", k.build("torch.nn.Linear", 5, 7),
                    _call(BinaryLinear, 7, 4, bias=False, what="BinaryLinear(...)"),
                    _call(BinaryConv2d, 3, 2, 3, bias=False, what="BinaryConv2d(...)"))
    weights = {"0.weight": torch.rand(7, 5, generator=gen) * 2 - 1, "1.weight": torch.rand(4, 7, generator=gen) * 2 - 1,
               "2.weight": torch.rand(2, 3, 3, 3, generator=gen) * 2 - 1}
    _call(model.load_state_dict, weights, strict=False, what="load_state_dict")
    value_remote = _keep(k, binary_regularizer, model, what="binary_regularizer")
    value = k.value(value_remote)
    want = (1 - weights["1.weight"] ** 2).sum() + (1 - weights["2.weight"] ** 2).sum()
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise AssertionError("binary_regularizer must return a one-element tensor (so that it can be added "
                             "to the loss)")
    if not torch.allclose(value.reshape(()), want, atol=1e-4, rtol=1e-5):
        raise AssertionError("binary_regularizer is not sum(1 - W²) over the binary layers' latent weights "
                             "(and nothing else)")
    params = [_keep(k, Lib("builtins.getattr"), _keep(k, Lib("builtins.getattr"), model, name, what="layer"),
                    "weight", what="weight") for name in ("1", "2")]
    total = _keep(k, Lib("torch.sum"), value_remote, what="binary_regularizer(...).sum()")
    grads = _grads(k, total, params, torch.tensor(1.0), "binary_regularizer")
    for g, name in zip(grads, ("1.weight", "2.weight")):
        if not isinstance(g, torch.Tensor) or not torch.allclose(g, -2 * weights[name], atol=1e-5):
            raise AssertionError("binary_regularizer's gradient does not reach the latent weights as "
                                 "d(1 - W²)/dW = -2W (compute it from the weights, not from a detached copy)")


# ----------------------------------------------------------------------------- 10. thresholds
def _dyadic(gen, n, scale):
    """Numbers that float32 and float64 hold exactly (multiples of 1/64), so every comparison is exact."""
    return torch.randint(-scale * 64, scale * 64 + 1, (n,), generator=gen).double() / 64


def check_fold_threshold(k):
    """fold_threshold(alpha, a, b) -> (s, t): for every integer z in [-300, 300] and every channel,
    (s * z >= t) == (a * alpha * z + b >= 0); negative, zero and positive a, exact ties included."""
    fold_threshold = k.arg("fold_threshold")
    gen = torch.Generator().manual_seed(14_142)
    channels = 64
    alpha = (torch.randint(1, 65, (channels,), generator=gen).double() / 64)
    a = _dyadic(gen, channels, 4)
    a[:4] = 0.0
    a[4:8] = -a[4:8].abs() - 1 / 64
    b = _dyadic(gen, channels, 40)
    b[8:12] = -(alpha[8:12] * a[8:12]) * torch.tensor([3.0, -5.0, 7.0, 0.0])  # exact ties at z = 3, -5, 7, 0
    b[0], b[1] = 0.0, -1 / 64
    for dtype in (torch.float32, torch.float64):
        got = _call(fold_threshold, alpha.to(dtype), a.to(dtype), b.to(dtype), what="fold_threshold")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError("fold_threshold must return a pair (s, t)")
        s, t = (torch.as_tensor(v) if isinstance(v, (np.ndarray, torch.Tensor)) else None for v in got)
        if not all(isinstance(v, torch.Tensor) and v.shape == (channels,) for v in (s, t)):
            raise AssertionError("fold_threshold must return two tensors with one entry per channel")
        if s.is_floating_point() or t.is_floating_point():
            raise AssertionError("fold_threshold must return integer tensors (the comparison is on integers)")
        if not bool(((s == -1) | (s == 0) | (s == 1)).all()):
            raise AssertionError("fold_threshold's s must hold only -1, 0 and +1")
        z = torch.arange(-300, 301, dtype=torch.float64)[:, None]
        want = (a * (alpha * z) + b) >= 0
        have = (s.double() * z) >= t.double()
        if not torch.equal(want, have):
            wrong = (want != have).any(0)
            tie = torch.zeros(channels, dtype=torch.bool)
            tie[8:12] = True
            flat_or_flipped = a <= 0
            if bool(wrong[flat_or_flipped].any()) and not bool(wrong[~flat_or_flipped].any()):
                raise AssertionError("fold_threshold is wrong where alpha * a <= 0 (a negative scale flips the "
                                     "comparison; a zero one makes the output constant)")
            if bool(wrong[tie].any()) and not bool(wrong[~tie & ~flat_or_flipped].any()):
                raise AssertionError("fold_threshold is wrong at exact ties (BN output exactly 0 gives sign +1)")
            raise AssertionError("fold_threshold's (s, t) do not reproduce sign(BN(alpha * z)) for some z")
