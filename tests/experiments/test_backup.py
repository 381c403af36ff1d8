"""Training backups (keras_attention.experiments.backup, through train_run): a resumed run ends with the weights,
history and test metrics of the uninterrupted run, bit for bit; a write that fails at any byte (a full disk)
stops the run with an error naming the file and keeps the last good backup; a damaged backup is named and the
one before it used; a run killed after its last epoch resumes without training."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from full_disk import Disk, target

from keras_attention.data import image_dataset
from keras_attention.experiments import backup as backup_module
from keras_attention.experiments import training
from keras_attention.experiments.backup import (
    METADATA_FILE,
    BackupError,
    BackupWriteError,
    DataPasses,
    TrainingBackup,
    generations,
)
from keras_attention.experiments.training import BACKUP_DIR, train_run
from keras_attention.utils import files

pytestmark = pytest.mark.tensorflow_only

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3


class Killed(Exception):
    """What a kill is to the run: it stops wherever it is, nothing after that point runs."""


class Kill(keras.callbacks.Callback):
    """Stops training after epoch ``epoch`` (0-based) ends, or after batch ``batch`` (1-based count) of it."""

    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.batch is not None and self.current == self.epoch and batch + 1 == self.batch:
            raise Killed

    def on_epoch_end(self, epoch, logs=None):
        if self.batch is None and epoch == self.epoch:
            raise Killed


def build():
    """A model with random state of its own (Dropout's seed generator) on 8x8 digits."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Dropout(0.3)(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def train(out, epochs=EPOCHS, kill=None, limit=160, **options):
    """One process' run: Keras' state cleared, the seed set, the pipelines built (reshuffled and augmented
    every epoch, as the image experiments' are), then ``train_run``; ``kill`` stops it with :class:`Killed`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    train_ds = image_dataset("digits", "train", batch_size=32, shuffle=True, seed=0, augment=True, limit=limit)
    test_ds = image_dataset("digits", "test", batch_size=64, limit=64)
    return train_run(build, train_ds, epochs=epochs, out_dir=out, val_ds=test_ds, test_ds=test_ds, verbose=0,
                     callbacks=[kill] if kill else [], **options)


def interrupted(out, kill, **options):
    with pytest.raises(Killed):
        train(out, kill=kill, **options)


def history(out):
    return {int(k): v for k, v in json.loads((Path(out) / "history.json").read_text())["epochs"].items()}


def numbers(out):
    """What a run computed: per epoch every metric (not its wall time), the test metrics and the steps."""
    result = json.loads((Path(out) / "result.json").read_text())
    per_epoch = {e: {k: v for k, v in rec.items() if k not in ("seconds", "finished_at")}
                 for e, rec in history(out).items()}
    return per_epoch, result["test"], result["optimizer_steps"]


def assert_same_run(run, reference):
    for ours, theirs in zip(run.model.get_weights(), reference.model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert numbers(run.out_dir) == numbers(reference.out_dir)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    return train(tmp_path_factory.mktemp("uninterrupted") / "run")


# ---------------------------------------------------------------------------------------- bit-exact resume


def test_a_run_killed_after_epoch_1_resumes_to_the_uninterrupted_run(tmp_path, reference, capsys):
    interrupted(tmp_path, Kill(0))
    assert [p.name for p in generations(tmp_path / BACKUP_DIR)] == ["epoch000001-batch000000000"]
    before = history(tmp_path)
    resumed = train(tmp_path)
    assert "resuming after epoch 1 from the backup" in capsys.readouterr().out
    assert_same_run(resumed, reference)
    assert history(tmp_path)[0]["finished_at"] == before[0]["finished_at"]  # epoch 1 was not trained again
    assert not (tmp_path / BACKUP_DIR).exists()  # deleted once result.json was written


def test_a_run_killed_inside_an_epoch_resumes_from_its_start_to_the_uninterrupted_run(tmp_path, reference):
    interrupted(tmp_path, Kill(1, batch=3))
    assert [p.name for p in generations(tmp_path / BACKUP_DIR)] == ["epoch000001-batch000000000"]
    assert_same_run(train(tmp_path), reference)


def test_a_backup_inside_an_epoch_resumes_at_its_batch_to_the_uninterrupted_run(tmp_path, reference, capsys):
    # backups every 2 batches: the kill after batch 3 of epoch 2 leaves the one after its batch 2; the resumed
    # run lets the epoch's first 2 batches go by untrained, with the metrics' totals of batch 2 restored
    interrupted(tmp_path, Kill(1, batch=3), backup_freq=2)
    assert generations(tmp_path / BACKUP_DIR)[0].name == "epoch000001-batch000000002"
    resumed = train(tmp_path, backup_freq=2)
    assert "resuming in epoch 2, after batch 2 from the backup" in capsys.readouterr().out
    assert_same_run(resumed, reference)


def test_without_the_data_order_restored_the_resumed_run_differs(tmp_path, reference, monkeypatch):
    # the setting of these tests is one where the data order matters (reshuffled, augmented): the passes
    # restored above are what makes the resumed runs equal
    monkeypatch.setattr(DataPasses, "fast_forward", lambda self, passes: True)
    interrupted(tmp_path, Kill(0))
    resumed = train(tmp_path)
    assert any(not np.array_equal(a, b) for a, b in zip(resumed.model.get_weights(), reference.model.get_weights()))


JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    sys.path[:0] = [sys.argv[2], str(Path(sys.argv[2]).parent)]
    import keras, numpy as np
    import test_backup as t
    assert keras.backend.backend() == "jax"
    out = Path(sys.argv[1])
    reference = t.train(out / "reference", epochs=2)
    equal = {}
    for name, kill, options in (("after-epoch-1", t.Kill(0), {}), ("inside-epoch-2", t.Kill(1, 3), {"backup_freq": 2})):
        try:
            t.train(out / name, epochs=2, kill=kill, **options)
        except t.Killed:
            pass
        resumed = t.train(out / name, epochs=2, **options)
        equal[name] = (all(np.array_equal(a, b) for a, b in zip(resumed.model.get_weights(),
                                                                reference.model.get_weights()))
                       and t.numbers(out / name) == t.numbers(out / "reference"))
    print(json.dumps(equal))
""")


