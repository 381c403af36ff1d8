"""The optimizers a run may name: one table for ``compile_classifier`` and the multi-worker training loop."""

from typing import Any


def make_optimizer(name: Any = "adam", learning_rate: float = 1e-3) -> Any:
    """The optimizer named ``name`` (adam, sgd = Nesterov momentum 0.9, rmsprop);
    an optimizer instance or a callable returning one is passed through (called).

    Args:
        name: ``"adam"``, ``"sgd"`` or ``"rmsprop"``, a ``keras.optimizers.Optimizer``, or a callable that
            returns one.
        learning_rate: the learning rate of a named optimizer.

    Returns:
        A ``keras.optimizers.Optimizer``.

    Raises:
        ValueError: ``name`` is not a known optimizer.
    """
    import keras

    if callable(name) and not isinstance(name, keras.optimizers.Optimizer):
        return name()
    if isinstance(name, keras.optimizers.Optimizer):
        return name
    table = {
        "adam": lambda: keras.optimizers.Adam(learning_rate),
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate),
    }
    if name not in table:
        raise ValueError(f"optimizer={name!r} is not known; choose one of: {', '.join(table)}.")
    return table[name]()
