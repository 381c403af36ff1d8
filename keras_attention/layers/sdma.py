"""SDMA: saliency-driven mutual attention block and its one-way variant SDCA (dissertation §6.4.4, eq. 6.12).

Documentation: docs/methods/sdma.md.

``SDMA(units)([series_features, saliency_features])`` learns a deep representation of the series and of its
saliency series with two LSTMs, then lets each branch attend the other:

- eq. 6.12a-b: ``Y_T = LSTM_T(series_features)``, ``Y_A = LSTM_A(saliency_features)``, two LSTMs with
  separate weights, ``units`` units each, ``return_sequences=True``;
- eq. 6.12c-d: ``U_T = sigmoid(Y_T)``, ``U_A = sigmoid(Y_A)``;
- eq. 6.12e-f: ``G_T = Y_T * U_A`` (saliency attends the data), ``G_A = Y_A * U_T`` (data attends the saliency);
- eq. 6.12g: ``out = G_T + G_A``.

``SDCA`` (saliency-driven cross attention, the competitor of §6.5.3) is the one-way variant: ``out = Y_T * U_A``.

Readings where the dissertation is silent (docs/methods/sdma.md#sdma-block and, for SDCA,
docs/methods/sdma.md#sdma-sdca):

- The equations are written per variate ``v`` with one LSTM per branch; as in the dissertation's Keras
  implementation, one LSTM per branch sees all variates of its input at once (``(B, T, V) -> (B, T, units)``).
- The sigmoid masks carry gradient (nothing in eq. 6.12 stops it).
- ``return_branches=True`` returns ``(out, G_T, G_A)``, the two tensors a Type 1 multi-layer network feeds
  to its next block (Fig. 6.10a). SDCA attends only the data branch, so its branches are
  ``(G_T, Y_A)``: the data branch attended by the saliency and the saliency branch as the LSTM left it
  (``out`` equals ``G_T`` then).
- The LSTMs keep Keras' defaults (tanh / sigmoid, Glorot-uniform kernel, orthogonal recurrent kernel,
  unit forget bias); their initialisers, regularisers and dropouts are arguments of the block and apply
  to both LSTMs.
- Batch and time sizes of the two inputs must agree (when known); their feature sizes may differ
  (the first block sees ``V`` variates in both, a Type 1 block sees ``units`` in both).
"""

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_attention.utils.checks import (
    check_bool,
    check_positive_int,
    shape_str,
    split_input_shapes,
)
from keras_attention.utils.layer_arguments import WeightArguments
from keras_attention.utils.layer_inputs import layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor

INPUT_NAMES = ["series_features", "saliency_features"]


def _check_rate(argument: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"Argument `{argument}` must be a number in [0, 1); got {value!r}.")
    return float(value)


