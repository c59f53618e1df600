"""The authors'-code mode (ALGORITHMS §7, refset.fidelity): each quirk does what the published
code does, the papers' mode is unchanged, and the invariants hold exactly as far as the
published code keeps them (link counts, no duplicates) and no further (isolated neurons)."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refset
from refset import CooMatrix, SparseMLP, erdos_renyi_layer, set_step
from refset.algorithms import esml_step, select_prune
from refset.algorithms.sparse_evolutionary import original_thresholds
from refset.algorithms.csti import csti_layers
from refset.draws import Draws
from refset.fidelity import AUTHORS, QUIRKS, effective_settings, resolve


# -- the removal rule ---------------------------------------------------------------------------

def _original_code_keep(values, zeta):
    """The original SET code's removal, transcribed step by step from ALGORITHMS §7 (a plain
    loop, independent of refset's vectorised version): True where a link is kept."""
    v = sorted(values.tolist())
    n = len(v)
    distances = [abs(x - 0) for x in v]
    first = distances.index(min(distances))                     # argmin: first occurrence
    reversed_distances = distances[::-1]
    last = n - reversed_distances.index(min(reversed_distances))
    largest_negative = v[int((1 - zeta) * first)]
    smallest_positive = v[int(min(n - 1, last + zeta * (n - last)))]
    return np.array([(w < largest_negative) or (w > smallest_positive) for w in values])


value_lists = st.lists(st.sampled_from([-0.9, -0.5, -0.3, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1,
                                        0.2, 0.3, 0.7, 1.1]) | st.floats(-2, 2),
                       min_size=1, max_size=60)


@given(values=value_lists, zeta=st.floats(0, 1))
def test_original_rule_is_the_original_codes(values, zeta):
    values = np.array(values)
    keep = _original_code_keep(values, zeta)
    removed = select_prune(values, zeta, "original")
    assert np.array_equal(np.flatnonzero(~keep), removed)


def test_original_rule_example_of_the_issue():
    v = np.array([-0.5, -0.4, -0.3, -0.2, -0.1, 0.15, 0.25, 0.35, 0.45, 0.55])
    assert v[select_prune(v, 0.3, "original")].tolist() == [-0.3, -0.2, -0.1, 0.15, 0.25]
    assert v[select_prune(v, 0.3, "sign")].tolist() == [-0.1, 0.15]
    assert [float(t) for t in original_thresholds(v, 0.3)] == [-0.3, 0.25]


@given(seed=st.integers(0, 2**32 - 1), zeta=st.floats(0.05, 0.95))
def test_original_rule_removes_more_than_floor_and_the_closest_to_zero(seed, zeta):
    """Measured property of the original code: it always removes the value closest to zero,
    never fewer links than the papers' ⌊ζ n⌋ per sign (up to ties), typically 1-3 more."""
    values = np.random.default_rng(seed).standard_normal(200)
    original = select_prune(values, zeta, "original")
    paper = select_prune(values, zeta, "sign")
    assert np.argmin(np.abs(values)) in original
    assert np.setdiff1d(paper, original).size == 0
    assert 0 <= original.size - paper.size <= 3


@given(values=value_lists, zeta=st.floats(0, 0.99))
def test_cht_removal_counts(values, zeta):
    """The CHT authors sort the whole masked dense matrix (non-links are zeros): every link
    with w == 0 goes, N- - int((1 - ζ) N-) negatives and int(ζ N+) + 1 positives (plus ties)."""
    values = np.array(values)
    removed = values[select_prune(values, zeta, "original", with_zero=True)]
    neg, pos = np.sort(values[values < 0]), np.sort(values[values > 0])
    assert np.count_nonzero(removed == 0) == np.count_nonzero(values == 0)
    at = int((1 - zeta) * neg.size)                    # at == N-: the threshold is the 0
    expected_neg = neg[neg >= neg[at]] if at < neg.size else neg[:0]
    assert np.array_equal(np.sort(removed[removed < 0]), expected_neg)
    if pos.size:
        t = pos[min(int(zeta * pos.size), pos.size - 1)]
        assert np.array_equal(np.sort(removed[removed > 0]), pos[pos <= t])


# -- SET step and Erdős–Rényi of the original code -----------------------------------------------

layers = st.builds(lambda n_in, n_out, eps, seed: erdos_renyi_layer(
    n_in, n_out, eps, np.random.default_rng(seed), mode="replacement"),
    st.integers(2, 30), st.integers(2, 30), st.floats(1.0, 8.0), st.integers(0, 2**32 - 1))


