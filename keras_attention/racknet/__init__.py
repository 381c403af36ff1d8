"""keras_attention.racknet: RACKNet, data-driven allocation of convolution kernels (dissertation ch. 3; SPEC §8).

``analyze(images) -> RackPlan`` (SIFT octaves -> racks, entropy mixtures -> layers and their order,
descriptor clusters -> kernel weights), ``allocate(plan, budget, strategy) -> Allocation`` and
``build_model(plan_or_allocation, input_shape, num_classes)``. Needs OpenCV
(``pip install keras-attention[vision]``), imported only when features are extracted.
"""

from keras_attention.racknet.allocation import STRATEGIES, Allocation, allocate, largest_remainder, strategy_weights
from keras_attention.racknet.analysis import MIXTURES, analyze, count_clusters, fit_mixture
from keras_attention.racknet.builder import build_model
from keras_attention.racknet.features import (
    Keypoints,
    detect_keypoints,
    keypoint_entropies,
    scope_bounds,
    scope_entropies,
    to_gray_uint8,
    unpack_octave,
)
from keras_attention.racknet.plan import PHASES, Component, RackPlan, format_row

__all__ = [
    "PHASES",
    "MIXTURES",
    "STRATEGIES",
    "Allocation",
    "Component",
    "Keypoints",
    "RackPlan",
    "allocate",
    "analyze",
    "build_model",
    "count_clusters",
    "detect_keypoints",
    "fit_mixture",
    "format_row",
    "keypoint_entropies",
    "largest_remainder",
    "scope_bounds",
    "scope_entropies",
    "strategy_weights",
    "to_gray_uint8",
    "unpack_octave",
]
