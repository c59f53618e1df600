"""Random generators: the only way randomness enters refset.

Public entry points accept ``seed`` as an int, None or a ``numpy.random.Generator``; internal
functions take a Generator (or pre-drawn arrays).  Global ``np.random.*`` is never used.
"""
import numpy as np

__all__ = ["as_generator", "generator_state", "generator_from_state"]


def as_generator(seed):
    """Return a ``numpy.random.Generator`` for ``seed``.

    Parameters
    ----------
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        A Generator is returned as it is (shared, not copied).

    Examples
    --------
    >>> int(as_generator(0).integers(10**6)) == int(as_generator(0).integers(10**6))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (np.random.SeedSequence,)):
        return np.random.default_rng(seed)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.default_rng(int(seed))
    raise ValueError(f"seed must be None, a non-negative int or a numpy.random.Generator, got {seed!r}")


def generator_state(rng):
    """JSON-serialisable state of a Generator (its bit generator's state dict)."""
    return rng.bit_generator.state


def generator_from_state(state):
    """Rebuild a Generator from :func:`generator_state` output, bit for bit."""
    try:
        bitgen = getattr(np.random, state["bit_generator"])()
        bitgen.state = state
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"invalid generator state: {exc}") from None
    return np.random.Generator(bitgen)