@given(W=layers, zeta=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_original_set_step_conserves_links_but_not_connectivity(W, zeta, seed):
    """The original code keeps the link count and never duplicates a link; isolated neurons
    are allowed (no guard), so the check is exactly that and no more."""
    step = set_step(W, zeta, np.random.default_rng(seed), prune="original", guard=False)
    new = step.layer.check(allow_zeros=True)
    assert new.nnz == W.nnz
    assert np.unique(new.linear()).size == new.nnz
    assert step.removed.size == step.regrown.size == select_prune(W.values, zeta, "original").size
    assert np.intersect1d(step.regrown, np.setdiff1d(W.linear(), step.removed)).size == 0


def test_no_guard_leaves_isolated_rows_at_the_rate_of_uniform_regrowth():
    """Without the guard a row emptied by pruning stays empty with the probability that none
    of the k uniformly regrown cells falls in it: C(F - n_out, k) / C(F, k) for F free cells;
    with the guard it is always reconnected."""
    dense = np.zeros((10, 20))
    dense[0, 0] = 0.01                       # row 0's only link, the smallest |w|
    for r in range(1, 10):                   # rows 1-9: five links each, every column covered
        dense[r, (5 * r + np.arange(5)) % 20] = 0.5 + 0.02 * (5 * r + np.arange(5))
    W = CooMatrix.from_dense(dense)
    zeta = 0.01
    removed = select_prune(W.values, zeta, "original")
    assert 0 in removed
    kept = np.setdiff1d(np.arange(W.nnz), removed)
    assert np.unique(W.rows[kept]).size == 9 and np.unique(W.cols[kept]).size == 20
    k, free = removed.size, 200 - kept.size
    expected = math.comb(free - 20, k) / math.comb(free, k)
    runs = 4000
    empty = sum(np.count_nonzero(set_step(W, zeta, np.random.default_rng(s), prune="original",
                                          guard=False).layer.rows == 0) == 0
                for s in range(runs))
    assert abs(empty / runs - expected) < 4 * math.sqrt(expected * (1 - expected) / runs)
    for s in range(20):
        guarded = set_step(W, zeta, np.random.default_rng(s), prune="original", guard=True)
        assert np.count_nonzero(guarded.layer.rows == 0) >= 1


def test_er_with_replacement_law_and_replay():
    n_in, n_out, eps = 300, 20, 20
    m, cells = round(eps * (n_in + n_out)), n_in * n_out
    counts = [erdos_renyi_layer(n_in, n_out, eps, np.random.default_rng(s),
                                mode="replacement").nnz for s in range(40)]
    expected = cells * (1 - math.exp(-m / cells))
    sd = math.sqrt(cells * math.exp(-m / cells) * (1 - math.exp(-m / cells)))  # upper bound
    assert abs(np.mean(counts) - expected) < 4 * sd / math.sqrt(40)
    rec = Draws(np.random.default_rng(1), record=True)
    W = erdos_renyi_layer(n_in, n_out, eps, rec, mode="replacement")
    again = erdos_renyi_layer(n_in, n_out, eps, Draws.replay(rec.recorded()), mode="replacement")
    assert np.array_equal(W.linear(), again.linear())
    assert np.array_equal(W.values, again.values)


def test_er_with_replacement_allows_isolation():
    W = erdos_renyi_layer(50, 50, 0.4, np.random.default_rng(0), mode="replacement")
    out_deg, in_deg = W.degrees()
    assert out_deg.min() == 0 and in_deg.min() == 0     # 40 draws cannot cover 50 + 50 neurons
    with pytest.raises(ValueError, match="isolated"):
        erdos_renyi_layer(50, 50, 0.4, np.random.default_rng(0))


# -- the model ----------------------------------------------------------------------------------

def _data(n=90, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.argmax(X[:, :k] + 0.3 * rng.standard_normal((n, k)), axis=1)
    return X, y


def test_resolve_and_errors():
    assert resolve("paper", "set") == frozenset()
    assert resolve("authors", "set") == frozenset(AUTHORS["set"])
    assert set(AUTHORS["cht"]) >= {"masked_csti_weights", "tie_inclusive", "prune_thresholds"}
    with pytest.raises(ValueError, match="path-weight"):
        resolve("authors", "path-weight")
    with pytest.raises(ValueError, match="unknown quirk 'nope'"):
        resolve(["nope"], "set")
    with pytest.raises(ValueError, match="fidelity must be"):
        resolve("faithful", "set")
    with pytest.raises(ValueError, match="fidelity"):
        SparseMLP(fidelity="authors", method="sensitivity").fit(*_data())
    assert effective_settings(AUTHORS["set"]) == {
        "prune": "original", "init_mode": "replacement", "weight_decay_style": "original"}
    for q in QUIRKS.values():
        assert q.summary and q.methods


def test_effective_params_record_the_quirks():
    p = SparseMLP(method="cht", fidelity="authors").effective_params()
    assert p["dtype"] == "float32" and p["update_interval"] == 3
    assert p["method_options"]["shortfall"] == "drop"
    assert p["method_options"]["early_stop"] == "all"
    assert p["method_options"]["prune"] == "original"
    assert p["quirks"] == sorted(AUTHORS["cht"])
    assert SparseMLP().effective_params()["quirks"] == []


def test_mse_delta_on_output_and_loss_scale():
    X, y = _data()
    model = SparseMLP((10,), epsilon=3, epochs=1, loss="mse", seed=0,
                      fidelity=["mse_delta_on_output", "loss_mean_over_outputs"]).fit(X, y)
    P = np.array([[0.2, 0.9], [0.7, 0.4], [0.1, 0.6]])          # 3 classes x batch 2
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    loss, delta = model._loss_delta(P, Y)
    s = 1 / (1 + np.exp(-P))
    assert loss == pytest.approx(np.mean((P - Y) ** 2))
    np.testing.assert_allclose(delta, (P - Y) * s * (1 - s) / 2, rtol=1e-15)
    paper = SparseMLP((10,), epsilon=3, epochs=1, loss="mse", seed=0).fit(X, y)
    loss, delta = paper._loss_delta(P, Y)
    assert loss == pytest.approx(0.5 * np.sum((P - Y) ** 2) / 2)
    np.testing.assert_allclose(delta, (P - Y) * P * (1 - P) / 2, rtol=1e-15)


@pytest.mark.parametrize("style", ["coupled", "original"])
def test_decay_biases(style):
    """One epoch of one batch: the biases change by the momentum step minus the decay, in the
    style of the weights (the paper's mode never decays biases)."""
    X, y = _data(n=8)
    kw = dict(epsilon=3, epochs=1, batch_size=8, seed=0, weight_decay=0.1, momentum=0.0,
              learning_rate=0.05, weight_decay_style=style)
    plain = SparseMLP((6,), **kw).fit(X, y)
    decayed = SparseMLP((6,), **kw, fidelity=["decay_biases"]).fit(X, y)
    # biases start at 0, so one step of decay on them changes nothing ...
    for b0, b1 in zip(plain.biases_, decayed.biases_):
        np.testing.assert_array_equal(b0, b1)
    # ... the second step sees the decay of the first step's biases
    kw["epochs"] = 2
    plain = SparseMLP((6,), **kw)
    plain.fit(X, y)
    decayed = SparseMLP((6,), **kw, fidelity=["decay_biases"]).fit(X, y)
    assert not all(np.array_equal(b0, b1) for b0, b1 in zip(plain.biases_, decayed.biases_))


def test_decay_biases_formula(kernels):
    """The biases take the weights' SGD step (sgd_update) on either backend."""
    model = SparseMLP((4,), weight_decay=0.1, momentum=0.5, fidelity=["decay_biases"])
    model.biases_ = [np.array([1.0, -2.0])]
    model.velocities_ = [(None, np.array([0.2, 0.0]))]
    model._update_bias(0, np.array([0.3, 0.3]), 0.05, kernels, model._sgd_settings())
    v = 0.5 * 0.2 - 0.05 * (0.3 + 0.1 * 1.0), 0.5 * 0.0 - 0.05 * (0.3 + 0.1 * -2.0)
    np.testing.assert_allclose(model.velocities_[0][1], v, rtol=1e-15)
    np.testing.assert_allclose(model.biases_[0], np.array([1.0, -2.0]) + v, rtol=1e-15)
    model = SparseMLP((4,), weight_decay=0.1, momentum=0.5, weight_decay_style="original",
                      fidelity=["decay_biases"])
    model.biases_ = [np.array([1.0, -2.0])]
    model.velocities_ = [(None, np.array([0.2, 0.0]))]
    model._update_bias(0, np.array([0.3, 0.3]), 0.05, kernels, model._sgd_settings())
    v = np.array([0.5 * 0.2 - 0.05 * 0.3, -0.05 * 0.3])
    np.testing.assert_allclose(model.biases_[0], np.array([1.0, -2.0]) + v
                               - 0.1 * np.array([1.0, -2.0]), rtol=1e-15)


def test_drop_last_batch():
    X, y = _data(n=50)
    counts = []
    for fidelity in ("paper", ["drop_last_batch"]):
        model = SparseMLP((6,), epsilon=3, epochs=1, batch_size=16, seed=0, fidelity=fidelity)
        seen = []
        model._backward_update = (lambda acts, *a, seen=seen, **kw: seen.append(acts[0].shape[1]))
        model.fit(X, y)
        counts.append(seen)
    assert counts == [[16, 16, 16, 2], [16, 16, 16]]


def test_set_authors_mode_trains_and_breaks_only_what_the_original_breaks():
    X, y = _data(n=120, d=30)
    model = SparseMLP((40, 40), epsilon=4, epochs=4, loss="mse", seed=3,
                      fidelity="authors").fit(X, y)
    nnz = [r["nnz"] for r in model.history_]
    assert all(n == nnz[0] for n in nnz)                         # counts conserved
    for W in model.layers_:
        assert np.unique(W.linear()).size == W.nnz              # no duplicate links
    first = erdos_renyi_layer(30, 40, 4, Draws(np.random.default_rng(3)), mode="replacement")
    assert model.history_[0]["nnz"][0] <= round(4 * 70)          # duplicates collapsed
    assert first.nnz <= round(4 * 70)


def test_paper_mode_is_unchanged_by_the_authors_machinery():
    """fidelity="paper" runs the same code as before the authors' mode existed: the stored L2
    golden cases (built before it) still pass bit for bit — see tests/test_oracle.py — and an
    explicit empty quirk list equals "paper"."""
    X, y = _data()
    a = SparseMLP((10,), epsilon=3, epochs=3, seed=0).fit(X, y)
    b = SparseMLP((10,), epsilon=3, epochs=3, seed=0, fidelity=[]).fit(X, y)
    for W0, W1 in zip(a.layers_, b.layers_):
        assert np.array_equal(W0.values, W1.values) and np.array_equal(W0.rows, W1.rows)


# -- CHT --------------------------------------------------------------------------------------

def _images(n=400, side=6, seed=0):
    """Correlated pixels, a zero-variance border: CSTI has something to select."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 3))
    X = np.zeros((n, side * side))
    inner = np.arange(side * side).reshape(side, side)[1:-1, 1:-1].ravel()
    X[:, inner] = base @ rng.standard_normal((3, inner.size)) + 0.5 * rng.standard_normal(
        (n, inner.size))
    y = np.argmax(base, axis=1)
    return X, y


def test_masked_csti_weights_and_budget():
    X, _ = _images(side=10)
    S = 0.9                                  # budget ~1000 of the 64 * 63 positive entries
    zero_fraction, nnz_over_budget = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        budget = [int(rng.binomial(100 * 100, 1 - S)) for _ in range(2)]
        layers = csti_layers(X, (100, 100, 100), sparsity=S, rng=rng, budget=budget, ties=True,
                             repair=False, masked_weights=True)
        zero_fraction += [float(np.mean(W.values == 0)) for W in layers]
        nnz_over_budget += [W.nnz - b for W, b in zip(layers, budget)]
    assert abs(np.mean(zero_fraction) - S) < 0.03
    assert min(nnz_over_budget) >= 0                       # ties only add
    assert max(nnz_over_budget) >= 1                       # the symmetric twin of the K-th
    layers = csti_layers(X, (100, 100, 100), sparsity=S, rng=np.random.default_rng(0))
    assert [W.nnz for W in layers] == [round(0.1 * 100 * 100)] * 2
    assert all(np.all(W.values != 0) for W in layers)


def test_cht_authors_initialisation():
    X, y = _images()
    model = SparseMLP((36, 36), method="cht", epochs=1, seed=0, fidelity="authors",
                      method_options={"sparsity": 0.7})
    model._initialize(36, 3, Draws(np.random.default_rng(0)), X.astype(np.float32))
    W_out, b_out = model.layers_[-1], model.biases_[-1]
    bound = 1 / math.sqrt(36)
    assert np.all(np.abs(W_out.values) <= bound) and np.all(np.abs(b_out) <= bound)
    assert W_out.values.dtype == np.float32
    for W, b in zip(model.layers_[:-1], model.biases_[:-1]):
        assert np.count_nonzero(b) == b.size                 # N(0, sigma^2), not 0
        assert np.mean(W.values == 0) > 0.5                  # most CSTI links start at 0
    assert model.method_state_["budget"] == [
        W.nnz - extra for W, extra in zip(model.layers_[:-1], [0, 0])] or all(
        b <= W.nnz for b, W in zip(model.method_state_["budget"], model.layers_[:-1]))


def _cht_layers(seed):
    rng = np.random.default_rng(seed)
    return [erdos_renyi_layer(12, 14, 1.5, rng), erdos_renyi_layer(14, 14, 1.5, rng),
            erdos_renyi_layer(14, 10, 1.5, rng)]


@given(seed=st.integers(0, 2**32 - 1))
def test_esml_authors_step(seed):
    layers = _cht_layers(seed)
    budget = [W.nnz + 1 for W in layers]
    step = esml_step(layers, np.random.default_rng(seed), prune="original", guard=False,
                     budget=budget, ties=True, keep_regrown_state=True, shortfall="drop")
    for l, (W, new, source) in enumerate(zip(layers, step.layers, step.sources)):
        assert np.unique(new.linear()).size == new.nnz          # no duplicates
        kept = new.nnz - step.regrown[l]
        # regrown up to the budget, more only through ties, fewer only through shortfall
        if step.shortfall[l] == 0:
            assert new.nnz >= budget[l]
        else:
            assert new.nnz < budget[l]
        assert kept == W.nnz - step.pruned[l] - step.percolated[l]
        # a regrown link that was just removed keeps its old weight (source >= 0)
        assert np.array_equal(new.values[source >= 0], W.values[source[source >= 0]])


def test_esml_keep_regrown_state_marks_removed_and_regrown():
    for seed in range(30):
        layers = _cht_layers(seed)
        a = esml_step(layers, np.random.default_rng(0), prune="original", guard=False,
                      keep_regrown_state=False)
        b = esml_step(layers, np.random.default_rng(0), prune="original", guard=False,
                      keep_regrown_state=True)
        for l in range(3):
            assert np.array_equal(a.layers[l].linear(), b.layers[l].linear())
            back = (b.sources[l] >= 0) & (a.sources[l] < 0)
            if back.any():                                   # removed and regrown here
                assert np.all(a.layers[l].values[back] == 0)
                assert np.array_equal(b.layers[l].values[back],
                                      layers[l].values[b.sources[l][back]])
                return
    pytest.fail("no removed-and-regrown link in 30 seeds")


def test_tie_inclusive_regrowth_takes_every_tie():
    # the 4 x 4 fixture of ALGORITHMS §5.4: scores 3 then six ties of sqrt(2)
    X = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]], float)
    W = CooMatrix.from_dense(X * 0.5)
    from refset.algorithms.cht import _top_k_with_ties
    from refset import get_kernels
    assert _top_k_with_ties(W, 2, get_kernels()).size == 7      # 3, then all six sqrt(2)
    assert _top_k_with_ties(W, 1, get_kernels()).tolist() == [8]
    assert _top_k_with_ties(W, 0, get_kernels()).size == 0


def test_global_normalisation_constants(tmp_path):
    from refset.datasets._loaders import GLOBAL_CONSTANTS, _global_normalize
    assert GLOBAL_CONSTANTS["mnist"] == (0.1307, 0.3081)
    a, b = _global_normalize(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]), (0.5, 0.25))
    assert a.tolist() == [[-2.0, 2.0]] and b.tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match="standardize"):
        refset.load_dataset("synthetic", standardize="per-image")
    d = refset.load_dataset("synthetic", standardize="global")
    assert abs(d.X_train.mean()) < 1e-12 and abs(d.X_train.std() - 1) < 1e-12


def test_cht_authors_mode_trains_and_resumes_exactly(tmp_path):
    X, y = _images()
    kw = dict(method="cht", epochs=7, seed=1, fidelity="authors", batch_size=16,
              method_options={"sparsity": 0.7})
    full = SparseMLP((36, 36), **kw).fit(X, y)
    assert full.layers_[0].values.dtype == np.float32
    assert [r["topology_updated"] for r in full.history_] == [False, False, True, False,
                                                                  False, True, False]
    path = tmp_path / "m.npz"

    class Stop(Exception):
        pass

    def stop(model, record):
        if record["epoch"] == 4:
            raise Stop

    with pytest.raises(Stop):
        SparseMLP((36, 36), **kw).fit(X, y, checkpoint=path, callback=stop)
    resumed = SparseMLP.load(path).fit(X, y, resume=True)
    for W0, W1 in zip(full.layers_, resumed.layers_):
        assert np.array_equal(W0.linear(), W1.linear()) and np.array_equal(W0.values, W1.values)
    assert resumed.method_state_ == full.method_state_
