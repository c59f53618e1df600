"""Random small sparse networks for the path and importance tests (hypothesis strategy)."""
import numpy as np
from hypothesis import strategies as st

from refset import CooMatrix, erdos_renyi_layer


def random_network(widths, eps, seed, ties=False):
    """Erdős–Rényi layers of the given widths; ``ties`` rounds |w| to 0.1 (equal scores and
    explicit zeros)."""
    rng = np.random.default_rng(seed)
    layers = [erdos_renyi_layer(a, b, eps, rng) for a, b in zip(widths[:-1], widths[1:])]
    if ties:
        layers = [CooMatrix(W.rows, W.cols, np.round(W.values * 10) / 10, W.shape)
                  for W in layers]
    return layers


networks = st.builds(
    random_network,
    st.lists(st.integers(1, 7), min_size=2, max_size=5),
    st.floats(1.0, 3.0), st.integers(0, 2**32 - 1), st.booleans())
