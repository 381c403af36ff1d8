"""SPANet: salient positions attention (SPANet paper eq. 3-7, Algorithm 1; docs/methods/spanet.md).

``SalientPositionsAttention()(x)`` on ``x`` of shape ``(B, H, W, C)`` (or a sequence ``(B, T, C)``;
the ``N = H * W`` (``T``) positions are flattened, everything else is the same):

1. query and value (eq. 3-4): ``Q = theta(x)``, ``V = g(x)``, two 1x1 convolutions (with bias) from
   ``C`` to ``inter = inter_channels or max(1, C // 2)`` channels; shape ``(B, N, inter)``;
2. salient positions selection, SPS (eq. 5, Algorithm 1): ``score[n] = sum_c Q[n, c]^2``; the ``k``
   positions with the largest score are kept, ``K = Q[topk]`` of shape ``(B, k, inter)``. With
   ``adaptive=True``, ``k = max(1, N // reduction)``;
3. affinity (eq. 6): ``A = softmax(K^T K / inter)`` over the last axis, shape ``(B, inter, inter)``.
   ``normalize=False`` drops the ``/ inter`` as the authors' code does;
4. aggregation (eq. 7): ``y = V A^T``, i.e. ``y[n, i] = sum_j A[i, j] V[n, j]`` (the authors'
   ``A @ g(x)`` in channels-first layout), shape ``(B, N, inter)``;
5. output: ``z = BN(W y) + x`` with ``W`` a 1x1 convolution (with bias) from ``inter`` back to ``C``.

Reading of what the paper leaves open (docs/methods/spanet.md#spanet-embeddings and the sections after it):
- ties in the score (docs/methods/spanet.md#spanet-selection): among equal scores the LOWER position index
  (row-major over ``H, W``) is kept first; this is what ``keras.ops.top_k`` does on the TensorFlow and JAX
  backends, eagerly and under XLA (torch's ``topk`` breaks ties in no fixed order: there, a stable
  ``argsort``). Only the set of kept positions matters, since ``K^T K`` sums over them;
- ``eq. 6``'s ``C`` is the channel count of ``K``, i.e. ``inter`` (docs/methods/spanet.md#spanet-affinity);
- the BatchNorm after ``W`` (docs/methods/spanet.md#spanet-output) keeps the default initialisation (gamma 1,
  beta 0) as in the authors' code, which, unlike the non-local block, does not zero-initialise it; momentum
  0.9 and epsilon 1e-5 are PyTorch's defaults, which the authors' code uses;
- the scores, ``K^T K`` and the softmax are computed in float32 whatever the compute dtype (they are
  tiny, ``inter x inter``; float16 squares overflow easily), and ``A`` is cast back to the compute dtype;
- ``k`` must not exceed ``N``; ``adaptive=True`` needs the spatial sizes to be known when building.

Implementations (``implementation="fast"``, the default, or ``"reference"``; the same output and gradients
to float32 round-off): ``"reference"`` computes steps 1-5 as written. ``"fast"`` never materialises ``y``:
since ``W y = W (V A^T)``, the small per-sample matrix ``A^T W`` (``inter x C``) is formed first and
- when ``C <= 2 * inter`` (the default ``inter = C // 2`` included) ``g`` is folded in too:
  ``W y + b_W = x (g A^T W) + (b_g A^T W + b_W)``, one ``(N x C) (C x C)`` product per sample in place of
  the three full-size products ``g(x)``, ``V A^T`` and ``W y`` (no more arithmetic, two fewer passes);
- otherwise ``theta`` and ``g`` are one ``C -> 2 * inter`` product and ``W y = V (A^T W)``.
Both are differentiated by the backend.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS
from keras_attention.utils.checks import check_bool, check_choice, check_feature_shape, check_positive_int, shape_str
from keras_attention.utils.layer_arguments import DataFormat, WeightArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


def salient_positions(theta: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Salient positions selection, SPS (SPANet paper eq. 5, Algorithm 1).

    The score of a position is ``sum_d theta^2``; the ``k`` positions with the largest score are kept, and among
    equal scores the lower index first (docs/methods/spanet.md#spanet-selection).

    Args:
        theta: the queries, ``(B, N, D)``.
        k: the number of positions kept, ``1 <= k <= N``.

    Returns:
        ``(indices, scores)``: the kept positions ``(B, k)`` (int32), largest score first, and the scores of all
        positions ``(B, N)``.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers.salient_positions_attention import salient_positions
        >>> theta = np.array([[[1.0, 0.0], [0.0, 3.0], [2.0, 2.0], [0.0, 3.0]]], dtype="float32")
        >>> indices, scores = salient_positions(theta, 2)
        >>> np.asarray(indices).tolist(), np.asarray(scores).tolist()
        ([[1, 3]], [[1.0, 9.0, 8.0, 9.0]])
    """
    scores = ops.sum(ops.square(theta), axis=-1)
    if keras.backend.backend() == "torch":  # torch.topk orders ties arbitrarily; Keras' argsort is stable
        return ops.argsort(-scores, axis=-1)[:, :k], scores
    _, indices = ops.top_k(scores, k, sorted=True)
    return indices, scores


