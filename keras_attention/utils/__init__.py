"""Helpers every part of the package may import (they import nothing of the package and no TensorFlow):
argument validation (:mod:`~keras_attention.utils.checks`) and crash-safe file writes
(:mod:`~keras_attention.utils.files`)."""
