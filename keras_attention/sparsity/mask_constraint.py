"""``MaskConstraint``: iSparse masks as serialisable kernel constraints, so a model carries its masks.

A constraint ``w -> base(w) * mask`` (``base`` the layer's own kernel constraint, if any) has two uses:

- active (``active=True``), set on a kernel variable: the optimizer applies it right after every
  update, so the pruned entries stay exactly zero. :class:`~keras_attention.sparsity.ISparse` installs
  such a constraint (reading a mask variable it updates) while it trains.
- dormant (``active=False``), set as a prunable layer's ``kernel_constraint``: it applies only ``base``
  (training without the callback behaves as if it were not there) and records the mask in the layer's
  config. That is how a model *carries* its masks: ``get_config`` / ``clone_model`` / ``model.save`` keep
  them and ``keras.saving.load_model(..., safe_mode=True)`` restores them (the class is registered as
  ``keras_attention>MaskConstraint``; the loading process must have imported
  ``keras_attention.sparsity``). A carried mask never changes the layer's outputs - the kernel's pruned
  entries are zero anyway.

:func:`record_masks` writes dormant masks onto a model (``ISparse`` after every update, ``sparsify`` on
its copy), :func:`carried_masks` reads them, :func:`strip_masks` drops them. In the config the mask is
stored bit-packed and base64-encoded (one bit per kernel entry, about 1.34 bits in the JSON).
"""

import base64
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops
from numpy.typing import ArrayLike, NDArray

from keras_attention.sparsity.propagation import is_prunable, kernel_variable
from keras_attention.utils.types import Tensor


def _mask_array(mask: ArrayLike | keras.Variable) -> NDArray[np.bool_]:
    value = ops.convert_to_numpy(mask) if isinstance(mask, keras.Variable) else np.asarray(mask)
    return value.astype(bool)


def _encode(mask: ArrayLike | keras.Variable) -> dict[str, Any]:
    mask = _mask_array(mask)
    bits = base64.b64encode(np.packbits(mask.reshape(-1)).tobytes()).decode("ascii")
    return {"shape": [int(d) for d in mask.shape], "bits": bits}


def _decode(config: object) -> NDArray[np.bool_]:
    if not isinstance(config, dict) or set(config) != {"shape", "bits"}:
        raise ValueError(f"A MaskConstraint mask config must be {{'shape': [...], 'bits': str}}; got {config!r}.")
    shape = tuple(int(d) for d in config["shape"])
    size = int(np.prod(shape, dtype=np.int64))
    packed = np.frombuffer(base64.b64decode(config["bits"]), dtype=np.uint8)
    if packed.size != (size + 7) // 8:
        raise ValueError(f"A MaskConstraint mask of shape {shape} needs {(size + 7) // 8} bytes; got {packed.size}.")
    return np.unpackbits(packed, count=size).astype(bool).reshape(shape)


def unwrap(constraint: keras.constraints.Constraint | None) -> keras.constraints.Constraint | None:
    """``constraint`` without its MaskConstraint wrappers: the layer's own (base) constraint or None."""
    while isinstance(constraint, MaskConstraint):
        constraint = constraint.base
    return constraint


@keras.saving.register_keras_serializable(package="keras_attention")
class MaskConstraint(keras.constraints.Constraint):
    """Kernel constraint ``w -> base(w) * mask``; with ``active=False`` only ``base(w)`` (a mask record).

    Active, it keeps the pruned entries of a kernel at zero after every optimizer step, so that only the
    kept edges learn (eq. 4.13); dormant, it is how a model carries its iSparse masks through
    ``get_config`` / save / load (module docstring; docs/methods/isparse.md#isparse-training).

    Args:
        mask: boolean (or 0/1) array shaped like the kernel, or a Keras variable holding it (read at every
            call, so a compiled train step follows its updates).
        base: the layer's own kernel constraint, applied first (None: none). A ``MaskConstraint`` given
            as ``base`` is unwrapped to its own base.
        active: whether the mask is applied; False makes the constraint a record of the mask that the
            layer's config carries (see the module docstring).

    Call arguments:
        w: the kernel (a tensor or variable value).

    Returns:
        ``base(w) * mask`` (``base(w)`` when not active), in the dtype of ``w``.

    Raises:
        ValueError: from :meth:`from_config`, when the stored mask is malformed (wrong keys, or a bit
            string whose length does not match the shape).

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from keras_attention.sparsity import MaskConstraint
        >>> constraint = MaskConstraint(np.array([[True, False], [False, True]]))
        >>> keras.ops.convert_to_numpy(constraint(keras.ops.ones((2, 2)))).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        >>> record = MaskConstraint([[1, 0], [0, 1]], active=False)  # dormant: w unchanged
        >>> keras.ops.convert_to_numpy(record(keras.ops.ones((2, 2)))).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
        >>> record.get_config()["mask"]  # bit-packed, base64-encoded
        {'shape': [2, 2], 'bits': 'kA=='}
        >>> MaskConstraint.from_config(record.get_config()).mask_array().tolist()
        [[True, False], [False, True]]
    """

    def __init__(
        self,
        mask: ArrayLike | keras.Variable,
        base: keras.constraints.Constraint | None = None,
        active: bool = True,
    ) -> None:
        self.mask: NDArray[np.bool_] | keras.Variable = mask if isinstance(mask, keras.Variable) else _mask_array(mask)
        self.base = unwrap(base)
        self.active = bool(active)

    def __call__(self, w: Tensor) -> Tensor:
        if self.base is not None:
            w = self.base(w)
        if not self.active:
            return w
        return w * ops.cast(self.mask, w.dtype)

    def mask_array(self) -> NDArray[np.bool_]:
        """The mask as a numpy bool array (read from the variable when the mask is one)."""
        return _mask_array(self.mask)

    def get_config(self) -> dict[str, Any]:
        base = None if self.base is None else keras.constraints.serialize(self.base)
        return {"mask": _encode(self.mask), "base": base, "active": self.active}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "MaskConstraint":
        config = dict(config)
        config["mask"] = _decode(config["mask"])
        config["base"] = keras.constraints.get(config.get("base"))
        return cls(**config)


