import random
import socket
import urllib.request

import numpy as np
import pytest
import requests
import torch

from effnn.data import mnist1d as m1d
from effnn.data.mnist1d import (MNIST1D_DEFAULT_SIZES, PUBLISHED_BASELINES, mnist1d,
                                mnist1d_loaders, published_baselines)


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    """Every test generates into its own cache, so generation itself is exercised."""
    monkeypatch.setenv("EFFNN_CACHE", str(tmp_path))
    m1d._pool.cache_clear()
    yield
    m1d._pool.cache_clear()


@pytest.fixture
def offline(monkeypatch):
    calls = []

    def boom(*a, **k):
        calls.append(a)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", boom)
    monkeypatch.setattr(requests, "get", boom)
    monkeypatch.setattr(socket, "create_connection", boom)
    return calls


def test_default_split_is_the_papers_dataset(offline):
    from mnist1d.data import get_dataset_args, make_dataset

    x, y = mnist1d("train")
    xt, yt = mnist1d("test")
    assert x.shape == (4000, 40) and xt.shape == (1000, 40)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    ref = make_dataset(get_dataset_args())  # the package's own generator, default arguments
    assert np.allclose(x.numpy(), ref["x"], atol=1e-6) and np.array_equal(y.numpy(), ref["y"])
    assert np.allclose(xt.numpy(), ref["x_test"], atol=1e-6) and np.array_equal(yt.numpy(), ref["y_test"])
    assert offline == []


def test_any_size_channel_shape_and_balanced_classes(offline):
    x, y = mnist1d("test", n_train=200, n_val=50, n_test=3003, seed=1, channel=True)
    assert x.shape == (3003, 1, 40) and y.shape == (3003,)
    xv, _ = mnist1d("val", n_train=200, n_val=50, n_test=3003, seed=1)
    assert xv.shape == (50, 40)
    counts = torch.bincount(torch.cat([mnist1d(s, n_train=200, n_val=50, n_test=3003, seed=1)[1]
                                       for s in ("train", "val", "test")]), minlength=10)
    assert counts.sum() == 3253 and counts.min() >= 320  # 326 per class generated, 7 cut off the end
    assert abs(float(torch.cat([mnist1d(s, n_train=200, n_val=50, n_test=3003, seed=1)[0]
                                for s in ("train", "val", "test")]).std()) - 1) < 0.01


def test_deterministic_per_seed_and_cached(offline, tmp_path):
    a = mnist1d("train", n_train=300, n_test=100, seed=7)
    files = list((tmp_path / "mnist1d").glob("*.npz"))
    assert len(files) == 1
    m1d._pool.cache_clear()
    b = mnist1d("train", n_train=300, n_test=100, seed=7)  # read back from the file
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = mnist1d("train", n_train=300, n_test=100, seed=8)
    assert not torch.equal(a[0], c[0])


def test_generation_leaves_global_rngs_alone(offline):
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    mnist1d("test", n_train=100, n_test=100, seed=3)
    assert (np.random.rand(), random.random()) == expected


def test_download_path_is_refused_during_generation(monkeypatch):
    # if the package ever tried to fetch its pickle, the guard turns it into a clear error
    import mnist1d.data as pkg

    def fetching_make_dataset(args, template=None):
        requests.get("http://example.invalid/mnist1d_data.pkl")

    monkeypatch.setattr(pkg, "make_dataset", fetching_make_dataset)
    with pytest.raises(m1d.NetworkRefused, match="never downloads"):
        mnist1d("train", n_train=100, n_test=100, seed=5)
    assert requests.get is not m1d._refuse  # the guard is lifted afterwards
    assert "url" not in m1d.generator_args(100, 0)


def test_loaders_shuffle_only_train_and_skip_empty_val(offline):
    loaders = mnist1d_loaders(batch_size=50, n_train=200, n_test=100, seed=2, channel=True)
    assert set(loaders) == {"train", "test"}
    xb, _ = next(iter(loaders["test"]))
    assert torch.equal(xb, mnist1d("test", n_train=200, n_test=100, seed=2, channel=True)[0][:50])
    first = [yb for _, yb in loaders["train"]]
    assert not torch.equal(torch.cat(first), mnist1d("train", n_train=200, n_test=100, seed=2)[1])
    assert "val" in mnist1d_loaders(n_train=200, n_val=20, n_test=100, seed=2)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="split"):
        mnist1d("validation")
    with pytest.raises((ValueError, TypeError), match="n_test"):
        mnist1d("test", n_test=0)
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        mnist1d_loaders(batch_size=0)


def test_published_baselines_are_the_papers():
    assert PUBLISHED_BASELINES["logistic regression"] < PUBLISHED_BASELINES["MLP"] < PUBLISHED_BASELINES["CNN"]
    assert "Greydanus & Kobak" in published_baselines() and "94 %" in published_baselines()
    assert MNIST1D_DEFAULT_SIZES == {"train": 4000, "val": 0, "test": 1000}


def test_a_read_only_cache_generates_without_failing(tmp_path, monkeypatch):
    """Inside the grading sandbox the cache is read-only: the data still comes, only uncached."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EFFNN_CACHE", str(blocker / "cache"))  # mkdir under a file: OSError
    x, y = mnist1d("test", n_train=40, n_val=10, n_test=10)
    assert tuple(x.shape) == (10, 40) and tuple(y.shape) == (10,)
    assert not (blocker / "cache").exists()
