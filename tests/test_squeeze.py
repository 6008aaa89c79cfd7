"""effnn.squeeze: the small SqueezeNet (fire modules, no fully connected layer)."""
import pytest
import torch
from torch import nn

from effnn.arch import Fire
from effnn.squeeze import mini_squeezenet


def test_parameter_count_follows_the_fire_formula():
    net = mini_squeezenet(width=32, squeeze=16)
    fires = [m for m in net if isinstance(m, Fire)]
    assert len(fires) == 3
    # c_in*s + s*e1 + 9*s*e3 weights (+ s + e1 + e3 biases) per fire
    fire = lambda c, s, e1, e3: c * s + s * e1 + 9 * s * e3 + s + e1 + e3  # noqa: E731
    expected = (9 * 32 + 32) + 2 * fire(32, 16, 16, 16) + fire(32, 32, 32, 32) + (64 * 10 + 10)
    assert sum(p.numel() for p in net.parameters()) == expected == 18570


def test_no_fully_connected_layer_and_output_shape():
    net = mini_squeezenet(in_channels=3, num_classes=5, width=8, squeeze=4)
    assert not any(isinstance(m, nn.Linear) for m in net.modules())
    assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 5)
    assert net(torch.zeros(1, 3, 16, 16)).shape == (1, 5)  # global average pooling: any input size


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="even"):
        mini_squeezenet(width=7)
    with pytest.raises(ValueError, match="squeeze"):
        mini_squeezenet(squeeze=0)
    with pytest.raises(ValueError, match="num_classes"):
        mini_squeezenet(num_classes=1)
