"""RACKNet (SPEC §8): octave unpacking, scope entropy, mixtures, clusters, allocation, plan JSON, builder."""

import re

import keras
import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from real_data import fashion_mnist  # noqa: E402
from keras_attention.racknet import (  # noqa: E402
    STRATEGIES,
    Allocation,
    Component,
    RackPlan,
    allocate,
    analyze,
    build_model,
    count_clusters,
    detect_keypoints,
    fit_mixture,
    keypoint_entropies,
    largest_remainder,
    scope_bounds,
    scope_entropies,
    to_gray_uint8,
    unpack_octave,
)



@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits().images / 16.0  # float in [0, 1], (1797, 8, 8)


def small_plan():
    """c = (2, 1), n = ((1, 3), (2,)): the hand-computed example used below."""
    return RackPlan(
        octaves=[-1, 0],
        components=[
            [Component(1.0, 0.1, 0.4, 40, 1), Component(2.0, 0.2, 0.6, 60, 3)],
            [Component(1.5, 0.3, 1.0, 30, 2)],
        ],
        octave_counts={-1: 100, 0: 30, 1: 2},
        n_images=7,
        n_keypoints=132,
        settings={"min_fraction": 0.05, "mixture": "bic"},
        timings={"features": 1.0, "entropy": 0.5, "mixture": 0.25, "clustering": 0.125},
    )


# -- octave unpacking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "packed, expected",
    [
        (0x00C800FF, (-1, 0)),  # octave byte 0xFF = -1 (doubled image), layer 0, sub-layer byte 0xC8
        (0x00E00200, (0, 2)),
        ((3 << 8) | 0xFE, (-2, 3)),
        ((1 << 16) | (1 << 8) | 5, (5, 1)),
        (0x7F | (0xFF << 8), (127, 255)),
        (0x80, (-128, 0)),
    ],
)
def test_unpack_octave_hand_packed(packed, expected):
    assert unpack_octave(packed) == expected


def test_unpack_octave_arrays_and_errors():
    octave, layer = unpack_octave(np.array([0x00C800FF, 0x00E00200, 0x102]))
    np.testing.assert_array_equal(octave, [-1, 0, 2])
    np.testing.assert_array_equal(layer, [0, 2, 1])
    with pytest.raises(ValueError, match="`value` must be an integer"):
        unpack_octave(1.5)
    with pytest.raises(ValueError, match="`value` must be an integer"):
        unpack_octave(True)


def _fashion(n):
    return fashion_mnist("train", n)[0]


