"""The output directory of a run: checked before any work, owned while the run writes, never someone else's.

A run (``keras-attention train`` / ``reproduce``) claims its ``--out`` directory in two steps:

1. :meth:`RunDirectory.check` (no side effect, called before any data is read or model trained) refuses:

   * a path that would take more than a run's own folder: ``.``, ``~``, ``/``, the working directory or
     any of its parents, the home directory or any of its parents;
   * a path that cannot be written: under a file, or in a folder that refuses a new file (read-only file
     system, no permission), found by creating and removing a probe file (:func:`check_writable`);
   * a non-empty directory without ``--overwrite`` or ``--resume``;
   * with ``--resume`` or ``--overwrite``, a non-empty directory that holds no run manifest
     (:data:`MANIFEST_FILE`): it is not a run of this package, so it is neither continued (which would
     overwrite a user's ``model.keras``) nor deleted;
   * with ``--resume``, a run whose recorded configuration differs from this one (the error lists the
     differences): its backups would be continued with other settings;
   * a directory another live run is writing into: one whose lock file, :data:`LOCK_FILE`, is locked.

2. :meth:`RunDirectory.claim` (after the caller has validated everything else: arguments, data found,
   model builds) takes the lock, empties the directory when overwriting (only then is anything deleted), and
   writes the manifest: package version, command line and configuration. The lock is released when the
   process exits (or by :meth:`release`).

The lock (:class:`FileLock`) is the operating system's advisory lock on the lock file (``fcntl.flock``;
``msvcrt.locking`` on Windows): the kernel gives it to one process at a time and releases it when that process
ends, however it ends (a kill, a crash), so a dead run's lock is free and two runs can never both hold it. The
file's content (pid, host, start time of the holder) only names the holder in the error; an empty or garbage
lock file that no process has locked is free.
"""

import atexit
import datetime
import errno
import json
import os
import socket
import sys
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from keras_attention.experiments.artifacts import LOCK, MANIFEST
from keras_attention.utils.files import describe_os_error, read_json, write_json

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]  # (the module or None: what the lock functions test)
    import msvcrt


MANIFEST_FILE = MANIFEST  # (the names of 0.2.0)
LOCK_FILE = LOCK
PACKAGE = "keras-attention"


def forbidden_reason(path: str | PathLike[str]) -> str | None:
    """Why ``path`` may not be a run's output directory (None when it may)."""
    target = Path(path).expanduser().resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if target == Path(target.anchor):
        return "the file-system root"
    if target == cwd:
        return "the working directory"
    if target in cwd.parents:
        return "a parent of the working directory"
    if target == home:
        return "the home directory"
    if target in home.parents:
        return "a parent of the home directory"
    return None


def check_out_path(path: str | PathLike[str], argument: str = "--out") -> None:
    """Raise ValueError when ``path`` may not be a run's output directory (see :func:`forbidden_reason`)."""
    reason = forbidden_reason(path)
    if reason:
        raise ValueError(f"{argument} {str(path)!r} is {reason}; a run needs an output directory of its own "
                         f"(e.g. runs/NAME), which --overwrite may replace whole.")


def check_writable(path: str | PathLike[str], argument: str = "--out") -> None:
    """Raise ValueError naming ``argument`` when the directory ``path`` cannot be made or written in: a part of
    it is a file, or its nearest existing folder refuses a new file (read-only, no permission; a probe file
    is created there and removed)."""
    import tempfile

    path = Path(path).expanduser()
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{argument} {str(path)!r}: {str(existing)!r} is a file, not a directory; choose a "
                         "directory path.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".keras-attention-probe-", dir=existing)
    except OSError as error:
        raise ValueError(f"{argument} {str(path)!r} cannot be written: {describe_os_error(error)}.") from None
    os.close(handle)
    os.unlink(probe)


class LockHeld(Exception):
    """Another process holds the lock; ``holder`` is its record (pid, host, since), ``{}`` when unreadable."""

    def __init__(self, holder: dict[str, Any]) -> None:
        super().__init__(holder)
        self.holder = holder


