"""Crash-safe training backups, from which a resumed run continues exactly as if it had never stopped.

:class:`TrainingBackup` (a Keras callback; ``train_run`` uses it) backs up, at the end of every epoch and every
``save_freq`` batches when that is a number, everything the rest of a run depends on:

- the model's weights; its random state: the ``keras.random.SeedGenerator`` states of Dropout and every
  other random layer (``model.variables`` beyond ``model.weights``); the optimizer's variables (step
  counter, moments); inside an epoch, the metrics' running totals;
- where the run is: the next epoch, the batches of it already trained, and the number of passes started
  over the training data (:class:`DataPasses`), which fixes the order and augmentation of the epochs to come.

A backup is a directory ``backup/epochEEEEEE-batchBBBBBBBBB/`` (``E``: finished epochs, ``B``: batches of the
next one already trained) with one raw file per group of variables (:data:`GROUPS`: ``weights.bin``,
``random.bin``, ``optimizer.bin``, ``metrics.bin``) and, written last, :data:`METADATA_FILE` (where the run is,
its configuration, and every file's size, SHA-256 and variables' paths, shapes and dtypes). It is written
into ``backup/.partial-<pid>/`` and renamed into place once whole; older backups are deleted only after
that, and the newest two are kept. A run restores the newest backup whose files are all whole (the recorded
size and SHA-256) and agree with the run (each group's variable count, shapes and dtypes, the epoch within
the run's epochs, the same configuration); one that fails is named with why and the one before it is used;
when backups exist and none can be used, :class:`BackupError` names each and why. An ``OSError`` while writing
(``ENOSPC``, ``EROFS``, ...) stops training with :class:`BackupWriteError`, which names the file and the cause;
the last good backup stays in place. The caller deletes the backups (:meth:`TrainingBackup.delete`) once the
run's final files are written.

Bit-exact resume. A ``tf.data`` pipeline that reshuffles (or re-augments) every epoch draws new seeds each
time an iterator over it is made. :class:`DataPasses` wraps it so that the passes started over it (an
iterator that reads its first element) are counted; a resumed run makes, without reading them, as many
iterators over the pipeline as the backed-up run had started, so its next epoch sees the same order and the
same augmentation. Resuming a backup made inside an epoch restarts that epoch's pass and lets its first
batches go by untrained (the model's train function is replaced by one that only takes the batch, until the
backed-up batch is reached) with the metrics' running totals of that batch restored. Weights, optimizer,
random state, data order and the epoch's logs then equal those of the uninterrupted run, bit for bit, as
long as the computation itself is deterministic on that machine (it is on CPUs).
"""

import contextlib
import datetime
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_attention.utils.files import describe_os_error, fsync_directory, read_json, write_bytes, write_json

FORMAT = "keras-attention-backup/1"
METADATA_FILE = "backup.json"
GROUPS = ("weights", "random", "optimizer", "metrics")
PARTIAL_PREFIX = ".partial-"
KEEP = 2
GENERATION = re.compile(r"epoch(\d{6,})-batch(\d{9,})")
# what keras.callbacks.BackupAndRestore wrote (keras-attention <= 0.2)
LEGACY_FILES = ("latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp")


class BackupError(ValueError):
    """A backup directory holds backups and none of them can be used; the message names each and why."""


