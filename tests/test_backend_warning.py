"""Training on the numpy twins because the compiled kernels are missing warns, once, in one line.

The backend's state is set as an install without a C compiler leaves it (``_COMPILED`` None,
the numpy backend active by fallback); the twins compute what the kernels compute, so the
fits run, only slower.
"""
import warnings

import pytest

import refset
from refset.cli import main
from refset.kernels import backend

MISSING = ModuleNotFoundError("No module named 'refset.kernels._coo_cy'")
FALLBACK = f"fallback: compiled extension not built ({MISSING})"


@pytest.fixture
def fallback(monkeypatch):
    """The state of an install whose compiled kernels were not built, nothing warned yet."""
    monkeypatch.setattr(backend, "_COMPILED", None)
    monkeypatch.setattr(backend, "_IMPORT_ERROR", MISSING)
    monkeypatch.setattr(backend, "_active", "numpy")
    monkeypatch.setattr(backend, "_reason", FALLBACK)
    monkeypatch.setattr(backend, "_warned", False)


@pytest.fixture
def data():
    return refset.make_synthetic(n_samples=200, seed=1)


def _fit(data, **kw):
    return refset.SparseMLP((16,), epsilon=4, epochs=1, seed=0, **kw).fit(*data)


def _slow_warnings(record):
    return [w for w in record if "numpy kernels" in str(w.message)]


def test_fallback_warns_once_over_two_fits(fallback, data):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")          # a second warning would not be hidden
        _fit(data)
        _fit(data)
    (w,) = _slow_warnings(record)
    message = str(w.message)
    assert w.category is UserWarning and "\n" not in message
    assert message == (
        "refset is using the numpy kernels because the compiled ones were not built "
        "(No module named 'refset.kernels._coo_cy'): training is about 30x slower; reinstall "
        "with a C compiler (pip install --force-reinstall --no-cache-dir .) or set "
        "REFSET_BACKEND=numpy to silence this")
    assert w.filename == __file__                # points at the caller of fit


@pytest.mark.parametrize("how", ["REFSET_BACKEND=numpy", "set_backend", "estimator"])
def test_no_warning_when_numpy_was_asked_for(fallback, data, monkeypatch, how):
    kw = {}
    if how == "REFSET_BACKEND=numpy":            # the reason _resolve gives at import time
        monkeypatch.setattr(backend, "_reason", backend._resolve("numpy")[1])
    elif how == "set_backend":
        assert refset.set_backend("numpy") == "numpy"
    else:
        kw["backend"] = "numpy"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _fit(data, **kw)
        _fit(data, **kw)
    assert _slow_warnings(record) == []
    assert backend.warn_if_fallback("numpy") is False


def test_no_warning_with_the_compiled_kernels(monkeypatch, data):
    if not backend.compiled_available():
        pytest.skip("compiled extension not built")
    monkeypatch.setattr(backend, "_warned", False)
    monkeypatch.setattr(backend, "_active", "cython")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _fit(data)
    assert _slow_warnings(record) == []


def test_refset_train_warns_in_one_line(fallback, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)   # main() replaces it
    args = ["train", "--hidden", "16", "--epsilon", "3", "--epochs", "1", "--quiet",
            "--out", str(tmp_path / "run")]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(args) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "numpy kernels" in line]
    assert len(err) == 1
    assert err[0].startswith("refset: warning: refset is using the numpy kernels because the "
                             "compiled ones were not built (No module named")
    assert err[0].endswith("or set REFSET_BACKEND=numpy to silence this")
