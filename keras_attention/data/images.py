"""Image classification data: ``(image, label)`` arrays and batched, prefetched ``tf.data`` pipelines.

Every data set in :data:`DATASETS` is reached through one signature, whatever its source:

- ``"tfds"``: tensorflow-datasets (downloaded on first use where a network is available). ``cifar20`` is
  tfds ``cifar100`` with its ``coarse_label`` (the 20 super-classes) as the label; ``imagenet2012``
  needs tfds' manual download, its ``"test"`` split is tfds' ``validation`` split (tfds' own test split
  has no labels) and its images, of varying sizes, are always resized (default 224 x 224).
- ``"local"``: MNIST-format IDX directories (``mnist``, ``fashion_mnist``), scikit-learn's bundled
  ``load_digits`` (``digits``) and ``fashion_mnist_slice``: the first 2,000 training and 1,000 test images of
  Fashion-MNIST, shipped inside this package (:data:`BUNDLED_DATA_DIR`, MIT licence of Zalando SE), read
  from there whatever ``data_dir`` says.

Local IDX directories are searched in this order, and the first complete one is used:
``data_dir`` when given (then nothing else is searched locally); otherwise the directory in the
environment variable ``KERAS_ATTENTION_DATA`` when set, then the system directories in
:data:`SYSTEM_DATA_DIRS` (Debian's ``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist``).
In each directory ``D`` the candidates are ``D/<name>``, ``D/<name with - for _>`` and ``D`` itself;
a directory holding the four files directly is therefore taken for whichever IDX data set is asked for.
A complete directory holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (``.gz`` or not; ``-idx`` may be ``.idx``).

``source="auto"`` uses the local source when one is found for that name, else tfds. When nothing is
found, :class:`DatasetNotFoundError` (a FileNotFoundError) lists every place tried and how to fix it. A
named data set is never replaced by another one: ``fashion_mnist`` is the full data set or an error.

:func:`default_image_dataset` picks the data of a run that names none: Fashion-MNIST from local IDX
files, else from tensorflow-datasets when already prepared, else downloaded by tensorflow-datasets when
the download host answers (:data:`TFDS_DOWNLOAD_HOST`, probed for :data:`NETWORK_PROBE_TIMEOUT`
seconds), else ``fashion_mnist_slice``, the slice shipped with the package (:data:`FALLBACK_DATASET`);
with a sentence saying why. ``digits`` is used only when asked for.

``digits`` (1797 images of 8 x 8, 17 grey levels): pixel values ``v`` in 0..16 become
``round(v * 255 / 16)`` in uint8. The train/test split is fixed, stratified and independent of any seed:
within each class, in the data set's own order, every fifth image (class-wise positions 4, 9, 14, ...)
is a test image. That gives 1442 train and 355 test images, each class split 4:1 (up to rounding).

Pipelines (:func:`image_dataset`): take the first ``limit`` examples of the split, shuffle (train by
default; the whole split for local data, a 10000-example buffer for tfds, reshuffled each epoch), cast
to float32 (divided by 255 when ``normalize``), resize bilinearly with antialiasing when ``image_size``
is given, augment (train only: zero-pad 4 pixels on every side, random crop back to the size, random
horizontal flip), batch and prefetch. With a ``seed`` the sequence of batches (shuffling and
augmentation, epoch after epoch) is the same for every pipeline built with that seed; as everywhere in
TensorFlow, it also depends on the global seed when one is set (``keras.utils.set_random_seed``).

Validation split (``validation_split`` > 0 with ``subset="training"`` or ``"validation"``, train split
only): of the training slice (the first ``limit`` training examples, or all), in the data set's own order
and before any shuffling, the LAST ``round(validation_split * N)`` examples are the validation subset and
the others the training subset. The rule uses no seed, so every run and every seed holds out the same
images, and no validation image is ever in the training subset (:func:`validation_split_sizes`). The
validation subset is not shuffled or augmented by default; the test split is untouched.

TensorFlow is imported by the functions that read or build data, not by the module, so that
:data:`DATASETS` and :func:`dataset_info` are read without it (``keras-attention --help``).
"""

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from keras_attention.data.idx import PathLike
from keras_attention.utils.types import Tensor
from keras_attention.utils.checks import check_bool, check_choice, check_positive_int
from keras_attention.utils.extras import import_optional

ENV_VAR = "KERAS_ATTENTION_DATA"
SYSTEM_DATA_DIRS = ("/usr/share/datasets",)
SPLITS = ("train", "test")
SOURCES = ("auto", "tfds", "local")
AUGMENT_PADDING = 4
TFDS_SHUFFLE_BUFFER = 10000
DEFAULT_BATCH_SIZE = 128  # examples per batch of a pipeline, and per optimizer step of a run, that names none
DEFAULT_DATASET = "fashion_mnist"
FALLBACK_DATASET = "fashion_mnist_slice"  # shipped with the package: always there, real Fashion-MNIST images
# The data shipped inside the package: <BUNDLED_DATA_DIR>/fashion-mnist holds the four IDX files of
# fashion_mnist_slice (the first BUNDLED_SLICE_SIZES[split] images of each split), its LICENSE and README.
BUNDLED_DATA_DIR = Path(__file__).resolve().parent / "bundled"
BUNDLED_SLICE_SIZES = {"train": 2000, "test": 1000}
TFDS_DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # where tfds downloads MNIST-like data sets from
NETWORK_PROBE_TIMEOUT = 3.0

SUBSETS = ("training", "validation")

_IDX_PREFIX = {"train": "train", "test": "t10k"}

