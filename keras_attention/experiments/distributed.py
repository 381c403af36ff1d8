"""Training on several machines (workers): two routes that work with Keras 3.

Keras 3's ``Model.fit`` cannot train across workers under ``tf.distribute.MultiWorkerMirroredStrategy``
(it fails reducing the first batch, keras-team/keras#20585; the maintainers point to JAX +
``keras.distribution``). This module offers both working routes:

* TensorFlow: :func:`train_multiworker`, a custom training loop under ``MultiWorkerMirroredStrategy``
  (``TF_CONFIG`` names the workers). Each worker reads the same GLOBAL batches;
  ``strategy.experimental_distribute_dataset`` hands every replica its part of each batch, the loss is the
  sparse categorical cross-entropy averaged over the global batch (``tf.nn.compute_average_loss``) plus the
  model's regularization losses scaled per replica (``tf.nn.scale_regularization_loss``), and the optimizer,
  applied in replica context, all-reduces the gradients. It writes what the single-machine ``train_run``
  writes: ``history.json`` (every finished epoch), backups after every epoch that a re-run resumes from,
  ``training_curves.png``, ``model.keras`` and ``result.json`` (chief only).
* JAX: :func:`initialize_data_parallel` (``KERAS_BACKEND=jax``) joins the processes with
  ``keras.distribution.initialize`` (coordinator address, process count and id from its arguments, else
  from SLURM's variables) and sets ``keras.distribution.DataParallel`` over every device of every process;
  ``Model.fit`` then trains data-parallel: every process passes the same global-batch ``tf.data`` pipeline,
  Keras gives each process its slice of every batch.

``tf.distribute.MirroredStrategy`` on one machine (``--strategy mirrored``) is unchanged by this module.
:func:`make_strategy` makes the strategy of ``keras-attention --strategy`` / ``--distribution`` (checking
``TF_CONFIG`` with :func:`check_tf_config`), :func:`worker_out_dir` says where each process of such a run writes.
"""

import os
import re
import time
from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from keras_attention.experiments.artifacts import (
    BACKUP_DIR,
    CURVES,
    HISTORY,
    MODEL,
    RESULT,
    EpochHistory,
    RunResult,
    worker_dir,
)
from keras_attention.experiments.optimizers import make_optimizer
from keras_attention.utils.files import save_model, write_json

COORDINATOR_ENV = "KERAS_ATTENTION_COORDINATOR"
COORDINATOR_PORT_ENV = "KERAS_ATTENTION_COORDINATOR_PORT"
DEFAULT_COORDINATOR_PORT = 12355  # used when neither the port variable nor SLURM_JOB_ID is set
DEFAULT_COLLECTIVE_TIMEOUT = 300  # seconds a collective waits for the other workers before it fails


# ----------------------------------------------------------------------------------------------------------
# TensorFlow: MultiWorkerMirroredStrategy + a custom training loop
# ----------------------------------------------------------------------------------------------------------


class WorkerLostError(RuntimeError):
    """A collective operation failed or timed out: another worker died, hangs or cannot be reached."""


def make_multiworker_strategy(timeout_seconds: float | None = DEFAULT_COLLECTIVE_TIMEOUT) -> Any:
    """``tf.distribute.MultiWorkerMirroredStrategy`` whose collectives fail after ``timeout_seconds``
    (None: wait forever) instead of hanging when a worker dies. It reads ``TF_CONFIG``; call it before
    TensorFlow runs any operation (collectives are configured at start-up)."""
    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def worker_role(strategy: Any) -> tuple[str | None, int, bool]:
    """``(task_type, task_id, is_chief)`` of this process in ``strategy``'s cluster (chief: the ``chief``
    task, else worker 0, as in TensorFlow's multi-worker guide; a strategy without a cluster is chief)."""
    resolver: Any = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    task_id = getattr(resolver, "task_id", None) or 0
    if task_type is None:
        return None, 0, True
    cluster = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)
    return task_type, task_id, chief