class _SaliencyCrossAttention(WeightArguments, keras.layers.Layer):
    """Shared body of SDMA (``mutual=True``) and SDCA (``mutual=False``). ``kernel_initializer``,
    ``bias_initializer``, ``kernel_regularizer`` and ``bias_regularizer`` (``WeightArguments``) go to both
    LSTMs, with their recurrent counterparts."""

    mutual = True

    def __init__(
        self,
        units: int,
        return_branches: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        recurrent_initializer: Any = "orthogonal",
        recurrent_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.return_branches = check_bool("return_branches", return_branches)
        self.dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.series_lstm = self._make_lstm("series_lstm")
        self.saliency_lstm = self._make_lstm("saliency_lstm")

    def _make_lstm(self, name: str) -> keras.layers.LSTM:
        return keras.layers.LSTM(
            self.units,
            return_sequences=True,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            kernel_initializer=keras.initializers.get(keras.initializers.serialize(self.kernel_initializer)),
            recurrent_initializer=keras.initializers.get(keras.initializers.serialize(self.recurrent_initializer)),
            bias_initializer=keras.initializers.get(keras.initializers.serialize(self.bias_initializer)),
            kernel_regularizer=self.kernel_regularizer,
            recurrent_regularizer=self.recurrent_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _check_shapes(self, input_shape: Sequence[ShapeLike]) -> tuple[Shape, Shape]:
        name = type(self).__name__
        series, saliency = split_input_shapes(name, input_shape, INPUT_NAMES)
        for label, shape in zip(INPUT_NAMES, (series, saliency)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"{name} expects {label} of shape (B, T, features) with known features; got "
                    f"{label} {shape_str(shape)} (series_features {shape_str(series)}, saliency_features "
                    f"{shape_str(saliency)})."
                )
        for axis, what in ((0, "batch"), (1, "time")):
            a, b = series[axis], saliency[axis]
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"{name} needs the same {what} size in both inputs; got series_features "
                    f"{shape_str(series)} and saliency_features {shape_str(saliency)}."
                )
        return series, saliency

    def build(self, input_shape: Sequence[ShapeLike]) -> None:
        series, saliency = self._check_shapes(input_shape)
        self.series_lstm.build(series)
        self.saliency_lstm.build(saliency)

    def branch_features(self, inputs: Sequence[Tensor], training: bool | None = None) -> tuple[Tensor, Tensor]:
        """``(Y_T, Y_A)`` of eq. 6.12a-b: the outputs of the two LSTMs."""
        series, saliency = inputs
        return self.series_lstm(series, training=training), self.saliency_lstm(saliency, training=training)

    @layer_call
    def call(self, inputs: Sequence[Tensor], training: bool | None = None) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        y_t, y_a = self.branch_features(inputs, training=training)
        g_t = y_t * ops.sigmoid(y_a)  # eq. 6.12d-e
        if self.mutual:
            g_a = y_a * ops.sigmoid(y_t)  # eq. 6.12c, f
            out = g_t + g_a  # eq. 6.12g
        else:
            g_a = y_a
            out = g_t
        if self.return_branches:
            return out, g_t, g_a
        return out

    def compute_output_shape(self, input_shape: Sequence[ShapeLike]) -> Shape | tuple[Shape, Shape, Shape]:
        series, _ = self._check_shapes(input_shape)
        shape = (series[0], series[1], self.units)
        if self.return_branches:
            return shape, shape, shape
        return shape


    def multiply_adds(self, input_shape: Sequence[Sequence[int]]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): the two LSTMs (series and saliency): ``T 4 U (V + U)`` each; the
        gates are element-wise."""
        return sum(shape[1] * 4 * self.units * (shape[-1] + self.units) for shape in input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "return_branches": self.return_branches,
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
                "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_attention")
class SDMA(_SaliencyCrossAttention):
    """Saliency-driven mutual attention block (dissertation eq. 6.12; docs/methods/sdma.md#sdma-block).

    Two LSTMs with separate weights learn the series' features ``Y_T = LSTM_T(series_features)`` and the
    saliency series' features ``Y_A = LSTM_A(saliency_features)`` (eq. 6.12a-b, ``return_sequences=True``);
    their sigmoids ``U_T = sigmoid(Y_T)`` and ``U_A = sigmoid(Y_A)`` (eq. 6.12c-d) gate the other branch,
    ``G_T = Y_T * U_A`` and ``G_A = Y_A * U_T`` (eq. 6.12e-f), and the block returns ``G_T + G_A``
    (eq. 6.12g). The masks carry gradient.

    Args:
        units: units of each of the two LSTMs (>= 1).
        return_branches: also return the two branches, the tensors a Type 1 network feeds to its next block
            (Fig. 6.10a).
        dropout: the input dropout of both LSTMs, in ``[0, 1)``.
        recurrent_dropout: the recurrent dropout of both LSTMs, in ``[0, 1)``.
        recurrent_initializer: the recurrent kernels' initializer (orthogonal by default), both branches.
        recurrent_regularizer: the recurrent kernels' regularizer, or None, both branches.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: the LSTMs' input kernels and
            biases, both branches (``WeightArguments``; Glorot-uniform and zeros, with Keras' unit forget bias).
        **kwargs: the arguments of ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: the list ``[series_features, saliency_features]`` of shapes ``(B, T, V_T)`` and ``(B, T, V_A)``:
            the series (or the features of an earlier block) and its saliency series (or their features). The
            batch and time sizes must agree; the feature sizes may differ.
        training: the LSTMs' mode (dropout applied when True).

    Returns:
        ``out = Y_T * sigmoid(Y_A) + Y_A * sigmoid(Y_T)`` of shape ``(B, T, units)``, or ``(out, G_T, G_A)``
        (three tensors of that shape) with ``return_branches=True``.

    Raises:
        ValueError: when constructed, for ``units`` below 1, a dropout outside ``[0, 1)`` or a non-bool
            ``return_branches``; when built or called, for inputs that are not two ``(B, T, features)`` tensors
            with known features and the same batch and time sizes.
        TypeError: when called on complex or string tensors.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import SDMA
        >>> series = np.random.rand(2, 20, 3).astype("float32")  # (B, T, V)
        >>> saliency = np.random.rand(2, 20, 3).astype("float32")  # its saliency series
        >>> tuple(SDMA(6)([series, saliency]).shape)
        (2, 20, 6)
        >>> out, g_t, g_a = SDMA(6, return_branches=True)([series, saliency])
        >>> tuple(g_a.shape), bool(np.allclose(out, np.asarray(g_t) + np.asarray(g_a)))
        ((2, 20, 6), True)
    """

    mutual = True


@keras.saving.register_keras_serializable(package="keras_attention")
class SDCA(_SaliencyCrossAttention):
    """Saliency-driven (one-way) cross attention: ``out = Y_T * sigmoid(Y_A)`` (docs/methods/sdma.md#sdma-sdca).

    The competitor of the dissertation's §6.5.3 and Table 6.2: the two LSTM branches of :class:`SDMA`
    (eq. 6.12a-b), but only the data branch is attended: the saliency mask ``U_A = sigmoid(Y_A)`` (eq. 6.12d)
    gates ``Y_T`` (eq. 6.12e), and ``G_T = Y_T * U_A`` is the output.

    Args:
        units: units of each of the two LSTMs (>= 1).
        return_branches: also return the two branches, the tensors a Type 1 network feeds to its next block
            (Fig. 6.10a).
        dropout: the input dropout of both LSTMs, in ``[0, 1)``.
        recurrent_dropout: the recurrent dropout of both LSTMs, in ``[0, 1)``.
        recurrent_initializer: the recurrent kernels' initializer (orthogonal by default), both branches.
        recurrent_regularizer: the recurrent kernels' regularizer, or None, both branches.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: the LSTMs' input kernels and
            biases, both branches (``WeightArguments``; Glorot-uniform and zeros, with Keras' unit forget bias).
        **kwargs: the arguments of ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: the list ``[series_features, saliency_features]`` of shapes ``(B, T, V_T)`` and ``(B, T, V_A)``:
            the series (or the features of an earlier block) and its saliency series (or their features). The
            batch and time sizes must agree; the feature sizes may differ.
        training: the LSTMs' mode (dropout applied when True).

    Returns:
        ``out = Y_T * sigmoid(Y_A)`` of shape ``(B, T, units)``, or ``(out, G_T, Y_A)`` with
        ``return_branches=True``, where ``G_T = out`` and ``Y_A`` is the saliency LSTM's output (the saliency
        branch is not attended).

    Raises:
        ValueError: when constructed, for ``units`` below 1, a dropout outside ``[0, 1)`` or a non-bool
            ``return_branches``; when built or called, for inputs that are not two ``(B, T, features)`` tensors
            with known features and the same batch and time sizes.
        TypeError: when called on complex or string tensors.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import SDCA
        >>> series = np.random.rand(2, 20, 3).astype("float32")
        >>> saliency = np.random.rand(2, 20, 3).astype("float32")
        >>> out, g_t, y_a = SDCA(6, return_branches=True)([series, saliency])
        >>> tuple(out.shape), bool(np.allclose(out, g_t))
        ((2, 20, 6), True)
    """

    mutual = False


__all__ = ["SDCA", "SDMA"]
