"""load_dataset, the registry, checksums, downloads and the IDX reader.

Tests marked "real data" read ``$REFSET_DATA`` and skip when it does not hold the file;
everything else builds tiny files in ``tmp_path`` and downloads them through ``file://``.
"""
import gzip
import hashlib
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
import scipy.io

from refset.datasets import (ChecksumError, Dataset, DatasetNotFoundError, data_home,
                             list_datasets, load_dataset, verify_checksum)
from refset.datasets._fetch import compute_checksum, fetch_file
from refset.datasets._idx import read_idx
from refset.datasets._registry import REGISTRY, DatasetSpec, FileSpec, get_spec

REAL_DATA = os.environ.get("REFSET_DATA")


def real_file(relpath):
    """Path of a file in $REFSET_DATA, or skip the test saying why."""
    if not REAL_DATA:
        pytest.skip(f"real data: set REFSET_DATA to a directory holding {relpath}")
    path = pathlib.Path(REAL_DATA, relpath)
    if not path.is_file():
        pytest.skip(f"real data: {path} is absent")
    return path


def git_blob(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_mat(path, X, Y):
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"X": np.asarray(X), "Y": np.asarray(Y).reshape(-1, 1)})
    return path


def idx_bytes(array):
    array = np.asarray(array)
    code = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


# ----------------------------------------------------------------------------- real data

def test_coil20_real():
    path = real_file("COIL20.mat")
    d = load_dataset("coil20", data_dir=path.parent)
    assert d.name == "COIL20" and isinstance(d, Dataset)
    assert len(d.y_train) + len(d.y_test) == 1440 and (len(d.y_train), len(d.y_test)) == (960, 480)
    assert d.n_features == 1024 and d.n_classes == 20
    assert d.classes.tolist() == list(range(1, 21))
    assert np.bincount(d.y_test, minlength=20).tolist() == [24] * 20
    assert d.X_train.dtype == np.float64 and d.X_train.flags.c_contiguous
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0.0, atol=1e-10)
    assert repr(d) == "Dataset(COIL20: 960 train / 480 test, 1024 features, 20 classes)"


def test_madelon_labels_mapped_from_plus_minus_one():
    path = real_file("madelon.mat")
    d = load_dataset("MADELON", data_dir=path.parent, standardize=False)
    assert d.classes.tolist() == [-1, 1]
    y = np.concatenate([d.y_train, d.y_test])
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [1300, 1300]
    assert d.n_features == 500 and d.X_train.min() >= 0 and d.X_train.max() <= 999


def test_real_files_verify_and_reject_a_wrong_checksum():
    coil = real_file("COIL20.mat")
    expected = get_spec("COIL20").files[0].checksum
    assert verify_checksum(coil, "sha256", expected)
    assert verify_checksum(coil, "sha256", expected.upper())
    assert not verify_checksum(coil, "sha256", "0" * 64)
    labels = real_file("mnist/t10k-labels-idx1-ubyte.gz")
    assert verify_checksum(labels, "md5-gunzip", "27ae3e4e09519cfbb04c329615203637")
    assert not verify_checksum(labels, "sha256", "27ae3e4e09519cfbb04c329615203637")


@pytest.mark.slow
@pytest.mark.parametrize("spec_file", [f for s in REGISTRY.values() for f in s.files],
                         ids=lambda f: f.relpath)
def test_every_present_registered_file_matches_its_checksum(spec_file):
    path = real_file(spec_file.relpath)
    assert verify_checksum(path, spec_file.checksum_kind, spec_file.checksum)


@pytest.fixture(scope="module")
def mnist():
    path = real_file("mnist/train-labels-idx1-ubyte.gz")
    # test_size is ignored for MNIST: the official split comes back anyway
    return load_dataset("mnist", data_dir=path.parent.parent, test_size=0.9, standardize=False)


@pytest.mark.slow
def test_mnist_official_split(mnist):
    assert mnist.X_train.shape == (60000, 784) and mnist.X_test.shape == (10000, 784)
    assert mnist.X_train.dtype == np.float64 and mnist.X_train.flags.c_contiguous
    assert mnist.classes.tolist() == list(range(10))
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958,
                                                  1028, 974, 1009]
    assert mnist.X_train.min() == 0 and mnist.X_train.max() == 255
    assert abs(mnist.X_train.mean() - 33.318) < 1e-3