def test_unpack_octave_on_real_keypoints_matches_size():
    # OpenCV: size = 2 * 1.6 * 2**octave * 2**((layer + xi) / 3), xi = byte3 / 255 - 0.5 (in [-0.5, 0.5]).
    images = _fashion(20)
    sift = cv2.SIFT_create()
    packed, sizes = [], []
    for image in images:
        for kp in sift.detect(image, None):
            packed.append(kp.octave)
            sizes.append(kp.size)
    packed, sizes = np.array(packed), np.array(sizes)
    octave, layer = unpack_octave(packed)
    xi = ((packed >> 16) & 0xFF) / 255.0 - 0.5
    expected = 3.2 * 2.0 ** octave.astype(float) * 2.0 ** ((layer + xi) / 3.0)
    np.testing.assert_allclose(sizes, expected, rtol=2e-3)
    assert -1 in octave and octave.min() == -1  # OpenCV doubles the image first: octave -1 exists
    assert set(np.unique(layer)) <= {1, 2, 3}
    # detect_keypoints stores the same unpacked octaves and sigma = size / 2 (upscale 1)
    kps = detect_keypoints(images, n_jobs=2)
    np.testing.assert_array_equal(np.sort(kps.octave), np.sort(octave))
    np.testing.assert_allclose(np.sort(kps.sigma), np.sort(sizes) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(kps.radius, 3.0 * kps.size / 2.0)
    assert kps.descriptors.shape == (len(kps), 128) and kps.descriptors.dtype == np.uint8


def test_upscale_maps_keypoints_back_to_original_grid(digits):
    kps1 = detect_keypoints(digits[:30], upscale=4, n_jobs=1)
    assert len(kps1) > 0
    assert kps1.x.min() >= -0.5 and kps1.x.max() <= 7.5 and kps1.y.max() <= 7.5
    # same keypoints as running SIFT on the enlarged image by hand, sizes divided by 4
    big = cv2.resize(to_gray_uint8(digits[:1])[0], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    ref = cv2.SIFT_create().detect(big, None)
    mine = kps1.image == 0
    np.testing.assert_allclose(np.sort(kps1.size[mine]), np.sort([k.size / 4 for k in ref]), rtol=1e-6)
    np.testing.assert_allclose(np.sort(kps1.x[mine]), np.sort([(k.pt[0] + 0.5) / 4 - 0.5 for k in ref]), rtol=1e-6)


# -- images and entropy ------------------------------------------------------------------------------


def test_scope_entropy_of_known_patches():
    half = np.zeros((4, 4), np.uint8)
    half[:, 2:] = 255
    quarters = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]], np.uint8)
    np.testing.assert_allclose(scope_entropies(half, [1.5], [1.5], [2.0]), [1.0])
    np.testing.assert_allclose(scope_entropies(quarters, [1.5], [1.5], [2.0]), [2.0])
    # radius 0.5 at pixel (0, 0): only that pixel -> 0 bits; scope within +-r: columns 0..1 of row 0..1
    np.testing.assert_allclose(scope_entropies(quarters, [0.0, 0.5], [0.0, 0.5], [0.4, 0.5]), [0.0, 0.0])
    # 3x1 scope over values {0, 0, 255}: -(2/3 log2 2/3 + 1/3 log2 1/3)
    line = np.array([[0, 0, 255, 7]], np.uint8)
    h = -(2 / 3 * np.log2(2 / 3) + 1 / 3 * np.log2(1 / 3))
    np.testing.assert_allclose(scope_entropies(line, [1.0], [0.0], [1.0]), [h])


def test_scope_bounds_clip_to_image():
    x0, x1, y0, y1 = scope_bounds([0.2, 5.0, 2.0], [9.0, 4.0, 2.0], [1.5, 10.0, 1.0], height=10, width=6)
    np.testing.assert_array_equal(x0, [0, 0, 1])
    np.testing.assert_array_equal(x1, [1, 5, 3])
    np.testing.assert_array_equal(y0, [8, 0, 1])
    np.testing.assert_array_equal(y1, [9, 9, 3])


def test_keypoint_entropies_match_per_keypoint_reference(digits):
    gray = to_gray_uint8(digits[:40])
    kps = detect_keypoints(gray, upscale=4, n_jobs=2)
    entropy = keypoint_entropies(gray, kps)
    x0, x1, y0, y1 = scope_bounds(kps.x, kps.y, kps.radius, 8, 8)
    reference = []
    for k in range(len(kps)):
        window = gray[kps.image[k], y0[k]:y1[k] + 1, x0[k]:x1[k] + 1].ravel()
        p = np.bincount(window, minlength=256) / window.size
        p = p[p > 0]
        reference.append(-(p * np.log2(p)).sum())
    np.testing.assert_allclose(entropy, reference, atol=1e-12)
    assert kps.entropy is entropy


