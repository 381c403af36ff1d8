"""keras_attention.saliency: temporal scale-space events and saliency series (numpy/scipy; docs/methods/sdma.md).

- :func:`extract_events` -- events ``(sample, variate, t, sigma, amplitude, ...)`` of ``(N, T, V)`` series
  (dissertation §6.4.2, eq. 6.3-6.7);
- :func:`saliency_series` -- the aggregate saliency series ``(N, T, V)`` built from them (eq. 6.8-6.11);
- :mod:`~keras_attention.saliency.scale_space` -- the Gaussian / DoG pyramid they are built on.
"""

from keras_attention.saliency.events import EVENT_DTYPE, detect_extrema, extract_events
from keras_attention.saliency.scale_space import minimum_length, scale_space
from keras_attention.saliency.series import AMPLITUDES, saliency_series

__all__ = [
    "AMPLITUDES",
    "EVENT_DTYPE",
    "detect_extrema",
    "extract_events",
    "minimum_length",
    "saliency_series",
    "scale_space",
]
