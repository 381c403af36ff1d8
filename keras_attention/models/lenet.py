"""LeNet-5 seed architecture with attention slots (SAN paper IV-B.1, Fig. 6a; SPEC §10).

conv 6@5x5 ``same`` tanh -> average-pool 2 -> conv 16@5x5 ``valid`` tanh -> average-pool 2 ->
dense 120 tanh -> dense 84 tanh -> softmax.

Attention slots: after each convolution, on the pair (input of the convolution, its output); for the
first one ``previous`` is the network image. Both placements give the same two modules: every
convolution (full) is also the last one before a pooling (bottleneck). SAN's smoothing kernel is 5x5,
the feature branch's kernel size (SPEC §1.5). The second SAN pair is 14x14 -> 10x10 for 28 px images:
SAN centre-crops ``previous`` (SPEC §1.1).
"""

import keras

from keras_attention.models._common import (
    check_input_shape,
    check_num_classes,
    check_width,
    classifier_head,
    scaled,
)
from keras_attention.models.attention_slots import apply_attention, resolve_deployment

LENET_MIN_SIZE = 12  # 5x5 valid conv after one 2x pooling, then one more 2x pooling


def lenet5(
    input_shape,
    num_classes,
    attention=None,
    placement="bottleneck",
    width=1.0,
    *,
    attention_options=None,
    name=None,
):
    """LeNet-5 (``input_shape=(H, W, C)``, H and W >= 12) with optional attention after both convolutions.

    Args:
        input_shape: image shape without the batch axis.
        num_classes: softmax classes (>= 2).
        attention: None or a kind of :mod:`keras_attention.layers.registry` deployed ``"slot"`` at rank 2.
        placement: ``"bottleneck"`` or ``"full"``; the same model for LeNet-5.
        width: multiplier of every filter / unit count (each at least 1).
        attention_options: extra keyword arguments for every attention layer.
        name: model name (default ``lenet5`` or ``lenet5_<kind>_<placement>``).
    """
    builder = "lenet5"
    shape = check_input_shape(builder, input_shape, rank=2, minimum=LENET_MIN_SIZE)
    num_classes = check_num_classes(builder, num_classes)
    width = check_width(builder, width)
    deployment = resolve_deployment(builder, attention, placement, attention_options, rank=2)
    kind, options = deployment.slot, deployment.slot_options

    inputs = keras.Input(shape, name="image")
    x = keras.layers.Conv2D(scaled(6, width), 5, padding="same", activation="tanh", name="conv1")(inputs)
    x = apply_attention(kind, inputs, x, "conv1", kernel_size=5, options=options)
    pooled = keras.layers.AveragePooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(scaled(16, width), 5, padding="valid", activation="tanh", name="conv2")(pooled)
    x = apply_attention(kind, pooled, x, "conv2", kernel_size=5, options=options)
    x = keras.layers.AveragePooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(scaled(120, width), activation="tanh", name="fc1")(x)
    x = keras.layers.Dense(scaled(84, width), activation="tanh", name="fc2")(x)
    outputs = classifier_head(x, num_classes)
    return keras.Model(inputs, outputs, name=deployment.model_name(builder, name))
