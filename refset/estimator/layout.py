"""The memory layout of the forward pass: the order in which it reads a layer's links.

A part of :class:`refset.SparseMLP`, which caches the order of each layer
(``_forward_plan`` in :mod:`refset.estimator.numerics`).  :mod:`refset.estimator.mlp` re-exports
:func:`forward_order` and its constants.

Notes
-----
The forward kernel reads the links in destination (column) order, PERFORMANCE §2's
layout, with the layer's values gathered into that order every batch, whenever
``threads > 1`` (each thread then owns disjoint output rows) or the batch has at least
``COLUMN_ORDER_MIN_BATCH`` = 128 columns (the compiled kernel then keeps each output row in
a fixed-size accumulator: 28-48 % faster than the canonical order, gather included, on
the benchmark's layers 3312 x 3000, 3000 x 3000 and 784 x 1000 in float32 and float64;
benchmarks/runs/2026-11-21-quick.txt).  Smaller batches on one thread read the canonical (row) order and skip the
gather, which would cost more than it saves.  Large inputs are read in cache tiles of input
rows (:func:`forward_order`); each output's sum is then grouped by tile, which changes its
last bits compared with the canonical order.  Where one and two threads read different
orders, those are the canonical and the plain column order, which give bit-identical sums
(each output's links in the same row order); whether to tile depends only on the layer, the
batch width and the dtype, never on ``threads`` (narrower batches are never tiled), so one
and two threads give identical runs.
"""
import numpy as np

#: Batch width from which the one-thread forward pass reads the links in column order (Notes).
COLUMN_ORDER_MIN_BATCH = 128
#: Cache tiles of the column-ordered forward pass: at most this many bytes of activations per
#: tile (a core's L2 is 2 MiB here) and at least this many links per output and tile.
TILE_BYTES = 1 << 20
TILE_MIN_LINKS = 8


def forward_order(W, batch, itemsize, *, threads=1):
    """The order in which the forward pass reads a layer's links: None for the canonical one.

    On one thread, batches narrower than :data:`COLUMN_ORDER_MIN_BATCH` read the canonical
    (row) order: no per-batch gather of the values.  Otherwise the links are sorted by
    destination column, so the compiled kernel sums each output row in an accumulator
    (PERFORMANCE §2).  When the input activations (``n_in x batch`` of ``itemsize`` bytes)
    are larger than :data:`TILE_BYTES`, the input rows are split into ``t`` tiles of about
    that size and the links ordered by (tile, column, row), so the rows in use stay in L2
    (PERFORMANCE §2.5).  Measured at 3312 x 3000, ε = 20, B = 128, float64: 4.7 ms in
    canonical order, 4.2 ms by column, 2.8-3.5 ms in 4 tiles (gather included).  A layer
    too large to tile (an output would get fewer than :data:`TILE_MIN_LINKS` links per
    tile) keeps the canonical order on one thread: the column order would not stay in
    cache either, and its index arrays would cost three int64 per link of memory (1 GB for
    a million-neuron network).  With ``threads > 1`` the links are always in column order
    (tiled when that pays), which the kernel needs to give threads disjoint outputs.

    Returns ``(tile_rows, perm)`` -- rows per tile (``n_in`` when not tiled) and the
    permutation of the links -- or None.  Tiling changes only how each output's sum is
    grouped; the order never depends on ``threads`` when it is not None.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import erdos_renyi_layer
    >>> W = erdos_renyi_layer(3312, 3000, 20, np.random.default_rng(0))
    >>> forward_order(W, 2, 8) is None, forward_order(W, 2, 8, threads=2)[0]
    (True, 3312)
    >>> forward_order(W, 128, 8)[0]            # 4 tiles of 828 input rows
    828
    """
    tile_rows = forward_tile_rows(W, batch, itemsize, threads=threads)
    return None if tile_rows is None else (tile_rows, tiled_order(W, tile_rows))


def forward_tile_rows(W, batch, itemsize, *, threads=1):
    """The first half of :func:`forward_order`, without sorting: None for the canonical
    order, else the input rows per tile (``n_in``: one tile, plain column order)."""
    n_in, n_out = W.shape
    if batch < COLUMN_ORDER_MIN_BATCH:                   # never tiled: see the Notes above
        return None if threads == 1 else n_in
    tiles = -(-n_in * batch * itemsize // TILE_BYTES)
    if tiles >= 2 and W.nnz >= tiles * TILE_MIN_LINKS * n_out:
        return -(-n_in // tiles)
    if tiles >= 2 and threads == 1:
        return None
    return n_in


def tiled_order(W, tile_rows):
    """The permutation ordering ``W``'s links by (row // tile_rows, column, row)."""
    if tile_rows >= W.shape[0]:                          # one tile: by (column, row)
        return np.argsort(W.cols * np.int64(W.shape[0]) + W.rows, kind="stable")
    return np.lexsort((W.rows, W.cols, W.rows // tile_rows))
