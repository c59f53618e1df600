"""Validation helpers for public entry points: errors name the parameter and the allowed range.

Validate once at the boundary (a public function or ``fit``); the kernels beneath trust their
input.
"""
import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils import check_array
from sklearn.utils.multiclass import type_of_target

__all__ = ["NotFittedError", "check_int", "check_float", "check_choice", "check_finite_2d",
           "check_labels", "check_class_labels"]


class NotFittedError(_SklearnNotFittedError):
    """An estimator was used before ``fit`` (or ``load``).

    A subclass of scikit-learn's ``NotFittedError``, hence also a ``ValueError`` and an
    ``AttributeError``: code catching any of the three keeps working.
    """


def check_int(name, value, low=None, high=None):
    """An integer in [low, high] (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be in {_interval(low, high, True, True)}, got {value}")
    return value


def check_float(name, value, low=None, high=None, *, low_open=False, high_open=False):
    """A finite real number in the given interval (bounds may be None; open ends optional)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    bad = not np.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        interval = _interval(low, high, not low_open, not high_open)
        raise ValueError(f"{name} must be a finite number in {interval}, got {value}")
    return value


def check_choice(name, value, choices):
    """One of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_finite_2d(name, X, n_features=None, dtype=np.float64):
    """A finite 2-D array converted to ``dtype`` (C-contiguous).

    Array-likes go through scikit-learn's ``check_array`` (lists, pandas frames, object arrays
    of numbers, booleans); a ``scipy.sparse`` matrix or array is converted with ``toarray()``
    (the network is sparse, its input dense: fine for the data sizes refset trains on).  The
    errors name the parameter ``name``.
    """
    if sp.issparse(X):
        X = X.toarray()
    try:
        X = check_array(X, dtype=dtype, order="C", ensure_2d=False, allow_nd=True,
                        ensure_all_finite=False, ensure_min_samples=0, ensure_min_features=0,
                        input_name=name)
    except ValueError as exc:  # complex values, strings, ragged input and the like
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{name} must be a 2-D real numeric array: {reason}") from None
    if X.ndim != 2:
        reshape = (f". Reshape your data: {name}.reshape(-1, 1) if it has a single feature, "
                   f"{name}.reshape(1, -1) if it is a single sample") if X.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), got "
                         f"{X.ndim}-D{reshape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one sample")
    if X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature: found array with 0 feature(s) "
                         f"(shape={X.shape}) while a minimum of 1 is required.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but SparseMLP is expecting "
                         f"{n_features} features as input")
    return X


def check_labels(name, y, n_samples):
    """A 1-D label vector with one label per sample.

    A column vector of shape ``(n_samples, 1)`` is ravelled with scikit-learn's
    ``DataConversionWarning``."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(f"A column-vector {name} was passed when a 1d array was expected. Please "
                      f"change the shape of {name} to (n_samples, ), for example using ravel().",
                      DataConversionWarning, stacklevel=3)
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} labels but X has {n_samples} samples")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinity")
    if y.dtype.kind == "O":
        try:
            np.unique(y)
        except TypeError:
            kinds = sorted({type(v).__name__ for v in y})
            raise ValueError(f"{name} mixes labels of types {', '.join(kinds)}, which cannot be "
                             "ordered: give every label the same type") from None
    return y


def check_class_labels(name, y, classifier="SparseMLP"):
    """Refuse targets that are not class labels (scikit-learn's ``type_of_target``): a
    continuous ``y`` (floats with fractional parts) or labels of an unknown kind.

    The message begins "Unknown label type", as scikit-learn's classifiers' do."""
    kind = type_of_target(y, input_name=name)
    if kind in ("binary", "multiclass"):
        return y
    if kind == "continuous":
        values = np.unique(y)
        fractional = values[values != np.round(values)]
        examples = ", ".join([f"{v:.4g}" for v in fractional[:3]] + ["..."][:fractional.size > 3])
        raise ValueError(f"Unknown label type: {name} looks continuous ({values.size} distinct "
                         f"values in {y.size} samples, with fractional parts: {examples}): "
                         f"{classifier} is a classifier and needs class labels (integers or "
                         "strings); bin a continuous target into classes first")
    raise ValueError(f"Unknown label type: {name} is of type {kind!r}; {classifier} needs one "
                     "class label (an integer or a string) per sample")


def _interval(low, high, low_closed, high_closed):
    left = ("[" if low_closed else "(") + ("-inf" if low is None else f"{low:g}")
    right = ("inf" if high is None else f"{high:g}") + ("]" if high_closed else ")")
    return f"{left}, {right}"