def train_multiworker(
    build_model: Callable[[], Any],
    train_ds: Any,
    *,
    epochs: int,
    out_dir: str | PathLike[str],
    test_ds: Any = None,
    strategy: Any = None,
    learning_rate: float = 1e-3,
    optimizer: Any = "adam",
    from_logits: bool = False,
    timeout_seconds: float | None = DEFAULT_COLLECTIVE_TIMEOUT,
    verbose: bool = True,
    extra: dict[str, Any] | None = None,
) -> RunResult:
    """Train ``build_model()`` on ``train_ds`` for ``epochs`` epochs across the workers of ``TF_CONFIG``.

    Every worker runs this function with the same arguments. ``train_ds`` yields ``(x, y)`` batches of the
    GLOBAL batch size (every worker builds the same pipeline; the strategy gives each replica its part of
    each batch), ``y`` integer labels, ``build_model()`` a model ending in a softmax (``from_logits=False``)
    or in logits. ``strategy`` defaults to :func:`make_multiworker_strategy` (``timeout_seconds``); create it
    (or call this function) before TensorFlow runs any operation. ``optimizer``: see :func:`make_optimizer`.

    Loss: sparse categorical cross-entropy averaged over the global batch plus the model's regularization
    losses, i.e. what one machine computes on the whole batch. BatchNormalization layers compute statistics
    per replica unless they are ``synchronized=True``.

    Files in ``out_dir`` (the chief's; every other worker writes its copies into its own
    :func:`~keras_attention.experiments.artifacts.worker_dir`, ``<out_dir>.worker<i>``):
    ``history.json`` (per finished epoch: loss, top1, seconds), ``backup/`` (a ``tf.train.Checkpoint`` of
    the model, the optimizer and the epoch counter after every epoch; a re-run with the same ``out_dir``
    resumes after the last finished epoch, every worker from its own copy, and they must agree),
    ``training_curves.png``, ``model.keras`` and ``result.json`` (test loss / top1 / top5 when ``test_ds``;
    ``extra``, a dict, is added to it, as in ``train_run``).
    A worker that dies makes the others fail with :class:`WorkerLostError` within ``timeout_seconds``.
    Returns a :class:`~keras_attention.experiments.artifacts.RunResult`.
    """
    import tensorflow as tf

    from keras_attention.experiments.plots import plot_training_curves

    strategy = strategy or make_multiworker_strategy(timeout_seconds)
    task_type, task_id, chief = worker_role(strategy)
    out_dir = Path(out_dir)
    own_dir = out_dir if chief else worker_dir(out_dir, task_id)
    backup_dir = own_dir / BACKUP_DIR
    own_dir.mkdir(parents=True, exist_ok=True)
    backup_dir.mkdir(parents=True, exist_ok=True)

    with strategy.scope():
        model = build_model()
        opt = make_optimizer(optimizer, learning_rate)
        opt.build(model.trainable_variables)
    epoch_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="finished_epochs")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=opt, epoch=epoch_counter)
    manager = tf.train.CheckpointManager(checkpoint, str(backup_dir), max_to_keep=2)
    restore_checkpoint(checkpoint, manager)
    start_epoch = _agreed_epoch(strategy, int(epoch_counter.numpy()), task_type, task_id, backup_dir)

    def replica_step(x: Any, y: Any, training: bool) -> tuple[Any, Any, Any, Any]:
        context = tf.distribute.get_replica_context()
        global_batch = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.shape(y)[0])
        with tf.GradientTape() as tape:
            output = model(x, training=training)
            per_example = _sparse_ce(y, output, from_logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        if training:
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))  # all-reduces the gradients
        return loss, _hits(y, output, 1), _hits(y, output, 5), tf.shape(y)[0]

    @tf.function
    def train_step(batch: Any) -> tuple[Any, Any, Any, Any]:
        x, y = batch
        return _reduce(strategy, strategy.run(replica_step, args=(x, y, True)))

    @tf.function
    def test_step(batch: Any) -> tuple[Any, Any, Any, Any]:
        x, y = batch
        return _reduce(strategy, strategy.run(replica_step, args=(x, y, False)))

    history = EpochHistory(own_dir / HISTORY)
    dist_train = strategy.experimental_distribute_dataset(train_ds)
    start = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        history.on_epoch_begin(epoch)
        logs = _run_epoch(train_step, dist_train, f"epoch {epoch + 1}")
        history.on_epoch_end(epoch, logs)
        if verbose and chief:
            print(f"epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v:.4f}" for k, v in logs.items()), flush=True)
        epoch_counter.assign(epoch + 1)
        save_checkpoint(manager, epoch + 1)  # every worker saves (TensorFlow's rule); the chief's is the run's
    train_seconds = sum(rec["seconds"] for rec in history.epochs.values()) or (time.perf_counter() - start)
    series = history.as_series()
    test_metrics: dict[str, float] = {}
    if test_ds is not None:
        test_metrics = _run_epoch(test_step, strategy.experimental_distribute_dataset(test_ds), "evaluation")
    params = int(model.count_params())
    # every worker saves the model (TensorFlow's rule); only the chief's copy stays
    save_model(model, own_dir / MODEL)
    if chief:
        plot_training_curves(series, out_dir / CURVES, title=model.name)
        summary = {"test": test_metrics, "train_seconds": train_seconds, "params": params,
                   "workers": _worker_count(strategy), "replicas": int(strategy.num_replicas_in_sync)}
        write_json(out_dir / RESULT, {**summary, **(extra or {})})
    else:
        (own_dir / MODEL).unlink(missing_ok=True)
    _barrier(strategy)  # the workers leave together: one that exits while another still works can hang it
    return RunResult(out_dir, series, test_metrics, train_seconds, params, model)


