import numpy as np
import pytest
import torch

from effnn.data import DIGITS_SPLIT_SIZES, Portraits, classification, digits, digits_loaders, portrait_split, segmentation


def test_digits_split_sizes_shapes_and_range():
    for split, n in DIGITS_SPLIT_SIZES.items():
        x, y = digits(split)
        assert x.shape == (n, 1, 8, 8) and y.shape == (n,)
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert digits("val", flatten=True)[0].shape == (300, 64)


def test_digits_splits_are_disjoint_and_cover_the_dataset():
    rows = [digits(s, flatten=True)[0] for s in ("train", "val", "test")]
    allx = torch.cat(rows)
    assert len(allx) == 1797
    # the three splits are a permutation of the dataset: no sample appears twice
    from sklearn.datasets import load_digits

    ref = np.sort(load_digits().data.astype(np.float32) / 16, axis=0)
    assert np.allclose(np.sort(allx.numpy(), axis=0), ref)


def test_digits_deterministic_per_seed():
    a, b = digits("train", seed=3), digits("train", seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(digits("train", seed=4)[1], a[1])


def test_digits_loaders_shuffle_only_train():
    loaders = digits_loaders(batch_size=100)
    xb, _ = next(iter(loaders["test"]))
    assert torch.equal(xb, digits("test")[0][:100])
    assert len(loaders["train"].dataset) == 1197


@pytest.mark.parametrize("bad", ["training", "", "TEST"])
def test_unknown_split_raises(bad):
    with pytest.raises(ValueError, match="split"):
        digits(bad)


def test_portraits_deterministic_any_order():
    ds = Portraits(6, size=32, seed=7)
    x5, m5 = ds[5]
    ds2 = Portraits(6, size=32, seed=7)
    x5b, m5b = ds2[5]
    assert torch.equal(x5, x5b) and torch.equal(m5, m5b)
    assert not torch.equal(Portraits(6, size=32, seed=8)[5][1], m5)


def test_portraits_shapes_values_and_foreground_fraction():
    x, m = Portraits(24, size=48, seed=0).tensors()
    assert x.shape == (24, 3, 48, 48) and m.shape == (24, 48, 48)
    assert x.min() >= 0 and x.max() <= 1
    assert set(m.unique().tolist()) <= {0, 1}
    frac = m.float().mean().item()
    assert 0.2 < frac < 0.6  # a person, not the whole frame nor nothing


def test_portrait_splits_differ_and_sizes_follow():
    tr, va = portrait_split("train", n=3, size=32), portrait_split("val", n=3, size=32)
    assert not torch.equal(tr[0][0], va[0][0])
    assert tr[0][0].shape == (3, 32, 32)


@pytest.mark.parametrize("kwargs", [dict(n=0), dict(n=3, size=7), dict(n=3, size=33)])
def test_portraits_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Portraits(**kwargs)


def test_selection_defaults_to_embedded(monkeypatch):
    monkeypatch.delenv("EFFNN_DATA", raising=False)
    x, y = classification("test")
    assert x.shape == (300, 1, 8, 8)
    xs, ms = segmentation("val", n=2, size=32)
    assert xs.shape == (2, 3, 32, 32)


def test_real_data_fails_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("EFFNN_DATA", "real")
    monkeypatch.setenv("EFFNN_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"MNIST not found: expected train-images-idx3-ubyte\[\.gz\]"):
        classification("train")
    with pytest.raises(FileNotFoundError, match="Human Matting not found"):
        segmentation("train")
    with pytest.raises(ValueError, match="name must be one of 'digits', 'mnist'"):
        classification("train", name="imagenet")


def test_bad_data_setting(monkeypatch):
    monkeypatch.setenv("EFFNN_DATA", "internet")
    with pytest.raises(ValueError, match="EFFNN_DATA"):
        classification("train")


def test_matting_folder_reader(tmp_path):
    from PIL import Image

    from effnn.data.select import matting_folder  # still importable from its old home

    (tmp_path / "images").mkdir()
    (tmp_path / "alpha").mkdir()
    for i in range(10):
        Image.fromarray(np.full((20, 20, 3), i * 20, np.uint8)).save(tmp_path / "images" / f"p{i}.jpg")
        a = np.zeros((20, 20), np.uint8)
        a[:, :10] = 255
        Image.fromarray(a).save(tmp_path / "alpha" / f"p{i}.png")
    x, y = matting_folder(tmp_path, size=16, split="train")
    assert x.shape == (8, 3, 16, 16) and y.shape == (8, 16, 16)
    assert y[:, :, :7].all() and not y[:, :, 9:].any()


@pytest.mark.parametrize("call, error, match", [
    (lambda: digits("train", seed=-1), ValueError, "seed must be in"),
    (lambda: digits("train", seed=1.5), TypeError, "seed must be an int"),
    (lambda: digits("train", seed=float("nan")), TypeError, "seed must be an int"),
    (lambda: digits("train", flatten="yes"), TypeError, "flatten must be True or False"),
    (lambda: digits(3), ValueError, "split must be one of"),
    (lambda: digits_loaders(batch_size=0), ValueError, "batch_size must be in"),
    (lambda: digits_loaders(batch_size="64"), TypeError, "batch_size must be an int"),
    (lambda: digits_loaders(shuffle_seed=-2), ValueError, "shuffle_seed must be in"),
    (lambda: Portraits("3"), TypeError, "n must be an int"),
    (lambda: Portraits(3, size=16.0), TypeError, "size must be an int"),
    (lambda: Portraits(3, size=4), ValueError, "size must be in"),
    (lambda: Portraits(3, seed=-1), ValueError, "seed must be in"),
    (lambda: Portraits(3, size=16)[3], IndexError, "out of range"),
    (lambda: Portraits(3, size=16)[-1], IndexError, "out of range"),
    (lambda: Portraits(3, size=16)["0"], TypeError, "index must be an int"),
    (lambda: Portraits(3, size=16).tensors(progress=1), TypeError, "progress must be True or False"),
    (lambda: portrait_split("val", n=0), ValueError, "n must be in"),
    (lambda: portrait_split("val", n=-5), ValueError, "n must be in"),
    (lambda: portrait_split("valid"), ValueError, "split must be one of"),
    (lambda: segmentation("val", n=0, size=32), ValueError, "n must be in"),
    (lambda: segmentation("val", n=2, size=float("nan")), TypeError, "size must be an int"),
    (lambda: classification("val", seed=-1), ValueError, "seed must be in"),
    (lambda: classification("val", flatten=None), TypeError, "flatten must be True or False"),
])
def test_bad_arguments_name_the_argument(monkeypatch, call, error, match):
    monkeypatch.delenv("EFFNN_DATA", raising=False)
    with pytest.raises(error, match=match):
        call()


def test_render_portrait_wants_a_generator():
    from effnn.data import render_portrait

    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        render_portrait(0, 16)
    with pytest.raises(ValueError, match="size must be in"):
        render_portrait(np.random.default_rng(0), 0)
    img, alpha = render_portrait(np.random.default_rng(0), np.int64(16))
    assert img.shape == (16, 16, 3) and alpha.shape == (16, 16)


def test_numpy_scalars_are_accepted(monkeypatch):
    monkeypatch.delenv("EFFNN_DATA", raising=False)
    a = digits("val", seed=np.int64(2))
    b = digits("val", seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ds = Portraits(np.int32(2), size=np.int64(16), seed=np.uint8(1))
    assert torch.equal(ds[np.int64(1)][1], Portraits(2, size=16, seed=1)[1][1])
    assert len(portrait_split("test", n=np.int16(2), size=16)) == 2
    assert classification("test", flatten=np.bool_(True))[0].shape == (300, 64)
