"""Choice of kernel backend: the compiled Cython kernels or their numpy twins.

``REFSET_BACKEND=auto|cython|numpy`` selects at import time (``auto``, the default, uses the
compiled kernels when they were built and falls back to numpy otherwise).
``REFSET_REQUIRE_EXT=1`` turns a missing compiled extension into an ImportError, so that CI
can never pass silently on the fallback.  :func:`set_backend` switches at run time.
Training on the fallback warns once per process (:func:`warn_if_fallback`, called by
``SparseMLP.fit``): it is about 30 times slower.
"""
import importlib
import os
import types
import warnings

_CHOICES = ("auto", "cython", "numpy")
_FALLBACK = "fallback:"      # how the reason of a numpy backend nobody asked for begins
_PACKAGE = "refset.kernels"

# One row per compiled module: (compiled module, numpy twin module, kernel names).  Every
# compiled kernel has a twin of the same name and signature; the twin is the specification.
KERNEL_MODULES = (
    ("_coo_cy", "coo", ("coo_forward", "coo_backward", "coo_gradient", "sgd_update",
                             "coo_backward_update")),
    ("_csr_cy", "csr", ("csr_forward", "csr_backward_update")),
    ("_paths_cy", "paths", ("path_products", "segment_search")),
    ("_ch3_cy", "ch3", ("ch3_l3_scores", "ch3_l3_top_k")),
    ("_rows_cy", "rows", ("add_bias", "row_sums")),
)
KERNEL_NAMES = tuple(name for _, _, names in KERNEL_MODULES for name in names)

__all__ = ["get_kernels", "set_backend", "get_backend", "backend_reason", "compiled_available",
           "warn_if_fallback"]


def _import_compiled():
    """Import every compiled module; returns ({kernel: function}, None) or (None, error)."""
    found = {}
    for module, _, names in KERNEL_MODULES:
        try:
            mod = importlib.import_module(f"{_PACKAGE}.{module}")
        except ImportError as exc:  # not built (REFSET_NO_EXT=1, no compiler, source checkout)
            return None, exc
        missing = [k for k in names if not hasattr(mod, k)]
        if missing:  # an editable install whose .so predates a kernel: never mix the two
            return None, ImportError(f"stale build of refset.kernels.{module}, it lacks "
                                     f"{', '.join(missing)}; rerun pip install -e .")
        found.update({k: getattr(mod, k) for k in names})
    return found, None


def _import_twins():
    found = {}
    for _, module, names in KERNEL_MODULES:
        mod = importlib.import_module(f"{_PACKAGE}.{module}")
        found.update({k: getattr(mod, k) for k in names})
    return found


_COMPILED, _IMPORT_ERROR = _import_compiled()
_TWINS = _import_twins()
_EXT_NAMES = ", ".join(f"refset.kernels.{module}" for module, _, _ in KERNEL_MODULES)


def compiled_available():
    """True when every compiled extension (``refset.kernels._coo_cy``, ...) was built and imports."""
    return _COMPILED is not None


def _namespace(name):
    source = _COMPILED if name == "cython" else _TWINS
    ns = types.SimpleNamespace(name=name)
    for kernel in KERNEL_NAMES:
        setattr(ns, kernel, source[kernel])
    return ns


def _resolve(choice):
    if choice not in _CHOICES:
        raise ValueError(f"backend must be one of {', '.join(_CHOICES)}, got {choice!r}")
    if choice == "numpy":
        return "numpy", "selected explicitly"
    if compiled_available():
        return "cython", f"compiled extensions {_EXT_NAMES}"
    if choice == "cython" or os.environ.get("REFSET_REQUIRE_EXT") == "1":
        raise ImportError(
            f"the compiled extensions {_EXT_NAMES} are not available "
            f"({_IMPORT_ERROR}); reinstall refset with a C compiler and Cython, "
            "or set REFSET_BACKEND=numpy"
        )
    return "numpy", f"{_FALLBACK} compiled extension not built ({_IMPORT_ERROR})"


_active, _reason = _resolve(os.environ.get("REFSET_BACKEND", "auto").strip().lower() or "auto")
_warned = False              # warn_if_fallback has warned in this process


def set_backend(name):
    """Select the kernel backend for everything that runs afterwards.

    Parameters
    ----------
    name : {"auto", "cython", "numpy"}

    Returns
    -------
    str
        The backend now active.
    """
    global _active, _reason
    _active, _reason = _resolve(name)
    return _active


def get_backend():
    """Name of the active backend, ``"cython"`` or ``"numpy"``."""
    return _active


def backend_reason():
    """Why the active backend was chosen (one line)."""
    return _reason


def get_kernels(name=None):
    """The kernel functions of a backend as a namespace.

    Parameters
    ----------
    name : {"cython", "numpy"} or None
        None means the active backend.

    Examples
    --------
    >>> get_kernels("numpy").name
    'numpy'
    """
    if name is None:
        name = _active
    elif name not in ("cython", "numpy"):
        raise ValueError(f"backend must be 'cython' or 'numpy', got {name!r}")
    if name == "cython" and not compiled_available():
        raise ImportError(f"the compiled extensions {_EXT_NAMES} are not available "
                          f"({_IMPORT_ERROR})")
    return _namespace(name)


def warn_if_fallback(requested=None, stacklevel=3):
    """Warn, once per process, when the numpy twins run because the compiled kernels are missing.

    Silent when the numpy backend was asked for (``REFSET_BACKEND=numpy``,
    ``set_backend("numpy")``, or ``requested="numpy"`` — an estimator's ``backend``), when
    ``requested`` names a backend (``"cython"`` raises elsewhere if it is missing), and after
    the first warning.  ``SparseMLP.fit`` calls it with its ``backend``.

    Parameters
    ----------
    requested : {None, "cython", "numpy"}
        The backend the caller asked for; None means the active one.
    stacklevel : int
        Passed to :func:`warnings.warn` (3: the caller of the caller, e.g. of ``fit``).

    Returns
    -------
    bool
        True if it warned now.
    """
    global _warned
    if (_warned or requested is not None or _active != "numpy" or _COMPILED is not None
            or not _reason.startswith(_FALLBACK)):
        return False
    _warned = True
    error = _IMPORT_ERROR if _IMPORT_ERROR is not None else _reason[len(_FALLBACK):]
    reason = " ".join(str(error).split()) or "no reason given"
    warnings.warn(
        f"refset is using the numpy kernels because the compiled ones were not built "
        f"({reason}): training is about 30x slower; reinstall with a C compiler "
        "(pip install --force-reinstall --no-cache-dir .) or set REFSET_BACKEND=numpy to "
        "silence this", UserWarning, stacklevel=stacklevel)
    return True
