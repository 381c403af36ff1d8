"""``EpochBackupAndRestore``: a backup at every epoch end by default, and ``min_interval`` leaving out the
epoch-end backups that come sooner than that after the last one (the time-series runs' 30 s)."""

import json

import keras
import numpy as np
import pytest

from keras_attention.experiments import training
from keras_attention.experiments.training import EpochBackupAndRestore


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
    """Records, after the backup callback, the epoch the backup on disk would resume at (None: no backup)."""

    def __init__(self, metadata):
        super().__init__()
        self.metadata, self.seen = metadata, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(json.loads(self.metadata.read_text())["epoch"] if self.metadata.exists() else None)


def _backed_up_epochs(tmp_path, monkeypatch, epochs, seconds_per_epoch=10.0, **backup_options):
    clock = _Clock()
    monkeypatch.setattr(training.time, "monotonic", clock)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    backup = EpochBackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False, double_checkpoint=True,
                                   **backup_options)
    probe = _BackedUpEpoch(tmp_path / "backup" / "training_metadata.json")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), batch_size=2, epochs=epochs, verbose=0,
              callbacks=[_AdvanceClock(clock, seconds_per_epoch), backup, probe])
    return probe.seen


def test_every_epoch_end_is_backed_up_by_default(tmp_path, monkeypatch):
    assert _backed_up_epochs(tmp_path, monkeypatch, 3, seconds_per_epoch=0.0) == [1, 2, 3]


def test_a_batch_save_freq_also_backs_up_at_every_epoch_end(tmp_path, monkeypatch):
    assert _backed_up_epochs(tmp_path, monkeypatch, 3, save_freq=100) == [1, 2, 3]


def test_epoch_end_backups_sooner_than_min_interval_are_left_out(tmp_path, monkeypatch):
    # 10 s an epoch, at least 25 s between backups: epochs 3 and 6 are backed up (30 s, 60 s)
    seen = _backed_up_epochs(tmp_path, monkeypatch, 7, seconds_per_epoch=10.0, min_interval=25.0)
    assert seen == [None, None, 3, 3, 3, 6, 6]


def test_a_resumed_run_restarts_at_the_last_backed_up_epoch(tmp_path, monkeypatch):
    _backed_up_epochs(tmp_path, monkeypatch, 5, seconds_per_epoch=10.0, min_interval=25.0)  # backup at epoch 3
    started = []

    class _FirstEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), batch_size=2, epochs=5, verbose=0,
              callbacks=[EpochBackupAndRestore(str(tmp_path / "backup")), _FirstEpoch()])
    assert started == [3, 4]  # 0-based: epochs 4 and 5 are trained again


def test_negative_min_interval_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"min_interval=-1.*seconds >= 0"):
        EpochBackupAndRestore(str(tmp_path / "backup"), min_interval=-1)