# ----------------------------------------------------------------------------- registry

def test_registry_names_and_checksum_formats():
    names = list_datasets()
    assert names == sorted(names, key=str.lower)
    assert set(names) == {"synthetic", "COIL20", "TOX-171", "leukemia", "ALLAML", "madelon",
                          "arcene", "colon", "GLIOMA", "Prostate-GE", "lung_small", "lung",
                          "CLL_SUB_111", "mnist", "fashion-mnist"}
    lengths = {"sha256": 64, "git-blob": 40, "md5-gunzip": 32}
    for spec in REGISTRY.values():
        for f in spec.files:
            assert re.fullmatch(f"[0-9a-f]{{{lengths[f.checksum_kind]}}}", f.checksum)
    lung = get_spec("LUNG").files[0]
    assert (lung.checksum_kind, lung.checksum) == ("git-blob",
                                                   "becb82c675f788b040d5ced741955e19b94ce9b8")
    assert get_spec("cll-sub-111").files[0].url == (
        "https://github.com/jundongl/scikit-feature/raw/master/skfeature/data/CLL-SUB-111.mat")
    assert get_spec("mnist").files[0].url == (
        "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz")


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"name must be one of .*COIL20.*got 'cifar10'"):
        load_dataset("cifar10")


@pytest.mark.parametrize("test_size", [0.0, 1.0, 2])
def test_bad_test_size(test_size):
    with pytest.raises(ValueError, match=r"test_size must be .*\(0, 1\)"):
        load_dataset("synthetic", test_size=test_size)


def test_synthetic_needs_no_file_and_is_seeded(tmp_path):
    a = load_dataset("Synthetic", data_dir=tmp_path / "nowhere", seed=3)
    b = load_dataset("synthetic", seed=3)
    c = load_dataset("synthetic", seed=4, test_size=0.25, standardize=False)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train[:len(a.y_train)])
    assert a.n_features == 200 and a.n_classes == 4 and len(c.y_test) in range(495, 506)
    np.testing.assert_allclose(a.X_train.std(axis=0), 1.0, atol=1e-3)
    assert not (tmp_path / "nowhere").exists()


# ----------------------------------------------------------------------------- locations

