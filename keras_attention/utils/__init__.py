"""Helpers every part of the package may import: argument validation (:mod:`~keras_attention.utils.checks`),
crash-safe file writes (:mod:`~keras_attention.utils.files`), lazy exports (:mod:`~keras_attention.utils.lazy`)
and the execution mode (:mod:`~keras_attention.utils.execution`) import nothing of the package and no
TensorFlow. The layers' shared pieces import Keras: the constructor arguments several layers take
(:mod:`~keras_attention.utils.layer_arguments`) and the building blocks of their fast paths
(:mod:`~keras_attention.utils.fast_ops`)."""
