"""Constructor arguments that several layers share, as mixins listed before ``keras.layers.Layer`` in a layer's
bases, e.g. ``class CBAM(AttentionOutput, WeightArguments, keras.layers.Layer)``.

Each mixin takes its arguments by keyword in ``__init__`` (passing the others on along the MRO, so the
layer's own ``__init__`` only forwards ``**kwargs``), keeps them as attributes and adds them to
``get_config``. A saved configuration without one of them (written before the layer took it) loads with the
argument's default.

- :class:`KernelArguments`: ``kernel_initializer`` and ``kernel_regularizer``, and :meth:`~KernelArguments.add_kernel`;
- :class:`WeightArguments`: those plus ``bias_initializer`` and ``bias_regularizer``, and
  :meth:`~WeightArguments.add_bias` / :meth:`~WeightArguments.add_kernel_and_bias`;
- :class:`AttentionOutput`: ``return_attention``, as a constructor argument (the default) and as a call
  argument that overrides it for one call (Keras' ``MultiHeadAttention`` convention), so that a trained
  layer returns its attention without being rebuilt;
- :class:`DataFormat`: ``data_format`` of the 2-D image layers, ``"channels_last"`` ``(B, H, W, C)`` or
  ``"channels_first"`` ``(B, C, H, W)``.

It also holds the one definition of the BatchNormalization the papers' official (PyTorch) code uses,
:func:`batch_normalization`, for the layers and the model builders.

Unlike the other modules of :mod:`keras_attention.utils`, this one imports Keras (and so the backend).
"""

import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import keras

from keras_attention.utils.checks import check_bool, check_choice, check_feature_shape
from keras_attention.utils.types import Shape, Tensor

if TYPE_CHECKING:

    class _LayerBase:
        """What the mixins use of the class after them in a layer's MRO, ``keras.layers.Layer`` (for the type
        checker only: at run time the mixins derive from ``object``)."""

        def __init__(self, **kwargs: Any) -> None: ...

        @property
        def name(self) -> str: ...

        @property
        def compute_dtype(self) -> str: ...

        def add_weight(self, *args: Any, **kwargs: Any) -> Tensor: ...

        def get_config(self) -> dict[str, Any]: ...

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> Any: ...

else:
    _LayerBase = object


# PyTorch's BatchNorm defaults, which the papers' official code (and so their results) used: momentum 0.1 in
# PyTorch's convention is Keras' momentum=0.9 (the moving statistics follow the last ~10 steps, not ~100), and
# epsilon 1e-5. With Keras' 0.99, short runs (a few hundred steps) collapse at test time while training accuracy
# climbs (measured: CIFAR ResNet-20 on 4000 Fashion-MNIST images, 4 epochs, batch 32: validation 0.28 with 0.99,
# 0.75 with 0.9).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def batch_normalization(
    name: str, *, dtype: Any = None, momentum: float = BN_MOMENTUM, epsilon: float = BN_EPSILON, **kwargs: Any
) -> keras.layers.BatchNormalization:
    """``keras.layers.BatchNormalization`` over the last axis with PyTorch's defaults (:data:`BN_MOMENTUM`,
    :data:`BN_EPSILON`); ``dtype`` is the owning layer's dtype policy, ``kwargs`` any other argument.

    Args:
        name: the layer's name.
        dtype: the owning layer's dtype policy (``layer.dtype_policy``), or None for the global one.
        momentum: the moving statistics' momentum, in Keras' convention.
        epsilon: added to the variance.
        **kwargs: any other argument of ``keras.layers.BatchNormalization`` (e.g. ``gamma_initializer``).

    Returns:
        The new (unbuilt) layer.
    """
    return keras.layers.BatchNormalization(axis=-1, momentum=momentum, epsilon=epsilon, dtype=dtype, name=name,
                                           **kwargs)


