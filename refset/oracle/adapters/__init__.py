"""Oracle adapters shipped with refset.

- :mod:`refset.oracle.adapters.cython` and :mod:`~refset.oracle.adapters.numpy`: refset
  itself with its compiled kernels or with their numpy twins (the cases are generated from
  the numpy twins).
- ``examples/oracle/torch_dense.py`` (in the repository, not the package): an independent
  implementation with dense masked PyTorch weights, written from the documentation.
- :mod:`~refset.oracle.adapters.mutants`: refset with one realistic bug each, to show which
  cases catch which bug.
"""
