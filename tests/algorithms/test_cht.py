"""ESML / CHT step (ALGORITHMS §5.3): percolation, regrowth, shortfall, overlap, early stop."""
import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refset import CooMatrix, erdos_renyi_layer, get_kernels
from refset.kernels import backend as _backend
from refset.algorithms import select_prune
from refset.algorithms.ch3_l3 import ch3_l3_top_k
from refset.algorithms.cht import early_stop_update, esml_step, percolate
from refset.algorithms.swi import SWI

BACKENDS = ["numpy", pytest.param("cython", marks=pytest.mark.skipif(
    not _backend.compiled_available() and os.environ.get("REFSET_REQUIRE_EXT") != "1",
    reason="compiled extension not built"))]


def _network(widths, eps, seed, zeros=0.0):
    """Erdős–Rényi sparse layers (no isolated neuron) with N(0, 1) weights, some exact zeros."""
    rng = np.random.default_rng(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        e = max(eps, max(a, b) / (a + b) + 1e-9)
        with warnings.catch_warnings():             # small layers may come out dense
            warnings.simplefilter("ignore", UserWarning)
            W = erdos_renyi_layer(a, b, e, rng, init=lambda r, n, *_: r.standard_normal(n))
        W.values[rng.random(W.nnz) < zeros] = 0.0
        layers.append(W)
    return layers


networks = st.builds(
    _network,
    st.lists(st.integers(2, 14), min_size=2, max_size=4),
    st.floats(0.5, 2.5), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.1]))


def _check_structure(old, step):
    """Invariants every step must satisfy, whatever its options."""
    n = len(old)
    assert len(step.layers) == len(step.sources) == n
    assert len(step.kept_neurons) == len(step.removed_neurons) == n - 1
    for h, (kept, gone) in enumerate(zip(step.kept_neurons, step.removed_neurons)):
        width = old[h].shape[1]
        assert np.all(np.diff(kept) > 0) and kept.size and kept[-1] < width
        assert np.array_equal(np.union1d(kept, gone), np.arange(width))
        assert np.intersect1d(kept, gone).size == 0
        assert step.layers[h].shape[1] == step.layers[h + 1].shape[0] == kept.size
    assert step.layers[0].shape[0] == old[0].shape[0]          # inputs are never removed
    assert step.layers[-1].shape[1] == old[-1].shape[1]        # nor the last outputs
    for l, (W, new) in enumerate(zip(old, step.layers)):
        new.check(allow_zeros=True)                            # canonical, no duplicates
        out_deg, in_deg = new.degrees()
        assert in_deg.min() >= 1                               # every kept column is fed
        if l > 0:
            assert out_deg.min() >= 1                          # every hidden neuron feeds on
        assert new.nnz == W.nnz - step.pruned[l] - step.percolated[l] + step.regrown[l]
        assert step.dropped[l] == step.pruned[l] + step.percolated[l] - step.regrown[l]
        o = step.overlap[l]
        assert (o is None) == (step.regrown[l] == 0)
        assert o is None or 0.0 <= o <= 1.0
        # kept links carry their old weight and their old position
        src = step.sources[l]
        kept = src >= 0
        assert np.count_nonzero(~kept) == step.regrown[l]
        assert np.array_equal(new.values[kept], W.values[src[kept]])
        rows_old = new.rows[kept] if l == 0 else step.kept_neurons[l - 1][new.rows[kept]]
        cols_old = new.cols[kept] if l == n - 1 else step.kept_neurons[l][new.cols[kept]]
        assert np.array_equal(rows_old, W.rows[src[kept]])
        assert np.array_equal(cols_old, W.cols[src[kept]])
    # percolation is at a fixed point afterwards
    again, kept_again, perc_again = percolate(step.layers)
    assert perc_again == [0] * n
    assert all(np.array_equal(k, np.arange(k.size)) for k in kept_again)


@given(layers=networks, zeta=st.floats(0.0, 0.9), seed=st.integers(0, 2**32 - 1),
       prune=st.sampled_from(["sign", "magnitude"]),
       new_weights=st.sampled_from(["zero", "swi"]))
def test_step_invariants_random_shortfall(layers, zeta, seed, prune, new_weights):
    try:
        step = esml_step(layers, np.random.default_rng(seed), zeta=zeta, prune=prune,
                         new_weights=new_weights)
    except RuntimeError as exc:                  # percolation emptied a hidden layer
        assert "percolation removed every neuron" in str(exc)
        return
    _check_structure(layers, step)
    for l, W in enumerate(layers):
        n_sign = (math.floor(zeta * np.sum(W.values < 0)) + math.floor(zeta * np.sum(W.values > 0))
                  + int(np.sum(W.values == 0)))
        assert step.pruned[l] == (n_sign if prune == "sign" else math.floor(zeta * W.nnz))
        new = step.layers[l]
        if step.dropped[l]:
            # only when the compacted layer has no free cell left in its active rows
            out_deg = np.bincount(new.rows, minlength=new.shape[0])
            assert np.all(out_deg[out_deg > 0] == new.shape[1])
        else:
            assert new.nnz == W.nnz                            # conserved
        if new_weights == "zero":
            assert np.all(new.values[step.sources[l] < 0] == 0)


