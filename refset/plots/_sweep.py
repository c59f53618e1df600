"""Reading a sweep: its rows, each run's history, and grouping and ordering of grid values."""
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._style import _COLORS


def _read_json(path):
    """A JSON file's document; a ``ValueError`` naming the file when it is not JSON text."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a JSON file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); not a file refset wrote") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _read_history(path):
    """The epoch records of a ``history.json``; a ``ValueError`` naming the file otherwise."""
    doc = _read_json(path)
    history = doc.get("history") if isinstance(doc, Mapping) else None
    if not isinstance(history, list) or not all(isinstance(r, Mapping) for r in history):
        raise ValueError(f"{path}: holds no 'history' list of epoch records (not a refset "
                         "history.json)")
    return history


class _Sweep:
    """Rows of a sweep with lazy access to each run's history."""

    def __init__(self, results):
        if isinstance(results, (str, os.PathLike)):
            path = Path(results)
            file = path / "results.json" if path.is_dir() else path
            if not file.is_file() or file.suffix != ".json":
                raise ValueError(f"results must be a sweep output directory holding results.json "
                                 f"(or that file), got {str(path)!r}")
            doc, self.root = _read_json(file), file.parent
            if not isinstance(doc, Mapping):
                raise ValueError(f"{file}: not a refset results.json (a JSON object with "
                                 "'config' and 'runs')")
            where = str(file)
        elif isinstance(results, Mapping):
            doc, self.root, where = results, Path("."), "results"
        elif isinstance(results, Sequence) and not isinstance(results, (str, bytes)):
            doc, self.root, where = {"runs": list(results)}, Path("."), "results"
        else:
            raise ValueError("results must be a sweep output directory, the dict of its "
                             f"results.json or a list of rows, got {type(results).__name__}")
        self.config = doc.get("config") or {}
        rows = doc.get("runs")
        if not isinstance(self.config, Mapping) or not isinstance(rows, list) or not all(
                isinstance(r, Mapping) and "dataset" in r for r in rows):
            if where == "results":
                raise ValueError("results must hold 'runs', a list of rows with a 'dataset' "
                                 "field")
            raise ValueError(f"{where}: must hold 'runs', a list of rows with a 'dataset' "
                             "field (not a refset results.json, or a damaged one)")
        self.rows = rows
        self.ok = [r for r in rows if r.get("status", "ok") == "ok"]
        self._histories = {}

    @property
    def grid(self):
        return list((self.config.get("grid") or {}).keys())

    def baseline(self, by, which="baseline"):
        """``config["summary"][which][by]``; defaults: baseline ζ = 0.3, compare 0."""
        point = (self.config.get("summary") or {}).get(which)
        if isinstance(point, Mapping) and by in point:
            return point[by]
        if point is not None and not isinstance(point, Mapping):
            return point
        return 0 if which == "compare" else 0.3 if by == "zeta" else None

    def value(self, row, key):
        """A row's value of a grid key (flat ``a.b`` field, nested, or the fixed model's)."""
        if key in row:
            return row[key]
        head, _, tail = key.partition(".")
        if tail and isinstance(row.get(head), Mapping) and tail in row[head]:
            return row[head][tail]
        model = self.config.get("model") or {}
        if tail and isinstance(model.get(head), Mapping):
            return model[head].get(tail)
        return model.get(key)

    def run_dir(self, row):
        return self.root / (row.get("run_dir") or Path("runs") / str(row.get("run_id", "")))

    def history(self, row):
        if "history" in row:
            return row["history"]
        key = id(row)
        if key not in self._histories:
            file = self.run_dir(row) / "history.json"
            self._histories[key] = _read_history(file) if file.is_file() else None
        return self._histories[key]

    def datasets(self, dataset=None):
        names = list(dict.fromkeys(r["dataset"] for r in self.ok))
        if dataset is None:
            return names
        if dataset not in names:
            raise ValueError(f"dataset must be one of the datasets with finished runs "
                             f"{names}, got {dataset!r}")
        return [dataset]

    def groups(self, by, rows):
        """``{(by value, other varying values): rows}`` in sorted order, and the other keys."""
        if not any(by in r for r in self.ok) and self.value({}, by) is None:
            keys = sorted({"method", *self.grid})
            raise ValueError(f"by must be a grid key or a row field such as {keys}, got {by!r}")
        others = [k for k in dict.fromkeys([*self.grid, "method"]) if k != by and k != "dataset"
                  and len({_hashable(self.value(r, k)) for r in self.ok}) > 1]
        out = {}
        for r in rows:
            key = (_hashable(self.value(r, by)), tuple(_hashable(self.value(r, k)) for k in others))
            out.setdefault(key, []).append(r)
        return dict(sorted(out.items(), key=lambda kv: (_order(kv[0][0]),
                                                        tuple(map(_order, kv[0][1]))))), others

    def colors(self, by):
        values = sorted({_hashable(self.value(r, by)) for r in self.ok}, key=_order)
        return {v: _COLORS[i % len(_COLORS)] for i, v in enumerate(values)}


def _hashable(value):
    if isinstance(value, list):
        return tuple(map(_hashable, value))
    return json.dumps(value, sort_keys=True) if isinstance(value, Mapping) else value


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _order(value):
    """Sort key: numbers, then tuples of numbers (numerically), then the rest, None last."""
    if _number(value):
        return (0, (float(value),), "")
    if isinstance(value, tuple) and all(map(_number, value)):
        return (1, tuple(map(float, value)), "")
    return (2 if value is not None else 3, (), str(value))