if TYPE_CHECKING:  # annotations only: the module imports TensorFlow where it reads data, not on import
    import tensorflow as tf

#: ``image_size`` as a user writes it: None, one int (square) or ``(height, width)``.
ImageSize: TypeAlias = int | Sequence[int] | None
#: ``(images, labels)`` numpy arrays.
Arrays: TypeAlias = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One entry of :data:`DATASETS`.

    ``input_shape`` is the shape of one image as delivered without ``image_size`` (for ``imagenet2012``
    the default resize). ``local`` is ``"idx"``, ``"digits"``, ``"bundled"`` (IDX files shipped in
    :data:`BUNDLED_DATA_DIR`) or None; ``tfds_name`` / ``tfds_label`` name the tfds builder and the feature
    used as the label (None when there is no tfds source); ``subset_of`` names the data set whose first
    images a slice holds (its paper numbers are that data set's).

    Args:
        name: the data set's name, its key in :data:`DATASETS`.
        num_classes: number of classes.
        input_shape: ``(H, W, C)`` of one image as delivered without ``image_size``.
        local: the local source, ``"idx"``, ``"digits"``, ``"bundled"`` or None.
        tfds_name: the tensorflow-datasets builder, None when tfds has no source.
        tfds_label: the tfds feature used as the label.
        tfds_splits: ``(split, tfds split)`` pairs.
        resize: the images are always resized (images of varying sizes).
        subset_of: for a slice, the data set whose first images it holds.

    Example:
        >>> from keras_attention.data import DATASETS
        >>> spec = DATASETS["fashion_mnist_slice"]
        >>> spec.input_shape, spec.local, spec.subset_of, spec.sources
        ((28, 28, 1), 'bundled', 'fashion_mnist', ('local',))
        >>> DATASETS["cifar20"].tfds_name, DATASETS["cifar20"].tfds_label
        ('cifar100', 'coarse_label')
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    local: str | None = None
    tfds_name: str | None = None
    tfds_label: str = "label"
    tfds_splits: tuple[tuple[str, str], ...] = (("train", "train"), ("test", "test"))
    resize: bool = False  # always resized (images of varying sizes)
    subset_of: str | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources that can deliver the data set, ``"local"`` and / or ``"tfds"`` in that order."""
        return tuple(s for s, ok in (("local", self.local), ("tfds", self.tfds_name)) if ok)


DATASETS = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist", 10, (28, 28, 1), local="idx", tfds_name="mnist"),
        DatasetSpec("fashion_mnist", 10, (28, 28, 1), local="idx", tfds_name="fashion_mnist"),
        DatasetSpec("fashion_mnist_slice", 10, (28, 28, 1), local="bundled", subset_of="fashion_mnist"),
        DatasetSpec("digits", 10, (8, 8, 1), local="digits"),
        DatasetSpec("cifar10", 10, (32, 32, 3), tfds_name="cifar10"),
        DatasetSpec("cifar100", 100, (32, 32, 3), tfds_name="cifar100"),
        DatasetSpec("cifar20", 20, (32, 32, 3), tfds_name="cifar100", tfds_label="coarse_label"),
        DatasetSpec("svhn_cropped", 10, (32, 32, 3), tfds_name="svhn_cropped"),
        DatasetSpec("imagenet2012", 1000, (224, 224, 3), tfds_name="imagenet2012",
                    tfds_splits=(("train", "train"), ("test", "validation")), resize=True),
    )
}


class DatasetNotFoundError(FileNotFoundError):
    """No source of a data set could be read; ``tried`` lists each place tried and why it failed.

    A ``FileNotFoundError`` whose message names the data set and split, lists every place tried and says how
    to fix it.

    Args:
        name: the data set's name.
        split: the split asked for.
        tried: one line per place tried (a directory, tensorflow-datasets) and why it failed.
        hint: the sentence saying how to make the data available.

    Example:
        >>> import tempfile
        >>> from keras_attention.data import DatasetNotFoundError, load_arrays
        >>> try:
        ...     load_arrays("mnist", source="local", data_dir=tempfile.mkdtemp())  # an empty directory
        ... except DatasetNotFoundError as error:
        ...     print(error.name, error.split, len(error.tried))
        ...     print(error.tried[-1])
        mnist train 2
        local IDX directory '...': missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]
    """

    def __init__(self, name: str, split: str, tried: Iterable[str], hint: str) -> None:
        self.name, self.split, self.tried = name, split, list(tried)
        lines = [f"Data set {name!r} (split {split!r}) was not found. Tried:"]
        lines += [f"  - {entry}" for entry in self.tried]
        lines.append(f"To fix: {hint}")
        super().__init__("\n".join(lines))


# ----------------------------------------------------------------------------------------------- checks


def _check_name(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"Argument `name` must be one of {sorted(DATASETS)}; got {name!r}.")
    return DATASETS[name]


def _check_source(spec: DatasetSpec, source: str) -> str:
    check_choice("source", source, SOURCES)
    if source != "auto" and source not in spec.sources:
        raise ValueError(f"Argument `source`={source!r} is not available for {spec.name!r}; its sources are "
                         f"{list(spec.sources)} (or 'auto').")
    return source


def _check_limit(limit: int | None) -> int | None:
    if limit is not None:
        check_positive_int("limit", limit)
    return limit


def _check_image_size(image_size: ImageSize) -> tuple[int, ...] | None:
    """None, an int or a pair of ints >= 1 -> None or an ``(height, width)`` tuple of ints."""
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else image_size
    try:
        size = tuple(size)
    except TypeError:
        size = ()
    if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                             for s in size):
        raise ValueError(f"Argument `image_size` must be None, an integer >= 1 or a pair (height, width) of "
                         f"integers >= 1; got {image_size!r}.")
    return tuple(int(s) for s in size)


def _check_data_dir(data_dir: PathLike | None) -> PathLike | None:
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ValueError(f"Argument `data_dir` must be None or a path; got {data_dir!r}.")
    return data_dir


def _check_common(
    name: str, split: str, source: str, data_dir: PathLike | None, limit: int | None, image_size: ImageSize
) -> tuple[DatasetSpec, tuple[int, ...] | None]:
    spec = _check_name(name)
    check_choice("split", split, SPLITS)
    _check_source(spec, source)
    _check_data_dir(data_dir)
    _check_limit(limit)
    return spec, _check_image_size(image_size)


def check_validation_split(validation_split: float) -> float:
    """``validation_split`` as a float in [0, 1), else ValueError.

    Args:
        validation_split: the fraction of a training slice held out.

    Returns:
        ``validation_split`` as a float.

    Raises:
        ValueError: ``validation_split`` is not a number (or is a bool) in [0, 1).

    Example:
        >>> from keras_attention.data.images import check_validation_split
        >>> check_validation_split(0), check_validation_split(0.25)
        (0.0, 0.25)
    """
    if (isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.integer, np.floating))
            or not 0.0 <= float(validation_split) < 1.0):
        raise ValueError(f"Argument `validation_split` must be a fraction in [0, 1); got {validation_split!r}.")
    return float(validation_split)


def validation_split_sizes(total: int, validation_split: float) -> tuple[int, int]:
    """``(n_training, n_validation)`` of a training slice of ``total`` examples: the validation subset is the
    last ``round(validation_split * total)`` examples (halves round up), the training subset the rest.

    ``validation_split`` 0 gives ``(total, 0)``; otherwise ValueError unless both subsets get at least
    one example.

    Args:
        total: examples in the training slice (>= 0).
        validation_split: the fraction held out, in [0, 1).

    Returns:
        ``(n_training, n_validation)``, summing to ``total``.

    Raises:
        ValueError: a bad ``validation_split`` or ``total``, or a split that leaves either subset empty.

    Example:
        >>> from keras_attention.data.images import validation_split_sizes
        >>> validation_split_sizes(20, 0.2), validation_split_sizes(5, 0.5), validation_split_sizes(10, 0)
        ((16, 4), (2, 3), (10, 0))
    """
    fraction = check_validation_split(validation_split)
    check_positive_int("total", int(total), minimum=0)
    total = int(total)
    if fraction == 0.0:
        return total, 0
    n_val = int(np.floor(fraction * total + 0.5))
    if not 1 <= n_val < total:
        raise ValueError(f"A validation split of {fraction:g} of {total} training examples leaves "
                         f"{total - n_val} for training and {n_val} for validation; both need at least one "
                         f"(use more training examples, another split, or 0 for no validation).")
    return total - n_val, n_val


def _count(kind: str, found: Any) -> int:
    """Examples in what :func:`_resolve` found (a tfds dataset of unknown length is counted once)."""
    if kind == "arrays":
        return len(found[1])
    n = int(found.cardinality())
    return n if n >= 0 else int(found.reduce(0, lambda count, _: count + 1))


def example_count(
    name: str,
    split: str = "train",
    source: str = "auto",
    data_dir: PathLike | None = None,
    limit: int | None = None,
) -> int:
    """The number of examples of ``name``/``split`` (its first ``limit``), from the same source as
    :func:`image_dataset` (local arrays are read; tfds answers from its metadata).

    Args:
        name: a key of :data:`DATASETS`.
        split: ``"train"`` or ``"test"``.
        source: ``"auto"``, ``"local"`` or ``"tfds"``.
        data_dir: None, or the directory searched for local IDX files and tfds' data dir.
        limit: None, or count only the first ``limit`` examples.

    Returns:
        The number of examples.

    Raises:
        ValueError: a bad argument, as for :func:`load_arrays`.
        DatasetNotFoundError: no source has the data.

    Example:
        >>> from keras_attention.data.images import example_count
        >>> example_count("fashion_mnist_slice", "test"), example_count("digits", limit=100)
        (1000, 100)
    """
    spec, _ = _check_common(name, split, source, data_dir, limit, None)
    return _count(*_resolve(spec, split, source, data_dir, limit))


def _output_size(spec: DatasetSpec, image_size: tuple[int, ...] | None) -> tuple[int, ...] | None:
    return image_size or (spec.input_shape[:2] if spec.resize else None)


# ------------------------------------------------------------------------------------------------ info


def dataset_info(name: str, image_size: ImageSize = None, data_dir: PathLike | None = None) -> dict[str, Any]:
    """Facts about data set ``name``, without reading any data.

    Returns a dict with ``name``, ``num_classes``, ``input_shape`` (the shape of one image delivered by
    :func:`image_dataset` with this ``image_size``) and ``sources``. ``data_dir`` is accepted so that
    callers can pass their data arguments through; it does not change the answer.

    Args:
        name: a key of :data:`DATASETS`.
        image_size: None, an int or ``(height, width)``: the size the images would be resized to.
        data_dir: None or a path (checked, not used).

    Returns:
        ``{"name", "num_classes", "input_shape", "sources"}``; ``input_shape`` is ``(H, W, C)``.

    Raises:
        ValueError: an unknown ``name``, a bad ``image_size`` or a ``data_dir`` that is not a path.

    Example:
        >>> from keras_attention.data import dataset_info
        >>> dataset_info("cifar10")
        {'name': 'cifar10', 'num_classes': 10, 'input_shape': (32, 32, 3), 'sources': ('tfds',)}
        >>> dataset_info("fashion_mnist", image_size=32)["input_shape"]
        (32, 32, 1)
    """
    spec = _check_name(name)
    size = _check_image_size(image_size)
    _check_data_dir(data_dir)
    input_shape = tuple(size or spec.input_shape[:2]) + (spec.input_shape[2],)
    return {"name": name, "num_classes": spec.num_classes, "input_shape": input_shape, "sources": spec.sources}


# ---------------------------------------------------------------------------------------- local sources


def _idx_file(directory: Path, prefix: str, kind: str, ndim: int) -> Path | None:
    for sep in ("-", "."):
        for ext in ("", ".gz"):
            path = directory / f"{prefix}-{kind}{sep}idx{ndim}-ubyte{ext}"
            if path.is_file():
                return path
    return None


def _local_roots(data_dir: PathLike | None) -> list[Path]:
    """The root directories searched for IDX files: ``data_dir`` alone, else the environment, then the system."""
    if data_dir is not None:
        return [Path(data_dir)]
    return ([Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []) + [Path(d) for d in SYSTEM_DATA_DIRS]


def bundled_dir(name: str) -> Path:
    """The directory of the IDX files of a data set shipped with the package (``DatasetSpec.local ==
    "bundled"``): ``BUNDLED_DATA_DIR/<the full data set's name with - for _>``.

    Args:
        name: a key of :data:`DATASETS` whose ``local`` is ``"bundled"``.

    Returns:
        The directory inside :data:`BUNDLED_DATA_DIR`.

    Raises:
        ValueError: an unknown ``name``, or a data set not shipped with the package.

    Example:
        >>> from keras_attention.data.images import BUNDLED_DATA_DIR, bundled_dir
        >>> bundled_dir("fashion_mnist_slice") == BUNDLED_DATA_DIR / "fashion-mnist"
        True
    """
    spec = _check_name(name)
    if spec.local != "bundled":
        raise ValueError(f"Data set {name!r} is not shipped with the package; "
                         f"{[s.name for s in DATASETS.values() if s.local == 'bundled']} are.")
    assert spec.subset_of is not None, spec  # every data set shipped with the package is a slice of another
    return BUNDLED_DATA_DIR / spec.subset_of.replace("_", "-")


def _is_bundled(path: PathLike) -> bool:
    """True when ``path`` is inside :data:`BUNDLED_DATA_DIR` (the files shipped with the package)."""
    try:
        Path(path).resolve().relative_to(BUNDLED_DATA_DIR)
    except ValueError:
        return False
    return True


def local_idx_dirs(name: str, data_dir: PathLike | None = None) -> list[Path]:
    """The directories searched, in order, for the IDX files of ``name`` (see the module docstring).

    Args:
        name: the data set's name.
        data_dir: None (the environment's directory, then :data:`SYSTEM_DATA_DIRS`), or the only root searched.

    Returns:
        ``D/<name>``, ``D/<name with - for _>`` and ``D`` for every root ``D``, without repeats.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from keras_attention.data.images import local_idx_dirs
        >>> root = Path(tempfile.mkdtemp())
        >>> [str(d.relative_to(root)) for d in local_idx_dirs("fashion_mnist", root)]
        ['fashion_mnist', 'fashion-mnist', '.']
    """
    names = dict.fromkeys([name, name.replace("_", "-")])
    dirs: list[Path] = []
    for root in _local_roots(data_dir):
        dirs += [root / n for n in names] + [root]
    return list(dict.fromkeys(dirs))


def find_idx_files(
    name: str, split: str, data_dir: PathLike | None = None
) -> tuple[Path | None, Path | None, list[str]]:
    """``(images_path, labels_path, tried)``: the IDX files of ``name``/``split``, or None paths.

    ``tried`` describes each directory searched and what it lacked.

    Args:
        name: the data set's name.
        split: ``"train"`` or ``"test"``.
        data_dir: None, or the only root searched (:func:`local_idx_dirs`).

    Returns:
        The paths of the first complete directory (both None when none is complete) and the lines describing
        the directories searched before it.

    Example:
        >>> from keras_attention.data.images import BUNDLED_DATA_DIR, find_idx_files
        >>> images, labels, tried = find_idx_files("fashion_mnist", "test", BUNDLED_DATA_DIR)
        >>> images.name, labels.name, len(tried)
        ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 1)
    """
    prefix = _IDX_PREFIX[split]
    tried: list[str] = []
    for directory in local_idx_dirs(name, data_dir):
        images, labels = _idx_file(directory, prefix, "images", 3), _idx_file(directory, prefix, "labels", 1)
        if images is not None and labels is not None:
            return images, labels, tried
        missing = [f"{prefix}-{kind}-idx{ndim}-ubyte[.gz]" for kind, ndim, found in
                   (("images", 3, images), ("labels", 1, labels)) if found is None]
        state = ("missing " + ", ".join(missing) if directory.is_dir() else
                 "a file, not a directory" if directory.exists() else "no such directory")
        tried.append(f"local IDX directory {str(directory)!r}: {state}")
    return None, None, tried


def _load_idx(
    spec: DatasetSpec, split: str, data_dir: PathLike | None, limit: int | None
) -> tuple[Arrays | None, list[str]]:
    from keras_attention.data.idx import read_idx

    images_path, labels_path, tried = find_idx_files(spec.name, split, data_dir)
    if images_path is None or labels_path is None:  # found together or not at all
        return None, tried
    images, labels = read_idx(images_path, limit=limit), read_idx(labels_path, limit=limit)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:] != spec.input_shape or images.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"IDX files {str(images_path)!r} and {str(labels_path)!r} hold images of shape {images.shape} "
            f"({images.dtype}) and labels of shape {labels.shape}; {spec.name!r} expects uint8 images "
            f"(N, {spec.input_shape[0]}, {spec.input_shape[1]}) and labels (N,)."
        )
    if len(images) != len(labels):
        raise ValueError(f"IDX files {str(images_path)!r} and {str(labels_path)!r} disagree: {len(images)} "
                         f"images but {len(labels)} labels.")
    return (images, labels), tried


def digits_split_indices(labels: npt.ArrayLike) -> np.ndarray:
    """Boolean test mask of the fixed stratified digits split: every fifth image of each class is test.

    ``labels`` in data set order; an image is a test image when its position among the images of its
    class (0-based, in data set order) is 4 modulo 5.

    Args:
        labels: the labels, in data set order.

    Returns:
        A boolean array, True for the test images.

    Example:
        >>> from keras_attention.data.images import digits_split_indices
        >>> digits_split_indices([0, 0, 0, 0, 0, 1, 0]).tolist()  # the fifth 0 is a test image
        [False, False, False, False, True, False, False]
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    first = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - first
    return rank % 5 == 4


