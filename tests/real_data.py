"""The real data every test reads: the Fashion-MNIST slice shipped with the package.

The slice (the first 2,000 training and 1,000 test images of Fashion-MNIST, gzipped IDX files) lives in
``keras_attention/data/bundled/fashion-mnist``, the repository's one copy: the package ships it as the data
set ``fashion_mnist_slice`` (the image experiments' default when no full Fashion-MNIST is found), and
``conftest.py`` points ``KERAS_ATTENTION_DATA`` at ``keras_attention/data/bundled`` for the whole session
(subprocesses inherit it, and the package searches it before any system directory), so the package, its
CLI and these helpers read the same images whether or not a full copy is installed.

Run as a script from the repository root to rewrite the slice from the full IDX files (the output is
deterministic: gzip without a timestamp, so a rewrite changes no byte)::

    python3 tests/real_data.py DIR    # DIR: the full IDX files, e.g. those of Debian's dataset-fashion-mnist

Fashion-MNIST is Copyright (c) 2017 Zalando SE, released under the MIT licence
(https://github.com/zalandoresearch/fashion-mnist; the notice is ``LICENSE`` beside the files); the slice
keeps the original images and labels.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from keras_attention.data.idx import read_idx, write_idx

# the repository's copy (written by write_slice), not an installed package's
DATA_ROOT = Path(__file__).resolve().parents[1] / "keras_attention" / "data" / "bundled"
FASHION_DIR = DATA_ROOT / "fashion-mnist"
FASHION_TRAIN, FASHION_TEST = 2000, 1000  # images in the committed slice
SLICE = {"train": FASHION_TRAIN, "t10k": FASHION_TEST}  # IDX file prefix -> first records kept

_PREFIX = {"train": "train", "test": "t10k"}


def fashion_mnist(split="test", n=None):
    """The first ``n`` images (uint8, ``(n, 28, 28)``) and labels (int64) of the slice's ``split``."""
    prefix = _PREFIX[split]
    images = read_idx(FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz", limit=n)
    labels = read_idx(FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz", limit=n)
    return images, labels.astype(np.int64)


def fashion_floats(n, size=28):
    """``n`` test images as float32 ``(n, size, size, 1)`` in [0, 1] (zero-padded to ``size``) and int32 labels."""
    images, labels = fashion_mnist("test", n)
    before = (size - 28) // 2
    after = size - 28 - before
    images = np.pad(images.astype("float32")[..., None] / 255.0, [(0, 0), (before, after), (before, after), (0, 0)])
    return images, labels.astype("int32")


def write_slice(source, out=FASHION_DIR, sizes=SLICE):
    """Copy the first ``sizes[prefix]`` records of each IDX file in ``source`` to ``out`` as ``.gz`` files."""
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for prefix, count in sizes.items():
        for kind, ndim in (("images", 3), ("labels", 1)):
            name = f"{prefix}-{kind}-idx{ndim}-ubyte"
            found = [p for p in (source / f"{name}.gz", source / name) if p.is_file()]
            if not found:
                raise FileNotFoundError(f"{name}[.gz] is not in {str(source)!r}; expected the full IDX files.")
            write_idx(out / f"{name}.gz", read_idx(found[0], limit=count))
            print(f"{out / name}.gz: the first {count} records of {found[0]}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Rewrite keras_attention/data/bundled/fashion-mnist from the full IDX files.")
    parser.add_argument("source", type=Path, help="directory of the full Fashion-MNIST IDX files")
    write_slice(parser.parse_args(argv).source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
