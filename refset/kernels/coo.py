"""Numpy twins of the compiled COO kernels: the normative specification.

Each function here has a Cython twin with the same name and signature in ``_ext/_coo.pyx``
(compiled to ``refset.kernels._coo_cy``); the Cython code is only an optimisation and the tests check
that both agree (float64 to rtol 1e-12, float32 to 1e-5).

Conventions (PERFORMANCE §2)
-------------------------------
- Activations and deltas are *feature-major*: ``X`` has shape ``(n_in, B)`` and ``D`` has
  shape ``(n_out, B)`` for a batch of ``B`` samples.
- A layer with weight matrix ``W`` of shape ``(n_in, n_out)`` is given by its links
  ``rows``, ``cols`` (int64) and ``values`` (float32 or float64), in any order.  The compiled
  kernels are fastest when the links are sorted by destination (``cols`` for the forward
  pass, ``rows`` for the backward pass), or by destination within consecutive segments
  (cache tiles, ``refset.estimator.mlp.forward_order``); they then sum each destination's links per
  segment and add the segments' sums, which can differ from the twins' link-by-link sums in
  the last bits.
- Outputs are preallocated by the caller and overwritten; each function also returns ``out``.
- ``threads`` is the number of compute threads of the compiled kernels; the twins ignore it.

Examples
--------
>>> import numpy as np
>>> rows, cols = np.array([0, 1]), np.array([1, 0])
>>> values = np.array([2.0, 3.0])
>>> X = np.array([[1.0], [10.0]])          # two inputs, batch of one
>>> coo_forward(X, rows, cols, values, np.empty((2, 1)))[:, 0]
array([30.,  2.])
"""
import numpy as np

__all__ = ["coo_forward", "coo_backward", "coo_gradient", "sgd_update", "coo_backward_update"]


def coo_forward(X, rows, cols, values, out, threads=1, perm=None):
    r"""Forward product of a sparse layer, ``out = Wᵀ X``.

    Parameters
    ----------
    X : ndarray of shape (n_in, B)
        Input activations, feature-major.
    rows, cols : ndarray of shape (nnz,), int64
        Link endpoints.
    values : ndarray of shape (nnz,), same dtype as ``X``
        Link weights.
    out : ndarray of shape (n_out, B)
        Overwritten with :math:`\mathrm{out}_{jb} = \sum_{k:\,c_k = j} w_k X_{r_k b}`.
    threads : int, default 1
        Ignored here (compiled kernels only).
    perm : ndarray of shape (nnz,), int64, optional
        Link ``k``'s weight is ``values[perm[k]]`` (links listed in another order than
        ``values``, e.g. by column; the compiled twin reads them in place instead of
        gathering them first).

    Returns
    -------
    out : ndarray of shape (n_out, B)
    """
    if perm is not None:
        if perm.shape != rows.shape or values.shape != rows.shape:
            raise ValueError("coo_forward: inconsistent shapes of perm and values")
        values = values[perm]
    out[...] = 0
    np.add.at(out, cols, values[:, None] * X[rows])
    return out


def coo_backward(D, rows, cols, values, out, threads=1):
    r"""Backward product of a sparse layer, ``out = W D``.

    Parameters
    ----------
    D : ndarray of shape (n_out, B)
        Deltas of the layer's outputs, feature-major.
    rows, cols, values : ndarray of shape (nnz,)
        The layer's links (see :func:`coo_forward`).
    out : ndarray of shape (n_in, B)
        Overwritten with :math:`\mathrm{out}_{ib} = \sum_{k:\,r_k = i} w_k D_{c_k b}`.
    threads : int, default 1
        Ignored here (compiled kernels only).

    Returns
    -------
    out : ndarray of shape (n_in, B)
    """
    out[...] = 0
    np.add.at(out, rows, values[:, None] * D[cols])
    return out


