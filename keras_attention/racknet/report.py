"""What ``keras-attention racknet analyze`` (and the RACKNet experiment) report about a plan: the SIFT
enlargement an image size needs (:func:`default_upscale`), the keypoint entropies its histogram is drawn from
(:func:`entropy_sample`), and the plan in words (:func:`describe_plan`, a dissertation Table 3.2 row plus one line
per layer)."""

import math

from keras_attention.racknet.features import detect_keypoints, keypoint_entropies, to_gray_uint8
from keras_attention.racknet.plan import PHASES

HISTOGRAM_IMAGES = 5000  # images whose keypoints the entropy histogram shows


def default_upscale(image_shape):
    """SIFT enlargement for images of ``image_shape`` ``(H, W, ...)``: 1 from 28 px on, else ceil(32 / side)."""
    side = min(int(image_shape[0]), int(image_shape[1]))
    return 1 if side >= 28 else math.ceil(32 / side)


def entropy_sample(images, plan, max_images=HISTOGRAM_IMAGES, n_jobs=None):
    """``(entropies, octaves)`` of the SIFT keypoints of the first ``max_images`` of ``images``.

    Keypoints are detected with the plan's ``upscale`` and ``sift_params``, so for the images the plan
    was made from they are exactly the analysed keypoints (module docstring).
    """
    gray = to_gray_uint8(images[:max_images])
    keypoints = detect_keypoints(gray, upscale=plan.settings.get("upscale", 1),
                                 sift_params=plan.settings.get("sift_params") or None, n_jobs=n_jobs)
    return keypoint_entropies(gray, keypoints), keypoints.octave


def describe_plan(plan, name):
    """The plan as a Table 3.2 row plus one line per layer (what ``racknet analyze`` prints)."""
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
