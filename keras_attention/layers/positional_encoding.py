"""Positional encoding of ``(B, T, C)`` sequences: time-step channels concatenated to the features.

``PositionalEncoding(mode, channels)(x)`` with ``x`` of shape ``(B, T, C)`` returns ``concat([x, P])`` of
shape ``(B, T, C + channels)``, where ``P`` (``(T, channels)``, the same for every series of the batch) is

- ``mode="sinusoidal"`` (fixed; Vaswani et al., "Attention is all you need", 2017, §3.5), with
  ``t = 0 .. T-1`` and ``i = 0 .. channels/2 - 1``::

      P[t, 2i]     = sin(t / max_wavelength ** (2i / channels))
      P[t, 2i + 1] = cos(t / max_wavelength ** (2i / channels))

  so the pairs run through wavelengths ``2 pi`` .. ``2 pi * max_wavelength ** (1 - 2 / channels)`` steps
  (with the defaults 8 channels and 10,000: 6.3, 63, 628 and 6,283 steps);
- ``mode="learned"``: a trainable table ``P = W[:T]`` of ``max_length`` rows (default: the input's ``T``,
  fixed at build), initialised by ``kernel_initializer``.

Reading (concatenation, not addition): the Transformer adds ``P`` to its ``d``-wide token embeddings. A
series of this package enters the encoder with ``V`` raw, z-normalised variates (often one), so adding
``P`` to the series would overwrite the signal, and adding it after the encoder's input projection would
tie ``channels`` to the model width. Concatenating ``channels`` encoding channels *before* the input
projection ``Dense(d)`` gives ``W_x x_t + W_p P[t] + b``: the Transformer's sum of a feature and a position
term, with the position term a learned linear map (rank <= ``channels``) of the fixed encoding. It keeps
the series intact, works for any ``V`` and costs ``channels * d`` projection weights.

A network that pools over time (the attention encoder's global average pool) and mixes time steps only by
permutation-equivariant operations (dot-product self-attention, SE, pointwise Dense) cannot tell a series
from its shuffled copy without ``P``; with it, each step carries its position.
"""

import math
from typing import Any, cast

import keras
import numpy as np
import numpy.typing as npt
from keras import ops

from keras_attention.utils.checks import check_choice, check_positive_int, shape_str
from keras_attention.utils.layer_arguments import KernelArguments
from keras_attention.utils.layer_inputs import layer_call
from keras_attention.utils.types import ShapeLike, Tensor

MODES = ("sinusoidal", "learned")


