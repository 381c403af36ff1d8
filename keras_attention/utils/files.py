"""Crash-safe files: every result a run writes appears whole or not at all.

Each writer writes a temporary file beside the target (same directory, so the same file system; same
suffix, so Keras and matplotlib recognise the format), flushes it to disk and renames it over the target
(``os.replace``, atomic on POSIX and Windows). A kill at any moment leaves either the old file or the
new one, never a truncated one; the temporary file is removed when the write fails. Readers of JSON
name the file when it cannot be parsed, instead of a bare ``JSONDecodeError``.

Every byte of :func:`write_bytes`, :func:`write_text` and :func:`write_json` goes through :func:`write_chunk`
(the one place where a test makes the disk fill up; :func:`save_model` and :func:`save_figure` leave the
writing to Keras and matplotlib). An ``OSError`` of any of them (``ENOSPC``, ``EROFS``, ...) names the file it
was writing (:func:`describe_os_error` turns it into one line).
"""

import contextlib
import errno
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; when the block ends without an error it replaces ``path``. An
    ``OSError`` of the block that names no file names ``path``."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        if error.filename is None:
            error.filename = str(path)
        raise
    finally:
        with contextlib.suppress(OSError):  # best effort: the error of the write is the one to report
            temporary.unlink(missing_ok=True)


def write_chunk(handle, data):
    """``handle.write(data)``: every write of :func:`write_bytes` (and so of every writer here) passes here."""
    handle.write(data)


def fsync_directory(path):
    """Flush a directory's entries (a rename into it) to disk, where the system allows it (not on Windows)."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def write_bytes(path, chunks):
    """Write ``chunks`` (bytes, or an iterable of bytes-like objects) to ``path`` atomically, flushed to disk;
    returns ``path``."""
    if isinstance(chunks, (bytes, bytearray, memoryview)):
        chunks = (chunks,)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            for chunk in chunks:
                write_chunk(handle, chunk)
            handle.flush()
            os.fsync(handle.fileno())
    return path


def describe_os_error(error):
    """One line for an ``OSError`` of a file operation: what failed, the errno's name and the file."""
    name = errno.errorcode.get(error.errno, "") if error.errno is not None else ""
    cause = error.strerror or str(error) or type(error).__name__
    where = f" ({name})" if name else ""
    if error.filename is not None:
        where += f": {str(error.filename)!r}"
    return f"{cause}{where}"


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, data, indent=1):
    """Write ``data`` as JSON to ``path`` atomically; returns ``path``."""
    return write_text(path, json.dumps(data, indent=indent))


def read_json(path):
    """The JSON content of ``path``; a ValueError naming the file when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{str(path)!r} is corrupt: it is not valid JSON ({error}). It was not written by this package's "
            "atomic writers or was changed since; delete it (a run then recomputes it) or start the run again "
            "with --overwrite."
        ) from None


def save_model(model, path):
    """``model.save(path)`` atomically (``path`` ends in ``.keras``); returns ``path``."""
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path


def save_figure(figure, path, **kwargs):
    """``figure.savefig(path, **kwargs)`` atomically; returns ``path``."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, **kwargs)
    return path
