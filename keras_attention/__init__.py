"""keras_attention: saliency-driven attention layers, model builders and tools for Keras 3.

The layers live in :mod:`keras_attention.layers`; model builders in :mod:`keras_attention.models`;
data pipelines in :mod:`keras_attention.data`; iSparse in :mod:`keras_attention.sparsity`; the command
line in :mod:`keras_attention.cli`.
"""

__version__ = "0.1.0"

from keras_attention import layers  # noqa: E402,F401  (registers the serialisable layers)
