"""make_synthetic: determinism, shapes, balance, validation, learnability."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refset.datasets import make_synthetic


def _small(**kw):
    args = dict(n_samples=120, n_features=12, n_informative=3, n_redundant=2, n_classes=3,
                n_clusters_per_class=2)
    args.update(kw)
    return make_synthetic(**args)


def test_same_seed_gives_identical_arrays(global_seed):
    X1, y1 = make_synthetic(seed=global_seed)
    X2, y2 = make_synthetic(seed=global_seed)
    assert X1.tobytes() == X2.tobytes() and y1.tobytes() == y2.tobytes()


def test_generator_seed_matches_integer_seed(global_seed):
    X1, y1 = _small(seed=global_seed)
    X2, y2 = _small(seed=np.random.default_rng(global_seed))
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def test_different_seeds_differ(global_seed):
    X1, _ = _small(seed=global_seed)
    X2, _ = _small(seed=global_seed + 1)
    assert not np.array_equal(X1, X2)


def test_shapes_dtypes_and_labels():
    X, y = make_synthetic(n_samples=300, n_features=40, n_informative=5, n_redundant=3,
                          n_classes=5, n_clusters_per_class=1, seed=0)
    assert X.shape == (300, 40) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (300,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(5))
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("n_samples", [100, 101, 103, 2000])
def test_class_balance_without_label_noise(n_samples, global_seed):
    _, y = make_synthetic(n_samples=n_samples, n_classes=4, flip_y=0.0, seed=global_seed)
    counts = np.bincount(y, minlength=4)
    assert counts.sum() == n_samples and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("flip_y", [0.0, 0.2])
def test_label_noise_rate_matches_documented_semantics(flip_y, global_seed):
    # far-apart clusters: disagreement with the nearest class mean is the label noise,
    # expected flip_y * (n_classes - 1) / n_classes
    X, y = make_synthetic(n_samples=4000, n_features=2, n_informative=2, n_redundant=0,
                          n_classes=2, n_clusters_per_class=1, class_sep=10.0, flip_y=flip_y,
                          seed=global_seed)
    means = np.stack([X[y == k].mean(axis=0) for k in range(2)])
    nearest = ((X[:, None, :] - means[None]) ** 2).sum(axis=-1).argmin(axis=1)
    assert abs(np.mean(nearest != y) - flip_y / 2) < 0.02


def test_redundant_features_are_linear_combinations_of_informative():
    # with no noise features every column lies in the n_informative-dimensional span
    X, _ = make_synthetic(n_samples=200, n_features=9, n_informative=4, n_redundant=5, seed=3)
    assert np.linalg.matrix_rank(X, tol=1e-8 * np.abs(X).max()) == 4


def test_noise_features_are_independent_of_the_class():
    X, y = make_synthetic(n_samples=4000, n_features=30, n_informative=3, n_redundant=0,
                          n_classes=2, n_clusters_per_class=1, class_sep=3.0, flip_y=0.0,
                          seed=1)
    gaps = np.abs(X[y == 0].mean(0) - X[y == 1].mean(0))
    # 3 informative columns separate the classes; the 27 noise columns do not
    assert np.sum(gaps > 1.0) <= 3 and np.sum(gaps < 0.2) >= 27


def test_nearest_class_mean_beats_chance(global_seed):
    X, y = make_synthetic(seed=global_seed)  # defaults: 4 classes, chance = 0.25
    rng = np.random.default_rng(global_seed)
    order = rng.permutation(len(y))
    train, test = order[:1400], order[1400:]
    means = np.stack([X[train][y[train] == k].mean(axis=0) for k in range(4)])
    dist = ((X[test][:, None, :] - means[None]) ** 2).sum(axis=-1)
    accuracy = np.mean(dist.argmin(axis=1) == y[test])
    assert accuracy > 0.4  # chance is 0.25; observed 0.52-0.78 over seeds 0-99


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=0), "n_samples"),
    (dict(n_samples=2.5), "n_samples"),
    (dict(n_samples=True), "n_samples"),
    (dict(n_samples=7), r"n_samples must be >= n_classes \* n_clusters_per_class = 8"),
    (dict(n_features=0), "n_features"),
    (dict(n_informative=0), r"n_informative must be in \[1, inf\]"),
    (dict(n_redundant=-1), "n_redundant"),
    (dict(n_features=15, n_informative=10, n_redundant=10),
     r"n_informative \+ n_redundant must be <= n_features = 15"),
    (dict(n_classes=1), "n_classes"),
    (dict(n_clusters_per_class=0), "n_clusters_per_class"),
    (dict(n_informative=2, n_classes=3, n_clusters_per_class=2),
     r"n_classes \* n_clusters_per_class must be <= 2\*\*n_informative = 4"),
    (dict(class_sep=0.0), r"class_sep must be a finite number in \(0, inf\]"),
    (dict(class_sep=float("nan")), "class_sep"),
    (dict(flip_y=1.5), r"flip_y must be a finite number in \[0, 1\]"),
    (dict(seed="abc"), "seed"),
])
def test_validation_errors_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kwargs)


def test_many_informative_features_use_the_rejection_path():
    X, y = make_synthetic(n_samples=60, n_features=40, n_informative=35, n_redundant=0,
                          n_classes=3, seed=0)
    assert X.shape == (60, 40) and set(y.tolist()) <= {0, 1, 2}


@settings(max_examples=25, deadline=None)
@given(n_informative=st.integers(1, 4), n_redundant=st.integers(0, 3),
       n_noise=st.integers(0, 3), n_classes=st.integers(2, 4), seed=st.integers(0, 2**32))
def test_every_valid_configuration_has_all_classes(n_informative, n_redundant, n_noise,
                                                   n_classes, seed):
    n_clusters_per_class = max(1, 2 ** n_informative // n_classes)
    if n_classes * n_clusters_per_class > 2 ** n_informative:
        n_informative += 1
    n_features = n_informative + n_redundant + n_noise
    X, y = make_synthetic(n_samples=50, n_features=n_features, n_informative=n_informative,
                          n_redundant=n_redundant, n_classes=n_classes,
                          n_clusters_per_class=n_clusters_per_class, flip_y=0.0, seed=seed)
    assert X.shape == (50, n_features)
    assert np.bincount(y, minlength=n_classes).min() >= 50 // n_classes
