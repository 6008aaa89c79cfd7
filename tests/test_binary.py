"""A2's reference binary layers (autograder.reference.binary), and lecture 04b's effnn.binary, which
must differ from them in substance (other estimators, its own clipping and architecture)."""
import pytest
import torch
from torch import nn

from autograder.reference import binary
from effnn import binary as lecture


def test_sign_ste_forward_backward_on_boundaries():
    x = torch.tensor([-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 1.0001, 3.0], requires_grad=True)
    y = binary.sign_ste(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1, 1, 1]  # sign(0) = sign(-0) = +1
    y.backward(torch.arange(1.0, 10.0))
    assert x.grad.tolist() == [0, 2, 3, 4, 5, 6, 7, 0, 0]  # passed where |x| <= 1


def test_sign_ste_rejects_bad_input():
    with pytest.raises(TypeError, match="x"):
        binary.sign_ste([1.0, -1.0])
    with pytest.raises(TypeError, match="floating"):
        binary.sign_ste(torch.tensor([1, -1]))


def test_channel_scale_is_mean_abs_per_output_channel():
    w = torch.tensor([[1.0, -3.0], [0.5, 0.5]])
    assert binary.channel_scale(w).flatten().tolist() == [2.0, 0.5]
    w4 = torch.randn(5, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(binary.channel_scale(w4).flatten(), w4.abs().flatten(1).mean(1))
    with pytest.raises(ValueError, match="weight"):
        binary.channel_scale(torch.ones(3))


@pytest.mark.parametrize("scale", [False, True])
def test_binary_linear_matches_reference(scale):
    torch.manual_seed(0)
    layer = binary.BinaryLinear(7, 5, scale=scale, binary_input=True)
    x = torch.randn(4, 7)
    w = torch.where(layer.weight >= 0, 1.0, -1.0)
    if scale:
        w = w * layer.weight.abs().mean(1, keepdim=True)
    expected = torch.where(x >= 0, 1.0, -1.0) @ w.T + layer.bias
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_binary_conv_uses_signs_and_trains_latent_weights():
    torch.manual_seed(1)
    conv = binary.BinaryConv2d(3, 4, 3, padding=1, bias=False, scale=True)
    x = torch.randn(2, 3, 5, 5)
    ref = nn.functional.conv2d(x, torch.sign(conv.weight) * binary.channel_scale(conv.weight), padding=1)
    out = conv(x)
    assert torch.allclose(out, ref, atol=1e-5)
    out.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_clip_latent_weights_only_touches_binary_layers():
    model = nn.Sequential(nn.Linear(3, 4), binary.BinaryLinear(4, 2))
    with torch.no_grad():
        model[0].weight.fill_(5.0)
        model[1].weight.fill_(-5.0)
    binary.clip_latent_weights(model)
    assert model[0].weight.max() == 5.0
    assert model[1].weight.min() == -1.0
    with pytest.raises(ValueError, match="bound"):
        binary.clip_latent_weights(model, bound=0)


@pytest.mark.parametrize("builder", [binary.binarized_mlp, binary.binarized_cnn])
def test_builders_keep_first_and_last_layers_real(builder):
    x = torch.rand(3, 1, 8, 8)
    for mode in binary.MODES:
        model = builder(mode).eval()
        assert model(x).shape == (3, 10)
        layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        kinds = [isinstance(m, binary.BINARY_LAYERS) for m in layers]
        assert not kinds[0] and not kinds[-1]
        assert all(kinds[1:-1]) == (mode != "fp32") and any(kinds) == (mode != "fp32")
        binary_inputs = {m.binary_input for m in layers if isinstance(m, binary.BINARY_LAYERS)}
        assert binary_inputs <= {mode == "binary_full"}
    with pytest.raises(ValueError, match="mode"):
        builder("ternary")


def test_packed_bytes_are_one_bit_per_weight():
    model = binary.binarized_mlp(hidden=(128, 128, 128))
    fp32, packed = binary.packed_weight_bytes(model)
    assert fp32 == 2 * 128 * 128 * 4 and packed == fp32 // 32
    odd = nn.Sequential(binary.BinaryLinear(65, 3, bias=False))  # 65 bits -> two 64-bit words per row
    assert binary.packed_weight_bytes(odd) == (65 * 3 * 4, 3 * 2 * 8)
    assert binary.packed_model_bytes(model) < binary.packed_weight_bytes(model)[0]


def test_binarized_mlp_learns_digits_quickly():
    from effnn import train
    from effnn.data import digits

    model = binary.binarized_mlp("binary_full", hidden=(128, 128))
    cfg = train.TrainConfig(epochs=2, fast_epochs=2, lr=1e-2, seed=0)
    train.fit(model, digits("train"), cfg, after_step=binary.clip_latent_weights)
    assert train.accuracy(model, digits("val")) > 0.8
    assert all(m.weight.abs().max() <= 1 for _, m in binary.binary_layers(model))


# ----------------------------------------------------------------------------- effnn.binary (lecture 04b)
def test_lecture_estimators_differ_from_the_exercise():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], requires_grad=True)
    y = lecture.sign_identity(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]
    y.sum().backward()
    assert x.grad.tolist() == [1] * 7  # BinaryConnect: identity everywhere
    x.grad = None
    lecture.approx_sign(x).sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 2, 1, 0, 0]  # Bi-Real Net: max(0, 2 - 2|x|)
    with pytest.raises(TypeError, match="floating"):
        lecture.approx_sign(torch.tensor([1, -1]))


