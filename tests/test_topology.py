"""Free-position sampling and isolation repair."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from refset.algorithms.topology import isolated, repair_isolation, sample_free


@given(n_total=st.integers(1, 400), frac=st.floats(0, 1), k_frac=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_sample_free_draws_distinct_free_cells(n_total, frac, k_frac, seed):
    rng = np.random.default_rng(seed)
    occupied = np.sort(rng.choice(n_total, int(frac * n_total), replace=False)).astype(np.int64)
    n_free = n_total - occupied.size
    k = int(k_frac * n_free)
    drawn = sample_free(occupied, n_total, k, rng)
    assert drawn.size == k
    assert np.unique(drawn).size == k
    assert np.all((drawn >= 0) & (drawn < n_total))
    assert np.intersect1d(drawn, occupied).size == 0


def test_sample_free_is_uniform(global_seed):
    """Each free cell is drawn with the same frequency (chi-square, 9 d.o.f.)."""
    rng = np.random.default_rng(global_seed)
    occupied = np.array([0, 3, 4, 9, 12], dtype=np.int64)      # 10 free cells of 15
    counts = np.zeros(15)
    for _ in range(4000):
        counts[sample_free(occupied, 15, 2, rng)] += 1
    assert np.all(counts[occupied] == 0)
    free = np.setdiff1d(np.arange(15), occupied)
    expected = 4000 * 2 / 10
    chi2 = np.sum((counts[free] - expected) ** 2 / expected)
    assert chi2 < 27.9        # p = 0.001 for 9 degrees of freedom


@given(n_in=st.integers(1, 30), n_out=st.integers(1, 30), extra=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_repair_isolation(n_in, n_out, extra, seed):
    rng = np.random.default_rng(seed)
    n_total = n_in * n_out
    m = max(n_in, n_out) + int(extra * (n_total - max(n_in, n_out)))
    linear = np.sort(rng.choice(n_total, m, replace=False)).astype(np.int64)
    fixed = repair_isolation(linear, (n_in, n_out), rng)
    assert fixed.size == m and np.unique(fixed).size == m
    rows, cols = np.divmod(fixed, n_out)
    iso_rows, iso_cols = isolated(rows, cols, (n_in, n_out))
    assert iso_rows.size == 0 and iso_cols.size == 0
