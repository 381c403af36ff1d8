"""Crash-safe files: every result a run writes appears whole or not at all.

Each writer writes a temporary file beside the target (same directory, so the same file system; same
suffix, so Keras and matplotlib recognise the format), flushes it to disk and renames it over the target
(``os.replace``, atomic on POSIX and Windows). A kill at any moment leaves either the old file or the
new one, never a truncated one; the temporary file is removed when the write fails. Readers of JSON
name the file when it cannot be parsed, instead of a bare ``JSONDecodeError``.
"""

import contextlib
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; when the block ends without an error it replaces ``path``."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    return path


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
