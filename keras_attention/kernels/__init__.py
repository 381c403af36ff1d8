"""The layers' fast paths, kept apart from the layers (as Keras keeps its backend kernels under
``keras/src/backend/<backend>/``): a layer module holds its arguments, its weights, the equations of its paper
(``implementation="reference"``) and a ``call`` that dispatches; how ``implementation="fast"`` computes the same
values on each backend lives here.

- :mod:`~keras_attention.kernels.probes`: what the backend can do here (execution mode, grouped and dilated
  convolution gradients, custom gradients), found by trying, each probe in one place;
- :mod:`~keras_attention.kernels.gradients`: custom-gradient building blocks in ``keras.ops``;
- :mod:`~keras_attention.kernels.convolution`: convolutions (banded, phase-split, torch's contiguous layout);
- :mod:`~keras_attention.kernels.gates`: CBAM's and BAM's fused gate pieces;
- :mod:`~keras_attention.kernels.aw_conv`: AWConv2D's forms of the per-sample convolution;
- :mod:`keras_attention.kernels.tensorflow` (SAN's XLA-compiled path, AWConv2D's grouped convolution and
  window gradients) and :mod:`keras_attention.kernels.torch`: code for one backend only, imported by a layer
  only when it runs on that backend.

Every fast path is tested equal, in outputs and gradients, to its layer's reference form
(``tests/layers/test_*_fast_paths.py``).
"""

IMPLEMENTATIONS = ("fast", "reference")  # the ``implementation`` argument every layer with a fast path takes