def test_to_gray_uint8_conversions_and_errors():
    floats = np.array([[[0.0, 0.5], [1.0, 0.25]]])
    np.testing.assert_array_equal(to_gray_uint8(floats), [[[0, 128], [255, 64]]])
    rgb = np.zeros((1, 1, 2, 3), np.uint8)
    rgb[0, 0, 0] = [255, 0, 0]
    rgb[0, 0, 1] = [0, 0, 255]
    np.testing.assert_array_equal(to_gray_uint8(rgb), [[[76, 29]]])  # 0.299 * 255, 0.114 * 255
    assert to_gray_uint8(np.zeros((2, 3, 3, 1), np.uint8)).shape == (2, 3, 3)
    with pytest.raises(ValueError, match=r"uint8 \(0..255\) or float in \[0, 1\].*dtype int64"):
        to_gray_uint8(np.zeros((2, 8, 8), np.int64))
    with pytest.raises(ValueError, match=r"values in \[0, 16\]"):
        to_gray_uint8(np.linspace(0.0, 16.0, 128).reshape(2, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, H, W, 1\|3\); got shape \(2, 8, 8, 2\)"):
        to_gray_uint8(np.zeros((2, 8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match=r"got shape \(8, 8\)"):
        to_gray_uint8(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="non-finite"):
        to_gray_uint8(np.full((1, 4, 4), np.nan))


# -- mixture and clusters -----------------------------------------------------------------------------


def test_fit_mixture_bic_finds_two_ordered_components():
    values = np.concatenate([5.0 + np.linspace(-0.2, 0.2, 60), 1.0 + np.linspace(-0.1, 0.1, 40)])
    components, labels = fit_mixture(values, max_components=4, mixture="bic", seed=0)
    assert len(components) == 2
    (m0, s0, w0), (m1, s1, w1) = components
    np.testing.assert_allclose([m0, m1], [1.0, 5.0], atol=1e-6)
    np.testing.assert_allclose([w0, w1], [0.4, 0.6], atol=1e-6)
    np.testing.assert_allclose([s0, s1], [np.std(values[60:]), np.std(values[:60])], rtol=1e-3)
    np.testing.assert_array_equal(labels, [1] * 60 + [0] * 40)
    # one distinct value -> one component of zero spread
    components, labels = fit_mixture([2.5, 2.5, 2.5], max_components=6)
    assert components == [(2.5, 0.0, 1.0)] and list(labels) == [0, 0, 0]


def test_fit_mixture_dirichlet_keeps_weighty_components():
    values = np.concatenate([5.0 + np.linspace(-0.2, 0.2, 60), 1.0 + np.linspace(-0.1, 0.1, 40)])
    components, labels = fit_mixture(values, max_components=4, mixture="dirichlet", seed=0)
    means = [c[0] for c in components]
    weights = [c[2] for c in components]
    assert means == sorted(means) and len(components) >= 2
    assert abs(sum(weights) - 1.0) < 1e-9 and min(weights) > 0.01
    assert labels.max() < len(components)
    assert means[labels[-1]] < 2.0 < means[labels[0]]
    with pytest.raises(ValueError, match="`mixture` must be one of"):
        fit_mixture(values, mixture="kmeans")


def test_count_clusters_cosine_dbscan():
    base = np.eye(128, dtype=np.float32)
    group_a = np.tile(base[0] * 10, (6, 1)) + base[1] * np.arange(6)[:, None] * 0.1
    group_b = np.tile(base[2] * 3, (6, 1)) + base[3] * np.arange(6)[:, None] * 0.03
    # two tight groups (cosine distance < 0.02 inside, 1 between) + 3 isolated points (noise)
    descriptors = np.concatenate([group_a, group_b, base[10:13]])
    assert count_clusters(descriptors, eps=0.1, min_samples=5) == 2
    assert count_clusters(base[:20], eps=0.1, min_samples=5) == 1  # all noise -> at least 1
    assert count_clusters(np.zeros((10, 128)), eps=0.1, min_samples=5) == 1  # zero rows dropped
    # subsampling to 8 leaves too few points for min_samples=5 in both groups -> at most 1 cluster
    assert count_clusters(descriptors, eps=0.1, min_samples=5, max_samples=8, rng=np.random.default_rng(0)) == 1


# -- allocation ---------------------------------------------------------------------------------------


def test_largest_remainder_hand_examples():
    # quotas 4.1667, 2.5, 3.3333 -> floors 4, 2, 3 (9); one more to the largest remainder (0.5)
    np.testing.assert_array_equal(largest_remainder([5 / 6, 1 / 2, 2 / 3], 10), [4, 3, 3])
    # ties go to the earlier layer
    np.testing.assert_array_equal(largest_remainder([1, 1, 1], 10), [4, 3, 3])
    # quota 0.0199 < 1 -> fixed at 1; the other two share 3: 1.5, 1.5 -> 2, 1
    np.testing.assert_array_equal(largest_remainder([0.01, 1, 1], 4), [1, 2, 1])
    np.testing.assert_array_equal(largest_remainder([0, 0, 1], 3), [1, 1, 1])
    np.testing.assert_array_equal(largest_remainder([0, 0], 5), [3, 2])
    with pytest.raises(ValueError, match="`total`=2 is smaller than the 3 layers"):
        largest_remainder([1, 1, 1], 2)


def test_plan_betas_follow_spec():
    # beta_ij = 1 - (c_i / sum c) * (n_ij / sum_l n_il), c = (2, 1), n = ((1, 3), (2,))
    np.testing.assert_allclose(
        [b for rack in small_plan().betas for b in rack], [1 - 2 / 3 * 1 / 4, 1 - 2 / 3 * 3 / 4, 1 - 1 / 3]
    )


@pytest.mark.parametrize(
    "strategy, expected",
    [
        # betas 5/6, 1/2, 2/3 (sum 2): quotas 4.1667, 2.5, 3.3333
        ("racknet", [[4, 3], [3]]),
        # 1/(c_i r) = 1/4, 1/4, 1/2: quotas 2.5, 2.5, 5 -> tie to the first
        ("uniform_rack", [[3, 2], [5]]),
        # 10/3 each
        ("uniform_layer", [[4, 3], [3]]),
        # (c_i / sum c)(n_ij / sum n) = 1/6, 1/2, 1/3: quotas 1.667, 5, 3.333
        ("c_proportional", [[2, 5], [3]]),
        # racknet's counts, layers of each rack in descending component mean
        ("inverse_order", [[3, 4], [3]]),
    ],
)
def test_allocate_strategies_hand_computed(strategy, expected):
    allocation = allocate(small_plan(), 10, strategy=strategy)
    assert isinstance(allocation, Allocation) and allocation == expected
    assert allocation.strategy == strategy and allocation.budget == 10


def test_allocate_inverse_order_components_and_str():
    allocation = allocate(small_plan(), 10, strategy="inverse_order")
    assert allocation.components == [[1, 0], [0]]
    assert str(allocation) == "2-1 (3,4-3)"
    assert str(allocate(small_plan(), 10)) == "2-1 (4,3-3)"


def test_allocate_random_is_seeded_exact_and_positive():
    plan = small_plan()
    first = allocate(plan, 400, strategy="random", seed=3)
    assert first == allocate(plan, 400, strategy="random", seed=3)
    weights = np.random.default_rng(3).dirichlet(np.ones(3))
    expected = largest_remainder(weights, 400)
    assert first == [list(expected[:2]), [expected[2]]]
    draws = [allocate(plan, 400, strategy="random", seed=s) for s in range(5)]
    assert len({str(d) for d in draws}) > 1
    for d in draws:
        assert sum(map(sum, d)) == 400 and min(min(r) for r in d) >= 1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_allocate_exact_budget_every_strategy(strategy):
    plan = small_plan()
    for budget in (3, 4, 7, 400, 1001):
        allocation = allocate(plan, budget, strategy=strategy, seed=1)
        assert sum(map(sum, allocation)) == budget
        assert min(min(rack) for rack in allocation) >= 1
        assert allocation.layers_per_rack == [2, 1]
    assert allocate(plan, 3, strategy=strategy) == [[1, 1], [1]]


def test_allocate_errors_and_single_layer():
    with pytest.raises(ValueError, match=r"`budget`=2 is smaller than the number of convolution layers in the plan"):
        allocate(small_plan(), 2)
    with pytest.raises(ValueError, match="`strategy` must be one of"):
        allocate(small_plan(), 10, strategy="greedy")
    with pytest.raises(ValueError, match="`budget` must be an integer >= 1"):
        allocate(small_plan(), 0)
    with pytest.raises(ValueError, match="`plan` must be a RackPlan"):
        allocate([[1, 2]], 10)
    single = RackPlan(octaves=[0], components=[[Component(1.0, 0.0, 1.0, 10, 4)]])
    assert single.betas == [[0.0]]
    assert allocate(single, 17) == [[17]]


# -- plan ---------------------------------------------------------------------------------------------


def test_plan_json_round_trip(tmp_path):
    plan = small_plan().allocated(10)
    path = plan.to_json(str(tmp_path / "plan.json"))
    loaded = RackPlan.from_json(path)
    assert loaded == plan
    assert str(loaded) == "2-1 (4,3-3)" and loaded.allocation == [[4, 3], [3]]
    assert loaded.octave_counts == {-1: 100, 0: 30, 1: 2}
    assert str(small_plan()) == "2-1"
    bare = RackPlan.from_json(small_plan().to_json(str(tmp_path / "bare.json")))
    assert bare == small_plan() and bare.allocation is None
    with pytest.raises(ValueError, match=r"Unknown RackPlan fields \['colour'\]"):
        RackPlan.from_dict({**small_plan().to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="one non-empty component list per rack"):
        RackPlan(octaves=[0, 1], components=[[Component(1.0, 0.0, 1.0, 1, 1)]])


# -- builder ------------------------------------------------------------------------------------------


def test_build_model_structure_and_training_step(digits):
    model = build_model([[4, 3], [3]], input_shape=(8, 8, 1), num_classes=10)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [4, 3, 3]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" for c in convs)
    assert all(c.activation is keras.activations.relu for c in convs)
    names = [layer.name for layer in model.layers]
    assert names == ["image", "rack1_conv1", "rack1_conv2", "pool1", "rack2_conv1", "flatten", "dropout", "predictions"]
    assert isinstance(model.get_layer("pool1"), keras.layers.AveragePooling2D)
    assert model.get_layer("dropout").rate == 0.25
    assert model.output_shape == (None, 10)
    assert model.get_layer("flatten").output.shape[-1] == 4 * 4 * 3

    from sklearn.datasets import load_digits

    labels = load_digits().target[:64]
    x = digits[:64, :, :, None].astype("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, labels)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))

    maxed = build_model(small_plan(), (8, 8, 1), 10, budget=10, pooling="max")
    assert isinstance(maxed.get_layer("pool1"), keras.layers.MaxPooling2D)
    assert [layer.filters for layer in maxed.layers if isinstance(layer, keras.layers.Conv2D)] == [4, 3, 3]
    stored = build_model(small_plan().allocated(12, strategy="uniform_layer"), (8, 8, 1), 10)
    assert [layer.filters for layer in stored.layers if isinstance(layer, keras.layers.Conv2D)] == [4, 4, 4]


def test_build_model_errors():
    with pytest.raises(ValueError, match="carries no allocation: pass `budget`"):
        build_model(small_plan(), (8, 8, 1), 10)
    with pytest.raises(ValueError, match=r"too small for 3 racks.*height and width >= 4"):
        build_model([[1], [1], [1]], (3, 8, 1), 10)
    with pytest.raises(ValueError, match="`budget`=9 does not match the allocation 2-1 \\(4,3-3\\)"):
        build_model([[4, 3], [3]], (8, 8, 1), 10, budget=9)
    with pytest.raises(ValueError, match="`plan_or_allocation` must be a RackPlan or a non-empty list"):
        build_model([[4, 0]], (8, 8, 1), 10)
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        build_model([[4]], (8, 8, 1), 10, pooling="min")
    with pytest.raises(ValueError, match="`input_shape` must be \\(height, width, channels\\)"):
        build_model([[4]], (8, 8), 10)


# -- analyze on real data -----------------------------------------------------------------------------


def test_analyze_real_digits_gives_plan_that_sums_to_budget(digits, tmp_path):
    plan = analyze(digits[:600], upscale=4, budget=400, n_jobs=2)
    assert not plan.fallback and plan.n_images == 600
    total = sum(plan.octave_counts.values())
    assert total == plan.n_keypoints > 100
    # Obs. 1: racks = octaves with >= 5 % of the keypoints, ascending
    assert plan.octaves == sorted(o for o, n in plan.octave_counts.items() if n / total >= 0.05)
    assert plan.n_racks >= 2
    for octave, rack in zip(plan.octaves, plan.components):
        assert 1 <= len(rack) <= 6
        means = [c.mean for c in rack]
        assert means == sorted(means)  # Obs. 3
        assert abs(sum(c.weight for c in rack) - 1.0) < 1e-6
        assert sum(c.n_keypoints for c in rack) == plan.octave_counts[octave]
        assert all(c.n_clusters >= 1 for c in rack)
    assert sum(map(sum, plan.allocation)) == 400 and min(min(r) for r in plan.allocation) >= 1
    assert plan.allocation == allocate(plan, 400)
    assert re.fullmatch(r"\d+(-\d+)* \(\d+(,\d+)*(-\d+(,\d+)*)*\)", str(plan))
    assert set(plan.timings) == {"features", "entropy", "mixture", "clustering"}
    assert all(t >= 0 for t in plan.timings.values())
    # same seed -> same plan; JSON round trip of a real plan
    again = analyze(digits[:600], upscale=4, budget=400, n_jobs=1)
    assert again.components == plan.components and again.allocation == plan.allocation
    assert RackPlan.from_json(plan.to_json(str(tmp_path / "digits.json"))) == plan
    model = build_model(plan, (8, 8, 1), 10)
    assert sum(layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)) == 400


def test_analyze_too_few_keypoints_and_fallback(digits):
    flat = np.zeros((3, 16, 16), np.uint8)
    with pytest.raises(ValueError, match=r"SIFT found 0 keypoint\(s\) in 3 image\(s\) of size 16x16.*`upscale`"):
        analyze(flat)
    plan = analyze(flat, fallback=True, budget=32)
    assert plan.fallback and plan.octaves == [0] and plan.layers_per_rack == [1]
    assert plan.allocation == [[32]] and str(plan) == "1 (32)"
    with pytest.raises(ValueError, match=r"`min_fraction`=1.0 leaves no rack"):
        analyze(digits[:60], upscale=4, min_fraction=1.0)
    with pytest.raises(ValueError, match="`mixture` must be one of"):
        analyze(digits[:5], mixture="em")
    with pytest.raises(ValueError, match=r"got dtype float64 with values in \[0, 16\]"):
        analyze(digits[:5] * 16)
    with pytest.raises(ValueError, match="`upscale` must be an integer >= 1"):
        analyze(digits[:5], upscale=0)


# -- analyze: the budget is checked before the work it would waste ------------------------------------


def _clustering_ran(*args, **kwargs):
    raise AssertionError("clustering ran")


def _budget_error_prefix(budget, n_layers):
    """The start of `allocate`'s error, which the early checks of `analyze` share."""
    return f"Argument `budget`={budget} is smaller than the number of convolution layers in the plan ({n_layers}"


def test_analyze_budget_below_layers_fails_before_clustering(digits, monkeypatch):
    from keras_attention.racknet import analysis

    images = digits[:200]
    # one rack (min_fraction=0.3 keeps octave 0 alone) of >= 2 layers, and the default 3 racks of more layers
    one_rack = analyze(images, upscale=4, min_fraction=0.3, n_jobs=2)
    assert one_rack.n_racks == 1 and one_rack.n_layers >= 2
    racks = analyze(images, upscale=4, n_jobs=2)
    assert racks.n_layers > racks.n_racks >= 2
    with pytest.raises(ValueError) as from_allocate:
        allocate(one_rack, 1)

    monkeypatch.setattr(analysis, "count_clusters", _clustering_ran)
    with pytest.raises(ValueError) as caught:
        analyze(images, upscale=4, min_fraction=0.3, n_jobs=2, budget=1)
    message = str(caught.value)
    n = one_rack.n_layers
    assert message.startswith(_budget_error_prefix(1, n))
    assert str(from_allocate.value).startswith(_budget_error_prefix(1, n))  # same wording as `allocate`
    assert f"racks {n}: [{n}] layers per rack for octaves {one_rack.octaves}" in message
    assert "every layer needs at least one kernel" in message
    assert "Detected after the mixtures, before clustering" in message
    assert f"raise `budget` to at least {n}" in message
    assert "raising `min_fraction` (now 0.3) or lowering `max_components` (now 6)" in message

    # several racks: a budget that covers the racks but not the layers fails after the mixtures as well
    budget = racks.n_racks
    with pytest.raises(ValueError) as caught:
        analyze(images, upscale=4, n_jobs=2, budget=budget)
    message = str(caught.value)
    assert message.startswith(_budget_error_prefix(budget, racks.n_layers))
    assert f"racks {racks}: {racks.layers_per_rack} layers per rack for octaves {racks.octaves}" in message
    assert "before clustering" in message and f"raise `budget` to at least {racks.n_layers}" in message

    # a sufficient budget still clusters and returns the allocated plan
    monkeypatch.undo()
    plan = analyze(images, upscale=4, min_fraction=0.3, n_jobs=2, budget=n)
    assert plan.components == one_rack.components
    assert plan.budget == n and plan.allocation == [[1] * n] == allocate(one_rack, n)
    plan = analyze(images, upscale=4, n_jobs=2, budget=racks.n_layers + 5)
    assert plan.components == racks.components and plan.allocation == allocate(racks, racks.n_layers + 5)
    assert sum(map(sum, plan.allocation)) == racks.n_layers + 5


def test_analyze_budget_checked_before_sift_and_before_entropy(monkeypatch):
    from keras_attention.racknet import analysis

    images = _fashion(50)
    reference = analyze(images, n_jobs=2)
    assert reference.n_racks >= 2

    def never(name):
        def fail(*args, **kwargs):
            raise AssertionError(f"{name} ran")

        return fail

    # known from the arguments alone: checked before the SIFT pass
    monkeypatch.setattr(analysis, "detect_keypoints", never("SIFT"))
    for bad in (0, -3, 2.5, True, "8"):
        with pytest.raises(ValueError, match="`budget` must be an integer >= 1"):
            analyze(images, budget=bad)
    monkeypatch.undo()

    # the racks are known right after the SIFT pass: fewer kernels than racks fails before the entropy pass
    for name in ("keypoint_entropies", "fit_mixture", "count_clusters"):
        monkeypatch.setattr(analysis, name, never(name))
    r = reference.n_racks
    with pytest.raises(ValueError) as caught:
        analyze(images, n_jobs=2, budget=r - 1)
    message = str(caught.value)
    assert message.startswith(f"Argument `budget`={r - 1} is smaller than the number of convolution layers in the plan")
    assert f"(at least {r}: {r} racks (octaves {reference.octaves}) of at least one layer each" in message
    assert "before the entropy pass, the mixtures and clustering" in message
    assert f"raise `budget` to at least {r}" in message and "raise `min_fraction` (now 0.05)" in message
    monkeypatch.undo()

    # the one-layer fallback plan takes any budget >= 1, without clustering
    monkeypatch.setattr(analysis, "count_clusters", _clustering_ran)
    plan = analyze(np.zeros((3, 16, 16), np.uint8), fallback=True, budget=1)
    assert plan.fallback and plan.allocation == [[1]] and str(plan) == "1 (1)"
