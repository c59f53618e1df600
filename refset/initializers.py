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

from .draws import as_draws

__all__ = ["Normal", "HeUniform", "XavierUniform", "TorchLinear", "SWI", "get_initializer", "INITIALIZERS"]


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


@dataclass(frozen=True)
class SWI:
    r"""Sparse weight initialisation of CHT (Zhang et al. 2024, §3.2; ALGORITHMS §5.2).

    :math:`w \sim N(0, \sigma^2)` with

    .. math:: \sigma = \frac{\mathrm{gain}}{\sqrt{(1 - S)\,\mathrm{fan\_in}}}

    where ``S`` is the layer's sparsity and ``gain = sqrt(2)`` for ReLU.  ``(1 - S) fan_in`` is
    the mean number of inputs per output, so at ``S = 0`` this is Kaiming normal.  The paper's
    ``fan_in`` is used, not the ``fan_out`` of a later version of the authors' code.

    Parameters
    ----------
    sparsity : float in [0, 1) or None
        The layer's sparsity ``1 - nnz / (n_in n_out)``.  None (unbound) until
        :meth:`for_layer` binds it; calling an unbound instance is an error.
    gain : float > 0, default sqrt(2)

    Examples
    --------
    >>> import numpy as np
    >>> init = SWI().for_layer(100, 50, 500)           # sparsity 0.9
    >>> round(init.std(100), 6)                        # sqrt(2) / sqrt(0.1 * 100)
    0.447214
    >>> init(np.random.default_rng(0), 3, 100, 50, np.float32).dtype
    dtype('float32')
    """

    sparsity: float = None
    gain: float = math.sqrt(2.0)

    def __post_init__(self):
        if self.sparsity is not None:
            s = self.sparsity
            if isinstance(s, bool) or not isinstance(s, (int, float, np.floating, np.integer)) \
                    or not 0.0 <= float(s) < 1.0:
                raise ValueError(f"sparsity must be a number in [0, 1), got {s!r}")
        g = self.gain
        if isinstance(g, bool) or not isinstance(g, (int, float, np.floating, np.integer)) \
                or not (math.isfinite(float(g)) and float(g) > 0):
            raise ValueError(f"gain must be a finite number > 0, got {g!r}")

    def for_layer(self, n_in, n_out, nnz):
        """A copy bound to the sparsity ``1 - nnz / (n_in n_out)`` of one layer.

        Examples
        --------
        >>> SWI().for_layer(10, 4, 10).sparsity
        0.75
        """
        for name, value in (("n_in", n_in), ("n_out", n_out), ("nnz", nnz)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if nnz > n_in * n_out:
            raise ValueError(f"nnz must be at most n_in * n_out = {n_in * n_out}, got {nnz}")
        return SWI(sparsity=1.0 - int(nnz) / (int(n_in) * int(n_out)), gain=self.gain)

    def std(self, fan_in):
        """σ for a layer with ``fan_in`` inputs."""
        if self.sparsity is None:
            raise ValueError("SWI needs the layer's sparsity: bind it with "
                             "SWI().for_layer(n_in, n_out, nnz) before drawing weights")
        return self.gain / math.sqrt((1.0 - self.sparsity) * fan_in)

    def __call__(self, rng, size, fan_in, fan_out, dtype):
        return (self.std(fan_in) * as_draws(rng).standard_normal(size)).astype(dtype, copy=False)


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
