"""Sweep configs: reading, validation and normalisation.

See :mod:`refset.sweep` for the format.  Every error is a ``ValueError`` whose message names the
key (``experiment.runs``, ``grid.zeta``, ...) and what is allowed.
"""
import inspect
import json
import numbers
import os

from ._cells import SAFE, expand_cells, validate_cells

__all__ = ["load_config", "parse_config", "run_identity"]

SECTIONS = ("experiment", "data", "model", "grid", "summary")
_KEYS = {
    "experiment": ("name", "seed", "runs", "epochs", "save_models"),
    "data": ("datasets", "test_size", "missing", "data_dir", "synthetic"),
    "summary": ("baseline", "compare"),
}
# SparseMLP parameters a sweep sets per cell: not allowed in [model] or [grid].
_RESERVED = {
    "seed": "the seed of every cell is derived from experiment.seed",
    "epochs": "set experiment.epochs",
    "threads": "every run uses one compute thread",
    "verbose": "progress is reported per run",
}
SAVE_MODELS = ("all", "first", "none")
MISSING = ("skip", "error")


def _fail(key, message):
    raise ValueError(f"{key}: {message}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_table(key, value, allowed=None):
    if not isinstance(value, dict):
        _fail(key, f"must be a table, got {value!r}")
    if allowed is not None:
        unknown = [k for k in value if k not in allowed]
        if unknown:
            _fail(f"{key}.{unknown[0]}", f"unknown key; allowed in [{key}]: {', '.join(allowed)}")
    return value


def _check_plain(key, value):
    """TOML values a parameter may take: no dates or times."""
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_plain(key, v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_plain(f"{key}.{k}", v)
    elif value is not None and not isinstance(value, (str, bool, numbers.Real)):
        _fail(key, f"must be a string, number, boolean, array or table, got {value!r}")


def load_config(path):
    """Read and validate a sweep config file (TOML).

    Parameters
    ----------
    path : str or path-like
        A relative ``data.data_dir`` is taken relative to the file's directory.

    Returns
    -------
    config : dict
        The normalised config (see :func:`parse_config`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp(), "s.toml")
    >>> _ = p.write_text('[data]\\ndatasets = ["synthetic"]\\n[grid]\\nzeta = [0.0, 0.3]\\n')
    >>> load_config(p)["grid"]
    {'zeta': [0.0, 0.3]}
    """
    return _load(path)[0]


def read_config_text(path):
    """The text of a config file; a ``ValueError`` naming the file when it cannot be one."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ValueError(f"config: {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"config: {path} is a directory; give the sweep's TOML file") from None
    except OSError as exc:
        raise ValueError(f"config: cannot read {path} ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"config: {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                         f"offset {exc.start}); save it as UTF-8") from None


def read_toml(path):
    """(parsed document, text) of a TOML config file (a sweep's or ``refset train --config``'s).

    Errors are ``ValueError`` naming the file; a relative ``data.data_dir`` is made relative to
    the file's directory.
    """
    try:
        import tomllib
    except ModuleNotFoundError:          # Python < 3.11
        import tomli as tomllib
    path = os.fspath(path)
    text = read_config_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config: {path} is not valid TOML ({exc})") from None
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("data_dir"), str):
        data["data_dir"] = os.path.join(os.path.dirname(os.path.abspath(path)),
                                        os.path.expanduser(data["data_dir"]))
    return raw, text


def _load(path):
    """(normalised config, its text) of a config file."""
    raw, text = read_toml(path)
    return parse_config(raw), text


def parse_config(raw):
    """Validate a sweep config given as a dict (a parsed TOML document) and normalise it.

    Fills in the defaults, spells dataset names as registered, and checks every cell by
    constructing its :class:`refset.SparseMLP` and calling ``_validate_params()`` before any
    run starts.

    Returns
    -------
    config : dict
        ``{"experiment": {...}, "data": {...}, "model": {...}, "grid": {...},
        "summary": {"baseline": dict or None, "compare": dict or None}}``; JSON-serialisable.

    Raises
    ------
    ValueError
        Unknown section or key, wrong type, empty grid list, ``runs < 1``, unknown dataset,
        or a cell whose parameters SparseMLP refuses; the message names the key.

    Examples
    --------
    >>> config = parse_config({"data": {"datasets": ["coil20"]}, "grid": {"zeta": [0, 0.3]}})
    >>> config["data"]["datasets"], config["experiment"]["runs"], config["summary"]["baseline"]
    (['COIL20'], 1, {'zeta': 0.3})
    >>> parse_config({"data": {"datasets": ["COIL20"]}, "experiment": {"runs": 0}})
    Traceback (most recent call last):
    ...
    ValueError: experiment.runs: must be an integer >= 1, got 0
    """
    _check_table("config", raw)
    unknown = [k for k in raw if k not in SECTIONS]
    if unknown:
        _fail(f"[{unknown[0]}]", f"unknown section; allowed: {', '.join(SECTIONS)}")
    config = {
        "experiment": _parse_experiment(raw.get("experiment", {})),
        "data": _parse_data(raw.get("data")),
        "model": _parse_model(raw.get("model", {})),
    }
    config["grid"] = _parse_grid(raw.get("grid", {}), config["model"])
    config["summary"] = _parse_summary(raw.get("summary"), config["grid"])
    cells = expand_cells(config)
    ids = {}
    for cell in cells:
        if cell.run_id in ids:
            _fail("grid", f"two cells share the run id {cell.run_id!r} "
                  f"({ids[cell.run_id]} and {cell.point}); make the grid values distinct")
        ids[cell.run_id] = cell.point
    validate_cells(cells)
    return config


def _parse_experiment(table):
    _check_table("experiment", table, _KEYS["experiment"])
    name = table.get("name", "sweep")
    if not isinstance(name, str) or not name or SAFE.search(name):
        _fail("experiment.name", f"must be a non-empty string of letters, digits and . _ + = -, "
              f"got {name!r}")
    out = {"name": name}
    for key, default, low in (("seed", 0, 0), ("runs", 1, 1), ("epochs", 100, 1)):
        value = table.get(key, default)
        if not _is_int(value) or value < low:
            _fail(f"experiment.{key}", f"must be an integer >= {low}, got {value!r}")
        out[key] = int(value)
    save = table.get("save_models", "all")
    if save not in SAVE_MODELS:
        _fail("experiment.save_models", f"must be one of {', '.join(map(repr, SAVE_MODELS))}, "
              f"got {save!r}")
    out["save_models"] = save
    return out


def _parse_data(table):
    from ..datasets import list_datasets
    from ..datasets._registry import get_spec
    from ..datasets._synthetic import make_synthetic

    if table is None:
        _fail("[data]", "missing; a sweep needs data.datasets, e.g. datasets = [\"synthetic\"]")
    _check_table("data", table, _KEYS["data"])
    datasets = table.get("datasets")
    if (not isinstance(datasets, list) or not datasets
            or not all(isinstance(d, str) for d in datasets)):
        _fail("data.datasets", f"must be a non-empty array of dataset names, got {datasets!r}")
    names = []
    for name in datasets:
        try:
            canonical = get_spec(name).name
        except ValueError:
            _fail("data.datasets", f"unknown dataset {name!r}; allowed: "
                  f"{', '.join(list_datasets())} (case-insensitive)")
        if canonical in names:
            _fail("data.datasets", f"{name!r} is listed twice")
        names.append(canonical)
    test_size = table.get("test_size", 1 / 3)
    if not _is_number(test_size) or not 0 < test_size < 1:
        _fail("data.test_size", f"must be a number in (0, 1), got {test_size!r}")
    missing = table.get("missing", "skip")
    if missing not in MISSING:
        _fail("data.missing", f"must be one of {', '.join(map(repr, MISSING))}, got {missing!r}")
    data_dir = table.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        _fail("data.data_dir", f"must be a path string, got {data_dir!r}")
    synthetic = _check_table("data.synthetic", table.get("synthetic", {}),
                             [p for p in inspect.signature(make_synthetic).parameters
                              if p != "seed"])
    for key, value in synthetic.items():
        if not _is_number(value):
            _fail(f"data.synthetic.{key}", f"must be a number, got {value!r}")
    if synthetic and "synthetic" not in names:
        _fail("data.synthetic", "applies only to the 'synthetic' dataset, which is not in "
              "data.datasets")
    return {"datasets": names, "test_size": float(test_size), "missing": missing,
            "data_dir": data_dir, "synthetic": dict(synthetic)}


def _param_names():
    from ..estimator.mlp import SparseMLP

    return [p for p in SparseMLP._PARAMS if p not in _RESERVED]


def _check_param(section, key):
    if key in _RESERVED:
        _fail(f"{section}.{key}", f"is set by the sweep ({_RESERVED[key]}); remove it")
    if key not in _param_names():
        _fail(f"{section}.{key}", "unknown SparseMLP parameter; allowed: "
              f"{', '.join(_param_names())}" + (", method_options.<name>" if section == "grid"
                                                else ""))


def _parse_model(table):
    _check_table("model", table)
    for key, value in table.items():
        _check_param("model", key)
        _check_plain(f"model.{key}", value)
    options = table.get("method_options")
    if options is not None:
        _check_table("model.method_options", options)
    return dict(table)


def _parse_grid(table, model):
    _check_table("grid", table)
    grid = {}
    for key, values in table.items():
        if key.startswith("method_options."):
            name = key[len("method_options."):]
            if not name or "." in name:
                _fail(f"grid.{key}", "must be method_options.<option name>")
        elif key == "method_options":
            _fail("grid.method_options", "grid one option at a time: method_options.<name>")
        else:
            _check_param("grid", key)
            if key in model:
                _fail(f"grid.{key}", "is also set in [model]; set it in one place")
        if not isinstance(values, list) or not values:
            _fail(f"grid.{key}", f"must be a non-empty array of values, got {values!r}")
        _check_plain(f"grid.{key}", values)
        seen = []
        for v in values:
            if any(_same(v, s) for s in seen):
                _fail(f"grid.{key}", f"the value {v!r} is listed twice")
            seen.append(v)
        grid[key] = list(values)
    return grid


def _same(a, b):
    return type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and a == b)


def _parse_summary(table, grid):
    table = {} if table is None else _check_table("summary", table, _KEYS["summary"])
    baseline, compare = table.get("baseline"), table.get("compare")
    if baseline is None and compare is None:
        zetas = grid.get("zeta", [])
        if any(_same(z, 0.3) for z in zetas) and any(_same(z, 0) for z in zetas):
            return {"baseline": {"zeta": 0.3}, "compare": {"zeta": 0.0}}
        return {"baseline": None, "compare": None}
    if baseline is None:
        _fail("summary.baseline", "is required with summary.compare")
    for key, point in (("summary.baseline", baseline), ("summary.compare", compare)):
        if point is None:
            continue
        _check_table(key, point)
        if not point:
            _fail(key, "must name at least one grid key, e.g. { zeta = 0.3 }")
        for k, v in point.items():
            if k not in grid:
                _fail(f"{key}.{k}", f"is not a grid key; grid keys: {', '.join(grid) or 'none'}")
            if not any(_same(v, g) for g in grid[k]):
                _fail(f"{key}.{k}", f"{v!r} is not among the grid values {grid[k]!r}")
    if compare is None:
        if set(baseline) != {"zeta"}:
            _fail("summary.compare", "is required unless summary.baseline is { zeta = ... } "
                  "(the gain then compares zeta = 0 with it)")
        if not any(_same(z, 0) for z in grid["zeta"]):
            _fail("summary.compare", "zeta = 0 is not in grid.zeta; add it or set summary.compare")
        compare = {"zeta": 0.0}
    if set(compare) != set(baseline):
        _fail("summary.compare", f"must name the same grid keys as summary.baseline "
              f"({', '.join(baseline)})")
    return {"baseline": dict(baseline), "compare": dict(compare)}


def run_identity(config):
    """The parts of a config that define the runs (what must match to resume in one OUT).

    ``experiment.name``, ``experiment.save_models``, ``data.data_dir``, ``data.missing`` and
    ``[summary]`` are left out: they change no run's result.

    Examples
    --------
    >>> a = parse_config({"data": {"datasets": ["synthetic"], "missing": "error"}})
    >>> b = parse_config({"data": {"datasets": ["synthetic"]}})
    >>> run_identity(a) == run_identity(b)
    True
    """
    ident = json.loads(json.dumps({k: config[k] for k in ("experiment", "data", "model", "grid")}))
    for section, key in (("experiment", "name"), ("experiment", "save_models"),
                         ("data", "data_dir"), ("data", "missing")):
        ident[section].pop(key, None)
    return ident