def restore_checkpoint(checkpoint: Any, manager: Any) -> str | None:
    """Restore the newest of ``manager``'s checkpoints that reads back whole and matches ``checkpoint``; a damaged
    newer one is named on stderr and the one before it used. Returns the path restored (None: none there).
    :class:`~keras_attention.experiments.backup.BackupError` names each when none can be restored.

    TensorFlow writes a checkpoint's files under temporary names and its ``checkpoint`` index last, so a kill while
    saving leaves the index on the previous checkpoint; this covers the files damaged after that."""
    import sys

    from keras_attention.experiments.backup import BackupError

    failed: list[tuple[str, str]] = []
    for path in reversed(manager.checkpoints):
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as error:  # noqa: BLE001 (a damaged file fails in many ways: DataLossError, IndexError, ...)
            failed.append((path, f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"))
            continue
        for bad, why in failed:
            print(f"backup {bad!r} not used: {why}", file=sys.stderr, flush=True)
        return path
    if failed:
        reasons = "; ".join(f"{path!r}: {why}" for path, why in failed)
        raise BackupError(f"No backup in {str(manager.directory)!r} can be used to resume: {reasons}. Start the run "
                          "again with another output directory, or remove that one to train from the first epoch.")
    return None


def save_checkpoint(manager: Any, epoch: int) -> None:
    """``manager.save()``; a failure to write (a full disk, a read-only folder) is a
    :class:`~keras_attention.experiments.backup.BackupWriteError` naming the folder and the cause, the last good
    checkpoint left in place."""
    import tensorflow as tf

    from keras_attention.experiments.backup import BackupWriteError

    try:
        manager.save(checkpoint_number=epoch)
    except tf.errors.OpError as error:
        kept = (f"the last good backup, {manager.latest_checkpoint!r}, is kept and a run started again continues "
                "from it" if manager.latest_checkpoint else "there is no earlier backup")
        cause = " ".join(str(error.message).split())[:300]
        raise BackupWriteError(f"could not write the backup after epoch {epoch} to {str(manager.directory)!r}: "
                               f"{cause}; {kept}", OSError()) from error


def _sparse_ce(y: Any, output: Any, from_logits: bool) -> Any:
    import keras

    return keras.losses.sparse_categorical_crossentropy(y, output, from_logits=from_logits)


def _hits(y: Any, output: Any, k: int) -> Any:
    import tensorflow as tf

    k = min(k, int(output.shape[-1]))
    hits = tf.math.in_top_k(tf.cast(tf.reshape(y, [-1]), tf.int32), tf.cast(output, tf.float32), k)
    return tf.reduce_sum(tf.cast(hits, tf.float32))


def _reduce(strategy: Any, per_replica: tuple[Any, Any, Any, Any]) -> tuple[Any, Any, Any, Any]:
    import tensorflow as tf

    loss, top1, top5, count = per_replica
    total = tf.distribute.ReduceOp.SUM
    return (strategy.reduce(total, loss, axis=None), strategy.reduce(total, top1, axis=None),
            strategy.reduce(total, top5, axis=None), strategy.reduce(total, count, axis=None))


def _run_epoch(step: Callable[[Any], tuple[Any, Any, Any, Any]], dataset: Any, what: str) -> dict[str, float]:
    """Run ``step`` over ``dataset``; ``{loss, top1, top5}`` (loss: the mean over the global batches,
    weighted by their sizes, as Keras reports it)."""
    import tensorflow as tf

    loss_sum = top1 = top5 = count = 0.0
    batches = 0
    try:
        for batch in dataset:
            loss, hits1, hits5, n = step(batch)
            n = float(n)
            loss_sum += float(loss) * n
            top1 += float(hits1)
            top5 += float(hits5)
            count += n
            batches += 1
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.InternalError, tf.errors.AbortedError) as error:
        raise WorkerLostError(
            f"multi-worker training stopped in {what} after {batches} batches: a collective operation failed "
            f"({type(error).__name__}), so another worker died, hangs or cannot be reached. Restart every "
            f"worker with the same arguments: the run resumes from the last finished epoch. Detail: "
            f"{str(error).strip().splitlines()[0][:300]}"
        ) from error
    if not count:
        raise ValueError(f"{what}: the dataset yielded no batches.")
    return {"loss": loss_sum / count, "top1": top1 / count, "top5": top5 / count}


def _barrier(strategy: Any) -> None:
    """Return only when every worker got here (an all-reduce of one number)."""
    import tensorflow as tf

    if strategy.num_replicas_in_sync == 1:
        return

    @tf.function
    def meet() -> Any:
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)

    try:
        meet()
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.InternalError, tf.errors.AbortedError) as error:
        raise WorkerLostError(f"another worker died or hangs after the training finished ({type(error).__name__}); "
                              "the chief's files are complete.") from error


