"""A disk that fills up, for the tests of what a run does when a write fails.

``Disk`` replaces ``keras_attention.utils.files.write_chunk`` (every byte the package's writers write passes
there: JSON, history, results, backups). ``Disk()`` only records the files written (:meth:`Disk.files`);
``Disk(full_at=(i, n))`` is full after ``n`` bytes of the ``i``-th file written (0-based): that write writes
what fits and raises ``OSError(ENOSPC)``, as ``write(2)`` does on a full file system. Files count, not bytes:
two runs write JSON of slightly different lengths (wall times), never different files.
"""

import errno
import os
from pathlib import Path

from keras_attention.utils import files


class Disk:
    def __init__(self, full_at=None):
        self.full_at, self.log = full_at, []  # log: [path, bytes] per file, in order
        self.real = files.write_chunk

    def __call__(self, handle, data):
        data = memoryview(data).cast("B")
        path = Path(handle.name)
        if not self.log or self.log[-1][0] != path:
            self.log.append([path, 0])
        index, written = len(self.log) - 1, self.log[-1][1]
        if self.full_at is not None and index == self.full_at[0] and written + len(data) > self.full_at[1]:
            fits = max(self.full_at[1] - written, 0)
            self.real(handle, data[:fits])
            self.log[-1][1] += fits
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.real(handle, data)
        self.log[-1][1] += len(data)

    def files(self):
        """``[(path, size)]``: the files written, in order."""
        return [tuple(entry) for entry in self.log]


def target(path):
    """``weights`` of the temporary file ``.weights.12.partial.bin`` (what the log records) of ``weights.bin``."""
    return Path(path).name.split(".")[1]
