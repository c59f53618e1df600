"""Goodness-of-fit checks shared by the sampling tests."""
import numpy as np
from scipy.stats import chisquare

P_ACCEPT = 1e-4


def assert_follows(counts, expected_p, *, rejects_uniform=True):
    """``counts`` fit the law ``expected_p`` (χ², p > 1e-4), and — so that the test can fail —
    as many uniform draws over the same categories do not (p < 1e-4)."""
    counts = np.asarray(counts, dtype=np.float64)
    expected = counts.sum() * np.asarray(expected_p, dtype=np.float64)
    assert chisquare(counts, expected).pvalue > P_ACCEPT
    if rejects_uniform:
        uniform = np.bincount(np.random.default_rng(0).integers(0, counts.size, int(counts.sum())),
                              minlength=counts.size)
        assert chisquare(uniform, expected).pvalue < P_ACCEPT
