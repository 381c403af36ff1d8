"""Model builders: the seed architectures of the papers with attention slots (docs/models.md).

Every image builder is ``builder(input_shape, num_classes, attention=None, placement=..., width=1.0,
**options)`` and returns an uncompiled functional ``keras.Model``. ``attention`` is None or a kind
of the registry :mod:`keras_attention.layers.registry` deployed ``"slot"``; ``placement`` is ``"bottleneck"`` (one
module right before each down-sampling) or ``"full"`` (one after every trainable convolution /
recurrent layer; inside every block for residual networks). VGG and the ResNets default to
``placement=None`` (the kind's own default) and also take the deployed kinds ``"fa"`` / ``"fa+se"``
(FANet Fig. 4), ``"spanet"`` / ``"nonlocal"`` after ``stage`` (ResNets), and ``conv="aw"`` (ResNets) /
``conv="sk"`` (ResNets and LeNet-5: selective kernel units). Every image builder takes ``data_format``
(``"channels_last"``, ``"channels_first"``; default ``keras.config.image_data_format()``), with ``input_shape`` in
that layout, and passes it to every layer and attention module. TensorFlow runs a channels-first ``Conv2D`` on
the CPU only through oneDNN (its default on x86 Linux); its own CPU kernels refuse it and its filter gradient, so
elsewhere build channels-first models for a GPU, or under JAX or torch.

Time-series networks of the SDMA chapter (``sdma_net`` and the Table 6.2 competitors) take
``(input_shape, num_classes, ..., task=...)``; those that use saliency take ``[series, saliency]``.
"""

from keras_attention.models.attention_encoder import attention_encoder, attention_parameter_count
from keras_attention.models.attention_slots import (
    ATTENTION_KINDS,
    DEPLOYED_KINDS,
    PLACEMENTS,
    apply_attention,
    attention_layers,
    register_attention,
    resolve_attention,
    resolve_deployment,
    unregister_attention,
)
from keras_attention.models.lenet import lenet5
from keras_attention.models.lstm import lstm4
from keras_attention.models.resnet import cifar_resnet, resnet18, resnet50
from keras_attention.models.sdma_net import sdma_net
from keras_attention.models.timeseries_nets import (
    fusion_cross_attention,
    lstm_baseline,
    san1d_lstm,
    self_attention_lstm,
)
from keras_attention.models.vgg import vgg16, vgg19

BUILDERS = {
    "lenet5": lenet5,
    "vgg16": vgg16,
    "vgg19": vgg19,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "cifar_resnet": cifar_resnet,
    "lstm4": lstm4,
}

__all__ = [
    "ATTENTION_KINDS",
    "BUILDERS",
    "DEPLOYED_KINDS",
    "PLACEMENTS",
    "apply_attention",
    "attention_encoder",
    "attention_layers",
    "attention_parameter_count",
    "cifar_resnet",
    "fusion_cross_attention",
    "lenet5",
    "lstm_baseline",
    "lstm4",
    "register_attention",
    "resolve_attention",
    "resolve_deployment",
    "resnet18",
    "resnet50",
    "san1d_lstm",
    "sdma_net",
    "self_attention_lstm",
    "unregister_attention",
    "vgg16",
    "vgg19",
]
