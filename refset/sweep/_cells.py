"""The cells of a sweep (dataset × grid point × replicate), their run ids and their seeds."""
import itertools
import json
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Cell", "cell_seed", "grid_points", "expand_cells", "validate_cells", "SAFE"]

#: Characters not allowed in a run id (or an experiment name).
SAFE = re.compile(r"[^A-Za-z0-9._+=-]")


def _per_method(options):
    """True when method_options is keyed by method name (one table per method)."""
    from ..estimator.methods import METHODS

    return (isinstance(options, dict) and bool(options)
            and all(k in METHODS and isinstance(v, dict) for k, v in options.items()))


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: a dataset, a grid point and a replicate.

    Attributes
    ----------
    run_id : str
        Readable, filesystem-safe name, e.g. ``"COIL20__set__zeta=0.3__r03"``.
    dataset : str
    method : str
    point : dict
        The cell's grid values (grid key -> value).
    replicate : int
    seed : int
        The seed of the data split and of training (as ``refset train --seed``).
    params : dict
        Every :class:`refset.SparseMLP` keyword of the run.
    data_args : dict
        The ``data`` part of the run's ``config.json`` (see :func:`refset.estimator.run.make_data_args`).

    Examples
    --------
    >>> from refset.sweep import parse_config
    >>> cell = expand_cells(parse_config({"data": {"datasets": ["COIL20"]},
    ...                                   "grid": {"zeta": [0.3]}}))[0]
    >>> cell.run_id, cell.point, cell.params["zeta"], cell.seed == cell_seed(0, "COIL20", 0)
    ('COIL20__set__zeta=0.3__r00', {'zeta': 0.3}, 0.3, True)
    """

    run_id: str
    dataset: str
    method: str
    point: dict
    replicate: int
    seed: int
    params: dict
    data_args: dict


def cell_seed(root_seed, dataset, replicate):
    """Seed of every cell of ``dataset`` and ``replicate``: the same for all grid points.

    ``SeedSequence(root_seed, spawn_key=(D, replicate))`` with ``D`` the dataset's registered
    name read as a big-endian integer of its UTF-8 bytes; its first 32-bit word is the seed.
    It depends on nothing else, so adding grid values, datasets or replicates, or reordering
    them, leaves every other cell's seed unchanged.

    Examples
    --------
    >>> cell_seed(0, "COIL20", 0) == cell_seed(0, "coil20", 0) != cell_seed(0, "COIL20", 1)
    True
    """
    from ..datasets._registry import get_spec

    key = int.from_bytes(get_spec(dataset).name.encode("utf-8"), "big")
    seq = np.random.SeedSequence(int(root_seed), spawn_key=(key, int(replicate)))
    return int(seq.generate_state(1, np.uint32)[0])


def _fmt(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "x".join(_fmt(v) for v in value)
    return str(value)


def _run_id(dataset, method, point, replicate, width):
    parts = [dataset, method]
    for key in sorted(k for k in point if k != "method"):
        name = key[len("method_options."):] if key.startswith("method_options.") else key
        parts.append(f"{name}={_fmt(point[key])}")
    parts.append(f"r{replicate:0{width}d}")
    return "__".join(SAFE.sub("-", p) for p in parts)


def _cell_params(config, point):
    model = dict(config["model"])
    params = {k: v for k, v in model.items() if k != "method_options"}
    params.update({k: v for k, v in point.items() if not k.startswith("method_options.")})
    method = params.get("method", "set")
    options = model.get("method_options")
    if _per_method(options):
        options = options.get(method)
    options = dict(options or {})
    options.update({k[len("method_options."):]: v for k, v in point.items()
                    if k.startswith("method_options.")})
    params["method_options"] = options or None
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    params.update(epochs=config["experiment"]["epochs"], threads=1, verbose=0)
    return params


def grid_points(grid):
    """Cartesian product of the grid as a list of dicts, in config order (last key fastest).

    Examples
    --------
    >>> grid_points({"zeta": [0, 0.3], "method": ["set"]})
    [{'zeta': 0, 'method': 'set'}, {'zeta': 0.3, 'method': 'set'}]
    >>> grid_points({})
    [{}]
    """
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def expand_cells(config):
    """All cells of a normalised config, dataset-major, then grid point, then replicate.

    Examples
    --------
    >>> from refset.sweep import parse_config
    >>> config = parse_config({"experiment": {"runs": 2}, "data": {"datasets": ["synthetic"]},
    ...                        "grid": {"zeta": [0.0, 0.3]}})
    >>> [c.run_id for c in expand_cells(config)]  # doctest: +NORMALIZE_WHITESPACE
    ['synthetic__set__zeta=0.0__r00', 'synthetic__set__zeta=0.0__r01',
     'synthetic__set__zeta=0.3__r00', 'synthetic__set__zeta=0.3__r01']
    """
    from ..estimator.run import make_data_args

    exp, data = config["experiment"], config["data"]
    width = max(2, len(str(exp["runs"] - 1)))
    cells = []
    for dataset in data["datasets"]:
        seeds = [cell_seed(exp["seed"], dataset, r) for r in range(exp["runs"])]
        for point in grid_points(config["grid"]):
            params = _cell_params(config, point)
            method = params.get("method", "set")
            for r, seed in enumerate(seeds):
                data_args = make_data_args(
                    dataset, data_dir=data["data_dir"], test_size=data["test_size"], seed=seed,
                    synthetic=data["synthetic"] if dataset == "synthetic" else None)
                cells.append(Cell(_run_id(dataset, method, point, r, width), dataset, method,
                                  dict(point), r, seed, dict(params, seed=seed), data_args))
    return cells


def validate_cells(cells):
    """Construct every distinct model of the sweep and validate its parameters."""
    from ..estimator.mlp import SparseMLP

    seen = set()
    for cell in cells:
        key = json.dumps({k: v for k, v in cell.params.items() if k != "seed"},
                         sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        try:
            SparseMLP(**cell.params)._validate_params()
        except (ValueError, TypeError) as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in cell.point.items()) or "the [model] table"
            raise ValueError(f"model: SparseMLP refuses the cell {where} "
                             f"(dataset {cell.dataset}): {' '.join(str(exc).split())}") from None
