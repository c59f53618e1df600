"""The papers' configurations, one flag away: ``refset train --config NAME``.

Each shipped file is a TOML document with the ``[data]`` and ``[model]`` tables of a sweep
config (:mod:`refset.sweep`), for one run:

- ``[data]``: ``dataset`` (a registered name), and optionally ``test_size``, ``data_dir``
  and, for ``"synthetic"``, a ``[data.synthetic]`` table;
- ``[model]``: any :class:`refset.SparseMLP` parameters (``epochs`` and ``seed`` included),
  with ``[model.method_options]`` for the method's options.

Shipped: ``set-original-coil20``, ``set-original-tox171``, ``set-original-lung`` (the original
SET code's reference configuration, ALGORITHMS §3), ``cavallaro-coil20-zeta0.02`` (a cell of
the ζ study, ALGORITHMS §6), ``cht-mnist-1x`` and ``cht-mnist-2x`` (CHT's reference setup,
ALGORITHMS §5.5) and ``naji-fashion-mnist`` (Path-Weight, ALGORITHMS §4).  Options given on
the command line override the file's values.

Examples
--------
>>> names()[:2]
['cavallaro-coil20-zeta0.02', 'cht-mnist-1x']
>>> load_train_config("cht-mnist-1x")["model"]["hidden_layer_sizes"]
[784, 784, 784]
"""
import os

__all__ = ["names", "config_path", "load_train_config"]

_DIR = os.path.dirname(os.path.abspath(__file__))
_DATA_KEYS = ("dataset", "test_size", "data_dir", "synthetic")


def names():
    """The shipped configurations, sorted."""
    return sorted(f[:-5] for f in os.listdir(_DIR) if f.endswith(".toml"))


def config_path(name_or_path):
    """The file of a shipped name, or ``name_or_path`` itself if it is a file."""
    if os.path.isfile(name_or_path):
        return name_or_path
    if name_or_path in names():
        return os.path.join(_DIR, name_or_path + ".toml")
    raise ValueError(f"--config: {name_or_path!r} is neither a file nor a shipped configuration "
                     f"({', '.join(names())})")


def load_train_config(name_or_path):
    """Read a one-run config: ``{"data": {...}, "model": {...}}`` (validated keys).

    Unknown tables or ``[data]`` keys and ``[model]`` keys that are not parameters of
    :class:`refset.SparseMLP` are a ``ValueError`` naming the file and the key; the values are
    validated when the model is built.
    """
    from ..estimator import SparseMLP

    from ..sweep._config import read_toml

    path = config_path(name_or_path)
    raw, _ = read_toml(path)
    unknown = [k for k in raw if k not in ("data", "model")]
    if unknown:
        raise ValueError(f"--config: {path}: unknown table [{unknown[0]}]; a train config has "
                         "[data] and [model]")
    data, model = dict(raw.get("data", {})), dict(raw.get("model", {}))
    for key in data:
        if key not in _DATA_KEYS:
            raise ValueError(f"--config: {path}: unknown key data.{key}; allowed: "
                             f"{', '.join(_DATA_KEYS)}")
    params = SparseMLP().get_params()
    for key in model:
        if key not in params:
            raise ValueError(f"--config: {path}: model.{key} is not a SparseMLP parameter")
    return {"data": data, "model": model, "path": path}
