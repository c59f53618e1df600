r"""An independent port of refset to PyTorch with dense masked weights, as an oracle adapter.

This module re-implements refset's contract functions (:mod:`refset.oracle`) the way an
engineer porting refset to PyTorch would: from the documentation only (docs/spec/algorithms.md, the
module docstrings of :mod:`refset.draws`, :mod:`refset.algorithms.erdos_renyi`, :mod:`refset.algorithms.topology`,
:mod:`refset.algorithms.initializers`, :mod:`refset.algorithms.sparse_evolutionary`,
:mod:`refset.algorithms.ch3_l3`, :mod:`refset.estimator.mlp`, and the ``pins`` of each case).  It
imports nothing from refset, so a passing case is evidence that the documentation pins the
behaviour and that both implementations agree.  Run it with::

    refset oracle check --adapter examples/oracle/torch_dense.py

Design
------
**Dense masked layers.**  A sparse layer of shape ``(n_in, n_out)`` is a pair of tensors: a
weight matrix ``W`` (float64, or float32 when the inputs are float32) and a boolean ``mask``;
``W`` is zero wherever ``mask`` is False.  Products are plain dense matmuls (``X @ W``,
``D @ W.T``), gradients are ``(X.T @ D)`` restricted to the mask, and a topology update edits
the mask.  The canonical link order of refset — increasing ``(row, col)`` — is simply the
row-major order of ``mask.nonzero()``, which is how layers are converted back into COO arrays
(:class:`Masked`).  This is the natural design for a GPU port of modest width; it costs
``n_in × n_out`` memory and is *not* how refset itself works (refset never forms a dense
matrix).

**The uniform stream.**  Randomness enters every stochastic function as ``uniforms``: a 1-D
float64 array of numbers in [0, 1) that refset recorded while it drew the expected result.
:class:`Uniforms` serves them in order and turns them into integers, normals, permutations,
subsets and weighted choices by the transforms of refset's ``draws`` module (normative):

- ``integers(n)`` = ``min(floor(u n), n - 1)``;
- ``standard_normal`` = ``ndtri((floor(u 2^53) + 1/2) / 2^53)`` (``torch.special.ndtri``);
- ``permutation(n)`` = stable argsort of ``n`` uniforms;
- ``subset(n, k)``: ``k`` distinct values by ``integers(n)`` skipping repeats (the ``n - k``
  left-out values instead when ``2k > n``), returned sorted; ``subsets`` draws several groups
  in *rounds* (each short group, in increasing order, draws what it still needs);
- ``choice(p=w)``: inverse CDF over ``cumsum(w)``, ``searchsorted(..., "right")``;
- ``binomial(n, p)``: the smallest ``k`` with ``CDF(k) >= u``.

What matters for a port is that each step consumes the stream in the documented order; the
step functions below say their order in their docstrings.

Coverage
--------
Every contract function: ``sparse_forward``, ``sparse_backward``, ``sparse_gradient``,
``ch3_l3_scores``, ``path_products``, ``path_importance`` (L0); ``erdos_renyi_layer``,
``swi_weights``, ``set_step``, ``sensitivity_step``, ``path_weight_step``, ``esml_step``
(L1); ``train`` for the methods ``"set"``, ``"path-weight"`` (without the time-varying
schedule), ``"sensitivity"`` and ``"cht"`` (L2).  Every stochastic function checks that it
consumed all of its uniforms (:meth:`Uniforms.finish`).  CPU only, one thread.  Run it against
the golden cases with ``refset oracle check --adapter examples/oracle/torch_dense.py``.

Requirement: PyTorch 2.1 or newer, refset's ``torch`` extra (``pip install "refset[torch]"``,
from a checkout ``pip install ".[torch]"``).  The CPU build is enough and much smaller than
the default CUDA one: ``pip install torch --index-url https://download.pytorch.org/whl/cpu``.
Without torch, importing this module fails with a one-line ``ModuleNotFoundError`` saying so.

Where the documentation was not enough
--------------------------------------
Three rules had to be read from refset's code; the functions that implement them say so:
the isolation repair lists its candidate links in their order *before* the repair, moved
links keeping their place (:func:`_repair_isolation`); SET with
``allow_regrow_removed=False`` falls back to every unoccupied cell (just-removed ones
included) when too few others are free (:func:`_set_update`; this port found that refset
counted a guard link restoring a removed cell twice there — fixed in refset); and training draws the dropout uniforms feature-major
(:func:`train`).  CH3-L3 scores that are mathematically equal are compared after rounding to
12 significant digits (:func:`_esml_update`), so ties fall to the documented (row, col) rule.
"""
import math

import numpy as np

try:
    import torch
except ModuleNotFoundError as exc:      # one line: refset oracle check prints it as it is
    if exc.name != "torch":
        raise
    raise ModuleNotFoundError(
        "this PyTorch port of refset needs torch>=2.1, which is not installed: "
        'pip install "refset[torch]" (in a checkout: pip install ".[torch]"), or the CPU build '
        "only: pip install torch --index-url https://download.pytorch.org/whl/cpu",
        name="torch") from None

__all__ = ["NAME", "Uniforms", "Masked", "sparse_forward", "sparse_backward", "sparse_gradient",
           "ch3_l3_scores", "path_products", "path_importance", "erdos_renyi_layer",
           "swi_weights", "set_step", "sensitivity_step", "path_weight_step", "esml_step",
           "train"]

NAME = "torch (dense masked)"

torch.set_num_threads(1)

_TWO53 = float(2 ** 53)


# ------------------------------------------------------------------------------------------
# layers
# ------------------------------------------------------------------------------------------

class LayerOut:
    """A returned layer: the four attributes the oracle compares (rows, cols, values, shape)."""

    __slots__ = ("rows", "cols", "values", "shape")

    def __init__(self, rows, cols, values, shape):
        self.rows, self.cols, self.values, self.shape = rows, cols, values, tuple(shape)

    def __repr__(self):
        return f"LayerOut(shape={self.shape}, nnz={self.rows.size})"


def _torch_dtype(np_dtype):
    return torch.float32 if np.dtype(np_dtype) == np.float32 else torch.float64


class Masked:
    """A layer as a dense weight matrix ``W`` (n_in, n_out) and a boolean ``mask``.

    ``W`` is 0 off the mask; a link may carry the value 0 (the mask, not the value, says
    which cells are links).
    """

    def __init__(self, W, mask):
        self.W, self.mask = W, mask

    @classmethod
    def from_layer(cls, layer, dtype=None):
        n_in, n_out = (int(n) for n in layer.shape)
        values = np.asarray(layer.values)
        tdtype = _torch_dtype(values.dtype if dtype is None else dtype)
        rows = torch.as_tensor(np.asarray(layer.rows, dtype=np.int64))
        cols = torch.as_tensor(np.asarray(layer.cols, dtype=np.int64))
        W = torch.zeros((n_in, n_out), dtype=tdtype)
        mask = torch.zeros((n_in, n_out), dtype=torch.bool)
        W[rows, cols] = torch.as_tensor(values).to(tdtype)
        mask[rows, cols] = True
        return cls(W, mask)

    @property
    def shape(self):
        return tuple(self.W.shape)

    def links(self):
        """``(rows, cols)`` of the links in canonical (row, col) order (row-major nonzero)."""
        idx = self.mask.nonzero()
        return idx[:, 0], idx[:, 1]

    def values(self):
        """Weights of the links in canonical order."""
        return self.W[self.mask]

    def to_layer(self):
        r, c = self.links()
        return LayerOut(r.numpy().astype(np.int64), c.numpy().astype(np.int64),
                        self.values().numpy().copy(), self.shape)


# ------------------------------------------------------------------------------------------
# the uniform stream
# ------------------------------------------------------------------------------------------

