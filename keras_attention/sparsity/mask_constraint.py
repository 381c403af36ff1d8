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

import keras
import numpy as np
from keras import ops

from keras_attention.sparsity.propagation import is_prunable, kernel_variable


def _mask_array(mask):
    value = ops.convert_to_numpy(mask) if isinstance(mask, keras.Variable) else np.asarray(mask)
    return value.astype(bool)


def _encode(mask):
    mask = _mask_array(mask)
    bits = base64.b64encode(np.packbits(mask.reshape(-1)).tobytes()).decode("ascii")
    return {"shape": [int(d) for d in mask.shape], "bits": bits}


def _decode(config):
    if not isinstance(config, dict) or set(config) != {"shape", "bits"}:
        raise ValueError(f"A MaskConstraint mask config must be {{'shape': [...], 'bits': str}}; got {config!r}.")
    shape = tuple(int(d) for d in config["shape"])
    size = int(np.prod(shape, dtype=np.int64))
    packed = np.frombuffer(base64.b64decode(config["bits"]), dtype=np.uint8)
    if packed.size != (size + 7) // 8:
        raise ValueError(f"A MaskConstraint mask of shape {shape} needs {(size + 7) // 8} bytes; got {packed.size}.")
    return np.unpackbits(packed, count=size).astype(bool).reshape(shape)


def unwrap(constraint):
    """``constraint`` without its MaskConstraint wrappers: the layer's own (base) constraint or None."""
    while isinstance(constraint, MaskConstraint):
        constraint = constraint.base
    return constraint


@keras.saving.register_keras_serializable(package="keras_attention")
class MaskConstraint(keras.constraints.Constraint):
    """Kernel constraint ``w -> base(w) * mask``; with ``active=False`` only ``base(w)`` (a mask record).

    Args:
        mask: boolean (or 0/1) array shaped like the kernel, or a Keras variable holding it (read at every
            call, so a compiled train step follows its updates).
        base: the layer's own kernel constraint, applied first (None: none).
        active: whether the mask is applied; False makes the constraint a record of the mask that the
            layer's config carries (see the module docstring).
    """

    def __init__(self, mask, base=None, active=True):
        self.mask = mask if isinstance(mask, keras.Variable) else _mask_array(mask)
        self.base = unwrap(base)
        self.active = bool(active)

    def __call__(self, w):
        if self.base is not None:
            w = self.base(w)
        if not self.active:
            return w
        return w * ops.cast(self.mask, w.dtype)

    def mask_array(self):
        """The mask as a numpy bool array."""
        return _mask_array(self.mask)

    def get_config(self):
        base = None if self.base is None else keras.constraints.serialize(self.base)
        return {"mask": _encode(self.mask), "base": base, "active": self.active}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["mask"] = _decode(config["mask"])
        config["base"] = keras.constraints.get(config.get("base"))
        return cls(**config)


def _prunable(model):
    return [layer for layer in getattr(model, "layers", []) if is_prunable(layer)]


def carried_masks(model):
    """``{layer name: bool mask}`` of the masks ``model``'s prunable layers carry (layers without: left out)."""
    found = {}
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


def record_masks(model, layer_masks):
    """Let ``model``'s layers carry ``{layer name: mask}`` as dormant ``MaskConstraint`` kernel constraints."""
    for name, mask in layer_masks.items():
        layer = model.get_layer(name)
        layer.kernel_constraint = MaskConstraint(mask, unwrap(layer.kernel_constraint), active=False)


def strip_masks(model):
    """Drop the masks ``model`` carries (the layers get their own kernel constraints back); in place.

    The kernels keep their zeros; a later :class:`~keras_attention.sparsity.ISparse` run on the model then
    starts without masks (dense before its ``start_epoch``).
    """
    for layer in _prunable(model):
        layer.kernel_constraint = unwrap(layer.kernel_constraint)
        var = kernel_variable(layer)
        var.constraint = unwrap(var.constraint)
