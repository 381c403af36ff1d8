"""What ``keras-attention racknet analyze`` (and the RACKNet experiment) report about a plan: the SIFT
enlargement an image size needs (:func:`default_upscale`), the keypoint entropies its histogram is drawn from
(:func:`entropy_sample`), and the plan in words (:func:`describe_plan`, a dissertation Table 3.2 row plus one line
per layer)."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from keras_attention.racknet.features import detect_keypoints, keypoint_entropies, to_gray_uint8
from keras_attention.racknet.plan import PHASES, RackPlan

HISTOGRAM_IMAGES = 5000  # images whose keypoints the entropy histogram shows


def default_upscale(image_shape: Sequence[int]) -> int:
    """SIFT enlargement for images of ``image_shape`` ``(H, W, ...)``: 1 from 28 px on, else ceil(32 / side).

    Tiny images give SIFT almost nothing to detect, so they are enlarged before detection
    (docs/methods/racknet.md#racknet-keypoints).

    Args:
        image_shape: ``(height, width, ...)`` of one image; the smaller side decides.

    Returns:
        The integer ``upscale`` for :func:`~keras_attention.racknet.analyze`.

    Example:
        >>> from keras_attention.racknet import default_upscale
        >>> default_upscale((8, 8)), default_upscale((16, 20)), default_upscale((28, 28, 1))
        (4, 2, 1)
    """
    side = min(int(image_shape[0]), int(image_shape[1]))
    return 1 if side >= 28 else math.ceil(32 / side)


def entropy_sample(
    images: NDArray[Any], plan: RackPlan, max_images: int = HISTOGRAM_IMAGES, n_jobs: int | None = None
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``(entropies, octaves)`` of the SIFT keypoints of the first ``max_images`` of ``images``.

    Keypoints are detected with the plan's ``upscale`` and ``sift_params``, so for the images the plan
    was made from they are exactly the analysed keypoints (module docstring), whose entropy histogram per
    octave shows the components of each rack (docs/methods/racknet.md#racknet-layers).

    Args:
        images: the images (see :func:`~keras_attention.racknet.to_gray_uint8`).
        plan: the :class:`~keras_attention.racknet.RackPlan` they were analysed into.
        max_images: how many of the first images to read.
        n_jobs: SIFT threads (None: the CPU count, at most 8).

    Returns:
        The scope entropy (bits) and the octave of every keypoint, two arrays of one length.

    Raises:
        ValueError: invalid ``images`` (see :func:`~keras_attention.racknet.to_gray_uint8`).

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from keras_attention.racknet import analyze, entropy_sample
        >>> images = load_digits().images[:20] / 16.0
        >>> plan = analyze(images, upscale=4, n_jobs=1)
        >>> entropies, octaves = entropy_sample(images, plan, max_images=5, n_jobs=1)
        >>> entropies.shape == octaves.shape, len(entropies) > 0
        (True, True)
    """
    gray = to_gray_uint8(images[:max_images])
    keypoints = detect_keypoints(gray, upscale=plan.settings.get("upscale", 1),
                                 sift_params=plan.settings.get("sift_params") or None, n_jobs=n_jobs)
    return keypoint_entropies(gray, keypoints), keypoints.octave


def describe_plan(plan: RackPlan, name: str) -> str:
    """The plan as a Table 3.2 row plus one line per layer (what ``racknet analyze`` prints).

    Args:
        plan: a :class:`~keras_attention.racknet.RackPlan`, allocated or not.
        name: the data set's name, the row's first column.

    Returns:
        A header line (images, keypoints, octaves, settings), the Table 3.2 row, one line per layer
        (its component and kernels) and the seconds of each phase, joined by newlines.

    Example:
        >>> from keras_attention.racknet import Component, RackPlan, describe_plan
        >>> plan = RackPlan(octaves=[0, 1], components=[
        ...     [Component(2.1, 0.3, 0.6, 120, 4), Component(3.2, 0.2, 0.4, 80, 2)],
        ...     [Component(2.8, 0.4, 1.0, 60, 3)]], octave_counts={0: 200, 1: 60}, n_images=10,
        ...     n_keypoints=260, settings={"upscale": 4, "mixture": "bic"},
        ...     timings={"features": 0.5, "entropy": 0.1, "mixture": 0.2, "clustering": 0.2})
        >>> print(describe_plan(plan.allocated(64), "toy"))
        RACKNet plan for toy: 10 images, 260 SIFT keypoints, octave counts {0: 200, 1: 60}, upscale 4, mixture bic
        <BLANKLINE>
        Dataset          Convolution Layers <Kernels> (budget 64, '-' = down-sampling by 2)
        toy              2-1 (18,25-21)
        <BLANKLINE>
        rack 1 (octave 0, 200 keypoints):
          layer 1: entropy mean 2.100 bits (std 0.300, weight 0.600), 120 keypoints, 4 cluster(s) -> 18 kernels
          layer 2: entropy mean 3.200 bits (std 0.200, weight 0.400), 80 keypoints, 2 cluster(s) -> 25 kernels
        rack 2 (octave 1, 60 keypoints):
          layer 1: entropy mean 2.800 bits (std 0.400, weight 1.000), 60 keypoints, 3 cluster(s) -> 21 kernels
        <BLANKLINE>
        seconds per phase: features 0.50, entropy 0.10, mixture 0.20, clustering 0.20 (total 1.00)
    """
    lines = [
        f"RACKNet plan for {name}: {plan.n_images} images, {plan.n_keypoints} SIFT keypoints, octave counts "
        f"{plan.octave_counts}, upscale {plan.settings.get('upscale')}, mixture {plan.settings.get('mixture')}"
        + (" (fallback plan: too few keypoints)" if plan.fallback else ""),
        "",
        f"{'Dataset':16s} Convolution Layers <Kernels> (budget {plan.budget}, '-' = down-sampling by 2)",
        f"{name:16s} {plan}",
        "",
    ]
    for i, (octave, rack) in enumerate(zip(plan.octaves, plan.components)):
        lines.append(f"rack {i + 1} (octave {octave}, {sum(c.n_keypoints for c in rack)} keypoints):")
        kernels = plan.allocation[i] if plan.allocation is not None else [None] * len(rack)
        for j, (comp, k) in enumerate(zip(rack, kernels)):
            lines.append(f"  layer {j + 1}: entropy mean {comp.mean:.3f} bits (std {comp.std:.3f}, weight "
                         f"{comp.weight:.3f}), {comp.n_keypoints} keypoints, {comp.n_clusters} cluster(s)"
                         + (f" -> {k} kernels" if k is not None else ""))
    seconds = ", ".join(f"{p} {plan.timings.get(p, 0.0):.2f}" for p in PHASES)
    lines += ["", f"seconds per phase: {seconds} (total {sum(plan.timings.get(p, 0.0) for p in PHASES):.2f})"]
    return "\n".join(lines)