class Uniforms:
    """Recorded uniforms served in order, with refset's documented transforms.

    Examples
    --------
    >>> s = Uniforms(np.array([0.5, 0.25, 0.99]))
    >>> s.integers(4), s.integers(4), s.integers(4)
    (2, 1, 3)
    """

    def __init__(self, uniforms):
        self.u = np.asarray(uniforms, dtype=np.float64).ravel()
        self.pos = 0

    def finish(self):
        """Check that every uniform was used (a port that draws less has a different count or
        draw order, even if its output happens to agree)."""
        if self.pos != self.u.size:
            raise ValueError(f"only {self.pos} of the {self.u.size} uniforms were used")

    def random(self, n=None):
        """The next uniform (``n=None``) or the next ``n`` uniforms as an array."""
        m = 1 if n is None else int(n)
        if self.pos + m > self.u.size:
            raise ValueError(f"the uniforms ran out: {m} asked for after {self.pos} of "
                             f"{self.u.size}")
        out = self.u[self.pos:self.pos + m].copy()
        self.pos += m
        return float(out[0]) if n is None else out

    def integers(self, n, size=None):
        """``min(floor(u n), n - 1)``: an int, or an int64 array of ``size`` draws."""
        if n < 1:
            raise ValueError("integers: n must be >= 1")
        u = self.random(size)
        k = np.minimum(np.floor(np.asarray(u) * n).astype(np.int64), n - 1)
        return int(k) if size is None else k

    def standard_normal(self, size):
        """Normal quantile of each uniform's cell midpoint (float64 tensor of ``size``)."""
        u = torch.as_tensor(self.random(size))
        v = (torch.floor(u * _TWO53) + 0.5) / _TWO53
        return torch.special.ndtri(v)

    def permutation(self, n):
        """A permutation of ``range(n)``: the stable argsort of ``n`` uniforms."""
        return np.argsort(self.random(n), kind="stable")

    def subset(self, n, k):
        """``k`` distinct integers of ``[0, n)``, sorted."""
        return self.subsets([n], [k])[0]

    def subsets(self, sizes, counts):
        """One subset per group (``counts[g]`` of ``[0, sizes[g])``), drawn in rounds.

        In each round every group that is still short, in increasing group order, draws as
        many uniforms as it still needs (consecutively) and keeps the values it has not drawn
        before.  A group that needs more than half of its values draws the ones to leave out.
        Returns a list of sorted int64 arrays.
        """
        sizes = [int(s) for s in sizes]
        counts = [int(c) for c in counts]
        leave_out = [2 * c > s for s, c in zip(sizes, counts)]
        need = [s - c if lo else c for s, c, lo in zip(sizes, counts, leave_out)]
        drawn = [set() for _ in sizes]
        while any(need):
            for g, s in enumerate(sizes):
                if need[g] == 0:
                    continue
                u = self.random(need[g])
                for value in np.minimum(np.floor(u * s).astype(np.int64), s - 1).tolist():
                    if value not in drawn[g]:
                        drawn[g].add(value)
                        need[g] -= 1
        out = []
        for s, lo, d in zip(sizes, leave_out, drawn):
            if lo:
                d = set(range(s)) - d
            out.append(np.array(sorted(d), dtype=np.int64))
        return out

    def choice(self, weights, size):
        """``size`` indices drawn i.i.d. by the inverse CDF of non-negative ``weights``."""
        w = np.asarray(weights, dtype=np.float64)
        c = np.cumsum(w)
        last = int(np.flatnonzero(w > 0)[-1])
        u = self.random(size)
        return np.minimum(np.searchsorted(c, u * c[-1], side="right"), last).astype(np.int64)

    def binomial(self, n, p):
        """Binomial(n, p) by its quantile: the smallest ``k`` with ``CDF(k) >= u``."""
        u = self.random()
        if n == 0 or p == 0.0:
            return 0
        if p == 1.0:
            return n
        # the CDF summed in increasing k (each pmf from log-gamma)
        log_p, log_q = math.log(p), math.log1p(-p)
        cdf = 0.0
        for k in range(n + 1):
            log_pmf = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                       + k * log_p + (n - k) * log_q)
            cdf += math.exp(log_pmf)
            if cdf >= u:
                return k
        return n


def _normal01(stream, size, dtype):
    """``Normal(0.1)``: the default initialiser, ``0.1 * standard_normal`` per weight."""
    return (0.1 * stream.standard_normal(size)).to(dtype)


# ------------------------------------------------------------------------------------------
# L0: kernels
# ------------------------------------------------------------------------------------------

def sparse_forward(X, layer):
    """``X @ W`` for a batch-major ``X`` of shape (B, n_in).

    Examples
    --------
    >>> layer = LayerOut(np.array([0, 1]), np.array([1, 0]), np.array([2.0, 3.0]), (2, 2))
    >>> sparse_forward(np.array([[1.0, 10.0]]), layer)
    array([[30.,  2.]])
    """
    X = torch.as_tensor(np.asarray(X))
    W = Masked.from_layer(layer, X.numpy().dtype).W
    return (X @ W).numpy()


def sparse_backward(D, layer):
    """``D @ W.T`` for output deltas ``D`` of shape (B, n_out).

    Examples
    --------
    >>> layer = LayerOut(np.array([0, 1]), np.array([1, 0]), np.array([2.0, 3.0]), (2, 2))
    >>> sparse_backward(np.array([[1.0, 10.0]]), layer)
    array([[20.,  3.]])
    """
    D = torch.as_tensor(np.asarray(D))
    W = Masked.from_layer(layer, D.numpy().dtype).W
    return (D @ W.T).numpy()


def sparse_gradient(X, D, layer):
    """The layer with values ``(X.T @ D)`` on its links (the masked weight gradient).

    Examples
    --------
    >>> layer = LayerOut(np.array([0, 1]), np.array([1, 0]), np.array([2.0, 3.0]), (2, 2))
    >>> sparse_gradient(np.array([[1.0, 2.0]]), np.array([[5.0, 7.0]]), layer).values
    array([ 7., 10.])
    """
    X = torch.as_tensor(np.asarray(X))
    D = torch.as_tensor(np.asarray(D))
    m = Masked.from_layer(layer, X.numpy().dtype)
    G = X.T @ D
    return Masked(torch.where(m.mask, G, torch.zeros_like(G)), m.mask).to_layer()


def _ch3_l3(mask):
    r"""CH3-L3 scores of a boolean mask (ALGORITHMS §5.4), dense float64 tensor.

    Closed form with ``X`` the 0/1 mask, degrees ``d``, ``C_in = X Xᵀ``, ``C_out = Xᵀ X``:

    .. math:: S(u, v) = \sum_{i, j} \frac{X_{uj} X_{ij} X_{iv}}
              {\sqrt{(d_j - C_{out}[j, v])\,(d_i - C_{in}[i, u])}}

    computed row by row: for a fixed ``u``, ``P = (X_u ⊙ Xᵀ / √(d_i − C_in[i, u])) X`` sums over
    ``i`` and the sum over ``j`` is weighted by ``1 / √(d_j − C_out[j, v])``.  A denominator is
    at least 1 whenever its numerator is nonzero.  0 on the links.
    """
    X = mask.to(torch.float64)
    d_in, d_out = X.sum(1), X.sum(0)
    c_in, c_out = X @ X.T, X.T @ X
    a = d_out[:, None] - c_out                       # (j, v): d_j - C_out[j, v]
    inv_a = torch.where(a > 0, 1.0 / torch.sqrt(a.clamp(min=1)), torch.zeros_like(a))
    b = d_in[:, None] - c_in                         # (i, u): d_i - C_in[i, u]
    inv_b = torch.where(b > 0, 1.0 / torch.sqrt(b.clamp(min=1)), torch.zeros_like(b))
    scores = torch.zeros(X.shape, dtype=torch.float64)
    for u in range(X.shape[0]):
        M = X[u][:, None] * X.T * inv_b[:, u][None, :]   # (j, i): X_uj X_ij / sqrt(b_iu)
        P = M @ X                                        # (j, v): sum over i of ... X_iv
        scores[u] = (P * inv_a).sum(0)
    scores[mask] = 0.0
    return scores


def ch3_l3_scores(layer):
    """CH3-L3 score of every non-link of a layer, dense (n_in, n_out) (see :func:`_ch3_l3`).

    Examples
    --------
    The 4 × 4 fixture of ALGORITHMS §5.4 (squared scores):

    >>> rows, cols = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3]), np.array([0, 1, 0, 2, 1, 2, 3, 0, 3])
    >>> S = ch3_l3_scores(LayerOut(rows, cols, np.ones(9), (4, 4)))
    >>> np.round(S ** 2, 12)
    array([[0., 0., 2., 2.],
           [0., 2., 0., 2.],
           [9., 0., 0., 0.],
           [0., 2., 2., 0.]])
    """
    return _ch3_l3(Masked.from_layer(layer, np.float64).mask).numpy()


