"""``ISparse``: train-with sparsification as a Keras callback (eq. 4.5, 4.12-4.13;
docs/methods/isparse.md#isparse-training).

At every update epoch the callback recomputes the edge scores on a bounded set of score samples
(strategy ``"isparse"``; ``"magnitude"`` uses ``|W|``; ``"random"`` a fixed random priority per edge
drawn once from ``seed``, so its masks are nested as the sparsity grows and never change at a constant
sparsity), derives the masks at the scheduled sparsity (:func:`~keras_attention.sparsity.masking.masks`)
and multiplies the kernels by them.

Keeping pruned weights at exactly zero after every optimizer step, whatever the optimizer: at
``on_train_begin`` every prunable kernel variable gets an active
:class:`~keras_attention.sparsity.MaskConstraint` ``w -> base(w) * M`` (``base`` the layer's own kernel
constraint, if any) reading a non-trainable mask variable, and the train function is rebuilt so that the
compiled step includes it (under JAX, which compiles the masks in as constants, it is rebuilt at every
update). Keras optimizers apply variable constraints right after each update inside the
train step, so the masked entries are zero after every step - also with ``steps_per_execution > 1``, XLA,
momentum / Adam / AdamW and loss scaling. For the kept edges this is exactly eq. 4.13
(``W' = W - eta (M * Err)``): their update does not depend on the masked entries. The optimizer still sees
the full gradient of the masked entries, so e.g. Adam's moments for them move; the constraint undoes the
resulting step, and the moments matter only if a later update re-enables such an edge (it then restarts
from 0). ``on_train_end`` gives the kernel variables their own constraints back (pruned weights stay
zero; training further without the callback may regrow them) and drops the train function so the next
``fit`` traces a clean one.

The model carries its masks: whenever masks are set (every update, and at ``on_train_begin``), each
prunable layer's ``kernel_constraint`` becomes a dormant ``MaskConstraint`` recording its mask (see
:mod:`keras_attention.sparsity.mask_constraint`). So the masks travel with ``model.save`` - also a
checkpoint written mid-``fit`` - and ``keras.saving.load_model(..., safe_mode=True)`` (the loading process
imports ``keras_attention.sparsity``); they never change the model's outputs. Resuming: an ``ISparse``
callback (a new one, e.g. after a reload) on a model that carries masks starts from them - they are in
force, pruned weights stay zero, from the first step of its ``fit`` until its own first scheduled update
recomputes the masks at the scheduled sparsity (as the schedule says; a polynomial ramp restarted at
``start_epoch`` may so re-enable edges). This holds also before ``start_epoch``: a model that carries
masks does not silently turn dense again. ``fit(..., initial_epoch=e)`` with the original schedule
continues where the interrupted run stopped. To start over dense, drop the masks first with
:func:`~keras_attention.sparsity.strip_masks`. A model without masks starts from those of this callback's
previous ``fit`` (if any), else dense.

Schedules: ``"constant"`` prunes to ``sparsity`` from ``start_epoch`` on; ``"polynomial"`` ramps
``s(e) = sparsity * (1 - (1 - (e - start_epoch) / (end_epoch - start_epoch)) ** power)`` from 0 at
``start_epoch`` to ``sparsity`` at ``end_epoch`` (Zhu & Gupta's cubic schedule for ``power=3``) and stays
there. Updates happen at ``on_epoch_begin`` of ``start_epoch + k * update_every`` (and of ``end_epoch``
for the polynomial ramp); before ``start_epoch`` the network trains dense (unless it carries masks, see
above). Epochs are counted as Keras does (``initial_epoch`` included).

Logs: at the end of every epoch ``logs["sparsity/<layer name>"]`` is the fraction of zero kernel
entries of each prunable layer and ``logs["sparsity"]`` that of all of them together, so they land in
``History``.
"""

from typing import Any

import keras
import numpy as np
from numpy.typing import NDArray

from keras_attention.utils.checks import check_choice, check_positive_int
from keras_attention.sparsity.inffs import check_alpha
from keras_attention.sparsity.mask_constraint import MaskConstraint, carried_masks, record_masks, unwrap
from keras_attention.sparsity.masking import STRATEGIES, apply_masks, check_sparsity, masks, strategy_scores
from keras_attention.sparsity.propagation import ScorePlan, kernel_array, kernel_variable
from keras_attention.sparsity.samples import collect_samples

SCHEDULES = ("constant", "polynomial")


