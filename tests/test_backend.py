"""Backend selection and show_config."""
import os
import subprocess
import sys
import tempfile

import pytest

import refset
from refset.kernels import backend as _backend


def _run(code, **env):
    """Run ``code`` in a fresh interpreter outside the source tree (the installed package)."""
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                          timeout=120, cwd=tempfile.gettempdir())


def test_show_config_reports_backend(capsys):
    info = refset.show_config()
    assert info["backend"] in ("cython", "numpy")
    assert info["dtypes"] == ["float32", "float64"] and info["threads_default"] == 1
    assert "backend" in capsys.readouterr().out


def test_env_selects_numpy():
    result = _run("import refset; print(refset.get_backend())", REFSET_BACKEND="numpy")
    assert result.stdout.strip() == "numpy"


def test_bad_env_value_is_an_error():
    result = _run("import refset", REFSET_BACKEND="fortran")
    assert result.returncode != 0 and "backend must be one of" in result.stderr


def test_set_backend_round_trip():
    active = refset.get_backend()
    try:
        assert refset.set_backend("numpy") == "numpy"
        assert refset.get_kernels().name == "numpy"
    finally:
        refset.set_backend(active)
    with pytest.raises(ValueError, match="backend"):
        refset.set_backend("gpu")


def test_required_extension_is_present():
    """CI sets REFSET_REQUIRE_EXT=1: the compiled kernels must have been built and loaded."""
    if os.environ.get("REFSET_REQUIRE_EXT") != "1":
        pytest.skip("REFSET_REQUIRE_EXT is not set")
    assert _backend.compiled_available()
    assert refset.show_config(print_out=False)["openmp"] in (True, False)
