"""The compiled kernels, their numpy twins, and the backend that chooses between them.

Every kernel exists twice, with the same name and signature:

==============================  ============================  =================================
numpy twin (the specification)  compiled (Cython, ``_ext``)   kernels
==============================  ============================  =================================
:mod:`refset.kernels.coo`       ``refset.kernels._coo_cy``    ``coo_forward``, ``coo_backward``,
                                                              ``coo_gradient``, ``sgd_update``,
                                                              ``coo_backward_update``
:mod:`refset.kernels.csr`       ``refset.kernels._csr_cy``    ``csr_forward``,
                                                              ``csr_backward_update``
:mod:`refset.kernels.paths`     ``refset.kernels._paths_cy``  ``path_products``,
                                                              ``segment_search``
:mod:`refset.kernels.ch3`       ``refset.kernels._ch3_cy``    ``ch3_l3_scores``, ``ch3_l3_top_k``
:mod:`refset.kernels.rows`      ``refset.kernels._rows_cy``   ``add_bias``, ``row_sums``
==============================  ============================  =================================

The twins are plain numpy and define what each kernel computes; the compiled ones are only
faster, and the tests hold both to the same results.  :mod:`refset.kernels.backend` picks one
set (``REFSET_BACKEND=auto|cython|numpy``; ``REFSET_REQUIRE_EXT=1`` makes a missing compiled
extension an error) and everything in refset calls the kernels through :func:`get_kernels`.

Examples
--------
>>> import numpy as np
>>> from refset.kernels import get_kernels
>>> k = get_kernels("numpy")
>>> k.coo_forward(np.array([[1.0], [10.0]]), np.array([0, 1]), np.array([1, 0]),
...               np.array([2.0, 3.0]), np.empty((2, 1)))[:, 0]
array([30.,  2.])
"""
from .backend import (backend_reason, compiled_available, get_backend, get_kernels,
                      set_backend)

__all__ = ["backend_reason", "compiled_available", "get_backend", "get_kernels", "set_backend"]
