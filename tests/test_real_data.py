"""Real data without torchvision: each reader on small files written in the exact published format.

IDX (MNIST, Fashion-MNIST): magic 0x00000803 / 0x00000801 and big-endian uint32 dims, plain and
gzipped. CIFAR-10: Python pickles of dicts with ``b"data"`` (uint8, N x 3072) and ``b"labels"``,
protocol 2 as the official batches. Human Matting: ``images/<name>.png|jpg`` + ``alpha/<name>.png``.
Every missing or malformed file must give a clear error that names the file and the fix.
"""
import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from effnn.data import (classification, locate, matting_folder, matting_pairs, read_cifar10,
                        read_cifar_batch, read_idx, read_idx_pair, read_matting_pair, real_classification,
                        segmentation)
from effnn.data.real_cifar import SafeUnpickler


# ----------------------------------------------------------------------------------- writers
def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file: 00 00 <type> <ndim>, big-endian uint32 dims, then the values."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data: bytes, gz: bool = False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def mnist_arrays(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def write_mnist(folder, n_train=20, n_test=5, gz=False, seed=0):
    """The four IDX files of an MNIST-like set; returns the arrays written."""
    out = {}
    for part, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images, labels = mnist_arrays(n, seed + (part == "test"))
        write(folder / f"{prefix}-images-idx3-ubyte", idx_bytes(images), gz)
        write(folder / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gz)
        out[part] = images, labels
    return out


