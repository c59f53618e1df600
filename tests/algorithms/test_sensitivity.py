"""Sensitivity evolution (ALGORITHMS §4.5): the measure, gradients, removal and regrowth."""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _stats import assert_follows

from _tolerances import FD_RTOL
from refset import CooMatrix, SparseMLP, erdos_renyi_layer
from refset.algorithms import link_sensitivity, sensitivity_step


def _network(widths, eps, seed):
    rng = np.random.default_rng(seed)
    return [erdos_renyi_layer(a, b, eps, rng) for a, b in zip(widths[:-1], widths[1:])]


networks = st.builds(_network, st.lists(st.integers(1, 9), min_size=2, max_size=5),
                     st.floats(1.0, 3.0), st.integers(0, 2**32 - 1))


def _gradients(layers, seed, ties=False):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(W.nnz) for W in layers]
    return [np.round(g, 1) for g in grads] if ties else grads


def _naive_removal(layers, grads, zeta, form):
    removed = []
    for W, g in zip(layers, grads):
        s = link_sensitivity(W.values, g, form)
        out_deg, in_deg = (d.tolist() for d in W.degrees())
        k, chosen = int(np.floor(zeta * W.nnz + 1e-9)), []
        for i in sorted(range(W.nnz), key=lambda i: (s[i], i)):
            if len(chosen) == k:
                break
            r, c = int(W.rows[i]), int(W.cols[i])
            if out_deg[r] > 1 and in_deg[c] > 1:
                out_deg[r] -= 1
                in_deg[c] -= 1
                chosen.append(i)
        removed.append(np.sort(W.linear()[np.array(chosen, dtype=np.int64)]))
    return removed


@given(layers=networks, zeta=st.floats(0, 1), seed=st.integers(0, 2**32 - 1),
       form=st.sampled_from(["quotient", "relative"]), ties=st.booleans())
def test_invariants_and_removal_rule(layers, zeta, seed, form, ties):
    grads = _gradients(layers, seed, ties)
    step = sensitivity_step(layers, grads, np.random.default_rng(seed), zeta=zeta, form=form)
    for l, (W, new) in enumerate(zip(layers, step.layers)):
        new.check()
        assert new.nnz == W.nnz and new.values.dtype == W.values.dtype
        out_deg, in_deg = new.degrees()
        assert out_deg.min() >= 1 and in_deg.min() >= 1
        old, lin = W.linear(), new.linear()
        kept = np.setdiff1d(old, step.removed[l])
        assert step.removed[l].size == step.regrown[l].size
        assert np.intersect1d(kept, step.regrown[l]).size == 0
        assert np.array_equal(np.union1d(kept, step.regrown[l]), lin)
        if not step.info["regrow_fallback"][l]:
            assert np.intersect1d(step.removed[l], step.regrown[l]).size == 0
        src = step.sources[l]
        assert np.array_equal(lin[src < 0], step.regrown[l])
        assert np.array_equal(old[src[src >= 0]], lin[src >= 0])
        assert np.array_equal(W.values[src[src >= 0]], new.values[src >= 0])
    for got, expected in zip(step.removed, _naive_removal(layers, grads, zeta, form)):
        assert np.array_equal(got, expected)
    json.dumps(step.info, allow_nan=False)


def test_measure_and_guard():
    w = np.array([0.5, -2.0, 1.0, 0.0, 1e-9])
    g = np.array([1.0, 1.0, -3.0, 2.0, 1.0])
    floor = 1e-6 * np.median(np.abs(w))                      # median |w| = 0.5
    np.testing.assert_allclose(link_sensitivity(w, g),
                               [2.0, 0.5, 3.0, 2.0 / floor, 1.0 / floor], rtol=1e-15)
    np.testing.assert_allclose(link_sensitivity(w, g, "relative"), np.abs(g * w), rtol=1e-15)
    # median |w| = 0: the median of the nonzero magnitudes; all zero: 1
    w0 = np.array([0.0, 0.0, 0.0, 4.0, 2.0])
    np.testing.assert_allclose(link_sensitivity(w0, np.ones(5))[:3], 1.0 / (1e-6 * 3.0))
    np.testing.assert_allclose(link_sensitivity(np.zeros(3), np.ones(3)), 1e6)
    assert link_sensitivity(np.zeros(0), np.zeros(0)).size == 0
    # float32 inputs: computed in float64
    assert link_sensitivity(w.astype(np.float32), g.astype(np.float32)).dtype == np.float64


