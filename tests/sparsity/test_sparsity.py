"""iSparse (SPEC §9): InfFS, channel-level edge scores, masks, sparsify, sparsity_report and the ISparse callback."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from backend import backends, tensorflow_only, to_numpy
from keras import layers as L
from sklearn.datasets import load_digits

from keras_attention.layers import ScaleSpaceAttention
from keras_attention.sparsity import (
    ISparse,
    MaskConstraint,
    ScorePlan,
    carried_masks,
    edge_scores,
    format_sparsity_report,
    inffs,
    inffs_graph,
    kept_count,
    masks,
    sparsify,
    sparsity_report,
    strip_masks,
)

# ------------------------------------------------------------------------------------------------ helpers


def set_kernel(model, name, w):
    layer = model.get_layer(name)
    weights = layer.get_weights()
    weights[0] = to_numpy(w, dtype="float32")
    layer.set_weights(weights)


def kernel(model, name):
    return to_numpy(model.get_layer(name).kernel)


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return (data.data / 16.0).astype("float32"), data.target.astype("int32")


def lenet(input_shape=(8, 8, 1)):
    inp = keras.Input(input_shape)
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.MaxPooling2D(name="pool1")(x)
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(name="pool2")(x)
    x = L.Flatten()(x)
    x = L.Dense(16, activation="relu", name="fc1")(x)
    return keras.Model(inp, L.Dense(10, activation="softmax", name="out")(x))


def mlp():
    return keras.Sequential(
        [keras.Input((64,)), L.Dense(24, activation="relu", name="h"), L.Dense(10, activation="softmax", name="o")]
    )


# ------------------------------------------------------------------------------------------------- InfFS


@backends
def test_inffs_matches_algorithm_1_by_hand():
    p = np.array([[0.1, 0.5, 0.4], [0.3, 0.2, 0.5], [0.6, 0.1, 0.3], [0.2, 0.7, 0.1]])
    # ranks per column: (1, 3, 4, 2), (3, 2, 1, 4), (3, 4, 2, 1); spearman = 1 - 6 sum d^2 / (n (n^2 - 1))
    rho = {(0, 1): 1 - 6 * 18 / 60, (0, 2): 1 - 6 * 10 / 60, (1, 2): 1 - 6 * 14 / 60}  # -0.8, 0, -0.4
    c = np.zeros((3, 3))
    for (i, j), v in rho.items():
        c[i, j] = c[j, i] = 1 - abs(v)
    std = np.sqrt([0.14 / 4, 0.2275 / 4, 0.0875 / 4])  # population std of each column
    a = 0.5 * np.maximum(std[:, None], std[None, :]) + 0.5 * c
    np.testing.assert_allclose(inffs_graph(p), a, atol=1e-12)
    r = 0.9 / np.max(np.abs(np.linalg.eigvals(a)))
    s_mat = np.linalg.inv(np.eye(3) - r * a) - np.eye(3)
    expected = s_mat @ np.ones(3)
    np.testing.assert_allclose(inffs(p), expected, rtol=1e-10)
    # column 0 and 2 are uncorrelated (C = 1), column 1 the most dispersed
    assert np.all(expected > 0) and np.argmin(expected) == 1
    # alpha = 1: only dispersion
    a1 = np.maximum(std[:, None], std[None, :])
    r1 = 0.9 / np.max(np.abs(np.linalg.eigvals(a1)))
    np.testing.assert_allclose(inffs(p, alpha=1.0), (np.linalg.inv(np.eye(3) - r1 * a1) - np.eye(3)).sum(1))


def test_inffs_ties_use_average_ranks():
    from scipy.stats import spearmanr

    p = np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 3.0], [4.0, 1.0], [3.0, 5.0]])
    a = inffs_graph(p)
    std = p.std(axis=0)
    np.testing.assert_allclose(a[0, 1], 0.5 * std.max() + 0.5 * (1 - abs(spearmanr(p[:, 0], p[:, 1])[0])))
    np.testing.assert_allclose(np.diag(a), 0.5 * std)


def test_inffs_zero_variance_columns():
    p = np.array([[0.1, 0.5, 0.2], [0.3, 0.5, 0.1], [0.6, 0.5, 0.4]])
    std = p.std(axis=0)
    a = inffs_graph(p)
    # the constant column 1 counts as fully redundant: C = 0, only the partner's dispersion remains
    np.testing.assert_allclose(a[1], 0.5 * np.maximum(std, 0.0))
    np.testing.assert_allclose(a[:, 1], a[1])
    s = inffs(p)
    assert np.all(np.isfinite(s)) and np.argmin(s) == 1
    np.testing.assert_array_equal(inffs(np.ones((4, 3))), np.zeros(3))


@pytest.mark.parametrize(
    "bad, match",
    [(np.ones(4), "2-D"), (np.ones((1, 3)), "at least 2 samples"), (np.array([[0.0, np.nan], [1.0, 2.0]]), "finite")],
)
def test_inffs_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        inffs(bad)
    with pytest.raises(ValueError, match="alpha"):
        inffs(np.ones((3, 2)), alpha=1.5)


# ------------------------------------------------------------------------------------------ edge scores


@backends
def test_dense_edge_scores_by_hand():
    inp = keras.Input((3,))
    h = L.Dense(2, activation="relu", name="d1")(inp)
    out = L.Dense(2, name="d2")(L.Dropout(0.5)(h))
    model = keras.Model(inp, out)
    set_kernel(model, "d1", [[1.0, 0.0], [-1.0, 2.0], [0.5, -0.5]])
    set_kernel(model, "d2", [[1.0, -2.0], [0.5, 3.0]])
    edges, neurons = ScorePlan(model).propagate([np.array([1.0, 2.0])])
    # E2 = |W2| * N_L ; N1 = row sums of E2 = (5, 6.5) ; E1 = |W1| * N1
    np.testing.assert_allclose(edges["d2"], [[1.0, 4.0], [0.5, 6.0]])
    np.testing.assert_allclose(neurons["d1"], [5.0, 6.5])
    np.testing.assert_allclose(edges["d1"], [[5.0, 0.0], [5.0, 13.0], [2.5, 3.25]])
    # edge_scores seeds N_L with InfFS of the model's predictions
    x = np.random.default_rng(0).normal(size=(12, 3)).astype("float32")
    n_l = inffs(to_numpy(model(x, training=False), dtype=np.float64))
    scored = edge_scores(model, x)
    np.testing.assert_allclose(scored["d2"], np.abs(kernel(model, "d2")) * n_l, rtol=1e-6)
    n1 = (np.abs(kernel(model, "d2")) * n_l).sum(1)
    np.testing.assert_allclose(scored["d1"], np.abs(kernel(model, "d1")) * n1, rtol=1e-6)


@backends
def test_conv_bn_pool_flatten_dense_channel_summation():
    inp = keras.Input((6, 6, 1))
    x = L.Conv2D(2, 3, name="conv")(inp)  # (4, 4, 2)
    x = L.BatchNormalization(name="bn", epsilon=0.01)(x)
    x = L.MaxPooling2D(name="pool")(x)  # (2, 2, 2)
    x = L.Flatten()(x)  # unit (h, w, c) at index (2 h + w) * 2 + c
    model = keras.Model(inp, L.Dense(3, name="fc")(x))
    rng = np.random.default_rng(1)
    w_fc = rng.normal(size=(8, 3))
    set_kernel(model, "fc", w_fc)
    gamma, beta, mean, var = np.array([2.0, -0.5]), np.zeros(2), np.zeros(2), np.array([0.99, 0.24])
    model.get_layer("bn").set_weights([gamma, beta, mean, var])
    n_l = np.array([1.0, 2.0, 3.0])
    edges, neurons = ScorePlan(model).propagate([n_l])
    n_flat = np.abs(kernel(model, "fc")) @ n_l
    n_pool = np.array([n_flat[0::2].sum(), n_flat[1::2].sum()])  # Flatten: sum over positions per channel
    n_conv = n_pool * np.abs(gamma / np.sqrt(var + 0.01))  # BN factor (2/1, 0.5/0.5)
    np.testing.assert_allclose(neurons["conv"], n_conv, rtol=1e-6)
    np.testing.assert_allclose(edges["conv"], np.abs(kernel(model, "conv")) * n_conv, rtol=1e-6)
    assert edges["conv"].shape == (3, 3, 1, 2)


def test_reshape_keeping_channels_is_identity_and_grouped_conv():
    inp = keras.Input((4, 4, 4))
    c = L.Conv2D(4, 1, groups=2, name="g")(inp)
    r = L.Reshape((16, 4))(c)
    model = keras.Model(inp, L.Dense(2, name="fc")(L.Flatten()(r)))
    n_l = np.array([1.0, 3.0])
    edges, neurons = ScorePlan(model).propagate([n_l])
    units = (np.abs(kernel(model, "fc")) @ n_l).reshape(16, 4)
    np.testing.assert_allclose(neurons["g"], units.sum(0), rtol=1e-6)
    e = np.abs(kernel(model, "g"))[0, 0] * neurons["g"]  # (2 inputs per group, 4 outputs)
    np.testing.assert_allclose(edges["g"][0, 0], e, rtol=1e-6)
    # the input scores of a grouped conv: group 0 = inputs 0-1 / outputs 0-1, group 1 = inputs 2-3 / outputs 2-3
    plan = ScorePlan(model)
    node = [n for n, _ in plan.steps if n.operation.name == "g"][0]
    rule = dict((id(n), r) for n, r in plan.steps)[id(node)]
    n_in, _ = rule([neurons["g"]])
    np.testing.assert_allclose(n_in[0], np.concatenate([e[:, :2].sum(1), e[:, 2:].sum(1)]), rtol=1e-6)


def test_add_and_concatenate_rules():
    inp = keras.Input((3,))
    a = L.Dense(4, name="a")(inp)
    b = L.Dense(4, name="b")(a)
    added = L.Add()([a, b])  # a is used twice: by b and by the Add
    side = L.Dense(2, name="c")(a)  # ... and a third time
    cat = L.Concatenate()([added, side])
    model = keras.Model(inp, L.Dense(3, name="out")(cat))
    n_l = np.array([0.5, 1.0, 2.0])
    edges, _ = ScorePlan(model).propagate([n_l])
    w = {name: np.abs(kernel(model, name)) for name in ("a", "b", "c", "out")}
    n_cat = w["out"] @ n_l
    n_add, n_side = n_cat[:4], n_cat[4:]  # Concatenate: split
    e_b, e_c = w["b"] * n_add, w["c"] * n_side
    n_a = n_add + e_b.sum(1) + e_c.sum(1)  # sum over the three consumers
    np.testing.assert_allclose(edges["b"], e_b, rtol=1e-6)
    np.testing.assert_allclose(edges["c"], e_c, rtol=1e-6)
    np.testing.assert_allclose(edges["a"], w["a"] * n_a, rtol=1e-6)


@backends
def test_scale_space_attention_pass_through():
    inp = keras.Input((6, 6, 1))
    a = L.Conv2D(3, 3, padding="same", name="c1")(inp)
    b = L.Conv2D(3, 3, padding="same", name="c2")(a)
    s = ScaleSpaceAttention(name="san")([a, b])
    model = keras.Model(inp, L.Dense(2, name="fc")(L.GlobalAveragePooling2D()(s)))
    n_l = np.array([1.0, 2.0])
    edges, neurons = ScorePlan(model).propagate([n_l])
    n_c2 = np.abs(kernel(model, "fc")) @ n_l
    np.testing.assert_allclose(neurons["c2"], n_c2, rtol=1e-6)  # current: unchanged
    e_c2 = np.abs(kernel(model, "c2")) * n_c2
    np.testing.assert_allclose(neurons["c1"], e_c2.sum(axis=(0, 1, 3)), rtol=1e-6)  # previous: nothing extra
    np.testing.assert_allclose(edges["c1"], np.abs(kernel(model, "c1")) * neurons["c1"], rtol=1e-6)
    assert set(edges) == {"c1", "c2", "fc"}  # the module's smoothing kernel is not pruned


@tensorflow_only
def test_dataset_samples_equal_array_samples(digits):
    x, _ = digits
    model = mlp()
    ds = tf.data.Dataset.from_tensor_slices((x[:50], np.zeros(50))).batch(16)
    from_ds = edge_scores(model, ds, max_samples=40)
    from_array = edge_scores(model, x[:40])
    for name in from_array:
        np.testing.assert_allclose(from_ds[name], from_array[name], rtol=1e-6)


# ------------------------------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    "total, sparsity, kept", [(10, 0.3, 7), (100, 0.29, 71), (7, 0.5, 4), (3, 0.99, 1), (5, 0.0, 5), (288, 0.9, 29)]
)
def test_kept_count_rounding(total, sparsity, kept):
    assert kept_count(total, sparsity) == kept


def test_masks_ties_and_exact_counts():
    e = np.array([[3.0, 1.0, 1.0], [1.0, 2.0, 0.0]])
    w = np.array([[0.1, -0.2, 0.9], [0.5, 0.1, 1.0]])
    m = masks({"l": e}, 0.5, {"l": w})["l"]  # keep 3: the 3.0, the 2.0, then the 1.0 with |W| = 0.9
    np.testing.assert_array_equal(m, [[True, False, True], [False, True, False]])
    m = masks({"l": e}, 0.5)["l"]  # without kernels: the lower flat index wins the tie
    np.testing.assert_array_equal(m, [[True, True, False], [False, True, False]])
    per_layer = masks({"p": np.arange(10.0), "q": np.arange(4.0)}, {"p": 0.3, "q": 0.5})
    assert per_layer["p"].sum() == 7 and per_layer["q"].sum() == 2
    np.testing.assert_array_equal(per_layer["p"], np.arange(10) >= 3)


# ---------------------------------------------------------------------------------------------- sparsify


@backends
@pytest.mark.parametrize("strategy", ["isparse", "magnitude", "random"])
def test_sparsify_every_strategy(strategy, digits):
    x, _ = digits
    model = lenet()
    before = [w.copy() for w in model.get_weights()]
    new = sparsify(model, 0.6, x[:64].reshape(-1, 8, 8, 1), strategy=strategy, seed=3)
    for a, b in zip(before, model.get_weights()):  # the original is untouched
        np.testing.assert_array_equal(a, b)
    assert new is not model
    rows = {r["layer"]: r for r in sparsity_report(new)}
    for name in ("conv1", "conv2", "fc1", "out"):
        w = kernel(model, name)
        assert rows[name]["kept"] == kept_count(w.size, 0.6) == np.count_nonzero(kernel(new, name))
        np.testing.assert_array_equal(kernel(new, name)[kernel(new, name) != 0], w[kernel(new, name) != 0])
        np.testing.assert_array_equal(to_numpy(new.get_layer(name).bias), to_numpy(model.get_layer(name).bias))
    if strategy == "magnitude":
        w = np.abs(kernel(model, "fc1"))
        kept = kernel(new, "fc1") != 0
        assert w[kept].min() >= w[~kept].max()
    if strategy == "isparse":
        e = edge_scores(model, x[:64].reshape(-1, 8, 8, 1))
        expected = masks(e, 0.6, {n: kernel(model, n) for n in e})
        for name, m in expected.items():
            np.testing.assert_array_equal(kernel(new, name) != 0, m)
    if strategy == "random":
        again = sparsify(model, 0.6, strategy="random", seed=3)
        other = sparsify(model, 0.6, strategy="random", seed=4)
        np.testing.assert_array_equal(kernel(again, "fc1"), kernel(new, "fc1"))
        assert np.any((kernel(other, "fc1") != 0) != (kernel(new, "fc1") != 0))
    text = format_sparsity_report(sparsity_report(new))
    assert "conv1" in text and "total" in text


def test_sparsify_zero_sparsity_is_a_copy():
    model = mlp()
    new = sparsify(model, 0.0, strategy="magnitude")
    for a, b in zip(model.get_weights(), new.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sparsity_report(new)[-1]["sparsity"] == 0.0


# ---------------------------------------------------------------------------------------------- callback


@backends
def test_isparse_keeps_zeros_through_adam_and_save_load(digits, tmp_path):
    x, y = digits
    model = mlp()
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    cb = ISparse(0.5, x[:300], max_samples=128, start_epoch=1)  # epoch 0 trains dense
    violations = []

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if hasattr(model, "jax_state_sync"):  # JAX: the variables hold no value inside an epoch
                model.jax_state_sync()
            for name, m in cb.masks.items():
                violations.append(int(np.count_nonzero(kernel(model, name)[~m])))

    history = model.fit(x[:1200], y[:1200], epochs=5, batch_size=64, callbacks=[cb, Check()], verbose=0)
    assert len(violations) == 4 * 19 * 2 and max(violations) == 0  # epochs 1-4, 19 steps, 2 layers
    for name in ("h", "o"):
        w = kernel(model, name)
        assert np.count_nonzero(w) == kept_count(w.size, 0.5)
        np.testing.assert_allclose(history.history[f"sparsity/{name}"], [0.0] + [0.5] * 4)
    # it still learns the real task at 50 % sparsity (dense: ~0.90 on these held-out digits)
    assert model.evaluate(x[1200:], y[1200:], verbose=0)[1] > 0.8
    # constraints removed after training; zeros survive .keras save / load
    assert model.get_layer("h").kernel.constraint is None
    path = tmp_path / "sparse.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for name in ("h", "o"):
        np.testing.assert_array_equal(kernel(loaded, name), kernel(model, name))
    np.testing.assert_array_equal(to_numpy(loaded(x[:8])), to_numpy(model(x[:8])))


def test_isparse_polynomial_schedule_with_momentum_and_steps_per_execution(digits):
    x, y = digits
    model = lenet()
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy", steps_per_execution=3
    )
    xi = x.reshape(-1, 8, 8, 1)
    cb = ISparse(0.8, xi[:100], schedule="polynomial", start_epoch=1, end_epoch=3, update_every=1)
    history = model.fit(xi[:384], y[:384], epochs=4, batch_size=64, callbacks=[cb], verbose=0)
    targets = [cb.target_sparsity(e) for e in range(4)]
    assert targets[0] is None and targets[1] == 0.0 and targets[3] == pytest.approx(0.8)
    np.testing.assert_allclose(targets[2], 0.8 * (1 - 0.5**3))
    for name in ("conv1", "conv2", "fc1", "out"):
        size = kernel(model, name).size
        expected = [0.0, 0.0] + [1 - kept_count(size, t) / size for t in targets[2:]]
        np.testing.assert_allclose(history.history[f"sparsity/{name}"], expected)


@pytest.mark.parametrize("strategy", ["magnitude", "random"])
def test_isparse_other_strategies_need_no_samples(strategy, digits):
    x, y = digits
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    cb = ISparse(0.5, strategy=strategy, seed=0, update_every=2)
    model.fit(x[:256], y[:256], epochs=3, batch_size=128, callbacks=[cb], verbose=0)
    for name in ("h", "o"):
        w = kernel(model, name)
        assert np.count_nonzero(w) == kept_count(w.size, 0.5)
        np.testing.assert_array_equal(w != 0, cb.masks[name])


# ------------------------------------------------------------------------- masks carried through save / load


def test_mask_constraint_config_round_trip():
    mask = np.random.default_rng(0).random((3, 5, 7)) < 0.4  # 105 entries: not a whole number of bytes
    record = MaskConstraint(mask, keras.constraints.MaxNorm(2.0), active=False)
    again = keras.constraints.get(keras.constraints.serialize(record))
    assert isinstance(again, MaskConstraint) and not again.active
    np.testing.assert_array_equal(again.mask_array(), mask)
    assert isinstance(again.base, keras.constraints.MaxNorm) and again.base.max_value == 2.0
    w = np.random.default_rng(1).normal(size=mask.shape).astype("float32")
    np.testing.assert_allclose(to_numpy(again(w)), to_numpy(again.base(w)))  # dormant: the base only
    active = MaskConstraint.from_config(MaskConstraint(mask).get_config())
    np.testing.assert_array_equal(to_numpy(active(w)), w * mask)
    assert active.base is None and active.active
    with pytest.raises(ValueError, match="needs 15 bytes"):
        MaskConstraint.from_config({"mask": {"shape": [3, 5, 8], "bits": record.get_config()["mask"]["bits"]}})


@backends
def test_isparse_resumes_from_saved_masks_after_load(digits, tmp_path):
    x, y = digits
    model = mlp()
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    checkpoint = keras.callbacks.ModelCheckpoint(tmp_path / "checkpoint.keras")  # saved while ISparse runs
    cb = ISparse(0.5, x[:300], max_samples=128)
    model.fit(x[:1200], y[:1200], epochs=1, batch_size=64, callbacks=[cb, checkpoint], verbose=0)
    assert sparsity_report(model)[-1]["sparsity"] == pytest.approx(0.5, abs=0.01)
    zeros = {name: kernel(model, name) == 0 for name in ("h", "o")}
    for name, m in cb.masks.items():
        np.testing.assert_array_equal(~zeros[name], m)
    assert model.get_layer("h").kernel.constraint is None  # the active constraint is gone after fit
    path = tmp_path / "sparse.keras"
    model.save(path)
    for file in (path, tmp_path / "checkpoint.keras"):
        loaded = keras.saving.load_model(file, safe_mode=True)
        assert set(carried_masks(loaded)) == {"h", "o"}
        for name, m in carried_masks(loaded).items():
            np.testing.assert_array_equal(m, cb.masks[name])
        # the masks do not change the loaded model's outputs
        np.testing.assert_array_equal(to_numpy(loaded(x[:64])), to_numpy(model(x[:64])))
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # resume at epoch 1 with a NEW callback whose first update is at epoch 2: the saved masks hold
    loaded = keras.saving.load_model(path, safe_mode=True)
    resumed = ISparse(0.5, x[:300], max_samples=128, update_every=2)
    history = loaded.fit(
        x[:1200], y[:1200], initial_epoch=1, epochs=2, batch_size=64, callbacks=[resumed], verbose=0
    )
    assert resumed.current_sparsity is None  # no update ran: the carried masks were in force
    rows = {r["layer"]: r for r in sparsity_report(loaded)}
    for name in ("h", "o"):
        w = kernel(loaded, name)
        assert rows[name]["sparsity"] >= 0.5 - 1e-6 and history.history[f"sparsity/{name}"][0] >= 0.5 - 1e-6
        assert np.count_nonzero(w[zeros[name]]) == 0  # every weight pruned before the resume is still zero
        assert np.any(w != kernel(model, name))  # ... while the kept ones trained on
        np.testing.assert_array_equal(resumed.masks[name], ~zeros[name])
    assert rows["total"]["sparsity"] >= 0.5 - 1e-6
    # a second resume starts where this one stopped; the scheduled update (epoch 2) keeps 50 %
    again = ISparse(0.5, x[:300], max_samples=128, update_every=2)
    loaded.fit(x[:1200], y[:1200], initial_epoch=2, epochs=3, batch_size=64, callbacks=[again], verbose=0)
    assert again.current_sparsity == 0.5
    for name in ("h", "o"):
        w = kernel(loaded, name)
        assert np.count_nonzero(w) == kept_count(w.size, 0.5)
        np.testing.assert_array_equal(carried_masks(loaded)[name], w != 0)


def test_sparsify_output_carries_masks_through_save_load(digits, tmp_path):
    x, y = digits
    model = mlp()
    new = sparsify(model, 0.5, strategy="magnitude")
    assert set(carried_masks(new)) == {"h", "o"} and model.get_layer("h").kernel_constraint is None
    for name, m in carried_masks(new).items():
        np.testing.assert_array_equal(m, kernel(new, name) != 0)
    path = tmp_path / "sparsified.keras"
    new.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(to_numpy(loaded(x[:64])), to_numpy(new(x[:64])))
    for name, m in carried_masks(loaded).items():
        np.testing.assert_array_equal(m, kernel(new, name) != 0)
    # sparsifying a model that carries masks replaces them
    sparser = sparsify(loaded, 0.8, strategy="magnitude")
    for name, m in carried_masks(sparser).items():
        np.testing.assert_array_equal(m, kernel(sparser, name) != 0)
        assert np.count_nonzero(m) == kept_count(m.size, 0.8)
    for name, m in carried_masks(loaded).items():  # ... and leaves the source's alone
        np.testing.assert_array_equal(m, kernel(new, name) != 0)
    # carried masks are dormant: training without the callback may regrow pruned weights ...
    loaded.compile("adam", "sparse_categorical_crossentropy")
    loaded.fit(x[:256], y[:256], epochs=1, batch_size=64, verbose=0)
    assert sparsity_report(loaded)[-1]["sparsity"] < 0.4
    # ... an ISparse run before its start_epoch keeps them; after strip_masks it trains dense
    sparser.compile("adam", "sparse_categorical_crossentropy")
    cb = ISparse(0.8, strategy="magnitude", start_epoch=5)
    sparser.fit(x[:256], y[:256], epochs=1, batch_size=64, callbacks=[cb], verbose=0)
    for name, m in carried_masks(sparser).items():
        assert np.count_nonzero(kernel(sparser, name)[~m]) == 0 and np.count_nonzero(m) == kept_count(m.size, 0.8)
    strip_masks(sparser)
    assert carried_masks(sparser) == {} and sparser.get_layer("h").kernel.constraint is None
    cb = ISparse(0.8, strategy="magnitude", start_epoch=5)
    sparser.fit(x[:256], y[:256], epochs=1, batch_size=64, callbacks=[cb], verbose=0)
    assert sparsity_report(sparser)[-1]["sparsity"] < 0.4


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("bad", [1.0, -0.1, True, "0.5", 1.5])
def test_bad_sparsity(bad):
    with pytest.raises(ValueError, match="sparsity"):
        ISparse(bad, np.ones((4, 64)))
    with pytest.raises(ValueError, match="sparsity"):
        sparsify(mlp(), bad, strategy="magnitude")


@backends
def test_empty_or_missing_score_samples():
    model = mlp()
    with pytest.raises(ValueError, match="at least 2 samples"):
        ISparse(0.5, np.zeros((0, 64)))
    if keras.backend.backend() == "tensorflow":  # tf.data: TensorFlow only
        with pytest.raises(ValueError, match="empty dataset"):
            ISparse(0.5, tf.data.Dataset.from_tensor_slices(np.zeros((0, 64))).batch(4))
    with pytest.raises(ValueError, match="required"):
        sparsify(model, 0.5)
    with pytest.raises(ValueError, match="at least 2 samples"):
        edge_scores(model, np.zeros((1, 64)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="strategy"):
        sparsify(mlp(), 0.5, strategy="lottery")
    with pytest.raises(ValueError, match="schedule"):
        ISparse(0.5, np.ones((4, 64)), schedule="cosine")
    with pytest.raises(ValueError, match="end_epoch"):
        ISparse(0.5, np.ones((4, 64)), schedule="polynomial", start_epoch=2, end_epoch=2)
    with pytest.raises(ValueError, match="update_every"):
        ISparse(0.5, np.ones((4, 64)), update_every=0)
    with pytest.raises(ValueError, match="alpha"):
        ISparse(0.5, np.ones((4, 64)), alpha=-0.5)
    with pytest.raises(ValueError, match="max_samples"):
        ISparse(0.5, np.ones((4, 64)), max_samples=1)


def test_model_without_prunable_layer():
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, L.Flatten()(L.ReLU()(inp)))
    with pytest.raises(ValueError, match="no prunable layer"):
        sparsify(model, 0.5, strategy="magnitude")


@pytest.mark.parametrize(
    "make, name", [(lambda: L.LayerNormalization(name="ln"), "ln"), (lambda: L.DepthwiseConv2D(3, name="dw"), "dw")]
)
def test_unknown_weighted_layer_fails_before_anything_changes(make, name, digits):
    x, y = digits
    inp = keras.Input((8, 8, 1))
    h = make()(L.Conv2D(2, 3, name="conv")(inp))
    model = keras.Model(inp, L.Dense(10, activation="softmax", name="out")(L.Flatten()(h)))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=f"'{name}'"):
        sparsify(model, 0.5, x[:8].reshape(-1, 8, 8, 1))
    with pytest.raises(ValueError, match=f"'{name}'"):
        edge_scores(model, x[:8].reshape(-1, 8, 8, 1))
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=f"'{name}'"):
        cb = ISparse(0.5, strategy="magnitude")
        model.fit(x[:8].reshape(-1, 8, 8, 1), y[:8], epochs=1, callbacks=[cb], verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.get_layer("conv").kernel.constraint is None


def test_channel_changing_weightless_layer_and_subclassed_model():
    inp = keras.Input((4, 3))
    odd = L.Lambda(lambda t: keras.ops.mean(t, axis=-1, keepdims=True), name="squash")(L.Dense(3, name="d")(inp))
    model = keras.Model(inp, L.Flatten()(odd))
    with pytest.raises(ValueError, match="'squash'.*3 channels to 1"):
        ScorePlan(model)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.ones((2, 3)))
    with pytest.raises(ValueError, match="functional or Sequential"):
        sparsify(sub, 0.5, strategy="magnitude")


# --------------------------------------------------------------------------------------- a fresh process


def test_isparse_model_loads_in_fresh_process(digits, tmp_path):
    x, y = digits
    model = lenet()
    model.compile("adam", "sparse_categorical_crossentropy")
    xi = x[:256].reshape(-1, 8, 8, 1)
    model.fit(xi, y[:256], epochs=1, batch_size=64, callbacks=[ISparse(0.6, xi[:64])], verbose=0)
    path = tmp_path / "sparse.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", xi[:32])
    # a user's process imports the package only; that registers MaskConstraint (the carried masks)
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import keras_attention
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        np.save({str(tmp_path / "pred.npy")!r}, keras.ops.convert_to_numpy(model(np.load({str(tmp_path / "x.npy")!r}))))
        np.save({str(tmp_path / "zeros.npy")!r}, keras.ops.convert_to_numpy(model.get_layer("fc1").kernel) == 0)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), to_numpy(model(xi[:32])))
    np.testing.assert_array_equal(np.load(tmp_path / "zeros.npy"), kernel(model, "fc1") == 0)
