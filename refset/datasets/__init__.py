"""Datasets for refset: a Madelon-style generator and loaders for the SET benchmark files.

``load_dataset(name)`` returns a :class:`Dataset` (seeded stratified split, standardised
with training statistics). Files are looked up in :func:`data_home` (``data_dir``, then
``$REFSET_DATA``, then ``~/.cache/refset``), verified against the checksums recorded in the
project's data provenance, and optionally downloaded from their canonical URLs.

Deviations
----------
- The SET reference code loads one ``.mat`` file and splits it without stratification;
  refset splits every class separately (rounded half up, every class kept in training).
- MNIST and Fashion-MNIST are read from the original IDX files and keep their official
  60000/10000 split; ``test_size`` is ignored for them. Pixels stay in [0, 255].
- ``"madelon"`` is the scikit-feature ``madelon.mat`` (2600 samples, labels {-1, +1}); the
  raw UCI text files are not registered.
- Dataset names are case-insensitive and treat ``-`` and ``_`` alike.

Notes
-----
Checksum kinds: ``sha256`` (of the file), ``git-blob`` (``git hash-object``; for
``lung.mat`` and ``CLL-SUB-111.mat``, whose SHA-256 is unknown) and ``md5-gunzip`` (MD5 of
the decompressed IDX content; the local ``.gz`` headers differ from upstream). Local files
are hashed when read (``load_dataset(..., verify=True)``, the default); a present file is
never downloaded again, and a mismatching one is reported, never overwritten.

Deviation: standardising uses ``std + 1e-4`` (ALGORITHMS §3) except for features that are
constant in training, which are only centred; the SET reference code divides them by 1e-4,
so the few test samples where they vary (MNIST border pixels) would reach about 2.4e5.

:class:`Dataset` is frozen (fields cannot be rebound) but its arrays stay writeable, and it
compares by identity. For ``"synthetic"`` the one ``seed`` drives both the generator and
the split.

Examples
--------
>>> from refset.datasets import load_dataset
>>> load_dataset("synthetic").n_classes
4
"""
from ._dataset import Dataset
from ._fetch import ChecksumError, DatasetNotFoundError, data_home, verify_checksum
from ._loaders import load_dataset
from ._registry import list_datasets
from ._split import encode_labels, standardize, stratified_split
from ._synthetic import make_synthetic

__all__ = [
    "ChecksumError",
    "Dataset",
    "DatasetNotFoundError",
    "data_home",
    "encode_labels",
    "list_datasets",
    "load_dataset",
    "make_synthetic",
    "standardize",
    "stratified_split",
    "verify_checksum",
]
