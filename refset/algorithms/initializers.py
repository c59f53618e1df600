"""Weight initialisers for the links of a sparse layer (ALGORITHMS §1).

An initialiser is a callable ``init(rng, size, fan_in, fan_out, dtype) -> ndarray`` that
draws ``size`` weights (``rng`` a Generator or a :class:`refset.draws.Draws`; the built-in
ones draw ``standard_normal`` or ``uniform`` of that stream, one uniform per weight); ``fan_in`` and ``fan_out`` are the layer's widths ``n_in`` and
``n_out``.  New links created by a topology update use the layer's initialiser.  Biases start
at 0.

Examples
--------
>>> import numpy as np
>>> init = get_initializer("he_uniform")
>>> w = init(np.random.default_rng(0), 1000, 6, 4, np.float64)
>>> bool(np.all(np.abs(w) <= 1.0))           # bound sqrt(6 / fan_in) = 1
True
"""
import math
from dataclasses import dataclass

import numpy as np

from ..draws import as_draws
from .swi import SWI

__all__ = ["Normal", "HeUniform", "XavierUniform", "TorchLinear", "get_initializer", "INITIALIZERS"]


@dataclass(frozen=True)
class Normal:
    """N(0, std²); ``std = 0.1`` is the original SET code's ``randn / 10`` (the default)."""

    std: float = 0.1

    def __call__(self, rng, size, fan_in, fan_out, dtype):
        return (self.std * as_draws(rng).standard_normal(size)).astype(dtype, copy=False)


@dataclass(frozen=True)
class HeUniform:
    """U(-a, a) with ``a = sqrt(6 / fan_in)`` (He et al., 2015)."""

    def __call__(self, rng, size, fan_in, fan_out, dtype):
        limit = np.sqrt(6.0 / fan_in)
        return as_draws(rng).uniform(-limit, limit, size).astype(dtype, copy=False)


@dataclass(frozen=True)
class XavierUniform:
    """U(-a, a) with ``a = sqrt(6 / (fan_in + fan_out))`` (Glorot and Bengio, 2010)."""

    def __call__(self, rng, size, fan_in, fan_out, dtype):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return as_draws(rng).uniform(-limit, limit, size).astype(dtype, copy=False)


@dataclass(frozen=True)
class TorchLinear:
    """U(-a, a) with ``a = 1 / sqrt(fan_in)``: what PyTorch's ``nn.Linear`` draws for its weights
    (Kaiming uniform with ``a = sqrt(5)``) and its biases.  The CHT authors' dense output layer
    (quirk ``torch_default_output`` of :mod:`refset.fidelity`)."""

    def __call__(self, rng, size, fan_in, fan_out, dtype):
        limit = 1.0 / np.sqrt(fan_in)
        return as_draws(rng).uniform(-limit, limit, size).astype(dtype, copy=False)


INITIALIZERS = {"normal": Normal, "he_uniform": HeUniform, "xavier_uniform": XavierUniform,
                "swi": SWI, "torch_linear": TorchLinear}


def get_initializer(spec):
    """Resolve ``spec``: a name in :data:`INITIALIZERS` or a callable (returned as is).

    Examples
    --------
    >>> get_initializer("normal")
    Normal(std=0.1)
    """
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec in INITIALIZERS:
        return INITIALIZERS[spec]()
    raise ValueError(f"weight_init must be one of {', '.join(map(repr, INITIALIZERS))} "
                     f"or a callable, got {spec!r}")
