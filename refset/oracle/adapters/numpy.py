"""refset with the numpy twins of its kernels, as an oracle adapter (the cases' generator)."""
from .reference import FUNCTIONS as _FUNCTIONS, make as _make

_impl = _make("numpy")
globals().update({_name: getattr(_impl, _name) for _name in _FUNCTIONS})
NAME = "refset (numpy)"