@given(layers=networks, zeta=st.floats(0.0, 0.9), seed=st.integers(0, 2**32 - 1))
def test_step_invariants_drop_shortfall(layers, zeta, seed):
    try:
        step = esml_step(layers, np.random.default_rng(seed), zeta=zeta, shortfall="drop")
    except RuntimeError:
        return
    _check_structure(layers, step)
    for l, W in enumerate(layers):
        assert step.dropped[l] == step.shortfall[l]
        assert step.layers[l].nnz == W.nnz - step.shortfall[l]


@given(layers=networks, zeta=st.floats(0.05, 0.6), seed=st.integers(0, 2**32 - 1))
@pytest.mark.parametrize("backend", BACKENDS)
def test_regrowth_is_ch3_top_k_of_the_percolated_layer(layers, zeta, seed, backend):
    """Rebuild the step from its parts: prune, percolate, then CH3-L3 top-k per layer."""
    kernels = get_kernels(backend)
    try:
        step = esml_step(layers, np.random.default_rng(seed), zeta=zeta, kernels=kernels)
    except RuntimeError:
        return
    pruned = []
    for W in layers:
        drop = np.zeros(W.nnz, bool)
        drop[select_prune(W.values, zeta, "sign")] = True
        drop |= W.values == 0
        keep = ~drop
        pruned.append(CooMatrix(W.rows[keep], W.cols[keep], W.values[keep], W.shape))
    mid, kept, perc = percolate(pruned)
    assert perc == step.percolated
    assert all(np.array_equal(a, b) for a, b in zip(kept, step.kept_neurons))
    for l, (P, new) in enumerate(zip(mid, step.layers)):
        k = step.pruned[l] + step.percolated[l] - step.guarded[l]
        best = ch3_l3_top_k(P, k, kernels=kernels)
        regrown = new.linear()[step.sources[l] < 0]
        assert np.isin(best, regrown).all()
        assert best.size == k - step.shortfall[l]
        assert regrown.size == step.regrown[l]


def test_removed_neurons_never_reappear(global_seed):
    rng = np.random.default_rng(global_seed)
    layers = _network([20, 16, 16, 16, 4], 1.2, global_seed)
    widths = [W.shape[1] for W in layers[:-1]]
    for _ in range(6):
        try:
            step = esml_step(layers, rng, zeta=0.5)
        except RuntimeError:
            break
        new_widths = [k.size for k in step.kept_neurons]
        assert all(a <= b for a, b in zip(new_widths, widths))
        widths, layers = new_widths, step.layers


def test_zeta_zero_changes_nothing(global_seed):
    layers = _network([12, 10, 8], 2.0, global_seed)
    step = esml_step(layers, np.random.default_rng(global_seed), zeta=0.0)
    for W, new, src in zip(layers, step.layers, step.sources):
        assert np.array_equal(new.linear(), W.linear()) and np.array_equal(src, np.arange(W.nnz))
    assert step.overlap == [None, None] and step.regrown == [0, 0]


def test_frozen_layers_only_lose_percolated_links(global_seed):
    layers = _network([15, 12, 12, 5], 1.5, global_seed)
    step = esml_step(layers, np.random.default_rng(global_seed), zeta=0.5,
                     frozen=[False, True, False])
    assert step.pruned[1] == 0 and step.regrown[1] == 0 and step.shortfall[1] == 0
    assert step.layers[1].nnz == layers[1].nnz - step.percolated[1]
    assert np.all(step.sources[1] >= 0)
    _check_structure(layers, step)


def test_percolation_cascades_and_compacts():
    # 2 inputs -> 3 hidden -> 3 hidden -> 2 outputs
    W1 = CooMatrix.from_dense(np.array([[1.0, 1, 0], [0, 0, 1]]))
    W2 = CooMatrix.from_dense(np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]))
    W3 = CooMatrix.from_dense(np.array([[1.0, 0], [0, 0], [0, 1]]))
    # backward: hidden2[1] has no output -> loses its in-link from hidden1[1];
    # hidden1[1] then has no output -> loses its in-link from input 0
    new, kept, perc = percolate([W1, W2, W3])
    assert [k.tolist() for k in kept] == [[0, 2], [0, 2]]
    assert perc == [1, 1, 0]
    assert [W.shape for W in new] == [(2, 2), (2, 2), (2, 2)]
    assert np.array_equal(new[0].to_dense(), np.eye(2))
    # forward: a neuron with no input loses its outputs
    V1 = CooMatrix.from_dense(np.array([[1.0, 0], [1.0, 0]]))
    V2 = CooMatrix.from_dense(np.array([[1.0, 0], [1.0, 1.0]]))
    new, kept, perc = percolate([V1, V2])
    assert kept[0].tolist() == [0] and perc == [0, 2] and new[1].shape == (1, 2)