def test_resume_is_bit_exact_under_jax_too(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path), str(Path(__file__).parent)],
                            capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"after-epoch-1": True, "inside-epoch-2": True}


# ----------------------------------------------------------------------------------- a disk that fills up


def usable_backups(out):
    """The names of the backups left in ``out``, each read back whole against the model (nothing trained)."""
    keras.backend.clear_session()
    model = training.compile_classifier(build())
    model.optimizer.build(model.trainable_variables)
    groups = backup_module.variable_groups(model, with_metrics=False)
    groups.pop("metrics")
    for path in generations(out / BACKUP_DIR):
        backup_module.read_backup(path, groups, json.loads((path / METADATA_FILE).read_text())["configuration"])
    return [path.name for path in generations(out / BACKUP_DIR)]


def test_a_disk_that_fills_up_at_any_write_stops_the_run_with_an_error_and_keeps_the_last_good_backup(
        tmp_path, monkeypatch):
    recorder = Disk()
    monkeypatch.setattr(files, "write_chunk", recorder)
    reference = train(tmp_path / "reference", epochs=2)
    monkeypatch.undo()
    log = recorder.files()  # per epoch end: history.json, then the backup's files, backup.json last; result.json
    assert [target(path) for path, _ in log] == ["history", "weights", "random", "optimizer", "backup"] * 2 + [
        "result"]  # (metrics.bin: empty at an epoch end)
    # the disk is full in the middle of every file, and at the first byte of the first backup's first and last file
    points = [(i, size // 2) for i, (_, size) in enumerate(log)] + [(1, 0), (4, 0)]
    resumed = {}
    for failed, offset in points:
        out = tmp_path / f"full-in-file-{failed}-at-{offset}"
        monkeypatch.setattr(files, "write_chunk", Disk(full_at=(failed, offset)))
        with pytest.raises(OSError) as raised:
            train(out, epochs=2)
        monkeypatch.undo()
        message = str(raised.value) if isinstance(raised.value, BackupWriteError) else files.describe_os_error(
            raised.value)  # (history.json, result.json: the OSError itself, which the command line describes so)
        assert "No space left on device (ENOSPC)" in message and str(out) in message, message
        finished = sum(target(path) == "backup" for path, _ in log[:failed])  # backups written whole before
        assert usable_backups(out) == [f"epoch{e:06d}-batch000000000" for e in range(finished, 0, -1)]
        assert not list((out / BACKUP_DIR).glob(".partial-*"))  # a partial backup never stays
        if target(log[failed][0]) in ("weights", "random", "optimizer", "backup"):
            assert isinstance(raised.value, BackupWriteError)
            assert f"could not write the backup after epoch {finished + 1}:" in message
            assert ("is kept and --resume continues from it" in message) == bool(finished)
        resumed.setdefault((target(log[failed][0]), finished), out)
    # the run goes on from what was kept, to the uninterrupted run's end: a backup of epoch 2 cut short, the
    # history of epoch 2 cut short, result.json cut short
    for case in (("weights", 1), ("history", 1), ("result", 2)):
        assert_same_run(train(resumed[case], epochs=2), reference)


def test_a_disk_full_write_names_the_file_and_its_cause(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "write_chunk", Disk(full_at=(0, 10)))
    with pytest.raises(OSError) as raised:
        files.write_json(tmp_path / "result.json", {"top1": 0.5, "top5": 0.9})
    assert str(raised.value).startswith("[Errno 28] No space left on device")
    described = files.describe_os_error(raised.value)
    assert described == f"No space left on device (ENOSPC): {str(tmp_path / 'result.json')!r}"
    assert list(tmp_path.iterdir()) == []  # the temporary file went with the error


# ------------------------------------------------------------------------------------------ damaged backups


def test_a_damaged_backup_is_named_and_the_one_before_it_used(tmp_path, reference, capsys):
    interrupted(tmp_path, Kill(1))
    newest, previous = generations(tmp_path / BACKUP_DIR)
    assert (newest.name, previous.name) == ("epoch000002-batch000000000", "epoch000001-batch000000000")
    weights = newest / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:-7])  # cut short
    resumed = train(tmp_path)
    captured = capsys.readouterr()
    assert f"backup {str(newest)!r} not used: {str(weights)!r} holds" in captured.err and "cut short" in captured.err
    assert "resuming after epoch 1 from the backup" in captured.out
    assert_same_run(resumed, reference)