def test_uses_the_gradients_of_the_loss(global_seed):
    """The model's gradients match central finite differences of its loss, and the
    sensitivity built from them is |∂f/∂w / w| of the finite-difference derivative."""
    rng = np.random.default_rng(global_seed)
    X = rng.standard_normal((40, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = SparseMLP((7,), epsilon=2.0, epochs=1, zeta=0.0, seed=global_seed).fit(X, y)
    _, grads = model.loss_and_gradients(X, y)
    h = 1e-6
    for l, W in enumerate(model.layers_):
        g = grads[l][0]
        assert g.shape == W.values.shape
        fd = np.empty(W.nnz)
        for k in range(W.nnz):
            w = W.values[k]
            W.values[k] = w + h
            plus = model.loss_and_gradients(X, y)[0]
            W.values[k] = w - h
            minus = model.loss_and_gradients(X, y)[0]
            W.values[k] = w
            fd[k] = (plus - minus) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=10 * FD_RTOL, atol=1e-9)
        s = link_sensitivity(W.values, g)
        np.testing.assert_allclose(s, np.abs(fd / W.values), rtol=1e-4, atol=1e-6)
    step = sensitivity_step(model.layers_, [g for g, _ in grads], np.random.default_rng(0),
                            zeta=0.3)
    for got, expected in zip(step.removed, _naive_removal(model.layers_,
                                                          [g for g, _ in grads], 0.3,
                                                          "quotient")):
        assert np.array_equal(got, expected)


def test_regrowth_sources_follow_node_sensitivity():
    """Chi-square of regrown sources against ∝ S(n) = Σ_j S(w_ij) (Eq. 11); the same
    statistic rejects uniform sources."""
    layers = _network([6, 200, 2], 3.0, 5)
    W = layers[0]
    boost = np.array([0.2, 0.5, 1.0, 2.0, 4.0, 8.0])
    grads = [np.random.default_rng(1).uniform(0.5, 1.5, W.nnz) * boost[W.rows],
             np.ones(layers[1].nnz)]
    node = np.bincount(W.rows, weights=link_sensitivity(W.values, grads[0]), minlength=6)
    expected_p = node / node.sum()
    counts = np.zeros(6)
    for seed in range(150):
        step = sensitivity_step(layers, grads, np.random.default_rng(seed), zeta=0.1)
        assert not step.info["regrow_fallback"][0]
        counts += np.bincount(step.regrown[0] // 200, minlength=6)
    assert counts.sum() > 5000
    assert_follows(counts, expected_p)


def test_deterministic_and_zeta_zero(global_seed):
    layers = _network([8, 10, 3], 2.0, global_seed)
    grads = _gradients(layers, global_seed)
    a, b = (sensitivity_step(layers, grads, np.random.default_rng(global_seed), zeta=0.4)
            for _ in range(2))
    for x, y in zip(a.layers, b.layers):
        assert np.array_equal(x.linear(), y.linear()) and np.array_equal(x.values, y.values)
    static = sensitivity_step(layers, grads, np.random.default_rng(0), zeta=0.0)
    for W, new, src in zip(layers, static.layers, static.sources):
        assert np.array_equal(new.linear(), W.linear()) and np.array_equal(src, np.arange(W.nnz))
    assert static.info["mean_sensitivity_removed"] is None


def test_zero_weights_are_kept():
    """Quotient form: a zero weight with a nonzero gradient is maximally sensitive."""
    W = CooMatrix.from_dense(np.array([[1.0, 0.5, 0.2], [0.3, 0.7, 0.9]]))
    W.values[1] = 0.0
    step = sensitivity_step([W], [np.full(6, 0.1)], np.random.default_rng(0), zeta=0.5)
    assert 1 not in step.removed[0] and step.removed[0].size == 3


def test_bad_inputs():
    layers = _network([5, 6, 3], 2.0, 0)
    grads = _gradients(layers, 0)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="zeta"):
        sensitivity_step(layers, grads, rng, zeta=1.5)
    with pytest.raises(ValueError, match="form"):
        sensitivity_step(layers, grads, rng, zeta=0.3, form="absolute")
    with pytest.raises(ValueError, match="mean_gradients must be a list of 2"):
        sensitivity_step(layers, grads[:1], rng, zeta=0.3)
    with pytest.raises(ValueError, match=r"mean_gradients\[1\] must have shape"):
        sensitivity_step(layers, [grads[0], grads[1][:-1]], rng, zeta=0.3)
    bad = [grads[0].copy(), grads[1]]
    bad[0][0] = np.nan
    with pytest.raises(ValueError, match=r"mean_gradients\[0\] contains NaN"):
        sensitivity_step(layers, bad, rng, zeta=0.3)
    with pytest.raises(ValueError, match="grad must have the shape"):
        link_sensitivity(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        link_sensitivity(np.ones(2), np.array([1.0, np.inf]))