def path_products(layers, paths):
    """Product of ``|w|`` along each path; ``paths[p, l]`` = link index in layer ``l``'s
    canonical (row, col) order.

    Examples
    --------
    >>> W0 = LayerOut(np.array([0, 1]), np.array([1, 0]), np.array([2.0, -3.0]), (2, 2))
    >>> W1 = LayerOut(np.array([0, 1]), np.array([0, 0]), np.array([0.5, 4.0]), (2, 1))
    >>> path_products([W0, W1], np.array([[0, 1], [1, 0]]))      # 0 -> 1 -> 0, 1 -> 0 -> 0
    array([8. , 1.5])
    """
    paths = torch.as_tensor(np.asarray(paths, dtype=np.int64))
    out = torch.ones(paths.shape[0], dtype=torch.float64)
    for l, layer in enumerate(layers):
        a = Masked.from_layer(layer, np.float64).values().abs()
        out = out * a[paths[:, l]]
    return out.numpy()


def _path_sums(Ws):
    """Forward and backward sums of ``A^l = |W^l|`` (ALGORITHMS §4.1)."""
    A = [W.abs() for W in Ws]
    F = [torch.ones(A[0].shape[0], dtype=torch.float64)]
    for a in A:
        F.append(a.T @ F[-1])
    B = [torch.ones(A[-1].shape[1], dtype=torch.float64)]
    for a in reversed(A):
        B.insert(0, a @ B[0])
    return A, F, B


def path_importance(layers):
    """Node importance ``N(v) = F(v) B(v)`` per neuron layer and connection importance
    ``S(e) = F(u) |w_e| B(v)`` per layer (links in canonical order), with ``s_l = 1``.

    Examples
    --------
    >>> W0 = LayerOut(np.array([0, 1]), np.array([1, 0]), np.array([2.0, -3.0]), (2, 2))
    >>> W1 = LayerOut(np.array([0, 1]), np.array([0, 0]), np.array([0.5, 4.0]), (2, 1))
    >>> imp = path_importance([W0, W1])
    >>> [v.tolist() for v in imp["node"]], [v.tolist() for v in imp["link"]]
    ([[8.0, 1.5], [1.5, 8.0], [9.5]], [[8.0, 1.5], [1.5, 8.0]])
    """
    ms = [Masked.from_layer(L, np.float64) for L in layers]
    A, F, B = _path_sums([m.W for m in ms])
    node = [(f * b).numpy() for f, b in zip(F, B)]
    link = []
    for l, m in enumerate(ms):
        S = F[l][:, None] * A[l] * B[l + 1][None, :]
        link.append(S[m.mask].numpy())
    return {"node": node, "link": link}


# ------------------------------------------------------------------------------------------
# L1: initialisation and the SET step
# ------------------------------------------------------------------------------------------

def _repair_isolation(mask, stream):
    """Move links until no row and no column is empty (ALGORITHMS §1; link count unchanged).

    Each empty row ``i`` (increasing order) takes a link drawn by ``integers`` among the links
    whose row keeps another link, which moves to ``(i, col)``; then each empty column ``j``
    takes a link whose column keeps another, which moves to ``(row, j)``.

    The candidates are listed in the order of the links *before the repair* — their sorted
    (row, col) order — and a moved link keeps its place in that list: the list is not
    re-sorted between moves nor between the row and the column phase (refset's
    ``repair_isolation``; re-sorting the mask after each move, the natural dense
    implementation, draws different links as soon as two moves happen).
    """
    n_in, n_out = mask.shape
    rows, cols = (t.clone() for t in mask.nonzero().unbind(1))   # the slots, in sorted order
    empty_rows = (mask.sum(1) == 0).nonzero()[:, 0].tolist()
    empty_cols = (mask.sum(0) == 0).nonzero()[:, 0].tolist()
    for ends, empty, n in ((rows, empty_rows, n_in), (cols, empty_cols, n_out)):
        degree = torch.bincount(ends, minlength=n)
        for neuron in empty:
            movable = (degree[ends] >= 2).nonzero()[:, 0]
            k = int(movable[stream.integers(movable.numel())])
            degree[ends[k]] -= 1
            degree[neuron] += 1
            ends[k] = neuron
    out = torch.zeros_like(mask)
    out[rows, cols] = True
    return out


def _erdos_renyi(n_in, n_out, epsilon, stream, mode="exact", dtype=torch.float64, scale=0.1):
    """An Erdős–Rényi :class:`Masked` layer (ALGORITHMS §1) with ``Normal(0.1)`` weights
    (``scale * standard_normal``).

    ``M = round(ε (n_in + n_out))`` links (Python's ``round``: halves to even), or
    ``binomial(n_in n_out, p)`` for ``mode="bernoulli"``.  Draw order: (the binomial),
    ``subset(n_in n_out, M)`` of the linear cell indices, the isolation repair, then ``M``
    normals in (row, col) order.  A dense layer (``M >= n_in n_out``) draws no cells.
    """
    n_in, n_out = int(n_in), int(n_out)
    n_total = n_in * n_out
    if mode == "exact":
        m = int(min(round(epsilon * (n_in + n_out)), n_total))
    elif mode == "bernoulli":
        m = stream.binomial(n_total, min(1.0, epsilon * (n_in + n_out) / n_total))
    else:
        raise ValueError(f"mode must be 'exact' or 'bernoulli', got {mode!r}")
    if m < max(n_in, n_out):
        raise ValueError(f"epsilon={epsilon} gives {m} links, fewer than max(n_in, n_out)")
    mask = torch.zeros(n_total, dtype=torch.bool)
    if m >= n_total:
        mask[:] = True
    else:
        mask[torch.as_tensor(stream.subset(n_total, m))] = True
    mask = mask.reshape(n_in, n_out)
    if m < n_total:
        mask = _repair_isolation(mask, stream)
    W = torch.zeros((n_in, n_out), dtype=dtype)
    W[mask] = (scale * stream.standard_normal(m)).to(dtype)
    return Masked(W, mask)


def erdos_renyi_layer(n_in, n_out, epsilon, uniforms, mode="exact"):
    """An Erdős–Rényi layer (ALGORITHMS §1), see :func:`_erdos_renyi`.

    Examples
    --------
    ``round(1.0 * (2 + 2)) = 4`` links fill a 2 × 2 layer: no cells are drawn, only the four
    weights (the uniform 0.8413... is the normal quantile of 1):

    >>> W = erdos_renyi_layer(2, 2, 1.0, np.full(4, 0.8413447460685429))
    >>> W.rows.tolist(), W.cols.tolist(), np.round(W.values, 6).tolist()
    ([0, 0, 1, 1], [0, 1, 0, 1], [0.1, 0.1, 0.1, 0.1])
    """
    stream = Uniforms(uniforms)
    m = _erdos_renyi(n_in, n_out, epsilon, stream, mode)
    stream.finish()
    return m.to_layer()


def _swi_sigma(n_in, n_out, nnz):
    """SWI's σ = √2 / √((1 − S) fan_in) with ``1 − S = nnz / (n_in n_out)``, fan_in = n_in."""
    return math.sqrt(2.0) / math.sqrt((nnz / (n_in * n_out)) * n_in)


def swi_weights(n_in, n_out, nnz, uniforms):
    """SWI weights (ALGORITHMS §5.2): ``σ · standard_normal``, one uniform per weight.

    Examples
    --------
    >>> np.round(swi_weights(4, 2, 4, np.full(4, 0.8413447460685429)), 6)   # σ = 1
    array([1., 1., 1., 1.])
    """
    stream = Uniforms(uniforms)
    out = (_swi_sigma(n_in, n_out, nnz) * stream.standard_normal(int(nnz))).numpy()
    stream.finish()
    return out