def _try_lock(handle: int) -> None:
    """Lock the open file ``handle`` (a descriptor) now, or raise LockHeld."""
    try:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            raise LockHeld({}) from None
        raise


def _unlock(handle: int) -> None:
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)


class FileLock:
    """An exclusive lock on the file ``path`` that the operating system holds for this process (module
    docstring): :meth:`acquire` takes it or raises :class:`LockHeld`, :meth:`release` (or the end of the
    process) gives it back, :meth:`held_elsewhere` asks whether another process holds it."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        self._handle: int | None = None

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._handle is not None

    def holder(self) -> dict[str, Any]:
        """The record the holder wrote in the file (``{}`` when it is empty, garbage or unreadable)."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def held_elsewhere(self) -> bool:
        """True when another process holds the lock (nothing is created or changed)."""
        if self.held:
            return False
        try:
            handle = os.open(self.path, os.O_RDONLY)
        except OSError:  # no lock file: nobody holds it
            return False
        try:
            _try_lock(handle)
        except LockHeld:
            return True
        else:
            _unlock(handle)
            return False
        finally:
            os.close(handle)

    def acquire(self) -> "FileLock":
        """Take the lock now and write this process' record into the file; :class:`LockHeld` (with the
        holder's record) when another process holds it."""
        for _ in range(100):
            handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _try_lock(handle)
            except LockHeld:
                os.close(handle)
                raise LockHeld(self.holder()) from None
            except BaseException:
                os.close(handle)
                raise
            try:  # the file this lock is on must still be the one at `path` (a releasing holder unlinks it)
                current = os.path.samestat(os.fstat(handle), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                self._handle = handle
                record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                     "since": datetime.datetime.now().isoformat(timespec="seconds")})
                os.ftruncate(handle, 0)
                os.lseek(handle, 0, os.SEEK_SET)
                os.write(handle, record.encode())
                return self
            _unlock(handle)
            os.close(handle)
        raise LockHeld(self.holder())

    def release(self) -> None:
        """Give the lock back (the file is removed first, while still held, where the system allows it)."""
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        if fcntl is not None:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass
        try:
            _unlock(handle)
        finally:
            os.close(handle)


