"""No command loses what a user saved: output-directory checks, run manifests, locks and atomic files
(keras_attention.experiments.run_directory, keras_attention.utils.files, and the CLI that uses them)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keras_attention.cli import build_parser, main
from keras_attention.cli.common import run_config
from keras_attention.data import images as images_module
from keras_attention.experiments.artifacts import EpochHistory
from keras_attention.experiments.run_directory import LOCK_FILE, MANIFEST_FILE, RunDirectory, check_out_path
from keras_attention.utils.files import atomic_path, read_json, write_json, write_text

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "1", "--width", "0.5"]


@pytest.fixture
def offline(monkeypatch):
    """tensorflow-datasets sees no network (at once, instead of minutes of retries)."""
    monkeypatch.setattr(images_module, "_probe_network", lambda timeout=None: "blocked by the test")


def _user_files(directory):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.keras").write_bytes(b"the user's own model")
    (directory / "notes.txt").write_text("keep me")
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _package_run(directory, argv=TRAIN):
    """A directory claimed as a run of ``argv`` (manifest written), with a trained-model stand-in, unlocked."""
    args = build_parser().parse_args([*argv, "--out", str(directory)])
    args.argv = [*argv, "--out", str(directory)]
    run = RunDirectory(directory, run_config(args), command=["keras-attention", *args.argv])
    run.claim()
    (directory / "model.keras").write_bytes(b"an earlier run's model")
    run.release()
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _contents(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


# ----------------------------------------------------------------------------------------- --out paths


@pytest.mark.parametrize("out", [".", "..", "~", "/"])
def test_out_may_not_be_the_working_tree_home_or_root(tmp_path, monkeypatch, capsys, out):
    work = tmp_path / "home" / "project"
    saved = _user_files(work)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main([*TRAIN, "--out", out, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out!r} is" in err and "output directory of its own" in err
    assert _contents(work) == saved
    with pytest.raises(ValueError, match="parent of the working directory"):
        check_out_path(tmp_path)
    check_out_path(work / "runs" / "x")  # a folder of its own is fine


def test_overwrite_validates_everything_before_replacing(tmp_path, offline, capsys):
    run = tmp_path / "runs" / "x"
    saved = _package_run(run)
    empty = tmp_path / "no-data"
    empty.mkdir()
    # a data set that cannot be found: the old run stays whole
    assert main([*TRAIN[:3], "--dataset", "mnist", "--data-dir", str(empty), "--out", str(run), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "'mnist'" in err and "was not found" in err and "blocked by the test" in err
    assert _contents(run) == saved
    # a model that cannot be built: the old run stays whole
    assert main(["train", "--model", "lenet5", "--conv", "aw", "--dataset", "digits", "--out", str(run),
                 "--overwrite"]) == 2
    assert _contents(run) == saved
    # reproduce with a missing data set: an error, not a silent fall back to digits, and nothing replaced
    assert main(["reproduce", "san-lenet", "--dataset", "fashion_mnist", "--data-dir", str(empty), "--quick",
                 "--out", str(run), "--overwrite"]) == 2
    assert "'fashion_mnist'" in capsys.readouterr().err
    assert _contents(run) == saved


def test_overwrite_and_resume_refuse_a_directory_the_package_did_not_write(tmp_path, capsys):
    mine = tmp_path / "mine"
    saved = _user_files(mine)
    for flag in ("--overwrite", "--resume"):
        assert main([*TRAIN, "--out", str(mine), flag]) == 2
        err = capsys.readouterr().err
        assert f"holds no {MANIFEST_FILE}" in err and ("deleted" if flag == "--overwrite" else "continued") in err
        assert _contents(mine) == saved


def test_resume_with_another_configuration_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    saved = _package_run(run)
    assert main([*TRAIN, "--seed", "3", "--width", "0.25", "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "another configuration" in err and "seed: saved 0, now 3" in err and "width: saved 0.5, now 0.25" in err
    assert _contents(run) == saved
    manifest = read_json(run / MANIFEST_FILE)
    assert manifest["package"] == "keras-attention" and manifest["config"]["model"] == "lenet5"
    assert manifest["command"][:2] == ["keras-attention", "train"] and "--resume" not in manifest["command"]


def test_overwrite_replaces_a_package_run_and_writes_a_new_manifest(tmp_path):
    run = tmp_path / "run"
    _package_run(run)
    (run / "stale").mkdir()
    (run / "stale" / "old.json").write_text("{}")
    args = build_parser().parse_args([*TRAIN, "--seed", "5", "--out", str(run), "--overwrite"])
    RunDirectory(run, run_config(args), overwrite=True).claim()
    assert sorted(p.name for p in run.iterdir()) == sorted([LOCK_FILE, MANIFEST_FILE])
    assert read_json(run / MANIFEST_FILE)["config"]["seed"] == 5


# ----------------------------------------------------------------------------------------------- locks


# what these scripts import of the package: no layers, no TensorFlow (keras_attention takes "-m" for the command)
LIGHT_IMPORT = "import sys; sys.argv[0] = '-m'\n"

HOLDER = LIGHT_IMPORT + textwrap.dedent("""
    from keras_attention.experiments.run_directory import FileLock
    FileLock(sys.argv[1]).acquire()
    print("HOLDING", flush=True)
    sys.stdin.read()
