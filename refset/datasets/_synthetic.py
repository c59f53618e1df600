r"""Madelon-style synthetic classification data in pure numpy.

Implements the generator design of the NIPS 2003 feature-selection challenge (Guyon, 2003):
Gaussian clusters on the vertices of a hypercube in the informative subspace, redundant
features as linear combinations of the informative ones, pure-noise features, and a little
label noise.  Written from the published description; scikit-learn is neither imported nor
copied.

Notes
-----
- Each cluster gets its own random covariance: standard normal points are multiplied by a
  matrix with entries uniform in [-1, 1] before being moved to their vertex.
- Samples are spread over the clusters as evenly as possible (the first
  ``n_samples % n_clusters`` clusters get one more), and cluster ``c`` belongs to class
  ``c % n_classes``, so class sizes differ by at most one before label noise.
- "Same seed, same arrays" holds bit for bit on one platform and numpy/BLAS build; the
  cluster covariances go through a matrix product, whose last bits may differ elsewhere.
- Label noise replaces the label of a fraction ``flip_y`` of the samples by a class drawn
  uniformly from all classes (possibly the same one), so the expected fraction of wrong
  labels is ``flip_y * (n_classes - 1) / n_classes``.
"""
import numpy as np

from .._rng import as_generator
from .._validation import check_float, check_int

__all__ = ["make_synthetic"]

# Below this many informative features the distinct vertices are drawn without replacement
# from all 2**n_informative of them; above it, random bit rows with rejection of repeats.
_EXACT_VERTEX_LIMIT = 30


def make_synthetic(n_samples=2000, n_features=200, *, n_informative=10, n_redundant=10,
                   n_classes=4, n_clusters_per_class=2, class_sep=1.5, flip_y=0.01,
                   seed=None):
    r"""Generate a Madelon-style classification problem.

    Parameters
    ----------
    n_samples : int, default 2000
        Number of samples, at least ``n_classes * n_clusters_per_class`` (one per cluster).
    n_features : int, default 200
        Total number of features, at least ``n_informative + n_redundant``; the remaining
        ``n_features - n_informative - n_redundant`` are pure standard-normal noise.
    n_informative : int, default 10
        Dimension of the hypercube carrying the clusters, at least 1.
    n_redundant : int, default 10
        Number of random linear combinations of the informative features, at least 0.
    n_classes : int, default 4
        Number of classes, at least 2.
    n_clusters_per_class : int, default 2
        Gaussian clusters per class, at least 1; ``n_classes * n_clusters_per_class`` must not
        exceed ``2 ** n_informative`` (the number of hypercube vertices).
    class_sep : float, default 1.5
        Half the side of the hypercube (vertices at :math:`\pm` ``class_sep``), > 0.
    flip_y : float, default 0.01
        Fraction of samples whose label is redrawn uniformly at random, in [0, 1].
    seed : None, int or numpy.random.Generator
        Source of randomness, with ``numpy.random.default_rng`` semantics. The same integer
        seed gives bit-identical arrays; a Generator is advanced.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        C-contiguous features; samples and feature columns are both shuffled.
    y : ndarray of shape (n_samples,), int64
        Class indices in ``0..n_classes-1``.

    Notes
    -----
    With :math:`d` = ``n_informative`` and :math:`s` = ``class_sep``, cluster :math:`c` has a
    distinct vertex :math:`v_c \in \{-s, s\}^d` and a matrix :math:`A_c` with entries drawn
    from :math:`U[-1, 1]`; its informative part is

    .. math:: x = z A_c + v_c, \qquad z \sim \mathcal{N}(0, I_d).

    The redundant block is :math:`x B` with :math:`B \in U[-1, 1]^{d \times r}`, shared by
    all clusters.

    References
    ----------
    I. Guyon, "Design of experiments for the NIPS 2003 variable selection benchmark", 2003.

    Examples
    --------
    >>> X, y = make_synthetic(n_samples=8, n_features=5, n_informative=2, n_redundant=1,
    ...                       n_classes=2, n_clusters_per_class=1, seed=0)
    >>> X.shape, X.dtype, sorted(set(y.tolist()))
    ((8, 5), dtype('float64'), [0, 1])
    """
    n_samples = check_int("n_samples", n_samples, 1)
    n_features = check_int("n_features", n_features, 1)
    n_informative = check_int("n_informative", n_informative, 1)
    n_redundant = check_int("n_redundant", n_redundant, 0)
    if n_informative + n_redundant > n_features:
        raise ValueError(
            f"n_informative + n_redundant must be <= n_features = {n_features}, got "
            f"{n_informative} + {n_redundant} = {n_informative + n_redundant}")
    n_classes = check_int("n_classes", n_classes, 2)
    n_clusters_per_class = check_int("n_clusters_per_class", n_clusters_per_class, 1)
    class_sep = check_float("class_sep", class_sep, 0, low_open=True)
    flip_y = check_float("flip_y", flip_y, 0, 1)
    n_clusters = n_classes * n_clusters_per_class
    if n_clusters > 2 ** n_informative:
        raise ValueError(
            f"n_classes * n_clusters_per_class must be <= 2**n_informative = "
            f"{2 ** n_informative} (the hypercube's vertices), got {n_clusters}")
    if n_samples < n_clusters:
        raise ValueError(f"n_samples must be >= n_classes * n_clusters_per_class = "
                         f"{n_clusters}, got {n_samples}")
    rng = as_generator(seed)

    # cluster sizes as even as possible; cluster c belongs to class c % n_classes
    sizes = np.full(n_clusters, n_samples // n_clusters, dtype=np.int64)
    sizes[:n_samples % n_clusters] += 1
    y = np.repeat(np.arange(n_clusters, dtype=np.int64) % n_classes, sizes)

    vertices = _hypercube_vertices(n_clusters, n_informative, rng) * (2.0 * class_sep) - class_sep
    X_inf = rng.standard_normal((n_samples, n_informative))
    start = 0
    for c in range(n_clusters):
        block = slice(start, start + sizes[c])
        A = 2.0 * rng.random((n_informative, n_informative)) - 1.0
        X_inf[block] = X_inf[block] @ A + vertices[c]
        start += sizes[c]

    n_noise = n_features - n_informative - n_redundant
    B = 2.0 * rng.random((n_informative, n_redundant)) - 1.0
    X = np.hstack([X_inf, X_inf @ B, rng.standard_normal((n_samples, n_noise))])

    flip = rng.random(n_samples) < flip_y
    y[flip] = rng.integers(0, n_classes, size=int(flip.sum()))

    rows = rng.permutation(n_samples)
    cols = rng.permutation(n_features)
    X = np.ascontiguousarray(X[rows][:, cols])
    return X, y[rows]


def _hypercube_vertices(n_vertices, dim, rng):
    """Distinct random vertices of the unit hypercube {0, 1}**dim, shape (n_vertices, dim)."""
    if dim <= _EXACT_VERTEX_LIMIT:
        codes = rng.choice(2 ** dim, size=n_vertices, replace=False)
        bits = (codes[:, None] >> np.arange(dim)) & 1
        return bits.astype(np.float64)
    # 2**dim is astronomically larger than n_vertices: repeats are (almost) never drawn
    rows, seen = [], set()
    while len(rows) < n_vertices:
        row = rng.integers(0, 2, size=dim)
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return np.array(rows, dtype=np.float64)