class BackupWriteError(OSError):
    """Writing a backup failed (disk full, read-only file system, ...). The message names the file and the
    cause; the last good backup is left in place."""

    def __init__(self, message: str, cause: OSError) -> None:
        super().__init__(cause.errno, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def generation_name(epoch: int, batch: int) -> str:
    """The directory name of the backup taken after ``epoch`` finished epochs and ``batch`` batches of the next."""
    return f"epoch{int(epoch):06d}-batch{int(batch):09d}"


def position_text(epoch: int, batch: int) -> str:
    """``"after epoch 3"`` or ``"in epoch 4, after batch 25"`` (1-based, as the progress bar counts)."""
    return f"after epoch {epoch}" if not batch else f"in epoch {epoch + 1}, after batch {batch}"


def variable_groups(model: Any, with_metrics: bool = True) -> dict[str, list[Any]]:
    """``{group: [variables]}`` of :data:`GROUPS`: the weights, the random state (seed generators: the model's
    variables that are not weights), the optimizer's variables, the metrics' variables (or none)."""
    weights = list(model.weights)
    seen = {id(variable) for variable in weights}
    random = [variable for variable in model.variables if id(variable) not in seen]
    optimizer = list(model.optimizer.variables) if getattr(model, "optimizer", None) is not None else []
    metrics = list(model.metrics_variables) if with_metrics else []
    return {"weights": weights, "random": random, "optimizer": optimizer, "metrics": metrics}


def _numpy_dtype(name: str) -> np.dtype:
    try:
        return np.dtype(name)
    except TypeError:  # bfloat16 and the other ml_dtypes types
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))


def _as_numpy(variable: Any) -> np.ndarray:
    array = np.asarray(keras.ops.convert_to_numpy(variable))
    return array if array.flags.c_contiguous else array.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)


def _chunks(arrays: Iterable[np.ndarray], digest: Any) -> Iterator[Any]:  # (uint8 arrays: buffers)
    for array in arrays:
        data = array.reshape(-1).view(np.uint8)
        digest.update(data)
        yield data


def _write_group(path: Path, variables: Sequence[Any], arrays: Sequence[np.ndarray]) -> dict[str, Any]:
    """Write ``arrays`` (the values of ``variables``) one after another into ``path``; their record."""
    digest = hashlib.sha256()
    write_bytes(path, _chunks(arrays, digest))
    return {"file": path.name, "bytes": int(sum(array.nbytes for array in arrays)), "sha256": digest.hexdigest(),
            "variables": [[getattr(variable, "path", None) or variable.name, list(array.shape), array.dtype.name]
                          for variable, array in zip(variables, arrays)]}


def write_variables(path: str | PathLike[str], variables: Sequence[Any]) -> dict[str, Any]:
    """Write the values of ``variables`` into ``path`` (raw, one after another, atomically, without HDF5, whose
    library crashes the process on a full disk); returns the record :func:`read_variables` checks them with
    (file, size, SHA-256, and each variable's path, shape and dtype)."""
    return _write_group(Path(path), variables, [_as_numpy(variable) for variable in variables])


def read_variables(path: str | PathLike[str], record: Mapping[str, Any], variables: Sequence[Any]) -> list[np.ndarray]:
    """The arrays :func:`write_variables` wrote into ``path`` with ``record``, checked whole and against
    ``variables`` (count, shapes, dtypes); :class:`Unusable` says why not."""
    path = Path(path)
    return _read_group(path.parent, "", {**record, "file": path.name}, variables)


def _remove(path: str | PathLike[str]) -> None:
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def generations(directory: str | PathLike[str]) -> list[Path]:
    """The backup directories in ``directory``, newest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if p.is_dir() and GENERATION.fullmatch(p.name)),
                  key=_generation_key, reverse=True)


def _generation_key(path: Path) -> tuple[int, ...]:
    """``(epoch, batch)`` of a backup directory's name (one that :data:`GENERATION` matches)."""
    match = GENERATION.fullmatch(path.name)
    assert match is not None, path  # generations() sorts only the names that match
    return tuple(int(n) for n in match.groups())


