"""The output directory of a run: checked before any work, owned while the run writes, never someone else's.

A run (``keras-attention train`` / ``reproduce``) claims its ``--out`` directory in two steps:

1. :meth:`RunDirectory.check` (no side effect, called before any data is read or model trained) refuses:

   * a path that would take more than a run's own folder: ``.``, ``~``, ``/``, the working directory or
     any of its parents, the home directory or any of its parents;
   * a non-empty directory without ``--overwrite`` or ``--resume``;
   * with ``--resume`` or ``--overwrite``, a non-empty directory that holds no run manifest
     (:data:`MANIFEST_FILE`): it is not a run of this package, so it is neither continued (which would
     overwrite a user's ``model.keras``) nor deleted;
   * with ``--resume``, a run whose recorded configuration differs from this one (the error lists the
     differences): its backups would be continued with other settings;
   * a directory another live run is writing into (its lock file, :data:`LOCK_FILE`, holds that pid).

2. :meth:`RunDirectory.claim` (after the caller has validated everything else: arguments, data found,
   model builds) takes the lock atomically (``O_CREAT | O_EXCL``; a lock left by a dead process on this
   host is taken over), empties the directory when overwriting (only then is anything deleted), and
   writes the manifest: package version, command line and configuration. The lock is released when the
   process exits (or by :meth:`release`).
"""

import atexit
import datetime
import errno
import json
import os
import socket
import sys
from pathlib import Path
from keras_attention.utils.files import read_json, write_json


MANIFEST_FILE = "run.json"
LOCK_FILE = ".lock"
PACKAGE = "keras-attention"


def forbidden_reason(path):
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


def check_out_path(path, argument="--out"):
    """Raise ValueError when ``path`` may not be a run's output directory (see :func:`forbidden_reason`)."""
    reason = forbidden_reason(path)
    if reason:
        raise ValueError(f"{argument} {str(path)!r} is {reason}; a run needs an output directory of its own "
                         f"(e.g. runs/NAME), which --overwrite may replace whole.")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


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

    def __init__(self, path, config, *, overwrite=False, resume=False, command=None, argument="--out"):
        if overwrite and resume:
            raise ValueError("--overwrite and --resume exclude each other: start again, or continue.")
        self.path = Path(path)
        self.config = json.loads(json.dumps(config, default=str))  # what the manifest will hold
        self.overwrite, self.resume = overwrite, resume
        self.command = list(sys.argv if command is None else command)
        self.argument = argument
        self._locked = False

    # ------------------------------------------------------------------------------------------- check

    @property
    def manifest_path(self):
        return self.path / MANIFEST_FILE

    @property
    def lock_path(self):
        return self.path / LOCK_FILE

    def _entries(self):
        return [p for p in self.path.iterdir() if p.name != LOCK_FILE] if self.path.is_dir() else []

    def manifest(self):
        """The recorded manifest, or None when the directory holds none."""
        return read_json(self.manifest_path) if self.manifest_path.is_file() else None

    def check(self):
        """Refuse what :meth:`claim` would refuse, without changing anything (module docstring)."""
        name = f"{self.argument} {str(self.path)!r}"
        check_out_path(self.path, self.argument)
        if self.path.exists() and not self.path.is_dir():
            raise FileExistsError(f"{name} exists and is not a directory; choose a directory path.")
        self._check_lock()
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
        if self.resume:
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

    def _read_lock(self):
        try:
            return read_json(self.lock_path)
        except (OSError, ValueError):
            return {}

    def _check_lock(self):
        if not self.lock_path.exists() or self._locked:
            return
        holder = self._read_lock()
        pid, host = holder.get("pid"), holder.get("host")
        if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
            return  # left by a process that died: claim() takes it over
        raise FileExistsError(
            f"{self.argument} {str(self.path)!r} is in use by another run (pid {pid} on {host}, lock file "
            f"{str(self.lock_path)!r}); wait for it to end or choose another {self.argument}. If that run is "
            "gone, delete the lock file."
        )

    # ------------------------------------------------------------------------------------------- claim

    def _take_lock(self):
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": datetime.datetime.now().isoformat(timespec="seconds")})
        for _ in range(2):
            try:
                handle = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except OSError as error:
                if error.errno != errno.EEXIST:
                    raise
                self._check_lock()  # raises unless the holder is dead
                self.lock_path.unlink(missing_ok=True)
                continue
            with os.fdopen(handle, "w") as lock:
                lock.write(record)
            self._locked = True
            atexit.register(self.release)
            return
        self._check_lock()
        raise FileExistsError(f"Could not take the lock {str(self.lock_path)!r}; another run took it first.")

    def claim(self):
        """Check again, take the lock, empty the directory when overwriting, write the manifest; returns the path."""
        from keras_attention import __version__

        self.check()
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

    def release(self):
        """Remove the lock file if this process holds it."""
        if self._locked and self._read_lock().get("pid") == os.getpid():
            self.lock_path.unlink(missing_ok=True)
        self._locked = False


def prepare_out_dir(path, overwrite=False, resume=False, config=None, argument="--out"):
    """Check and claim ``path`` as a run's output directory at once (for callers with nothing else to
    validate first); returns the path. See :class:`RunDirectory`."""
    return RunDirectory(path, config or {}, overwrite=overwrite, resume=resume, argument=argument).claim()
