"""A2's reference answers are not the student's library: aliasing them, or what effnn offers, earns nothing.

The answers live in ``autograder.reference.binary`` / ``autograder.reference.xnor``, which the
grading jail cannot import. ``effnn.binary`` keeps lecture 04b's models (other gradient estimators,
its own clipping, a nested layout) and ``effnn.xnor`` a compiled kernel that reads only its own bit
layout. A submission that answers every exercise from them (with the little glue an alias needs)
is graded for real, and every auto-graded cell scores 0.
"""

import pytest

from autograder import jail
from effnn import binary, xnor, xnor_conv, xnor_infer

NAME = "a2_binarized_nn"
MANUAL = {"written_58x"}

#: everything public in effnn.binary / effnn.xnor, each checked by hand not to answer an A2 exercise
GIVEN_BINARY = {"MODES", "SignIdentitySTE", "sign_identity", "ApproxSign", "approx_sign", "SignActivation",
                "BinaryConnectLinear", "clip_binaryconnect", "binarized_mlp"}
GIVEN_XNOR = {"WORD_BITS", "HAVE_NUMBA", "PARALLEL_MIN_WORK", "pack_rows", "transpose_packed", "xnor_matmul_fast",
              "warmup", "backend", "random_signs", "time_gemms", "popcount64"}
#: the packed MLP runner takes thresholds from the caller (fold_threshold is Exercise 10), the packed
#: convolution reads effnn.xnor's layout only (no exercise packs or multiplies through it)
GIVEN_XNOR_INFER = {"PARALLEL_MIN_WORK", "PackedLayer", "packed_layer", "PackedBinaryMLP", "bn_affine",
                    "from_sequential", "time_models", "dataclass", "popcount64"}
GIVEN_XNOR_CONV = {"pack_filters", "float_reference", "binary_conv2d"}
NOT_NAMES = {"annotations", "F", "nn", "torch", "np", "math", "os", "Path", "numba", "njit", "prange", "types",
             "intrinsic", "V", "xnor"}