def write_backup(directory: str | PathLike[str], record: Mapping[str, Any],
                 groups: Mapping[str, tuple[Sequence[Any], Sequence[np.ndarray]]]) -> Path:
    """Write one backup into ``directory``: ``groups`` (``{group: (variables, arrays)}``), then ``record``
    (with every file's record) as :data:`METADATA_FILE`, in a partial directory renamed into place when whole.
    Before, the backups older than the newest are deleted (and any newer than this one, left by a run resumed
    from an earlier backup), so that two backups at most take space while one is written; after, the older
    ones but the one before it. Returns the backup's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / generation_name(record["epoch"], record["batch"])
    _prune(directory, final)  # first: at most the last good backup and this one take space at a time
    partial = directory / f"{PARTIAL_PREFIX}{os.getpid()}"
    _remove(partial)
    partial.mkdir()
    files = {group: _write_group(partial / f"{group}.bin", *groups[group]) for group in GROUPS}
    write_json(partial / METADATA_FILE, {"format": FORMAT, **record, "files": files})  # last
    fsync_directory(partial)
    _remove(final)
    os.replace(partial, final)
    fsync_directory(directory)
    _prune(directory, final)
    return final


def _prune(directory: Path, newest: Path) -> None:
    """Keep ``newest`` and the one backup before it; delete the others (newer ones too) and partial backups."""
    key = generations(directory)
    older = [p for p in key if p.name < newest.name]
    for stale in [p for p in key if p.name > newest.name] + older[KEEP - 1:]:
        _remove(stale)
    for entry in directory.iterdir():
        if entry.name.startswith(PARTIAL_PREFIX):
            _remove(entry)


class Unusable(Exception):
    """Why one backup cannot be used (a sentence)."""


@dataclass
class Backup:
    """One backup read back whole: its directory, its record (``backup.json``) and ``{group: [arrays]}``."""

    path: Path
    record: dict[str, Any]
    arrays: dict[str, list[np.ndarray]] = field(repr=False)

    @property
    def epoch(self) -> int:
        """The finished epochs it was taken after."""
        return int(self.record["epoch"])

    @property
    def batch(self) -> int:
        """The batches of the next epoch it was taken after."""
        return int(self.record["batch"])


def _read_group(directory: Path, group: str, entry: Mapping[str, Any], variables: Sequence[Any]) -> list[np.ndarray]:
    path = directory / entry["file"]
    if not path.is_file():
        raise Unusable(f"{str(path)!r} is missing")
    data = path.read_bytes()
    if len(data) != entry["bytes"]:
        raise Unusable(f"{str(path)!r} holds {len(data)} bytes where {entry['bytes']} were written: it was cut "
                       "short or changed")
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise Unusable(f"{str(path)!r} does not have the SHA-256 recorded when it was written: it is damaged")
    recorded = entry["variables"]
    if len(recorded) != len(variables):
        kind = f"{group} variables" if group else "variables"
        raise Unusable(f"{str(path)!r} holds {len(recorded)} {kind} and this run's model has {len(variables)}: it "
                       "belongs to another model or optimizer")
    arrays: list[np.ndarray] = []
    offset = 0
    for (name, shape, dtype), variable in zip(recorded, variables):
        expected_shape = tuple(int(d) for d in variable.shape)
        expected_dtype = keras.backend.standardize_dtype(variable.dtype)
        if tuple(shape) != expected_shape or dtype != expected_dtype:
            raise Unusable(f"{str(path)!r} holds {name} as {dtype} {tuple(shape)} and this run's variable "
                           f"{getattr(variable, 'path', variable.name)} is {expected_dtype} {expected_shape}")
        count = math.prod(shape)
        array = np.frombuffer(data, dtype=_numpy_dtype(dtype), count=count, offset=offset).reshape(shape)
        arrays.append(array)
        offset += array.nbytes
    return arrays


def read_backup(path: str | PathLike[str], groups: Mapping[str, Sequence[Any]], configuration: Mapping[str, Any] | None,
                epochs: int | None = None) -> Backup:
    """The :class:`Backup` in ``path``, checked whole and against this run: ``groups`` (``{group:
    [variables]}``; a group left out is not read), ``configuration`` (must equal the recorded one), ``epochs``
    (the run's epochs: the backup may not be past them). Raises :class:`Unusable` saying why not."""
    path = Path(path)
    metadata = path / METADATA_FILE
    if not metadata.is_file():
        raise Unusable(f"{str(metadata)!r} is missing (it is written last: the backup was not finished)")
    try:
        record = read_json(metadata)
    except (OSError, ValueError) as error:
        raise Unusable(str(error)) from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise Unusable(f"{str(metadata)!r} is not a {FORMAT} record")
    try:
        epoch, batch = int(record["epoch"]), int(record["batch"])
        files = record["files"]
    except (KeyError, TypeError, ValueError):
        raise Unusable(f"{str(metadata)!r} lacks the epoch, the batch or the files") from None
    if path.name != generation_name(epoch, batch) or epoch < 0 or batch < 0:
        raise Unusable(f"{str(metadata)!r} records epoch {epoch} batch {batch}, which is not its directory's")
    if epochs is not None and (epoch > epochs or (epoch == epochs and batch)):
        raise Unusable(f"it was taken {position_text(epoch, batch)}, past the {epochs} epochs this run trains")
    saved = record.get("configuration")
    if saved != configuration:
        keys = sorted(set(saved or {}) | set(configuration or {}))
        differences = [f"{key}: backed up {(saved or {}).get(key)!r}, now {(configuration or {}).get(key)!r}"
                       for key in keys if (saved or {}).get(key) != (configuration or {}).get(key)]
        raise Unusable(f"it was written by a run with another configuration ({'; '.join(differences)})")
    arrays: dict[str, list[np.ndarray]] = {}
    for group, variables in groups.items():
        if group not in files:
            raise Unusable(f"{str(metadata)!r} records no {group} file")
        arrays[group] = _read_group(path, group, files[group], variables)
    return Backup(path, record, arrays)


def legacy_files(directory: str | PathLike[str]) -> list[Path]:
    """The files of a keras.callbacks.BackupAndRestore backup (keras-attention 0.2) in ``directory``."""
    return [Path(directory) / name for name in LEGACY_FILES if (Path(directory) / name).exists()]


def choose_backup(directory: str | PathLike[str], groups_for: Callable[[dict[str, Any]], Mapping[str, Sequence[Any]]],
                  configuration: Mapping[str, Any] | None, epochs: int | None = None
                  ) -> tuple[Backup | None, list[tuple[Path, str]]]:
    """``(backup, rejected)``: the newest usable :class:`Backup` in ``directory`` (None when there is none) and
    ``[(path, why)]`` for the newer ones that could not be used. ``groups_for(record)`` gives the groups to
    read for a record. Raises :class:`BackupError` when backups exist and none can be used."""
    rejected: list[tuple[Path, str]] = []
    for path in generations(directory):
        try:
            record = read_json(path / METADATA_FILE) if (path / METADATA_FILE).is_file() else {}
        except (OSError, ValueError):
            record = {}
        try:
            return read_backup(path, groups_for(record), configuration, epochs), rejected
        except Unusable as why:
            rejected.append((path, str(why)))
    legacy = legacy_files(directory)
    if rejected or legacy:
        reasons = [f"{str(path)!r}: {why}" for path, why in rejected]
        if legacy:
            reasons.append(f"{str(legacy[0])!r} is a backup of keras-attention 0.2 (keras.callbacks.BackupAndRestore), "
                           "which cannot be checked whole or resumed exactly")
        raise BackupError(
            f"No backup in {str(directory)!r} can be used to resume: {'; '.join(reasons)}. Start the run again "
            f"(--overwrite), or remove {str(directory)!r} to train from the first epoch in the same directory.")
    return None, rejected


# ---------------------------------------------------------------------------------------------- data passes


class DataPasses:
    """A ``tf.data`` pipeline (``wrapped``) that counts the passes started over ``dataset``.

    A pass starts when an iterator reads its first element; an iterator that is made and dropped unread
    (Keras makes the next epoch's iterator at the end of each epoch) is not a pass and draws no seeds.
    :meth:`fast_forward` makes the next pass the ``n``-th without reading anything: every iterator made over
    ``dataset`` draws the next reshuffle (and ``Dataset.random``) seeds when it is made. ``wrapped`` keeps
    ``dataset``'s element spec, options and cardinality."""

    def __init__(self, dataset: Any) -> None:
        import tensorflow as tf

        self.dataset = dataset
        with tf.device("/CPU:0"):
            self._started = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_passes")
        counter = self._started

        @tf.autograph.experimental.do_not_convert
        def start(_: Any) -> Any:
            return counter.assign_add(1)

        @tf.autograph.experimental.do_not_convert
        def one_pass(_: Any) -> Any:
            return dataset

        wrapped = tf.data.Dataset.from_tensors(np.int64(0)).map(start).flat_map(one_pass)
        cardinality = int(dataset.cardinality())
        if cardinality >= 0 or cardinality == int(tf.data.INFINITE_CARDINALITY):
            wrapped = wrapped.apply(tf.data.experimental.assert_cardinality(cardinality))
        self.wrapped = wrapped.with_options(dataset.options())

    @property
    def started(self) -> int:
        """The passes started so far."""
        return int(self._started.numpy())

    def fast_forward(self, passes: int) -> bool:
        """Make the next pass the ``passes``-th (0-based); False (and nothing changed) when more have started."""
        missing = int(passes) - self.started
        if missing < 0:
            return False
        for _ in range(missing):
            iter(self.dataset)  # made and dropped: its seeds are drawn, nothing is read
        self._started.assign(int(passes))
        return True


# ------------------------------------------------------------------------------------------------ callback


class TrainingBackup(keras.callbacks.Callback):
    """Backs up the training state (module docstring) and restores it when training begins.

    Args:
        directory: the backup directory (``out_dir/backup`` in ``train_run``).
        save_freq: ``"epoch"`` (a backup at every epoch end), or a number of batches between backups, on top of
            the epoch ends.
        min_interval: seconds; an epoch-end backup sooner than this after the last backup is left out (runs of
            many short epochs; a kill then retrains at most that much), except the last epoch's. The first
            epoch-end backup comes ``min_interval`` seconds after training starts; batch backups are not affected.
        configuration: a JSON-serialisable dict recorded in every backup; a backup with another one is not
            used. The batches per epoch and the Keras backend are added to it.
        data_passes: the :class:`DataPasses` of the training data, whose pass count is backed up and
            restored (None: the data order is not restored).
        verbose: print a line when a run resumes (a backup that cannot be used, or a data order that cannot be
            restored, is always named on stderr).
    """

    def __init__(self, directory: str | PathLike[str], save_freq: str | int = "epoch", min_interval: float = 0.0,
                 configuration: dict[str, Any] | None = None, data_passes: DataPasses | None = None,
                 verbose: bool = True) -> None:
        super().__init__()
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"save_freq={save_freq!r}: expected 'epoch' or a number of batches >= 1.")
        if min_interval < 0:
            raise ValueError(f"min_interval={min_interval!r}: expected seconds >= 0.")
        self.directory = Path(directory)
        self.save_freq = save_freq
        self.min_interval = float(min_interval)
        self.configuration = json.loads(json.dumps(configuration or {}, default=str))
        self.data_passes = data_passes
        self.verbose = verbose
        self.restored: Backup | None = None  # the Backup a run resumed from
        self._last_backup = time.monotonic()
        self._epoch = 0
        self._batches_done = 0  # of the current epoch
        self._since_backup = 0  # batches since the last backup
        # (epoch, batch, metric arrays) of a backup taken inside an epoch
        self._resume_metrics: tuple[int, int, list[np.ndarray] | None] | None = None
        self._skip_until = 0
        self._train_function: Any = None

    # ------------------------------------------------------------------------------------------- state
    def _run_configuration(self) -> dict[str, Any]:
        steps = (self.params or {}).get("steps")
        return {**self.configuration, "batches_per_epoch": steps, "backend": keras.backend.backend()}

    def _strategy_scope(self) -> Any:
        strategy = getattr(self.model, "distribute_strategy", None) if keras.backend.backend() == "tensorflow" else None
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    def _build_optimizer(self) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            with self._strategy_scope():
                optimizer.build(self.model.trainable_variables)

    def _build_metrics(self) -> bool:
        """Create the compiled metrics' variables now (Keras creates them at the first step under TensorFlow),
        from the training data's element spec; False when that is not possible."""
        compiled = getattr(self.model, "_compile_metrics", None)
        if compiled is None or compiled.built:
            return True
        if self.data_passes is None:
            return False
        try:
            with self._strategy_scope():
                self.model._symbolic_build(data_batch=self.data_passes.dataset.element_spec)
        except Exception:  # noqa: BLE001 (an internal API: without it only the resumed epoch's logs differ)
            return False
        return bool(compiled.built)

    def _groups_for(self, record: Mapping[str, Any]) -> dict[str, list[Any]]:
        groups = variable_groups(self.model, with_metrics=False)
        if int(record.get("batch", 0) or 0) and self._build_metrics():
            groups["metrics"] = list(self.model.metrics_variables)
        else:
            groups.pop("metrics")
        return groups

    def _say(self, text: str, error: bool = False) -> None:
        if self.verbose or error:
            print(text, file=sys.stderr if error else sys.stdout, flush=True)

    # ----------------------------------------------------------------------------------------- restore
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Restore the newest usable backup, if any (class docstring)."""
        self._last_backup = time.monotonic()
        self._since_backup = 0
        self._resume_metrics = None
        self._build_optimizer()
        epochs = (self.params or {}).get("epochs")
        backup, rejected = choose_backup(self.directory, self._groups_for, self._run_configuration(), epochs)
        for path, why in rejected:
            self._say(f"backup {str(path)!r} not used: {why}", error=True)
        self.restored = backup
        if backup is None:
            return
        for group, arrays in backup.arrays.items():
            if group == "metrics":
                continue
            for variable, array in zip(variable_groups(self.model)[group], arrays):
                variable.assign(array)
        if "metrics" in backup.arrays:
            self._resume_metrics = (backup.epoch, backup.batch, backup.arrays["metrics"])
        elif backup.batch:
            self._say(f"backup {str(backup.path)!r}: the metrics of epoch {backup.epoch + 1} count only its "
                      "batches trained after the resume (their totals could not be restored)", error=True)
        if backup.batch:
            self._resume_metrics = self._resume_metrics or (backup.epoch, backup.batch, None)
        self.model._initial_epoch = backup.epoch  # what keras.callbacks.BackupAndRestore sets: fit starts there
        passes = backup.record.get("data_passes")
        if self.data_passes is not None and passes is not None and not self.data_passes.fast_forward(passes):
            self._say(f"backup {str(backup.path)!r}: the data order cannot be restored ({self.data_passes.started} "
                      f"passes over the training data already started, the backup needs pass {passes}); the "
                      "resumed run's batches differ from an uninterrupted run's", error=True)
        self._say(f"resuming {position_text(backup.epoch, backup.batch)} from the backup {str(backup.path)!r}")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Restore the metrics of a backup taken inside this epoch and let its trained batches go by."""
        self._epoch = epoch
        self._batches_done = 0
        if self._resume_metrics is None or self._resume_metrics[0] != epoch:
            return
        _, batch, arrays = self._resume_metrics
        self._resume_metrics = None
        if arrays is not None:
            for variable, array in zip(self.model.metrics_variables, arrays):
                variable.assign(array)
        self._skip(batch)

    def _skip(self, batches: int) -> None:
        """Let the next ``batches`` batches go by without training: the model's train function takes them and
        returns the metrics as restored, until :meth:`on_train_batch_begin` reaches batch ``batches``."""
        model = self.model
        logs = model.get_metrics_result()
        steps = int(getattr(model, "steps_per_execution", 1) or 1)
        def take(iterator: Any) -> None:
            with contextlib.suppress(StopIteration):  # (Keras ends the epoch on the iterator's end)
                for _ in range(steps):
                    next(iterator)

        # one signature for the three backends' calls (mypy wants the variants identical)
        if keras.backend.backend() == "jax":  # train_function(state, iterator), as Keras' JAX trainer calls it
            def skip(*args: Any) -> Any:
                state, iterator = args
                take(iterator)
                return logs, state
        elif keras.backend.backend() == "tensorflow":  # train_function(iterator)
            def skip(*args: Any) -> Any:
                (iterator,) = args
                take(iterator)
                return logs
        else:  # torch: train_function(data), the batches already taken
            def skip(*args: Any) -> Any:
                return logs
        self._train_function = model.train_function
        self._skip_until = batches
        model.train_function = skip

    def _stop_skipping(self) -> None:
        if self._train_function is not None:
            self.model.train_function = self._train_function
            self._train_function = None
        self._skip_until = 0

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Give the model its train function back once the resumed run reaches the backed-up batch."""
        if self._train_function is not None and batch >= self._skip_until:
            self._stop_skipping()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Count the batch; back up every ``save_freq`` batches."""
        done = batch + 1
        if self._train_function is not None:  # a batch the resumed run let go by: the state is a later one's
            self._batches_done = done
            return
        self._since_backup += max(done - self._batches_done, 0)
        self._batches_done = done
        if isinstance(self.save_freq, int) and self._since_backup >= self.save_freq:  # (not "epoch")
            self.save(self._epoch, done)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Back up at the epoch end (unless sooner than ``min_interval``; the last epoch always)."""
        self._stop_skipping()
        last = epoch + 1 >= (self.params or {}).get("epochs", math.inf)
        if last or time.monotonic() - self._last_backup >= self.min_interval:
            self.save(epoch + 1, 0)  # the last epoch always: a kill before the final save then loses nothing

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Give the model its own train function back."""
        self._stop_skipping()

    def detach(self) -> None:
        """Give the model its own train function back (after a ``fit`` that stopped while batches were let go by)."""
        if self.model is not None:
            self._stop_skipping()

    # -------------------------------------------------------------------------------------------- save
    def save(self, epoch: int, batch: int) -> None:
        """Back up the state after ``epoch`` finished epochs and ``batch`` batches of the next one."""
        model = self.model
        if batch and hasattr(model, "jax_state_sync"):
            model.jax_state_sync()  # JAX keeps the state outside the variables inside an epoch
        groups = variable_groups(model, with_metrics=bool(batch))
        values = {group: (variables, [_as_numpy(v) for v in variables]) for group, variables in groups.items()}
        passes = None
        if self.data_passes is not None:
            passes = self.data_passes.started - (1 if batch else 0)  # inside an epoch: its pass again
        record = {"epoch": int(epoch), "batch": int(batch), "data_passes": passes,
                  "configuration": self._run_configuration(),
                  "written": datetime.datetime.now().isoformat(timespec="seconds")}
        try:
            write_backup(self.directory, record, values)
        except OSError as error:
            with contextlib.suppress(OSError):
                _remove(self.directory / f"{PARTIAL_PREFIX}{os.getpid()}")
            last = generations(self.directory)
            kept = (f"the last good backup, {str(last[0])!r}, is kept and --resume continues from it" if last else
                    "there is no earlier backup: a run started again trains from the first epoch")
            raise BackupWriteError(f"could not write the backup {position_text(epoch, batch)}: "
                                   f"{describe_os_error(error)}; {kept}", error) from error
        self._last_backup = time.monotonic()
        self._since_backup = 0

    def delete(self) -> None:
        """Delete the backups (call it once the run's final files are written; what cannot be deleted stays, a
        finished run's ``--resume`` does not read it)."""
        shutil.rmtree(self.directory, ignore_errors=True)
