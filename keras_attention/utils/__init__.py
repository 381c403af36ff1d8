"""Helpers every part of the package may import: argument validation (:mod:`~keras_attention.utils.checks`),
crash-safe file writes (:mod:`~keras_attention.utils.files`) and lazy exports (:mod:`~keras_attention.utils.lazy`)
import nothing of the package and no TensorFlow. The layers' shared pieces import Keras: the constructor
arguments several layers take (:mod:`~keras_attention.utils.layer_arguments`) and what every layer does with
integer inputs and empty batches (:mod:`~keras_attention.utils.layer_inputs`). The fast paths' building blocks
are in :mod:`keras_attention.kernels`."""