""")


def test_a_live_lock_refuses_a_second_run_and_a_dead_ones_lock_is_free(tmp_path, capsys):
    run = tmp_path / "run"
    saved = _package_run(run)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run / LOCK_FILE)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert holder.stdout.readline().strip() == "HOLDING"
        assert main([*TRAIN, "--out", str(run), "--resume"]) == 2
        err = capsys.readouterr().err
        assert f"in use by another run (pid {holder.pid} on " in err and "released when that process ends" in err
        assert _contents(run) == {**saved, LOCK_FILE: (run / LOCK_FILE).read_bytes()}
    finally:
        holder.kill()  # SIGKILL: no clean-up, the lock file stays with the dead pid in it
        holder.wait()
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == holder.pid
    args = build_parser().parse_args([*TRAIN, "--out", str(run), "--resume"])
    directory = RunDirectory(run, run_config(args), resume=True)
    directory.claim()  # the kernel released the dead process' lock: no pid to check
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
    directory.release()
    assert not (run / LOCK_FILE).exists()


@pytest.mark.parametrize("content", ["", "garbage", '{"pid": null}', "[1, 2]"])
def test_an_empty_or_garbage_lock_file_is_not_a_live_lock(tmp_path, content):
    run = tmp_path / "run"
    _package_run(run)
    (run / LOCK_FILE).write_text(content)
    args = build_parser().parse_args([*TRAIN, "--out", str(run), "--resume"])
    directory = RunDirectory(run, run_config(args), resume=True).check()
    directory.claim()
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
    directory.release()


RACER = LIGHT_IMPORT + textwrap.dedent("""
    import time
    from pathlib import Path
    from keras_attention.experiments.run_directory import RunDirectory
    run, go, done = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    directory = RunDirectory(run, {"k": 1}, resume=True, command=["racer"])
    print("READY", flush=True)
    while not go.exists():
        pass
    try:
        directory.claim()
    except FileExistsError as error:
        print("REFUSED", error, flush=True)
    else:
        print("CLAIMED", flush=True)
    while not done.exists():
        time.sleep(0.01)