@pytest.mark.parametrize("damage", ["flip a byte", "no metadata", "garbage metadata"])
def test_when_no_backup_can_be_used_the_error_names_each(tmp_path, damage):
    interrupted(tmp_path, Kill(1))
    backups = generations(tmp_path / BACKUP_DIR)
    for backup in backups:
        if damage == "flip a byte":
            data = bytearray((backup / "optimizer.bin").read_bytes())
            data[len(data) // 2] ^= 1
            (backup / "optimizer.bin").write_bytes(bytes(data))
        elif damage == "no metadata":
            (backup / METADATA_FILE).unlink()
        else:
            (backup / METADATA_FILE).write_text('{"format": ')
    with pytest.raises(BackupError) as raised:
        train(tmp_path)
    message = str(raised.value)
    for backup in backups:
        assert repr(str(backup)) in message
    assert {"flip a byte": "is damaged", "no metadata": "is missing (it is written last",
            "garbage metadata": "is corrupt: it is not valid JSON"}[damage] in message
    assert "--overwrite" in message


def test_a_backup_of_another_configuration_or_a_keras_backup_is_not_resumed(tmp_path):
    interrupted(tmp_path, Kill(0))
    with pytest.raises(BackupError, match=r"another configuration \(learning_rate: backed up 0.001, now 0.01\)"):
        train(tmp_path, learning_rate=0.01)
    with pytest.raises(BackupError, match="holds 4 weights variables and this run's model has 2"):
        keras.backend.clear_session()
        train_ds = image_dataset("digits", "train", batch_size=32, shuffle=True, seed=0, limit=160)
        train_run(lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                            keras.layers.Dense(10, activation="softmax")]),
                  train_ds, epochs=EPOCHS, out_dir=tmp_path, verbose=0)
    legacy = tmp_path / "legacy"
    (legacy / BACKUP_DIR).mkdir(parents=True)
    (legacy / BACKUP_DIR / "latest.weights.h5").write_bytes(b"half an HDF5 file")
    with pytest.raises(BackupError, match=r"latest.weights.h5' is a backup of keras-attention 0.2"):
        train(legacy)


def test_a_kill_while_a_backup_is_written_leaves_the_previous_one(tmp_path, reference, monkeypatch):
    real = backup_module.write_json

    def killed_before_the_metadata(path, data, indent=1):
        if Path(path).name == METADATA_FILE and data["epoch"] == 2:
            raise Killed
        return real(path, data, indent)

    monkeypatch.setattr(backup_module, "write_json", killed_before_the_metadata)
    interrupted(tmp_path, None)
    monkeypatch.undo()
    assert [p.name for p in generations(tmp_path / BACKUP_DIR)] == ["epoch000001-batch000000000"]
    assert list((tmp_path / BACKUP_DIR).glob(".partial-*"))  # what the kill left: not a backup
    assert_same_run(train(tmp_path), reference)


