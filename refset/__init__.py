"""refset: a reference implementation of brain-inspired dynamic sparse training.

Truly sparse multilayer perceptrons (canonical COO layers, never a dense matrix with a mask),
Erdős–Rényi initialisation and Sparse Evolutionary Training (SET), on compiled COO kernels
whose numpy twins are the specification.

Examples
--------
>>> import refset
>>> data = refset.load_dataset("synthetic", seed=0)
>>> model = refset.SparseMLP((64, 64), epsilon=5, epochs=2, seed=0)
>>> model = model.fit(data.X_train, data.y_train)
>>> 0.0 <= model.score(data.X_test, data.y_test) <= 1.0
True
"""
import importlib
import os
import platform
import sys

from ._version import __version__  # noqa: E402

from .kernels.backend import get_backend, get_kernels, set_backend  # noqa: E402
from .algorithms import set_step  # noqa: E402
from .estimator.checkpoint import CheckpointError  # noqa: E402
from .datasets import Dataset, DatasetNotFoundError, load_dataset, make_synthetic  # noqa: E402
from .draws import Draws  # noqa: E402
from .algorithms.erdos_renyi import erdos_renyi_layer  # noqa: E402
from .estimator.mlp import SparseMLP  # noqa: E402
from ._validation import NotFittedError  # noqa: E402
from .sparse import CooMatrix, check_coo  # noqa: E402

__all__ = [
    "CheckpointError", "CooMatrix", "Dataset", "DatasetNotFoundError", "Draws", "NotFittedError",
    "SparseMLP",
    "check_coo", "erdos_renyi_layer", "get_backend", "get_kernels", "load_dataset",
    "make_synthetic", "set_backend", "set_step", "show_config", "__version__",
]


def show_config(print_out=True):
    """Report the active kernel backend and why, versions, dtypes and threads.

    Parameters
    ----------
    print_out : bool, default True
        Print the report; the dict is returned either way.

    Returns
    -------
    dict
    """
    import numpy
    import scipy

    from .kernels import backend as _backend

    info = {
        "refset": __version__,
        "backend": _backend.get_backend(),
        "backend_reason": _backend.backend_reason(),
        "compiled_extension": _backend.compiled_available(),
        "REFSET_BACKEND": os.environ.get("REFSET_BACKEND", "auto"),
        "REFSET_REQUIRE_EXT": os.environ.get("REFSET_REQUIRE_EXT", "0"),
        "dtypes": ["float32", "float64"],
        "index_dtype": "int64",
        "threads_default": 1,
        "openmp": False,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }
    if _backend.compiled_available():
        from .kernels import _coo_cy

        info["openmp"] = bool(_coo_cy.HAVE_OPENMP)
        info["extension_files"] = ", ".join(
            os.path.basename(importlib.import_module(f"refset.kernels.{module}").__file__)
            for module, _, _ in _backend.KERNEL_MODULES)
    if print_out:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return info