""")


@pytest.mark.parametrize("stale", ["", "garbage", "dead"])
def test_many_runs_racing_for_one_directory_never_both_hold_it(tmp_path, stale):
    # eight processes take over the same stale lock at once, five times: exactly one holds it each time (the
    # earlier lock, a check, an unlink and an O_EXCL create, was taken twice in 19 of 150 such trials)
    run = tmp_path / "run"
    first = RunDirectory(run, {"k": 1}, command=["racer"])
    first.claim()
    first.release()
    if stale == "dead":
        dead = subprocess.Popen([sys.executable, "-c", HOLDER, str(run / LOCK_FILE)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert dead.stdout.readline().strip() == "HOLDING"
        dead.kill()
        dead.wait()
    for trial in range(5):
        if stale != "dead":
            (run / LOCK_FILE).write_text(stale)
        go, done = tmp_path / f"go{trial}", tmp_path / f"done{trial}"
        racers = [subprocess.Popen([sys.executable, "-c", RACER, str(run), str(go), str(done)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
        try:
            assert all(racer.stdout.readline().strip() == "READY" for racer in racers)
            go.touch()
            outcomes = [racer.stdout.readline().strip() for racer in racers]  # every racer has tried
        finally:
            done.touch()
            errors = [racer.communicate(timeout=60)[1] for racer in racers]
        assert sum(outcome == "CLAIMED" for outcome in outcomes) == 1, (outcomes, errors)
        assert all(o == "CLAIMED" or "in use by another run" in o for o in outcomes), outcomes


def test_two_runs_started_together_into_one_directory_only_one_is_accepted(tmp_path):
    script = LIGHT_IMPORT + textwrap.dedent("""
        import time
        from keras_attention.experiments.run_directory import RunDirectory
        start = float(sys.argv[2])
        while time.time() < start:
            time.sleep(0.001)
        try:
            RunDirectory(sys.argv[1], {"k": 1}).claim()
        except FileExistsError as error:
            print("REFUSED", error)
            sys.exit(3)
        print("CLAIMED")
        time.sleep(3)
    """)
    import time

    start = str(time.time() + 4)  # both processes have imported run_directory by then
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "shared"), start],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    codes = sorted(proc.returncode for proc in procs)
    assert codes == [0, 3], outputs
    refused = next(out for out, _ in outputs if out.startswith("REFUSED"))
    assert "in use by another run" in refused or "exists and is not empty" in refused


# ----------------------------------------------------------------------------------------- atomic files


def test_atomic_writes_leave_the_old_file_or_the_new_one(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"top1": 0.5})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text('{"top1": 0.')  # killed half-way: the target is untouched
            raise RuntimeError("killed")
    assert read_json(target) == {"top1": 0.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
    write_text(tmp_path / "results.md", "| a |\n")
    assert (tmp_path / "results.md").read_text() == "| a |\n"


def test_a_corrupted_history_gets_an_error_naming_it(tmp_path):
    history = tmp_path / "history.json"
    history.write_text('{"epochs": {"0": {"loss": 1.2')  # what a kill during a plain write left
    with pytest.raises(ValueError, match=rf"{str(history)!r} is corrupt: it is not valid JSON"):
        EpochHistory(history)
    with pytest.raises(ValueError, match="result.json' is corrupt"):
        (tmp_path / "result.json").write_text("")
        read_json(tmp_path / "result.json")


# ---------------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("option,value", [("--learning-rate", "inf"), ("--learning-rate", "nan"),
                                          ("--learning-rate", "0"), ("--learning-rate", "-1"),
                                          ("--width", "inf"), ("--width", "0")])
def test_non_finite_or_non_positive_numbers_are_refused_before_work(tmp_path, capsys, option, value):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as info:
        main([*TRAIN, option, value, "--out", str(out)])
    assert info.value.code == 2
    assert f"argument {option}: expected a finite number > 0, got {value}" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------------------------ a fast command line


def _imported_modules(args):
    """Top-level module names a ``python -m keras_attention.cli ARGS`` process imported, and the result."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "keras_attention.cli", *args],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    names = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return names, result


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["reproduce", "--help"], ["list"],
                                  ["train", "--model", "nope", "--dataset", "digits"],
                                  ["train", "--model", "lenet5", "--dataset", "digits", "--width", "inf"]])
def test_help_and_argument_errors_import_no_tensorflow(args):
    names, result = _imported_modules(args)
    assert "keras_attention" in names and "argparse" in names
    assert not names & {"tensorflow", "keras", "tensorflow_datasets", "jax", "torch"}, sorted(names)
    if "--help" in args or args == ["list"]:  # `list` reads the catalogs only: about a second
        assert result.returncode == 0
        assert args != ["list"] or "san-lenet" in result.stdout
    else:
        assert result.returncode == 2 and "error: argument" in result.stderr


