"""Topology helpers shared by every method: degrees, isolation, sampling of free positions.

Links are handled as int64 *linear indices* ``row * n_out + col`` (sorted, unique), which
turns set operations on topologies into sorted-array operations (PERFORMANCE §2).

Isolation (ALGORITHMS §0): within one layer, every input (row) and every output (col) must
keep at least one link.  A hidden neuron is an output of one layer and an input of the next,
so "no row and no column of any layer is empty" is exactly "no isolated neuron".
"""
import numpy as np

from ..draws import as_draws

__all__ = ["isolated", "sample_free", "min_links_without_isolation", "repair_isolation"]


def isolated(rows, cols, shape):
    """Indices of empty rows and of empty columns.

    Returns
    -------
    iso_rows, iso_cols : ndarray of int64

    Examples
    --------
    >>> import numpy as np
    >>> isolated(np.array([0, 0]), np.array([0, 2]), (2, 3))
    (array([1]), array([1]))
    """
    return (np.flatnonzero(np.bincount(rows, minlength=shape[0]) == 0),
            np.flatnonzero(np.bincount(cols, minlength=shape[1]) == 0))


def min_links_without_isolation(shape):
    """Fewest links a layer can have with no empty row or column: ``max(n_in, n_out)``."""
    return max(int(shape[0]), int(shape[1]))


def sample_free(occupied, n_total, k, rng):
    """Draw ``k`` distinct positions uniformly among the cells not in ``occupied``.

    No rejection: ``k`` distinct ranks are drawn among the ``F = n_total - len(occupied)``
    free cells, and rank ``r`` is mapped to the ``r``-th free cell by a binary search against
    ``occupied[i] - i`` (the number of free cells before ``occupied[i]``).

    Parameters
    ----------
    occupied : ndarray of int64, sorted, unique
        Linear indices that must not be drawn.
    n_total : int
        Number of cells, ``n_in * n_out``.
    k : int
        How many positions to draw, at most the number of free cells.
    rng : numpy.random.Generator or refset.draws.Draws
        Draws: ``subset(F, k)`` (:mod:`refset.draws`).

    Returns
    -------
    ndarray of int64, shape (k,)
        Distinct free linear indices, sorted.

    Examples
    --------
    >>> import numpy as np
    >>> sorted(sample_free(np.array([0, 2]), 4, 2, np.random.default_rng(0)).tolist())
    [1, 3]
    """
    n_free = int(n_total) - occupied.size
    if k > n_free:
        raise ValueError(f"cannot place {k} links: only {n_free} free positions")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    ranks = as_draws(rng).subset(n_free, k)
    before = occupied - np.arange(occupied.size, dtype=np.int64)
    return ranks + np.searchsorted(before, ranks, side="right")


def repair_isolation(linear, shape, rng):
    """Move links so that no row or column is empty; the link count is unchanged.

    For each empty row ``i`` (in increasing order) a link ``(r, c)`` is drawn uniformly among
    the links whose row keeps another link, and moved to ``(i, c)``; then for each empty
    column ``j`` a link ``(r, c)`` whose column keeps another link moves to ``(r, j)``.  Moving
    along a column (or a row) keeps the other endpoint's degree, so a repair never isolates
    anything.

    Parameters
    ----------
    linear : ndarray of int64, sorted, unique
    shape : (n_in, n_out)
    rng : numpy.random.Generator or refset.draws.Draws
        Draws: one ``integers(len(movable))`` per empty row, then per empty column.

    Returns
    -------
    ndarray of int64, sorted, unique, same length as ``linear``

    Raises
    ------
    ValueError
        If there are fewer than ``max(n_in, n_out)`` links (no repair is possible).
    """
    n_in, n_out = shape
    rng = as_draws(rng)
    if linear.size < min_links_without_isolation(shape):
        raise ValueError(f"{linear.size} links cannot cover a {n_in} x {n_out} layer "
                         f"without isolated neurons (at least {max(n_in, n_out)} needed)")
    rows, cols = np.divmod(linear, np.int64(n_out))
    iso_rows, iso_cols = isolated(rows, cols, shape)
    if iso_rows.size == 0 and iso_cols.size == 0:
        return linear
    rows, cols = rows.copy(), cols.copy()
    for ends, others, empty, n in ((rows, cols, iso_rows, n_in), (cols, rows, iso_cols, n_out)):
        degree = np.bincount(ends, minlength=n)
        for neuron in empty:
            movable = np.flatnonzero(degree[ends] >= 2)
            k = movable[rng.integers(movable.size)]
            degree[ends[k]] -= 1
            degree[neuron] += 1
            ends[k] = neuron
    return np.sort(rows * np.int64(n_out) + cols)
