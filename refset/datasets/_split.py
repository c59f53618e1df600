r"""Label encoding, the seeded stratified train/test split, and z-score standardisation.

Notes
-----
Per-class rounding of the split: a class with :math:`n_k` samples puts

.. math:: t_k = \min\left(\lfloor \tau n_k + \tfrac12 \rfloor,\; n_k - 1\right)

samples in the test set (:math:`\tau` = ``test_size``, rounded half up) and the rest in
the training set, so every class appears in training and each class's test count is within
one sample of :math:`\tau n_k`. The total test size is the sum of the :math:`t_k` and may
differ from :math:`\tau n` by up to half the number of classes.
"""
import numpy as np

from .._rng import as_generator
from .._validation import check_float

__all__ = ["encode_labels", "stratified_split", "standardize"]


def encode_labels(y):
    """Map arbitrary label values to class indices ``0..K-1``.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
        Label values of any sortable dtype, e.g. {-1, +1}, 1..K or 0..9.

    Returns
    -------
    y_idx : ndarray of shape (n_samples,), int64
        ``classes[y_idx] == y``.
    classes : ndarray of shape (K,)
        The sorted distinct label values, in the dtype of ``y``.

    Examples
    --------
    >>> y_idx, classes = encode_labels([1, -1, 1, 1])
    >>> y_idx.tolist(), classes.tolist()
    ([1, 0, 1, 1], [-1, 1])
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity")
    classes, y_idx = np.unique(y, return_inverse=True)
    return y_idx.astype(np.int64).reshape(-1), classes


def stratified_split(y, *, test_size=1 / 3, seed=0):
    """Seeded stratified train/test split of sample indices.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels (any values); each distinct value is one stratum.
    test_size : float, default 1/3
        Fraction of each class sent to the test set, in (0, 1); rounded per class as in the
        module Notes.
    seed : None, int or numpy.random.Generator, default 0
        ``numpy.random.default_rng(seed)`` semantics.

    Returns
    -------
    train_idx, test_idx : ndarray of int64
        Disjoint, together a permutation of ``range(n_samples)``; each in random order.

    Examples
    --------
    >>> train, test = stratified_split([0, 0, 0, 1, 1, 1], test_size=1/3, seed=0)
    >>> len(train), len(test), sorted(train.tolist() + test.tolist())
    (4, 2, [0, 1, 2, 3, 4, 5])
    """
    test_size = check_float("test_size", test_size, 0, 1, low_open=True, high_open=True)
    y_idx, classes = encode_labels(y)
    rng = as_generator(seed)
    train, test = [], []
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y_idx == k))
        n_test = min(int(np.floor(test_size * len(members) + 0.5)), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    empty = [np.empty(0, dtype=np.int64)]
    train_idx = rng.permutation(np.concatenate(train + empty)).astype(np.int64)
    test_idx = rng.permutation(np.concatenate(test + empty)).astype(np.int64)
    return train_idx, test_idx


def standardize(X_train, X_test, eps=1e-4):
    r"""Z-score both splits with the training mean and standard deviation.

    Parameters
    ----------
    X_train : array-like of shape (n_train, n_features)
        Source of the statistics; at least one row.
    X_test : array-like of shape (n_test, n_features)
        Transformed with the training statistics only.
    eps : float, default 1e-4
        Added to the standard deviation, > 0; keeps constant features finite.

    Returns
    -------
    X_train_s, X_test_s : ndarray, float64, C-contiguous
        New arrays; the inputs are not modified.

    Notes
    -----
    With :math:`\mu_j` and :math:`\sigma_j` the mean and population standard deviation
    (``ddof=0``) of training column :math:`j`:

    .. math:: x'_{ij} = \frac{x_{ij} - \mu_j}{\sigma_j + \varepsilon}

    A feature that is constant in training (:math:`\sigma_j = 0`) is only centred
    (scale 1, as scikit-learn's StandardScaler does); dividing it by :math:`\varepsilon`
    alone, as the SET reference code does, would turn the few test samples where it varies
    (MNIST border pixels) into values up to about 2.4e5.

    Examples
    --------
    >>> A, B = standardize([[0.0], [2.0]], [[4.0]], eps=0.0001)
    >>> A.ravel().round(3).tolist(), B.ravel().round(3).tolist()
    ([-1.0, 1.0], [3.0])
    """
    eps = check_float("eps", eps, 0, low_open=True)
    X_train, X_test = np.asarray(X_train), np.asarray(X_test)
    for pname, X in (("X_train", X_train), ("X_test", X_test)):
        if X.ndim != 2:
            raise ValueError(f"{pname} must be a 2-D array of shape (n_samples, n_features), "
                             f"got {X.ndim}-D")
    if X_train.shape[0] == 0:
        raise ValueError("X_train must contain at least one sample")
    if X_test.shape[1] != X_train.shape[1]:
        raise ValueError(f"X_test has {X_test.shape[1]} features, but X_train has "
                         f"{X_train.shape[1]}")
    mean = X_train.mean(axis=0, dtype=np.float64)
    std = X_train.std(axis=0, dtype=np.float64)
    scale = np.where(std > 0, std + eps, 1.0)
    return _affine(X_train, mean, scale), _affine(X_test, mean, scale)


def _affine(X, mean, scale):
    out = np.empty(X.shape, dtype=np.float64)  # C order, one temporary-free pass each
    np.subtract(X, mean, out=out)
    out /= scale
    return out