class RunDirectory:
    """One run's output directory (module docstring).

    Args:
        path: the directory.
        config: a JSON-serialisable dict of the settings that make this run what it is; ``--resume``
            requires the recorded one to be equal.
        overwrite, resume: the user's ``--overwrite`` / ``--resume``.
        command: the command line recorded in the manifest (default ``sys.argv``).
        argument: the option name used in error messages.
    """

    def __init__(self, path: str | PathLike[str], config: dict[str, Any], *, overwrite: bool = False,
                 resume: bool = False, command: Sequence[str] | None = None, argument: str = "--out") -> None:
        if overwrite and resume:
            raise ValueError("--overwrite and --resume exclude each other: start again, or continue.")
        self.path = Path(path)
        self.config = json.loads(json.dumps(config, default=str))  # what the manifest will hold
        self.overwrite, self.resume = overwrite, resume
        self.command = list(sys.argv if command is None else command)
        self.argument = argument
        self._lock = FileLock(self.lock_path)

    # ------------------------------------------------------------------------------------------- check

    @property
    def manifest_path(self) -> Path:
        """The run's manifest file."""
        return self.path / MANIFEST_FILE

    @property
    def lock_path(self) -> Path:
        """The run's lock file."""
        return self.path / LOCK_FILE

    def _entries(self) -> list[Path]:
        return [p for p in self.path.iterdir() if p.name != LOCK_FILE] if self.path.is_dir() else []

    def manifest(self) -> Any:
        """The recorded manifest, or None when the directory holds none."""
        return read_json(self.manifest_path) if self.manifest_path.is_file() else None

    def check(self, lock: bool = True, config: bool = True) -> "RunDirectory":
        """Refuse what :meth:`claim` would refuse, without changing anything (module docstring); ``lock=False``
        leaves out whether another run holds the lock (:meth:`claim` finds out by taking it), ``config=False``
        the comparison of a resumed run's configuration (for a check before the configuration is known)."""
        name = f"{self.argument} {str(self.path)!r}"
        check_out_path(self.path, self.argument)
        if self.path.exists() and not self.path.is_dir():
            raise FileExistsError(f"{name} exists and is not a directory; choose a directory path.")
        check_writable(self.path, self.argument)
        if lock and self._lock.held_elsewhere():
            raise self._in_use(self._lock.holder())
        if not self._entries():
            return self
        manifest = self.manifest()
        if not (self.overwrite or self.resume):
            raise FileExistsError(f"Output directory {str(self.path)!r} exists and is not empty; pass --overwrite "
                                  "to replace it or --resume to continue the run saved there.")
        if manifest is None or manifest.get("package") != PACKAGE:
            flag = "--resume" if self.resume else "--overwrite"
            raise FileExistsError(
                f"Output directory {str(self.path)!r} exists, is not empty and holds no {MANIFEST_FILE} of a "
                f"{PACKAGE} run: {flag} acts only on a run this package wrote, so nothing there is "
                f"{'continued' if self.resume else 'deleted'}. Choose another {self.argument}."
            )
        if self.resume and config:
            recorded = manifest.get("config", {})
            differences = [f"{key}: saved {recorded.get(key)!r}, now {self.config.get(key)!r}"
                           for key in sorted(set(recorded) | set(self.config))
                           if recorded.get(key) != self.config.get(key)]
            if differences:
                raise ValueError(
                    f"--resume: the run in {str(self.path)!r} was started with another configuration "
                    f"({'; '.join(differences)}); its backups belong to that one. Resume with the same "
                    f"settings, or start this configuration with another {self.argument} (or --overwrite)."
                )
        return self

    def _in_use(self, holder: dict[str, Any]) -> FileExistsError:
        pid, host, since = holder.get("pid"), holder.get("host"), holder.get("since")
        who = f"pid {pid} on {host}, since {since}" if pid else "its record cannot be read"
        return FileExistsError(
            f"{self.argument} {str(self.path)!r} is in use by another run ({who}; it holds the lock on "
            f"{str(self.lock_path)!r}); wait for it to end or choose another {self.argument}. The lock is the "
            "operating system's: it is released when that process ends, however it ends."
        )

    # ------------------------------------------------------------------------------------------- claim

    def _take_lock(self) -> None:
        if self._lock.held:
            return
        try:
            self._lock.acquire()
        except LockHeld as held:
            raise self._in_use(held.holder) from None
        atexit.register(self.release)

    def claim(self) -> Path:
        """Check again, take the lock, empty the directory when overwriting, write the manifest; returns the path."""
        from keras_attention import __version__

        self.check(lock=False)  # whether another run holds the lock is found by taking it
        self.path.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        existing = self.manifest() if self.resume else None
        if self.overwrite:
            import shutil

            for entry in self._entries():
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        if existing is None:
            write_json(self.manifest_path, {
                "package": PACKAGE,
                "version": __version__,
                "command": self.command,
                "config": self.config,
                "started": datetime.datetime.now().isoformat(timespec="seconds"),
            })
        return self.path

    def release(self) -> None:
        """Give the lock back (and remove the lock file) if this process holds it."""
        self._lock.release()


def prepare_out_dir(path: str | PathLike[str], overwrite: bool = False, resume: bool = False,
                    config: dict[str, Any] | None = None, argument: str = "--out") -> Path:
    """Check and claim ``path`` as a run's output directory at once (for callers with nothing else to
    validate first); returns the path. See :class:`RunDirectory`."""
    return RunDirectory(path, config or {}, overwrite=overwrite, resume=resume, argument=argument).claim()