@keras.saving.register_keras_serializable(package="keras_attention")
class SalientPositionsAttention(DataFormat, WeightArguments, keras.layers.Layer):
    """Salient positions attention block (SPANet) for ``(B, H, W, C)`` images or ``(B, T, C)`` sequences.

    Over the ``N`` flattened positions: the query and value ``Q = theta(x)``, ``V = g(x)`` (SPANet paper eq. 3-4,
    1x1 convolutions to ``inter`` channels), the ``k`` salient positions ``K = S(Q)`` (eq. 5, Algorithm 1), the
    channel affinity ``A = softmax(K^T K / inter)`` (eq. 6), the aggregation ``y = V A^T`` (eq. 7) and the output
    ``z = BN(W y) + x``. The readings where the paper is silent are in docs/methods/spanet.md#spanet-embeddings,
    #spanet-selection, #spanet-affinity and #spanet-output of that page; also exported as ``SPANet``.

    Args:
        k: number of salient positions kept (ignored when ``adaptive=True``).
        inter_channels: channels of the query / value embeddings; default ``max(1, C // 2)``.
        adaptive: choose ``k = max(1, N // reduction)`` from the number of positions ``N``.
        reduction: the ratio used by ``adaptive``.
        normalize: divide ``K^T K`` by ``inter`` before the softmax (eq. 6); False as the authors' code.
        implementation: ``"fast"`` (default) or ``"reference"``: the same function, computed with fewer
            full-size products or as written (module docstring).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the three 1x1
            convolutions ``theta``, ``g`` and ``W``; ``WeightArguments``.
        **kwargs: the base layer's keyword arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or ``(B, H, W, C)`` images (``(B, C, H, W)`` with
            ``data_format="channels_first"``); the channel count must be known, and the spatial sizes with
            ``adaptive=True``.
        training: passed to the BatchNorm after ``W`` (batch statistics when True).

    Returns:
        ``z = x + BN(W (V A^T))``, of the input's shape.

    Raises:
        ValueError: ``k``, ``reduction`` or ``inter_channels`` is not a positive integer, ``adaptive`` or
            ``normalize`` is not a bool, or ``implementation`` / ``data_format`` is not one of the values above
            (when the layer is made); the input is not of rank 3 or 4, has an unknown channel count, has fewer
            than ``k`` positions, or unknown spatial sizes with ``adaptive=True`` (when it is built).

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import SPANet
        >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
        >>> tuple(SPANet(k=4)(x).shape)
        (2, 8, 8, 16)
        >>> tuple(SPANet(adaptive=True, reduction=16)(x).shape)  # k = 64 positions // 16 = 4
        (2, 8, 8, 16)
        >>> SPANet(k=100).compute_output_shape((2, 8, 8, 16))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: Argument `k`=100 of SalientPositionsAttention exceeds the number of positions H*W=64 ...
    """

    def __init__(
        self,
        k: int = 8,
        inter_channels: int | None = None,
        adaptive: bool = False,
        reduction: int = 16,
        normalize: bool = True,
        implementation: str = "fast",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.k = check_positive_int("k", k)
        if inter_channels is not None:
            check_positive_int("inter_channels", inter_channels)
        self.inter_channels = inter_channels
        self.adaptive = check_bool("adaptive", adaptive)
        self.reduction = check_positive_int("reduction", reduction)
        self.normalize = check_bool("normalize", normalize)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        self.norm = batch_normalization("norm", dtype=self.dtype_policy)

    def _num_positions(self, shape: Shape) -> int | None:
        """``N``, the number of positions of an input of ``shape``; None when a spatial size is unknown."""
        spatial = shape[1:-1]
        return None if any(d is None for d in spatial) else math.prod(cast("tuple[int, ...]", spatial))

    def _resolve_k(self, shape: Shape) -> int:
        """The ``k`` used for an input of ``shape``; raises when it cannot be used."""
        name = type(self).__name__
        n = self._num_positions(shape)
        where = "H*W" if len(shape) == 4 else "T"
        if self.adaptive:
            if n is None:
                raise ValueError(
                    f"{name}(adaptive=True) needs known spatial sizes to set "
                    f"k = max(1, {where} // reduction); got input shape {shape_str(shape)}."
                )
            return max(1, n // self.reduction)
        if n is not None and self.k > n:
            raise ValueError(
                f"Argument `k`={self.k} of {name} exceeds the number of positions {where}={n} of the input "
                f"shape {shape_str(shape)}; expected 1 <= k <= {where}."
            )
        return self.k

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_feature_shape(type(self).__name__, input_shape)
        self._k = self._resolve_k(shape)
        channels = cast(int, shape[-1])  # known: check_feature_shape refuses None
        inter = self.inter_channels or max(1, channels // 2)
        self._inter = inter

        self.theta_kernel, self.theta_bias = self.add_kernel_and_bias("theta", (channels, inter))
        self.g_kernel, self.g_bias = self.add_kernel_and_bias("g", (channels, inter))
        self.w_kernel, self.w_bias = self.add_kernel_and_bias("w", (inter, channels))
        self.norm.build(shape)

    def _affinity(self, theta: Tensor, batch: Tensor | int) -> Tensor:
        """Eq. 5-6: ``A = softmax(K^T K [/ inter])`` of shape ``(B, inter, inter)`` in float32, from the
        queries ``theta`` ``(B, N, inter)``."""
        theta32 = ops.cast(theta, "float32")
        indices, _ = salient_positions(theta32, self._k)
        # K = Q[topk] as one flat gather (ops.take_along_axis is ~20x slower eagerly on TensorFlow)
        offsets = ops.expand_dims(ops.arange(batch, dtype=indices.dtype) * ops.shape(theta)[1], -1)
        keys = ops.take(ops.reshape(theta32, (-1, self._inter)), indices + offsets, axis=0)  # (B, k, inter)
        gram = ops.matmul(ops.transpose(keys, (0, 2, 1)), keys)  # (B, inter, inter)
        if self.normalize:
            gram = gram / float(self._inter)
        return ops.softmax(gram, axis=-1)

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        if self.implementation == "reference":
            return self._call_reference(inputs, training)
        x = inputs
        batch = ops.shape(x)[0]
        flat = ops.reshape(x, (batch, -1, ops.shape(x)[-1]))  # (B, N, C)
        inter = self._inter
        fold_value = int(x.shape[-1]) <= 2 * inter
        if fold_value:
            theta = ops.matmul(flat, self.theta_kernel) + self.theta_bias
        else:
            kernel = ops.concatenate([self.theta_kernel, self.g_kernel], axis=-1)
            both = ops.matmul(flat, kernel) + ops.concatenate([self.theta_bias, self.g_bias], axis=0)
            theta, v = both[..., :inter], both[..., inter:]
        affinity = ops.cast(self._affinity(theta, batch), x.dtype)
        mixed = ops.matmul(ops.transpose(affinity, (0, 2, 1)), self.w_kernel)  # A^T W, (B, inter, C)
        if fold_value:
            kernel = ops.einsum("ci,bid->bcd", self.g_kernel, mixed)  # g A^T W, (B, C, C)
            bias = ops.einsum("i,bid->bd", self.g_bias, mixed) + self.w_bias  # (B, C)
            w = ops.matmul(flat, kernel) + ops.expand_dims(bias, 1)
        else:
            w = ops.matmul(v, mixed) + self.w_bias
        return self.norm(ops.reshape(w, ops.shape(x)), training=training) + x

    def _call_reference(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        x = inputs
        batch = ops.shape(x)[0]
        theta = ops.matmul(x, self.theta_kernel) + self.theta_bias
        v = ops.matmul(x, self.g_kernel) + self.g_bias
        theta = ops.reshape(theta, (batch, -1, self._inter))
        v = ops.reshape(v, (batch, -1, self._inter))
        affinity = ops.cast(self._affinity(theta, batch), v.dtype)
        y = ops.matmul(v, ops.transpose(affinity, (0, 2, 1)))  # (B, N, inter) = V A^T
        y = ops.reshape(y, tuple(ops.shape(x)[:-1]) + (self._inter,))
        w = ops.matmul(y, self.w_kernel) + self.w_bias
        return self.norm(w, training=training) + x

    @channels_last_shapes
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        shape = check_feature_shape(type(self).__name__, input_shape)
        self._resolve_k(shape)
        return shape


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``2 N C d + k d^2 + N d^2 + N d C`` (theta and g, ``K^T K``, ``V
        A^T``, ``W``; ``d`` the inter channels)."""
        n, c, d, k = math.prod(input_shape[1:-1]), int(input_shape[-1]), self._inter, self._k
        return 2 * n * c * d + k * d * d + n * d * d + n * d * c

    def attention_map_entries(self, input_shape: Sequence[int]) -> int:
        """Entries per sample of the attention maps one call keeps: ``K`` (``k x d``) and ``A`` (``d x d``)."""
        return self._k * self._inter + self._inter**2

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "k": self.k,
                "inter_channels": self.inter_channels,
                "adaptive": self.adaptive,
                "reduction": self.reduction,
                "normalize": self.normalize,
                "implementation": self.implementation,
            }
        )
        return config


SPANet = SalientPositionsAttention