def coo_gradient(X, D, rows, cols, out, threads=1):
    r"""Weight gradient on existing links only (an SDDMM).

    Parameters
    ----------
    X : ndarray of shape (n_in, B)
        Input activations of the layer, feature-major.
    D : ndarray of shape (n_out, B)
        Deltas of the layer's outputs, feature-major.
    rows, cols : ndarray of shape (nnz,), int64
        Link endpoints.
    out : ndarray of shape (nnz,)
        Overwritten with :math:`g_k = \sum_b X_{r_k b} D_{c_k b}`; ``X Dᵀ`` is never formed.
    threads : int, default 1
        Ignored here (compiled kernels only).

    Returns
    -------
    out : ndarray of shape (nnz,)
    """
    out[...] = np.einsum("kb,kb->k", X[rows], D[cols])
    return out


def sgd_update(values, velocity, grad, learning_rate, momentum, weight_decay, coupled, threads=1):
    r"""SGD with momentum and weight decay on a layer's links, in place.

    Parameters
    ----------
    values, velocity : ndarray of shape (nnz,)
        Weights and their momentum, updated in place.
    grad : ndarray of shape (nnz,)
        Gradient of the loss, aligned with ``values``.
    learning_rate, momentum, weight_decay : float
        η, μ, λ.
    coupled : bool
        True: :math:`v \leftarrow \mu v - \eta (g + \lambda w)`, :math:`w \leftarrow w + v`.
        False (the original SET code): :math:`v \leftarrow \mu v - \eta g`,
        :math:`w \leftarrow w + v - \lambda w` (decay not scaled by η; old w).
    threads : int, default 1
        Ignored here (compiled kernels only).

    Returns
    -------
    None
    """
    dtype = values.dtype.type
    lr, mu, lam = dtype(learning_rate), dtype(momentum), dtype(weight_decay)
    if coupled:
        velocity[...] = mu * velocity - lr * (grad + lam * values)
        values += velocity
    else:
        velocity[...] = mu * velocity - lr * grad
        values += velocity - lam * values


def coo_backward_update(X, D, rows, cols, values, velocity, out, learning_rate, momentum,
                        weight_decay, coupled, threads=1):
    r"""One layer's backward step fused: propagate, take the gradient, update the weights.

    Defined as the composition it replaces (the compiled twin does it in one pass over the
    links, reading each link once instead of three times)::

        coo_backward(D, rows, cols, values, out)          # with the weights before the update
        coo_gradient(X, D, rows, cols, g)
        sgd_update(values, velocity, g, learning_rate, momentum, weight_decay, coupled)

    Parameters
    ----------
    X : ndarray of shape (n_in, B)
        Input activations of the layer, feature-major.
    D : ndarray of shape (n_out, B)
        Deltas of the layer's outputs.
    rows, cols : ndarray of shape (nnz,), int64
    values, velocity : ndarray of shape (nnz,)
        Updated in place.
    out : ndarray of shape (n_in, B) or None
        Overwritten with ``W D`` (old weights); None skips the propagation (first layer).
    learning_rate, momentum, weight_decay, coupled
        As in :func:`sgd_update`.
    threads : int, default 1
        Ignored here (compiled kernels only).

    Returns
    -------
    out : ndarray or None

    Examples
    --------
    >>> import numpy as np
    >>> X, D = np.array([[1.0], [2.0]]), np.array([[3.0]])
    >>> rows, cols = np.array([0, 1]), np.array([0, 0])
    >>> w, v = np.array([0.5, -1.0]), np.zeros(2)
    >>> coo_backward_update(X, D, rows, cols, w, v, np.empty((2, 1)), 0.1, 0.0, 0.0, True)[:, 0]
    array([ 1.5, -3. ])
    >>> w                                          # w - 0.1 * [1*3, 2*3]
    array([ 0.2, -1.6])
    """
    if out is not None:
        coo_backward(D, rows, cols, values, out)
    grad = np.empty_like(values)
    coo_gradient(X, D, rows, cols, grad)
    sgd_update(values, velocity, grad, learning_rate, momentum, weight_decay, coupled)
    return out