class KernelArguments(_LayerBase):
    """Mixin: the ``kernel_initializer`` and ``kernel_regularizer`` of every kernel a layer creates.

    Args:
        kernel_initializer: initializer of the kernels (name, config or instance); Glorot-uniform by default.
        kernel_regularizer: regularizer of the kernels, or None.
        **kwargs: passed on to the next class of the MRO (``keras.layers.Layer``).
    """

    WEIGHT_KINDS: ClassVar[tuple[str, ...]] = ("kernel",)  # the ``<kind>_initializer`` / ``<kind>_regularizer`` pairs

    def __init__(self, *, kernel_initializer: Any = "glorot_uniform", kernel_regularizer: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._set_weight_arguments("kernel", kernel_initializer, kernel_regularizer)

    def _set_weight_arguments(self, kind: str, initializer: Any, regularizer: Any) -> None:
        """Resolve and keep ``<kind>_initializer`` and ``<kind>_regularizer`` (names, configs or instances)."""
        setattr(self, f"{kind}_initializer", keras.initializers.get(initializer))
        setattr(self, f"{kind}_regularizer", keras.regularizers.get(regularizer))

    def _add_weight_of_kind(self, kind: str, name: str, shape: Sequence[int], initializer: Any = None) -> Tensor:
        """A new variable ``name`` of ``shape`` with the layer's ``<kind>_regularizer`` and its
        ``<kind>_initializer`` (or ``initializer``, where a paper's code fixes the initial value)."""
        return self.add_weight(
            name=name,
            shape=tuple(shape),
            initializer=getattr(self, f"{kind}_initializer") if initializer is None else initializer,
            regularizer=getattr(self, f"{kind}_regularizer"),
        )

    def add_kernel(self, name: str, shape: Sequence[int], initializer: Any = None) -> Tensor:
        """The new variable ``name`` (the full name, e.g. ``"mlp_1_kernel"``) of ``shape``, with the layer's
        kernel regularizer and initializer (or ``initializer``).

        Args:
            name: the variable's name.
            shape: its shape.
            initializer: an initializer instead of the layer's ``kernel_initializer``, or None.

        Returns:
            The new ``keras.Variable``.
        """
        return self._add_weight_of_kind("kernel", name, shape, initializer)

    def get_config(self) -> dict[str, Any]:
        """The next class's config with the initializer and regularizer of every kind in ``WEIGHT_KINDS``
        serialised."""
        config = super().get_config()
        for kind in self.WEIGHT_KINDS:
            config[f"{kind}_initializer"] = keras.initializers.serialize(getattr(self, f"{kind}_initializer"))
            config[f"{kind}_regularizer"] = keras.regularizers.serialize(getattr(self, f"{kind}_regularizer"))
        return config


class WeightArguments(KernelArguments):
    """Mixin: :class:`KernelArguments` plus the ``bias_initializer`` and ``bias_regularizer`` of every bias.

    Args:
        bias_initializer: initializer of the biases; zeros by default.
        bias_regularizer: regularizer of the biases, or None.
        **kwargs: ``kernel_initializer``, ``kernel_regularizer`` (see :class:`KernelArguments`) and the
            arguments of ``keras.layers.Layer``.
    """

    WEIGHT_KINDS = ("kernel", "bias")

    def __init__(self, *, bias_initializer: Any = "zeros", bias_regularizer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._set_weight_arguments("bias", bias_initializer, bias_regularizer)

    def add_bias(self, name: str, size: int, initializer: Any = None) -> Tensor:
        """The new ``(size,)`` variable ``name`` (e.g. ``"mlp_1_bias"``) with the bias regularizer and initializer
        (or ``initializer``).

        Args:
            name: the variable's name.
            size: its length.
            initializer: an initializer instead of the layer's ``bias_initializer``, or None.

        Returns:
            The new ``keras.Variable``.
        """
        return self._add_weight_of_kind("bias", name, (size,), initializer)

    def add_kernel_and_bias(self, name: str, kernel_shape: Sequence[int], initializer: Any = None
                            ) -> tuple[Tensor, Tensor]:
        """Create ``{name}_kernel`` of ``kernel_shape`` and then ``{name}_bias`` of ``(kernel_shape[-1],)``: a
        Dense layer's (``(fan_in, fan_out)``) or a convolution's (``(*window, C_in, C_out)``) weights.
        ``initializer``: of both, instead of the layer's (e.g. ``"zeros"`` where a paper's code starts them at 0).

        Returns:
            ``(kernel, bias)``.
        """
        kernel = self.add_kernel(f"{name}_kernel", kernel_shape, initializer)
        return kernel, self.add_bias(f"{name}_bias", kernel_shape[-1], initializer)


class AttentionOutput(_LayerBase):
    """Mixin: a layer that returns ``output`` or ``(output, attention)``.

    ``return_attention`` given to the constructor is the default of every call; given to a call
    (``layer(x, return_attention=True)``, True or False) it decides for that call only. The layer's ``call``
    takes ``return_attention=None`` and asks :meth:`returns_attention`; the layer implements
    :meth:`output_and_attention_shapes`, from which this mixin derives ``compute_output_shape`` (for the
    constructor's setting) and ``compute_output_spec`` (for the call's, in functional models).

    To get a trained model's attention, call its layer on the layer's inputs, eagerly or inside a
    ``tf.function``: ``layer(keras.Model(model.input, layer.input)(images), return_attention=True)``. A NEW
    functional model cannot output the attention of a layer whose first call returned one tensor: Keras
    (3.15) checks a functional model's connectivity with the outputs of each layer's first call, so it
    reports the second output as "not connected to `inputs`" (``keras.layers.MultiHeadAttention`` with
    ``return_attention_scores=True`` fails the same way). A functional model whose graph itself calls the
    layer with ``return_attention=True`` first is built, saved and loaded normally.

    Args:
        return_attention: also return the attention (default False).
        **kwargs: passed on to the next class of the MRO.
    """

    def __init__(self, *, return_attention: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.return_attention = check_bool("return_attention", return_attention)

    def returns_attention(self, return_attention: bool | None = None) -> bool:
        """Whether a call returns the attention.

        Args:
            return_attention: the call's argument: None (use the constructor's), True or False.

        Returns:
            A bool.

        Raises:
            ValueError: ``return_attention`` is neither None nor a bool; the message names the argument.
        """
        if return_attention is None:
            return self.return_attention
        return check_bool("return_attention", return_attention)

    def output_and_attention_shapes(self, input_shape: Any) -> tuple[Any, Any]:
        """``(output shape, attention shape)`` for ``input_shape`` (one shape, or a list of shapes for a layer
        with several inputs); implemented by each layer."""
        raise NotImplementedError(f"{type(self).__name__} must implement output_and_attention_shapes().")

    def channel_attention_shapes(self, input_shape: Any) -> tuple[Shape, Shape]:
        """``(input shape, (B, 1.., C))``: the shapes of a layer that gates ``(B, T, C)`` or ``(B, H, W, C)`` features
        by one weight per sample and channel (SE, ECA, a global gather-excite), checked by ``check_feature_shape``."""
        shape = check_feature_shape(type(self).__name__, input_shape)
        return shape, (shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape, or ``(output shape, attention shape)`` when the constructor's ``return_attention``."""
        output, attention = self.output_and_attention_shapes(input_shape)
        return (output, attention) if self.return_attention else output

    def compute_output_spec(self, inputs: Any, *args: Any, return_attention: bool | None = None,
                            **kwargs: Any) -> Any:
        """Symbolic outputs (``keras.KerasTensor``) of a call on ``inputs`` (one tensor or a list), honouring
        the call's ``return_attention``; the other call arguments do not change the shapes."""
        if isinstance(inputs, (list, tuple)):
            input_shape: list[Shape] | Shape = [tuple(t.shape) for t in inputs]
        else:
            input_shape = tuple(inputs.shape)
        output, attention = self.output_and_attention_shapes(input_shape)
        output = keras.KerasTensor(output, dtype=self.compute_dtype)
        if self.returns_attention(return_attention):
            return output, keras.KerasTensor(attention, dtype=self.compute_dtype)
        return output

    def get_config(self) -> dict[str, Any]:
        """The next class's config with ``return_attention``."""
        config = super().get_config()
        config["return_attention"] = self.return_attention
        return config


DATA_FORMATS = ("channels_last", "channels_first")


class DataFormat(_LayerBase):
    """Mixin: ``data_format``, the layout of the 2-D images a layer takes and returns.

    ``"channels_last"``: ``(B, H, W, C)``; ``"channels_first"``: ``(B, C, H, W)``; None (the default) takes
    ``keras.config.image_data_format()`` when the layer is made, and the config keeps the resolved value. A
    layer computes in channels-last: :func:`keras_attention.utils.layer_inputs.layer_call` transposes its rank-4
    inputs to channels-last and its rank-4 outputs (attention maps included) back, and
    :func:`~keras_attention.utils.layer_inputs.channels_last_shapes` does the same for the shapes its
    ``build`` and shape methods see. That is two transpositions of every image, exact, and what a caller sees
    is in the caller's layout. Sequences ``(B, T, C)`` are always channels-last, whatever ``data_format``.

    A configuration saved without ``data_format`` (by keras-attention 0.2.0, before the layers took it) loads
    as ``"channels_last"``, the layout those models were built in, not as the current global default.

    Args:
        data_format: ``"channels_last"``, ``"channels_first"`` or None.
        **kwargs: passed on to the next class of the MRO.
    """

    def __init__(self, *, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format is None:
            data_format = keras.config.image_data_format()
        self.data_format = check_choice("data_format", data_format, set(DATA_FORMATS))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any:
        """The layer of ``config``; without ``data_format`` (a 0.2.0 config): ``"channels_last"``."""
        config = dict(config)
        config.setdefault("data_format", "channels_last")
        return super().from_config(config)

    def get_config(self) -> dict[str, Any]:
        """The next class's config with ``data_format``."""
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


def implementation_argument(layer: object, implementation: str, kwargs: dict[str, Any], *,
                            choices: Collection[str], fused_forms: Mapping[bool, str]) -> str:
    """The ``implementation`` a layer takes, with 0.1.x's ``fused=`` still accepted (and mapped).

    XM2A and MSMSA took ``fused=True / False`` before every layer took ``implementation``; a configuration saved
    then (or code written then) gives ``fused``, which is popped from ``kwargs`` and mapped through
    ``fused_forms`` (``{True: ..., False: ...}``) with a ``DeprecationWarning``. Returns the checked
    implementation (one of ``choices``).

    Args:
        layer: the layer being made (its class names it in the warning).
        implementation: the ``implementation`` argument given.
        kwargs: the layer's other keyword arguments; ``fused`` is removed from them when present.
        choices: the implementations the layer takes.
        fused_forms: the implementation ``fused=True`` and ``fused=False`` stand for.

    Returns:
        The implementation: ``fused_forms[fused]`` when ``fused`` was given, else ``implementation``.

    Raises:
        ValueError: ``fused`` is not a bool, or the implementation is not one of ``choices``.
    """
    if "fused" in kwargs:
        fused = check_bool("fused", kwargs.pop("fused"))
        mapped = fused_forms[fused]
        warnings.warn(
            f"{type(layer).__name__}: `fused={fused}` is the 0.1.x name of implementation={mapped!r}; "
            f"pass implementation= instead.", DeprecationWarning, stacklevel=3,
        )
        implementation = mapped
    return check_choice("implementation", implementation, set(choices))
