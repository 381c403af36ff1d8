"""The type names the package's annotations use.

Keras 3 runs on TensorFlow, JAX and PyTorch, so a tensor in a signature is whatever the backend (or numpy, or a
symbolic ``KerasTensor``) passes: the annotations call it :data:`Tensor` and read it as ``Any``.
"""

from collections.abc import Sequence
from typing import Any, TypeAlias

#: A backend tensor (``tf.Tensor``, ``jax.Array``, ``torch.Tensor``), a numpy array or a ``KerasTensor``.
Tensor: TypeAlias = Any
#: A shape as Keras passes it to ``build`` / ``compute_output_shape``: ints, ``None`` for unknown sizes.
Shape: TypeAlias = tuple[int | None, ...]
#: A shape as a user may write it (a list or a tuple).
ShapeLike: TypeAlias = Sequence[int | None]

__all__ = ["Shape", "ShapeLike", "Tensor"]