def _prune_set(mask, W, zeta, rule):
    """Boolean mask of the links SET removes (ALGORITHMS §2.1).

    ``"sign"``: the ``floor(zeta n_neg)`` negatives and the ``floor(zeta n_pos)`` positives
    closest to zero (exact zeros are in neither group); ``"magnitude"``: the
    ``floor(zeta nnz)`` smallest ``|w|``.  Ties by (|w|, row, col): a stable sort of the
    links in canonical order.
    """
    values = W[mask]
    if rule == "magnitude":
        groups = [torch.ones_like(values, dtype=torch.bool)]
    elif rule == "sign":
        groups = [values < 0, values > 0]
    else:
        raise ValueError(f"prune must be 'sign' or 'magnitude', got {rule!r}")
    drop = torch.zeros_like(values, dtype=torch.bool)
    for group in groups:
        idx = group.nonzero()[:, 0]
        k = math.floor(zeta * idx.numel())
        order = torch.sort(values[idx].abs(), stable=True).indices
        drop[idx[order[:k]]] = True
    removed = torch.zeros_like(mask)
    removed[mask] = drop
    return removed


def _guard_links(kept, removed, stream, forbid_removed):
    """Links that reconnect every empty row and column of ``kept`` (SET isolation guard).

    Draws: ``permutation`` of the empty rows (listed in increasing order), ``permutation`` of
    the empty columns; the first ``min`` of each are paired in that order; every unpaired
    rest neuron then takes one ``integers`` among the allowed cells of its line in increasing
    order (allowed: not just removed when ``forbid_removed``, unless that leaves none).
    """
    guard = torch.zeros_like(kept)
    empty_rows = (kept.sum(1) == 0).nonzero()[:, 0]
    empty_cols = (kept.sum(0) == 0).nonzero()[:, 0]
    if empty_rows.numel() == 0 and empty_cols.numel() == 0:
        return guard
    empty_rows = empty_rows[torch.as_tensor(stream.permutation(empty_rows.numel()))]
    empty_cols = empty_cols[torch.as_tensor(stream.permutation(empty_cols.numel()))]
    n_pairs = min(empty_rows.numel(), empty_cols.numel())
    guard[empty_rows[:n_pairs], empty_cols[:n_pairs]] = True

    def pick(line_removed):
        cells = torch.arange(line_removed.numel())
        if forbid_removed and not bool(line_removed.all()):
            cells = cells[~line_removed]
        return int(cells[stream.integers(cells.numel())])

    for r in empty_rows[n_pairs:].tolist():
        guard[r, pick(removed[r])] = True
    for c in empty_cols[n_pairs:].tolist():
        guard[pick(removed[:, c]), c] = True
    return guard


def _sample_free(blocked, k, stream):
    """``k`` cells drawn uniformly among the cells not ``blocked``: ``subset(F, k)`` of the
    ranks among the F free cells, rank ``r`` being the ``r``-th free cell in (row, col) order."""
    free = (~blocked).flatten().nonzero()[:, 0]
    chosen = torch.zeros(blocked.numel(), dtype=torch.bool)
    if k > 0:
        chosen[free[torch.as_tensor(stream.subset(free.numel(), k))]] = True
    return chosen.reshape(blocked.shape)


def _set_update(m, zeta, stream, prune="sign", allow_regrow_removed=True):
    """One SET update of a :class:`Masked` layer; returns ``(new layer, new-link mask)``.

    Draw order: the isolation guard (:func:`_guard_links`), ``subset`` of the remaining
    positions among the free cells (:func:`_sample_free`), then the new weights
    ``0.1 * standard_normal`` in increasing (row, col) order.  Nothing is drawn when nothing
    is removed.
    """
    removed = _prune_set(m.mask, m.W, zeta, prune)
    k = int(removed.sum())
    if k == 0:
        return Masked(m.W.clone(), m.mask.clone()), torch.zeros_like(m.mask)
    kept = m.mask & ~removed
    guard = _guard_links(kept, removed, stream, not allow_regrow_removed)
    occupied = kept | guard
    rest = k - int(guard.sum())
    blocked = occupied
    # just-removed cells are blocked when forbidden and enough other cells are free;
    # otherwise every cell not occupied is eligible
    if not allow_regrow_removed and int((~(occupied | removed)).sum()) >= rest:
        blocked = occupied | removed
    new = guard | _sample_free(blocked, rest, stream)
    W = torch.where(kept, m.W, torch.zeros_like(m.W))
    W[new] = _normal01(stream, k, m.W.dtype)
    return Masked(W, kept | new), new


def set_step(layer, zeta, uniforms, prune="sign", allow_regrow_removed=True):
    """One SET topology update of one layer (ALGORITHMS §2), see :func:`_set_update`.

    Examples
    --------
    ``zeta = 0.5`` removes the one negative weight closer to zero (-1) and no positive one
    (⌊0.5 · 1⌋ = 0); the regrown link takes the only free cell, (0, 1), because the pruning
    left row 0 and column 1 empty (the guard pairs them), with weight ``0.1 · 1``:

    >>> W = LayerOut(np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([-1.0, -2.0, 3.0]),
    ...              (2, 2))
    >>> new = set_step(W, 0.5, np.array([0.5, 0.5, 0.8413447460685429]))
    >>> new.rows.tolist(), new.cols.tolist(), np.round(new.values, 6).tolist()
    ([0, 1, 1], [1, 0, 1], [0.1, -2.0, 3.0])
    """
    stream = Uniforms(uniforms)
    m, _ = _set_update(Masked.from_layer(layer), zeta, stream, prune, allow_regrow_removed)
    stream.finish()
    return m.to_layer()


# ------------------------------------------------------------------------------------------
# L1: Sensitivity and Path-Weight (ALGORITHMS §4; refset.algorithms._importance_regrowth)
# ------------------------------------------------------------------------------------------

def _fraction_count(fraction, n, rounding):
    """``ceil``/``floor`` of ``fraction * n``, a product within 1e-9 (relative) of an
    integer snapped to it (so 0.07 * 100 counts 7 both ways)."""
    x = float(fraction) * n
    nearest = round(x)
    if abs(x - nearest) <= 1e-9 * max(1.0, abs(x)):
        return int(nearest)
    return int(math.ceil(x) if rounding == "ceil" else math.floor(x))


def _guarded_removal(m, scores, candidates, k):
    """Boolean mask (over the links in canonical order) of the links removed.

    Candidates (link indices) are visited in order of (score, row, col); each is removed
    unless its row or its column has one link left; stop after ``k`` removals.
    """
    rows, cols = m.links()
    row_deg = torch.bincount(rows, minlength=m.shape[0]).tolist()
    col_deg = torch.bincount(cols, minlength=m.shape[1]).tolist()
    cand = torch.as_tensor(np.asarray(candidates, dtype=np.int64))
    order = cand[torch.sort(scores[cand], stable=True).indices]   # cand increasing = (row, col)
    drop = torch.zeros(rows.numel(), dtype=torch.bool)
    taken = 0
    for i in order.tolist():
        if taken >= k:
            break
        r, c = int(rows[i]), int(cols[i])
        if row_deg[r] > 1 and col_deg[c] > 1:
            row_deg[r] -= 1
            col_deg[c] -= 1
            drop[i] = True
            taken += 1
    return drop


