r"""Erdős–Rényi sparse initialisation (ALGORITHMS §1).

Each sparse layer with ``n_in`` inputs and ``n_out`` outputs has link probability, Eq. (1) of
Cavallaro et al. (2020) (Mocanu et al. 2018):

.. math:: p(W_{ij}) = \frac{\varepsilon\,(n_{in} + n_{out})}{n_{in}\,n_{out}}

Walk-through: tutorials/01_erdos_renyi_and_set.py.

Deviations
----------
- ``mode="exact"`` (default) draws exactly ``M = round(ε (n_in + n_out))`` distinct positions
  (the G(n, M) model) instead of the original code's draws with replacement, whose duplicates
  collapse (slightly fewer than M links; a small output layer ends up about 98 % dense).
- ``mode="bernoulli"`` (the authors' Keras code) draws the link count from
  Binomial(n_in n_out, p) and then that many distinct uniform positions, which is the same
  distribution as independent Bernoulli(p) cells without materialising the n_in × n_out grid.
- ``mode="replacement"`` (the original SET code; :mod:`refset.fidelity` quirk
  ``er_with_replacement``) draws ``M`` cells uniformly *with* replacement (``integers`` of the
  stream) and keeps the distinct ones: on average ``C (1 - exp(-M / C))`` links for ``C``
  cells (125,441 of 126,240 for 3312 × 3000; a 3000 × 20 layer is about 63 % dense).  It does
  not repair isolated neurons (neither does the original).
- Isolated neurons are repaired by moving links (see :func:`refset.algorithms.topology.repair_isolation`);
  a layer that cannot avoid isolation (fewer than ``max(n_in, n_out)`` links) is an error.

References
----------
Mocanu, D. C. et al. (2018). Nat. Commun. 9, 2383.
Cavallaro, L. et al. (2020). Soft Computing 24, 17787.
"""
import warnings

import numpy as np

from .._validation import check_choice, check_float
from ..draws import as_draws
from .initializers import Normal
from ..sparse import CooMatrix
from .topology import repair_isolation

__all__ = ["erdos_renyi_probability", "erdos_renyi_count", "erdos_renyi_layer"]


def erdos_renyi_probability(n_in, n_out, epsilon):
    """Link probability ``ε (n_in + n_out) / (n_in n_out)``, capped at 1.

    Examples
    --------
    >>> erdos_renyi_probability(3000, 3000, 20)
    0.013333333333333334
    """
    return min(1.0, epsilon * (n_in + n_out) / (n_in * n_out))


def erdos_renyi_count(n_in, n_out, epsilon):
    """Link count of ``mode="exact"``: ``min(round(ε (n_in + n_out)), n_in n_out)``.

    Examples
    --------
    >>> erdos_renyi_count(3312, 3000, 20)
    126240
    """
    return int(min(round(epsilon * (n_in + n_out)), n_in * n_out))


def erdos_renyi_layer(n_in, n_out, epsilon, rng, *, mode="exact", init=None, dtype=np.float64,
                      repair=True):
    """Draw one Erdős–Rényi sparse layer with no isolated neuron.

    Parameters
    ----------
    n_in, n_out : int
        Widths of the layer's input and output.
    epsilon : float
        Sparsity parameter ε > 0 (larger is denser).
    rng : numpy.random.Generator or refset.draws.Draws
        Draws: (``binomial`` for ``mode="bernoulli"``), ``subset(n_in n_out, M)``, the
        isolation repair, then the ``M`` weights in increasing (row, col) order.
        ``mode="replacement"``: ``integers(n_in n_out)`` ``M`` times, then one weight per
        distinct cell in increasing (row, col) order.
    mode : {"exact", "bernoulli", "replacement"}
        ``"replacement"`` draws ``M`` cells with replacement (duplicates collapse) and leaves
        isolated neurons as they are (the original SET code).
    init : callable or None
        Weight initialiser ``init(rng, size, fan_in, fan_out, dtype)``; None gives
        ``Normal(0.1)``.  The topology is drawn first, then the weights.
    dtype : numpy dtype, float32 or float64
    repair : bool, default True
        Repair isolated neurons (False: leave them, as the authors' code does; quirk
        ``no_isolation_guard``).  ``mode="replacement"`` never repairs.

    Returns
    -------
    CooMatrix

    Examples
    --------
    >>> import numpy as np
    >>> W = erdos_renyi_layer(30, 20, 2.0, np.random.default_rng(0))
    >>> W.nnz == round(2.0 * (30 + 20))
    True
    >>> W = erdos_renyi_layer(3000, 20, 20, np.random.default_rng(0), mode="replacement")
    >>> W.nnz                      # 60,400 draws over 60,000 cells: 60,000 (1 - e^-1.007) = 38,074
    38143
    """
    epsilon = check_float("epsilon", epsilon, 0, None, low_open=True)
    check_choice("mode", mode, ("exact", "bernoulli", "replacement"))
    n_total = n_in * n_out
    rng = as_draws(rng)
    init = Normal() if init is None else init
    if mode == "replacement":
        draws = rng.integers(n_total, size=int(round(epsilon * (n_in + n_out))))
        linear = np.unique(np.asarray(draws, dtype=np.int64))
        values = init(rng, linear.size, n_in, n_out, dtype)
        return CooMatrix.from_linear(linear, values, (n_in, n_out))
    if mode == "exact":
        m = erdos_renyi_count(n_in, n_out, epsilon)
    else:
        m = int(rng.binomial(n_total, erdos_renyi_probability(n_in, n_out, epsilon)))
    needed = max(n_in, n_out)
    if m < needed and repair:
        raise ValueError(
            f"epsilon={epsilon:g} gives a {n_in} x {n_out} layer only {m} links, but at least "
            f"{needed} are needed so that no neuron is isolated; use epsilon >= "
            f"{needed / (n_in + n_out):.3g}")
    if m >= n_total:
        warnings.warn(f"epsilon={epsilon:g} makes the {n_in} x {n_out} layer dense "
                      f"({n_total} links)", stacklevel=2)
        linear = np.arange(n_total, dtype=np.int64)
    else:
        linear = rng.subset(n_total, m)
        if repair:
            linear = repair_isolation(linear, (n_in, n_out), rng)
    values = init(rng, linear.size, n_in, n_out, dtype)
    return CooMatrix.from_linear(linear, values, (n_in, n_out))
