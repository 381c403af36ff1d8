"""Which execution mode the code being traced or run is in, so that a layer's fast path can pick the
formulation that is fastest there (every formulation is exact; the choice only changes speed).

- ``"xla"``: traced for XLA: a TensorFlow ``tf.function(jit_compile=True)`` (also Keras' ``jit_compile=True``
  and functions nested in one), or the JAX backend (whose training steps are ``jax.jit``-compiled);
- ``"graph"``: a plain TensorFlow ``tf.function`` graph;
- ``"eager"``: TensorFlow executing eagerly, or the PyTorch backend.

TensorFlow has no public test for "inside an XLA-compiled function"; its own control-flow helper is used,
and if it moves the answer is ``"graph"`` (the generic formulation, still exact).
"""

IMPLEMENTATIONS = ("fast", "reference")  # the ``implementation`` argument of the layers with a fast path


def execution_mode():
    """``"eager"``, ``"graph"`` or ``"xla"`` (module docstring)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        return "xla"
    if backend != "tensorflow":
        return "eager"
    import tensorflow as tf

    if tf.executing_eagerly():
        return "eager"
    try:
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util

        if control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph()):
            return "xla"
    except (ImportError, AttributeError):  # private helper moved: the generic formulation is exact
        pass
    return "graph"


def in_xla_context():
    """True while the code is traced for XLA (``execution_mode() == "xla"``)."""
    return execution_mode() == "xla"
