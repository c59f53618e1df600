"""The same seed gives the same run whatever the build flags: native and portable builds agree.

``setup.py`` compiles the kernels with ``-march=native`` unless ``REFSET_PORTABLE=1``, and always
with ``-ffp-contract=off``.  This test compiles the kernels again from ``_ext/`` in a
temporary directory — once portable, and, on a CPU with FMA, once native *with* contraction
allowed (``-ffp-contract=fast``, the compilers' default before refset switched it off) — swaps
them in for the installed compiled kernels, and trains the same short runs with each:

- the portable build must reproduce the installed build's run bit for bit (every weight and
  bias, SET and CHT, float32 and float64, batch 2 and 128);
- the build with contraction must *not* (this shows the comparison can see an FMA's missing
  rounding; skipped on CPUs without FMA).

It needs the source checkout (``setup.py``, ``_ext/``, ``tools/build_kernels.py``), Cython and a
C compiler; the two builds take about a minute.
"""
import contextlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import refset
from refset.kernels import backend

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

MODULES = ("refset.kernels._coo_cy", "refset.kernels._csr_cy", "refset.kernels._rows_cy",
           "refset.kernels._ch3_cy")


def _requirements():
    if not all((REPO / name).is_file() for name in ("setup.py", "_ext/_coo.pyx",
                                                     "tools/build_kernels.py")):
        pytest.skip("needs the source checkout (setup.py, _ext/, tools/build_kernels.py)")
    if not backend.compiled_available():
        pytest.skip("the compiled kernels are not installed (the backend test fails for that)")
    pytest.importorskip("Cython", reason="building the kernels needs Cython (pip install cython)")


def _build(tmp_path, name, **env):
    out = tmp_path / name
    environ = dict(os.environ, REFSET_EXT_ONLY=",".join(MODULES), **env)
    for key in ("REFSET_NO_EXT", "REFSET_CYTHON_DEBUG"):
        environ.pop(key, None)
    result = subprocess.run([sys.executable, str(REPO / "tools" / "build_kernels.py"), str(out)],
                            env=environ, capture_output=True, text=True)
    assert result.returncode == 0, f"building the {name} kernels failed:\n{result.stderr[-3000:]}"
    kernels = {}
    for module in MODULES:
        leaf = module.rsplit(".", 1)[1]
        (path,) = (out / "refset" / "kernels").glob(f"{leaf}.*")
        spec = importlib.util.spec_from_file_location(f"refset_{name}.{leaf}", path)
        compiled = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(compiled)
        kernels.update({k: getattr(compiled, k) for _, _, names in backend.KERNEL_MODULES
                        for k in names if hasattr(compiled, k)})
    return kernels


@contextlib.contextmanager
def _compiled_kernels(kernels):
    """Run with ``kernels`` in place of the installed compiled ones (same names)."""
    saved = dict(backend._COMPILED)
    backend._COMPILED.update(kernels)
    try:
        yield
    finally:
        backend._COMPILED.clear()
        backend._COMPILED.update(saved)


RUNS = [  # (method, dtype, batch_size)
    ("set", "float64", 2), ("set", "float32", 128), ("cht", "float64", 16),
    ("cht", "float32", 128),
]


def _train_all():
    X, y = refset.make_synthetic(n_samples=400, n_features=32, n_classes=4, seed=0)
    states = {}
    for method, dtype, batch in RUNS:
        hidden = (32, 32) if method == "cht" else (48, 48)
        options = {"sparsity": 0.8} if method == "cht" else None
        model = refset.SparseMLP(hidden, epsilon=4, epochs=4, batch_size=batch, dtype=dtype,
                                 method=method, method_options=options, seed=3,
                                 backend="cython")
        model.fit(X, y)
        states[method, dtype, batch] = [a.copy() for W, b in zip(model.layers_, model.biases_)
                                        for a in (W.values, b)]
    return states


def _differing(a, b):
    return sorted(key for key in a if len(a[key]) != len(b[key])
                  or not all(np.array_equal(x, y) for x, y in zip(a[key], b[key])))


def _has_fma():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return " fma" in f.read()
    except OSError:
        return False


@pytest.fixture(scope="module")
def portable_run(tmp_path_factory):
    """The short runs trained with a portable build (built once for both tests)."""
    _requirements()
    with _compiled_kernels(_build(tmp_path_factory.mktemp("kernels"), "portable",
                                  REFSET_PORTABLE="1")):
        return _train_all()


def test_native_and_portable_builds_train_identically(portable_run):
    differing = _differing(_train_all(), portable_run)
    assert not differing, (
        f"the portable build trains differently from the installed one in runs {differing}: "
        "was the installed build compiled with floating-point contraction (REFSET_CFLAGS, an "
        "old setup.py)?")


def test_the_comparison_sees_fused_multiply_adds(portable_run, tmp_path):
    if not _has_fma() or sys.platform != "linux":
        pytest.skip("the CPU has no FMA instructions (nothing to contract)")
    with _compiled_kernels(_build(tmp_path, "contracted", REFSET_CFLAGS="-ffp-contract=fast")):
        contracted = _train_all()
    differing = _differing(portable_run, contracted)
    assert differing, "a native build with FMA contraction trained bit-identically to the " \
        "portable one: the comparison cannot see contraction"
