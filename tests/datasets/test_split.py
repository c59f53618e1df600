"""stratified_split, encode_labels and standardize."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refset.datasets import encode_labels, standardize, stratified_split


def _check_split(y, train, test, test_size):
    y = np.asarray(y)
    n = len(y)
    both = np.concatenate([train, test])
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.array_equal(np.sort(both), np.arange(n))  # nothing lost or duplicated
    for label in np.unique(y):
        n_k = np.sum(y == label)
        n_test_k = np.sum(y[test] == label)
        assert np.sum(y[train] == label) >= 1  # every class in training
        assert abs(n_test_k - test_size * n_k) <= 1  # proportions within one sample


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       test_size=st.floats(0.01, 0.99), seed=st.integers(0, 2**32))
def test_split_invariants(counts, test_size, seed):
    y = np.repeat(np.arange(len(counts)) * 3 - 1, counts)  # labels -1, 2, 5, ...
    y = np.random.default_rng(seed).permutation(y)
    train, test = stratified_split(y, test_size=test_size, seed=seed)
    _check_split(y, train, test, test_size)


def test_per_class_rounding_is_half_up():
    y = np.repeat([0, 1, 2, 3], [72, 3, 2, 1])
    train, test = stratified_split(y, test_size=0.5, seed=0)
    # 72 -> 36, 3 -> round(1.5) = 2, 2 -> 1, 1 -> 0 (the lone sample stays in training)
    assert np.bincount(y[test], minlength=4).tolist() == [36, 2, 1, 0]
    assert np.bincount(y[train], minlength=4).tolist() == [36, 1, 1, 1]


def test_coil20_like_split_sizes():
    y = np.repeat(np.arange(1, 21), 72)
    train, test = stratified_split(y, test_size=1 / 3, seed=0)
    assert (len(train), len(test)) == (960, 480)


def test_split_is_deterministic_by_seed(global_seed):
    y = np.repeat([0, 1, 2], [30, 20, 10])
    a = stratified_split(y, seed=global_seed)
    b = stratified_split(y, seed=global_seed)
    c = stratified_split(y, seed=global_seed + 1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


def test_split_accepts_a_generator(global_seed):
    y = np.repeat([0, 1], [10, 10])
    a = stratified_split(y, seed=global_seed)
    b = stratified_split(y, seed=np.random.default_rng(global_seed))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("test_size", [0, 1, -0.1, 1.5, float("nan")])
def test_bad_test_size_names_parameter_and_range(test_size):
    with pytest.raises(ValueError, match=r"test_size must be .*\(0, 1\)"):
        stratified_split([0, 1, 0, 1], test_size=test_size)
    with pytest.raises(ValueError, match="test_size must be a number"):
        stratified_split([0, 1, 0, 1], test_size="0.3")


def test_encode_labels_maps_any_values_to_indices():
    y_idx, classes = encode_labels(np.array([[5], [-1], [5], [3]]))
    assert y_idx.dtype == np.int64 and y_idx.tolist() == [2, 0, 2, 1]
    assert classes.tolist() == [-1, 3, 5]
    np.testing.assert_array_equal(classes[y_idx], [5, -1, 5, 3])


def test_encode_labels_rejects_bad_shapes_and_nan():
    with pytest.raises(ValueError, match="y must be a 1-D"):
        encode_labels(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="y contains NaN"):
        encode_labels([1.0, np.nan])


def test_standardize_uses_training_statistics_only(global_seed):
    rng = np.random.default_rng(global_seed)
    X_train = rng.normal(3.0, 2.0, size=(50, 4))
    X_train[:, 2] = 7.0  # a constant feature
    X_test = rng.normal(-5.0, 10.0, size=(20, 4))
    A, B = standardize(X_train, X_test)
    # hand computation: population std (ddof=0) plus eps, training rows only;
    # a feature constant in training is only centred (scale 1)
    mean = X_train.sum(axis=0) / 50
    std = np.sqrt(((X_train - mean) ** 2).sum(axis=0) / 50)
    assert std[2] == 0
    scale = np.array([std[0] + 1e-4, std[1] + 1e-4, 1.0, std[3] + 1e-4])
    np.testing.assert_allclose(A, (X_train - mean) / scale, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(B, (X_test - mean) / scale, rtol=1e-12, atol=1e-12)
    assert np.all(A[:, 2] == 0.0) and np.allclose(B[:, 2], X_test[:, 2] - 7.0)
    # the test set does not influence anything: changing it leaves the training part alone
    A2, _ = standardize(X_train, X_test * 100)
    np.testing.assert_array_equal(A, A2)


def test_standardize_returns_new_float64_c_arrays():
    X_train = np.arange(12, dtype=np.uint8).reshape(4, 3)
    X_test = np.asfortranarray(np.ones((2, 3), dtype=np.float32))
    A, B = standardize(X_train, X_test, eps=0.5)
    for out in (A, B):
        assert out.dtype == np.float64 and out.flags.c_contiguous
    assert X_train.tolist() == np.arange(12).reshape(4, 3).tolist()  # input untouched
    np.testing.assert_allclose(A.mean(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=0.0), r"eps must be a finite number in \(0, inf\]"),
    (dict(X_train=np.zeros(3)), "X_train must be a 2-D"),
    (dict(X_test=np.zeros((2, 5))), "X_test has 5 features, but X_train has 3"),
    (dict(X_train=np.zeros((0, 3))), "X_train must contain at least one sample"),
])
def test_standardize_validation(kwargs, match):
    args = dict(X_train=np.zeros((4, 3)), X_test=np.zeros((2, 3)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        standardize(**args)
