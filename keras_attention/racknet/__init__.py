"""keras_attention.racknet: RACKNet, data-driven allocation of convolution kernels (dissertation ch. 3;
docs/methods/racknet.md).

``analyze(images) -> RackPlan`` (SIFT octaves -> racks, entropy mixtures -> layers and their order,
descriptor clusters -> kernel weights), ``allocate(plan, budget, strategy) -> Allocation`` and
``build_model(plan_or_allocation, input_shape, num_classes)``. Needs OpenCV
(``pip install keras-attention[vision]``), imported only when features are extracted.
"""

from keras_attention.utils.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["DEFAULT_BUDGET", "STRATEGIES", "Allocation", "allocate", "format_row", "largest_remainder",
                     "strategy_weights"], ".allocation"),
    **dict.fromkeys(["MIXTURES", "analyze", "count_clusters", "fit_mixture"], ".analysis"),
    "build_model": ".builder",
    **dict.fromkeys(["Keypoints", "detect_keypoints", "keypoint_entropies", "scope_bounds", "scope_entropies",
                     "to_gray_uint8", "unpack_octave"], ".features"),
    **dict.fromkeys(["PHASES", "Component", "RackPlan"], ".plan"),
    **dict.fromkeys(["HISTOGRAM_IMAGES", "default_upscale", "describe_plan", "entropy_sample"], ".report"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
