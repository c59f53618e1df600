"""One training run: its data, its config document and its files.

Shared by ``refset train`` (:mod:`refset.cli`) and ``refset sweep`` (:mod:`refset.sweep`), so
that a sweep's run directory is a ``refset train`` run directory: the same ``config.json``
(``{"data": ..., "model": ...}``), ``history.json``, ``history.csv`` and ``model.npz``, which
``refset train --resume`` continues.
"""
import json
import os

from .._io import atomic_write, json_default
from .history import write_history_csv, write_history_json

__all__ = ["make_data_args", "load_run_data", "run_config", "write_run_config",
           "write_run_history"]


def make_data_args(name, *, data_dir=None, test_size=1 / 3, seed=0, download=False,
                   synthetic=None, standardize=True):
    """The ``data`` part of a run's config: everything :func:`load_run_data` needs.

    ``standardize`` is passed to :func:`refset.load_dataset` (True, or ``"global"`` for the
    CHT authors' normalisation); it is stored only when it is not the default.

    Examples
    --------
    >>> make_data_args("synthetic", seed=3)["seed"]
    3
    """
    args = {"name": name, "data_dir": None if data_dir is None else os.fspath(data_dir),
            "test_size": test_size, "seed": seed, "download": download,
            "synthetic": dict(synthetic or {})}
    if standardize is not True:
        args["standardize"] = standardize
    return args


def load_run_data(data_args):
    """Load the train/test split described by ``data_args`` (see :func:`make_data_args`).

    Examples
    --------
    >>> load_run_data(make_data_args("synthetic", synthetic={"n_samples": 90})).summary()
    'synthetic: 60 train / 30 test, 200 features, 4 classes'
    """
    from ..datasets import load_dataset

    return load_dataset(data_args["name"], data_args["data_dir"],
                        test_size=data_args["test_size"], seed=data_args["seed"],
                        download=data_args.get("download", False),
                        synthetic=data_args.get("synthetic") or None,
                        standardize=data_args.get("standardize", True))


def run_config(data_args, model):
    """The JSON document ``{"data": data_args, "model": model.get_params()}`` of a run.

    Tuples become lists, so the document equals its JSON round trip.

    Examples
    --------
    >>> from refset import SparseMLP
    >>> run_config(make_data_args("synthetic"), SparseMLP((8, 8)))["model"]["hidden_layer_sizes"]
    [8, 8]
    """
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.get_params().items()}
    return {"data": dict(data_args), "model": params}


def write_run_config(run_dir, config):
    """Write ``run_dir/config.json`` atomically (the directory is created if needed).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> write_run_config(d, {"data": {}, "model": {}})
    >>> sorted(json.loads(pathlib.Path(d, "config.json").read_text()))
    ['data', 'model']
    """
    with atomic_write(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1, default=json_default)


def write_run_history(run_dir, history, config):
    """Write ``run_dir/history.json`` (with the config) and ``run_dir/history.csv``.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> write_run_history(d, [{"epoch": 1, "test_accuracy": 0.5}], {"data": {}, "model": {}})
    >>> sorted(os.listdir(d))
    ['history.csv', 'history.json']
    """
    write_history_json(history, os.path.join(run_dir, "history.json"), config=config)
    write_history_csv(history, os.path.join(run_dir, "history.csv"))