def _prunable(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in getattr(model, "layers", []) if is_prunable(layer)]


def carried_masks(model: keras.Model) -> dict[str, NDArray[np.bool_]]:
    """The iSparse masks ``model``'s prunable layers carry (dormant :class:`MaskConstraint` records).

    Args:
        model: a Keras model; its ``Dense`` / ``Conv1D`` / ``Conv2D`` / ``Conv3D`` layers are read.

    Returns:
        ``{layer name: bool mask shaped like the kernel}``; layers without a mask are left out (``{}`` for a
        model that carries none).

    Raises:
        ValueError: a carried mask does not have its layer's kernel shape.

    Example:
        >>> import keras
        >>> from keras_attention.sparsity import carried_masks, sparsify
        >>> inputs = keras.Input((6,))
        >>> model = keras.Model(inputs, keras.layers.Dense(4, name="dense_a")(inputs))
        >>> carried_masks(model)
        {}
        >>> sparse = sparsify(model, 0.5, strategy="magnitude")  # a new model that carries its masks
        >>> {name: (m.shape, int(m.sum())) for name, m in carried_masks(sparse).items()}
        {'dense_a': ((6, 4), 12)}
    """
    found: dict[str, NDArray[np.bool_]] = {}
    for layer in _prunable(model):
        record = getattr(layer, "kernel_constraint", None)
        if not isinstance(record, MaskConstraint):
            continue
        mask = record.mask_array()
        shape = tuple(kernel_variable(layer).shape)
        if mask.shape != shape:
            raise ValueError(
                f"Layer {layer.name!r} carries an iSparse mask of shape {mask.shape}, but its kernel has shape "
                f"{shape}."
            )
        found[layer.name] = mask
    return found


def record_masks(model: keras.Model, layer_masks: Mapping[str, ArrayLike | keras.Variable]) -> None:
    """Let ``model``'s layers carry ``{layer name: mask}`` as dormant ``MaskConstraint`` kernel constraints."""
    for name, mask in layer_masks.items():
        layer = model.get_layer(name)
        layer.kernel_constraint = MaskConstraint(mask, unwrap(layer.kernel_constraint), active=False)


def strip_masks(model: keras.Model) -> None:
    """Drop the masks ``model`` carries (the layers get their own kernel constraints back); in place.

    The kernels keep their zeros; a later :class:`~keras_attention.sparsity.ISparse` run on the model then
    starts without masks (dense before its ``start_epoch``).

    Args:
        model: a Keras model; the kernel constraints of its prunable layers (and of their kernel variables)
            lose their :class:`MaskConstraint` wrappers.

    Returns:
        None; ``model`` is changed in place.

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from keras_attention.sparsity import carried_masks, sparsify, strip_masks
        >>> inputs = keras.Input((6,))
        >>> model = keras.Model(inputs, keras.layers.Dense(4, name="dense_a")(inputs))
        >>> sparse = sparsify(model, 0.5, strategy="magnitude")
        >>> strip_masks(sparse)
        >>> carried_masks(sparse)
        {}
        >>> int(np.count_nonzero(keras.ops.convert_to_numpy(sparse.get_layer("dense_a").kernel)))  # zeros stay
        12
    """
    for layer in _prunable(model):
        layer.kernel_constraint = unwrap(layer.kernel_constraint)
        var = kernel_variable(layer)
        var.constraint = unwrap(var.constraint)
