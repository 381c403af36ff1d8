"""RACKNet model builder (dissertation §3.4.1, Fig. 3.1; docs/methods/racknet.md#racknet-builder).

``build_model(plan_or_allocation, input_shape, num_classes)``: for rack ``i`` (feed-forward order),
``c_i`` layers ``Conv2D(k_ij, 3, padding="same", activation="relu")``; a 2x2 pooling layer with stride
2 between consecutive racks (``AveragePooling2D``, or ``MaxPooling2D`` with ``pooling="max"``, the
"maxout" variant of §3.5.1), none after the last rack; then ``Flatten -> Dropout(0.25) -> Dense
softmax``. Kernels are 3x3 for every layer, as the documentation fixes (the paper's ``e_ij`` is not derived;
docs/methods/racknet.md#racknet-builder).

A :class:`RackPlan` is allocated with ``allocate(plan, budget, strategy, seed)`` when ``budget`` is
given, or uses the allocation stored in it (:meth:`RackPlan.allocated`); an :class:`Allocation` or any
list of lists of positive kernel counts is used as is. This is the CNN implementation; the RCNN
variant with recurrent weight sharing (§3.4.6.2) is not built here.
"""

from collections.abc import Sequence

import keras

from keras_attention.utils.checks import check_choice, check_positive_int
from keras_attention.racknet.allocation import STRATEGIES, allocate, format_row
from keras_attention.racknet.plan import RackPlan

POOLING = {"avg": keras.layers.AveragePooling2D, "max": keras.layers.MaxPooling2D}


def _check_counts(allocation: Sequence[Sequence[int]]) -> list[list[int]]:
    ok = isinstance(allocation, (list, tuple)) and len(allocation) > 0
    ok = ok and all(isinstance(rack, (list, tuple)) and len(rack) > 0 for rack in allocation)
    ok = ok and all(
        isinstance(k, int) and not isinstance(k, bool) and k >= 1 for rack in allocation for k in rack
    )
    if not ok:
        raise ValueError(
            "Argument `plan_or_allocation` must be a RackPlan or a non-empty list of non-empty lists of kernel "
            f"counts >= 1 (one list per rack); got {allocation!r}."
        )
    return [list(rack) for rack in allocation]


def build_model(
    plan_or_allocation: RackPlan | Sequence[Sequence[int]],
    input_shape: Sequence[int],
    num_classes: int,
    budget: int | None = None,
    pooling: str = "avg",
    strategy: str = "racknet",
    seed: int = 0,
    dropout: float = 0.25,
    name: str = "racknet",
) -> keras.Model:
    """Build the RACKNet CNN (module docstring) and return an uncompiled ``keras.Model``.

    Rack ``i`` holds ``c_i`` layers ``Conv2D(k_ij, 3, padding="same", activation="relu")`` (Obs. 1-4), a
    2x2 pooling with stride 2 between consecutive racks, then ``Flatten -> Dropout -> Dense`` softmax
    (dissertation §3.4.1, Fig. 3.1; docs/methods/racknet.md#racknet-builder).

    Args:
        plan_or_allocation: a :class:`~keras_attention.racknet.RackPlan` (allocated with ``budget``, or
            carrying an allocation), or kernel counts: one non-empty list of positive ints per rack (e.g. an
            :class:`~keras_attention.racknet.Allocation`).
        input_shape: ``(height, width, channels)``, each at least ``2 ** (racks - 1)`` for height and width.
        num_classes: outputs of the softmax layer.
        budget: kernels to allocate to a plan with ``strategy`` and ``seed`` (for counts: None, or their sum).
        pooling: ``"avg"`` (``AveragePooling2D``) or ``"max"`` (``MaxPooling2D``, the "maxout" variant).
        strategy: allocation strategy used with ``budget`` on a plan.
        seed: seed of the ``random`` strategy.
        dropout: dropout rate before the classifier, in [0, 1).
        name: the model's name.

    Returns:
        The uncompiled functional model; layers ``rack<i>_conv<j>``, ``pool<i>``, ``flatten``, ``dropout``
        and ``predictions``.

    Raises:
        ValueError: invalid counts, a plan without allocation and no ``budget``, a ``budget`` that does not
            match given counts, unknown ``pooling`` / ``strategy``, ``num_classes`` not a positive integer,
            ``dropout`` out of range, or an ``input_shape`` that is not 3 positive ints or too small for the
            pooling layers.

    Example:
        >>> from keras_attention.racknet import build_model
        >>> model = build_model([[4, 2], [3]], input_shape=(8, 8, 1), num_classes=10)  # racks 2-1 (4,2-3)
        >>> [layer.name for layer in model.layers]
        ['image', 'rack1_conv1', 'rack1_conv2', 'pool1', 'rack2_conv1', 'flatten', 'dropout', 'predictions']
        >>> model.output_shape, model.count_params()
        ((None, 10), 661)
    """
    check_choice("pooling", pooling, set(POOLING))
    check_choice("strategy", strategy, STRATEGIES)
    check_positive_int("num_classes", num_classes)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"Argument `dropout` must be a number in [0, 1); got {dropout!r}.")
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape)
    ):
        raise ValueError(
            f"Argument `input_shape` must be (height, width, channels) of positive integers; got {input_shape!r}."
        )
    if isinstance(plan_or_allocation, RackPlan):
        if budget is not None:
            counts = [list(rack) for rack in allocate(plan_or_allocation, budget, strategy, seed)]
        elif plan_or_allocation.allocation is not None:
            counts = [list(rack) for rack in plan_or_allocation.allocation]
        else:
            raise ValueError(
                f"The RackPlan {plan_or_allocation} carries no allocation: pass `budget` (kernels to allocate) "
                "or use `plan.allocated(budget)`."
            )
    else:
        counts = _check_counts(plan_or_allocation)
        if budget is not None and budget != sum(map(sum, counts)):
            row = format_row([len(r) for r in counts], counts)
            raise ValueError(
                f"Argument `budget`={budget} does not match the allocation {row} whose kernels sum to "
                f"{sum(map(sum, counts))}; leave `budget` None for an allocation."
            )
    height, width = input_shape[0], input_shape[1]
    needed = 2 ** (len(counts) - 1)
    if height < needed or width < needed:
        raise ValueError(
            f"Argument `input_shape`={tuple(input_shape)} is too small for {len(counts)} racks: the "
            f"{len(counts) - 1} pooling layers need height and width >= {needed}."
        )

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, rack in enumerate(counts):
        if i > 0:
            x = POOLING[pooling](pool_size=2, name=f"pool{i}")(x)
        for j, kernels in enumerate(rack):
            x = keras.layers.Conv2D(kernels, 3, padding="same", activation="relu", name=f"rack{i + 1}_conv{j + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
