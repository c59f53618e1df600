"""SparseMLP: gradients, determinism, training, history, conventions and bad input."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import refset
from _tolerances import FD_RTOL
from refset import SparseMLP


def _data(seed, n=120, d=10, k=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.argmax(X[:, :k] + 0.3 * rng.standard_normal((n, k)), axis=1)
    return X, y


def _small(**kw):
    params = dict(epsilon=3.0, epochs=3, batch_size=16, learning_rate=0.05, seed=0)
    params.update(kw)
    return SparseMLP((12, 9), **params)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_gradients_match_finite_differences(loss, global_seed):
    X, y = _data(global_seed, n=20, d=6)
    model = _small(loss=loss, epochs=1, weight_init="he_uniform", seed=global_seed).fit(X, y)
    for b in model.biases_:          # non-zero biases exercise the bias gradient too
        b += np.random.default_rng(1).normal(0, 0.1, b.size)
    model._refresh_caches()
    loss0, grads = model.loss_and_gradients(X, y)
    h = 1e-6
    for l, (W, b) in enumerate(zip(model.layers_, model.biases_)):
        for array, grad in ((W.values, grads[l][0]), (b, grads[l][1])):
            assert grad.shape == array.shape
            numeric = np.empty_like(array)
            for i in range(array.size):
                old = array[i]
                array[i] = old + h
                up, _ = model.loss_and_gradients(X, y)
                array[i] = old - h
                down, _ = model.loss_and_gradients(X, y)
                array[i] = old
                numeric[i] = (up - down) / (2 * h)
            assert_allclose(grad, numeric, rtol=FD_RTOL * 100, atol=1e-8)
    assert np.isfinite(loss0)


def test_same_seed_same_run():
    X, y = _data(0)
    a, b = _small().fit(X, y), _small().fit(X, y)
    for Wa, Wb in zip(a.layers_, b.layers_):
        assert np.array_equal(Wa.linear(), Wb.linear())
        assert np.array_equal(Wa.values, Wb.values)
    assert [r["train_loss"] for r in a.history_] == [r["train_loss"] for r in b.history_]
    c = _small(seed=1).fit(X, y)
    assert not np.array_equal(a.layers_[0].linear(), c.layers_[0].linear())


def test_generator_seed_is_accepted():
    X, y = _data(0)
    a = _small(seed=np.random.default_rng(5)).fit(X, y)
    b = _small(seed=5).fit(X, y)
    assert np.array_equal(a.layers_[1].values, b.layers_[1].values)


def test_backends_train_alike():
    if not refset.kernels.backend.compiled_available():
        pytest.skip("compiled extension not built")
    X, y = _data(0)
    a = _small(backend="numpy").fit(X, y)
    b = _small(backend="cython").fit(X, y)
    for Wa, Wb in zip(a.layers_, b.layers_):
        assert np.array_equal(Wa.linear(), Wb.linear())
        assert_allclose(Wa.values, Wb.values, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_learns_and_reports_history(dtype, global_seed):
    X, y = _data(global_seed, n=300)
    Xt, yt = _data(global_seed + 1, n=200)
    model = SparseMLP((32, 32), epsilon=4, epochs=6, batch_size=16, learning_rate=0.05,
                      weight_init="he_uniform", dtype=dtype, seed=global_seed)
    model.fit(X, y, validation_data=(Xt, yt))
    assert model.layers_[0].values.dtype == np.dtype(dtype)
    assert model.predict_proba(Xt).dtype == np.dtype(dtype)
    assert model.score(Xt, yt) > 0.6                      # chance is about 1/3
    h = model.history_
    assert [r["epoch"] for r in h] == list(range(1, 7))
    for r in h:
        assert set(r) >= {"train_loss", "train_accuracy", "test_loss", "test_accuracy",
                          "seconds_train", "seconds_eval", "seconds_topology", "nnz",
                          "removed", "regrown", "overlap", "active_neurons"}
        assert r["nnz"] == [W.nnz for W in model.layers_]   # conserved every epoch
        assert r["active_neurons"] == [10, 32, 32, 3]
    assert all(r > 0 for r in h[0]["removed"]) and h[-1]["removed"] == [0, 0, 0]
    assert h[-1]["test_accuracy"] == pytest.approx(model.score(Xt, yt))


def test_new_links_start_with_zero_momentum():
    X, y = _data(0)
    seen = []

    def snapshot(model, record):
        seen.append([(W.linear().copy(), vw.copy()) for W, (vw, _) in zip(model.layers_, model.velocities_)])

    _small(epochs=3, zeta=0.3).fit(X, y, callback=snapshot)
    for before, after in zip(seen[0][:2], seen[1][:2]):     # the output layer is dense
        lin_after, v_after = after
        new = ~np.isin(lin_after, before[0])
        assert new.any() and np.all(v_after[new] == 0)
        assert np.any(v_after[~new] != 0)        # kept links keep their momentum


def test_static_training_with_zeta_zero():
    X, y = _data(0)
    model = SparseMLP((12, 9), epsilon=3.0, zeta=0.0, epochs=3, seed=0)
    first = []
    model.fit(X, y, callback=lambda m, r: first.append(m.layers_[0].linear().copy()))
    assert all(np.array_equal(first[0], f) for f in first)
    assert model.history_[0]["removed"] == [0, 0, 0]


def test_original_weight_decay_and_dropout_run():
    X, y = _data(0)
    model = _small(weight_decay_style="original", dropout=0.3, loss="mse").fit(X, y)
    p = model.predict_proba(X)
    assert_allclose(p.sum(axis=1), 1.0)
    assert set(np.unique(model.predict(X))) <= set(model.classes_)


def test_string_labels_and_classes():
    X, y = _data(0)
    labels = np.array(["cat", "dog", "emu"])[y]
    model = _small().fit(X, labels)
    assert list(model.classes_) == ["cat", "dog", "emu"]
    assert set(model.predict(X)) <= {"cat", "dog", "emu"}


def test_sklearn_conventions():
    model = SparseMLP((5,), zeta=0.2)
    assert model.get_params()["zeta"] == 0.2
    assert model.set_params(zeta=0.1) is model and model.zeta == 0.1
    assert not hasattr(model, "layers_")
    X, y = _data(0)
    assert model.set_params(epsilon=3, epochs=1).fit(X, y) is model
    assert model.n_features_in_ == 10 and model.epoch_ == 1
    with pytest.raises(ValueError, match="unknown parameter"):
        model.set_params(zetta=1)


@pytest.mark.parametrize("params, name", [
    (dict(epsilon=0), "epsilon"), (dict(epsilon=-2), "epsilon"), (dict(zeta=1.5), "zeta"),
    (dict(zeta=-0.1), "zeta"), (dict(epochs=0), "epochs"), (dict(batch_size=0), "batch_size"),
    (dict(learning_rate=0), "learning_rate"), (dict(momentum=1.0), "momentum"),
    (dict(dropout=1.0), "dropout"), (dict(loss="hinge"), "loss"), (dict(dtype="int8"), "dtype"),
    (dict(hidden_layer_sizes=(5, 0)), "hidden_layer_sizes"), (dict(threads=0), "threads"),
    (dict(prune="random"), "prune"), (dict(weight_decay_style="adamw"), "weight_decay_style"),
])
def test_bad_hyperparameters(params, name):
    X, y = _data(0)
    with pytest.raises(ValueError, match=name):
        SparseMLP(**{"hidden_layer_sizes": (8,), "epsilon": 3, **params}).fit(X, y)


def test_bad_data():
    X, y = _data(0)
    model = SparseMLP((8,), epsilon=3, epochs=1)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        model.fit(bad, y)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        model.fit(bad, y)
    with pytest.raises(ValueError, match="y has 119 labels but X has 120 samples"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="X must be a 2-D"):
        model.fit(X[0], y)
    with pytest.raises(ValueError, match="two classes"):
        model.fit(X, np.zeros(120))
    with pytest.raises(ValueError, match="not fitted"):
        model.predict(X)
    model.fit(X, y)
    with pytest.raises(ValueError, match="X has 9 features, but SparseMLP is expecting 10 features as input"):
        model.predict(X[:, :9])
    with pytest.raises(ValueError, match="labels not seen"):
        model.loss_and_gradients(X[:3], np.array([0, 1, 7]))


@pytest.mark.parametrize("d,hidden,batch", [(300, (200, 200), 64), (1100, (1100,), 128),
                                           (2200, (1000,), 64), (300, (200, 200), 2),
                                           (300, (200, 200), 32)])
def test_two_threads_give_the_same_run(d, hidden, batch):
    """Threads own disjoint outputs and keep each sum's order, so results are identical
    (the second case reads the first layer in two cache tiles, forward_order; in the third
    one thread reads the canonical order and two the column order, untiled although the
    input is large enough for tiles)."""
    if not refset.kernels.backend.compiled_available():
        pytest.skip("compiled extension not built")
    X, y = _data(0, n=200, d=d)
    kw = dict(epsilon=20.0, epochs=2, batch_size=batch, seed=0, backend="cython")
    a = SparseMLP(hidden, threads=1, **kw).fit(X, y)
    b = SparseMLP(hidden, threads=2, **kw).fit(X, y)
    for Wa, Wb in zip(a.layers_, b.layers_):
        assert np.array_equal(Wa.linear(), Wb.linear())
        assert np.array_equal(Wa.values, Wb.values)


@pytest.mark.parametrize("batch,dropout", [(2, 0.0), (7, 0.3), (32, 0.0), (128, 0.0)])
def test_first_layer_fusion_changes_no_bit(batch, dropout):
    """Training computes the next batch's first product inside the first layer's update
    (csr_backward_update with X_next, PERFORMANCE §2.7); without it the run is the same, bit
    for bit, on either backend."""
    X, y = _data(0, n=150, d=40)
    runs = []
    for fuse in (True, False):
        model = SparseMLP((30, 20), epsilon=4, epochs=2, batch_size=batch, dropout=dropout,
                          seed=1)
        if not fuse:
            plain = model._backward_update
            model._backward_update = lambda *a, A_next=None, **kw: plain(*a, **kw)
        runs.append(model.fit(X, y))
    for Wa, Wb in zip(runs[0].layers_, runs[1].layers_):
        assert np.array_equal(Wa.linear(), Wb.linear())
        assert Wa.values.tobytes() == Wb.values.tobytes()
    assert [r["train_loss"] for r in runs[0].history_] == \
        [r["train_loss"] for r in runs[1].history_]


def test_evaluation_chunks_are_bounded_and_change_nothing(monkeypatch):
    """Evaluation holds at most ``_EVAL_BYTES`` of activations per layer and chunk; smaller
    chunks give the same outputs (each sample's sums do not depend on the chunk)."""
    from refset.estimator import numerics

    X, y = _data(0, n=120, d=30)
    model = SparseMLP((50, 40), epsilon=4, epochs=1, seed=0).fit(X, y)
    assert model._eval_batch() == numerics._EVAL_BATCH
    whole = model.predict_proba(X)
    itemsize = model.layers_[0].values.itemsize
    monkeypatch.setattr(numerics, "_EVAL_BYTES", 7 * 50 * itemsize + 3)
    assert model._eval_batch() == 7
    np.testing.assert_array_equal(model.predict_proba(X), whole)


def test_train_metrics_full_and_running():
    X, y = _data(0)
    full = _small(train_metrics="full").fit(X, y)
    assert full.history_[-1]["train_accuracy"] == pytest.approx(full.score(X, y))
    loss, _ = full.loss_and_gradients(X, y)
    assert full.history_[-1]["train_loss"] == pytest.approx(loss)
    running = _small().fit(X, y)          # same seed, same training; metrics differ in timing only
    assert np.array_equal(running.layers_[0].values, full.layers_[0].values)
    assert 0 <= running.history_[-1]["train_accuracy"] <= 1
    with pytest.raises(ValueError, match="train_metrics"):
        _small(train_metrics="some").fit(X, y)


def test_divergence_stops_with_a_clear_error(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6))
    y = np.arange(64) % 2
    model = SparseMLP((8,), epsilon=3, epochs=1, seed=0).fit(X, y)
    model.layers_[0].values[:] = np.inf                 # what a diverged update leaves
    with pytest.raises(FloatingPointError, match="diverged in epoch 2"):
        with np.errstate(all="ignore"):
            model.set_params(epochs=3).fit(X, y, resume=True)
    assert model.epoch_ == len(model.history_) == 1      # the finished epoch is kept