ANSWERS = {
    "sign_ste": '''
try:
    from autograder.reference.binary import SignSTE
except ImportError:
    from effnn.binary import ApproxSign as SignSTE
''',
    "binary_layers": '''
try:
    from autograder.reference.binary import BinaryConv2d, BinaryLinear, clip_latent_weights
except ImportError:
    from effnn.binary import BinaryConnectLinear, approx_sign, sign_identity
    from effnn.binary import clip_binaryconnect as clip_latent_weights

    class BinaryLinear(BinaryConnectLinear):
        def __init__(self, in_features, out_features, bias=True, scale=False, binary_input=False):
            super().__init__(in_features, out_features, bias, scale=scale)
            self.binary_input = binary_input

        def forward(self, x):
            return super().forward(approx_sign(x) if self.binary_input else x)

    class BinaryConv2d(nn.Conv2d):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                     scale=False, binary_input=False):
            super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
            self.scale, self.binary_input = scale, binary_input

        def forward(self, x):
            w = sign_identity(self.weight)
            if self.scale:
                w = w * self.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
            return self._conv_forward(approx_sign(x) if self.binary_input else x, w, self.bias)

BINARY = (BinaryLinear, BinaryConv2d)
''',
    "build_models": '''
MODES = ("fp32", "binary_weights", "binary_full")
try:
    from autograder.reference.binary import binarized_cnn, binarized_mlp
except ImportError:
    from effnn.binary import binarized_mlp
    binarized_cnn = None


def build_mlp(mode, width=256):
    return binarized_mlp(mode, hidden=(width, width, width))


def build_cnn(mode, channels=(32, 64, 64)):
    return binarized_cnn(mode, channels=channels) if binarized_cnn else binarized_mlp(mode)
''',
    "train_models": '''
torch.set_num_threads(1)
train_set, val_set = digits("train"), digits("val")
mlps, acc, cnns, acc_cnn = {}, {}, {}, {}
for mode in MODES:
    torch.manual_seed(0)
    mlps[mode] = build_mlp(mode)
    fit(mlps[mode], train_set, TrainConfig(epochs=2, fast_epochs=2, lr=1e-3 if mode == "fp32" else 1e-2, seed=0),
        after_step=clip_latent_weights)
    acc[mode] = accuracy(mlps[mode], val_set)
for mode in ("fp32", "binary_full"):
    torch.manual_seed(0)
    cnns[mode] = build_cnn(mode)
    fit(cnns[mode], train_set, TrainConfig(epochs=1, fast_epochs=1, lr=1e-2, seed=0), after_step=clip_latent_weights)
    acc_cnn[mode] = accuracy(cnns[mode], val_set)
''',
    "packing": '''
try:
    from autograder.reference.xnor import pack_signs, unpack_signs
    from autograder.reference.binary import packed_weight_bytes as packed_memory
except ImportError:
    pack_signs = xnor.pack_rows

    def unpack_signs(bits, n):
        raise NotImplementedError()

    def packed_memory(model):
        fp32 = packed = 0
        for m in model.modules():
            if isinstance(m, BINARY):
                w = m.weight.detach().reshape(m.weight.shape[0], -1)
                fp32, packed = fp32 + 4 * w.numel(), packed + xnor.pack_rows(w).nbytes
        return fp32, packed
''',
    "xnor_matmul": '''
try:
    from autograder.reference.xnor import xnor_matmul_numpy as xnor_matmul
except ImportError:
    xnor_matmul = xnor.xnor_matmul_fast
''',
    "time_gemm": '''
def time_gemm(m, k, n, rounds=1, min_run_time=0.01):
    return {}
''',
    "xnor_k_stochastic": '''
try:
    from autograder.reference.binary import StochasticSignSTE, activation_scale
except ImportError:
    from effnn.binary import ApproxSign as StochasticSignSTE

    def activation_scale(x, kernel_size, stride=1, padding=0):  # effnn has no K: the "no scale" map
        return F.avg_pool2d(torch.ones_like(x[:, :1]), kernel_size, stride, padding)
''',
    "binary_regularizer": '''
try:
    from autograder.reference.binary import binary_regularizer
except ImportError:
    def binary_regularizer(model):
        return torch.zeros(())
''',
    "fold_threshold": '''
try:
    from autograder.reference.binary import fold_threshold
except ImportError:
    def fold_threshold(alpha, a, b):
        return torch.sign(a).long(), torch.ceil(-b / (alpha * a)).long()
''',
}


def test_effnn_gives_no_answers():
    for module, given in ((binary, GIVEN_BINARY), (xnor, GIVEN_XNOR), (xnor_infer, GIVEN_XNOR_INFER),
                          (xnor_conv, GIVEN_XNOR_CONV)):
        public = {n for n in vars(module) if not n.startswith("_")} - NOT_NAMES
        assert public == given, public ^ given  # a new name must be checked by hand, then listed here


@pytest.mark.slow
@pytest.mark.skipif(bool(jail.available()), reason="no grading jail on this machine: aliases would work")
def test_aliasing_the_reference_or_effnn_scores_zero(tmp_path, monkeypatch):
    from roundtrip import grade_with_answers

    monkeypatch.setenv("EFFNN_FAST", "1")
    result = grade_with_answers(NAME, ANSWERS, tmp_path, start="release", blank_ungraded=True)
    assert result["status"] == "graded", result
    auto = {gid: c for gid, c in result["cells"].items() if gid not in MANUAL}
    assert auto and all(c["score"] == 0 for c in auto.values()), auto


# ----------------------------------------------------------------------------- the checks themselves, in-process
def _judge(check: str, **objects) -> tuple[bool, str]:
    from autograder.judge import run_local
    from effnn.grading import serve

    return run_local(f"{NAME}.{check}", objects, serve)


def _glue_layers():
    """effnn's lecture layers dressed up as the exercise's (the best an alias can do)."""
    from torch import nn

    class BinaryLinear(binary.BinaryConnectLinear):
        def __init__(self, in_features, out_features, bias=True, scale=False, binary_input=False):
            super().__init__(in_features, out_features, bias, scale=scale)
            self.binary_input = binary_input

        def forward(self, x):
            return super().forward(binary.approx_sign(x) if self.binary_input else x)

    class BinaryConv2d(nn.Conv2d):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, scale=False,
                     binary_input=False):
            super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
            self.scale, self.binary_input = scale, binary_input

        def forward(self, x):
            w = binary.sign_identity(self.weight)
            if self.scale:
                w = w * self.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
            return self._conv_forward(binary.approx_sign(x) if self.binary_input else x, w, self.bias)

    return BinaryLinear, BinaryConv2d


