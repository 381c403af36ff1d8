"""keras_attention: saliency-driven attention layers, model builders and tools for Keras 3.

The layers live in :mod:`keras_attention.layers` (and :func:`create_attention` makes any registered attention kind
by name: ``keras_attention.create_attention("eca")``); model builders in :mod:`keras_attention.models`;
data pipelines in :mod:`keras_attention.data`; iSparse in :mod:`keras_attention.sparsity`; the command
line in :mod:`keras_attention.cli`.

``import keras_attention`` registers every serialisable class of the package with Keras (the layers and
iSparse's ``MaskConstraint``), so ``keras.saving.load_model`` can rebuild a saved model of this package in
that process: Keras finds a custom class only once its module has been imported. The one exception is
the ``keras-attention`` command itself (``keras-attention ...`` or ``python -m keras_attention[.cli]``):
it imports Keras and TensorFlow only after its arguments are parsed, so that ``--help`` and argument
errors answer at once, and registers the classes before it loads or builds a model.
"""

import os
import sys

from keras_attention.utils.lazy import lazy_exports

__version__ = "0.2.0"
# imported on first use (the registry itself imports neither Keras nor TensorFlow)
__getattr__, __dir__ = lazy_exports(__name__, {"create_attention": ".layers.registry"})


def _started_as_command() -> bool:
    """True while the ``keras-attention`` command starts (its script, or ``python -m keras_attention...``,
    for which Python imports this package while ``sys.argv[0]`` is still ``-m``)."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return program in ("keras-attention", "keras-attention.exe", "-m")


if _started_as_command():
    # Before anything imports TensorFlow: no oneDNN / CUDA start-up lines for a command-line user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
else:
    from keras_attention import layers  # noqa: E402,F401  (registers the serialisable layers)
    from keras_attention import sparsity  # noqa: E402,F401  (registers MaskConstraint)
