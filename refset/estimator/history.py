"""Writing a training history (``SparseMLP.history_``) as JSON and CSV, atomically.

In CSV, per-layer lists become one column per layer (``nnz_1``, ``nnz_2``, … for layers,
``active_neurons_0`` … for neuron layers, inputs first).
"""
import csv
import json
import math

import numpy as np

from .._io import atomic_write, json_default

__all__ = ["write_history_json", "write_history_csv", "history_rows"]


def _clean(value):
    """``value`` as JSON writes it (numpy values as Python ones), NaN and infinities as None."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = json_default(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def write_history_json(history, path, **extra):
    """Write ``{"history": [...], **extra}`` as JSON (NaN written as null)."""
    doc = dict(extra, history=[{k: _clean(v) for k, v in rec.items()} for rec in history])
    with atomic_write(path, "w") as f:
        json.dump(doc, f, indent=1, default=json_default)
        f.write("\n")


def history_rows(history):
    """Flatten records: list fields become numbered columns."""
    rows = []
    for rec in history:
        row = {}
        for key, value in rec.items():
            if isinstance(value, np.ndarray):
                value = value.tolist()
            if isinstance(value, (list, tuple)):
                start = 0 if key == "active_neurons" else 1
                for i, v in enumerate(value, start):
                    row[f"{key}_{i}"] = "" if v is None else v
            else:
                row[key] = "" if value is None else value
        rows.append(row)
    return rows


def write_history_csv(history, path):
    """Write one row per epoch."""
    rows = history_rows(history)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_write(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
