"""The command line under faults and odd inputs: Ctrl-C says how to continue and exits 130, a full disk or a
read-only folder is one line naming the file, a finished run is not trained again, VGG + SPANet takes --k."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
from full_disk import Disk, target

from keras_attention.cli import interrupted_line, main
from keras_attention.utils import files

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--model", "lenet5", "--dataset", "digits", "--width", "0.5", "--limit", "200", "--batch-size", "16"]


def _history(out):
    try:
        return json.loads((out / "history.json").read_text())["epochs"]
    except (OSError, ValueError, KeyError):
        return {}


def test_ctrl_c_prints_one_line_saying_how_to_continue_and_exits_130(tmp_path):
    out = tmp_path / "run"
    # 1,000 epochs (about 100 s here) cannot end while a starved poller wakes up: the SIGINT lands in training,
    # never in the process' exit after training (with 40 epochs, 4 s, a loaded machine once let it land there)
    cmd = [sys.executable, "-m", "keras_attention.cli", *TRAIN, "--epochs", "1000", "--out", str(out)]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (list(out.glob("backup/epoch*")) and _history(out)) and time.time() < deadline \
                and proc.poll() is None:
            time.sleep(0.1)  # an epoch trained, recorded and backed up
        assert proc.poll() is None, "training ended before Ctrl-C"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert err.strip().splitlines() == [
        f"keras-attention train: interrupted; run the same command with --resume to continue from the last backup "
        f"in {str(out)!r}"], err[-3000:]
    assert (out / "backup").is_dir() and not (out / "model.keras").exists()
    assert 1 <= len(_history(out)) < 1000  # it stopped in training, after a backed-up epoch


def test_the_interrupted_line_before_and_after_the_output_is_claimed():
    class Args:
        command, resume, overwrite = "reproduce", False, True

    args = Args()
    assert interrupted_line(args) == "keras-attention reproduce: interrupted"
    args.planned_out = Path("runs/x")
    assert interrupted_line(args) == "keras-attention reproduce: interrupted before anything was written to 'runs/x'"
    args.claimed_out = Path("runs/x")
    assert interrupted_line(args) == ("keras-attention reproduce: interrupted; run the same command with --resume "
                                      "instead of --overwrite to continue from the last backup in 'runs/x'")
    args.resume = True
    assert "run the same command again to continue" in interrupted_line(args)


@pytest.mark.parametrize("full_at", ["history", "weights"])
def test_a_full_disk_is_one_line_naming_the_file_and_resume_continues(tmp_path, monkeypatch, capsys, full_at):
    args = [*TRAIN, "--epochs", "2"]
    recorder = Disk()
    monkeypatch.setattr(files, "write_chunk", recorder)
    assert main(args + ["--out", str(tmp_path / "reference")]) == 0
    monkeypatch.undo()
    # the disk fills up in the second epoch's history.json, or in the first file of its backup
    written = recorder.files()
    failed = [i for i, (path, _) in enumerate(written) if target(path) == full_at][1]
    out = tmp_path / "run"
    capsys.readouterr()
    monkeypatch.setattr(files, "write_chunk", Disk(full_at=(failed, written[failed][1] // 2)))
    assert main(args + ["--out", str(out)]) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()
    first = "No space left on device (ENOSPC)" if full_at == "history" else "could not write the backup"
    assert len(err) == 1 and err[0].startswith(f"keras-attention train: error: {first}"), err
    if full_at == "history":
        assert f"(ENOSPC): {str(out / 'history.json')!r}" in err[0]
        assert err[0].endswith(f"; the run in {str(out)!r} keeps its last good backup: fix that, then run the same "
                               "command with --resume")
    else:
        assert "could not write the backup after epoch 2: No space left on device (ENOSPC): " in err[0]
        assert str(out / "backup") in err[0] and "is kept and --resume continues from it" in err[0]
    assert not (out / "model.keras").exists()
    assert main(args + ["--out", str(out), "--resume"]) == 0
    assert (out / "model.keras").exists() and sorted(_history(out)) == ["0", "1"]


def test_resume_of_a_finished_run_says_so_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    args = [*TRAIN, "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    printed = capsys.readouterr().out
    assert f"the run in {str(out)!r} is complete (test top-1 " in printed and "nothing to resume" in printed
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()} == before


def test_an_out_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main([*TRAIN, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"keras-attention train: error: --out {str(tmp_path / 'run')!r} cannot be written: Read-only file "
                   f"system (EROFS): {str(tmp_path)!r}."]
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions bind a user, not root")
def test_an_out_folder_without_write_permission_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main([*TRAIN, "--out", str(locked / "run")]) == 2
    finally:
        locked.chmod(0o700)
    assert "cannot be written: Permission denied (EACCES)" in capsys.readouterr().err


def test_vgg_with_spanet_at_32x32_takes_k_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "vgg"
    args = ["train", "--model", "vgg16", "--attention", "spanet", "--dataset", "digits", "--width", "0.125",
            "--epochs", "1", "--limit", "48", "--batch-size", "16", "--out", str(out)]
    # SPANet's default k, 8, does not fit the last block's 2x2 map: the error names the --k that does
    assert main(args) == 2
    assert "exceeds the number of positions H*W=4" in capsys.readouterr().err.replace("\n", " ")
    assert not out.exists()
    assert main(args + ["--k", "4"]) == 0
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    spanets = [layer for layer in model.layers if type(layer).__name__ == "SalientPositionsAttention"]
    assert len(spanets) == 5 and {layer.k for layer in spanets} == {4}
    assert json.loads((out / "run.json").read_text())["config"]["k"] == 4


def test_the_k_hint_names_the_positions(tmp_path, capsys):
    assert main(["train", "--model", "vgg19", "--attention", "spanet", "--dataset", "digits", "--width", "0.125",
                 "--out", str(tmp_path / "vgg")]) == 2
    assert "Pass --k 4 or less" in capsys.readouterr().err
    assert main(["train", "--model", "vgg16", "--attention", "cbam", "--k", "2", "--dataset", "digits",
                 "--out", str(tmp_path / "vgg")]) == 2
    assert "--k 2 (salient positions) applies only to --attention spanet; got --attention cbam" in \
        capsys.readouterr().err
