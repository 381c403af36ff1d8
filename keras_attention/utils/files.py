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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

#: A file name as ``open`` takes it.
StrPath = str | os.PathLike[str]
_PathT = TypeVar("_PathT", bound=StrPath)


@contextlib.contextmanager
def atomic_path(path: StrPath) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error it replaces ``path``. An
    ``OSError`` of the block that names no file names ``path``.

    Args:
        path: the file the block writes.

    Yields:
        The temporary file to write instead (same directory and suffix as ``path``).

    Raises:
        OSError: of the block or of the rename, with ``filename`` set to ``path`` where it named no file.
    """
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


def write_chunk(handle: IO[bytes], data: "Buffer") -> None:
    """``handle.write(data)``: every write of :func:`write_bytes` (and so of every writer here) passes here.

    Args:
        handle: a file open for binary writing.
        data: a bytes-like object.
    """
    handle.write(data)


def fsync_directory(path: StrPath) -> None:
    """Flush a directory's entries (a rename into it) to disk, where the system allows it (not on Windows).

    Args:
        path: the directory; an error opening or flushing it is ignored.
    """
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


def write_bytes(path: _PathT, chunks: "bytes | bytearray | memoryview | Iterable[Buffer]") -> _PathT:
    """Write ``chunks`` (bytes, or an iterable of bytes-like objects) to ``path`` atomically, flushed to disk;
    returns ``path``.

    Args:
        path: the file to write.
        chunks: its content, one bytes-like object or an iterable of them (written one after another).

    Returns:
        ``path``.

    Raises:
        OSError: of the write, naming ``path`` (the old file, if any, is left as it was).
    """
    if isinstance(chunks, (bytes, bytearray, memoryview)):
        chunks = (chunks,)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            for chunk in chunks:
                write_chunk(handle, chunk)
            handle.flush()
            os.fsync(handle.fileno())
    return path


def describe_os_error(error: OSError) -> str:
    """One line for an ``OSError`` of a file operation: what failed, the errno's name and the file.

    Args:
        error: the error.

    Returns:
        E.g. ``"No space left on device (ENOSPC): 'runs/x/history.json'"``.
    """
    name = errno.errorcode.get(error.errno, "") if error.errno is not None else ""
    cause = error.strerror or str(error) or type(error).__name__
    where = f" ({name})" if name else ""
    if error.filename is not None:
        where += f": {str(error.filename)!r}"
    return f"{cause}{where}"


def write_text(path: _PathT, text: str) -> _PathT:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``.

    Args:
        path: the file to write.
        text: its content.

    Returns:
        ``path``.

    Raises:
        OSError: of the write, naming ``path``.
    """
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: _PathT, data: Any, indent: int | str | None = 1) -> _PathT:
    """Write ``data`` as JSON to ``path`` atomically; returns ``path``.

    Args:
        path: the file to write.
        data: what ``json.dumps`` takes.
        indent: ``json.dumps``' indent.

    Returns:
        ``path``.

    Raises:
        OSError: of the write, naming ``path``.
        TypeError: ``data`` holds something JSON cannot encode (nothing is written).
    """
    return write_text(path, json.dumps(data, indent=indent))


def read_json(path: StrPath) -> Any:
    """The JSON content of ``path``; a ValueError naming the file when it is not valid JSON.

    Args:
        path: the file to read.

    Returns:
        The decoded content.

    Raises:
        ValueError: the file is not valid UTF-8 JSON; the message names it and says what to do.
        OSError: the file cannot be read (e.g. ``FileNotFoundError``).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{str(path)!r} is corrupt: it is not valid JSON ({error}). It was not written by this package's "
            "atomic writers or was changed since; delete it (a run then recomputes it) or start the run again "
            "with --overwrite."
        ) from None


def save_model(model: "keras.Model", path: _PathT) -> _PathT:
    """``model.save(path)`` atomically (``path`` ends in ``.keras``); returns ``path``.

    Args:
        model: the Keras model.
        path: the file to write, ending in ``.keras``.

    Returns:
        ``path``.

    Raises:
        OSError: of the write, naming ``path``.
    """
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path


def save_figure(figure: "Figure", path: _PathT, **kwargs: Any) -> _PathT:
    """``figure.savefig(path, **kwargs)`` atomically; returns ``path``.

    Args:
        figure: the matplotlib figure.
        path: the file to write (its suffix chooses the format).
        **kwargs: passed to ``savefig`` (e.g. ``dpi``).

    Returns:
        ``path``.

    Raises:
        OSError: of the write, naming ``path``.
    """
    with atomic_path(path) as temporary:
        figure.savefig(temporary, **kwargs)
    return path