def cifar_batch(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist()


def write_cifar(folder, n=3, protocol=2):
    """Six batches of ``n`` images each, pickled as the official python batches."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data, labels = cifar_batch(n, i)
        batch = {b"batch_label": f"batch {i}".encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img_{i}_{j}.png".encode() for j in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        out[name] = data, labels
    return out


def write_matting(folder, count=10, size=(12, 10), seed=0):
    """``count`` PNG pairs: RGB photos and grey mattes; returns {name: (rgb, alpha)}."""
    from PIL import Image

    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "alpha").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(count):
        rgb = rng.integers(0, 256, (size[0], size[1], 3), dtype=np.uint8)
        alpha = rng.integers(0, 256, size, dtype=np.uint8)
        Image.fromarray(rgb).save(folder / "images" / f"p{i:02d}.png")
        Image.fromarray(alpha).save(folder / "alpha" / f"p{i:02d}.png")
        out[f"p{i:02d}"] = rgb, alpha
    return out


@pytest.fixture
def real_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EFFNN_DATA", "real")
    monkeypatch.setenv("EFFNN_DATA_DIR", str(tmp_path))
    return tmp_path


# ---------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_exact_values_shapes_and_dtypes(tmp_path, gz):
    images, labels = mnist_arrays(7, seed=1)
    img_path = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images), gz)
    lab_path = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels), gz)
    got = read_idx(img_path)
    assert got.dtype == np.uint8 and got.shape == (7, 28, 28)
    assert np.array_equal(got, images)
    assert np.array_equal(read_idx(str(lab_path)), labels)


def test_read_idx_big_endian_multibyte_types(tmp_path):
    values = np.array([[1, -2, 300], [70000, -70000, 0]], dtype=np.int32)
    got = read_idx(write(tmp_path / "x.idx", idx_bytes(values, type_code=0x0C)))
    assert got.dtype == np.int32 and got.dtype.isnative and np.array_equal(got, values)
    # the dims really are big-endian: 2 rows x 3 columns, read back as such
    assert (tmp_path / "x.idx").read_bytes()[4:12] == b"\0\0\0\x02\0\0\0\x03"


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_pair_plain_and_gz(tmp_path, gz):
    written = write_mnist(tmp_path, gz=gz)
    for part in ("train", "test"):
        images, labels = read_idx_pair(tmp_path, part)
        assert np.array_equal(images, written[part][0])
        assert labels.dtype == np.int64 and np.array_equal(labels, written[part][1])


@pytest.mark.parametrize("data, match", [
    (b"\x08\x03\x00\x00" + b"\0" * 12, "bad magic number 0x08030000"),  # little-endian magic
    (b"\x00\x00\x07\x03" + b"\0" * 12, "bad magic number 0x00000703"),  # unknown type byte
    (b"\x00\x00\x08\x00", "bad magic number 0x00000800"),                 # zero dimensions
    (b"\x00\x00", "truncated"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated: the header needs 16 bytes"),
    (bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 28, 28) + b"\0" * 1000, r"truncated: .*1568 bytes of data.*holds 1000"),
    (bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + b"\0\0\0", "1 bytes after the 2"),
])
def test_read_idx_malformed(tmp_path, data, match):
    with pytest.raises(ValueError, match=match):
        read_idx(write(tmp_path / "f-idx3-ubyte", data))


def test_read_idx_truncated_gzip(tmp_path):
    path = write(tmp_path / "a", idx_bytes(mnist_arrays(4, 0)[0]), gz=True)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_idx(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_idx(path)


def test_read_idx_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="path must be a path"):
        read_idx(3)
    with pytest.raises(FileNotFoundError, match="no IDX file at"):
        read_idx(tmp_path / "absent")


def test_read_idx_pair_wrong_dims_counts_and_labels(tmp_path):
    images, labels = mnist_arrays(4, 0)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images[:, :27]))
    with pytest.raises(ValueError, match=r"wrong dims: MNIST images .*\(N, 28, 28\).*\(4, 27, 28\)"):
        read_idx_pair(tmp_path, "train")
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(labels))  # a labels file in the images' place
    with pytest.raises(ValueError, match="wrong dims"):
        read_idx_pair(tmp_path, "train")
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images[:3]))
    with pytest.raises(ValueError, match="holds 3 images but train-labels-idx1-ubyte holds 4 labels"):
        read_idx_pair(tmp_path, "train")
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.array([0, 1, 10, 2], np.uint8)))
    with pytest.raises(ValueError, match="label 10; MNIST labels are 0..9"):
        read_idx_pair(tmp_path, "train")
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels[:, None]))
    with pytest.raises(ValueError, match=r"wrong dims: MNIST labels"):
        read_idx_pair(tmp_path, "train")


def test_read_idx_pair_missing_and_bad_arguments(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"MNIST test files missing in .*: t10k-labels-idx1-ubyte\[\.gz\]"):
        read_idx_pair(tmp_path, "test")
    with pytest.raises(ValueError, match="part must be one of 'train', 'test'"):
        read_idx_pair(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match="no MNIST folder at"):
        read_idx_pair(tmp_path / "nowhere")


# ------------------------------------------------------------------------------------- CIFAR
@pytest.mark.parametrize("protocol", [2, 5])
def test_read_cifar_batch_exact(tmp_path, protocol):
    written = write_cifar(tmp_path, n=4, protocol=protocol)
    images, labels = read_cifar_batch(tmp_path / "data_batch_3")
    data, lab = written["data_batch_3"]
    assert images.dtype == np.uint8 and images.shape == (4, 3, 32, 32)
    assert labels.dtype == np.int64 and labels.tolist() == lab
    # row layout: 1024 red values, then green, then blue, each row-major 32x32
    assert images[1, 0, 0, 5] == data[1, 5] and images[1, 1, 2, 3] == data[1, 1024 + 2 * 32 + 3]
    assert images[2, 2, 31, 31] == data[2, 3071]


def test_read_cifar10_concatenates_the_five_batches_in_order(tmp_path):
    written = write_cifar(tmp_path, n=2)
    images, labels = read_cifar10(tmp_path, "train")
    assert images.shape == (10, 3, 32, 32)
    expect = np.concatenate([written[f"data_batch_{k}"][0] for k in range(1, 6)])
    assert np.array_equal(images.reshape(10, -1), expect)
    assert labels.tolist() == sum((written[f"data_batch_{k}"][1] for k in range(1, 6)), [])
    test_images, _ = read_cifar10(tmp_path, "test")
    assert np.array_equal(test_images.reshape(2, -1), written["test_batch"][0])


def test_cifar_python2_style_pickle_with_numpy_core_names(tmp_path):
    """The official batches were pickled by Python 2 and name numpy.core.multiarray._reconstruct."""
    data, labels = cifar_batch(2, 0)
    blob = pickle.dumps({b"data": data, b"labels": labels}, protocol=2)
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    (tmp_path / "b").write_bytes(blob)
    images, got = read_cifar_batch(tmp_path / "b")
    assert np.array_equal(images.reshape(2, -1), data) and got.tolist() == labels


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_cifar_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": _Evil(str(marker)), b"labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load"):
        read_cifar_batch(tmp_path / "evil")
    assert not marker.exists()
    (tmp_path / "evil2").write_bytes(pickle.dumps(eval, protocol=2))  # builtins.eval
    with pytest.raises(ValueError, match=r"refusing to load (__builtin__|builtins)\.eval"):
        read_cifar_batch(tmp_path / "evil2")
    # _codecs.encode is allowed only for the latin-1 that protocol 2 uses for bytes
    blob = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x04\x00\x00\x00hex_q\x01\x86R."
    with pytest.raises(pickle.UnpicklingError, match="refusing _codecs.encode with encoding 'hex_'"):
        SafeUnpickler(__import__("io").BytesIO(blob)).load()


@pytest.mark.parametrize("batch, match", [
    ([1, 2], "holds a list, not a dict"),
    ({b"labels": [0]}, "no 'data' entry"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'labels' entry"),
    ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, r"wrong dims: data must be uint8 of shape \(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "wrong dims"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "expected 2 integers"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"labels outside 0..9"),
    ({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}, "holds no images"),
])
def test_read_cifar_batch_malformed(tmp_path, batch, match):
    (tmp_path / "b").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=match):
        read_cifar_batch(tmp_path / "b")


def test_read_cifar_batch_truncated(tmp_path):
    write_cifar(tmp_path, n=2)
    blob = (tmp_path / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated or not a pickle"):
        read_cifar_batch(tmp_path / "test_batch")
    (tmp_path / "test_batch").write_bytes(b"")
    with pytest.raises(ValueError, match="truncated or not a pickle"):
        read_cifar_batch(tmp_path / "test_batch")


def test_read_cifar10_missing_batch(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="CIFAR-10 train files missing in .*: data_batch_4"):
        read_cifar10(tmp_path, "train")
    assert read_cifar10(tmp_path, "test")[0].shape == (3, 3, 32, 32)


# ---------------------------------------------------------------------------- Human Matting
def test_read_matting_pair_exact_at_native_size(tmp_path):
    written = write_matting(tmp_path, count=1, size=(8, 8))
    rgb, alpha = written["p00"]
    x, m = read_matting_pair(tmp_path / "images" / "p00.png", tmp_path / "alpha" / "p00.png", size=8)
    assert x.dtype == torch.float32 and x.shape == (3, 8, 8)
    assert m.dtype == torch.int64 and m.shape == (8, 8)
    assert torch.equal(x, torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1))
    assert torch.equal(m, torch.from_numpy(alpha.astype(np.float32) / 255 > 0.5).long())


def test_read_matting_pair_resizes_and_thresholds(tmp_path):
    from PIL import Image

    (tmp_path / "i").mkdir()
    Image.fromarray(np.full((16, 24, 3), 51, np.uint8)).save(tmp_path / "i" / "a.jpg")
    alpha = np.zeros((16, 24, 4), np.uint8)  # an RGBA cut-out: the matte is its alpha channel
    alpha[..., :3] = 255
    alpha[:, :12, 3] = 255
    Image.fromarray(alpha).save(tmp_path / "i" / "a.png")
    x, m = read_matting_pair(tmp_path / "i" / "a.jpg", tmp_path / "i" / "a.png", size=8)
    assert x.shape == (3, 8, 8) and m.shape == (8, 8)
    assert torch.allclose(x, torch.full_like(x, 0.2), atol=2 / 255)  # a flat JPEG stays flat
    assert m[:, :4].eq(1).all() and m[:, 4:].eq(0).all()  # left half person, after a 3x squeeze


def test_matting_folder_splits_are_disjoint_cover_and_match_the_files(tmp_path):
    written = write_matting(tmp_path, count=10, size=(8, 8))
    seen = []
    for split, count in (("train", 8), ("val", 1), ("test", 1)):
        x, m = matting_folder(tmp_path, size=8, split=split, seed=3)
        assert x.shape == (count, 3, 8, 8) and m.shape == (count, 8, 8)
        for xi, mi in zip(x, m):
            name = next(k for k, (rgb, _) in written.items()
                        if torch.equal(xi, torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)))
            assert torch.equal(mi, torch.from_numpy(written[name][1] / 255 > 0.5).long())
            seen.append(name)
    assert sorted(seen) == sorted(written)
    # deterministic per seed, different across seeds; n takes the first n of the split
    a = matting_folder(tmp_path, size=8, split="train", seed=3)[0]
    assert torch.equal(matting_folder(tmp_path, size=8, split="train", seed=3, n=np.int64(2))[0], a[:2])
    assert not torch.equal(matting_folder(tmp_path, size=8, split="train", seed=4)[0], a)


def test_matting_pairs_and_errors(tmp_path):
    from PIL import Image

    write_matting(tmp_path, count=3, size=(8, 8))
    assert [p[0].name for p in matting_pairs(tmp_path)] == ["p00.png", "p01.png", "p02.png"]
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "lonely.jpg")
    with pytest.raises(ValueError, match=r"1 image\(s\) in .* have no alpha/<name>.png: lonely"):
        matting_pairs(tmp_path)
    (tmp_path / "images" / "lonely.jpg").unlink()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "alpha" / "orphan.png")
    with pytest.raises(ValueError, match=r"1 matte\(s\) .* have no images/<name>.jpg: orphan"):
        matting_pairs(tmp_path)
    (tmp_path / "alpha" / "orphan.png").unlink()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "p00.jpg")
    with pytest.raises(ValueError, match="two files named 'p00'"):
        matting_pairs(tmp_path)
    (tmp_path / "images" / "p00.jpg").unlink()
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "alpha" / "p01.png")
    with pytest.raises(ValueError, match="wrong dims: p01.png is 8x8 but its matte p01.png is 8x9"):
        read_matting_pair(tmp_path / "images" / "p01.png", tmp_path / "alpha" / "p01.png", size=8)
    (tmp_path / "images" / "p02.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*p02.png"):
        read_matting_pair(tmp_path / "images" / "p02.png", tmp_path / "alpha" / "p02.png")


def test_matting_folder_sizes_and_arguments(tmp_path):
    write_matting(tmp_path, count=3, size=(8, 8))
    with pytest.raises(ValueError, match="the val split of .* is empty: 3 pairs"):
        matting_folder(tmp_path, size=8, split="val")
    with pytest.raises(ValueError, match="n=3 but the train split of .* holds 2 of its 3 pairs"):
        matting_folder(tmp_path, size=8, split="train", n=3)
    with pytest.raises(ValueError, match="n must be in"):
        matting_folder(tmp_path, size=8, n=0)
    with pytest.raises(TypeError, match="size must be an int"):
        matting_folder(tmp_path, size=8.0)
    with pytest.raises(ValueError, match="size must be in"):
        matting_folder(tmp_path, size=4)
    with pytest.raises(ValueError, match="split must be one of"):
        matting_folder(tmp_path, split="dev")
    with pytest.raises(FileNotFoundError, match="lacks alpha/"):
        (tmp_path / "alpha").rename(tmp_path / "mattes")
        matting_pairs(tmp_path)


# ------------------------------------------------------------------ dispatch: EFFNN_DATA=real
def test_classification_real_mnist_default(real_env):
    written = write_mnist(real_env / "mnist", n_train=20, n_test=5)
    x, y = classification("test")
    assert x.dtype == torch.float32 and x.shape == (5, 1, 28, 28)
    assert y.dtype == torch.int64
    assert torch.equal(x, torch.from_numpy(written["test"][0][:, None].astype(np.float32) / 255))
    assert torch.equal(y, torch.from_numpy(written["test"][1].astype(np.int64)))
    tr, va = classification("train"), classification("val")
    assert tr[0].shape == (18, 1, 28, 28) and va[0].shape == (2, 1, 28, 28)  # 90 / 10 of train
    both = torch.cat([tr[0], va[0]]).reshape(20, -1)
    ref = torch.from_numpy(written["train"][0].reshape(20, -1).astype(np.float32) / 255)
    assert torch.equal(torch.sort(both, 0).values, torch.sort(ref, 0).values)  # disjoint, covering
    assert classification("val", flatten=True)[0].shape == (2, 784)
    assert torch.equal(classification("train", seed=1)[0], classification("train", seed=1)[0])
    assert not torch.equal(classification("train", seed=1)[0], tr[0])
    # an explicit name still reads the embedded digits
    assert classification("test", "digits")[0].shape == (300, 1, 8, 8)


def test_classification_real_fashion_gz_and_torchvision_layout(real_env):
    written = write_mnist(real_env / "FashionMNIST" / "raw", n_train=10, n_test=3, gz=True, seed=5)
    x, y = classification("test", "fashion_mnist")
    assert torch.equal(y, torch.from_numpy(written["test"][1].astype(np.int64)))
    assert locate("fashion_mnist", "test") == real_env / "FashionMNIST" / "raw"


def test_classification_real_cifar10(real_env):
    written = write_cifar(real_env / "cifar10" / "cifar-10-batches-py", n=4)
    x, y = classification("test", "cifar10")
    assert x.dtype == torch.float32 and x.shape == (4, 3, 32, 32)
    assert torch.equal(x.reshape(4, -1), torch.from_numpy(written["test_batch"][0].astype(np.float32) / 255))
    assert y.tolist() == written["test_batch"][1]
    assert classification("train", "cifar10")[0].shape == (18, 3, 32, 32)
    assert classification("val", "cifar10", flatten=True)[0].shape == (2, 3072)


def test_segmentation_real_has_the_portraits_format(real_env):
    write_matting(real_env / "matting", count=10, size=(12, 10))
    x, m = segmentation("train", n=3, size=16)
    assert x.shape == (3, 3, 16, 16) and x.dtype == torch.float32
    assert m.shape == (3, 16, 16) and m.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1 and set(m.unique().tolist()) <= {0, 1}
    assert segmentation("test", size=16)[0].shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="n must be in"):
        segmentation("train", n=0)


def test_portrait_tensors_reads_the_matting_folder(real_env):
    """effnn.segformer's uint8 wrapper over segmentation() is exact on real pairs."""
    from effnn import segformer as S

    write_matting(real_env / "matting", count=10, size=(64, 64))
    x8, y8 = S.portrait_tensors("val", n=1, size=64)
    x, y = segmentation("val", n=1, size=64)
    assert x8.dtype == torch.uint8 and torch.equal(x8.float() / 255, x) and torch.equal(y8.long(), y)


@pytest.mark.parametrize("call, match", [
    (lambda: classification("train"),
     r"MNIST not found: expected train-images-idx3-ubyte\[\.gz\], train-labels-idx1-ubyte\[\.gz\] in "
     r".*/mnist \(the folder does not exist\)\. Put the four IDX files there .*see README, \"Real data\""),
    (lambda: classification("test", "fashion_mnist"),
     r"Fashion-MNIST not found: expected t10k-images-idx3-ubyte\[\.gz\], t10k-labels-idx1-ubyte\[\.gz\] in .*/fashion_mnist"),
    (lambda: classification("test", "cifar10"),
     r"CIFAR-10 not found: expected test_batch in .*/cifar10 .*Put the six batch files"),
    (lambda: segmentation("train"),
     r"Human Matting not found: expected images/, alpha/ in .*/matting \(the folder does not exist\)"),
])
def test_missing_real_data_says_what_and_where(real_env, call, match):
    with pytest.raises(FileNotFoundError, match=match) as info:
        call()
    assert str(real_env) in str(info.value) and "Nothing is downloaded" in str(info.value)


def test_partly_present_folder_names_the_missing_files(real_env):
    write_mnist(real_env / "mnist")
    (real_env / "mnist" / "train-labels-idx1-ubyte").unlink()
    assert classification("test")[0].shape == (5, 1, 28, 28)  # the test part is complete
    with pytest.raises(FileNotFoundError, match=r"in .*/mnist \(missing: train-labels-idx1-ubyte\[\.gz\]\)"):
        classification("train")
    (real_env / "matting" / "images").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"\(missing: alpha/\)"):
        segmentation("val")


