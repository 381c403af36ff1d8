"""iSparse edge significance scores: channel-level propagation through a Keras graph (eq. 4.6-4.11;
docs/methods/isparse.md#isparse-propagation).

``edge_scores(model, x)`` seeds every model output with the InfFS scores of the model's predictions on
``x`` (``N_L``, eq. 4.10) and walks the functional graph from the outputs to the inputs (nodes in reverse
topological order, so a tensor's score is complete - summed over all its consumers - before its producer
is visited). Scores live at channel level: a tensor ``(B, *S, C)`` carries one score per channel ``C``.

Rules per layer (docs/methods/isparse.md#isparse-propagation):

- Prunable layers (``Dense``, ``Conv1D``, ``Conv2D``, ``Conv3D``) with kernel ``W`` (``(C_in, C_out)`` or
  ``(*k, C_in / groups, C_out)``) and output scores ``N_out``: ``E = |W| * N_out`` broadcast over the
  output axis (eq. 4.6-4.7), and ``N_in[j] = sum of E over every edge that leaves input channel j``
  (eq. 4.8-4.9): every kernel tap and every output unit it feeds (within its group for grouped
  convolutions). A layer called several times (shared weights) accumulates ``E`` over its calls.
- ``BatchNormalization`` (channels-last axis only): ``N_in = N_out * |gamma / sqrt(moving_var + eps)|``
  (``gamma = 1`` without ``scale``).
- ``Flatten`` / ``Reshape`` / ``Permute``: unit-level. The score of an output channel spanning ``P``
  positions is shared equally by its ``P`` units (a rank-2 output has ``P = 1``, so ``Flatten`` uses the
  unit scores as they are); each input channel gets the sum of the scores of its units (the documentation:
  "each input channel receives the sum of the scores of its units",
  docs/methods/isparse.md#isparse-propagation). A Reshape that keeps the channel axis is thus the identity
  and the total score is conserved. Needs static non-batch shapes.
- ``Concatenate`` (layer or op) on the channel axis: the output scores are split by input channel
  counts; on another axis every input gets the output scores.
- A tensor used by several layers (a residual ``Add`` branch, a shared input): the sum of the scores its
  consumers send back. ``Add`` / ``Subtract`` / ``Multiply`` / ``Average`` / ``Maximum`` / ``Minimum``
  (and any other weightless layer or op with several inputs) send the output scores to every input; an
  input with one channel broadcast over ``C`` gets the sum of the ``C`` scores.
- Any other weightless layer or op with one input and one output that keeps the channel count
  (activations, pooling including global pooling, dropout and noise, padding, cropping, up-sampling,
  ``RepeatVector``, ``Lambda``...) is taken to act channel-wise: identity. One that changes the channel
  count, or a weightless op with several outputs, raises a ValueError that names it.
- The package's own attention modules (classes defined in ``keras_attention.layers``), pass-through
  rule: the scores of the module's (first) output go unchanged to the tensor it re-weights -
  ``current`` for ``ScaleSpaceAttention([previous, current])``, the only input for single-input modules
  (CBAM, BAM, SqueezeExcitation, ...). ``previous`` and any attention map returned by
  ``return_attention=True`` get no scores; the modules' internal kernels are not pruned. A multi-input
  attention module without a rule here raises a ValueError.
- Any other layer with weights (``LayerNormalization``, ``DepthwiseConv2D``, ``Conv2DTranspose``,
  ``Embedding``, RNNs, nested models...) raises a ValueError that names it.

Model outputs: each output ``(B, ..., C)`` is seeded with ``inffs`` of its predictions reshaped to
``(samples * positions, C)`` (for the usual ``(B, classes)`` classifier, just the predictions). Scores
for the model inputs are discarded. A prunable layer whose output never reaches a model output gets
``E = 0``. All arithmetic is float64 numpy; scores are not normalised between layers (masks rank edges
within a layer, so a common scale does not matter, and normalising would change how the branches of a
residual block are weighed against each other).
"""

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

import keras

from keras_attention.layers.scale_space_attention import ScaleSpaceAttention
from keras_attention.sparsity.inffs import inffs
from keras_attention.sparsity.samples import NumpySamples, collect_samples, predict_outputs
from keras_attention.utils.types import Tensor

