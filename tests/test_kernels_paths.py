"""Path kernels (refset.kernels.paths and its compiled twin): parity with direct references."""
import numpy as np
import pytest

from _tolerances import RTOL


def _random_paths(rng, n_paths, nnz, dtype):
    a = np.concatenate([rng.uniform(0.01, 2.0, n) for n in nnz]).astype(dtype)
    offsets = np.cumsum([0] + nnz[:-1]).astype(np.int64)
    paths = np.stack([rng.integers(0, n, n_paths) for n in nnz], axis=1).astype(np.int64)
    return paths, offsets, a


@pytest.mark.parametrize("n_layers", [1, 2, 4, 7])
def test_path_products_matches_reference(kernels, dtype, global_seed, n_layers):
    rng = np.random.default_rng(global_seed)
    nnz = rng.integers(1, 50, n_layers).tolist()
    paths, offsets, a = _random_paths(rng, 500, nnz, dtype)
    out = np.full(500, np.nan, dtype=dtype)
    got = kernels.path_products(paths, offsets, a, out)
    assert got is out and got.dtype == np.dtype(dtype)
    # reference: the factors gathered one by one, multiplied in float64
    expected = np.ones(500)
    for l in range(n_layers):
        expected *= a[offsets[l] + paths[:, l]].astype(np.float64)
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype] * n_layers)


def test_path_products_backends_identical(dtype, global_seed):
    """Both backends multiply left to right in the dtype: the results are bit-identical."""
    import refset
    from refset.kernels.backend import compiled_available

    if not compiled_available():
        pytest.skip("compiled extension not built")
    rng = np.random.default_rng(global_seed)
    paths, offsets, a = _random_paths(rng, 2000, [30, 40, 25], dtype)
    outs = [refset.get_kernels(name).path_products(paths, offsets, a, np.empty(2000, dtype))
            for name in ("numpy", "cython")]
    assert np.array_equal(outs[0], outs[1])


def test_path_products_zero_factor_and_empty(kernels):
    a = np.array([0.0, 2.0, 3.0])
    paths = np.array([[0, 0], [1, 0]], dtype=np.int64)
    out = kernels.path_products(paths, np.array([0, 2], dtype=np.int64), a, np.empty(2))
    assert out.tolist() == [0.0, 6.0]
    empty = kernels.path_products(np.empty((0, 2), dtype=np.int64),
                                  np.array([0, 2], dtype=np.int64), a, np.empty(0))
    assert empty.shape == (0,)


def test_path_products_needs_a_layer(kernels):
    with pytest.raises(ValueError, match="at least one"):
        kernels.path_products(np.empty((3, 0), dtype=np.int64), np.empty(0, dtype=np.int64),
                              np.ones(3), np.empty(3))


def test_segment_search_matches_linear_scan(kernels, global_seed):
    rng = np.random.default_rng(global_seed)
    w = rng.uniform(0, 1, 300)
    w[rng.random(300) < 0.2] = 0.0                      # zero weights: flat runs in cum
    cum = np.cumsum(w)
    lo = rng.integers(0, 300, 1000)
    hi = np.minimum(300, lo + rng.integers(0, 40, 1000))
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    top = np.where(hi > 0, cum[np.maximum(hi - 1, 0)], 0.0)
    target = base + rng.uniform(-0.1, 1.1, 1000) * (top - base)
    target[::50] = base[::50]                           # exact boundaries
    target[1::50] = top[1::50]
    target = np.maximum(target, base)
    out = kernels.segment_search(cum, lo.astype(np.int64), hi.astype(np.int64), target,
                                 np.empty(1000, dtype=np.int64))
    for i in range(1000):
        inside = [k for k in range(lo[i], hi[i]) if cum[k] > target[i]]
        assert out[i] == (inside[0] if inside else hi[i])
