"""Row kernels (bias, ReLU, bias gradient): the numpy twins' definition, and both backends
bit for bit."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from refset import get_kernels
from refset.kernels import backend as _backend
from refset.kernels.rows import add_bias, row_sums

WIDTHS = [0, 1, 2, 3, 5, 15, 16, 17, 31, 32, 33, 100, 128, 130]


def _lane_sum(row):
    """The documented order, written out with Python floats of the row's dtype."""
    B = len(row)
    if B < 16:
        s = row[0] if B else row.dtype.type(0)
        for x in row[1:]:
            s = s + x
        return s
    whole = B - B % 16
    lanes = [row[j] for j in range(16)]
    for c in range(16, whole, 16):
        lanes = [lanes[j] + row[c + j] for j in range(16)]
    h = [lanes[j] + lanes[j + 8] for j in range(8)]
    s = ((h[0] + h[4]) + (h[1] + h[5])) + ((h[2] + h[6]) + (h[3] + h[7]))
    for x in row[whole:]:
        s = s + x
    return s


@pytest.mark.parametrize("B", WIDTHS)
def test_row_sums_twin_is_the_documented_order(dtype, global_seed, B):
    rng = np.random.default_rng(global_seed)
    D = (rng.standard_normal((7, B)) * 10.0 ** rng.integers(-3, 4, (7, B))).astype(dtype)
    out = row_sums(D, np.empty(7, dtype))
    assert [out[i] for i in range(7)] == [_lane_sum(D[i]) for i in range(7)]
    np.testing.assert_allclose(out, D.sum(axis=1), rtol=1e-5 if dtype == "float32" else 1e-12,
                               atol=1e-3)


def test_row_sums_keeps_small_batches_as_before(dtype, global_seed):
    """At B <= 4 the bias gradient is the left-to-right sum refset always took."""
    rng = np.random.default_rng(global_seed)
    for B in (1, 2, 3, 4):
        D = rng.standard_normal((50, B)).astype(dtype)
        expect = D[:, 0].copy()
        for b in range(1, B):
            expect += D[:, b]
        assert row_sums(D, np.empty(50, dtype)).tobytes() == expect.tobytes()


def test_add_bias_twin(dtype):
    Z = np.array([[1.0, -2.0, -0.0, np.nan], [-3.0, 4.0, 0.5, -np.inf]], dtype)
    b = np.array([0.5, -0.5], dtype)
    out = add_bias(Z.copy(), b, relu=False)
    assert_array_equal(out, Z + b[:, None])
    out = add_bias(Z.copy(), b, relu=True)
    assert_array_equal(out, [[1.5, 0, 0.5, np.nan], [0, 3.5, 0, 0]])
    assert not np.signbit(out[1, 0]) and not np.signbit(out[1, 3])  # negatives become +0


def test_relu_keeps_negative_zero(kernels, dtype):
    Z = np.array([[-0.0, -1.0]], dtype)
    out = kernels.add_bias(Z, np.array([-0.0], dtype), True)
    assert np.signbit(out[0, 0]) and out[0, 1] == 0 and not np.signbit(out[0, 1])


@pytest.mark.parametrize("B", WIDTHS)
@pytest.mark.parametrize("relu", [False, True])
def test_backends_agree_bitwise(dtype, global_seed, B, relu):
    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    rng = np.random.default_rng(global_seed)
    Z = rng.standard_normal((300, B)).astype(dtype)
    Z[rng.random(Z.shape) < 0.05] = np.nan
    b = rng.standard_normal(300).astype(dtype)
    got = [get_kernels(name).add_bias(Z.copy(), b, relu) for name in ("numpy", "cython")]
    assert got[0].tobytes() == got[1].tobytes()
    D = (rng.standard_normal((300, B)) * 10.0 ** rng.integers(-4, 5, (300, B))).astype(dtype)
    sums = [get_kernels(name).row_sums(D, np.empty(300, dtype)) for name in ("numpy", "cython")]
    assert sums[0].tobytes() == sums[1].tobytes()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 20), B=st.integers(0, 70), seed=st.integers(0, 2**32 - 1))
def test_row_sums_backends_agree_on_any_shape(n, B, seed):
    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    D = np.random.default_rng(seed).standard_normal((n, B))
    sums = [get_kernels(name).row_sums(D, np.full(n, np.nan)) for name in ("numpy", "cython")]
    assert sums[0].tobytes() == sums[1].tobytes()
    assert_array_equal(sums[0], [_lane_sum(D[i]) for i in range(n)])


def test_shape_errors(kernels):
    with pytest.raises(ValueError, match="b must have shape"):
        kernels.add_bias(np.zeros((3, 2)), np.zeros(2), True)
    with pytest.raises(ValueError, match="out must have shape"):
        kernels.row_sums(np.zeros((3, 2)), np.zeros(4))
