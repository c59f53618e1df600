"""Erdős–Rényi initialisation (ALGORITHMS §1): exact counts, no duplicates, no isolation."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refset import erdos_renyi_layer
from refset.algorithms.erdos_renyi import erdos_renyi_count, erdos_renyi_probability
from refset.algorithms.initializers import HeUniform, Normal, XavierUniform, get_initializer


@given(n_in=st.integers(1, 60), n_out=st.integers(1, 60), eps=st.floats(0.5, 30), seed=st.integers(0, 2**32 - 1))
def test_exact_mode_invariants(n_in, n_out, eps, seed):
    m = min(round(eps * (n_in + n_out)), n_in * n_out)
    if m < max(n_in, n_out):
        with pytest.raises(ValueError, match="epsilon"):
            erdos_renyi_layer(n_in, n_out, eps, np.random.default_rng(seed))
        return
    W = erdos_renyi_layer(n_in, n_out, eps, np.random.default_rng(seed))
    W.check()                                   # sorted, unique, no zeros
    assert W.nnz == m == erdos_renyi_count(n_in, n_out, eps)
    out_deg, in_deg = W.degrees()
    assert out_deg.min() >= 1 and in_deg.min() >= 1


def test_bernoulli_mode_mean_count(global_seed):
    rng = np.random.default_rng(global_seed)
    counts = [erdos_renyi_layer(200, 100, 5.0, rng, mode="bernoulli").nnz for _ in range(200)]
    p = erdos_renyi_probability(200, 100, 5.0)
    mean, sd = 200 * 100 * p, np.sqrt(200 * 100 * p * (1 - p))
    assert abs(np.mean(counts) - mean) < 5 * sd / np.sqrt(200)
    assert np.std(counts) > 0


def test_positions_are_uniform(global_seed):
    """Every cell is equally likely (chi-square over the 6 x 5 grid)."""
    rng = np.random.default_rng(global_seed)
    counts = np.zeros(30)
    for _ in range(3000):
        counts[erdos_renyi_layer(6, 5, 1.0, rng).linear()] += 1
    expected = counts.sum() / 30
    assert np.sum((counts - expected) ** 2 / expected) < 58.3     # p = 0.001, 29 d.o.f.


def test_same_seed_same_layer():
    a = erdos_renyi_layer(50, 40, 3.0, np.random.default_rng(7))
    b = erdos_renyi_layer(50, 40, 3.0, np.random.default_rng(7))
    assert np.array_equal(a.linear(), b.linear()) and np.array_equal(a.values, b.values)


def test_dense_layer_warns():
    with pytest.warns(UserWarning, match="dense"):
        W = erdos_renyi_layer(10, 3, 20.0, np.random.default_rng(0))
    assert W.nnz == 30


@pytest.mark.parametrize("eps", [0, -1, float("nan"), float("inf")])
def test_bad_epsilon(eps):
    with pytest.raises(ValueError, match="epsilon"):
        erdos_renyi_layer(10, 10, eps, np.random.default_rng(0))


def test_initializers(global_seed):
    rng = np.random.default_rng(global_seed)
    w = Normal(0.1)(rng, 100000, 50, 20, np.float64)
    assert abs(w.std() - 0.1) < 0.002
    w = HeUniform()(rng, 100000, 24, 20, np.float32)
    assert w.dtype == np.float32 and np.abs(w).max() <= 0.5 and np.abs(w).max() > 0.49
    w = XavierUniform()(rng, 100000, 10, 14, np.float64)
    assert np.abs(w).max() <= 0.5 and np.abs(w).max() > 0.49
    with pytest.raises(ValueError, match="weight_init"):
        get_initializer("glorot")