#: A node of Keras' functional graph (``keras.src.ops.node.Node``): one call of an operation.
Node: TypeAlias = Any
#: Float64 scores: one per channel of a tensor (``N``) or one per kernel entry (``E``).
Scores: TypeAlias = NDArray[np.float64]
#: A node's score rule: ``[N_out per output tensor] -> ([N_in per input tensor], {layer name: E})``.
Rule: TypeAlias = Callable[[list[Scores]], tuple[list[Scores], dict[str, Scores]]]

PRUNABLE_TYPES = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
UNIT_LEVEL_TYPES = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.Permute)

# Attention modules taking several inputs: index of the input that receives the output's scores.
ATTENTION_SCORE_INPUT: dict[type, int] = {ScaleSpaceAttention: 1}


def is_prunable(layer: object) -> bool:
    """Whether iSparse prunes ``layer``'s kernel: a Dense, Conv1D, Conv2D or Conv3D layer."""
    return isinstance(layer, PRUNABLE_TYPES)


def kernel_variable(layer: keras.layers.Layer) -> keras.Variable:
    """The kernel variable of a prunable layer (the one iSparse masks)."""
    var = getattr(layer, "_kernel", None)
    return var if var is not None else layer.kernel


def kernel_array(layer: keras.layers.Layer) -> NDArray[Any]:
    """The kernel of a prunable layer as a numpy array."""
    return np.asarray(keras.ops.convert_to_numpy(kernel_variable(layer).value))


def _describe(op: keras.Operation) -> str:
    return f"layer {op.name!r} ({type(op).__name__})"


def _channels(tensor: Tensor, op: keras.Operation) -> int:
    shape = tuple(tensor.shape)
    if len(shape) < 2 or shape[-1] is None:
        raise ValueError(
            f"iSparse needs a known channel axis on every tensor; {_describe(op)} has a tensor of shape "
            f"{shape} (expected (batch, ..., channels) with a known channel count)."
        )
    return int(shape[-1])


def _node_of(tensor: Tensor) -> Node:
    op, node_index, _ = tensor._keras_history
    return op._inbound_nodes[node_index]


def _model_outputs(model: keras.Model) -> list[Tensor]:
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if not outputs or not all(hasattr(t, "_keras_history") for t in outputs):
        raise ValueError(
            f"Argument `model` must be a built functional or Sequential Keras model (with an Input); got "
            f"{type(model).__name__} {getattr(model, 'name', '')!r} without a symbolic graph."
        )
    return list(outputs)


