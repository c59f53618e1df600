r"""Replayable randomness: every random choice of refset is a documented function of uniforms.

Every stochastic step of refset (Erdős–Rényi initialisation, weight initialisers, SET,
Path-Weight, Sensitivity and CHT regrowth, dropout masks, batch order) consumes its
randomness through a :class:`Draws` stream: a sequence of uniform numbers ``u`` in [0, 1),
turned into integers, normals, subsets, permutations and weighted choices by the fixed
transforms below.  Driven by a ``numpy.random.Generator`` the stream draws exactly the
uniforms it needs (``Generator.random``), and it can record them; driven by
:meth:`Draws.replay` it serves recorded uniforms instead.  The algorithms run the same code
either way, so another implementation (PyTorch, JAX, CUDA) that feeds the recorded uniforms
through the same transforms, in the documented draw order of each step, reproduces refset's
topology exactly, whatever its own generator.

The transforms (normative; ``n`` an integer ≥ 1, ``u`` the next uniform):

==========================  ==============================================================
``random(size)``            ``u`` itself.
``uniform(a, b, size)``     ``a + (b - a) * u``.
``integers(n)``             ``min(floor(u * n), n - 1)`` (also ``integers(lo, hi)`` =
                            ``lo + integers(hi - lo)``; ``n`` may be an array, one ``u``
                            per element).
``standard_normal``         ``ndtri(v)`` with ``v = (floor(u * 2**53) + 0.5) / 2**53``
                            (the normal quantile of the cell's midpoint, never ±inf).
``permutation(n)``          the stable ``argsort`` of ``n`` uniforms (an array argument is
                            indexed by it).
``choice(n, size, p=w)``    inverse CDF: ``t = u * c[-1]`` with ``c = cumsum(w)`` (float64,
                            in index order); the index is ``searchsorted(c, t, "right")``,
                            capped at the last index with a positive weight.  Zero weights
                            are never chosen.
``subset(n, k)``            ``k`` distinct integers of ``[0, n)``, returned sorted.  If
                            ``2k <= n``: draw ``integers(n)`` one at a time, skipping values
                            already drawn, until ``k`` are distinct.  Otherwise draw the
                            ``n - k`` values to *leave out* that way and return the rest.
``subsets(sizes, counts)``  one such subset per group, vectorised by *rounds*: in each round
                            every group still short (increasing group order) draws as many
                            uniforms as it still needs, consecutive in the stream, keeping
                            the values not drawn before.
``binomial(n, p)``          the smallest ``k`` with ``bdtr(k, n, p) >= u`` (quantile).
==========================  ==============================================================

A refset run with a seed draws its uniforms from ``numpy.random.default_rng(seed)``; recorded
uniforms are multiples of 2⁻⁵³ and survive a round trip through float64 files exactly.

Deviations
----------
- refset's results no longer follow numpy's own samplers (``Generator.choice``,
  ``standard_normal``, ``hypergeometric``): each draw is one of the transforms above, so that
  a port needs nothing but uniforms.  ``choice(..., replace=False)`` returns its values
  sorted, not in draw order.
- ``integers`` uses ``floor(u * n)``, whose bias is below ``n / 2**53`` — far below anything a
  test can see for the sizes refset handles.

Examples
--------
>>> import numpy as np
>>> rec = Draws(np.random.default_rng(0), record=True)
>>> a = rec.subset(10, 3)
>>> b = Draws.replay(rec.recorded()).subset(10, 3)
>>> bool(np.array_equal(a, b))
True
"""
import math

import numpy as np
from scipy import special

__all__ = ["Draws", "DrawsExhausted", "as_draws", "draws_from_seed"]

_TWO53 = float(2 ** 53)


class DrawsExhausted(ValueError):
    """A replayed stream ran out of recorded uniforms (the port consumed a different number)."""