class ISparse(keras.callbacks.Callback):
    """Train-with iSparse (eq. 4.13): masks recomputed on a schedule and kept in force at every step.

    At every update epoch the edge scores ``E`` (eq. 4.6-4.11) are recomputed on the score samples, the
    masks ``M`` derived at the scheduled sparsity (eq. 4.5) and the kernels multiplied by them (eq. 4.12);
    between updates an active :class:`MaskConstraint` keeps the pruned weights at exactly zero after every
    optimizer step, so only the kept edges learn (eq. 4.13). See the module docstring for the schedules,
    resuming from carried masks and the logs (docs/methods/isparse.md#isparse-training).

    Args:
        sparsity: target fraction of pruned kernel entries per prunable layer, in [0, 1).
        samples: score samples for ``strategy="isparse"`` - an array, a list / dict of arrays, or a batched
            ``tf.data.Dataset`` (first item of each element = inputs). At most ``max_samples`` of them are
            read once, when the callback is created.
        schedule: ``"constant"`` or ``"polynomial"``.
        start_epoch: first epoch with masks (0-based).
        end_epoch: epoch where the polynomial ramp reaches ``sparsity`` (required for it, > start_epoch).
        power: exponent of the polynomial ramp.
        update_every: recompute scores and masks every this many epochs.
        max_samples: bound on the number of score samples.
        strategy: ``"isparse"``, ``"magnitude"`` or ``"random"``.
        seed: seed of the ``"random"`` strategy.
        alpha: InfFS loading coefficient.
        batch_size: batch size of the scoring inference pass.
        verbose: 1 prints the sparsity at each update.

    ``self.masks`` holds the masks in force, ``{layer name: bool mask}`` (after each update, and from
    ``on_train_begin`` on those the model carries); after each update ``self.current_sparsity`` is the
    scheduled sparsity (None before the first update).

    Raises:
        ValueError: at construction, an argument out of range (``sparsity`` not in [0, 1), unknown
            ``schedule`` / ``strategy``, for the polynomial schedule ``end_epoch`` missing or not
            > ``start_epoch`` or ``power`` not positive, ``alpha`` not in [0, 1], fewer than 2 ``samples``
            for ``"isparse"``...); at the start of ``fit``, a model iSparse cannot score (see
            :class:`ScorePlan`).

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from keras_attention.sparsity import ISparse
        >>> inputs = keras.Input((6,))
        >>> hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(hidden))
        >>> model.compile("adam", "sparse_categorical_crossentropy")
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.random((32, 6)).astype("float32"), rng.integers(0, 3, 32)
        >>> callback = ISparse(0.5, samples=x, schedule="polynomial", end_epoch=2)
        >>> [callback.target_sparsity(epoch) for epoch in range(4)]  # cubic ramp from 0 to 0.5
        [0.0, 0.4375, 0.5, 0.5]
        >>> history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
        >>> [round(s, 3) for s in history.history["sparsity"]]  # zero kernel entries at each epoch's end
        [0.0, 0.417, 0.5]
        >>> {name: int(mask.sum()) for name, mask in callback.masks.items()}  # kept of 24 and 12
        {'hidden': 12, 'out': 6}
    """

    def __init__(
        self,
        sparsity: float,
        samples: Any = None,
        *,
        schedule: str = "constant",
        start_epoch: int = 0,
        end_epoch: int | None = None,
        power: float = 3,
        update_every: int = 1,
        max_samples: int = 256,
        strategy: str = "isparse",
        seed: int | None = None,
        alpha: float = 0.5,
        batch_size: int = 64,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        self.sparsity = check_sparsity(sparsity)
        self.schedule = check_choice("schedule", schedule, set(SCHEDULES))
        self.start_epoch = check_positive_int("start_epoch", start_epoch, minimum=0)
        self.update_every = check_positive_int("update_every", update_every)
        self.strategy = check_choice("strategy", strategy, set(STRATEGIES))
        self.batch_size = check_positive_int("batch_size", batch_size)
        if schedule == "polynomial":
            if isinstance(end_epoch, bool) or not isinstance(end_epoch, int) or end_epoch <= start_epoch:
                raise ValueError(
                    f"Argument `end_epoch` must be an integer > start_epoch={start_epoch} for the polynomial "
                    f"schedule; got {end_epoch!r}."
                )
            if isinstance(power, bool) or not isinstance(power, (int, float)) or power <= 0:
                raise ValueError(f"Argument `power` must be a positive number; got {power!r}.")
        self.end_epoch = end_epoch
        self.power = power
        self.seed = seed
        self.alpha = check_alpha(alpha)
        self.verbose = verbose
        self.max_samples = max_samples
        self.samples = collect_samples(samples, max_samples, argument="samples") if strategy == "isparse" else None
        self.masks: dict[str, NDArray[np.bool_]] = {}
        self.current_sparsity: float | None = None
        self._plan: ScorePlan | None = None
        self._mask_vars: dict[str, keras.Variable] = {}
        self._saved_constraints: dict[str, keras.constraints.Constraint | None] = {}
        self._random_scores: dict[str, NDArray[np.float64]] | None = None

    # --- schedule -------------------------------------------------------------------------------------

    def target_sparsity(self, epoch: int) -> float | None:
        """Scheduled sparsity at ``epoch`` (None before ``start_epoch``).

        Args:
            epoch: 0-based epoch, counted as Keras does.

        Returns:
            ``sparsity`` for the constant schedule, the polynomial ramp's value otherwise; None before
            ``start_epoch``.
        """
        if epoch < self.start_epoch:
            return None
        if self.schedule == "constant":
            return self.sparsity
        end_epoch = self.end_epoch
        assert end_epoch is not None  # __init__ requires it for the polynomial schedule
        progress = min(1.0, (epoch - self.start_epoch) / (end_epoch - self.start_epoch))
        return self.sparsity * (1.0 - (1.0 - progress) ** self.power)

    def _due(self, epoch: int) -> bool:
        if epoch < self.start_epoch:
            return False
        if (epoch - self.start_epoch) % self.update_every == 0:
            return True
        return self.schedule == "polynomial" and epoch == self.end_epoch

    # --- Keras hooks ----------------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._plan = ScorePlan(self.model)  # raises before anything changes
        carried = carried_masks(self.model)
        if self.strategy == "random" and self._random_scores is None:
            self._random_scores = strategy_scores(self._plan, "random", seed=self.seed)
        for layer in self._plan.prunable:
            var = kernel_variable(layer)
            if layer.name in carried:  # resuming: the model's own masks win
                self.masks[layer.name] = carried[layer.name]
            initial: NDArray[Any] | None = self.masks.get(layer.name)
            if initial is not None and tuple(initial.shape) != tuple(var.shape):
                self.masks.pop(layer.name)
                initial = None
            initial = np.ones(var.shape, "float32") if initial is None else initial.astype("float32")
            mask = self._mask_vars.get(layer.name)
            if mask is None or tuple(mask.shape) != tuple(var.shape):
                mask = keras.Variable(initial, trainable=False, dtype="float32", name=f"isparse_mask_{layer.name}")
                self._mask_vars[layer.name] = mask
            else:
                mask.assign(initial)
            self._saved_constraints[layer.name] = var.constraint
            var.constraint = MaskConstraint(mask, unwrap(var.constraint))
        names = {layer.name for layer in self._plan.prunable}
        in_force = {name: m for name, m in self.masks.items() if name in names}
        apply_masks(self.model, in_force)
        record_masks(self.model, in_force)
        self.model.make_train_function(force=True)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._due(epoch):
            self.update(epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        zeros = total = 0
        for layer in self._scoring_plan().prunable:
            w = kernel_array(layer)
            z = int(w.size - np.count_nonzero(w))
            logs[f"sparsity/{layer.name}"] = z / w.size
            zeros, total = zeros + z, total + w.size
        logs["sparsity"] = zeros / total

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._plan is None:
            return
        for layer in self._plan.prunable:
            if layer.name in self._saved_constraints:
                kernel_variable(layer).constraint = unwrap(self._saved_constraints.pop(layer.name))
        self.model.train_function = None

    # --- the update -----------------------------------------------------------------------------------

    def _scoring_plan(self) -> ScorePlan:
        """The model's :class:`ScorePlan`; a RuntimeError before ``on_train_begin`` has built it."""
        if self._plan is None:
            raise RuntimeError("ISparse has no model graph yet: it is built in on_train_begin (at the start of fit).")
        return self._plan

    def update(self, epoch: int) -> None:
        """Recompute scores and masks for ``epoch`` and zero the pruned kernel entries.

        Args:
            epoch: the epoch whose scheduled sparsity the masks get (nothing happens before ``start_epoch``).

        Raises:
            RuntimeError: called before ``on_train_begin`` (the start of ``fit``) built the model's graph.
        """
        target = self.target_sparsity(epoch)
        if target is None:
            return
        plan = self._scoring_plan()
        if self.strategy == "random":
            if self._random_scores is None:  # drawn in on_train_begin, which runs before any update
                self._random_scores = strategy_scores(plan, "random", seed=self.seed)
            scores = self._random_scores
        else:
            scores = strategy_scores(
                plan, self.strategy, self.samples, alpha=self.alpha, batch_size=self.batch_size
            )
        kernels = {layer.name: kernel_array(layer) for layer in plan.prunable}
        self.masks = masks(scores, target, kernels)
        for name, mask in self.masks.items():
            self._mask_vars[name].assign(mask.astype("float32"))
        apply_masks(self.model, self.masks)
        record_masks(self.model, self.masks)
        if keras.backend.backend() == "jax":
            # JAX compiles the mask variables (not part of the model's state) into the train step as
            # constants: a new step reads the new masks. TensorFlow and torch read the variables.
            self.model.make_train_function(force=True)
        self.current_sparsity = target
        if self.verbose:
            print(f"ISparse: epoch {epoch}, sparsity {target:.4f} ({self.strategy})")
