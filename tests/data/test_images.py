"""keras_attention.data image pipelines: IDX reader, local sources, tfds plumbing, tf.data pipelines."""

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from real_data import DATA_ROOT, FASHION_DIR, FASHION_TEST, FASHION_TRAIN, fashion_mnist, write_slice
from tolerance import assert_close

from keras_attention.data import (
    DATASETS,
    DatasetNotFoundError,
    dataset_info,
    image_dataset,
    load_arrays,
    read_idx,
    write_idx,
)
from keras_attention.data import images as images_module

# --------------------------------------------------------------------------------------------- helpers


def idx_bytes(type_code, shape, payload):
    """An IDX file written by hand: 00 00, type code, ndim, big-endian uint32 sizes, payload."""
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def write_bytes(path, data, compress):
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        Path(path).write_bytes(data)


def write_mnist_dir(directory, n_train=6, n_test=4, size=28, compress=True, seed=0):
    """Four MNIST-format files of small uint8 images (hand-built arrays, written byte by byte)."""
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        ext = ".gz" if compress else ""
        write_bytes(directory / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(0x08, images.shape, images.tobytes()),
                    compress)
        write_bytes(directory / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(0x08, labels.shape, labels.tobytes()),
                    compress)
        arrays["train" if prefix == "train" else "test"] = (images[..., None], labels.astype(np.int64))
    return arrays


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """No system directory and no environment variable: only what a test sets up is found."""
    monkeypatch.setattr(images_module, "SYSTEM_DATA_DIRS", (str(tmp_path / "system"),))
    monkeypatch.delenv("KERAS_ATTENTION_DATA", raising=False)
    return tmp_path


def batches(dataset):
    return [(np.asarray(x), np.asarray(y)) for x, y in dataset]


# -------------------------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_hand_written_uint8(tmp_path, compress):
    values = bytes(range(12))  # 2 x 3 x 2 uint8, C order
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_bytes(path, idx_bytes(0x08, (2, 3, 2), values), compress)
    got = read_idx(path)
    assert got.dtype == np.uint8 and got.shape == (2, 3, 2)
    np.testing.assert_array_equal(got, np.arange(12, dtype=np.uint8).reshape(2, 3, 2))
    np.testing.assert_array_equal(read_idx(path, limit=1), got[:1])
    np.testing.assert_array_equal(read_idx(path, limit=5), got)


def test_read_idx_big_endian_types(tmp_path):
    path = tmp_path / "b.idx"
    # int16 [-2, 258] big-endian, then a float32 file [1.5, -0.25]
    path.write_bytes(idx_bytes(0x0B, (2,), b"\xff\xfe\x01\x02"))
    got = read_idx(path)
    assert got.dtype == np.int16 and got.dtype.isnative
    np.testing.assert_array_equal(got, [-2, 258])
    path.write_bytes(idx_bytes(0x0D, (2,), struct.pack(">2f", 1.5, -0.25)))
    np.testing.assert_array_equal(read_idx(path), np.array([1.5, -0.25], np.float32))