def test_lecture_layer_is_binaryconnect_or_bwn():
    torch.manual_seed(0)
    for scale in (False, True):
        layer = lecture.BinaryConnectLinear(7, 5, scale=scale)
        x = torch.randn(4, 7)
        w = torch.where(layer.weight >= 0, 1.0, -1.0)
        if scale:
            w = w * layer.weight.abs().mean(1, keepdim=True)
        assert torch.allclose(layer(x), x @ w.T + layer.bias, atol=1e-6)


def test_lecture_clip_touches_only_its_own_layer():
    class Sub(lecture.BinaryConnectLinear):
        pass

    model = nn.Sequential(nn.Linear(3, 4), lecture.BinaryConnectLinear(4, 2), Sub(2, 2))
    with torch.no_grad():
        for m in model:
            m.weight.fill_(5.0)
    lecture.clip_binaryconnect(model)
    assert model[0].weight.max() == 5.0 and model[1].weight.max() == 1.0 and model[2].weight.max() == 5.0
    with pytest.raises(ValueError, match="bound"):
        lecture.clip_binaryconnect(model, bound=0)


def test_lecture_mlp_modes_and_layout_differ_from_the_exercise():
    x = torch.rand(3, 1, 8, 8)
    for mode in lecture.MODES:
        model = lecture.binarized_mlp(mode).eval()
        assert model(x).shape == (3, 10)
        assert "4.weight" not in model.state_dict()  # blocks: not loadable as Exercise 3's flat MLP
        signs = [m for m in model.modules() if isinstance(m, lecture.SignActivation)]
        assert bool(signs) == (mode == "binary_full")
    with pytest.raises(ValueError, match="mode"):
        lecture.binarized_mlp("ternary")


def test_effnn_offers_no_exercise_answer():
    for name in ("SignSTE", "sign_ste", "BinaryLinear", "BinaryConv2d", "clip_latent_weights", "channel_scale",
                 "binarized_cnn", "packed_weight_bytes", "packed_model_bytes"):
        assert not hasattr(lecture, name), name


# ----------------------------------------------------------------------------- A2 sections 8-10 (reference)
def test_fold_threshold_reproduces_sign_of_batchnorm_for_every_integer():
    gen = torch.Generator().manual_seed(0)
    alpha = torch.randint(1, 65, (200,), generator=gen).double() / 64
    a = torch.randint(-128, 129, (200,), generator=gen).double() / 64  # zeros and negatives included
    b = torch.randint(-2560, 2561, (200,), generator=gen).double() / 64
    b[:4] = -(alpha[:4] * a[:4]) * torch.tensor([3.0, -5.0, 0.0, 7.0])  # exact ties
    s, t = binary.fold_threshold(alpha, a, b)
    z = torch.arange(-400, 401, dtype=torch.float64)[:, None]
    assert not s.is_floating_point() and set(s.unique().tolist()) <= {-1, 0, 1}
    assert torch.equal((s * z) >= t, (a * alpha * z + b) >= 0)


def test_activation_scale_is_a_box_filter_of_the_channel_mean():
    x = torch.zeros(1, 2, 3, 3)
    x[0, 0] = 2.0
    k = binary.activation_scale(x, 3, padding=1)
    assert k.shape == (1, 1, 3, 3) and float(k[0, 0, 1, 1]) == 1.0 and abs(float(k[0, 0, 0, 0]) - 4 / 9) < 1e-7
    assert binary.activation_scale(torch.ones(2, 3, 7, 7), 3, stride=2).shape == (2, 1, 3, 3)


def test_stochastic_sign_frequencies_and_gradient():
    torch.manual_seed(0)
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0]).repeat(20_000, 1).requires_grad_(True)
    y = binary.StochasticSignSTE.apply(x)
    freq = (y == 1).float().mean(0)
    assert freq[0] == 0 and freq[-1] == 1
    assert torch.allclose(freq[1:4], torch.tensor([0.25, 0.5, 0.75]), atol=0.02)
    y.sum().backward()
    assert x.grad[0].tolist() == [0, 1, 1, 1, 0]


def test_binary_regularizer_counts_only_binary_layers():
    model = nn.Sequential(nn.Linear(2, 3), binary.BinaryLinear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(0.5)
        model[1].weight.copy_(torch.tensor([[0.0, 1.0, -0.5], [0.5, -1.0, 0.0]]))
    r = binary.binary_regularizer(model)
    assert float(r.detach()) == 3.5
    r.backward()
    assert torch.equal(model[1].weight.grad, -2 * model[1].weight.detach()) and model[0].weight.grad is None
    assert float(binary.binary_regularizer(nn.Linear(2, 2))) == 0.0


def test_lecture_module_arguments_are_clear_errors():
    with pytest.raises(TypeError, match="bound"):
        lecture.clip_binaryconnect(nn.Linear(2, 2), bound="1")
    with pytest.raises(ValueError, match="bound"):
        lecture.clip_binaryconnect(nn.Linear(2, 2), bound=float("nan"))
    with pytest.raises(TypeError, match="model"):
        lecture.clip_binaryconnect("model")
    with pytest.raises(TypeError, match="scale"):
        lecture.BinaryConnectLinear(3, 2, scale=1)
    with pytest.raises(ValueError, match="hidden"):
        lecture.binarized_mlp(hidden=(256, 0))
    with pytest.raises(ValueError, match="mode"):
        lecture.binarized_mlp(mode=3)
    import numpy as np
    assert lecture.binarized_mlp(hidden=(np.int64(8), 8), in_features=np.int32(64))(torch.rand(2, 64)).shape == (2, 10)
    lecture.clip_binaryconnect(nn.Linear(2, 2), bound=np.float32(0.5))  # numpy scalars are numbers