# ------------------------------------------------------------------------------------ nearly finished runs


def test_a_kill_after_the_last_epoch_resumes_without_training(tmp_path, reference, monkeypatch):
    def killed(model, path):
        raise Killed

    monkeypatch.setattr(training, "save_model", killed)
    interrupted(tmp_path, None)
    monkeypatch.undo()
    assert not (tmp_path / "model.keras").exists()
    assert generations(tmp_path / BACKUP_DIR)[0].name == f"epoch{EPOCHS:06d}-batch000000000"
    before = history(tmp_path)
    resumed = train(tmp_path)
    assert history(tmp_path) == before  # no epoch trained again
    assert_same_run(resumed, reference)
    assert (tmp_path / "model.keras").exists() and not (tmp_path / BACKUP_DIR).exists()


# ------------------------------------------------------------------------------------- when backups are taken


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _AdvanceClock(keras.callbacks.Callback):
    """Moves the fake clock on by ``seconds`` at every epoch end (runs before the backup callback)."""

    def __init__(self, clock, seconds):
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def on_epoch_end(self, epoch, logs=None):
        self.clock.now += self.seconds


class _BackedUpEpoch(keras.callbacks.Callback):
    """Records, after the backup callback, the epoch the newest backup on disk resumes at (None: none)."""

    def __init__(self, directory):
        super().__init__()
        self.directory, self.seen = directory, []

    def on_epoch_end(self, epoch, logs=None):
        newest = generations(self.directory)
        self.seen.append(json.loads((newest[0] / METADATA_FILE).read_text())["epoch"] if newest else None)


def _backed_up_epochs(tmp_path, monkeypatch, epochs, seconds_per_epoch=10.0, kill=None, **backup_options):
    clock = _Clock()
    monkeypatch.setattr(backup_module.time, "monotonic", clock)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    probe = _BackedUpEpoch(tmp_path / "backup")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), batch_size=2, epochs=epochs, verbose=0,
              callbacks=[_AdvanceClock(clock, seconds_per_epoch), TrainingBackup(tmp_path / "backup", **backup_options),
                         probe, *([kill] if kill else [])])
    return probe.seen


def test_every_epoch_end_is_backed_up_by_default(tmp_path, monkeypatch):
    assert _backed_up_epochs(tmp_path, monkeypatch, 3, seconds_per_epoch=0.0) == [1, 2, 3]


def test_a_batch_save_freq_also_backs_up_at_every_epoch_end(tmp_path, monkeypatch):
    assert _backed_up_epochs(tmp_path, monkeypatch, 3, save_freq=100) == [1, 2, 3]


def test_epoch_end_backups_sooner_than_min_interval_are_left_out(tmp_path, monkeypatch):
    # 10 s an epoch, at least 25 s between backups: epochs 3 and 6 are backed up (30 s, 60 s), and the last one
    seen = _backed_up_epochs(tmp_path, monkeypatch, 7, seconds_per_epoch=10.0, min_interval=25.0)
    assert seen == [None, None, 3, 3, 3, 6, 7]
    assert [p.name for p in generations(tmp_path / "backup")] == ["epoch000007-batch000000000",
                                                                  "epoch000006-batch000000000"]  # the last two


def test_a_resumed_fit_restarts_at_the_last_backed_up_epoch(tmp_path, monkeypatch):
    with pytest.raises(Killed):  # killed after epoch 5 of 6: the last backup is epoch 3's
        _backed_up_epochs(tmp_path, monkeypatch, 6, seconds_per_epoch=10.0, min_interval=25.0, kill=Kill(4))
    started = []

    class _FirstEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), batch_size=2, epochs=6, verbose=0,
              callbacks=[TrainingBackup(tmp_path / "backup", verbose=False), _FirstEpoch()])
    assert started == [3, 4, 5]  # 0-based: epochs 4 to 6 are trained again


@pytest.mark.parametrize("options,message", [({"min_interval": -1}, r"min_interval=-1.*seconds >= 0"),
                                             ({"save_freq": 0}, r"save_freq=0: expected 'epoch' or a number"),
                                             ({"save_freq": "batch"}, r"save_freq='batch'")])
def test_bad_backup_options_are_refused(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        TrainingBackup(tmp_path / "backup", **options)
