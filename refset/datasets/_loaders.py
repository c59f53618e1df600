"""load_dataset: from a registered name to a standardised, stratified Dataset.

Notes
-----
- MNIST and Fashion-MNIST keep their official 60000/10000 split, so ``test_size`` is
  ignored for them (but still validated); pixels are float64 in [0, 255] (not rescaled,
  ``standardize=True`` takes care of the scale).
- scikit-feature ``.mat`` files and the synthetic set are split with
  :func:`refset.datasets.stratified_split` using ``seed``; for ``"synthetic"`` the same
  ``seed`` also drives :func:`refset.datasets.make_synthetic` (with its defaults).
- Labels are encoded over all samples of both splits, so ``classes`` lists every label
  value of the dataset in sorted order.
- Every file is checksummed when it is read (``verify=True``, the default): a file of another
  dataset or version saved under a registered name is refused, not trained on.  Hashing costs
  far less than parsing (MNIST: both about a second here); ``verify=False`` skips it.
"""
import numpy as np

from .._validation import check_float
from ._dataset import Dataset
from ._fetch import data_home, ensure_file
from ._idx import read_idx
from ._registry import get_spec
from ._split import encode_labels, standardize as _standardize, stratified_split
from ._synthetic import make_synthetic

__all__ = ["load_dataset"]


def load_dataset(name="synthetic", data_dir=None, *, test_size=1 / 3, seed=0,
                 standardize=True, download=False, verify=True, synthetic=None):
    """Load a registered dataset as a train/test :class:`Dataset`.

    Parameters
    ----------
    name : str, default "synthetic"
        One of :func:`refset.datasets.list_datasets`, case-insensitive (``-`` and ``_``
        are interchangeable): ``"synthetic"`` (generated, needs no file), the scikit-feature
        ``.mat`` sets (``"COIL20"``, ``"TOX-171"``, ``"leukemia"``, ``"ALLAML"``,
        ``"madelon"``, ``"arcene"``, ``"colon"``, ``"GLIOMA"``, ``"Prostate-GE"``,
        ``"lung_small"``, ``"lung"``, ``"CLL_SUB_111"``), ``"mnist"`` and
        ``"fashion-mnist"`` (the four IDX ``.gz`` files in subfolders ``mnist/`` and
        ``fashion-mnist/``).
    data_dir : str, os.PathLike or None
        Directory holding the files; see :func:`refset.datasets.data_home` for the default
        (``$REFSET_DATA``, then ``~/.cache/refset``). Unused for ``"synthetic"``.
    test_size : float, default 1/3
        Fraction of each class put in the test set, in (0, 1). Ignored by ``"mnist"`` and
        ``"fashion-mnist"``, which use their official 60000/10000 split.
    seed : None, int or numpy.random.Generator, default 0
        Seed of the stratified split (and of the synthetic generator).
    standardize : True, False or "global", default True
        True: z-score every feature of both splits with its training mean and (training std
        + 1e-4); see :func:`refset.datasets.standardize`.  ``"global"``: the CHT authors'
        normalisation (quirk ``global_normalisation`` of :mod:`refset.fidelity`): images
        scaled to [0, 1], then one mean and one std for all features — PyTorch's usual
        constants for MNIST (0.1307, 0.3081) and Fashion-MNIST (0.2860, 0.3530), the
        training set's overall mean and std for other datasets.
    download : bool, default False
        Fetch missing files from their canonical URL and verify them; present files are
        verified but not downloaded again.
    verify : bool, default True
        Check the checksum of present files against the registry (a mismatch raises
        :class:`refset.datasets.ChecksumError` naming the file and both checksums).
        ``False`` trusts the files as they are.
    synthetic : dict or None
        Keyword arguments of :func:`refset.datasets.make_synthetic` (``n_samples``,
        ``n_features``, ``n_classes``, ...) for ``"synthetic"``; an error for other names.

    Returns
    -------
    dataset : Dataset
        Features float64 C-contiguous, labels int64 in ``0..K-1``, ``classes`` the original
        label values.

    Raises
    ------
    DatasetNotFoundError
        A file is missing and ``download`` is false; the message names the path, the URL
        and the checksum.
    ChecksumError
        A verified or downloaded file has the wrong checksum.
    ValueError
        Unknown ``name``, ``test_size`` outside (0, 1), or an unreadable file.

    Examples
    --------
    >>> load_dataset("synthetic", seed=0)
    Dataset(synthetic: 1333 train / 667 test, 200 features, 4 classes)
    """
    spec = get_spec(name)
    if standardize not in (True, False, "global"):
        raise ValueError(f"standardize must be True, False or 'global', got {standardize!r}")
    test_size = check_float("test_size", test_size, 0, 1, low_open=True, high_open=True)
    if synthetic and spec.kind != "synthetic":
        raise ValueError(f"synthetic options apply only to the 'synthetic' dataset, not {spec.name!r}")
    if spec.kind == "synthetic":
        X, y = make_synthetic(seed=seed, **(synthetic or {}))
        return _split_dataset(spec.name, X, y, test_size, seed, standardize)
    root = data_home(data_dir)
    paths = [ensure_file(f, root, dataset=spec.name, download=download, verify=verify)
             for f in spec.files]
    if spec.kind == "mat":
        X, y = _read_mat(paths[0])
        return _split_dataset(spec.name, X, y, test_size, seed, standardize)
    X_train, y_train = _read_idx_pair(paths[0], paths[1])
    X_test, y_test = _read_idx_pair(paths[2], paths[3])
    y_all, classes = encode_labels(np.concatenate([y_train, y_test]))
    if standardize == "global":
        X_train, X_test = _global_normalize(X_train / 255.0, X_test / 255.0,
                                            GLOBAL_CONSTANTS.get(spec.name))
    elif standardize:
        X_train, X_test = _standardize(X_train, X_test)
    return Dataset(spec.name, X_train, y_all[:len(y_train)], X_test, y_all[len(y_train):],
                   classes)