def _worker_count(strategy: Any) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return 1
    return sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values())


def _agreed_epoch(strategy: Any, epoch: int, task_type: str | None, task_id: int, backup_dir: Path) -> int:
    """The epoch every worker resumes from; a clear error when their backups disagree."""
    import tensorflow as tf

    if strategy.num_replicas_in_sync == 1:
        return epoch
    @tf.function
    def gather() -> Any:
        return strategy.gather(strategy.run(lambda: tf.constant([epoch], tf.int64)), axis=0)

    values = gather().numpy().tolist()
    if len(set(values)) > 1:
        raise RuntimeError(
            f"The workers' backups disagree on the finished epochs ({values} per replica; this worker, "
            f"{task_type} {task_id}, has {epoch} in {str(backup_dir)!r}): a worker was killed while saving. "
            "Delete the newer backups (or all of them) so that every worker has the same one, then restart.")
    return epoch


# ----------------------------------------------------------------------------------------------------------
# JAX: keras.distribution.initialize + DataParallel
# ----------------------------------------------------------------------------------------------------------


def first_slurm_host(node_list: str) -> str:
    """The first host of a SLURM node list: ``node[001-004,9],gpu1`` -> ``node001``."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]*)\])?", node_list.strip())
    if not match or not match.group(1):
        raise ValueError(f"cannot read a host name from the SLURM node list {node_list!r}.")
    prefix, ranges = match.groups()
    if ranges is None:
        return prefix
    return prefix + re.split(r"[,-]", ranges)[0]


def _env_int(name: str, env: Mapping[str, str]) -> int | None:
    text = env.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer.") from None


def data_parallel_settings(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None,
                           environ: Mapping[str, str] | None = None) -> tuple[str, int, int]:
    """``(coordinator_address, num_processes, process_id)`` for :func:`initialize_data_parallel`: the
    arguments, else the environment: ``SLURM_NTASKS``, ``SLURM_PROCID``, and the coordinator from
    ``KERAS_ATTENTION_COORDINATOR`` (``host:port``), else the first host of ``SLURM_STEP_NODELIST`` /
    ``SLURM_NODELIST`` with the port ``KERAS_ATTENTION_COORDINATOR_PORT``, else one derived from
    ``SLURM_JOB_ID`` (as JAX does), else 12355. A ValueError names what is missing or inconsistent."""
    env = os.environ if environ is None else environ
    sources: dict[str, str] = {}
    if num_processes is None:
        num_processes, sources["num_processes"] = _env_int("SLURM_NTASKS", env), "SLURM_NTASKS"
    if process_id is None:
        process_id, sources["process_id"] = _env_int("SLURM_PROCID", env), "SLURM_PROCID"
    if coordinator_address is None:
        coordinator_address = env.get(COORDINATOR_ENV)
        sources["coordinator_address"] = COORDINATOR_ENV
        if coordinator_address is None:
            node_var = next((v for v in ("SLURM_STEP_NODELIST", "SLURM_NODELIST") if env.get(v)), None)
            if node_var is not None:
                port = _env_int(COORDINATOR_PORT_ENV, env)
                if port is None:
                    job = _env_int("SLURM_JOB_ID", env)
                    port = DEFAULT_COORDINATOR_PORT if job is None else job % 2**12 + (65535 - 2**12 + 1)
                coordinator_address = f"{first_slurm_host(env[node_var])}:{port}"
                sources["coordinator_address"] = f"{node_var} (first host) and port {port}"
    missing = [(name, sources.get(name)) for name, value in
               (("coordinator_address", coordinator_address), ("num_processes", num_processes),
                ("process_id", process_id)) if value is None]
    if missing:
        hints = {"coordinator_address": f"{COORDINATOR_ENV}=host:port (or SLURM_STEP_NODELIST / SLURM_NODELIST)",
                 "num_processes": "SLURM_NTASKS", "process_id": "SLURM_PROCID"}
        raise ValueError("initialize_data_parallel: " + "; ".join(
            f"{name} is not given and {hints[name]} is not set" for name, _ in missing)
            + ". Pass the arguments or run under srun (SLURM), which sets the variables.")
    where = {name: sources.get(name, "argument") for name in ("coordinator_address", "num_processes", "process_id")}
    if not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes must be an integer >= 1; got {num_processes!r} "
                         f"(from {where['num_processes']}).")
    if not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in 0..{num_processes - 1} (num_processes={num_processes} from "
                         f"{where['num_processes']}); got {process_id!r} from {where['process_id']}.")
    host, sep, port_text = str(coordinator_address).rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"coordinator_address must be host:port; got {coordinator_address!r} "
                         f"(from {where['coordinator_address']}).")
    return str(coordinator_address), num_processes, process_id


def initialize_data_parallel(coordinator_address: str | None = None, num_processes: int | None = None,
                             process_id: int | None = None, *, timeout_seconds: float | None = None) -> Any:
    """Join this process to a multi-process JAX run and make ``Model.fit`` train data-parallel.

    Call it at the start of every process, before any JAX computation, with ``KERAS_BACKEND=jax``. The
    values come from the arguments, else from the environment (:func:`data_parallel_settings`; under
    ``srun`` SLURM sets them). It calls ``keras.distribution.initialize`` (``jax.distributed``; on CPU the
    processes exchange data with gloo), then sets ``keras.distribution.DataParallel`` over
    ``keras.distribution.list_devices()`` (every device of every process). Afterwards every process builds
    the same model and passes ``fit`` the same ``tf.data`` pipeline batched with the GLOBAL batch size
    (divisible by the number of processes); Keras hands each process its slice of every batch, and the
    variables stay identical. Returns the ``DataParallel`` distribution.

    ``timeout_seconds``: None keeps JAX's defaults (a dead process is noticed after a 100 s heartbeat
    timeout, the others may wait up to 300 s at exit). A number sets both: JAX's distributed service is then
    started with those timeouts (``jax.distributed.initialize``) followed by the seed agreement that
    ``keras.distribution.initialize`` does, since Keras' function takes no timeouts. Either way a process
    whose peer died fails (a ``JaxRuntimeError`` from the gloo / device collective) instead of hanging.

    Raises ValueError (naming the variable and its value) before any work when a value is missing or
    inconsistent, RuntimeError when the backend is not JAX.
    """
    import keras

    coordinator_address, num_processes, process_id = data_parallel_settings(
        coordinator_address, num_processes, process_id)
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"initialize_data_parallel needs KERAS_BACKEND=jax; the backend is "
                           f"{keras.backend.backend()!r}. For TensorFlow use train_multiworker (TF_CONFIG).")
    import jax

    if jax.distributed.is_initialized():
        if jax.process_count() != num_processes or jax.process_index() != process_id:
            raise RuntimeError(f"JAX is already initialized as process {jax.process_index()} of "
                               f"{jax.process_count()}, not {process_id} of {num_processes}.")
    elif timeout_seconds is None:
        keras.distribution.initialize(coordinator_address, num_processes, process_id)
    else:
        from keras.src.backend.jax import distribution_lib as keras_jax_distribution

        jax.distributed.initialize(coordinator_address, num_processes, process_id,
                                   heartbeat_timeout_seconds=int(timeout_seconds),
                                   shutdown_timeout_seconds=int(timeout_seconds))
        keras_jax_distribution.initialize_rng()  # the rest of keras.distribution.initialize (Keras 3.15)
    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    keras.distribution.set_distribution(distribution)
    return distribution


def is_chief_process() -> bool:
    """True in the process that writes a data-parallel JAX run's files (process 0; always on one process)."""
    import keras

    if keras.backend.backend() != "jax":
        return True
    import jax

    return jax.process_index() == 0


