"""The method plumbing of SparseMLP: options, dense output, schedules, intervals, metrics."""
import numpy as np
import pytest

from refset import SparseMLP
from refset.estimator.methods import DEFAULTS, METHODS, area_across_epochs, linear_decay, make_method


def _data(seed, n=90, d=12, k=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.argmax(X[:, :k], axis=1)
    return X, y


@pytest.mark.parametrize("method", METHODS)
def test_defaults_validate(method):
    m = make_method(method)
    assert set(m.options) == set(DEFAULTS[method])


@pytest.mark.parametrize("method,options,match", [
    ("nope", None, "method must be one of"),
    ("set", {"lam": 0.1}, "unknown option"),
    ("path-weight", {"lam": -0.1}, "lam"),
    ("path-weight", {"K1": 0.5}, "K2 < 1 < K1"),
    ("path-weight", {"candidates": "all"}, "candidates"),
    ("sensitivity", {"form": "ratio"}, "form"),
    ("cht", {"shortfall": "none"}, "shortfall"),
    ("cht", {"sparsity": 1.0}, "sparsity"),
    ("set", [("a", 1)], "must be a dict"),
])
def test_bad_options_are_named(method, options, match):
    with pytest.raises(ValueError, match=match):
        make_method(method, options)


def test_bad_model_settings_are_named():
    X, y = _data(0)
    for kw, match in [({"update_interval": 0}, "update_interval"),
                      ({"lr_schedule": "cosine"}, "lr_schedule"),
                      ({"dense_output": "yes"}, "dense_output"),
                      ({"method": "path-weight", "dense_output": True}, "dense_output")]:
        with pytest.raises(ValueError, match=match):
            SparseMLP((8,), epochs=1, **kw).fit(X, y)


def test_linear_decay_endpoints():
    assert linear_decay(0.1, 0, 100) == 0.1
    assert linear_decay(0.1, 90, 100) == pytest.approx(0.001)
    assert linear_decay(0.1, 99, 100) == pytest.approx(0.001)
    assert linear_decay(0.1, 45, 100) == pytest.approx(0.1 * (1 - 0.99 * 0.5))


def test_area_across_epochs_by_hand():
    assert area_across_epochs([0.2, 0.4, 1.0]) == pytest.approx(((0.2 + 0.4) / 2 + (0.4 + 1.0) / 2) / 2)
    assert area_across_epochs([0.3]) == 0.3
    assert np.isnan(area_across_epochs([]))


def test_dense_output_layer_is_static(global_seed):
    X, y = _data(global_seed)
    model = SparseMLP((10, 10), epsilon=2, epochs=4, dense_output=True, seed=global_seed)
    model.fit(X, y)
    out = model.layers_[-1]
    assert out.nnz == 10 * 3
    for rec in model.history_[:-1]:
        assert rec["removed"][-1] == 0 and rec["regrown"][-1] == 0 and rec["overlap"][-1] is None
        assert rec["removed"][0] > 0
    assert np.all(np.isfinite(out.values))


def test_update_interval_and_lr_schedule(global_seed):
    X, y = _data(global_seed)
    model = SparseMLP((10,), epsilon=2, epochs=6, update_interval=2, lr_schedule="linear",
                      seed=global_seed).fit(X, y, validation_data=(X, y))
    updated = [rec["topology_updated"] for rec in model.history_]
    assert updated == [False, True, False, True, False, False]
    for rec in model.history_:
        assert (sum(rec["removed"]) > 0) == rec["topology_updated"]
    lrs = [rec["learning_rate"] for rec in model.history_]
    assert lrs[0] == 0.01 and all(a > b for a, b in zip(lrs, lrs[1:-1]))
    curve = [rec["test_accuracy"] for rec in model.history_]
    assert model.history_[-1]["aae"] == pytest.approx(area_across_epochs(curve))
    assert model.history_[-1]["aae_mean"] == pytest.approx(np.mean(curve))
    assert all(rec["anp"] == 1.0 for rec in model.history_)


def test_interval_resume_equals_uninterrupted(tmp_path, global_seed):
    X, y = _data(global_seed)
    kw = dict(epsilon=2, update_interval=2, seed=global_seed)
    full = SparseMLP((10,), epochs=6, **kw).fit(X, y)
    part = SparseMLP((10,), epochs=4, **kw).fit(X, y)      # epoch 4 is due but final
    part.save(tmp_path / "m.npz")
    resumed = SparseMLP.load(tmp_path / "m.npz").set_params(epochs=6).fit(X, y, resume=True)
    for a, b in zip(full.layers_, resumed.layers_):
        np.testing.assert_array_equal(a.linear(), b.linear())
        np.testing.assert_array_equal(a.values, b.values)