def sinusoidal_table(length: int, channels: int, max_wavelength: float = 10000.0) -> npt.NDArray[np.float64]:
    """The ``(length, channels)`` sinusoidal encoding ``P`` (module docstring) as a float64 numpy array.

    ``P[t, 2i] = sin(t / max_wavelength ** (2i / channels))`` and ``P[t, 2i + 1] = cos(...)`` (Vaswani et al.,
    §3.5; PE-sin and PE-cos of docs/methods/positional_encoding.md).

    Args:
        length: the number of time steps ``T``.
        channels: the number of encoding channels (even: one sin / cos pair per frequency).
        max_wavelength: the base of the frequencies (10,000 in the Transformer).

    Returns:
        ``P`` of shape ``(length, channels)``, float64.

    Example:
        >>> from keras_attention.layers.positional_encoding import sinusoidal_table
        >>> table = sinusoidal_table(100, 8)
        >>> table.shape, [round(float(v), 3) for v in table[1, :4]]
        ((100, 8), [0.841, 0.54, 0.1, 0.995])
    """
    t = np.arange(length, dtype=np.float64)[:, None]
    i = np.arange(channels // 2, dtype=np.float64)[None, :]
    angles = t / max_wavelength ** (2 * i / channels)
    table = np.empty((length, channels))
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
    return table


@keras.saving.register_keras_serializable(package="keras_attention")
class PositionalEncoding(KernelArguments, keras.layers.Layer):
    """Concatenates ``channels`` positional-encoding channels to ``(B, T, C)`` sequences.

    Returns ``[x, P]`` with ``P`` of shape ``(T, channels)``, the same for every series of the batch
    (docs/methods/positional_encoding.md). For ``mode="sinusoidal"`` (Vaswani et al., "Attention is all you
    need", §3.5, whose formulas are unnumbered; PE-sin and PE-cos of the documentation), with ``t = 0 .. T-1``
    and ``i = 0 .. channels/2 - 1``::

        P[t, 2i]     = sin(t / max_wavelength ** (2i / channels))      (PE-sin)
        P[t, 2i + 1] = cos(t / max_wavelength ** (2i / channels))      (PE-cos)

    For ``mode="learned"``, ``P`` is the first ``T`` rows of a trainable ``(max_length, channels)`` table. The
    encoding is concatenated, not added, so that it keeps the series intact and does not tie ``channels`` to a
    model width (docs/methods/positional_encoding.md#positional-encoding-concatenation).

    Args:
        mode: ``"sinusoidal"`` (fixed sin / cos pairs, no weights) or ``"learned"`` (a trainable
            ``(max_length, channels)`` table).
        channels: encoding channels appended (>= 1; even for ``"sinusoidal"``, one sin / cos pair per
            frequency).
        max_wavelength: ``"sinusoidal"``: the base of the frequencies (Vaswani et al.: 10,000), > 1.
        max_length: ``"learned"``: rows of the table (default: the input's length at build, which must then
            be known); series up to this length are accepted.
        kernel_initializer, kernel_regularizer: of the ``"learned"`` table (``KernelArguments``).
        **kwargs: the arguments of ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, C)`` features; ``T`` may be unknown for ``"sinusoidal"``.

    Returns:
        ``(B, T, C + channels)``: the inputs followed by the encoding of each time step.

    Raises:
        ValueError: when constructed, for an unknown ``mode``, ``channels`` below 1 (or odd for
            ``"sinusoidal"``), ``max_wavelength`` not a finite number > 1 or ``max_length`` below 1; when built,
            for inputs that are not ``(B, T, C)`` with a known ``C``, or (``"learned"``) with neither ``T`` nor
            ``max_length`` known or ``T > max_length``; when called (``"learned"``), for a series longer than
            ``max_length`` (in a TensorFlow graph of unknown length, a runtime assertion that names both).
        TypeError: when called on complex or string tensors.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import PositionalEncoding
        >>> series = np.zeros((2, 100, 1), "float32")
        >>> encoded = np.asarray(PositionalEncoding(channels=8)(series))  # the series, then 8 channels
        >>> encoded.shape, [round(float(v), 3) for v in encoded[0, 1, 1:3]]  # sin(1), cos(1)
        ((2, 100, 9), [0.841, 0.54])
        >>> learned = PositionalEncoding(mode="learned", channels=4, max_length=128)
        >>> tuple(learned(series).shape), len(learned.trainable_weights)
        ((2, 100, 5), 1)
    """

    def __init__(
        self,
        mode: str = "sinusoidal",
        channels: int = 8,
        max_wavelength: float = 10000.0,
        max_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, set(MODES))
        self.channels = check_positive_int("channels", channels)
        if self.mode == "sinusoidal" and self.channels % 2:
            raise ValueError(f"Argument `channels` must be even for mode='sinusoidal' (sin / cos pairs); "
                             f"got {channels!r}.")
        if (isinstance(max_wavelength, bool) or not isinstance(max_wavelength, (int, float))
                or not math.isfinite(max_wavelength) or max_wavelength <= 1):
            raise ValueError(f"Argument `max_wavelength` must be a finite number > 1; got {max_wavelength!r}.")
        self.max_wavelength = float(max_wavelength)
        self.max_length = None if max_length is None else check_positive_int("max_length", max_length)
        # the frequencies 1 / max_wavelength ** (2i / channels) of the sin / cos pairs
        self._frequencies = (1.0 / self.max_wavelength ** (2 * np.arange(self.channels // 2) / self.channels)
                             ).astype("float32")

    def _check_shape(self, input_shape: ShapeLike) -> tuple[int | None, int | None, int]:
        """``input_shape`` as ``(B, T, C)`` with a known ``C``; a ValueError naming the shape otherwise."""
        try:
            shape = tuple(None if d is None else int(d) for d in input_shape)
        except TypeError:
            raise ValueError(f"{type(self).__name__} expects inputs of shape (B, T, C); got {input_shape!r}.") from None
        if len(shape) != 3:
            raise ValueError(f"{type(self).__name__} expects inputs of shape (B, T, C), a 3-D tensor; got "
                             f"{shape_str(shape)}.")
        if shape[-1] is None:
            raise ValueError(f"{type(self).__name__} needs a known channel count C; got inputs of shape "
                             f"{shape_str(shape)}.")
        return cast("tuple[int | None, int | None, int]", shape)  # rank 3 with a known C (checked above)

    def build(self, input_shape: ShapeLike) -> None:
        shape = self._check_shape(input_shape)
        if self.mode == "learned":
            length = self.max_length or shape[1]
            if length is None:
                raise ValueError(f"{type(self).__name__}(mode='learned') needs a known series length T or "
                                 f"`max_length`; got inputs of shape {shape_str(shape)} and max_length=None.")
            if shape[1] is not None and shape[1] > length:
                raise ValueError(f"{type(self).__name__}(mode='learned'): inputs of shape {shape_str(shape)} are "
                                 f"longer than max_length={length}.")
            self.table = self.add_kernel("table", (length, self.channels))

    def _encoding(self, steps: int | Tensor) -> Tensor:
        """``P`` for ``steps`` time steps, ``(steps, channels)`` in float32 (sinusoidal) or the table's dtype."""
        if self.mode == "learned":
            return self.table[:steps]
        angles = ops.cast(ops.arange(steps), "float32")[:, None] * ops.convert_to_tensor(self._frequencies)[None, :]
        pairs = ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1)  # (T, channels / 2, 2): interleaved
        return ops.reshape(pairs, (steps, self.channels))

    def _check_length(self, inputs: Tensor) -> Tensor:
        """``mode="learned"``: the series must not be longer than the table (``max_length``); checked by Python
        where the length is known while the call is traced, else (a TensorFlow graph of unknown length) by an
        assertion that runs with it. Either way the error names the length and ``max_length``."""
        if self.mode != "learned":
            return inputs
        rows = int(self.table.shape[0])
        steps = inputs.shape[1]
        message = (f"{type(self).__name__} {self.name!r} (mode='learned') has a table of max_length={rows} steps; "
                   f"a series of T={{}} steps is longer. Build it with a larger `max_length`.")
        if steps is not None:
            if steps > rows:
                raise ValueError(message.format(steps))
            return inputs
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            length = tf.shape(inputs)[1]
            check = tf.debugging.assert_less_equal(length, rows, message=message.format("T"), summarize=1)
            with tf.control_dependencies([check]):
                return tf.identity(inputs)
        return inputs

    @layer_call
    def call(self, inputs: Tensor) -> Tensor:
        inputs = self._check_length(inputs)
        shape = ops.shape(inputs)
        encoding = ops.cast(self._encoding(shape[1]), inputs.dtype)
        encoding = ops.broadcast_to(encoding[None], (shape[0], shape[1], self.channels))
        return ops.concatenate([inputs, encoding], axis=-1)

    def compute_output_shape(self, input_shape: ShapeLike) -> tuple[int | None, int | None, int]:
        shape = self._check_shape(input_shape)
        return (shape[0], shape[1], shape[2] + self.channels)


    def multiply_adds(self, input_shape: ShapeLike) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): 0 (a table concatenated to the series)."""
        return 0

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"mode": self.mode, "channels": self.channels, "max_wavelength": self.max_wavelength,
                       "max_length": self.max_length})
        return config


__all__ = ["MODES", "PositionalEncoding", "sinusoidal_table"]
