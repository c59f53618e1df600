r"""SWI: sparse weight initialisation of CHT (Zhang et al. 2024, §3.2; ALGORITHMS §5.2).

A sparse layer whose outputs each receive on average :math:`(1 - S)\,n_{in}` links (sparsity
:math:`S`) keeps the variance of its pre-activations equal to that of a dense Kaiming-normal
layer when its weights are drawn with

.. math:: \sigma = \frac{\mathrm{gain}}{\sqrt{(1 - S)\,\mathrm{fan\_in}}}.

:class:`SWI` is an initialiser in the sense of :mod:`refset.algorithms.initializers`
(``init(rng, size, fan_in, fan_out, dtype)``); ``SparseMLP(weight_init="swi")`` uses it, and
CHT (:mod:`refset.algorithms.csti`, :mod:`refset.algorithms.cht`) draws the weights of its
initial and regrown links with it.

Deviations
----------
- The paper's ``fan_in`` is used, not the ``fan_out`` of a later version of the authors' code.
- An unbound ``SWI()`` is bound (:meth:`SWI.for_layer`) to the sparsity of the layer it draws
  for: at initialisation, and in an ESML step to the layer as it is after the update
  (percolation may have changed its shape).
"""
import math
from dataclasses import dataclass

import numpy as np

from ..draws import as_draws

__all__ = ["SWI"]


@dataclass(frozen=True)
class SWI:
    r"""Sparse weight initialisation of CHT (Zhang et al. 2024, §3.2; ALGORITHMS §5.2).

    :math:`w \sim N(0, \sigma^2)` with

    .. math:: \sigma = \frac{\mathrm{gain}}{\sqrt{(1 - S)\,\mathrm{fan\_in}}}

    where ``S`` is the layer's sparsity and ``gain = sqrt(2)`` for ReLU.  ``(1 - S) fan_in`` is
    the mean number of inputs per output, so at ``S = 0`` this is Kaiming normal.  The paper's
    ``fan_in`` is used, not the ``fan_out`` of a later version of the authors' code.

    Parameters
    ----------
    sparsity : float in [0, 1) or None
        The layer's sparsity ``1 - nnz / (n_in n_out)``.  None (unbound) until
        :meth:`for_layer` binds it; calling an unbound instance is an error.
    gain : float > 0, default sqrt(2)

    Examples
    --------
    >>> import numpy as np
    >>> init = SWI().for_layer(100, 50, 500)           # sparsity 0.9
    >>> round(init.std(100), 6)                        # sqrt(2) / sqrt(0.1 * 100)
    0.447214
    >>> init(np.random.default_rng(0), 3, 100, 50, np.float32).dtype
    dtype('float32')
    """

    sparsity: float = None
    gain: float = math.sqrt(2.0)

    def __post_init__(self):
        if self.sparsity is not None:
            s = self.sparsity
            if isinstance(s, bool) or not isinstance(s, (int, float, np.floating, np.integer)) \
                    or not 0.0 <= float(s) < 1.0:
                raise ValueError(f"sparsity must be a number in [0, 1), got {s!r}")
        g = self.gain
        if isinstance(g, bool) or not isinstance(g, (int, float, np.floating, np.integer)) \
                or not (math.isfinite(float(g)) and float(g) > 0):
            raise ValueError(f"gain must be a finite number > 0, got {g!r}")

    def for_layer(self, n_in, n_out, nnz):
        """A copy bound to the sparsity ``1 - nnz / (n_in n_out)`` of one layer.

        Examples
        --------
        >>> SWI().for_layer(10, 4, 10).sparsity
        0.75
        """
        for name, value in (("n_in", n_in), ("n_out", n_out), ("nnz", nnz)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if nnz > n_in * n_out:
            raise ValueError(f"nnz must be at most n_in * n_out = {n_in * n_out}, got {nnz}")
        return SWI(sparsity=1.0 - int(nnz) / (int(n_in) * int(n_out)), gain=self.gain)

    def std(self, fan_in):
        """σ for a layer with ``fan_in`` inputs."""
        if self.sparsity is None:
            raise ValueError("SWI needs the layer's sparsity: bind it with "
                             "SWI().for_layer(n_in, n_out, nnz) before drawing weights")
        return self.gain / math.sqrt((1.0 - self.sparsity) * fan_in)

    def __call__(self, rng, size, fan_in, fan_out, dtype):
        return (self.std(fan_in) * as_draws(rng).standard_normal(size)).astype(dtype, copy=False)