def test_write_idx_matches_hand_written_bytes(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(2, 3, 2)
    write_idx(tmp_path / "w.idx", array)
    assert (tmp_path / "w.idx").read_bytes() == idx_bytes(0x08, (2, 3, 2), bytes(range(12)))
    write_idx(tmp_path / "w.idx.gz", array.astype(np.int32))
    assert gzip.decompress((tmp_path / "w.idx.gz").read_bytes()) == idx_bytes(
        0x0C, (2, 3, 2), np.arange(12, dtype=">i4").tobytes())


def test_read_idx_errors(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match=r"bad\.idx.* is not an IDX file: its header bytes are 01000801"):
        read_idx(bad)
    short = tmp_path / "short.idx"
    short.write_bytes(idx_bytes(0x08, (4, 2), b"\x00" * 5))
    with pytest.raises(ValueError, match=r"short\.idx.* is truncated: expected 8 bytes .* found 5"):
        read_idx(short)
    long = tmp_path / "long.idx"
    long.write_bytes(idx_bytes(0x08, (2,), b"\x00" * 3))
    with pytest.raises(ValueError, match="more bytes than its header announces"):
        read_idx(long)
    with pytest.raises(ValueError, match=r"`limit` must be None or an integer >= 1; got 0"):
        read_idx(long, limit=0)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent.idx")


def test_real_fashion_mnist_slice_through_the_package(no_system_data, monkeypatch):
    # the committed slice: the first 2000 training and 1000 test images of Fashion-MNIST
    monkeypatch.setenv("KERAS_ATTENTION_DATA", str(DATA_ROOT))
    x_train, y_train = load_arrays("fashion_mnist", "train", source="local")
    x_test, y_test = load_arrays("fashion_mnist", "test", source="local")
    assert x_train.shape == (FASHION_TRAIN, 28, 28, 1) and x_test.shape == (FASHION_TEST, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert set(np.unique(y_train)) == set(range(10)) and set(np.unique(y_test)) == set(range(10))
    # the first labels of Fashion-MNIST: train ankle boot, T-shirt, T-shirt, dress, T-shirt;
    # test ankle boot, pullover, trouser, trouser, shirt
    np.testing.assert_array_equal(y_train[:5], [9, 0, 0, 3, 0])
    np.testing.assert_array_equal(y_test[:5], [9, 2, 1, 1, 6])
    # pixel statistics of the slice on [0, 1] (the full training set's are mean 0.2860, std 0.3530)
    assert abs(x_train.mean() / 255 - 0.2860) < 0.01 and abs(x_train.std() / 255 - 0.3530) < 0.01
    x_few, y_few = load_arrays("fashion_mnist", "test", source="local", limit=7)
    np.testing.assert_array_equal(x_few, x_test[:7])
    np.testing.assert_array_equal(y_few, y_test[:7])


def test_tests_read_the_committed_slice_not_a_system_copy():
    # conftest points KERAS_ATTENTION_DATA at the package's keras_attention/data/bundled, searched before any
    # system directory
    x, y = load_arrays("fashion_mnist", "train")
    assert x.shape == (FASHION_TRAIN, 28, 28, 1)
    np.testing.assert_array_equal(x[..., 0], fashion_mnist("train")[0])


def test_slice_script_rewrites_identical_bytes(tmp_path):
    write_slice(FASHION_DIR, tmp_path / "again", sizes={"train": FASHION_TRAIN, "t10k": FASHION_TEST})
    for path in sorted(FASHION_DIR.glob("*.gz")):
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name
    write_slice(FASHION_DIR, tmp_path / "small", sizes={"train": 3, "t10k": 2})
    np.testing.assert_array_equal(read_idx(tmp_path / "small" / "t10k-labels-idx1-ubyte.gz"), [9, 2])


# ----------------------------------------------------------------------------------------- local sources


@pytest.mark.parametrize("compress", [True, False])
def test_local_idx_directory_via_data_dir(no_system_data, compress):
    arrays = write_mnist_dir(no_system_data / "mine", compress=compress)
    for split in ("train", "test"):
        x, y = load_arrays("mnist", split, source="local", data_dir=no_system_data / "mine")
        np.testing.assert_array_equal(x, arrays[split][0])
        np.testing.assert_array_equal(y, arrays[split][1])
        assert x.dtype == np.uint8 and y.dtype == np.int64
    x, _ = load_arrays("mnist", "train", data_dir=no_system_data / "mine", limit=2, image_size=(14, 7))
    assert x.shape == (2, 14, 7, 1) and x.dtype == np.uint8


def test_env_var_overrides_system_directory(no_system_data, monkeypatch):
    system = write_mnist_dir(no_system_data / "system" / "fashion-mnist", seed=1)
    x, _ = load_arrays("fashion_mnist", "test", source="local")
    np.testing.assert_array_equal(x, system["test"][0])
    env = write_mnist_dir(no_system_data / "env" / "fashion_mnist", n_test=3, seed=2)
    monkeypatch.setenv("KERAS_ATTENTION_DATA", str(no_system_data / "env"))
    x, y = load_arrays("fashion_mnist", "test")  # auto prefers the local source
    np.testing.assert_array_equal(x, env["test"][0])
    np.testing.assert_array_equal(y, env["test"][1])
    # an explicit data_dir is the only local place searched
    with pytest.raises(DatasetNotFoundError, match="empty"):
        load_arrays("fashion_mnist", "test", source="local", data_dir=no_system_data / "empty")


def test_error_lists_every_source_tried(no_system_data, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setenv("KERAS_ATTENTION_DATA", str(no_system_data / "env"))
    (no_system_data / "env").mkdir()

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(FileNotFoundError) as info:
        load_arrays("mnist", "test")
    error = info.value
    assert isinstance(error, DatasetNotFoundError)
    message = str(error)
    for place in (no_system_data / "env" / "mnist", no_system_data / "env", no_system_data / "system" / "mnist",
                  no_system_data / "system"):
        assert f"local IDX directory {str(place)!r}" in message
    assert "missing t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]" in message
    assert "no such directory" in message
    assert "tensorflow-datasets 'mnist' split 'test' in data_dir" in message
    assert "ConnectionError: no network" in message
    assert "KERAS_ATTENTION_DATA" in message and "To fix:" in message
    assert len(error.tried) == 5
    with pytest.raises(DatasetNotFoundError, match=rf"in data_dir {str(no_system_data / 'tf')!r}"):
        load_arrays("cifar10", "train", data_dir=no_system_data / "tf")
    with pytest.raises(DatasetNotFoundError, match="no local source exists for 'cifar10'"):
        image_dataset("cifar10", "train")


def test_idx_shape_mismatch_is_reported(no_system_data):
    write_mnist_dir(no_system_data / "small", size=8)
    with pytest.raises(ValueError, match=r"images of shape \(6, 8, 8, 1\).*expects uint8 images \(N, 28, 28\)"):
        load_arrays("mnist", "train", data_dir=no_system_data / "small")


def test_digits_split_is_fixed_and_stratified():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x_train, y_train = load_arrays("digits", "train")
    x_test, y_test = load_arrays("digits", "test")
    assert x_train.shape == (1442, 8, 8, 1) and x_test.shape == (355, 8, 8, 1)
    assert x_train.dtype == np.uint8 and y_test.dtype == np.int64
    counts = np.bincount(bunch.target)
    np.testing.assert_array_equal(np.bincount(y_test), counts // 5)
    np.testing.assert_array_equal(np.bincount(y_train), counts - counts // 5)
    # reference written from the rule: per class, positions 4, 9, 14, ... (data set order) are test
    is_test = np.zeros(len(bunch.target), bool)
    for c in range(10):
        is_test[np.flatnonzero(bunch.target == c)[4::5]] = True
    pixels = np.round(bunch.images * 255 / 16).astype(np.uint8)[..., None]
    np.testing.assert_array_equal(x_test, pixels[is_test])
    np.testing.assert_array_equal(x_train, pixels[~is_test])
    np.testing.assert_array_equal(y_train, bunch.target[~is_test])
    # independent of any seed
    import keras

    keras.utils.set_random_seed(99)
    np.testing.assert_array_equal(load_arrays("digits", "test")[1], y_test)
    x_few, y_few = load_arrays("digits", "test", limit=10)
    np.testing.assert_array_equal(x_few, x_test[:10])


# --------------------------------------------------------------------------------------------- pipelines


def test_image_dataset_values_batching_and_resize():
    x, y = load_arrays("digits", "test", limit=10)
    got = batches(image_dataset("digits", "test", batch_size=4, limit=10))
    assert [b[0].shape for b in got] == [(4, 8, 8, 1), (4, 8, 8, 1), (2, 8, 8, 1)]
    assert got[0][0].dtype == np.float32 and got[0][1].dtype == np.int64
    np.testing.assert_allclose(np.concatenate([b[0] for b in got]), x / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)
    raw = batches(image_dataset("digits", "test", batch_size=4, limit=10, normalize=False, drop_remainder=True))
    assert len(raw) == 2
    np.testing.assert_array_equal(raw[0][0], x[:4].astype(np.float32))
    big = batches(image_dataset("digits", "test", batch_size=5, limit=5, image_size=28))[0][0]
    assert big.shape == (5, 28, 28, 1) and 0.0 <= big.min() and big.max() <= 1.0
    # 2x bilinear up-sampling with half-pixel centres: out[2k] = x[k-1]/4 + 3x[k]/4, out[2k+1] = 3x[k]/4 +
    # x[k+1]/4, edges clamped; separable along rows and columns
    up = np.zeros((16, 8))
    for k in range(8):
        np.add.at(up, (2 * k, [max(k - 1, 0), k]), [0.25, 0.75])
        np.add.at(up, (2 * k + 1, [k, min(k + 1, 7)]), [0.75, 0.25])
    double = batches(image_dataset("digits", "test", batch_size=5, limit=5, image_size=(16, 16)))[0][0]
    expected = np.einsum("ih,nhwc,jw->nijc", up, x[:5] / 255.0, up)
    assert_close(double, expected)
    train = np.concatenate([b[1] for b in batches(image_dataset("digits", "train", batch_size=64))])
    np.testing.assert_array_equal(np.sort(train), np.sort(load_arrays("digits", "train")[1]))


def test_shuffle_and_augment_are_deterministic_given_seed():
    def epochs(seed, n=2):
        dataset = image_dataset("digits", "train", batch_size=16, seed=seed, augment=True, limit=48)
        return [batches(dataset) for _ in range(n)]

    first, again, other = epochs(7), epochs(7), epochs(8)
    for epoch_a, epoch_b in zip(first, again):
        for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    labels = lambda epoch: np.concatenate([b[1] for b in epoch])  # noqa: E731
    assert not np.array_equal(labels(first[0]), labels(first[1]))  # reshuffled every epoch
    assert not np.array_equal(labels(first[0]), labels(other[0]))  # another seed, another order
    np.testing.assert_array_equal(np.sort(labels(first[0])), np.sort(load_arrays("digits", "train", limit=48)[1]))


def test_augmentation_is_padded_crop_and_flip():
    x, _ = load_arrays("digits", "train", limit=32)
    got = np.concatenate([b[0] for b in batches(
        image_dataset("digits", "train", batch_size=32, shuffle=False, augment=True, seed=3, limit=32))])
    padded = np.pad(x / 255.0, ((0, 0), (4, 4), (4, 4), (0, 0)))
    offsets = [(r, c) for r in range(9) for c in range(9)] * 2
    changed = far = 0
    for i in range(len(x)):
        candidates = [padded[i, r:r + 8, c:c + 8] for r, c in offsets[:81]]
        candidates += [cand[:, ::-1] for cand in candidates]
        matches = [k for k, cand in enumerate(candidates) if np.abs(cand - got[i]).max() < 1e-6]
        assert matches, f"image {i} is not a 4-pixel-padded crop (flipped or not) of its original"
        changed += 4 * 9 + 4 not in matches  # not the identity crop
        far += all(max(abs(offsets[k][0] - 4), abs(offsets[k][1] - 4)) > 2 for k in matches)
    assert changed > 16  # random offsets and flips, not the identity
    assert far > 0  # the shifts reach beyond 2 pixels: the padding is 4


def test_bad_arguments_raise_before_any_io(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(ValueError, match=r"`name` must be one of \[.*'cifar20'.*'digits'.*\]; got 'cifar30'"):
        image_dataset("cifar30", "train", data_dir=missing)
    with pytest.raises(ValueError, match=r"`split` must be one of \['test', 'train'\]; got 'valid'"):
        load_arrays("digits", "valid")
    with pytest.raises(ValueError, match=r"`batch_size` must be an integer >= 1; got 0"):
        image_dataset("mnist", "train", batch_size=0, data_dir=missing)
    with pytest.raises(ValueError, match=r"`source`='local' is not available for 'cifar10'; its sources are \['tfds"):
        load_arrays("cifar10", "train", source="local")
    with pytest.raises(ValueError, match=r"`source` must be one of .*; got 'web'"):
        load_arrays("mnist", "train", source="web", data_dir=missing)
    with pytest.raises(ValueError, match=r"`augment`=True is only for split='train'; got split='test'"):
        image_dataset("mnist", "test", augment=True, data_dir=missing)
    with pytest.raises(ValueError, match=r"`image_size` must be .*; got \(28, 0\)"):
        image_dataset("mnist", "train", image_size=(28, 0), data_dir=missing)
    with pytest.raises(ValueError, match=r"`limit` must be an integer >= 1; got -3"):
        load_arrays("mnist", "train", limit=-3, data_dir=missing)
    with pytest.raises(ValueError, match=r"`shuffle` must be True or False; got 'yes'"):
        image_dataset("mnist", "train", shuffle="yes", data_dir=missing)
    with pytest.raises(ValueError, match=r"`seed` must be None or an integer; got 1.5"):
        image_dataset("mnist", "train", seed=1.5, data_dir=missing)


def test_dataset_info_and_registry():
    assert dataset_info("digits") == {"name": "digits", "num_classes": 10, "input_shape": (8, 8, 1),
                                      "sources": ("local",)}
    assert dataset_info("digits", image_size=28)["input_shape"] == (28, 28, 1)
    assert dataset_info("cifar20")["num_classes"] == 20
    assert dataset_info("imagenet2012", image_size=(64, 48))["input_shape"] == (64, 48, 3)
    assert dataset_info("fashion_mnist", data_dir="/nowhere")["sources"] == ("local", "tfds")
    assert set(DATASETS) == {"mnist", "fashion_mnist", "fashion_mnist_slice", "digits", "cifar10", "cifar100",
                             "cifar20", "svhn_cropped", "imagenet2012"}
    assert dataset_info("fashion_mnist_slice") == {"name": "fashion_mnist_slice", "num_classes": 10,
                                                   "input_shape": (28, 28, 1), "sources": ("local",)}


# ------------------------------------------------------------------------------------ tfds (mocked data)


def test_tfds_plumbing_with_mock_data(no_system_data):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=10):
        raw = list(tfds.load("cifar100", split="train").as_numpy_iterator())
        x, y = load_arrays("cifar20", "train", source="tfds")
        assert x.shape == (10, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_array_equal(y, [ex["coarse_label"] for ex in raw])  # coarse labels, not fine ones
        np.testing.assert_array_equal(x, np.stack([ex["image"] for ex in raw]))
        assert y.max() < 20
        _, y100 = load_arrays("cifar100", "train", limit=4)
        np.testing.assert_array_equal(y100, [ex["label"] for ex in raw[:4]])

        got = batches(image_dataset("cifar20", "train", batch_size=4, shuffle=False))
        assert [b[0].shape for b in got] == [(4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3)]
        np.testing.assert_allclose(np.concatenate([b[0] for b in got]), x / 255.0, atol=1e-7)
        np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)

        # mnist: no local directory -> auto falls back to tfds
        got = batches(image_dataset("mnist", "test", batch_size=3, limit=5, drop_remainder=True))
        assert [b[0].shape for b in got] == [(3, 28, 28, 1)] and got[0][1].dtype == np.int64

        # imagenet2012: images of varying sizes, always resized (default 224, or image_size)
        got = batches(image_dataset("imagenet2012", "test", batch_size=2, limit=2))
        assert got[0][0].shape == (2, 224, 224, 3) and got[0][0].max() <= 1.0
        x_in, y_in = load_arrays("imagenet2012", "test", limit=3, image_size=(20, 30))
        assert x_in.shape == (3, 20, 30, 3) and x_in.dtype == np.uint8 and y_in.max() < 1000

        shuffled = [batches(image_dataset("svhn_cropped", "train", batch_size=5, seed=1, augment=True))
                    for _ in range(2)]
        for (xa, ya), (xb, yb) in zip(*shuffled):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


# -------------------------------------------------------------------------------- truncated / corrupt gz


def _gz_labels_copy(directory):
    """A directory holding the four committed slice files; returns it and its t10k labels file."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in FASHION_DIR.glob("*.gz"):
        (directory / path.name).write_bytes(path.read_bytes())
    return directory, directory / "t10k-labels-idx1-ubyte.gz"


@pytest.mark.parametrize("cut", ["half", "trailer", "header"])
def test_truncated_gz_idx_names_the_file(no_system_data, cut):
    directory, labels = _gz_labels_copy(no_system_data / "cut")
    data = labels.read_bytes()
    assert data[:2] == b"\x1f\x8b" and len(data) > 100
    # an interrupted download: half of the stream, all but part of the 8-byte trailer, or only the header
    keep = {"half": len(data) // 2, "trailer": len(data) - 4, "header": 15}[cut]
    labels.write_bytes(data[:keep])
    pattern = rf"IDX file {re.escape(repr(str(labels)))} is a truncated or corrupt gzip file \(EOFError: "
    with pytest.raises(ValueError, match=pattern):
        read_idx(labels)
    with pytest.raises(ValueError, match=pattern):
        load_arrays("fashion_mnist", "test", source="local", data_dir=directory)
    with pytest.raises(ValueError, match="truncated"):
        load_arrays("fashion_mnist", "test", data_dir=directory)  # auto: a damaged local file is not skipped


def test_corrupt_gz_idx_names_the_file(no_system_data, tmp_path):
    directory, labels = _gz_labels_copy(no_system_data / "bad")
    data = labels.read_bytes()
    expected = read_idx(labels)
    # a flipped CRC in the trailer: the bytes decompress but the check fails
    labels.write_bytes(data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:])
    pattern = (rf"IDX file {re.escape(repr(str(labels)))} is a truncated or corrupt gzip file "
               r"\(BadGzipFile: CRC check failed")
    with pytest.raises(ValueError, match=pattern):
        read_idx(labels)
    with pytest.raises(ValueError, match=pattern):
        load_arrays("fashion_mnist", "test", source="local", data_dir=directory)
    # an unknown compression method in the gzip header
    labels.write_bytes(data[:2] + b"\x07" + data[3:])
    with pytest.raises(ValueError, match=r"bad.*t10k-labels-idx1-ubyte\.gz.* truncated or corrupt gzip file "
                                         r"\(BadGzipFile: Unknown compression method"):
        read_idx(labels, limit=3)
    # a written .gz file cut short by write_idx's own output: the same message
    short = tmp_path / "short.idx.gz"
    write_idx(short, np.arange(600, dtype=np.uint8).reshape(6, 100))
    short.write_bytes(short.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"short\.idx\.gz.* is a truncated or corrupt gzip file"):
        read_idx(short)
    # the first records of a truncated file are still read with `limit` (the rest is never decompressed)
    labels.write_bytes(data[: len(data) - 4])
    np.testing.assert_array_equal(read_idx(labels, limit=5), expected[:5])


# ------------------------------------------------------------------------------- tfds with a real builder


def test_tfds_download_fails_for_the_network_not_an_import(tmp_path, monkeypatch):
    # the real mnist builder, with every connection refused: the failure must be the network's; with
    # tensorflow-datasets 4.9.10 on Python >= 3.9 and no importlib_resources installed it was
    # ModuleNotFoundError: No module named 'importlib_resources' (hence install_requires)
    import socket
    import time

    import tensorflow_datasets as tfds

    blocked = "network blocked by the test"

    def refuse(*args, **kwargs):
        raise OSError(blocked)

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(time, "sleep", lambda *args, **kwargs: None)  # tfds / urllib3 retry with back-off
    start = time.monotonic()
    with pytest.raises(Exception) as info:
        tfds.builder("mnist", data_dir=tmp_path).download_and_prepare()
    assert time.monotonic() - start < 60
    error = info.value
    assert not isinstance(error, ImportError), f"tfds failed on an import, not the network: {error!r}"
    assert isinstance(error, OSError), repr(error)  # requests' ConnectionError is an OSError
    chain, cause = [], error
    while cause is not None and len(chain) < 20:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert blocked in str(error) or any(blocked in str(c) for c in chain), repr(error)


def test_importlib_resources_is_installed_and_required():
    import configparser

    import importlib_resources  # noqa: F401 -- tensorflow-datasets imports it on every Python version

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    requires = config["options.extras_require"]["experiments"].split()  # the extra of tensorflow-datasets
    assert any(r.startswith("importlib_resources") for r in requires), requires


# ------------------------------------------------------------------------------------ default data set


class FakeBuilder:
    """Stands for ``tfds.builder(...)``: records its calls, prepared or not, downloads or fails."""

    def __init__(self, prepared=False, download_error=None):
        self.prepared, self.download_error, self.calls = prepared, download_error, []

    def __call__(self, name, data_dir=None, **kwargs):
        self.calls.append(("builder", name, data_dir))
        return self

    def is_prepared(self):
        return self.prepared

    def download_and_prepare(self, *args, **kwargs):
        self.calls.append(("download_and_prepare",))
        if self.download_error is not None:
            raise self.download_error
        self.prepared = True


@pytest.fixture
def fake_tfds(monkeypatch, no_system_data):
    """A fake ``tfds.builder`` (not prepared by default), a tfds data dir inside the test directory and
    no HTTPS proxy (the network probe goes to the download host itself)."""
    import tensorflow_datasets as tfds

    builder = FakeBuilder()
    monkeypatch.setattr(tfds, "builder", builder)
    monkeypatch.setenv("TFDS_DATA_DIR", str(no_system_data / "tfds"))
    for variable in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    return builder


def offline_probe(monkeypatch):
    """No network: every new connection (the probe's included) fails at once."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


SLICE_WORDS = "fashion_mnist, the 2,000 + 1,000-image slice shipped with the package"


def test_default_image_dataset_prefers_local_idx_files(fake_tfds, monkeypatch):
    directory, _ = _gz_labels_copy(Path(images_module.SYSTEM_DATA_DIRS[0]) / "fashion-mnist")
    name, reason = images_module.default_image_dataset()
    assert name == "fashion_mnist"
    assert reason == f"local IDX files in {str(directory)!r}"
    assert fake_tfds.calls == []  # tfds is not consulted when local files exist
    # data_dir is the only local place searched, as in load_arrays
    mine, _ = _gz_labels_copy(directory.parent.parent / "mine")
    assert images_module.default_image_dataset(data_dir=mine) == ("fashion_mnist", f"local IDX files in {str(mine)!r}")
    # KERAS_ATTENTION_DATA comes before the system directory
    env, _ = _gz_labels_copy(directory.parent.parent / "env" / "fashion_mnist")
    monkeypatch.setenv("KERAS_ATTENTION_DATA", str(env.parent))
    assert images_module.default_image_dataset()[1] == f"local IDX files in {str(env)!r}"
    with pytest.raises(ValueError, match=r"`data_dir` must be None or a path; got 3"):
        images_module.default_image_dataset(data_dir=3)


def test_default_image_dataset_uses_prepared_tfds_without_network(fake_tfds, no_system_data, monkeypatch):
    offline_probe(monkeypatch)
    fake_tfds.prepared = True
    name, reason = images_module.default_image_dataset()
    assert name == "fashion_mnist"
    assert reason == f"tensorflow-datasets, already prepared in {str(no_system_data / 'tfds')!r}"
    assert fake_tfds.calls == [("builder", "fashion_mnist", None)]  # no download
    # with data_dir: no local files there, tfds looks in data_dir
    name, reason = images_module.default_image_dataset(data_dir=no_system_data / "given")
    assert (name, reason) == ("fashion_mnist", f"tensorflow-datasets, already prepared in "
                                               f"{str(no_system_data / 'given')!r}")
    assert fake_tfds.calls[-1] == ("builder", "fashion_mnist", str(no_system_data / "given"))


def test_default_image_dataset_falls_back_to_the_shipped_slice_offline(fake_tfds, no_system_data, monkeypatch):
    offline_probe(monkeypatch)
    (no_system_data / "env").mkdir()
    monkeypatch.setenv("KERAS_ATTENTION_DATA", str(no_system_data / "env"))
    name, reason = images_module.default_image_dataset()
    assert name == "fashion_mnist_slice"
    tfds_dir = str(no_system_data / "tfds")
    assert reason == (
        f"no local Fashion-MNIST IDX files in {str(no_system_data / 'env')!r} or "
        f"{str(no_system_data / 'system')!r}, tensorflow-datasets has not prepared 'fashion_mnist' in "
        f"{tfds_dir!r} and there is no network to download it (storage.googleapis.com:443 could not be "
        f"reached: OSError: network blocked by the test); using {SLICE_WORDS}"
    )
    # a probe that times out says how long it waited
    import socket

    def slow(address, timeout=None, **kwargs):
        raise socket.timeout("timed out")

    monkeypatch.setattr(socket, "create_connection", slow)
    assert ("(storage.googleapis.com:443 could not be reached after 3 s: TimeoutError: timed out); "
            f"using {SLICE_WORDS}") in images_module.default_image_dataset()[1]
    assert ("download_and_prepare",) not in fake_tfds.calls
    # the slice is then really there: real Fashion-MNIST from the package, whatever KERAS_ATTENTION_DATA says
    x, y = load_arrays(name, "test", limit=2)
    assert x.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(x[..., 0], fashion_mnist("test", 2)[0])
    np.testing.assert_array_equal(y, [9, 2])


def test_default_image_dataset_downloads_when_the_network_answers(fake_tfds, no_system_data, monkeypatch):
    import socket

    probes = []

    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def connect(address, timeout=None, **kwargs):
        probes.append((address, timeout))
        return Connection()

    monkeypatch.setattr(socket, "create_connection", connect)
    tfds_dir = str(no_system_data / "tfds")
    assert images_module.default_image_dataset() == ("fashion_mnist", f"tensorflow-datasets, downloaded to "
                                                                      f"{tfds_dir!r}")
    assert probes == [(("storage.googleapis.com", 443), 3.0)]
    assert fake_tfds.calls[-1] == ("download_and_prepare",)
    # a failed download falls through to the shipped slice and says why
    failing = FakeBuilder(download_error=ConnectionError("reset by peer"))
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds, "builder", failing)
    name, reason = images_module.default_image_dataset()
    assert name == "fashion_mnist_slice"
    assert (f"tensorflow-datasets has not prepared 'fashion_mnist' in {tfds_dir!r} and downloading it to "
            f"{tfds_dir!r} failed (ConnectionError: reset by peer); using {SLICE_WORDS}") in reason
    assert reason.startswith("no local Fashion-MNIST IDX files in ")


def test_default_image_dataset_without_usable_tfds(no_system_data, monkeypatch):
    import tensorflow_datasets as tfds

    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'importlib_resources'")

    monkeypatch.setattr(tfds, "builder", broken)
    name, reason = images_module.default_image_dataset()
    assert name == "fashion_mnist_slice"
    assert ("tensorflow-datasets is not usable (ModuleNotFoundError: No module named 'importlib_resources'); "
            f"using {SLICE_WORDS}") in reason


def test_default_image_dataset_names_the_shipped_slice_when_local_files_are_it(fake_tfds, no_system_data, monkeypatch):
    # what the tests themselves do (conftest): KERAS_ATTENTION_DATA at the package's own data
    monkeypatch.setenv("KERAS_ATTENTION_DATA", str(images_module.BUNDLED_DATA_DIR))
    name, reason = images_module.default_image_dataset()
    assert name == "fashion_mnist"
    assert reason == f"local IDX files in {str(images_module.BUNDLED_DATA_DIR / 'fashion-mnist')!r} ({SLICE_WORDS})"


def test_the_shipped_slice_is_package_data_read_whatever_data_dir_says(no_system_data, monkeypatch, tmp_path):
    import keras_attention.data

    package = Path(keras_attention.data.__file__).resolve().parent
    directory = images_module.bundled_dir("fashion_mnist_slice")
    assert directory == package / "bundled" / "fashion-mnist" == FASHION_DIR  # the one copy the tests read
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["LICENSE", "README.md", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                     "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert "Zalando SE" in (directory / "LICENSE").read_text(encoding="utf-8")
    assert 1_200_000 < sum((directory / n).stat().st_size for n in names if n.endswith(".gz")) < 1_400_000
    # no environment variable, no system directory, a data_dir without Fashion-MNIST: still the package's slice
    monkeypatch.setenv("KERAS_ATTENTION_DATA", str(tmp_path / "elsewhere"))
    for split, count in images_module.BUNDLED_SLICE_SIZES.items():
        x, y = load_arrays("fashion_mnist_slice", split, data_dir=tmp_path / "nothing")
        assert x.shape == (count, 28, 28, 1) and (split, count) in (("train", FASHION_TRAIN), ("test", FASHION_TEST))
        np.testing.assert_array_equal(x[..., 0], fashion_mnist(split)[0])
        np.testing.assert_array_equal(y, fashion_mnist(split)[1])
    batch = next(iter(image_dataset("fashion_mnist_slice", "test", batch_size=4, shuffle=False)))
    assert batch[0].shape == (4, 28, 28, 1) and float(np.max(batch[0])) <= 1.0
    # the full data set is never silently replaced by the slice: asked for by name, it is there or an error
    with pytest.raises(DatasetNotFoundError, match="'fashion_mnist'"):
        load_arrays("fashion_mnist", "test", source="local", data_dir=tmp_path / "nothing")
    with pytest.raises(ValueError, match=r"'digits' is not shipped with the package; \['fashion_mnist_slice'\] are"):
        images_module.bundled_dir("digits")


def test_a_data_dir_that_is_a_file_is_named_so(tmp_path):
    a_file = tmp_path / "fashion.idx"
    a_file.write_bytes(b"not a folder")
    _, _, tried = images_module.find_idx_files("fashion_mnist", "train", data_dir=a_file)
    assert f"local IDX directory {str(a_file)!r}: a file, not a directory" in tried
    assert f"local IDX directory {str(tmp_path / 'missing')!r}: no such directory" in images_module.find_idx_files(
        "fashion_mnist", "train", data_dir=tmp_path / "missing")[2]
