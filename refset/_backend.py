"""Choice of kernel backend: the compiled Cython kernels or their numpy twins.

``REFSET_BACKEND=auto|cython|numpy`` selects at import time (``auto``, the default, uses the
compiled kernels when they were built and falls back to numpy otherwise).
``REFSET_REQUIRE_EXT=1`` turns a missing compiled extension into an ImportError, so that CI
can never pass silently on the fallback.  :func:`set_backend` switches at run time.
"""
import os
import types

from . import _kernels

_CHOICES = ("auto", "cython", "numpy")
KERNEL_NAMES = ("coo_forward", "coo_backward", "coo_gradient", "sgd_update")

__all__ = ["get_kernels", "set_backend", "get_backend", "backend_reason", "compiled_available"]


try:
    from . import _coo_cy
    _IMPORT_ERROR = None
except ImportError as exc:  # not built (REFSET_NO_EXT=1, no compiler, or a source checkout)
    _coo_cy = None
    _IMPORT_ERROR = exc
else:
    _missing = [k for k in KERNEL_NAMES if not hasattr(_coo_cy, k)]
    if _missing:  # an editable install whose .so predates a kernel: never mix the two
        _coo_cy = None
        _IMPORT_ERROR = ImportError(f"stale build, it lacks {', '.join(_missing)}; "
                                    "rerun pip install -e .")


def compiled_available():
    """True when the compiled extension ``refset._coo_cy`` was built and imports."""
    return _coo_cy is not None


def _namespace(name):
    source = _coo_cy if name == "cython" else _kernels
    ns = types.SimpleNamespace(name=name)
    for kernel in KERNEL_NAMES:
        setattr(ns, kernel, getattr(source, kernel))
    return ns


def _resolve(choice):
    if choice not in _CHOICES:
        raise ValueError(f"backend must be one of {', '.join(_CHOICES)}, got {choice!r}")
    if choice == "numpy":
        return "numpy", "selected explicitly"
    if compiled_available():
        return "cython", "compiled extension refset._coo_cy"
    if choice == "cython" or os.environ.get("REFSET_REQUIRE_EXT") == "1":
        raise ImportError(
            "the compiled extension refset._coo_cy is not available "
            f"({_IMPORT_ERROR}); reinstall refset with a C compiler and Cython, "
            "or set REFSET_BACKEND=numpy"
        )
    return "numpy", f"fallback: compiled extension not built ({_IMPORT_ERROR})"


_active, _reason = _resolve(os.environ.get("REFSET_BACKEND", "auto").strip().lower() or "auto")


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
        raise ImportError(f"the compiled extension refset._coo_cy is not available ({_IMPORT_ERROR})")
    return _namespace(name)