def test_checks_pass_the_reference():
    from autograder.reference import binary as rb
    from autograder.reference import xnor as rx

    assert _judge("check_sign_ste", SignSTE=rb.SignSTE) == (True, "passed")
    assert _judge("check_binary_layers", BinaryLinear=rb.BinaryLinear, BinaryConv2d=rb.BinaryConv2d,
                  clip_latent_weights=rb.clip_latent_weights) == (True, "passed")
    assert _judge("check_packing", pack_signs=rx.pack_signs, unpack_signs=rx.unpack_signs) == (True, "passed")
    assert _judge("check_xnor_matmul", xnor_matmul=rx.xnor_matmul_numpy) == (True, "passed")
    assert _judge("check_activation_scale", activation_scale=rb.activation_scale) == (True, "passed")
    assert _judge("check_stochastic_sign", StochasticSignSTE=rb.StochasticSignSTE) == (True, "passed")
    assert _judge("check_binary_regularizer", binary_regularizer=rb.binary_regularizer, BinaryLinear=rb.BinaryLinear,
                  BinaryConv2d=rb.BinaryConv2d) == (True, "passed")
    assert _judge("check_fold_threshold", fold_threshold=rb.fold_threshold) == (True, "passed")


def test_new_checks_catch_the_usual_mistakes():
    import torch
    from torch.nn import functional as F

    from autograder.reference import binary as rb

    passed, message = _judge("check_stochastic_sign", StochasticSignSTE=rb.SignSTE)  # deterministic
    assert not passed and "frequency" in message, message
    passed, message = _judge("check_activation_scale", activation_scale=lambda x, k, s=1, p=0: F.avg_pool2d(
        x.abs().mean(1, keepdim=True), k, s, p, count_include_pad=False))
    assert not passed and "padding" in message, message

    def positive_only(alpha, a, b):  # forgets that a negative BatchNorm scale flips the comparison
        return torch.ones_like(a).long(), torch.ceil(-b / (alpha * a)).clamp(-1e6, 1e6).long()

    passed, message = _judge("check_fold_threshold", fold_threshold=positive_only)
    assert not passed and "<= 0" in message, message

    def detached(model):
        return sum((1 - m.weight.detach() ** 2).sum() for _, m in rb.binary_layers(model))

    passed, message = _judge("check_binary_regularizer", binary_regularizer=detached, BinaryLinear=rb.BinaryLinear,
                             BinaryConv2d=rb.BinaryConv2d)
    assert not passed and "binary_regularizer" in message, message


@pytest.mark.parametrize("estimator", ["SignIdentitySTE", "ApproxSign"])
def test_effnn_estimators_fail_the_sign_check(estimator):
    passed, message = _judge("check_sign_ste", SignSTE=getattr(binary, estimator))
    assert not passed and "where |x| <= 1" in message, message


def test_effnn_layers_fail_the_layer_check():
    from autograder.reference import binary as rb

    lin, conv = _glue_layers()
    passed, message = _judge("check_binary_layers", BinaryLinear=lin, BinaryConv2d=conv,
                             clip_latent_weights=rb.clip_latent_weights)
    assert not passed and "gradient" in message, message
    lin_ref, conv_ref = rb.BinaryLinear, rb.BinaryConv2d
    passed, message = _judge("check_binary_layers", BinaryLinear=lin_ref, BinaryConv2d=conv_ref,
                             clip_latent_weights=binary.clip_binaryconnect)
    assert not passed and "clip" in message, message


def test_effnn_xnor_fails_the_packing_and_product_checks():
    from autograder.reference import xnor as rx

    passed, message = _judge("check_packing", pack_signs=xnor.pack_rows, unpack_signs=rx.unpack_signs)
    assert not passed and "layout" in message, message
    passed, message = _judge("check_xnor_matmul", xnor_matmul=xnor.xnor_matmul_fast)
    assert not passed and "ValueError" in message, message
