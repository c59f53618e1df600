"""Replayable randomness (refset.draws): the transforms, their laws, and replay of every step."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

import refset
from refset.algorithms import esml_step, path_weight_step, sensitivity_step
from refset.draws import Draws, DrawsExhausted, as_draws
from refset.algorithms.erdos_renyi import erdos_renyi_layer
from refset.algorithms.topology import repair_isolation, sample_free

from _networks import random_network
from _stats import assert_follows


# -- the transforms, on hand-chosen uniforms ---------------------------------------------------

def test_integers_is_floor_of_u_times_n():
    d = Draws.replay([0.0, 0.5, 0.999, 0.25])
    assert d.integers(4, size=3).tolist() == [0, 2, 3]
    assert d.integers(10, 20) == 12
    assert d.remaining == 0


def test_integers_never_reaches_n():
    u_max = 1.0 - 2.0 ** -53
    assert Draws.replay([u_max] * 3).integers(np.array([3, 7, 2 ** 40])).tolist() == \
        [2, 6, 2 ** 40 - 1]


def test_integers_with_array_of_ranges():
    assert Draws.replay([0.5, 0.5]).integers(np.array([2, 10])).tolist() == [1, 5]


def test_normal_is_ndtri_of_the_cell_midpoint():
    u = np.array([0.0, 0.5, 0.975])
    z = Draws.replay(u).standard_normal(3)
    expect = special.ndtri((np.floor(u * 2.0 ** 53) + 0.5) / 2.0 ** 53)
    assert np.array_equal(z, expect)
    assert np.isfinite(z).all() and abs(z[2] - 1.959964) < 1e-5


def test_uniform_and_bernoulli_like_use():
    assert Draws.replay([0.25]).uniform(-2.0, 2.0, size=1).tolist() == [-1.0]
    assert Draws.replay([0.25]).uniform(-2.0, 2.0) == -1.0


def test_permutation_is_stable_argsort():
    u = [0.7, 0.1, 0.4, 0.1]
    assert Draws.replay(u).permutation(4).tolist() == [1, 3, 2, 0]
    assert Draws.replay(u).permutation(np.array([10, 11, 12, 13])).tolist() == [11, 13, 12, 10]


def test_choice_inverse_cdf_skips_zero_weights():
    w = np.array([1.0, 0.0, 3.0, 0.0])
    # cumsum = [1, 1, 4, 4]; t = 4u
    got = Draws.replay([0.0, 0.2499, 0.25, 0.9999]).choice(4, size=4, p=w)
    assert got.tolist() == [0, 0, 2, 2]


def test_choice_caps_at_last_positive_weight():
    # a u whose product rounds up to the total must not pick a trailing zero-weight entry
    w = np.array([0.1, 0.2, 0.0])
    assert Draws.replay([1.0 - 2.0 ** -53]).choice(3, size=1, p=w).tolist() == [1]


def test_subset_skips_repeats_in_draw_order():
    # n = 10, k = 3: values 2, 2 (skipped), then the round continues with what is still needed
    d = Draws.replay([0.25, 0.21, 0.29, 0.5, 0.7])
    # round 1 draws 3 uniforms -> 2, 2, 2: one new value; round 2 draws 2 -> 5, 7
    assert d.subset(10, 3).tolist() == [2, 5, 7]
    assert d.remaining == 0


def test_subset_takes_the_complement_when_more_than_half():
    # n = 5, k = 4: draw the 1 value to leave out
    assert Draws.replay([0.5]).subset(5, 4).tolist() == [0, 1, 3, 4]


def test_subsets_rounds_in_group_order():
    # groups (size 4, count 2) and (size 10, count 1); round 1: u0, u1 -> group 0, u2 -> group 1
    d = Draws.replay([0.1, 0.1, 0.95, 0.8])
    owner, values = d.subsets(np.array([4, 10]), np.array([2, 1]))
    # group 0 drew 0, 0 -> one value; round 2: group 0 draws u3 = 0.8 -> 3
    assert owner.tolist() == [0, 0, 1] and values.tolist() == [0, 3, 9]
    assert d.remaining == 0


def test_binomial_is_the_quantile():
    for u in (0.01, 0.3, 0.5, 0.99):
        k = Draws.replay([u]).binomial(50, 0.2)
        assert k == int(stats.binom.ppf(u, 50, 0.2))


def test_replay_errors():
    with pytest.raises(DrawsExhausted, match="ran out"):
        Draws.replay([0.5]).random(2)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Draws.replay([1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        Draws.replay([[0.5]])
    with pytest.raises(ValueError, match="Generator"):
        as_draws(42.0)
    with pytest.raises(ValueError, match="record=True"):
        Draws(np.random.default_rng(0)).recorded()


# -- the laws ----------------------------------------------------------------------------------

def test_subset_is_uniform_over_subsets(global_seed):
    d = Draws(np.random.default_rng(global_seed))
    n, k, trials = 6, 2, 6000
    combos = {c: i for i, c in enumerate(itertools.combinations(range(n), k))}
    counts = np.zeros(len(combos))
    for _ in range(trials):
        counts[combos[tuple(d.subset(n, k).tolist())]] += 1
    assert stats.chisquare(counts).pvalue > 1e-4
    counts[:] = 0                                # and the complement branch (k > n / 2)
    for _ in range(trials):
        counts[combos[tuple(np.setdiff1d(np.arange(n), d.subset(n, n - k)).tolist())]] += 1
    assert stats.chisquare(counts).pvalue > 1e-4


def test_choice_follows_the_weights(global_seed):
    d = Draws(np.random.default_rng(global_seed))
    w = np.array([1.0, 0.0, 2.0, 5.0])
    got = np.bincount(d.choice(4, size=40000, p=w), minlength=4)
    assert got[1] == 0
    assert_follows(got[[0, 2, 3]], w[[0, 2, 3]] / w.sum())   # and a uniform chooser would fail


def test_normal_and_integers_laws(global_seed):
    d = Draws(np.random.default_rng(global_seed))
    assert stats.kstest(d.standard_normal(20000), "norm").pvalue > 1e-4
    assert stats.chisquare(np.bincount(d.integers(7, size=14000), minlength=7)).pvalue > 1e-4


# -- replay: a recorded run is reproduced from its uniforms alone ------------------------------

def _record(seed):
    return Draws(np.random.default_rng(seed), record=True)


def _same_layers(a, b):
    return all(np.array_equal(x.linear(), y.linear()) and np.array_equal(x.values, y.values)
               for x, y in zip(a, b))


@settings(deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_replay_reproduces_each_step(seed):
    """Feeding a step the uniforms another stream recorded reproduces it exactly."""
    rec = _record(seed)
    W = erdos_renyi_layer(12, 9, 1.5, rec)
    a = refset.set_step(W, 0.3, rec, allow_regrow_removed=False)
    layers = random_network((6, 7, 7, 3), 1.5, seed % 1000)
    p = path_weight_step(layers, [1.0] * 3, rec, lam=0.5, zeta=0.5, candidates="sampled",
                         n_path_samples=50)
    g = [np.linspace(-1, 1, L.nnz) for L in layers]
    s = sensitivity_step(layers, g, rec, zeta=0.3)
    c = esml_step(layers, rec, zeta=0.3, new_weights="swi")
    u = rec.recorded()
    assert u.size == rec.consumed

    rep = Draws.replay(u)
    W2 = erdos_renyi_layer(12, 9, 1.5, rep)
    a2 = refset.set_step(W2, 0.3, rep, allow_regrow_removed=False)
    p2 = path_weight_step(layers, [1.0] * 3, rep, lam=0.5, zeta=0.5, candidates="sampled",
                          n_path_samples=50)
    s2 = sensitivity_step(layers, g, rep, zeta=0.3)
    c2 = esml_step(layers, rep, zeta=0.3, new_weights="swi")
    assert rep.remaining == 0
    assert _same_layers([W, a.layer], [W2, a2.layer])
    assert _same_layers(p.layers, p2.layers) and _same_layers(s.layers, s2.layers)
    assert _same_layers(c.layers, c2.layers)


def test_replay_is_independent_of_the_recording_generator():
    """Uniforms recorded from another bit generator (Philox) replay the same way."""
    rec = Draws(np.random.Generator(np.random.Philox(7)), record=True)
    W = erdos_renyi_layer(30, 20, 2.0, rec)
    step = refset.set_step(W, 0.3, rec)
    rep = Draws.replay(rec.recorded())
    W2 = erdos_renyi_layer(30, 20, 2.0, rep)
    assert _same_layers([W, step.layer], [W2, refset.set_step(W2, 0.3, rep).layer])


def test_generator_and_its_stream_give_the_same_result(global_seed):
    W1 = erdos_renyi_layer(40, 30, 3.0, np.random.default_rng(global_seed))
    W2 = erdos_renyi_layer(40, 30, 3.0, Draws(np.random.default_rng(global_seed)))
    assert _same_layers([W1], [W2])
    occupied = np.array([0, 3, 4], dtype=np.int64)
    assert np.array_equal(sample_free(occupied, 20, 5, np.random.default_rng(1)),
                          sample_free(occupied, 20, 5, Draws(np.random.default_rng(1))))


def test_a_changed_draw_changes_the_topology():
    """The replay really drives the step: perturbing the recorded uniforms moves links."""
    rec = _record(3)
    W = erdos_renyi_layer(30, 20, 2.0, rec)
    u = rec.recorded()
    moved = u.copy()
    moved[: moved.size // 2] = (moved[: moved.size // 2] + 0.5) % 1.0
    W2 = erdos_renyi_layer(30, 20, 2.0, Draws.replay(moved))
    assert not np.array_equal(W.linear(), W2.linear())


def test_model_replays_a_whole_run(global_seed, tmp_path):
    """SparseMLP(seed=Draws.replay(u)) retrains the recorded run bit for bit: initialisation,
    batch order, dropout and the topology updates."""
    X, y = refset.make_synthetic(n_samples=120, n_features=10, n_informative=4, n_redundant=2,
                             n_classes=3, seed=global_seed)
    kw = dict(epsilon=2.0, epochs=3, batch_size=16, dropout=0.2)
    rec = _record(global_seed)
    a = refset.SparseMLP((12, 12), seed=rec, **kw).fit(X, y)
    b = refset.SparseMLP((12, 12), seed=Draws.replay(rec.recorded()), **kw).fit(X, y)
    assert _same_layers(a.layers_, b.layers_)
    assert [r["train_loss"] for r in a.history_] == [r["train_loss"] for r in b.history_]
    with pytest.raises(ValueError, match="cannot be checkpointed"):
        b.save(tmp_path / "m.npz")


def test_repair_isolation_draws(global_seed):
    linear = np.array([0, 1, 2, 3], dtype=np.int64)          # 2 x 4 layer, row 1 empty
    rec = _record(global_seed)
    out = repair_isolation(linear, (2, 4), rec)
    assert rec.consumed == 1
    assert np.array_equal(out, repair_isolation(linear, (2, 4), Draws.replay(rec.recorded())))
