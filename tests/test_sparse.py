"""Canonical COO: validation and conversions."""
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from refset import CooMatrix, check_coo


def _example():
    return CooMatrix(np.array([0, 0, 2]), np.array([1, 3, 0]), np.array([1.0, -2.0, 3.0]), (3, 4))


def test_round_trips():
    W = _example().check()
    D = W.to_dense()
    assert D.shape == (3, 4) and D[0, 3] == -2.0
    for back in (CooMatrix.from_dense(D), CooMatrix.from_scipy(sp.csr_matrix(D)),
                 CooMatrix.from_scipy(W.to_scipy("csc")), CooMatrix.from_linear(W.linear(), W.values, W.shape)):
        back.check()
        assert_array_equal(back.rows, W.rows)
        assert_array_equal(back.cols, W.cols)
        assert_array_equal(back.values, W.values)
        assert back.shape == W.shape


def test_from_scipy_sums_duplicates_and_drops_zeros():
    S = sp.coo_matrix((np.array([1.0, 2.0, 0.0]), (np.array([1, 1, 0]), np.array([0, 0, 1]))), shape=(2, 2))
    W = CooMatrix.from_scipy(S).check()
    assert W.nnz == 1 and W.values[0] == 3.0


def test_degrees_and_density():
    W = _example()
    out_deg, in_deg = W.degrees()
    assert_array_equal(out_deg, [2, 0, 1])
    assert_array_equal(in_deg, [1, 1, 0, 1])
    assert W.density == 3 / 12


@pytest.mark.parametrize("change, message", [
    (lambda r, c, v: (r[::-1].copy(), c[::-1].copy(), v), "sorted"),
    (lambda r, c, v: (np.array([0, 0, 0]), np.array([1, 1, 2]), v), "duplicates"),
    (lambda r, c, v: (r, np.array([1, 3, 4]), v), "out of range"),
    (lambda r, c, v: (r.astype(np.int32), c, v), "int64"),
    (lambda r, c, v: (r, c, np.array([1.0, np.nan, 2.0])), "NaN"),
    (lambda r, c, v: (r, c, np.array([1.0, 0.0, 2.0])), "zeros"),
    (lambda r, c, v: (r, c, v[:2]), "same length"),
    (lambda r, c, v: (r, c, v.astype(np.int64)), "float32 or float64"),
])
def test_check_coo_rejects(change, message):
    W = _example()
    rows, cols, values = change(W.rows, W.cols, W.values)
    with pytest.raises(ValueError, match=message):
        check_coo(rows, cols, values, W.shape)
