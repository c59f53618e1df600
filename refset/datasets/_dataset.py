"""The Dataset container: a named train/test split with encoded labels."""
from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split ready for training.

    Parameters
    ----------
    name : str
        Dataset name as registered (e.g. ``"COIL20"``).
    X_train : ndarray of shape (n_train, n_features), float64
    y_train : ndarray of shape (n_train,), int64
        Class indices in ``0..n_classes-1``.
    X_test : ndarray of shape (n_test, n_features), float64
    y_test : ndarray of shape (n_test,), int64
    classes : ndarray of shape (n_classes,)
        Original label values: ``classes[k]`` is the label of class index ``k``.

    Notes
    -----
    Arrays are converted on construction to C-contiguous float64 (features) and int64
    (labels), copying only when needed. The dataclass is frozen (fields cannot be rebound)
    but the arrays stay writeable; equality is identity (``eq=False``), since elementwise
    array comparison has no single truth value.

    Examples
    --------
    >>> import numpy as np
    >>> d = Dataset("toy", np.zeros((3, 2)), np.array([0, 1, 1]), np.zeros((1, 2)),
    ...             np.array([0]), np.array([-1, 1]))
    >>> d.n_features, d.n_classes
    (2, 2)
    >>> d
    Dataset(toy: 3 train / 1 test, 2 features, 2 classes)
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray

    def __post_init__(self):
        classes = np.asarray(self.classes)
        if classes.ndim != 1 or classes.size == 0:
            raise ValueError(f"classes must be a non-empty 1-D array, got shape {classes.shape}")
        object.__setattr__(self, "classes", classes)
        for split in ("train", "test"):
            X = np.ascontiguousarray(getattr(self, f"X_{split}"), dtype=np.float64)
            y = np.ascontiguousarray(getattr(self, f"y_{split}"))
            if X.ndim != 2:
                raise ValueError(f"X_{split} must be 2-D (n_samples, n_features), got {X.ndim}-D")
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise ValueError(f"y_{split} must have shape ({X.shape[0]},), got {y.shape}")
            if y.dtype.kind not in "iu":
                raise ValueError(f"y_{split} must hold integer class indices, got {y.dtype}")
            if y.size and (y.min() < 0 or y.max() >= classes.size):
                raise ValueError(f"y_{split} must be in [0, {classes.size - 1}] "
                                 f"(indices into classes)")
            object.__setattr__(self, f"X_{split}", X)
            object.__setattr__(self, f"y_{split}", y.astype(np.int64, copy=False))
        if self.X_test.shape[1] != self.X_train.shape[1]:
            raise ValueError(f"X_test has {self.X_test.shape[1]} features, but X_train has "
                             f"{self.X_train.shape[1]}")

    @property
    def n_features(self):
        """Number of features (columns of ``X_train``)."""
        return self.X_train.shape[1]

    @property
    def n_classes(self):
        """Number of classes, ``len(classes)``."""
        return len(self.classes)

    def summary(self):
        """One line: name, split sizes, features and classes.

        Examples
        --------
        >>> import numpy as np
        >>> Dataset("toy", np.zeros((2, 3)), np.array([0, 1]), np.zeros((1, 3)),
        ...         np.array([1]), np.array([1, 2])).summary()
        'toy: 2 train / 1 test, 3 features, 2 classes'
        """
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test, "
                f"{self.n_features} features, {self.n_classes} classes")

    def __repr__(self):
        return f"Dataset({self.summary()})"