def _load_digits(split: str, limit: int | None) -> tuple[Arrays, list[str]]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    test = digits_split_indices(labels)
    keep = test if split == "test" else ~test
    images, labels = images[keep], labels[keep]
    return (images[:limit], labels[:limit]), []


# ----------------------------------------------------------------------------------------- tfds source


def _describe_error(error: BaseException, limit: int = 300) -> str:
    """``"Type: message"`` of ``error`` on one line, cut to ``limit`` characters of message."""
    message = " ".join(str(error).split())
    if len(message) > limit:
        message = message[:limit] + "..."
    return f"{type(error).__name__}: {message}"


def _tfds_data_dir(data_dir: PathLike | None) -> str:
    if data_dir is not None:
        return str(data_dir)
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def _tfds_dataset(
    spec: DatasetSpec, split: str, data_dir: PathLike | None, shuffle_files: bool = False, seed: int | None = None
) -> tuple["tf.data.Dataset | None", list[str]]:
    """``(dataset of (uint8 image, int64 label), tried)``; dataset is None when tfds failed.

    A data set tfds has not prepared is downloaded only when the download host answers
    (:func:`_probe_network`): offline, tfds' own retries would take minutes before failing.
    """
    import tensorflow as tf

    tfds_split = dict(spec.tfds_splits)[split]
    where = f"tensorflow-datasets {spec.tfds_name!r} split {tfds_split!r} in data_dir {_tfds_data_dir(data_dir)!r}"
    try:
        tfds = import_optional("tensorflow_datasets", "reading a tensorflow-datasets data set")

        def load(download: bool) -> "tf.data.Dataset":
            return tfds.load(spec.tfds_name, split=tfds_split, data_dir=None if data_dir is None else str(data_dir),
                             download=download, shuffle_files=shuffle_files,
                             read_config=tfds.ReadConfig(shuffle_seed=seed))

        try:
            dataset = load(download=False)  # prepared already: no network needed
        except Exception as not_prepared:  # noqa: BLE001 (tfds raises several kinds)
            offline = None if spec.name == "imagenet2012" else _probe_network()
            if offline is not None:
                return None, [f"{where}: {_describe_error(not_prepared)}; not downloaded: no network ({offline})"]
            dataset = load(download=True)
    except Exception as error:  # any failure (not downloaded, no network, manual download) is reported
        return None, [f"{where}: {_describe_error(error)}"]
    label = spec.tfds_label
    dataset = dataset.map(lambda ex: (ex["image"], tf.cast(ex[label], tf.int64)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset, []


# ----------------------------------------------------------------------------------- default data set


def _probe_network(timeout: float | None = None) -> str | None:
    """None when :data:`TFDS_DOWNLOAD_HOST` (or the HTTPS proxy of the environment, when one is set)
    accepts a TCP connection within ``timeout`` seconds (default :data:`NETWORK_PROBE_TIMEOUT`), else a
    short description of the failure."""
    import socket
    import urllib.parse
    import urllib.request

    timeout = NETWORK_PROBE_TIMEOUT if timeout is None else timeout
    host, port = TFDS_DOWNLOAD_HOST
    proxy = urllib.request.getproxies().get("https")
    if proxy and not urllib.request.proxy_bypass(host):
        parsed = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parsed.hostname:
            host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:  # DNS failure, refused, unreachable, timed out
        late = f" after {timeout:g} s" if isinstance(error, TimeoutError) else ""
        return f"{host}:{port} could not be reached{late}: {_describe_error(error, 120)}"


def default_image_dataset(data_dir: PathLike | None = None) -> tuple[str, str]:
    """``(name, reason)``: the image data set of a run that names none, and a sentence saying why.

    In order: ``"fashion_mnist"`` when its local IDX files are found (``data_dir``, else
    ``KERAS_ATTENTION_DATA``, then :data:`SYSTEM_DATA_DIRS`, as :func:`load_arrays` searches); else
    ``"fashion_mnist"`` when tensorflow-datasets has already prepared it in its data dir (``data_dir``
    when given, else ``TFDS_DATA_DIR`` or ``~/tensorflow_datasets``); else ``"fashion_mnist"`` after
    tensorflow-datasets downloads it, tried only when the download host answers within
    :data:`NETWORK_PROBE_TIMEOUT` seconds; else ``"fashion_mnist_slice"`` (:data:`FALLBACK_DATASET`: the
    first 2,000 training and 1,000 test images of Fashion-MNIST, shipped with the package, always present),
    with the reason each earlier source was not used. ``reason`` is one sentence to print. Local files that
    are the package's own slice (``KERAS_ATTENTION_DATA`` pointed at :data:`BUNDLED_DATA_DIR`, as the tests
    do) are named as such. scikit-learn's ``digits`` is never chosen here: only when asked for by name.

    Args:
        data_dir: None, or the directory searched for local IDX files and used as tensorflow-datasets' data
            dir.

    Returns:
        ``(name, reason)``: ``"fashion_mnist"`` or ``"fashion_mnist_slice"``, and one sentence saying why.

    Raises:
        ValueError: ``data_dir`` is not None or a path.

    Example:
        >>> from keras_attention.data import default_image_dataset
        >>> from keras_attention.data.images import BUNDLED_DATA_DIR
        >>> name, reason = default_image_dataset(BUNDLED_DATA_DIR)  # local files: no network is tried
        >>> name
        'fashion_mnist'
        >>> reason
        "local IDX files in '.../fashion-mnist' (fashion_mnist, the 2,000 + 1,000-image slice shipped with the package)"
    """
    _check_data_dir(data_dir)
    name = DEFAULT_DATASET
    spec = DATASETS[name]
    found = [find_idx_files(name, split, data_dir)[0] for split in SPLITS]
    paths = [path for path in found if path is not None]
    if len(paths) == len(found):  # the images of every split were found
        dirs = list(dict.fromkeys(str(path.parent) for path in paths))
        shipped = f" ({_slice_words()})" if all(_is_bundled(path) for path in paths) else ""
        return name, f"local IDX files in {' and '.join(repr(d) for d in dirs)}{shipped}"
    roots = " or ".join(repr(str(root)) for root in _local_roots(data_dir))
    why = [f"no local Fashion-MNIST IDX files in {roots}"]

    tfds_dir = _tfds_data_dir(data_dir)
    try:
        tfds = import_optional("tensorflow_datasets", "reading a tensorflow-datasets data set")

        builder = tfds.builder(spec.tfds_name, data_dir=None if data_dir is None else str(data_dir))
        prepared = builder.is_prepared()
    except Exception as error:  # tfds not installed or broken: say so and use the shipped slice
        why.append(f"tensorflow-datasets is not usable ({_describe_error(error, 200)})")
        builder = None
    else:
        if prepared:
            return name, f"tensorflow-datasets, already prepared in {tfds_dir!r}"
        why.append(f"tensorflow-datasets has not prepared {spec.tfds_name!r} in {tfds_dir!r}")

    if builder is not None:
        offline = _probe_network()
        if offline is not None:
            why.append(f"there is no network to download it ({offline})")
        else:
            try:
                builder.download_and_prepare()
            except Exception as error:  # the download or preparation failed: fall back, saying why
                why.append(f"downloading it to {tfds_dir!r} failed ({_describe_error(error, 200)})")
            else:
                return name, f"tensorflow-datasets, downloaded to {tfds_dir!r}"

    because = why[0] if len(why) == 1 else ", ".join(why[:-1]) + " and " + why[-1]
    return FALLBACK_DATASET, f"{because}; using {_slice_words()}"


def _slice_words() -> str:
    """``"fashion_mnist, the 2,000 + 1,000-image slice shipped with the package"``."""
    spec = DATASETS[FALLBACK_DATASET]
    return (f"{spec.subset_of}, the {BUNDLED_SLICE_SIZES['train']:,} + {BUNDLED_SLICE_SIZES['test']:,}-image "
            f"slice shipped with the package")


# ------------------------------------------------------------------------------------------ resolution


def _hint(spec: DatasetSpec) -> str:
    parts: list[str] = []
    if spec.local == "idx":
        parts.append(f"put the four MNIST-format IDX files of {spec.name!r} in a directory and pass it as "
                     f"`data_dir` (CLI: --data-dir) or set {ENV_VAR} to it")
        if spec.name == "fashion_mnist":
            parts.append("install Debian's dataset-fashion-mnist package")
    if spec.local == "bundled":
        parts.append(f"reinstall keras-attention: {str(bundled_dir(spec.name))!r} is part of the package")
    if spec.tfds_name:
        extra = (" (imagenet2012 needs its archives placed in <data_dir>/downloads/manual first)"
                 if spec.name == "imagenet2012" else "")
        parts.append(f"download it once with tensorflow-datasets where a network is available "
                     f"(tfds.load({spec.tfds_name!r}, data_dir=...)) and pass that directory as `data_dir`{extra}")
    text = "; or ".join(parts)
    return text[0].upper() + text[1:] + "."


def _resolve(
    spec: DatasetSpec,
    split: str,
    source: str,
    data_dir: PathLike | None,
    limit: int | None,
    shuffle_files: bool = False,
    seed: int | None = None,
) -> tuple[str, Any]:
    """Find the data: ``("arrays", (images, labels))`` or ``("tfds", dataset)``; raise when not found."""
    tried: list[str] = []
    found: Arrays | None
    if source in ("auto", "local") and spec.local:
        if spec.local == "digits":
            found, more = _load_digits(split, limit)
        elif spec.local == "bundled":
            found, more = _load_idx(spec, split, bundled_dir(spec.name), limit)
        else:
            found, more = _load_idx(spec, split, data_dir, limit)
        tried += more
        if found is not None:
            return "arrays", found
    elif source == "auto":
        tried.append(f"local: no local source exists for {spec.name!r}")
    if source in ("auto", "tfds") and spec.tfds_name:
        dataset, more = _tfds_dataset(spec, split, data_dir, shuffle_files=shuffle_files, seed=seed)
        tried += more
        if dataset is not None:
            return "tfds", dataset if limit is None else dataset.take(limit)
    elif source == "auto":
        tried.append(f"tensorflow-datasets: {spec.name!r} is not in tensorflow-datasets")
    raise DatasetNotFoundError(spec.name, split, tried, _hint(spec))


def _resize_uint8(size: Sequence[int]) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    import tensorflow as tf
    def resize(image: Tensor, label: Tensor) -> tuple[Tensor, Tensor]:
        image = tf.image.resize(image, size, method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8), label

    return resize


def load_arrays(
    name: str,
    split: str = "train",
    source: str = "auto",
    data_dir: PathLike | None = None,
    limit: int | None = None,
    image_size: ImageSize = None,
) -> Arrays:
    """``(images, labels)`` of ``name``/``split`` as numpy arrays.

    ``images`` is uint8 ``(N, H, W, C)`` and ``labels`` int64 ``(N,)``; ``limit`` keeps the first ``limit``
    examples of the split; ``image_size`` (an int or ``(height, width)``) resizes the images (bilinear,
    antialiased, rounded back to uint8); ``imagenet2012`` is always resized (default 224 x 224).
    Raises ValueError for bad arguments, before any I/O, and :class:`DatasetNotFoundError` when no
    source has the data.

    Args:
        name: a key of :data:`DATASETS`.
        split: ``"train"`` or ``"test"``.
        source: ``"auto"`` (local when found, else tfds), ``"local"`` or ``"tfds"``.
        data_dir: None, or the directory searched for local IDX files (then only it) and tfds' data dir.
        limit: None, or keep the first ``limit`` examples of the split.
        image_size: None, an int or ``(height, width)`` to resize to.

    Returns:
        ``(images, labels)``: uint8 ``(N, H, W, C)`` and int64 ``(N,)``.

    Raises:
        ValueError: an unknown ``name`` / ``split`` / ``source``, a source the data set does not have, a bad
            ``data_dir`` / ``limit`` / ``image_size``; or local IDX files whose contents disagree with the
            data set.
        DatasetNotFoundError: no source has the data (the message lists every place tried).

    Example:
        >>> from keras_attention.data import load_arrays
        >>> images, labels = load_arrays("digits", "test", limit=5)  # scikit-learn's bundled digits
        >>> images.shape, images.dtype.name, labels.tolist()
        ((5, 8, 8, 1), 'uint8', [5, 0, 9, 8, 7])
        >>> images, labels = load_arrays("fashion_mnist_slice", "test", limit=3, image_size=14)
        >>> images.shape, labels.tolist()
        ((3, 14, 14, 1), [9, 2, 1])
    """
    import tensorflow as tf
    spec, size = _check_common(name, split, source, data_dir, limit, image_size)
    kind, found = _resolve(spec, split, source, data_dir, limit)
    size = _output_size(spec, size)
    if kind == "arrays":
        images, labels = found
        if size is not None and tuple(size) != images.shape[1:3]:
            images = np.concatenate([
                _resize_uint8(size)(images[i:i + 4096], None)[0].numpy() for i in range(0, len(images), 4096)
            ]) if len(images) else np.zeros((0, *size, images.shape[3]), np.uint8)
        return images, labels.astype(np.int64)
    dataset = found if size is None else found.map(_resize_uint8(size), num_parallel_calls=tf.data.AUTOTUNE)
    images, labels = [], []
    for image_batch, label_batch in dataset.batch(1024).as_numpy_iterator():
        images.append(image_batch)
        labels.append(label_batch)
    if not images:
        shape = tuple(size or spec.input_shape[:2]) + (spec.input_shape[2],)
        return np.zeros((0, *shape), np.uint8), np.zeros((0,), np.int64)
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


# ------------------------------------------------------------------------------------------- pipelines


def _augment(image: Tensor, seeds: Tensor) -> Tensor:
    """CIFAR-style augmentation of one float image: zero-pad, random crop back, random horizontal flip."""
    import tensorflow as tf
    shape = tf.shape(image)
    padded = tf.pad(image, [[AUGMENT_PADDING, AUGMENT_PADDING], [AUGMENT_PADDING, AUGMENT_PADDING], [0, 0]])
    image = tf.image.stateless_random_crop(padded, shape, seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])


def image_dataset(
    name: str,
    split: str = "train",
    batch_size: int = DEFAULT_BATCH_SIZE,
    source: str = "auto",
    data_dir: PathLike | None = None,
    shuffle: bool | None = None,
    augment: bool = False,
    seed: int | None = None,
    image_size: ImageSize = None,
    limit: int | None = None,
    normalize: bool = True,
    drop_remainder: bool = False,
    validation_split: float = 0.0,
    subset: str | None = None,
) -> "tf.data.Dataset":
    """A batched, prefetched ``tf.data.Dataset`` of ``(images, labels)`` of ``name``/``split``.

    Images are float32 ``(batch, H, W, C)``, in [0, 1] when ``normalize`` (else in [0, 255]); labels
    int64 ``(batch,)``. ``shuffle`` defaults to True for ``"train"`` and False for ``"test"``; ``augment``
    (train split only) applies random 4-pixel-padded crops and horizontal flips; ``seed`` makes
    shuffling and augmentation reproducible; ``image_size`` (an int or ``(height, width)``) resizes;
    ``limit`` keeps the first ``limit`` examples of the split. ``validation_split`` (a fraction in [0, 1))
    with ``subset`` (``"training"`` or ``"validation"``, split ``"train"`` only) keeps one part of the
    training slice: the validation subset is its last ``round(validation_split * N)`` examples, taken before
    shuffling (module docstring); ``subset="validation"`` is not shuffled by default and never augmented.
    See the module docstring for the sources. Raises ValueError for bad arguments, before any I/O (a split
    too small for ``N`` once the data is found), and :class:`DatasetNotFoundError` when no source has the data.

    Args:
        name: a key of :data:`DATASETS`.
        split: ``"train"`` or ``"test"``.
        batch_size: examples per batch (>= 1).
        source: ``"auto"``, ``"local"`` or ``"tfds"`` (as :func:`load_arrays`).
        data_dir: None, or the directory searched for local IDX files and tfds' data dir.
        shuffle: None (True for ``"train"`` except ``subset="validation"``, else False), True or False.
        augment: random 4-pixel-padded crops and horizontal flips (split ``"train"`` only, not for the
            validation subset).
        seed: None or an integer making shuffling and augmentation reproducible.
        image_size: None, an int or ``(height, width)`` to resize to.
        limit: None, or keep the first ``limit`` examples of the split.
        normalize: divide by 255 (images in [0, 1]).
        drop_remainder: drop the last batch when it is smaller than ``batch_size``.
        validation_split: fraction in [0, 1) of the training slice held out (with ``subset``).
        subset: None, ``"training"`` or ``"validation"`` (split ``"train"`` with ``validation_split`` > 0).

    Returns:
        A batched, prefetched ``tf.data.Dataset`` of ``(images, labels)``: float32 ``(batch, H, W, C)`` and
        int64 ``(batch,)``.

    Raises:
        ValueError: an invalid argument or combination (``augment`` or ``subset`` with split ``"test"``,
            ``validation_split`` without ``subset`` or the reverse, ``augment`` on the validation subset, a
            split leaving either subset empty, and the argument errors of :func:`load_arrays`).
        DatasetNotFoundError: no source has the data.

    Example:
        >>> from keras_attention.data import image_dataset
        >>> dataset = image_dataset("fashion_mnist_slice", "train", batch_size=4, limit=10, seed=0)
        >>> [(tuple(x.shape), x.dtype.name, tuple(y.shape)) for x, y in dataset]
        [((4, 28, 28, 1), 'float32', (4,)), ((4, 28, 28, 1), 'float32', (4,)), ((2, 28, 28, 1), 'float32', (2,))]
        >>> held_out = image_dataset("digits", batch_size=8, limit=20, validation_split=0.2, subset="validation")
        >>> [tuple(y.shape) for _, y in held_out]  # the last 4 of the first 20 training images
        [(4,)]
    """
    import tensorflow as tf
    spec, size = _check_common(name, split, source, data_dir, limit, image_size)
    check_positive_int("batch_size", batch_size)
    validation_split = check_validation_split(validation_split)
    if subset is not None:
        check_choice("subset", subset, SUBSETS)
        if split != "train":
            raise ValueError(f"Argument `subset`={subset!r} is only for split='train'; got split={split!r}.")
    if validation_split > 0 and subset is None:
        raise ValueError(f"Argument `validation_split`={validation_split:g} needs `subset`='training' or "
                         f"'validation'.")
    if subset == "validation" and validation_split == 0:
        raise ValueError("Argument `subset`='validation' needs `validation_split` > 0.")
    if augment and subset == "validation":
        raise ValueError("Argument `augment`=True is not for subset='validation'.")
    shuffle = (split == "train" and subset != "validation") if shuffle is None else check_bool("shuffle", shuffle)
    check_bool("augment", augment)
    check_bool("normalize", normalize)
    check_bool("drop_remainder", drop_remainder)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"Argument `seed` must be None or an integer; got {seed!r}.")
    if augment and split != "train":
        raise ValueError(f"Argument `augment`=True is only for split='train'; got split={split!r}.")
    seed = None if seed is None else int(seed)

    # a split needs the files in their own order: the held-out examples must be the same every time
    kind, found = _resolve(spec, split, source, data_dir, limit, shuffle_files=shuffle and not validation_split,
                           seed=seed)
    if validation_split > 0:
        n_train, n_val = validation_split_sizes(_count(kind, found), validation_split)
        start, stop = (0, n_train) if subset == "training" else (n_train, n_train + n_val)
        if kind == "arrays":
            found = (found[0][start:stop], found[1][start:stop])
        else:
            found = found.skip(start).take(stop - start)
    if kind == "arrays":
        images, labels = found
        dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
        buffer = max(len(labels), 1)
    else:
        dataset, buffer = found, TFDS_SHUFFLE_BUFFER
    if shuffle:
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)

    size = _output_size(spec, size)
    scale = 1.0 / 255.0 if normalize else 1.0

    def prepare(image: Tensor, label: Tensor) -> tuple[Tensor, Tensor]:
        image = tf.cast(image, tf.float32)
        if size is not None:
            image = tf.clip_by_value(tf.image.resize(image, size, method="bilinear", antialias=True), 0.0, 255.0)
        return image * scale, label

    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(4, drop_remainder=True)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda example, s: (_augment(example[0], tf.reshape(s, (2, 2))), example[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