def test_malformed_real_file_reaches_the_caller(real_env):
    write_mnist(real_env / "mnist")
    (real_env / "mnist" / "t10k-images-idx3-ubyte").write_bytes(b"\x08\x03\x00\x00" + b"\0" * 20)
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte has a bad magic number 0x08030000"):
        classification("test")


def test_real_classification_arguments(tmp_path):
    write_mnist(tmp_path / "mnist")
    x, _ = real_classification("mnist", "test", root=tmp_path)  # an explicit root, no environment
    assert x.shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match="name must be one of 'mnist', 'fashion_mnist', 'cifar10'"):
        real_classification("digits", root=tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        real_classification("mnist", "dev", root=tmp_path)
    with pytest.raises(TypeError, match="flatten must be True or False"):
        real_classification("mnist", flatten=1, root=tmp_path)
    with pytest.raises(ValueError, match="seed must be in"):
        real_classification("mnist", seed=-3, root=tmp_path)
    with pytest.raises(TypeError, match="root must be a path"):
        locate("mnist", root=42)
    with pytest.raises(ValueError, match="name must be one of"):
        locate("imagenet")


def test_real_data_works_where_torchvision_cannot_import(real_env, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torchvision", None)  # any `import torchvision` now fails
    write_mnist(real_env / "mnist")
    write_cifar(real_env / "cifar10")
    write_matting(real_env / "matting")
    assert classification("train")[0].shape == (18, 1, 28, 28)
    assert classification("test", "cifar10")[0].shape == (3, 3, 32, 32)
    assert segmentation("train", size=8)[0].shape == (8, 3, 8, 8)


@pytest.mark.parametrize("dtype, code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
                                         (np.float32, 0x0D), (np.float64, 0x0E)])
def test_write_idx_writes_the_bytes_of_the_format_and_reads_back(tmp_path, dtype, code):
    from effnn.data.real_mnist import write_idx

    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = write_idx(tmp_path / "x", a)
    assert path.read_bytes() == idx_bytes(a, code)  # the test's own writer, from the format's definition
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, a)


def test_write_idx_refuses_what_idx_cannot_hold(tmp_path):
    from effnn.data.real_mnist import write_idx

    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "x", np.zeros((0,), np.uint8))
    with pytest.raises(TypeError, match="numpy array"):
        write_idx(tmp_path / "x", [1, 2])