def _regrow_conserved(m, drop, weights, stream):
    """Mask of ``drop.sum()`` new links: sources ∝ ``weights``, targets uniform (§4.3).

    A target is free when the source is not linked to it and did not just lose it (if the
    layer has fewer such cells than links to regrow, just-removed cells are free too).
    Draws: rounds of ``choice(p = weights over the sources with room)`` for the draws still
    needed (a source drawn more often than it has room gives the excess back, redrawn in the
    next round; all-zero weights fall back to uniform over the sources with room), then
    ``subsets`` of the free targets (as ranks in increasing column order) of every source
    that got a draw, sources in increasing order.
    """
    k = int(drop.sum())
    new = torch.zeros_like(m.mask)
    if k == 0:
        return new
    removed = torch.zeros_like(m.mask)
    removed[m.mask] = drop
    blocked = m.mask.clone()
    if int((~blocked).sum()) < k:
        blocked = m.mask & ~removed
    caps = (~blocked).sum(1).numpy().astype(np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    counts = np.zeros(caps.size, dtype=np.int64)
    need = k
    while need > 0:
        room = counts < caps
        w = np.where(room, weights, 0.0)
        if not w.sum() > 0:
            w = room.astype(np.float64)
        counts += np.bincount(stream.choice(w, need), minlength=caps.size)
        excess = np.maximum(counts - caps, 0)
        counts -= excess
        need = int(excess.sum())
    sources = np.flatnonzero(counts)
    for src, ranks in zip(sources, stream.subsets(caps[sources], counts[sources])):
        free_cols = (~blocked[src]).nonzero()[:, 0]
        new[src, free_cols[torch.as_tensor(ranks)]] = True
    return new


def _regrow_paper(m, weights, delta, stream):
    """The paper's count rule: source ``s`` gains one link w.p. ``min(1, δ w(s) / max w)``.

    Draws: ``random(n_in)``, then one ``integers(free targets)`` per growing source in
    increasing order (just-removed cells are not free; a source without room gains nothing).
    """
    caps = (~m.mask).sum(1).numpy()
    weights = np.asarray(weights, dtype=np.float64)
    top = weights.max() if weights.size else 0.0
    p = np.minimum(1.0, delta * weights / top) if top > 0 else np.zeros(weights.size)
    grow = (stream.random(weights.size) < p) & (caps > 0)
    new = torch.zeros_like(m.mask)
    for src in np.flatnonzero(grow):
        free_cols = (~m.mask[src]).nonzero()[:, 0]
        new[src, free_cols[stream.integers(int(caps[src]))]] = True
    return new


def _apply(ms, drops, news, stream):
    """New layers: kept links keep their weights; the new links' ``Normal(0.1)`` weights are
    drawn layer by layer after every topology is fixed, in increasing (row, col) order."""
    out = []
    for m, drop, new in zip(ms, drops, news):
        removed = torch.zeros_like(m.mask)
        removed[m.mask] = drop
        kept = m.mask & ~removed
        W = torch.where(kept, m.W, torch.zeros_like(m.W))
        count = int(new.sum())
        if count:
            W[new] = _normal01(stream, count, m.W.dtype)
        out.append(Masked(W, kept | new))
    return out


def _median_floor(magnitudes):
    """``1e-6 · median|w|``; the median of the nonzero ``|w|`` if that is 0, 1 if all are 0."""
    if magnitudes.numel() == 0:
        return 0.0
    mags = np.sort(magnitudes.numpy())
    med = float(np.median(mags))
    if med == 0.0:
        nonzero = mags[mags > 0]
        med = float(np.median(nonzero)) if nonzero.size else 1.0
    return 1e-6 * med


def _sensitivity_update(ms, mean_gradients, stream, zeta, form="quotient"):
    """Sensitivity on :class:`Masked` layers; returns ``(new layers, new-link masks)``."""
    scores = []
    for m, g in zip(ms, mean_gradients):
        g = torch.as_tensor(np.asarray(g, dtype=np.float64))
        w = m.values().to(torch.float64)
        if form == "relative":
            scores.append((g * w).abs())
        elif form == "quotient":
            scores.append(g.abs() / torch.clamp(w.abs(), min=_median_floor(w.abs())))
        else:
            raise ValueError(f"form must be 'quotient' or 'relative', got {form!r}")
    drops = [_guarded_removal(m, s, np.arange(s.numel()),
                              _fraction_count(zeta, s.numel(), "floor"))
             for m, s in zip(ms, scores)]
    news = []
    for m, s, drop in zip(ms, scores, drops):
        rows, _ = m.links()
        node = torch.zeros(m.shape[0], dtype=torch.float64).index_add_(0, rows, s)   # Eq. 11
        news.append(_regrow_conserved(m, drop, node.numpy(), stream))
    return _apply(ms, drops, news, stream), news


def sensitivity_step(layers, mean_gradients, uniforms, zeta, form="quotient"):
    """One Sensitivity update of every layer (ALGORITHMS §4.5).

    ``S(w) = |g| / max(|w|, 1e-6 median|w|)`` (``form="relative"``: ``|g w|``) in float64;
    per layer the ``floor(zeta nnz)`` smallest (guarded); node weights ``S(n) = Σ_j S(w_nj)``
    over the outgoing links *before* removal.  Draw order: each layer's regrowth in turn
    (sources, then targets), then each layer's new weights.

    Examples
    --------
    Against refset's golden case (:mod:`refset.oracle`):

    >>> from refset import oracle
    >>> doc, inputs, expected = oracle.load_case("L1-sensitivity-quotient")
    >>> oracle.compare(sensitivity_step(**inputs), expected, doc["tolerance"])[0]     # no problem
    []
    """
    stream = Uniforms(uniforms)
    new_ms, _ = _sensitivity_update([Masked.from_layer(L) for L in layers], mean_gradients,
                                    stream, zeta, form)
    stream.finish()
    return [m.to_layer() for m in new_ms]


def _path_counts(masks):
    """Backward path counts ``c^L = 1, c^l = M^l c^{l+1}`` (float64), one per neuron layer."""
    c = [torch.ones(masks[-1].shape[1], dtype=torch.float64)]
    for M in reversed(masks):
        c.insert(0, M.to(torch.float64) @ c[0])
    return c


def _enumerate_paths(masks):
    """Every input-to-output path as a row of link indices, in canonical order
    (lexicographic in the nodes, which is lexicographic in the link indices)."""
    c = _path_counts(masks)
    index = []
    for M in masks:                       # link index of every cell, -1 off the mask
        idx = torch.full(M.shape, -1, dtype=torch.int64)
        idx[M] = torch.arange(int(M.sum()))
        index.append(idx)
    paths = []

    def walk(l, node, prefix):
        if l == len(masks):
            paths.append(prefix)
            return
        for v in masks[l][node].nonzero()[:, 0].tolist():
            if c[l + 1][v] > 0:
                walk(l + 1, v, prefix + [int(index[l][node, v])])

    for u in range(masks[0].shape[0]):
        walk(0, u, [])
    return torch.tensor(paths, dtype=torch.int64).reshape(-1, len(masks))


def _sample_paths(masks, n, stream):
    """``n`` uniform paths: ``random(n)`` per layer (layer 0 first); layer 0's link by the
    inverse CDF of ``c^1`` over all its links, each later link among the out-links of the
    current neuron by the inverse CDF of ``c^{l+1}`` of their outputs (each path has
    probability 1 / P)."""
    c = _path_counts(masks)
    out = torch.zeros((n, len(masks)), dtype=torch.int64)
    end = None
    for l, M in enumerate(masks):
        rows, cols = M.nonzero().unbind(1)
        w = c[l + 1][cols].numpy()
        u = stream.random(n)
        for p in range(n):
            seg = np.arange(rows.numel()) if l == 0 else (rows == end[p]).nonzero()[:, 0].numpy()
            ws = w[seg]
            cum = np.cumsum(ws)
            k = min(int(np.searchsorted(cum, u[p] * cum[-1], side="right")),
                    int(np.flatnonzero(ws > 0)[-1]))
            out[p, l] = int(seg[k])
        end = cols[out[:, l]]
    return out


def _weakest_through_links(masks, log_a):
    """Log importance of the weakest path through every link (min-plus), canonical order."""
    inf = torch.tensor(float("inf"), dtype=torch.float64)
    f = [torch.zeros(masks[0].shape[0], dtype=torch.float64)]
    for M, la in zip(masks, log_a):
        f.append(torch.where(M, f[-1][:, None] + la, inf).min(0).values)
    b = [torch.zeros(masks[-1].shape[1], dtype=torch.float64)]
    for M, la in zip(reversed(masks), reversed(log_a)):
        b.insert(0, torch.where(M, la + b[0][None, :], inf).min(1).values)
    return [(f[l][:, None] + la + b[l + 1][None, :])[M]
            for l, (M, la) in enumerate(zip(masks, log_a))]


def _path_weight_update(ms, stream, lam, zeta, delta=1.0, candidates="auto",
                        max_paths=1_000_000, n_path_samples=100_000, count_rule="conserve"):
    """Path-Weight (ALGORITHMS §4.1-4.3) on :class:`Masked` layers, decisions from the
    unnormalised products ``Π |w|`` (the scales ``s_l`` never change a decision).

    Candidates: ``"exact"`` — the links of the ``ceil(lam P)`` weakest paths (stable sort of
    the path products in canonical path order); ``"sampled"`` — the links whose weakest path
    has ``log I <= log tau (+ 1e-12 relative)``, ``tau`` the ``ceil(lam n)``-th smallest of
    ``n`` sampled path products.  Removal: per layer ``ceil(zeta |C ∩ layer|)`` candidates
    by ``S(e)`` (guarded).  Regrowth from the node importances before removal.  Draw order:
    path samples (sampled only), each layer's regrowth, then each layer's new weights.
    Returns ``(new layers, new-link masks)``.
    """
    masks = [m.mask for m in ms]
    A, F, B = _path_sums([m.W.to(torch.float64) for m in ms])
    nodes = [f * b for f, b in zip(F, B)]
    links = [(F[l][:, None] * A[l] * B[l + 1][None, :])[m.mask] for l, m in enumerate(ms)]
    a = [A_l[m.mask] for A_l, m in zip(A, ms)]
    n_paths = int(round(float(_path_counts(masks)[0].sum())))
    mode = candidates if candidates != "auto" else (
        "exact" if n_paths <= max_paths else "sampled")
    cand = [torch.zeros(int(M.sum()), dtype=torch.bool) for M in masks]
    if mode == "exact":
        n_weak = _fraction_count(lam, n_paths, "ceil")
        if n_weak > 0:
            paths = _enumerate_paths(masks)
            prod = torch.ones(paths.shape[0], dtype=torch.float64)
            for l in range(len(ms)):
                prod = prod * a[l][paths[:, l]]
            weakest = torch.sort(prod, stable=True).indices[:n_weak]
            for l in range(len(ms)):
                cand[l][paths[weakest, l]] = True
    elif n_paths > 0:
        paths = _sample_paths(masks, int(n_path_samples), stream)
        n_weak = _fraction_count(lam, int(n_path_samples), "ceil")
        if n_weak > 0:
            prod = torch.ones(paths.shape[0], dtype=torch.float64)
            for l in range(len(ms)):
                prod = prod * a[l][paths[:, l]]
            tau = float(torch.sort(prod).values[n_weak - 1])
            log_tau = math.log(tau) if tau > 0 else -math.inf
            bound = log_tau + 1e-12 * max(1.0, abs(log_tau)) if math.isfinite(log_tau) \
                else log_tau
            log_a = [torch.log(A_l) for A_l in A]
            cand = [w <= bound for w in _weakest_through_links(masks, log_a)]
    drops = []
    for m, c, score in zip(ms, cand, links):
        idx = c.nonzero()[:, 0].numpy()
        drops.append(_guarded_removal(m, score, idx, _fraction_count(zeta, idx.size, "ceil")))
    news = []
    for m, drop, weights in zip(ms, drops, nodes[:-1]):
        if count_rule == "conserve":
            news.append(_regrow_conserved(m, drop, weights.numpy(), stream))
        else:
            news.append(_regrow_paper(m, weights.numpy(), delta, stream))
    return _apply(ms, drops, news, stream), news


def path_weight_step(layers, scales, uniforms, lam, zeta, delta=1.0, candidates="auto",
                     max_paths=1_000_000, n_path_samples=100_000, count_rule="conserve"):
    """One Path-Weight update of every layer (see :func:`_path_weight_update`); ``scales``
    (the ``s_l``) scale every path equally and change no decision, so they are not used.

    Examples
    --------
    Against refset's golden case (:mod:`refset.oracle`):

    >>> from refset import oracle
    >>> doc, inputs, expected = oracle.load_case("L1-path-weight-sampled")
    >>> oracle.compare(path_weight_step(**inputs), expected, doc["tolerance"])[0]     # no problem
    []
    """
    stream = Uniforms(uniforms)
    new_ms, _ = _path_weight_update([Masked.from_layer(L) for L in layers], stream, lam, zeta,
                                    delta, candidates, max_paths, n_path_samples, count_rule)
    stream.finish()
    return [m.to_layer() for m in new_ms]


# ------------------------------------------------------------------------------------------
# L1: the ESML step of CHT (ALGORITHMS §5.3)
# ------------------------------------------------------------------------------------------

def _percolate(masks):
    """Percolation on pruned masks: backward sweep (a hidden neuron with no out-link loses
    its in-links), then forward sweep (one with no in-link loses its out-links).  Returns the
    swept masks and, per hidden neuron layer, the surviving neurons (those with in-links)."""
    masks = [M.clone() for M in masks]
    for h in range(len(masks) - 2, -1, -1):
        masks[h] &= (masks[h + 1].sum(1) > 0)[None, :]
    for h in range(len(masks) - 1):
        masks[h + 1] &= (masks[h].sum(0) > 0)[:, None]
    kept = []
    for h in range(len(masks) - 1):
        k = (masks[h].sum(0) > 0).nonzero()[:, 0]
        if k.numel() == 0:
            raise RuntimeError(f"percolation removed every neuron of hidden layer {h}")
        kept.append(k)
    return masks, kept


def _snap(x, digits=12):
    """``x`` rounded to ``digits`` significant digits (0 stays 0)."""
    scale = 10.0 ** (digits - 1 - torch.floor(torch.log10(x.abs().clamp(min=1e-300))))
    return torch.where(x == 0, x, torch.round(x * scale) / scale)


def _esml_update(ms, stream, zeta=0.3, prune="sign", shortfall="random", new_weights="zero",
                 frozen=None):
    """One ESML update of the sparse layers (ALGORITHMS §5.3).

    1. Prune each layer by the SET rule (under ``"sign"`` exact zeros go too); frozen
       (early-stopped) layers are not pruned.
    2. Percolate (:func:`_percolate`) and compact: removed hidden neurons leave the arrays.
    3. Per layer, ``k = pruned + percolated`` new links (0 if frozen): for the *last* sparse
       layer first an isolation guard (each output without an in-link, in increasing order,
       gets a link from a row drawn by ``integers`` among the active rows — rows that still
       have a link; frozen or not), then the top CH3-L3 non-links of the compacted layer with
       score > 0, ordered by (score descending, row, col); a shortfall is filled
       (``"random"``) among the free cells of the active rows — ``subset`` of ranks in (active
       row, col) order — or dropped.
    4. New weights: 0, or SWI bound to the new layer (σ = √2 / √(nnz / n_out)) in increasing
       (row, col) order.

    Draw order: layer by layer — its guard draws, its fill ranks, its new weights.

    Returns ``(layers, new-link masks, kept hidden neurons, overlaps)``; the overlap is
    ``|removed ∩ regrown| / |regrown|`` in the old coordinates (None if nothing regrown).
    """
    n = len(ms)
    frozen = [False] * n if frozen is None else list(frozen)
    pruned = []
    for m, fz in zip(ms, frozen):
        drop = torch.zeros_like(m.mask) if fz else _prune_set(m.mask, m.W, zeta, prune)
        if prune == "sign" and not fz:
            drop |= m.mask & (m.W == 0)
        pruned.append(drop)
    masks, kept = _percolate([m.mask & ~d for m, d in zip(ms, pruned)])
    out, news, overlaps = [], [], []
    for l, m in enumerate(ms):
        rows = kept[l - 1] if l > 0 else torch.arange(m.shape[0])
        cols = kept[l] if l < n - 1 else torch.arange(m.shape[1])
        cur = masks[l][rows][:, cols]
        W = torch.where(cur, m.W[rows][:, cols], torch.zeros_like(cur, dtype=m.W.dtype))
        k = 0 if frozen[l] else int(m.mask.sum()) - int(cur.sum())
        active = (cur.sum(1) > 0).nonzero()[:, 0]
        if active.numel() == 0:
            active = torch.arange(cur.shape[0])
        new = torch.zeros_like(cur)
        if l == n - 1:
            empty = (cur.sum(0) == 0).nonzero()[:, 0]
            if empty.numel():
                new[active[torch.as_tensor(stream.integers(active.numel(), empty.numel()))],
                    empty] = True
        want = max(k - int(new.sum()), 0)
        if want:
            scores = _ch3_l3(cur).flatten()
            # scores are sums of 1/sqrt(integer) terms: mathematically equal scores are
            # common and their floating values depend on the summation order; snap them to
            # 12 significant digits so that such ties fall to the (row, col) tie-break
            order = torch.sort(-_snap(scores), stable=True).indices
            best = order[scores[order] > 0][:want]
            new.view(-1)[best] = True
            short = want - best.numel()
            if short and shortfall == "random":
                occupied = (cur | new)[active]
                free = (~occupied).flatten().nonzero()[:, 0]
                take = min(short, free.numel())
                if take:
                    cells = free[torch.as_tensor(stream.subset(free.numel(), take))]
                    new[active[cells // cur.shape[1]], cells % cur.shape[1]] = True
        count = int(new.sum())
        if count and new_weights == "swi":
            sigma = _swi_sigma(cur.shape[0], cur.shape[1], int((cur | new).sum()))
            W[new] = (sigma * stream.standard_normal(count)).to(W.dtype)
        out.append(Masked(W, cur | new))
        news.append(new)
        # overlap, in the old coordinates
        regrown_old = torch.zeros_like(m.mask)
        regrown_old[rows[:, None], cols[None, :]] = new
        survived = torch.zeros_like(m.mask)
        survived[rows[:, None], cols[None, :]] = cur
        removed_old = m.mask & ~survived
        overlaps.append(None if count == 0 else int((removed_old & regrown_old).sum()) / count)
    return out, news, kept, overlaps


def esml_step(layers, uniforms, zeta=0.3, prune="sign", shortfall="random", new_weights="zero"):
    """One ESML update of the sparse layers; returns the compacted layers (:func:`_esml_update`).

    Examples
    --------
    Against refset's golden case (:mod:`refset.oracle`):

    >>> from refset import oracle
    >>> doc, inputs, expected = oracle.load_case("L1-esml-swi-drop")
    >>> oracle.compare(esml_step(**inputs), expected, doc["tolerance"])[0]     # no problem
    []
    """
    stream = Uniforms(uniforms)
    out, _, _, _ = _esml_update([Masked.from_layer(L) for L in layers], stream, zeta, prune,
                                shortfall, new_weights)
    stream.finish()
    return [x.to_layer() for x in out]


# ------------------------------------------------------------------------------------------
# L2: CSTI, the initialisation of CHT (ALGORITHMS §5.1; refset.algorithms.csti)
# ------------------------------------------------------------------------------------------

def _correlation(X):
    """|Pearson correlation| of the features (float64, M × M, exactly symmetric), 0 on the
    diagonal and for zero-variance features (max == min); and the zero-variance flags."""
    X = X.to(torch.float64)
    n = X.shape[0]
    mean = X.sum(0) / n
    Z = X - mean
    constant = X.max(0).values == X.min(0).values
    std = torch.where(constant, torch.zeros_like(mean), torch.sqrt((Z * Z).sum(0) / n))
    inv = torch.where(constant, torch.zeros_like(std),
                      1.0 / torch.where(constant, torch.ones_like(std), std * math.sqrt(n)))
    C = ((Z.T @ Z) * inv[:, None] * inv[None, :]).abs()
    upper = torch.triu(C, diagonal=1)
    return upper + upper.T, constant


def _csti(X, widths, sparsity, stream, dtype):
    """CSTI layers: per layer the ``K = round((1 - S) n_in n_out)`` largest entries of the
    tiled correlation (``[C C]`` / ``[[C, C], [C, C]]`` at width 2×) by (value desc, row,
    col), entries > 0 only, the rest (if any) the first zero cells in (row, col) order; no
    links from zero-variance inputs.  Draw order: per layer the isolation repair (among the
    allowed rows; :func:`_repair_isolation`), then its SWI weights."""
    C, constant = _correlation(X)
    M = C.shape[0]
    m = 1 if all(w == M for w in widths[1:]) else 2
    if not all(w == m * M for w in widths[1:]):
        raise ValueError(f"CSTI needs hidden widths {M} or {2 * M}, got {widths[1:]}")
    valid = (~constant).nonzero()[:, 0]
    layers = []
    for l, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        block = C.repeat(m if l else 1, m)
        rows_ok = valid if l == 0 else torch.arange(n_in)
        allowed = rows_ok.numel() * n_out
        k = min(round((1 - sparsity) * n_in * n_out), allowed)
        if k < max(rows_ok.numel(), n_out):
            raise ValueError(f"sparsity={sparsity} leaves layer {l} only {k} links")
        row_ok = torch.zeros(n_in, dtype=torch.bool)
        row_ok[rows_ok] = True
        values = torch.where(row_ok[:, None], block, torch.zeros_like(block)).flatten()
        order = torch.sort(-values, stable=True).indices
        chosen = order[values[order] > 0][:k]
        mask = torch.zeros(n_in * n_out, dtype=torch.bool)
        mask[chosen] = True
        if chosen.numel() < k:
            zero_cells = (~mask & row_ok.repeat_interleave(n_out)).nonzero()[:, 0]
            mask[zero_cells[:k - chosen.numel()]] = True
        mask = mask.reshape(n_in, n_out)
        sub = _repair_isolation(mask[rows_ok], stream)
        mask = torch.zeros_like(mask)
        mask[rows_ok] = sub
        W = torch.zeros((n_in, n_out), dtype=dtype)
        nnz = int(mask.sum())
        W[mask] = (_swi_sigma(n_in, n_out, nnz) * stream.standard_normal(nnz)).to(dtype)
        layers.append(Masked(W, mask))
    return layers


# ------------------------------------------------------------------------------------------
# L2: training (ALGORITHMS §3, refset.estimator.mlp)
# ------------------------------------------------------------------------------------------

_TRAIN_DEFAULTS = {"epsilon": 20.0, "zeta": 0.3, "prune": "sign", "allow_regrow_removed": True,
                   "epochs": 100, "batch_size": 32, "learning_rate": 0.01, "momentum": 0.9,
                   "weight_decay": 2e-4, "weight_decay_style": "coupled",
                   "loss": "cross_entropy", "dropout": 0.0, "init_mode": "exact",
                   "dtype": "float64", "method": "set", "update_interval": 1,
                   "hidden_layer_sizes": (1000, 1000, 1000), "method_options": None}

_METHOD_DEFAULTS = {
    "set": {},
    "path-weight": {"lam": 0.1, "zeta": None, "delta": 1.0, "candidates": "auto",
                    "max_paths": 1_000_000, "n_path_samples": 100_000,
                    "count_rule": "conserve", "time_varying": False, "probe_size": 1024},
    "sensitivity": {"zeta": None, "form": "quotient"},
    "cht": {"zeta": None, "prune": None, "shortfall": "random", "new_weights": "zero",
            "early_stop": "layer", "early_stop_threshold": 0.9, "topology_init": "csti",
            "sparsity": 0.99},
}


def _initial_layers(X, sizes, p, opts, stream, dtype):
    """The initial layers: Erdős–Rényi with ``Normal(0.1)`` weights (SET, Path-Weight,
    Sensitivity), or for CHT the sparse hidden layers by CSTI (or Erdős–Rényi with SWI
    weights) and a dense, static output layer with SWI weights at density 1."""
    if p["method"] != "cht":
        return [_erdos_renyi(a, b, p["epsilon"], stream, p["init_mode"], dtype)
                for a, b in zip(sizes[:-1], sizes[1:])]
    hidden = sizes[:-1]
    if opts["topology_init"] == "csti":
        layers = _csti(X, hidden, opts["sparsity"], stream, dtype)
    else:
        layers = []
        for a, b in zip(hidden[:-1], hidden[1:]):
            count = int(min(round(p["epsilon"] * (a + b)), a * b))   # SWI bound to this M
            layers.append(_erdos_renyi(a, b, p["epsilon"], stream, p["init_mode"], dtype,
                                       scale=_swi_sigma(a, b, count)))
    n_in, n_out = sizes[-2], sizes[-1]
    W = (_swi_sigma(n_in, n_out, n_in * n_out)
         * stream.standard_normal(n_in * n_out)).to(dtype).reshape(n_in, n_out)
    layers.append(Masked(W, torch.ones((n_in, n_out), dtype=torch.bool)))
    return layers


def train(X, y, params, uniforms):
    """Train a sparse MLP (ALGORITHMS §2-5) and return every epoch's state.

    Network: ``h^l = ReLU(h^{l-1} W^l + b^l)`` on hidden layers (inverted dropout after the
    ReLU), softmax + cross-entropy at the output (``loss="mse"``: sigmoid + ½ mean squared
    error).  SGD with momentum; coupled weight decay ``v ← μv − η(g + λw), w ← w + v`` on the
    weights only (``"original"``: ``v ← μv − ηg, w ← w + v − λw``); biases ``v ← μv − ηg``.
    CHT: learning rate decayed linearly to 1 % over the first 90 % of the epochs, a dense
    static output layer, ESML updates with early stop, hidden biases compacted with their
    neurons.

    Draw order of the stream: the initial layers (:func:`_initial_layers`, each layer's
    topology then its weights); then per epoch ``permutation(n)`` of the samples, and within
    each mini-batch (consecutive slices of the permutation, the last one partial) the dropout
    uniforms of each hidden layer in turn, ``n_out × B`` of them in *feature-major* order
    (all samples of unit 0, then unit 1, ...), a unit kept when ``u < 1 - dropout``; after
    every epoch but the last, the method's update (Path-Weight first draws its probe batch,
    a ``subset`` of the samples).  New links start with zero momentum.

    Returns ``{"epochs": [{"layers", "biases", "train_loss"}, ...]}``, each entry taken after
    its epoch's topology update; ``train_loss`` is the mean over the epoch's samples of the
    mini-batch losses as they were trained (with dropout, before each SGD step).

    Examples
    --------
    Against refset's golden case (:mod:`refset.oracle`):

    >>> from refset import oracle
    >>> doc, inputs, expected = oracle.load_case("L2-train-set-dropout")
    >>> oracle.compare(train(**inputs), expected, doc["tolerance"])[0]     # no problem
    []
    """
    unknown = set(params) - set(_TRAIN_DEFAULTS)
    if unknown:
        raise NotImplementedError(f"parameters not ported: {sorted(unknown)}")
    p = {**_TRAIN_DEFAULTS, **dict(params)}
    method = p["method"]
    if method not in _METHOD_DEFAULTS:
        raise ValueError(f"method must be one of {list(_METHOD_DEFAULTS)}, got {method!r}")
    opts = {**_METHOD_DEFAULTS[method], **dict(p["method_options"] or {})}
    if opts.get("zeta") is None:
        opts["zeta"] = p["zeta"]
    if method == "cht" and opts["prune"] is None:
        opts["prune"] = p["prune"]
    if opts.get("time_varying"):
        raise NotImplementedError("Path-Weight's time-varying schedule is not ported")
    dtype = torch.float32 if p["dtype"] == "float32" else torch.float64
    stream = Uniforms(uniforms)
    X = torch.as_tensor(np.asarray(X)).to(dtype)
    classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
    y_idx = torch.as_tensor(y_idx.astype(np.int64))
    sizes = [X.shape[1], *[int(h) for h in p["hidden_layer_sizes"]], classes.size]
    layers = _initial_layers(X, sizes, p, opts, stream, dtype)
    n_sparse = len(layers) - (1 if method == "cht" else 0)
    biases = [torch.zeros(b, dtype=dtype) for b in sizes[1:]]
    vel_w = [torch.zeros_like(m.W) for m in layers]
    vel_b = [torch.zeros_like(b) for b in biases]
    mu, lam = p["momentum"], p["weight_decay"]
    keep = 1.0 - p["dropout"]
    n, B, L = X.shape[0], int(p["batch_size"]), len(layers)
    tiny = torch.finfo(dtype).tiny
    passed = frozen = [False] * n_sparse                       # CHT's early stop
    history = []
    for epoch in range(1, int(p["epochs"]) + 1):
        lr = p["learning_rate"]
        if method == "cht":                                    # linear decay (ALGORITHMS §5.5)
            lr = lr * (1.0 - 0.99 * min(1.0, (epoch - 1) / max(0.9 * p["epochs"], 1.0)))
        order = torch.as_tensor(stream.permutation(n))
        loss_sum = 0.0
        grad_sums = [torch.zeros_like(m.W) for m in layers]     # Sensitivity's mean gradient
        for start in range(0, n, B):
            idx = order[start:start + B]
            b_size = idx.numel()
            acts, drops = [X[idx]], []
            for l, (m, b) in enumerate(zip(layers, biases)):
                Z = acts[-1] @ m.W + b
                if l < L - 1:
                    Z = torch.relu(Z)
                    if p["dropout"] > 0:
                        u = torch.as_tensor(stream.random(Z.shape[1] * b_size))
                        drop = (u.reshape(Z.shape[1], b_size).T < keep).to(dtype) / keep
                        Z = Z * drop
                        drops.append(drop)
                    else:
                        drops.append(None)
                elif p["loss"] == "cross_entropy":
                    Z = torch.exp(Z - Z.max(dim=1, keepdim=True).values)
                    Z = Z / Z.sum(dim=1, keepdim=True)
                else:
                    Z = 1.0 / (1.0 + torch.exp(-Z))
                acts.append(Z)
            P = acts[-1]
            Y = torch.zeros_like(P)
            Y[torch.arange(b_size), y_idx[idx]] = 1.0
            if p["loss"] == "cross_entropy":
                loss = -torch.log(torch.clamp((P * Y).sum(1), min=tiny)).sum() / b_size
                delta = (P - Y) / b_size
            else:
                loss = 0.5 * ((P - Y) ** 2).sum() / b_size
                delta = (P - Y) * P * (1 - P) / b_size
            loss_sum += float(loss) * b_size
            for l in range(L - 1, -1, -1):
                m = layers[l]
                grad = torch.where(m.mask, acts[l].T @ delta, torch.zeros_like(m.W))
                grad_sums[l] += grad
                grad_b = delta.sum(0)
                prev = delta @ m.W.T if l > 0 else None       # with the weights before the step
                if p["weight_decay_style"] == "coupled":
                    vel_w[l] = mu * vel_w[l] - lr * (grad + lam * m.W)
                    m.W = m.W + vel_w[l]
                else:
                    vel_w[l] = mu * vel_w[l] - lr * grad
                    m.W = m.W + vel_w[l] - lam * m.W
                vel_b[l] = mu * vel_b[l] - lr * grad_b
                biases[l] = biases[l] + vel_b[l]
                if l > 0:
                    delta = prev * (acts[l] > 0)
                    if drops[l - 1] is not None:
                        delta = delta * drops[l - 1]
        if epoch < p["epochs"] and epoch % p["update_interval"] == 0:
            old = layers[:n_sparse]
            if method == "set":
                new_layers, news = [], []
                for m in old:
                    m_new, new = _set_update(m, p["zeta"], stream, p["prune"],
                                             p["allow_regrow_removed"])
                    new_layers.append(m_new)
                    news.append(new)
            elif method == "sensitivity":
                n_batches = -(-n // B)
                mean_grads = [(g / n_batches)[m.mask].numpy() for g, m in zip(grad_sums, old)]
                new_layers, news = _sensitivity_update(old, mean_grads, stream, opts["zeta"],
                                                       opts["form"])
            elif method == "path-weight":
                # the probe batch for the layer norms s_l: drawn, but s_l scales every path
                # equally and changes no decision (time_varying, which reports them, is off)
                stream.subset(n, min(int(opts["probe_size"]), n))
                new_layers, news = _path_weight_update(
                    old, stream, opts["lam"], opts["zeta"], opts["delta"],
                    opts["candidates"], opts["max_paths"], opts["n_path_samples"],
                    opts["count_rule"])
            elif all(frozen):                                  # CHT: nothing evolves any more
                new_layers, news = old, [torch.zeros_like(m.mask) for m in old]
            else:
                new_layers, news, kept, overlaps = _esml_update(
                    old, stream, opts["zeta"], opts["prune"], opts["shortfall"],
                    opts["new_weights"], frozen)
                for h, k in enumerate(kept):                   # hidden neurons after layer h
                    biases[h], vel_b[h] = biases[h][k], vel_b[h][k]
                for l, m in enumerate(old):                    # momentum, compacted
                    rows = kept[l - 1] if l > 0 else torch.arange(m.shape[0])
                    cols = kept[l] if l < n_sparse - 1 else torch.arange(m.shape[1])
                    vel_w[l] = vel_w[l][rows][:, cols]
                passed = [a or (o is not None and o > opts["early_stop_threshold"])
                          for a, o in zip(passed, overlaps)]
                if opts["early_stop"] == "layer":
                    frozen = list(passed)
                elif opts["early_stop"] == "all":
                    frozen = [all(passed)] * n_sparse
            for l, (m, new) in enumerate(zip(new_layers, news)):
                vel_w[l] = torch.where(m.mask & ~new, vel_w[l], torch.zeros_like(m.W))
                layers[l] = m
        history.append({"layers": [m.to_layer() for m in layers],
                        "biases": [b.numpy().copy() for b in biases],
                        "train_loss": loss_sum / n})
    stream.finish()
    return {"epochs": history}
