"""The data model of oracle cases: layers, nested values, their files and their comparison.

A case's inputs and expected outputs are nested structures of dicts, lists, scalars, numpy
arrays and :class:`Layer` (a sparse layer as COO arrays).  On disk, every array goes into an
``.npz`` file under a short key and the structure into JSON, where an array is
``{"array": key}`` and a layer ``{"layer": {"rows": key, "cols": key, "values": key,
"shape": [n_in, n_out]}}``.
"""
import json
import os
from typing import NamedTuple

import numpy as np

from .._io import atomic_write

__all__ = ["Layer", "canonical", "pack", "unpack", "compare", "write_npz", "read_npz"]


class Layer(NamedTuple):
    """A sparse layer: link ``k`` goes from input ``rows[k]`` to output ``cols[k]`` with weight
    ``values[k]``; ``shape = (n_in, n_out)``.  Adapters may return links in any order."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple

    @classmethod
    def from_coo(cls, W):
        return cls(W.rows.copy(), W.cols.copy(), W.values.copy(), tuple(int(n) for n in W.shape))

    def to_coo(self):
        from ..sparse import CooMatrix

        r, c, v, shape = canonical(self)
        return CooMatrix(r, c, v, shape)


def canonical(layer):
    """The layer's arrays sorted by (row, col), as (rows int64, cols int64, values, shape)."""
    rows = np.asarray(layer.rows, dtype=np.int64).ravel()
    cols = np.asarray(layer.cols, dtype=np.int64).ravel()
    values = np.asarray(layer.values).ravel()
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], values[order], tuple(int(n) for n in layer.shape)


def pack(obj, arrays):
    """JSON-able skeleton of ``obj``; its arrays are added to the dict ``arrays``."""
    def put(a):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(a)
        return key

    if isinstance(obj, Layer) or hasattr(obj, "rows") and hasattr(obj, "values"):
        r, c, v, shape = canonical(obj)
        return {"layer": {"rows": put(r), "cols": put(c), "values": put(v), "shape": list(shape)}}
    if isinstance(obj, np.ndarray):
        return {"array": put(obj)}
    if isinstance(obj, dict):
        return {"dict": {str(k): pack(v, arrays) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return {"list": [pack(v, arrays) for v in obj]}
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    raise TypeError(f"cannot store {type(obj).__name__} in an oracle case")


def unpack(skeleton, arrays):
    """Inverse of :func:`pack`."""
    (kind, body), = skeleton.items()
    if kind == "layer":
        return Layer(arrays[body["rows"]], arrays[body["cols"]], arrays[body["values"]],
                     tuple(body["shape"]))
    if kind == "array":
        return arrays[body]
    if kind == "dict":
        return {k: unpack(v, arrays) for k, v in body.items()}
    if kind == "list":
        return [unpack(v, arrays) for v in body]
    if kind == "value":
        return body
    raise ValueError(f"unknown entry {kind!r} in an oracle case")


def write_npz(path, arrays):
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)


def read_npz(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_json(path, doc):
    with atomic_write(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")


def compare(got, expected, tol, where="output"):
    """Differences between an adapter's output and the expected one.

    Returns ``(problems, max_error)``: a list of one-line descriptions (empty when they
    agree) and the largest relative error seen on values.  Topologies (layer links, integer
    arrays) must match exactly; floating values within ``|got - exp| <= atol + rtol |exp|``.
    """
    problems, worst = [], [0.0]

    def values(g, e, at):
        g = np.asarray(g, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        if g.shape != e.shape:
            problems.append(f"{at}: shape {g.shape} instead of {e.shape}")
            return
        if e.size == 0:
            return
        if not np.array_equal(np.isfinite(g), np.isfinite(e)) or not np.array_equal(
                g[~np.isfinite(e)], e[~np.isfinite(e)]):
            problems.append(f"{at}: non-finite entries differ")
            return
        fin = np.isfinite(e)
        err = np.abs(g[fin] - e[fin])
        scale = np.abs(e[fin])
        rel = err / np.maximum(scale, tol["atol"] / max(tol["rtol"], 1e-300))
        worst[0] = max(worst[0], float(rel.max()) if rel.size else 0.0)
        bad = err > tol["atol"] + tol["rtol"] * scale
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            problems.append(f"{at}: {int(bad.sum())} of {e.size} values outside tolerance "
                            f"(first: {g[fin][i]!r} vs {e[fin][i]!r})")

    def walk(g, e, at):
        if isinstance(e, Layer):
            if not (isinstance(g, Layer) or hasattr(g, "rows")):
                problems.append(f"{at}: a layer was expected, got {type(g).__name__}")
                return
            gr, gc, gv, gs = canonical(g)
            er, ec, ev, es = canonical(e)
            if gs != es:
                problems.append(f"{at}: shape {gs} instead of {es}")
            elif gr.size != er.size:
                problems.append(f"{at}: {gr.size} links instead of {er.size}")
            elif not (np.array_equal(gr, er) and np.array_equal(gc, ec)):
                gl, el = gr * es[1] + gc, er * es[1] + ec
                extra = np.setdiff1d(gl, el).size
                problems.append(f"{at}: topology differs ({extra} of {er.size} links elsewhere)")
            else:
                values(gv, ev, f"{at} values")
        elif isinstance(e, dict):
            if not isinstance(g, dict):
                problems.append(f"{at}: a dict was expected, got {type(g).__name__}")
                return
            for k in e:
                if k not in g:
                    problems.append(f"{at}: missing {k!r}")
                else:
                    walk(g[k], e[k], f"{at}[{k!r}]")
        elif isinstance(e, list):
            if not isinstance(g, (list, tuple)) or len(g) != len(e):
                problems.append(f"{at}: a list of {len(e)} was expected")
                return
            for i, (gi, ei) in enumerate(zip(g, e)):
                walk(gi, ei, f"{at}[{i}]")
        elif isinstance(e, np.ndarray) and e.dtype.kind in "iub":
            g = np.asarray(g)
            if g.shape != e.shape or not np.array_equal(g, e):
                problems.append(f"{at}: integer array differs")
        elif isinstance(e, np.ndarray) or isinstance(e, float):
            values(g, e, at)
        elif e is None or isinstance(e, (bool, int, str)):
            if g != e:
                problems.append(f"{at}: {g!r} instead of {e!r}")
        else:
            raise TypeError(f"cannot compare {type(e).__name__}")

    walk(got, expected, where)
    return problems, worst[0]


def case_files(directory):
    return (os.path.join(directory, "case.json"), os.path.join(directory, "inputs.npz"),
            os.path.join(directory, "expected.npz"))