def test_data_home_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("REFSET_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_home(tmp_path / "arg") == tmp_path / "arg"
    assert data_home() == tmp_path / "env"
    monkeypatch.delenv("REFSET_DATA")
    assert data_home() == tmp_path / "xdg" / "refset"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert data_home() == pathlib.Path.home() / ".cache" / "refset"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_home() == pathlib.Path.home() / ".cache" / "refset"


def test_missing_file_error_names_path_url_and_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("REFSET_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("lung")
    err = info.value
    assert isinstance(err, FileNotFoundError)
    message = str(err)
    assert str(tmp_path / "lung.mat") in message
    url = "https://github.com/jundongl/scikit-feature/raw/master/skfeature/data/lung.mat"
    assert url in message
    assert "becb82c675f788b040d5ced741955e19b94ce9b8" in message and "git-blob" in message
    assert "REFSET_DATA" in message and "download=True" in message
    assert err.path == tmp_path / "lung.mat" and err.url.endswith("/lung.mat")
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- checksums

def test_checksum_kinds_on_tiny_files(tmp_path):
    data = b"refset\x00\xff test data\n"
    plain = tmp_path / "tiny.bin"
    plain.write_bytes(data)
    packed = tmp_path / "tiny.bin.gz"
    packed.write_bytes(gzip.compress(data, mtime=0))
    assert verify_checksum(plain, "sha256", hashlib.sha256(data).hexdigest())
    assert verify_checksum(plain, "git-blob", git_blob(data))
    assert verify_checksum(packed, "md5-gunzip", hashlib.md5(data).hexdigest())
    assert not verify_checksum(plain, "md5-gunzip", hashlib.md5(data).hexdigest())  # not gzip
    with pytest.raises(ValueError, match="kind must be one of"):
        verify_checksum(plain, "sha1", "0" * 40)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_blob_equals_git_hash_object(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"lung-like bytes\n" * 100)
    out = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert compute_checksum(path, "git-blob") == out.stdout.strip()


# ----------------------------------------------------------------------------- downloads

@pytest.fixture
def fake_mat(tmp_path, monkeypatch):
    """Register 'lung' as a tiny .mat served from a file:// URL; returns (source, spec)."""
    labels = np.array([-1, 1, 1, -1, 1, -1, 1, -1])
    src = write_mat(tmp_path / "upstream" / "lung.mat", np.arange(24.0).reshape(8, 3), labels)
    spec = DatasetSpec("lung", "mat", (FileSpec("lung.mat", src.as_uri(), "git-blob",
                                                git_blob(src.read_bytes())),))
    monkeypatch.setitem(REGISTRY, "lung", spec)
    return src, spec


def test_download_via_file_url(tmp_path, fake_mat):
    src, _ = fake_mat
    root = tmp_path / "data" / "deeper"
    d = load_dataset("lung", data_dir=root, download=True, test_size=0.5, standardize=False)
    assert (root / "lung.mat").read_bytes() == src.read_bytes()
    assert sorted(p.name for p in root.iterdir()) == ["lung.mat"]  # no temporary left over
    assert d.classes.tolist() == [-1, 1] and (len(d.y_train), len(d.y_test)) == (4, 4)
    src.unlink()  # present files are not downloaded again, only verified
    again = load_dataset("lung", data_dir=root, download=True, test_size=0.5,
                         standardize=False)
    np.testing.assert_array_equal(again.X_train, d.X_train)


def test_download_checksum_mismatch_leaves_nothing(tmp_path, fake_mat, monkeypatch):
    src, spec = fake_mat
    bad = FileSpec("lung.mat", src.as_uri(), "git-blob", "0" * 40)
    monkeypatch.setitem(REGISTRY, "lung", DatasetSpec("lung", "mat", (bad,)))
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match=r"git-blob checksum [0-9a-f]{40}, expected 0{40}"):
        load_dataset("lung", data_dir=root, download=True)
    assert not list(root.iterdir())


def test_download_failure_leaves_nothing(tmp_path):
    missing = (tmp_path / "no-such-file.mat").as_uri()
    with pytest.raises(OSError, match="no-such-file.mat"):
        fetch_file(missing, tmp_path / "data" / "x.mat", "sha256", "0" * 64)
    assert not list((tmp_path / "data").iterdir())


def test_present_files_are_verified_by_default(tmp_path, fake_mat):
    """Another file saved under a registered name is refused, naming it (verify=False trusts it)."""
    src, _ = fake_mat
    root = tmp_path / "data"
    write_mat(root / "lung.mat", np.ones((4, 3)), [1, 2, 1, 2])  # a different file
    with pytest.raises(ChecksumError, match=re.escape(str(root / "lung.mat"))):
        load_dataset("lung", data_dir=root, test_size=0.5)
    with pytest.raises(ChecksumError, match="expected"):
        load_dataset("lung", data_dir=root, test_size=0.5, verify=True)
    assert load_dataset("lung", data_dir=root, test_size=0.5, verify=False).X_train.shape[1] == 3
    with pytest.raises(ChecksumError):
        load_dataset("lung", data_dir=root, test_size=0.5, download=True)
    assert (root / "lung.mat").read_bytes() != src.read_bytes()  # never overwritten


def test_idx_dataset_end_to_end_via_file_urls(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (6, 2, 3), dtype=np.uint8), np.array([3, 1, 3, 7, 1, 3], "u1"),
              rng.integers(0, 256, (2, 2, 3), dtype=np.uint8), np.array([7, 1], "u1")]
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    files = []
    for stem, array in zip(["train-images", "train-labels", "t10k-images", "t10k-labels"],
                           arrays):
        raw = idx_bytes(array)
        (upstream / f"{stem}.gz").write_bytes(gzip.compress(raw))
        files.append(FileSpec(f"mnist/{stem}.gz", (upstream / f"{stem}.gz").as_uri(),
                              "md5-gunzip", hashlib.md5(raw).hexdigest()))
    monkeypatch.setitem(REGISTRY, "mnist", DatasetSpec("mnist", "idx", tuple(files)))
    d = load_dataset("MNIST", data_dir=tmp_path / "data", download=True, test_size=0.5,
                     standardize=False)
    assert d.X_train.shape == (6, 6) and d.X_test.shape == (2, 6)
    np.testing.assert_array_equal(d.X_train, arrays[0].reshape(6, 6).astype(np.float64))
    assert d.classes.tolist() == [1, 3, 7]
    assert d.y_train.tolist() == [1, 0, 1, 2, 0, 1] and d.y_test.tolist() == [2, 0]
    s = load_dataset("mnist", data_dir=tmp_path / "data")
    np.testing.assert_allclose(s.X_train.mean(axis=0), 0.0, atol=1e-12)


