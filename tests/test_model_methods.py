"""Every method trained end to end through SparseMLP: invariants after every update,
determinism, checkpoints and resume (ALGORITHMS §0, §3)."""
import numpy as np
import pytest

from refset import SparseMLP
from refset.estimator.methods import METHODS
from refset.algorithms.topology import isolated

OPTIONS = {
    "set": {},
    "path-weight": {"time_varying": True},
    "sensitivity": {},
    "cht": {},
}


def _data(seed, n=120, d=16, k=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[:, -1] = 1.0                                   # a constant feature (CSTI leaves it out)
    y = np.argmax(X[:, :k] + 0.3 * rng.standard_normal((n, k)), axis=1)
    return X, y


def _model(method, seed, epochs=5, **kw):
    hidden = (24, 24) if method != "cht" else (16, 16, 16)
    opts = dict(OPTIONS[method])
    if method == "cht":
        opts["sparsity"] = 0.8
    return SparseMLP(hidden, epsilon=3, epochs=epochs, batch_size=16, method=method,
                     method_options=opts, seed=seed, **kw)


def _check_network(model, prev_nnz, record, method):
    layers = model.layers_
    for l, W in enumerate(layers):
        W.check(allow_zeros=True, name=f"layer {l}")
        rows_empty, cols_empty = isolated(W.rows, W.cols, W.shape)
        assert cols_empty.size == 0, f"layer {l}: an output without input"
        if l > 0:
            assert rows_empty.size == 0, f"layer {l}: a hidden neuron without output"
        if l + 1 < len(layers):
            assert W.shape[1] == layers[l + 1].shape[0]
            assert model.biases_[l].shape == (W.shape[1],)
    if prev_nnz is None or not record["topology_updated"]:
        return
    nnz = [W.nnz for W in layers]
    if method == "cht":                                # the regrown replace the removed ...
        for l, (a, b) in enumerate(zip(prev_nnz, nnz)):
            if record["frozen"][l] is False and record["dropped"][l] == 0:
                assert b == a - record["removed"][l] + record["regrown"][l]
    else:                                               # ... and counts are conserved exactly
        assert nnz == prev_nnz
        assert record["removed"] == record["regrown"]


@pytest.mark.parametrize("method", METHODS)
def test_invariants_after_every_update(method, global_seed):
    X, y = _data(global_seed)
    state = {"nnz": None}

    def check(model, record):
        _check_network(model, state["nnz"], record, method)
        state["nnz"] = [W.nnz for W in model.layers_]
        for o in record["overlap"]:
            assert o is None or 0.0 <= o <= 1.0

    model = _model(method, global_seed)
    model.fit(X, y, validation_data=(X, y), callback=check)
    assert len(model.history_) == model.epochs
    assert sum(sum(r["regrown"]) for r in model.history_) > 0
    assert 0.0 <= model.score(X, y) <= 1.0


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_run(method, global_seed):
    X, y = _data(global_seed)
    a = _model(method, global_seed).fit(X, y)
    b = _model(method, global_seed).fit(X, y)
    for la, lb in zip(a.layers_, b.layers_):
        np.testing.assert_array_equal(la.linear(), lb.linear())
        np.testing.assert_array_equal(la.values, lb.values)


@pytest.mark.parametrize("method", METHODS)
def test_resume_equals_uninterrupted(method, tmp_path, global_seed):
    X, y = _data(global_seed)
    # a linear learning-rate decay depends on the total number of epochs: keep it constant
    full = _model(method, global_seed, epochs=5, lr_schedule="constant").fit(X, y)
    part = _model(method, global_seed, epochs=3, lr_schedule="constant").fit(X, y)
    part.save(tmp_path / "m.npz")
    loaded = SparseMLP.load(tmp_path / "m.npz")
    assert loaded.method_state_ == part.method_state_
    loaded.set_params(epochs=5).fit(X, y, resume=True)
    for la, lb, (va, _), (vb, _) in zip(full.layers_, loaded.layers_, full.velocities_,
                                        loaded.velocities_):
        np.testing.assert_array_equal(la.linear(), lb.linear())
        np.testing.assert_array_equal(la.values, lb.values)
        np.testing.assert_array_equal(va, vb)
    assert loaded.method_state_ == full.method_state_


def test_cht_removed_neurons_never_return(global_seed):
    X, y = _data(global_seed)
    widths = []
    model = _model("cht", global_seed, epochs=6)
    model.fit(X, y, callback=lambda m, r: widths.append([W.shape[1] for W in m.layers_[:-1]]))
    for before, after in zip(widths, widths[1:]):
        assert all(a <= b for a, b in zip(after, before))
    anp = [r["anp"] for r in model.history_]
    assert all(a >= b for a, b in zip(anp, anp[1:]))
    assert model.layers_[-1].nnz == model.layers_[-1].shape[0] * model.layers_[-1].shape[1]


def test_cht_csti_needs_data():
    model = SparseMLP((8,), method="cht")
    with pytest.raises(ValueError, match="CSTI"):
        model._initialize(5, 2, np.random.default_rng(0))
