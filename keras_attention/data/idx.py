"""Reader for IDX files, the format of MNIST and Fashion-MNIST (plain numpy, no TensorFlow).

An IDX file is a header followed by the raw array, all big-endian:

- 2 zero bytes;
- 1 byte naming the element type: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
  ``0x0D`` float32, ``0x0E`` float64;
- 1 byte with the number of dimensions ``ndim``;
- ``ndim`` unsigned 32-bit sizes;
- the elements in C order.

Files may be gzip-compressed (the usual ``*.gz`` downloads); compression is recognised by the gzip magic
bytes, not by the file name. ``limit`` reads only the first ``limit`` records along the first dimension,
so a few images of a 60000-image file are read without decompressing the rest. A compressed file that is
cut short (an interrupted download) or corrupt raises ValueError naming the file, as does any file whose
contents disagree with its header.
"""

import gzip
import os
import zlib
from io import BufferedIOBase
from typing import Any

import numpy as np
import numpy.typing as npt

#: A file path as the reader and writer take it.
PathLike = str | os.PathLike[str]

IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _open(path: PathLike) -> BufferedIOBase:
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == _GZIP_MAGIC else open(path, "rb")


def _read_exactly(handle: BufferedIOBase, count: int, path: PathLike, what: str) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise ValueError(f"IDX file {os.fspath(path)!r} is truncated: expected {count} bytes of {what}, "
                         f"found {len(data)}.")
    return data


def read_idx(path: PathLike, limit: int | None = None) -> np.ndarray:
    """Read the IDX file ``path`` (gzip-compressed or not) into a numpy array in native byte order.

    ``limit`` (None or an integer >= 1) keeps only the first ``limit`` records along the first axis.

    Args:
        path: the file (``.gz`` or not: compression is recognised by the gzip magic bytes).
        limit: None for the whole file, or the number of records to read along the first axis.

    Returns:
        The array, of the header's shape (its first size cut to ``limit``) and element type, in native byte
        order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``limit`` is not None or an integer >= 1, or (naming the file) its header is not an IDX
            header, the file holds fewer or more bytes than its header announces, or it is a truncated or
            corrupt gzip file.

    Example:
        >>> from keras_attention.data import read_idx
        >>> from keras_attention.data.images import bundled_dir
        >>> images = read_idx(bundled_dir("fashion_mnist_slice") / "t10k-images-idx3-ubyte.gz", limit=5)
        >>> images.shape, images.dtype.name
        ((5, 28, 28), 'uint8')
        >>> read_idx(bundled_dir("fashion_mnist_slice") / "t10k-labels-idx1-ubyte.gz", limit=5).tolist()
        [9, 2, 1, 1, 6]
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"Argument `limit` must be None or an integer >= 1; got {limit!r}.")
    with _open(path) as handle:
        try:
            return _read_body(handle, path, limit)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:  # only gzip streams raise these
            raise ValueError(
                f"IDX file {os.fspath(path)!r} is a truncated or corrupt gzip file ({type(error).__name__}: "
                f"{error}); expected a complete gzip stream -- download or copy the file again."
            ) from error


def _read_body(handle: BufferedIOBase, path: PathLike, limit: int | None) -> np.ndarray:
    """The header and data of an open IDX file, checked against each other (see :func:`read_idx`)."""
    header = _read_exactly(handle, 4, path, "header")
    if header[:2] != b"\x00\x00" or header[2] not in IDX_DTYPES or header[3] < 1:
        raise ValueError(
            f"{os.fspath(path)!r} is not an IDX file: its header bytes are {header.hex()}; expected "
            f"00 00, a type code in {[hex(c) for c in IDX_DTYPES]} and a dimension count >= 1."
        )
    dtype, ndim = IDX_DTYPES[header[2]], header[3]
    shape = list(np.frombuffer(_read_exactly(handle, 4 * ndim, path, "sizes"), dtype=">u4").astype(int))
    if limit is not None:
        shape[0] = min(shape[0], limit)
    count = int(np.prod(shape)) * dtype.itemsize
    data = _read_exactly(handle, count, path, f"data for shape {tuple(shape)}")
    if limit is None and handle.read(1):
        raise ValueError(f"IDX file {os.fspath(path)!r} holds more bytes than its header announces "
                         f"(shape {tuple(shape)}, type {dtype.name}).")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: npt.ArrayLike, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress``, default: ``path`` ends in .gz).

    The inverse of :func:`read_idx`, for exporting data sets in MNIST format. The gzip header carries no
    timestamp, so the same array always gives the same bytes.

    Args:
        path: the file to write (replaced if it exists).
        array: 1 to 255 dimensions of uint8, int8, int16, int32, float32 or float64 (either byte order).
        compress: gzip the file; None: when ``path`` ends in ``.gz``.

    Raises:
        ValueError: ``array`` has no dimension, more than 255, or an element type IDX has no code for.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> from keras_attention.data import read_idx, write_idx
        >>> path = os.path.join(tempfile.mkdtemp(), "demo-idx2-ubyte.gz")
        >>> write_idx(path, np.arange(6, dtype=np.int32).reshape(2, 3))
        >>> read_idx(path).tolist()
        [[0, 1, 2], [3, 4, 5]]
        >>> write_idx(path, np.zeros(2, dtype=np.int64))  # IDX has no 64-bit integers  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: Argument `array` must have 1 to 255 dimensions and a dtype in [...]; got dtype int64 and shape (2,).
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes or array.ndim < 1 or array.ndim > 255:
        raise ValueError(f"Argument `array` must have 1 to 255 dimensions and a dtype in "
                         f"{sorted(str(d) for d in codes)}; got dtype {array.dtype} and shape {array.shape}.")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    compress = os.fspath(path).endswith(".gz") if compress is None else compress
    with (gzip.GzipFile(path, "wb", mtime=0) if compress else open(path, "wb")) as handle:
        handle.write(payload)
