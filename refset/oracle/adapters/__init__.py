"""Oracle adapters shipped with refset.

- :mod:`refset.oracle.adapters.cython` and :mod:`~refset.oracle.adapters.numpy`: refset
  itself with its compiled kernels or with their numpy twins (the cases are generated from
  the numpy twins).
- :mod:`~refset.oracle.adapters.torch_dense`: an independent implementation with dense
  masked PyTorch weights, written from the documentation (needs torch).
- :mod:`~refset.oracle.adapters.mutants`: refset with one realistic bug each, to show which
  cases catch which bug.
"""