# ----------------------------------------------------------------------------- corrupt files

def test_idx_reader_roundtrip(tmp_path):
    array = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(array))
    out = read_idx(path, expected_ndim=3)
    assert out.dtype == np.int32 and out.dtype.isnative and out.flags.writeable
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("content, match", [
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "holds 2 data bytes"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x01\x01", "announcing 3 dimensions, expected 1"),
    (b"\x12\x34\x08\x01\x00\x00\x00\x01\x01", "bad magic number 0x12340801"),
    (b"\x00\x00\x42\x01\x00\x00\x00\x01\x01", "bad magic number"),
    (b"\x00\x00\x08\x01\x00\x00", "truncated inside its IDX header"),
    (b"", "bad magic number"),
    (b"\x1f\x8b not really gzip", "not a valid gzip file"),
    (gzip.compress(idx_bytes(np.zeros(4, "u1")))[:-6], "not a valid gzip file"),
])
def test_corrupt_idx_raises_value_error_naming_the_file(tmp_path, content, match):
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path, expected_ndim=1)
    assert str(path) in str(info.value)


def test_corrupt_idx_inside_load_dataset(tmp_path):
    (tmp_path / "fashion-mnist").mkdir()
    for f in get_spec("fashion-mnist").files:
        (tmp_path / f.relpath).write_bytes(gzip.compress(b"\x00\x00\x08\x02garbage"))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        load_dataset("fashion-mnist", data_dir=tmp_path)


def test_corrupt_or_foreign_mat_files(tmp_path):
    (tmp_path / "colon.mat").write_bytes(b"this is not a MATLAB file at all" * 10)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "colon.mat"))):
        load_dataset("colon", data_dir=tmp_path, verify=False)
    scipy.io.savemat(tmp_path / "GLIOMA.mat", {"X": np.ones((3, 2)), "labels": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"lacks the variable\(s\) Y .*found: X, labels"):
        load_dataset("GLIOMA", data_dir=tmp_path, verify=False)


# ----------------------------------------------------------------------------- Dataset

def test_dataset_converts_and_validates():
    d = Dataset("toy", [[1, 2]], np.array([1], dtype=np.uint8), np.zeros((2, 2), np.float32),
                [0, 0], np.array(["a", "b"]))
    assert d.X_train.dtype == np.float64 and d.X_test.dtype == np.float64
    assert d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert d.summary() == "toy: 1 train / 2 test, 2 features, 2 classes"
    with pytest.raises(ValueError, match=r"y_train must be in \[0, 1\]"):
        Dataset("toy", [[1.0]], [2], [[1.0]], [0], [5, 6])
    with pytest.raises(ValueError, match=r"y_test must have shape \(1,\)"):
        Dataset("toy", [[1.0]], [0], [[1.0]], [0, 1], [5, 6])
    with pytest.raises(ValueError, match="X_test has 2 features, but X_train has 1"):
        Dataset("toy", [[1.0]], [0], [[1.0, 2.0]], [0], [5, 6])
    with pytest.raises(AttributeError):
        d.name = "other"