def _split_dataset(name, X, y, test_size, seed, standardize):
    y_idx, classes = encode_labels(y)
    train, test = stratified_split(y_idx, test_size=test_size, seed=seed)
    X_train, X_test = X[train], X[test]
    if standardize == "global":
        X_train, X_test = _global_normalize(X_train, X_test)
    elif standardize:
        X_train, X_test = _standardize(X_train, X_test)
    return Dataset(name, X_train, y_idx[train], X_test, y_idx[test], classes)


#: (mean, std) of the images scaled to [0, 1], as the CHT authors' code normalises them.
GLOBAL_CONSTANTS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}


def _global_normalize(X_train, X_test, constants=None):
    """(X - m) / s with one scalar mean and std (given, else the training set's)."""
    if constants is None:
        constants = (float(X_train.mean()), float(X_train.std()) or 1.0)
    m, sd = constants
    return (np.ascontiguousarray((X_train - m) / sd), np.ascontiguousarray((X_test - m) / sd))


def _read_mat(path):
    """X (n, d) float64 and Y (n,) from a scikit-feature .mat file."""
    import scipy.io
    import scipy.sparse
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, TypeError, OSError, NotImplementedError,
            scipy.io.matlab.MatReadError) as exc:
        raise ValueError(f"{path} could not be read as a MATLAB .mat file: {exc}") from exc
    missing = [key for key in ("X", "Y") if key not in mat]
    if missing:
        found = ", ".join(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path} lacks the variable(s) {', '.join(missing)} of a "
                         f"scikit-feature dataset (found: {found or 'none'})")
    X = mat["X"].toarray() if scipy.sparse.issparse(mat["X"]) else mat["X"]
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(mat["Y"]).reshape(-1)
    if X.ndim != 2 or len(y) != X.shape[0]:
        raise ValueError(f"{path} has X of shape {X.shape} and {len(y)} labels in Y; "
                         f"expected one label per row of X")
    return X, y


def _read_idx_pair(images_path, labels_path):
    """Flattened float64 images and uint8 labels from one IDX image/label file pair."""
    images = read_idx(images_path, expected_ndim=3)
    labels = read_idx(labels_path, expected_ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images_path} holds {images.shape[0]} images but {labels_path} "
                         f"holds {labels.shape[0]} labels")
    return images.reshape(images.shape[0], -1).astype(np.float64), labels
