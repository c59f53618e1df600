"""refset with its compiled (Cython) kernels, as an oracle adapter — the one CI checks."""
from .reference import FUNCTIONS as _FUNCTIONS, make as _make

_impl = _make("cython")
globals().update({_name: getattr(_impl, _name) for _name in _FUNCTIONS})
NAME = "refset (cython)"
