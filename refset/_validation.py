"""Validation helpers for public entry points: errors name the parameter and the allowed range.

Validate once at the boundary (a public function or ``fit``); the kernels beneath trust their
input.
"""
import numbers

import numpy as np

__all__ = ["NotFittedError", "check_int", "check_float", "check_choice", "check_finite_2d",
           "check_labels"]


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (or ``load``).

    A ``ValueError`` and an ``AttributeError``, like scikit-learn's error of the same name, so
    code catching either keeps working.
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
    """A finite 2-D array converted to ``dtype`` (C-contiguous)."""
    try:
        X = np.asarray(X)
    except Exception as exc:  # ragged input and the like
        raise ValueError(f"{name} must be a 2-D numeric array: {exc}") from None
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), got {X.ndim}-D")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one sample")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=dtype)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model expects {n_features}")
    return X


def check_labels(name, y, n_samples):
    """A 1-D label vector with one label per sample."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
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


def _interval(low, high, low_closed, high_closed):
    left = ("[" if low_closed else "(") + ("-inf" if low is None else f"{low:g}")
    right = ("inf" if high is None else f"{high:g}") + ("]" if high_closed else ")")
    return f"{left}, {right}"