def test_percolation_that_empties_a_layer_is_an_error():
    W1 = CooMatrix.from_dense(np.array([[1.0, 0], [0, 0]]))
    W2 = CooMatrix.from_dense(np.array([[0.0, 0], [1.0, 0]]))
    with pytest.raises(RuntimeError, match="every neuron of hidden layer 0"):
        percolate([W1, W2])


def test_isolated_last_output_is_reconnected():
    # output 1 of the last layer loses its only input link to pruning (smallest |w|)
    W1 = CooMatrix.from_dense(np.array([[1.0, 2.0], [3.0, 4.0]]))
    W2 = CooMatrix.from_dense(np.array([[5.0, 0.001], [6.0, 0.0]]))
    step = esml_step([W1, W2], np.random.default_rng(0), zeta=0.34, prune="magnitude")
    assert step.guarded[1] == 1
    assert step.layers[1].degrees()[1].min() >= 1


def test_overlap_counts_regrown_removed_links():
    # a dense-but-one layer: the only free cells are the removed ones plus one
    W = CooMatrix.from_dense(np.arange(1.0, 17.0).reshape(4, 4) * np.array([1, 1, 1, 0]))
    step = esml_step([W], np.random.default_rng(0), zeta=0.5, prune="magnitude")
    removed = np.sort(np.argsort(np.abs(W.to_dense()[:, :3]).ravel())[:6])
    regrown = step.layers[0].linear()[step.sources[0] < 0]
    removed_lin = W.linear()[select_prune(W.values, 0.5, "magnitude")]
    expected = np.intersect1d(removed_lin, regrown).size / regrown.size
    assert removed.size == 6 and step.overlap[0] == pytest.approx(expected)


def test_deterministic_and_backend_independent(global_seed):
    layers = _network([30, 24, 24, 6], 2.0, global_seed, zeros=0.05)
    runs = []
    names = ["numpy"] + (["cython"] if _backend.compiled_available() else [])
    for name in names + ["numpy"]:
        step = esml_step(layers, np.random.default_rng(global_seed), zeta=0.3,
                         new_weights="swi", kernels=get_kernels(name))
        runs.append(step)
    for step in runs[1:]:
        for a, b in zip(runs[0].layers, step.layers):
            assert np.array_equal(a.linear(), b.linear()) and np.array_equal(a.values, b.values)


def test_new_weights_options(global_seed):
    layers = _network([20, 10], 2.0, global_seed)
    rng = np.random.default_rng(global_seed)
    step = esml_step(layers, rng, new_weights="init", init=SWI(gain=1.0))
    new = step.layers[0]
    assert np.all(new.values[step.sources[0] < 0] != 0)
    step = esml_step(layers, rng, new_weights="init", init=[lambda r, n, *_: np.full(n, 0.5)])
    assert np.all(step.layers[0].values[step.sources[0] < 0] == 0.5)


def test_bad_input():
    layers = _network([6, 5, 4], 2.0, 0)
    rng = np.random.default_rng(0)
    for kwargs, match in (({"zeta": 1.5}, "zeta"), ({"prune": "random"}, "prune"),
                          ({"shortfall": "fill"}, "shortfall"),
                          ({"new_weights": "ones"}, "new_weights"),
                          ({"frozen": [True]}, "frozen")):
        with pytest.raises(ValueError, match=match):
            esml_step(layers, rng, **kwargs)
    with pytest.raises(ValueError, match="inputs"):
        esml_step([layers[0], layers[0]], rng)
    with pytest.raises(ValueError, match="Generator"):
        esml_step(layers, 0)
    with pytest.raises(ValueError, match="non-empty list"):
        esml_step([], rng)
    with pytest.raises(ValueError, match="non-empty list"):
        percolate(layers[0])


def test_early_stop_modes():
    s = early_stop_update([False, False, False], [0.95, 0.9, None])
    assert s.passed == [True, False, False] and s.frozen == [True, False, False]
    s = early_stop_update([False, False], [0.95, 0.2], mode="all")
    assert s.passed == [True, False] and s.frozen == [False, False]
    s = early_stop_update(s.passed, [0.1, 0.99], mode="all")     # passing is sticky
    assert s.passed == [True, True] and s.frozen == [True, True]
    s = early_stop_update([False], [1.0], mode="never")
    assert s.passed == [True] and s.frozen == [False]
    assert early_stop_update([False], [0.5], threshold=0.4).frozen == [True]
    assert early_stop_update([False], [float("nan")]).frozen == [False]
    with pytest.raises(ValueError, match="mode"):
        early_stop_update([False], [0.5], mode="some")
    with pytest.raises(ValueError, match="threshold"):
        early_stop_update([False], [0.5], threshold=2)
    with pytest.raises(ValueError, match="overlaps"):
        early_stop_update([False, False], [0.5])
