"""FA: focus-and-association block-wise attention (FANet paper eq. 5-9, Fig. 1, 3, 4; docs/methods/fa.md).

``FocusAssociation()([x, u])`` (first recalibrated block) or ``FocusAssociation()([x, u, s])`` (later
blocks) recalibrates a whole block ``B_i`` with input ``x = X_i`` and output ``u = U_i`` by one scalar
per sample, and returns ``(x_next, s_next)``:

1. focus (eq. 5-7): ``k' = sigmoid(W2 relu(W1 GAP(x)))`` with ``W1: C -> max(1, C // reduction)`` and
   ``W2: -> 1``; ``GAP`` averages ``x`` over all its spatial axes (eq. 6), ``C`` is the channel count of
   ``x`` itself (the paper's ``C'_i``), taken before any projection;
2. association (eq. 8): without ``s`` (block 1), ``k = k'`` (the paper skips ``F_as`` there); with
   ``s = [k_1 .. k_{i-1}]`` of shape ``(B, i-1)``, ``k = sigmoid(W4 relu(W3 [s, k']))`` with
   ``W3: i -> expansion * i`` (the dimensionality-increasing layer) and ``W4: -> 1``. ``i`` is
   ``s.shape[-1] + 1`` and must be known when the layer is built: a layer instance belongs to one
   block position;
3. weighting (eq. 9): ``x_next = x + (u - x) * k`` and ``s_next = [s, k]`` (``(B, 1)`` for block 1).

Projection (paper: "a linear projection with convolutions ... as in [6]"; docs/methods/fa.md#fa-projection):
when ``x`` and ``u`` differ in shape, ``x`` is replaced in eq. 9 by ``P(x)``, a trainable 1x1 convolution
with ``u``'s channel count, no bias (ResNet's ``W_s x``), ``valid`` padding and, on each spatial axis, the
smallest integer stride ``t`` with ``ceil(n_x / t) == n_u`` (a 1x1 window with stride ``t`` keeps
``ceil(n_x / t)`` positions). Equal sizes give stride 1; when no integer stride fits on some axis (e.g. ``u``
larger than ``x``) a ValueError names both shapes. Unknown (None) sizes match only an unknown size in the same
place.

Readings where the paper is silent (docs/methods/fa.md#fa-weighting, docs/methods/fa.md#fa-focus and
docs/methods/fa.md#fa-deployment): the four FC layers carry no bias, as ``W1 .. W4`` are written in eq. 7-8
(SE-style); the focus step reads the block input ``x``, not its projection, because eq. 6 averages over
``X_i``'s own ``H'_i x W'_i``. All kernels are initialised Glorot-uniform (Keras'
Dense / Conv default). The layer accepts rank-3 (sequences), rank-4 (images) and rank-5 inputs.
Block 0 (the benchmark block) and the multi-stage deployment of Fig. 4 are the model builder's business.

One implementation, no separate fast path: besides the tiny FC layers, the module reads ``x`` once for the
average (eq. 6) and writes ``x + (u - x) * k`` once (eq. 9, one fused element-wise pass under XLA, three
without it); its measured cost at the VGG-16 bottleneck is x1.08 of the step in a ``tf.function`` (see
``benchmarks/results/layer_overhead.md``), within what an extra element-wise pass costs.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels.convolution import conv
from keras_attention.utils.checks import check_positive_int, is_shape, shape_str
from keras_attention.utils.layer_arguments import DataFormat, KernelArguments
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


def projection_strides(x_shape: ShapeLike, u_shape: ShapeLike) -> tuple[int, ...]:
    """Per-axis stride of the 1x1 projection of ``x`` onto ``u``'s spatial shape (see module docstring and
    docs/methods/fa.md#fa-projection): the smallest integer ``t`` with ``ceil(n_x / t) == n_u`` on each axis.

    Args:
        x_shape: the block input's shape ``(B, *S', C')``, channels-last.
        u_shape: the block output's shape ``(B, *S, C)``, of the same rank.

    Returns:
        One stride per spatial axis (1 where both sizes are unknown).

    Raises:
        ValueError: naming both shapes, when no integer stride fits an axis or only one of its sizes is known.

    Example:
        >>> from keras_attention.layers.focus_association import projection_strides
        >>> projection_strides((None, 32, 32, 16), (None, 16, 16, 32)), projection_strides((None, 7, 3), (None, 4, 3))
        ((2, 2), (2,))
    """
    x_sp, u_sp = tuple(x_shape[1:-1]), tuple(u_shape[1:-1])
    strides = []
    for nx, nu in zip(x_sp, u_sp):
        if nx is None or nu is None:
            if nx is None and nu is None:
                strides.append(1)
                continue
            raise ValueError(
                f"FocusAssociation cannot project x {shape_str(x_shape)} onto u {shape_str(u_shape)}: "
                "spatial sizes that differ must be known when the layer is built."
            )
        fit = [t for t in range(1, max(nx, 1) + 1) if math.ceil(nx / t) == nu]
        if not fit:
            raise ValueError(
                f"FocusAssociation cannot project x {shape_str(x_shape)} onto u {shape_str(u_shape)}: "
                f"no integer stride t gives ceil({nx} / t) == {nu}; expected every spatial size of u to "
                "be reachable from x's by a strided 1x1 convolution."
            )
        strides.append(fit[0])
    return tuple(strides)


@keras.saving.register_keras_serializable(package="keras_attention")
class FocusAssociation(DataFormat, KernelArguments, keras.layers.Layer):
    """Focus-and-association module for one recalibrated block (FANet paper eq. 5-9; docs/methods/fa.md).

    Recalibrates a whole block, with input ``x = X_i`` and output ``u = U_i``, by one scalar ``k`` per sample
    (docs/methods/fa.md#fa-call). Focus (eq. 5-7): ``k' = sigmoid(W2 relu(W1 GAP(x)))``, the average over all
    spatial axes of ``x`` itself (eq. 6). Association (eq. 8): for the first recalibrated block ``k = k'``;
    after it, with the earlier blocks' scalars ``s = [k_1 .. k_{i-1}]``, ``k = sigmoid(W4 relu(W3 [s, k']))``.
    Weighting (eq. 9): ``x_next = x + (u - x) * k`` and ``s_next = [s, k]``. When ``x`` and ``u`` differ in
    shape, ``x`` in eq. 9 is first projected by a trainable strided 1x1 convolution to ``u``'s shape
    (docs/methods/fa.md#fa-projection). The four FC layers and the projection have no bias. A layer
    instance belongs to one block position: the length of ``s`` is fixed when it is built.

    Args:
        reduction: ratio ``r_1`` of the focus step's first FC layer, ``C -> max(1, C // reduction)``.
        expansion: ratio ``r_2`` of the association step's first FC layer, ``i -> expansion * i``.
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, kernel_regularizer: for the four FC layers and the projection (no biases);
            ``KernelArguments``.
        **kwargs: the arguments of ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``[x, u]`` for the first recalibrated block or ``[x, u, s]`` after it: ``x`` the block input
            ``(B, *S', C')``, ``u`` the block output ``(B, *S, C)`` of the same rank (3: sequences, 4: images,
            ``(B, C, H, W)`` channels-first, or 5), and ``s`` the associative attentions of the earlier blocks,
            ``(B, i-1)``.

    Returns:
        ``(x_next, s_next)`` of shapes ``(B, *S, C)`` and ``(B, i)`` (``(B, 1)`` for the first block), with
        the scalars ``k`` in ``(0, 1)``.

    Raises:
        ValueError: when constructed, for a ratio below 1; when built, for inputs that are not two or three
            tensors, ``x`` and ``u`` of different ranks or unknown channel counts, ``s`` not ``(B, i-1)`` with a
            known ``i-1 >= 1``, or spatial sizes that no integer stride maps ``x``'s onto (naming both shapes).
        TypeError: when called on complex or string tensors.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import FA
        >>> x = np.random.rand(2, 8, 8, 16).astype("float32")  # block 1: input
        >>> u = np.random.rand(2, 8, 8, 16).astype("float32")  # block 1: output
        >>> x, s = FA(reduction=4)([x, u])  # k_1 = k'_1
        >>> tuple(x.shape), tuple(s.shape)
        ((2, 8, 8, 16), (2, 1))
        >>> u = np.random.rand(2, 4, 4, 32).astype("float32")  # block 2: strided, more channels
        >>> x, s = FA(reduction=4, expansion=4)([x, u, s])  # x projected by a strided 1x1 convolution
        >>> tuple(x.shape), tuple(s.shape), bool(np.all((np.asarray(s) > 0) & (np.asarray(s) < 1)))
        ((2, 4, 4, 32), (2, 2), True)
    """

    def __init__(self, reduction: int = 4, expansion: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.expansion = check_positive_int("expansion", expansion)

    def _check_shapes(
        self, input_shape: Any
    ) -> tuple[Shape, Shape, tuple[int | None, int] | None, tuple[int, ...] | None]:
        """``(x, u, s, strides)``: the shapes (``s`` None for the first block) and the projection's strides
        (None when ``x`` and ``u`` agree); a ValueError naming the shapes when ``input_shape`` (what Keras
        passes, checked here) is not two or three shapes that fit together."""
        name = type(self).__name__
        expected = "a list [x, u] (first recalibrated block) or [x, u, s] (later blocks)"
        if is_shape(input_shape) or not isinstance(input_shape, (tuple, list)):
            got = shape_str(input_shape) if is_shape(input_shape) else repr(input_shape)
            raise ValueError(f"{name} expects inputs={expected}; got a single tensor of shape {got}.")
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) not in (2, 3):
            raise ValueError(
                f"{name} expects inputs={expected}; got {len(shapes)} tensors of shapes "
                f"{[shape_str(s) for s in shapes]}."
            )
        x, u = shapes[0], shapes[1]
        s = shapes[2] if len(shapes) == 3 else None
        if len(x) != len(u) or len(u) not in (3, 4, 5):
            raise ValueError(
                f"{name} expects x and u of the same rank, 3 (B, T, C), 4 (B, H, W, C) or 5; got x "
                f"{shape_str(x)} and u {shape_str(u)}."
            )
        if x[-1] is None or u[-1] is None:
            raise ValueError(
                f"{name} needs known channel counts; got x {shape_str(x)} and u {shape_str(u)}."
            )
        if s is not None and (len(s) != 2 or s[-1] is None or s[-1] < 1):
            raise ValueError(
                f"{name} expects s of shape (B, i-1) with a known i-1 >= 1 (the associative attentions "
                f"of the earlier blocks); got s {shape_str(s)}."
            )
        strides = None if x[1:] == u[1:] else projection_strides(x, u)
        return x, u, cast("tuple[int | None, int] | None", s), strides  # s: (B, i-1), i-1 known (checked above)

    @channels_last_shapes
    def build(self, input_shape: Sequence[ShapeLike]) -> None:
        x, u, s, self._strides = self._check_shapes(input_shape)
        self._spatial_rank = len(u) - 2
        channels_x, channels_u = int(cast(int, x[-1])), int(cast(int, u[-1]))  # known (checked by _check_shapes)
        hidden = max(1, channels_x // self.reduction)
        self.w1 = self.add_kernel("focus_w1", (channels_x, hidden))
        self.w2 = self.add_kernel("focus_w2", (hidden, 1))
        self._with_association = s is not None
        if s is not None:  # self._with_association
            i = int(s[-1]) + 1
            self.w3 = self.add_kernel("association_w3", (i, self.expansion * i))
            self.w4 = self.add_kernel("association_w4", (self.expansion * i, 1))
        if self._strides is not None:
            self.projection = self.add_kernel(
                "projection_kernel", (1,) * self._spatial_rank + (channels_x, channels_u)
            )

    @layer_call
    def call(self, inputs: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        x, u = inputs[0], inputs[1]
        spatial_axes = tuple(range(1, self._spatial_rank + 1))
        descriptor = ops.mean(x, axis=spatial_axes)  # eq. 6, (B, C')
        k = ops.sigmoid(ops.matmul(ops.relu(ops.matmul(descriptor, self.w1)), self.w2))  # eq. 7, (B, 1)
        if self._with_association:
            s = inputs[2]
            attention = ops.concatenate([s, k], axis=-1)  # s'_i, (B, i)
            k = ops.sigmoid(ops.matmul(ops.relu(ops.matmul(attention, self.w3)), self.w4))  # eq. 8
            s_next = ops.concatenate([s, k], axis=-1)
        else:
            s_next = k
        if self._strides is not None:
            x = conv(x, self.projection, strides=self._strides, padding="valid")
        weight = ops.reshape(k, (-1,) + (1,) * (self._spatial_rank + 1))
        x_next = x + (u - x) * weight  # eq. 9
        return x_next, s_next

    @channels_last_shapes
    def compute_output_shape(self, input_shape: Sequence[ShapeLike]) -> tuple[Shape, Shape]:
        _, u, s, _ = self._check_shapes(input_shape)
        i = 1 if s is None else int(s[-1]) + 1
        return tuple(u), (u[0], i)


    def multiply_adds(self, input_shape: Sequence[Sequence[int]]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``C_x h + h`` (focus) ``+ i (e i) + e i`` (association, blocks after
        the first) ``+ N_u C_x C_u`` (the 1x1 projection, when ``x`` and ``u`` differ)."""
        shapes = [tuple(s) for s in input_shape]
        x, u = shapes[0], shapes[1]
        hidden = int(self.w1.shape[-1])
        macs = x[-1] * hidden + hidden
        if len(shapes) == 3:
            i = shapes[2][-1] + 1
            macs += i * self.expansion * i + self.expansion * i
        if x[1:] != u[1:]:
            macs += math.prod(u[1:-1]) * x[-1] * u[-1]
        return macs

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"reduction": self.reduction, "expansion": self.expansion})
        return config


FA = FocusAssociation