def process_out_dir(out_dir: str | PathLike[str]) -> Path:
    """Where this process of a data-parallel JAX run writes ``train_run``'s files: ``out_dir`` for process 0
    (and on one process), its own :func:`~keras_attention.experiments.artifacts.worker_dir` for the others
    (``<out_dir>.worker<id>``: their copies of the history, backups and model, kept apart so that no two
    processes write one file)."""
    import keras

    if keras.backend.backend() != "jax":
        return Path(out_dir)
    import jax

    index = jax.process_index()
    return Path(out_dir) if index == 0 else worker_dir(out_dir, index)


# ----------------------------------------------------------------------------------------------------------
# The choice of a run (``keras-attention --strategy`` / ``--distribution``) and where each process writes
# ----------------------------------------------------------------------------------------------------------


def check_tf_config(text: str | None) -> dict[str, Any]:
    """The parsed ``TF_CONFIG`` of a multi-worker run, or SystemExit saying what is wrong with it."""
    import json

    example = '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}'
    if text is None:
        raise SystemExit(f"--strategy multiworker needs the TF_CONFIG environment variable, e.g. {example}.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise SystemExit(f"TF_CONFIG is not valid JSON ({error}): {text!r}; expected e.g. {example}.") from None
    workers = config.get("cluster", {}).get("worker") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(workers, list) or not workers:
        raise SystemExit(f"TF_CONFIG has no cluster.worker list: {text!r}; expected e.g. {example}.")
    if (not isinstance(task, dict) or task.get("type") not in ("worker", "chief")
            or not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(workers)):
        raise SystemExit(f"TF_CONFIG task must be {{'type': 'worker', 'index': 0..{len(workers) - 1}}}, "
                         f"got {task!r}.")
    return config


def make_strategy(name: str, distribution: str = "none") -> Any:
    """The ``tf.distribute`` strategy of ``--strategy`` (None for default), or, with ``--distribution
    data-parallel``, JAX's processes joined and Keras' ``DataParallel`` set (None).

    Call it before TensorFlow or JAX runs anything: MultiWorkerMirroredStrategy configures collective ops,
    and JAX's processes join, only at program start-up."""
    if distribution != "none":
        if name != "default":
            raise SystemExit(f"--distribution {distribution} (JAX) and --strategy {name} (TensorFlow) exclude each "
                             "other; use one.")
        import keras

        if keras.backend.backend() != "jax":
            raise SystemExit(f"--distribution {distribution} needs the JAX backend (KERAS_BACKEND=jax); the backend "
                             f"is {keras.backend.backend()!r}.")
        initialize_data_parallel()
        return None
    if name == "multiworker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return make_multiworker_strategy()
    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()
    return None


def worker_out_dir(out: Path, strategy: Any, distribution: str) -> Path:
    """Where this process writes: ``out`` for the chief (the multi-worker chief, JAX process 0, or a single
    process), else a directory of its own beside it (:func:`~keras_attention.experiments.artifacts.worker_dir`,
    ``<out>.worker<i>``: backups, its copy of the history), so that no two processes claim the same run
    directory on a shared file system."""
    if distribution != "none":
        import jax

        index, chief = jax.process_index(), is_chief_process()
    elif strategy is not None and type(strategy).__name__ == "MultiWorkerMirroredStrategy":
        _, index, chief = worker_role(strategy)
    else:
        return out
    return out if chief else worker_dir(out, index)