class Draws:
    """A stream of uniforms in [0, 1) and the transforms refset draws everything with.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of the uniforms (``rng.random``), drawn exactly as needed.
    record : bool, default False
        Keep every uniform served, for :meth:`recorded`.

    The method names follow ``numpy.random.Generator`` where the meaning is the same, so code
    written against a Generator (e.g. a custom initialiser) runs unchanged; the transforms
    are the module's table.

    Examples
    --------
    >>> import numpy as np
    >>> d = Draws(np.random.default_rng(1))
    >>> d.integers(6, size=4).tolist()
    [3, 5, 0, 5]
    >>> d.consumed
    4
    """

    def __init__(self, rng, *, record=False):
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {rng!r}")
        self.generator = rng
        self._replay = None
        self._pos = 0
        self._record = [] if record else None

    @classmethod
    def replay(cls, uniforms):
        """A stream serving recorded ``uniforms`` (1-D, each in [0, 1)) in order.

        Raises :class:`DrawsExhausted` when more are asked for than were recorded.
        """
        u = np.asarray(uniforms, dtype=np.float64)
        if u.ndim != 1:
            raise ValueError(f"uniforms must be one-dimensional, got shape {u.shape}")
        if u.size and not (np.all(u >= 0.0) and np.all(u < 1.0)):
            raise ValueError("uniforms must lie in [0, 1)")
        self = cls.__new__(cls)
        self.generator = None
        self._replay = u
        self._pos = 0
        self._record = None
        return self

    # -- bookkeeping -------------------------------------------------------------------------
    @property
    def consumed(self):
        """Number of uniforms served so far."""
        return self._pos

    @property
    def remaining(self):
        """Recorded uniforms not yet served (None for a generator-driven stream)."""
        return None if self._replay is None else self._replay.size - self._pos

    def recorded(self):
        """Every uniform served so far (needs ``record=True``), as one float64 array."""
        if self._record is None:
            if self._replay is not None:
                return self._replay[: self._pos].copy()
            raise ValueError("this stream does not record; create it with Draws(rng, record=True)")
        return np.concatenate(self._record) if self._record else np.empty(0)

    def __repr__(self):
        kind = "replay" if self._replay is not None else "generator"
        return f"Draws({kind}, consumed={self._pos})"

    # -- the one primitive -------------------------------------------------------------------
    def random(self, size=None):
        """Uniforms in [0, 1): a float for ``size=None``, else an array of that shape."""
        shape = () if size is None else size
        n = int(np.prod(shape, dtype=np.int64))
        if self._replay is not None:
            if self._pos + n > self._replay.size:
                raise DrawsExhausted(
                    f"the recorded draws ran out: {n} more uniforms asked for after "
                    f"{self._pos}, but only {self._replay.size} were recorded")
            u = self._replay[self._pos: self._pos + n].copy()
        else:
            u = self.generator.random(n)
            if self._record is not None:
                self._record.append(u.copy())
        self._pos += n
        return float(u[0]) if size is None else u.reshape(shape)

    # -- transforms --------------------------------------------------------------------------
    def uniform(self, low=0.0, high=1.0, size=None):
        """``low + (high - low) * u``."""
        u = self.random(size)
        return low + (high - low) * u

    def integers(self, low, high=None, size=None):
        """Integers in ``[0, low)`` (or ``[low, high)``): ``min(floor(u n), n - 1)``.

        ``n`` may be an array (one uniform per element, ``size`` then defaults to its shape).
        """
        if high is None:
            lo, n = 0, np.asarray(low, dtype=np.int64)
        else:
            lo, n = np.asarray(low, dtype=np.int64), np.asarray(high, dtype=np.int64) - low
        if np.any(n < 1):
            raise ValueError("integers: the range must hold at least one value")
        if size is None and n.ndim:
            size = n.shape
        u = self.random(size)
        k = np.minimum(np.floor(np.asarray(u) * n).astype(np.int64), n - 1) + lo
        return int(k) if size is None else k

    def standard_normal(self, size=None, dtype=np.float64):
        """Normal quantile of each uniform's cell midpoint: ``ndtri((floor(u 2⁵³) + ½) / 2⁵³)``."""
        u = np.asarray(self.random(size))
        z = special.ndtri((np.floor(u * _TWO53) + 0.5) / _TWO53)
        return float(z) if size is None else z.astype(dtype, copy=False)

    def normal(self, loc=0.0, scale=1.0, size=None):
        """``loc + scale * standard_normal(size)``."""
        return loc + scale * self.standard_normal(size)

    def permutation(self, x):
        """Stable argsort of uniforms: a permutation of ``range(x)``, or of the array ``x``."""
        if isinstance(x, (int, np.integer)):
            return np.argsort(self.random(int(x)), kind="stable")
        x = np.asarray(x)
        return x[np.argsort(self.random(x.shape[0]), kind="stable")]

    def choice(self, a, size=None, replace=True, p=None):
        """``a`` (int or array) sampled by ``integers``, ``subset`` or the inverse CDF of ``p``.

        Without replacement (``p`` not allowed) the result is **sorted** (see the Deviations).
        """
        values = None if isinstance(a, (int, np.integer)) else np.asarray(a)
        n = int(a) if values is None else values.shape[0]
        if not replace:
            if p is not None:
                raise ValueError("choice: p is not supported without replacement")
            k = 1 if size is None else int(np.prod(size))
            idx = self.subset(n, k)
        elif p is not None:
            idx = self._inverse_cdf(np.asarray(p, dtype=np.float64), size)
        else:
            idx = self.integers(n, size=size)
        return idx if values is None else values[idx]

    def _inverse_cdf(self, weights, size):
        if weights.ndim != 1 or np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError("choice: p must be a 1-D array of finite non-negative weights")
        positive = np.flatnonzero(weights > 0)
        if positive.size == 0:
            raise ValueError("choice: p must have a positive entry")
        c = np.cumsum(weights)
        u = self.random(size)
        idx = np.minimum(np.searchsorted(c, np.asarray(u) * c[-1], side="right"), positive[-1])
        return int(idx) if size is None else idx.astype(np.int64)

    def subset(self, n, k):
        """``k`` distinct integers of ``[0, n)``, sorted (module table: ``subset``)."""
        _, ranks = self.subsets(np.array([n], dtype=np.int64), np.array([k], dtype=np.int64))
        return ranks

    def subsets(self, sizes, counts):
        """One uniform subset of ``counts[g]`` values of ``[0, sizes[g])`` per group ``g``.

        Returns ``owner, values`` (int64), sorted by (owner, value).  Groups that need more
        than half of their values draw the values they leave out instead.  Draw order: rounds;
        in each round every group still short, in increasing order, draws as many uniforms as
        it still needs (consecutive), and keeps each value not drawn before for that group.

        Examples
        --------
        >>> import numpy as np
        >>> d = Draws(np.random.default_rng(0))
        >>> owner, values = d.subsets(np.array([5, 3]), np.array([2, 3]))
        >>> owner.tolist(), values[owner == 1].tolist()
        ([0, 0, 1, 1, 1], [0, 1, 2])
        """
        sizes = np.asarray(sizes, dtype=np.int64).ravel()
        counts = np.asarray(counts, dtype=np.int64).ravel()
        if sizes.shape != counts.shape:
            raise ValueError("subsets: sizes and counts must have the same length")
        if np.any(counts < 0) or np.any(counts > sizes):
            raise ValueError("subsets: counts must be in [0, sizes]")
        if sizes.size == 1:
            return self._subset_one(int(sizes[0]), int(counts[0]))
        complement = 2 * counts > sizes
        want = np.where(complement, sizes - counts, counts)
        offset = np.cumsum(sizes) - sizes                 # keys: offset[g] + value
        chosen = np.empty(0, dtype=np.int64)              # sorted keys drawn so far
        need = want.copy()
        while True:
            short = np.flatnonzero(need > 0)
            if short.size == 0:
                break
            group = np.repeat(short, need[short])
            u = self.random(group.size)
            value = np.minimum(np.floor(u * sizes[group]).astype(np.int64), sizes[group] - 1)
            # a round keeps every distinct value it drew that the group did not have: it
            # draws no more than the group still needs, so that is the sequential rule
            ks = _fresh(np.sort(offset[group] + value), chosen)
            need -= np.bincount(_owner_of(ks, offset, sizes), minlength=need.size)
            chosen = np.concatenate([chosen, ks])
            if chosen.size > ks.size:                      # later rounds: merge
                chosen.sort(kind="stable")
        owner = _owner_of(chosen, offset, sizes)
        values = chosen - offset[owner]
        if complement.any():
            keep = ~complement[owner]
            parts_o, parts_v = [owner[keep]], [values[keep]]
            for g in np.flatnonzero(complement):
                mask = np.ones(sizes[g], dtype=bool)
                mask[values[owner == g]] = False
                rest = np.flatnonzero(mask)
                parts_o.append(np.full(rest.size, g, dtype=np.int64))
                parts_v.append(rest.astype(np.int64))
            owner, values = np.concatenate(parts_o), np.concatenate(parts_v)
            order = np.lexsort((values, owner))
            owner, values = owner[order], values[order]
        return owner.astype(np.int64), values.astype(np.int64)

    def _subset_one(self, n, k):
        """:meth:`subsets` for one group (the same draws, without the group bookkeeping)."""
        leave_out = 2 * k > n
        need = n - k if leave_out else k
        chosen = np.empty(0, dtype=np.int64)
        while need > 0:
            u = self.random(need)
            ks = _fresh(np.sort(np.minimum(np.floor(u * n).astype(np.int64), n - 1)), chosen)
            need -= ks.size
            chosen = np.sort(np.concatenate([chosen, ks])) if chosen.size else ks
        if leave_out:
            mask = np.ones(n, dtype=bool)
            mask[chosen] = False
            chosen = np.flatnonzero(mask).astype(np.int64)
        return np.zeros(chosen.size, dtype=np.int64), chosen

    def binomial(self, n, p):
        """Binomial(n, p) by its quantile: the smallest ``k`` with ``bdtr(k, n, p) >= u``."""
        n, p = int(n), float(p)
        if n < 0 or not 0.0 <= p <= 1.0:
            raise ValueError("binomial: n must be >= 0 and p in [0, 1]")
        u = self.random()
        if n == 0 or p == 0.0:
            return 0
        if p == 1.0:
            return n
        k = int(min(max(math.floor(special.bdtrik(u, n, p)), 0), n))
        while k < n and special.bdtr(k, n, p) < u:
            k += 1
        while k > 0 and special.bdtr(k - 1, n, p) >= u:
            k -= 1
        return k


