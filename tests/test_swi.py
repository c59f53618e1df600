"""SWI (ALGORITHMS §5.2): σ = gain / sqrt((1 - S) fan_in), Kaiming normal at S = 0."""
import math

import numpy as np
import pytest

from refset.algorithms.initializers import INITIALIZERS, SWI, get_initializer


def test_sigma_fan_in_form():
    init = SWI().for_layer(784, 1568, 12293)
    density = 12293 / (784 * 1568)
    assert init.sparsity == pytest.approx(1 - density, abs=1e-15)
    assert init.std(784) == pytest.approx(math.sqrt(2) / math.sqrt(density * 784), rel=1e-12)
    # (1 - S) fan_in is the mean in-degree of an output: nnz / n_out
    assert init.std(784) == pytest.approx(math.sqrt(2 / (12293 / 1568)), rel=1e-12)


def test_kaiming_at_zero_sparsity():
    init = SWI().for_layer(50, 30, 1500)
    assert init.sparsity == 0.0
    assert init.std(50) == pytest.approx(math.sqrt(2 / 50), rel=1e-15)


def test_draws_have_the_right_spread(global_seed):
    init = SWI(gain=1.5).for_layer(400, 300, 6000)
    w = init(np.random.default_rng(global_seed), 200_000, 400, 300, np.float64)
    sigma = 1.5 / math.sqrt(6000 / 300)
    assert abs(w.mean()) < 5 * sigma / math.sqrt(w.size)
    assert w.std() == pytest.approx(sigma, rel=0.01)


def test_dtype_and_determinism(dtype):
    init = SWI(sparsity=0.9)
    a = init(np.random.default_rng(3), 10, 20, 5, np.dtype(dtype))
    b = init(np.random.default_rng(3), 10, 20, 5, np.dtype(dtype))
    assert a.dtype == np.dtype(dtype) and np.array_equal(a, b)


def test_unbound_instance_says_to_bind():
    assert get_initializer("swi") == SWI() and INITIALIZERS["swi"] is SWI
    with pytest.raises(ValueError, match="for_layer"):
        SWI()(np.random.default_rng(0), 3, 4, 5, np.float64)


@pytest.mark.parametrize("kwargs, match", [
    ({"sparsity": 1.0}, "sparsity"), ({"sparsity": -0.1}, "sparsity"),
    ({"sparsity": "0.5"}, "sparsity"), ({"gain": 0.0}, "gain"), ({"gain": float("inf")}, "gain")])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SWI(**kwargs)


@pytest.mark.parametrize("args, match", [
    ((0, 5, 1), "n_in"), ((5, 0, 1), "n_out"), ((5, 5, 0), "nnz"), ((5, 5, 26), "nnz"),
    ((5.0, 5, 3), "n_in")])
def test_bad_layer(args, match):
    with pytest.raises(ValueError, match=match):
        SWI().for_layer(*args)
