"""The dataset registry: every known dataset, its files, canonical URLs and checksums.

Checksums are copied from ``shared/data/PROVENANCE.md`` (the project's data provenance
record). Each file carries exactly one checksum with its kind:

- ``"sha256"``: SHA-256 of the file, for the scikit-feature ``.mat`` files present locally;
- ``"git-blob"``: ``git hash-object`` of the file, for ``lung.mat`` and ``CLL-SUB-111.mat``,
  whose SHA-256 is unknown but whose blob id in the upstream repository is;
- ``"md5-gunzip"``: MD5 of the decompressed content, for the MNIST and Fashion-MNIST ``.gz``
  files (local gzip headers differ from upstream, the decompressed bytes do not).

Notes
-----
Names are looked up case-insensitively with ``-`` and ``_`` treated alike, so
``"cll-sub-111"``, ``"Fashion_MNIST"`` and ``"tox_171"`` all resolve.
The raw Madelon text files in the data directory are not registered; ``"madelon"`` is the
scikit-feature ``madelon.mat`` (train + validation of the NIPS 2003 challenge, 2600 samples).
"""
from dataclasses import dataclass

__all__ = ["FileSpec", "DatasetSpec", "REGISTRY", "CHECKSUM_KINDS", "get_spec",
           "list_datasets"]

CHECKSUM_KINDS = {"sha256": 64, "git-blob": 40, "md5-gunzip": 32}  # kind -> hex digits

_SKFEATURE = "https://github.com/jundongl/scikit-feature/raw/master/skfeature/data/"
_MNIST = "http://yann.lecun.com/exdb/mnist/"
_FASHION = "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"


@dataclass(frozen=True)
class FileSpec:
    """One data file: where it lives under the data directory, where it comes from, its hash.

    Parameters
    ----------
    relpath : str
        Path relative to the data directory, with ``/`` separators.
    url : str
        Canonical download URL.
    checksum_kind : {"sha256", "git-blob", "md5-gunzip"}
        How ``checksum`` is computed (see :func:`refset.datasets.verify_checksum`).
    checksum : str
        Expected lowercase hex digest.

    Examples
    --------
    >>> FileSpec("a.mat", "file:///tmp/a.mat", "sha256", "0" * 64).checksum_kind
    'sha256'
    """

    relpath: str
    url: str
    checksum_kind: str
    checksum: str


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Parameters
    ----------
    name : str
        Canonical spelling, used as ``Dataset.name``.
    kind : {"synthetic", "mat", "idx"}
        Which loader reads it.
    files : tuple of FileSpec
        For ``"mat"`` one file; for ``"idx"`` the train images, train labels, test images and
        test labels, in that order; empty for ``"synthetic"``.

    Examples
    --------
    >>> get_spec("coil20").files[0].relpath
    'COIL20.mat'
    """

    name: str
    kind: str
    files: tuple = ()


def _mat(name, filename, kind, checksum):
    return DatasetSpec(name, "mat", (FileSpec(filename, _SKFEATURE + filename, kind, checksum),))


def _idx(name, folder, base_url, md5s):
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return DatasetSpec(name, "idx", tuple(
        FileSpec(f"{folder}/{stem}.gz", f"{base_url}{stem}.gz", "md5-gunzip", md5)
        for stem, md5 in zip(stems, md5s)))


_SPECS = (
    DatasetSpec("synthetic", "synthetic"),
    _mat("COIL20", "COIL20.mat", "sha256",
         "4595ebdda07f47b0eb014fcfaddc22b452f9aed9c1d9261a0d5bc336c1ee1344"),
    _mat("TOX-171", "TOX-171.mat", "sha256",
         "f52f57e61775b7830c84750456d7fadfd220d1cc8eed26419c3390eb9216cc84"),
    _mat("leukemia", "leukemia.mat", "sha256",
         "eb92382fb77c968864cb0a92a2c77acde7f88ba7fe5fd5a64b98184e3a05269d"),
    _mat("ALLAML", "ALLAML.mat", "sha256",
         "068afe0fe1021932e1e7d801294c267de8aeaa9d41899acfac024e72b0d44c1e"),
    _mat("madelon", "madelon.mat", "sha256",
         "7dc9c9ff8d902651948e2df7f9cb6ed38c5d91e4c4159914cecb1ddbc7def12c"),
    _mat("arcene", "arcene.mat", "sha256",
         "779d678207b9a8c0ba8f2f5ecdb2216d9f98bf475ab040e806797efd36331bc5"),
    _mat("colon", "colon.mat", "sha256",
         "ffcdeba03eb67cec403fa1dc9f827c22a6e2c57786bf3e01dfe1b4b3e25e0a2f"),
    _mat("GLIOMA", "GLIOMA.mat", "sha256",
         "c31cd32edd770c7a102729839e670e588bc959a591e0eae5a0676c9ca11d4c4f"),
    _mat("Prostate-GE", "Prostate-GE.mat", "sha256",
         "050b598534dbc662f23e30f39b41354b61d02ab8567837bcf9b1091c1c636ab4"),
    _mat("lung_small", "lung_small.mat", "sha256",
         "93c6a65eb1f6f9f95ac897010c337254a57c57e7f8c0c9a7963a0e03de8233f4"),
    _mat("lung", "lung.mat", "git-blob", "becb82c675f788b040d5ced741955e19b94ce9b8"),
    _mat("CLL_SUB_111", "CLL-SUB-111.mat", "git-blob",
         "6f14fa8d02fbe7fca3e73f4c97da3f1e7003a648"),
    _idx("mnist", "mnist", _MNIST, (
        "6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
        "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637")),
    _idx("fashion-mnist", "fashion-mnist", _FASHION, (
        "f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
        "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965")),
)


def _key(name):
    return name.lower().replace("-", "_")


#: Normalised name (lowercase, ``-`` as ``_``) -> DatasetSpec.
REGISTRY = {_key(spec.name): spec for spec in _SPECS}


def list_datasets():
    """Names of the registered datasets, in their canonical spelling.

    Returns
    -------
    names : list of str
        Sorted case-insensitively. Loading a name may still need its files (see
        :func:`refset.datasets.load_dataset`).

    Examples
    --------
    >>> "COIL20" in list_datasets(), "synthetic" in list_datasets()
    (True, True)
    """
    return sorted((spec.name for spec in REGISTRY.values()), key=str.lower)


def get_spec(name):
    """The DatasetSpec registered under ``name`` (case-insensitive, ``-`` same as ``_``).

    Examples
    --------
    >>> get_spec("Fashion_MNIST").name
    'fashion-mnist'
    """
    if not isinstance(name, str) or _key(name) not in REGISTRY:
        raise ValueError(f"name must be one of {', '.join(list_datasets())} "
                         f"(case-insensitive), got {name!r}")
    return REGISTRY[_key(name)]