def _fresh(ks, chosen):
    """The distinct values of the sorted ``ks`` that are not in the sorted ``chosen``."""
    fresh = np.ones(ks.size, dtype=bool)
    fresh[1:] = ks[1:] != ks[:-1]
    if chosen.size:
        at = np.minimum(np.searchsorted(chosen, ks), chosen.size - 1)
        fresh &= chosen[at] != ks
    return ks[fresh]


def _owner_of(keys, offset, sizes):
    """Group of each key (``offset[g] <= key < offset[g] + sizes[g]``), skipping empty groups."""
    nonempty = np.flatnonzero(sizes > 0)
    return nonempty[np.searchsorted(offset[nonempty], keys, side="right") - 1]


def as_draws(rng):
    """A :class:`Draws` for ``rng``: a Draws is returned as it is, a Generator is wrapped.

    Wrapping costs nothing and draws exactly what the stream needs from the Generator, so a
    function called with ``rng`` or with ``Draws(rng)`` gives the same result.

    Examples
    --------
    >>> import numpy as np
    >>> as_draws(np.random.default_rng(0))
    Draws(generator, consumed=0)
    """
    if isinstance(rng, Draws):
        return rng
    if isinstance(rng, np.random.Generator):
        return Draws(rng)
    raise ValueError(f"rng must be a numpy.random.Generator or a refset Draws, got {rng!r}")


def draws_from_seed(seed):
    """The stream of a public entry point's ``seed``: None, an int, a SeedSequence, a
    Generator (wrapped, shared) or a :class:`Draws` (used as it is, e.g. a replay)."""
    if isinstance(seed, Draws):
        return seed
    from ._rng import as_generator

    return Draws(as_generator(seed))