def _refusals(tmp_path):
    """Command lines the command refuses before TensorFlow (its import takes seconds), with what it says."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("a user's")
    out = ["--out", str(tmp_path / "never")]
    return [
        ([*TRAIN, "--seed", "-1", *out],
         "argument --seed: expected an integer seed in 0 .. 2**32 - 1 (4294967295), got -1"),
        ([*TRAIN, "--seed", str(2**32), *out], f"expected an integer seed in 0 .. 2**32 - 1 (4294967295), got {2**32}"),
        ([*TRAIN[:3], "--dataset", "nope", *out], "argument --dataset: invalid choice: 'nope' (choose from "),
        ([*TRAIN, "--data-dir", str(a_file), *out], f"argument --data-dir: {str(a_file)!r} is a file, not a directory"),
        ([*TRAIN, "--data-dir", str(tmp_path / "missing"), *out],
         f"argument --data-dir: {str(tmp_path / 'missing')!r} does not exist"),
        ([*TRAIN, "--out", str(a_file / "run")], f"{str(a_file)!r} is a file, not a directory"),
        ([*TRAIN, "--out", str(taken)], "exists and is not empty; pass --overwrite"),
        (["reproduce", "san-lenet", "--dataset", "nope", *out], "--dataset 'nope' is not known"),
        (["sparsify", str(a_file), "--sparsity", "0.5", "--dataset", "nope", "--out", str(tmp_path / "never.keras")],
         "argument --dataset: invalid choice: 'nope'"),
        (["racknet", "analyze", "--dataset", "nope", "--out", str(tmp_path / "never.json")],
         "argument --dataset: invalid choice: 'nope'"),
        (["reproduce", "san-lenet", "--first-seed", str(2**32 - 1), "--seeds", "2", *out],
         "goes past the largest seed"),
        (["reproduce", "san-lenet", "--out", str(a_file / "run")], "is a file, not a directory"),
    ]


def test_odd_inputs_get_one_line_answers_before_tensorflow(tmp_path):
    for args, message in _refusals(tmp_path):
        names, result = _imported_modules(args)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        lines = [line for line in result.stderr.splitlines() if line and not line.startswith("import time:")]
        assert len(lines) == 1 and message in lines[0], (args, lines)
        assert not names & {"tensorflow", "keras", "tensorflow_datasets", "jax", "torch"}, (args, sorted(names))
        assert not (tmp_path / "never").exists()  # nothing half-made


def test_resume_of_a_finished_train_run_answers_before_tensorflow(tmp_path):
    run = tmp_path / "run"
    _package_run(run, [*TRAIN, "--batch-size", "128"])  # (what the command records: its default batch)
    write_json(run / "result.json", {"test": {"top1": 0.5, "top5": 0.9}})
    names, result = _imported_modules([*TRAIN, "--out", str(run), "--resume"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"the run in {str(run)!r} is complete (test top-1 50.00%, top-5 90.00%): nothing to resume" in result.stdout
    assert not names & {"tensorflow", "keras"}, sorted(names)


def test_help_shows_defaults_and_choices(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("(default: 10)", "(default: 0.001)", "fashion_mnist", "digits", "lenet5", "san-d"):
        assert expected in text
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("san-lenet", "isparse-lenet", "racknet", "sdma", "xm2a-ablation", "awconv"):
        assert name in text


def test_the_command_line_catalogue_names_every_registered_experiment():
    from keras_attention.experiments.registry import EXPERIMENT_MODULES, list_experiments

    registered = list_experiments()
    assert set(registered) == set(EXPERIMENT_MODULES)
    for name, experiment in registered.items():
        assert experiment.run.__module__.endswith(EXPERIMENT_MODULES[name]) or name in registered


# ---------------------------------------------------------------------- loading without the package


def test_loading_a_package_model_needs_the_package_imported(tmp_path):
    save = textwrap.dedent(f"""
        import keras
        from keras_attention.layers import SAN
        inputs = keras.Input((8, 8, 1))
        conv = keras.layers.Conv2D(2, 3, padding="same")(inputs)
        keras.Model(inputs, SAN()([inputs, conv])).save({str(tmp_path / 'san.keras')!r})
    """)
    subprocess.run([sys.executable, "-c", save], check=True, timeout=120, capture_output=True)
    load = "import keras; keras.saving.load_model({!r}, safe_mode=True); print('LOADED')"
    bare = subprocess.run([sys.executable, "-c", load.format(str(tmp_path / "san.keras"))],
                          capture_output=True, text=True, timeout=120)
    assert bare.returncode != 0
    # Keras' own message names the class and the module to import
    assert "ScaleSpaceAttention" in bare.stderr and "keras_attention" in bare.stderr
    imported = subprocess.run([sys.executable, "-c", "import keras_attention; " + load.format(
        str(tmp_path / "san.keras"))], capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0 and "LOADED" in imported.stdout, imported.stderr[-2000:]


def test_the_command_shows_no_tensorflow_start_up_lines():
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "keras_attention.cli", "list"], capture_output=True, text=True,
                            timeout=180, cwd=ROOT, env=env)
    assert result.returncode == 0 and "san-lenet" in result.stdout
    for noise in ("oneDNN", "cuda", "absl::InitializeLog", "cpu_feature_guard"):
        assert noise not in result.stderr, result.stderr[-2000:]