def _topological_nodes(outputs: Sequence[Tensor]) -> list[Node]:
    """Nodes reachable from ``outputs``, producers before consumers (iterative depth-first post-order)."""
    order: list[Node] = []
    visited: set[int] = set()
    for tensor in outputs:
        stack: list[tuple[Node, bool]] = [(_node_of(tensor), False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for parent in node.parent_nodes:
                if id(parent) not in visited:
                    stack.append((parent, False))
    return order


# --- per-node rules: rule(node, [N_out per output]) -> ([N_in per input tensor], {layer name: E}) ------


def _prunable_rule(op: keras.layers.Layer, node: Node) -> Rule:
    groups = int(getattr(op, "groups", 1) or 1)

    def rule(n_outs: list[Scores]) -> tuple[list[Scores], dict[str, Scores]]:
        n_out = n_outs[0]
        w = np.abs(kernel_array(op).astype(np.float64))
        e = w * n_out
        if isinstance(op, keras.layers.Dense):
            n_in = e.reshape(-1, e.shape[-1]).sum(axis=-1)
        else:
            cin_g, cout = e.shape[-2], e.shape[-1]
            per_group = e.reshape(-1, cin_g, groups, cout // groups).sum(axis=(0, 3))  # (cin_g, groups)
            n_in = per_group.T.reshape(-1)
        return [n_in], {op.name: e}

    return rule


def _batchnorm_rule(op: keras.layers.BatchNormalization, node: Node) -> Rule:
    rank = len(node.input_tensors[0].shape)
    axis = op.axis if isinstance(op.axis, int) else (op.axis[0] if len(op.axis) == 1 else None)
    if axis is None or axis % rank != rank - 1:
        raise ValueError(
            f"iSparse handles {_describe(op)} only on the channels-last axis; got axis={op.axis!r} for "
            f"inputs of rank {rank}."
        )

    def rule(n_outs: list[Scores]) -> tuple[list[Scores], dict[str, Scores]]:
        var = keras.ops.convert_to_numpy(op.moving_variance).astype(np.float64)
        gamma = keras.ops.convert_to_numpy(op.gamma).astype(np.float64) if op.scale else 1.0
        return [n_outs[0] * np.abs(gamma / np.sqrt(var + op.epsilon))], {}

    return rule


def _unit_level_rule(op: keras.layers.Layer, node: Node) -> Rule:
    in_shape, out_shape = tuple(node.input_tensors[0].shape[1:]), tuple(node.output_tensors[0].shape[1:])
    if any(d is None for d in in_shape + out_shape):
        raise ValueError(
            f"iSparse needs static shapes around {_describe(op)}; got input (None, {in_shape}) and output "
            f"(None, {out_shape})."
        )
    if isinstance(op, keras.layers.Permute):
        # out[..., k, ...] = in[..., dims[k] - 1, ...]; go back with the inverse permutation.
        inverse: NDArray[np.intp] | None = np.argsort([d - 1 for d in op.dims])
    else:
        inverse = None

    def rule(n_outs: list[Scores]) -> tuple[list[Scores], dict[str, Scores]]:
        positions = int(np.prod(out_shape[:-1])) if len(out_shape) > 1 else 1
        units = np.broadcast_to(n_outs[0] / positions, out_shape)
        units = np.transpose(units, inverse) if inverse is not None else units.reshape(in_shape)
        return [units.reshape(-1, in_shape[-1]).sum(axis=0)], {}

    return rule


def _concatenate_rule(op: keras.Operation, node: Node) -> Rule:
    ins = node.input_tensors
    rank = len(node.output_tensors[0].shape)
    axis = op.axis % rank
    sizes = [_channels(t, op) for t in ins]

    def rule(n_outs: list[Scores]) -> tuple[list[Scores], dict[str, Scores]]:
        if axis != rank - 1:
            return [n_outs[0] for _ in ins], {}
        return np.split(n_outs[0], np.cumsum(sizes)[:-1]), {}

    return rule


def _merge_rule(op: keras.Operation, node: Node) -> Rule:
    c_out = _channels(node.output_tensors[0], op)
    sizes = [_channels(t, op) for t in node.input_tensors]
    for t, c in zip(node.input_tensors, sizes):
        if c not in (c_out, 1):
            raise ValueError(
                f"iSparse cannot send scores through {_describe(op)}: input of shape {tuple(t.shape)} has "
                f"{c} channels, expected {c_out} (the output's) or 1 (broadcast)."
            )

    def rule(n_outs: list[Scores]) -> tuple[list[Scores], dict[str, Scores]]:
        return [n_outs[0] if c == c_out else np.array([n_outs[0].sum()]) for c in sizes], {}

    return rule


def _attention_rule(op: keras.layers.Layer, node: Node) -> Rule:
    ins = node.input_tensors
    receiver = ATTENTION_SCORE_INPUT.get(type(op), 0 if len(ins) == 1 else None)
    if receiver is None or receiver >= len(ins):
        raise ValueError(
            f"iSparse has no pass-through rule for the attention module {_describe(op)} called on "
            f"{len(ins)} inputs; add its class to ATTENTION_SCORE_INPUT (index of the re-weighted input)."
        )
    c_in, c_out = _channels(ins[receiver], op), _channels(node.output_tensors[0], op)
    if c_in != c_out:
        raise ValueError(
            f"iSparse pass-through through {_describe(op)} needs the re-weighted input and the output to "
            f"share the channel count; got {c_in} and {c_out}."
        )

    def rule(n_outs: list[Scores]) -> tuple[list[Scores], dict[str, Scores]]:
        return [n_outs[0] if i == receiver else np.zeros(_channels(t, op)) for i, t in enumerate(ins)], {}

    return rule


def _identity_rule(op: keras.Operation, node: Node) -> Rule:
    c_in, c_out = _channels(node.input_tensors[0], op), _channels(node.output_tensors[0], op)
    if c_in != c_out:
        raise ValueError(
            f"iSparse has no score rule for {_describe(op)}: it maps {c_in} channels to {c_out}; expected a "
            "weightless layer that keeps the channel count, or one of Dense, Conv1D/2D/3D, "
            "BatchNormalization, Flatten, Reshape, Permute, Concatenate, Add."
        )

    def rule(n_outs: list[Scores]) -> tuple[list[Scores], dict[str, Scores]]:
        return [n_outs[0]], {}

    return rule


def _rule_for(node: Node) -> Rule | None:
    op = node.operation
    if isinstance(op, keras.layers.InputLayer) or node.is_input:
        return None
    if is_prunable(op):
        return _prunable_rule(op, node)
    if isinstance(op, keras.layers.BatchNormalization):
        return _batchnorm_rule(op, node)
    if type(op).__module__.startswith("keras_attention.layers"):
        return _attention_rule(op, node)
    if getattr(op, "weights", None):
        raise ValueError(
            f"iSparse cannot score {_describe(op)}: it has weights but is neither prunable (Dense, Conv1D, "
            "Conv2D, Conv3D) nor BatchNormalization nor a keras_attention attention module."
        )
    if isinstance(op, UNIT_LEVEL_TYPES):
        return _unit_level_rule(op, node)
    if type(op).__name__ == "Concatenate" and hasattr(op, "axis"):
        return _concatenate_rule(op, node)
    if len(node.output_tensors) != 1:
        raise ValueError(
            f"iSparse has no score rule for {_describe(op)} with {len(node.output_tensors)} outputs."
        )
    if len(node.input_tensors) > 1:
        return _merge_rule(op, node)
    return _identity_rule(op, node)


class ScorePlan:
    """The validated graph of a model: nodes consumers-first, each with its score rule (eq. 4.6-4.11).

    Building the plan raises every ValueError (unsupported model, unknown weighted layer, no prunable
    layer) before any score is computed or any weight is touched. The rules per layer are those of the
    module docstring (docs/methods/isparse.md#isparse-propagation).

    Args:
        model: a built functional or Sequential Keras model (with an ``Input``).

    Attributes:
        model: the model.
        outputs: its symbolic outputs.
        steps: ``(node, rule)`` pairs, consumers before producers.
        prunable: its prunable layers (``Dense``, ``Conv1D``, ``Conv2D``, ``Conv3D``), in model order.

    Raises:
        ValueError: ``model`` has no symbolic graph, a layer that iSparse cannot score (weights but no rule,
            a channel count it cannot follow), or no prunable layer; the message names the layer.

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from keras_attention.sparsity import ScorePlan
        >>> inputs = keras.Input((6,))
        >>> hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(hidden))
        >>> plan = ScorePlan(model)
        >>> [layer.name for layer in plan.prunable]
        ['hidden', 'out']
        >>> edges, neurons = plan.propagate([np.ones(3)])  # N_L = 1 for each of the 3 output neurons
        >>> {name: e.shape for name, e in edges.items()}  # E_l shaped like each kernel (eq. 4.6)
        {'hidden': (6, 4), 'out': (4, 3)}
        >>> w_out = keras.ops.convert_to_numpy(model.get_layer("out").kernel)
        >>> bool(np.allclose(neurons["hidden"], np.abs(w_out).sum(axis=1)))  # N_l = |W_l+1| N_l+1 (eq. 4.8)
        True
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.outputs = _model_outputs(model)
        self.steps: list[tuple[Node, Rule]] = []
        for node in reversed(_topological_nodes(self.outputs)):
            rule = _rule_for(node)
            if rule is not None:
                self.steps.append((node, rule))
        self.prunable: list[keras.layers.Layer] = [layer for layer in model.layers if is_prunable(layer)]
        if not self.prunable:
            raise ValueError(
                f"Model {model.name!r} has no prunable layer (Dense, Conv1D, Conv2D, Conv3D); iSparse has "
                "nothing to sparsify."
            )

    def propagate(self, output_scores: Sequence[ArrayLike]) -> tuple[dict[str, Scores], dict[str, Scores]]:
        """Edge scores ``{layer name: E}`` and output-unit scores ``{layer name: N_out}`` from ``N_L``.

        Args:
            output_scores: ``N_L`` for each model output, one score per channel of that output.

        Returns:
            ``(edges, neurons)``: ``E`` float64 shaped like each prunable layer's kernel (eq. 4.6, 4.11) and
            the scores ``N_out`` its output channels received (eq. 4.8-4.10).
        """
        scores: dict[int, Scores] = {}
        for tensor, seed in zip(self.outputs, output_scores):
            scores[id(tensor)] = scores.get(id(tensor), 0.0) + np.asarray(seed, dtype=np.float64)
        edges = {layer.name: np.zeros(kernel_variable(layer).shape) for layer in self.prunable}
        neurons = {layer.name: np.zeros(int(kernel_variable(layer).shape[-1])) for layer in self.prunable}
        for node, rule in self.steps:
            op = node.operation
            n_outs = [
                np.broadcast_to(np.asarray(scores.get(id(t), 0.0), dtype=np.float64), (_channels(t, op),))
                for t in node.output_tensors
            ]
            n_ins, contributions = rule(n_outs)
            if is_prunable(op):
                neurons[op.name] = neurons[op.name] + n_outs[0]
            for name, e in contributions.items():
                edges[name] = edges[name] + e
            for tensor, n_in in zip(node.input_tensors, n_ins):
                scores[id(tensor)] = scores.get(id(tensor), 0.0) + n_in
        return edges, neurons


def output_scores(model: keras.Model, samples: NumpySamples, alpha: float = 0.5, batch_size: int = 64) -> list[Scores]:
    """``N_L`` for every model output: InfFS of the predictions on ``samples`` (numpy score samples)."""
    seeds = []
    for pred in predict_outputs(model, samples, batch_size):
        pred = pred.reshape(pred.shape[0], -1) if pred.ndim < 2 else pred.reshape(-1, pred.shape[-1])
        seeds.append(inffs(pred, alpha))
    return seeds


@overload
def edge_scores(
    model: keras.Model,
    x: Any,
    *,
    alpha: float = ...,
    batch_size: int = ...,
    max_samples: int | None = ...,
    return_neuron_scores: Literal[False] = ...,
) -> dict[str, Scores]: ...


@overload
def edge_scores(
    model: keras.Model,
    x: Any,
    *,
    alpha: float = ...,
    batch_size: int = ...,
    max_samples: int | None = ...,
    return_neuron_scores: Literal[True],
) -> tuple[dict[str, Scores], dict[str, Scores]]: ...


@overload
def edge_scores(
    model: keras.Model,
    x: Any,
    *,
    alpha: float = ...,
    batch_size: int = ...,
    max_samples: int | None = ...,
    return_neuron_scores: bool,
) -> dict[str, Scores] | tuple[dict[str, Scores], dict[str, Scores]]: ...


def edge_scores(
    model: keras.Model,
    x: Any,
    *,
    alpha: float = 0.5,
    batch_size: int = 64,
    max_samples: int | None = None,
    return_neuron_scores: bool = False,
) -> dict[str, Scores] | tuple[dict[str, Scores], dict[str, Scores]]:
    """iSparse edge significance scores ``E_l`` (eq. 4.6-4.11) of every prunable layer of ``model``.

    Every model output is seeded with the InfFS scores of the model's predictions on ``x`` (``N_L``,
    eq. 4.10), and the scores are propagated back through the absolute weights, ``E_l = |W_l| * N_l``
    (eq. 4.6, 4.11) and ``N_l = |W_l+1| N_l+1`` (eq. 4.8), at channel level through the rest of the graph
    (docs/methods/isparse.md#isparse-propagation).

    Args:
        model: a built functional or Sequential Keras model.
        x: score samples - an array, a list / dict of arrays, or a batched ``tf.data.Dataset`` (first item
            of each element taken as the inputs); at least 2 samples.
        alpha: InfFS loading coefficient (0.5, docs/methods/isparse.md#isparse-output-scores).
        batch_size: batch size of the inference pass on the samples.
        max_samples: use at most this many samples (None: all).
        return_neuron_scores: also return ``{layer name: N_out}``, the output-unit scores each prunable
            layer received.

    Returns:
        ``{layer name: E}`` with ``E`` float64 shaped like the layer's kernel; with
        ``return_neuron_scores=True`` the pair ``(edge scores, neuron scores)``.

    Raises:
        ValueError: ``model`` cannot be scored (see :class:`ScorePlan`), ``x`` is missing or holds fewer than
            2 samples, ``max_samples`` is not None or an integer >= 2, or ``alpha`` is not in [0, 1].

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from keras_attention.sparsity import edge_scores
        >>> inputs = keras.Input((6,))
        >>> hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(hidden))
        >>> x = np.random.default_rng(0).random((16, 6)).astype("float32")  # 16 score samples
        >>> scores = edge_scores(model, x)
        >>> {name: e.shape for name, e in scores.items()}
        {'hidden': (6, 4), 'out': (4, 3)}
        >>> bool(all((e >= 0).all() for e in scores.values()))
        True
        >>> edges, neurons = edge_scores(model, x, return_neuron_scores=True)
        >>> neurons["out"].shape  # N_L: the InfFS scores of the 3 output neurons
        (3,)
    """
    plan = ScorePlan(model)
    samples = collect_samples(x, max_samples)
    edges, neurons = plan.propagate(output_scores(model, samples, alpha, batch_size))
    return (edges, neurons) if return_neuron_scores else edges
