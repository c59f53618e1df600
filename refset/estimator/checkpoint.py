"""Checkpoints: a model with its optimizer and generator state in one ``.npz`` file.

Layout: per layer ``l`` the arrays ``rows_l``, ``cols_l``, ``values_l``, ``bias_l``,
``velocity_w_l``, ``velocity_b_l`` (and ``mean_grad_l`` for Sensitivity, whose next update
needs the last epoch's mean gradient); ``classes``; and ``meta``, a JSON document (format name and
version, refset version, hyperparameters, ``n_features_in_``, ``epoch_``, ``history_``, the
generator state, the method's state (e.g. Path-Weight's schedule, CHT's early-stop flags), and a SHA-256 digest of every array).  No pickle is involved: loading never
runs code from the file.

Writing is atomic (temporary file, fsync, rename), so an interrupted save leaves the previous
checkpoint intact.  Loading checks the format, the digests, the canonical COO form of every
layer and the consistency of all shapes, and raises :class:`CheckpointError` with the reason.
"""
import hashlib
import json
import zipfile

import numpy as np

from .._io import atomic_write
from .._version import __version__
from .._rng import generator_from_state, generator_state
from ..draws import Draws
from ..sparse import CooMatrix

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint"]

FORMAT = "refset-checkpoint"
VERSION = 2            # 2: method state (session 2); version-1 files are refused
_LAYER_KEYS = ("rows", "cols", "values", "bias", "velocity_w", "velocity_b")


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, truncated, of another format or inconsistent."""


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _generator(model):
    if model._rng.generator is None:
        raise ValueError("a model driven by replayed draws (refset.draws.Draws.replay) cannot "
                         "be checkpointed: its randomness is not a generator state")
    return model._rng.generator


def save_checkpoint(model, path):
    """Write ``model`` (a fitted :class:`refset.SparseMLP`) to ``path`` atomically."""

    model._check_fitted()
    arrays = {"classes": np.asarray(model.classes_)}
    for l, (W, b, (vw, vb)) in enumerate(zip(model.layers_, model.biases_, model.velocities_)):
        for key, a in zip(_LAYER_KEYS, (W.rows, W.cols, W.values, b, vw, vb)):
            arrays[f"{key}_{l}"] = a
    if model._mean_grads is not None:    # Sensitivity: needed to extend a finished run
        for l, g in enumerate(model._mean_grads):
            arrays[f"mean_grad_{l}"] = g
    params = model.get_params()
    if not isinstance(params["weight_init"], (str, type(None))):
        raise ValueError("weight_init must be a named initialiser to save a checkpoint "
                         f"(a callable cannot be stored without pickle), got {params['weight_init']!r}")
    if not isinstance(params["seed"], (int, type(None))):
        params["seed"] = None            # a Generator: its exact state is saved below instead
    params["hidden_layer_sizes"] = [int(n) for n in np.atleast_1d(params["hidden_layer_sizes"])]
    meta = {
        "format": FORMAT, "version": VERSION, "refset_version": __version__,
        "params": params, "n_layers": len(model.layers_),
        "shapes": [list(W.shape) for W in model.layers_],
        "n_features_in": int(model.n_features_in_), "epoch": int(model.epoch_),
        "history": model.history_, "rng_state": generator_state(_generator(model)),
        "method_state": model.method_state_,
        "mean_gradients": model._mean_grads is not None,
        "digests": {k: _digest(a) for k, a in arrays.items()},
    }
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_checkpoint(path, cls):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or path-like
    cls : class
        The estimator class to rebuild, :class:`refset.SparseMLP` (its ``load`` passes itself).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is not a valid, self-consistent refset checkpoint.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise CheckpointError(f"{path}: not a readable refset checkpoint ({exc})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: missing or unreadable metadata ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a refset checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')} is not "
                              f"supported (this refset reads version {VERSION})")
    try:
        digests = meta["digests"]
        if sorted(digests) != sorted(arrays):
            raise CheckpointError(f"{path}: the arrays stored do not match the metadata")
        for key, a in arrays.items():
            if _digest(a) != digests[key]:
                raise CheckpointError(f"{path}: array {key!r} is corrupt (checksum mismatch)")
        params = dict(meta["params"])
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        model = cls(**params)
        model.classes_ = arrays["classes"]
        model.n_features_in_ = int(meta["n_features_in"])
        model.epoch_ = int(meta["epoch"])
        model.history_ = list(meta["history"])
        model._rng = Draws(generator_from_state(meta["rng_state"]))
        model.method_state_ = dict(meta["method_state"])
        model._mean_grads = None
        model.layers_, model.biases_, model.velocities_ = [], [], []
        n_prev = model.n_features_in_
        for l, shape in enumerate(meta["shapes"]):
            rows, cols, values, bias, vw, vb = (arrays[f"{k}_{l}"] for k in _LAYER_KEYS)
            W = CooMatrix(rows, cols, values, tuple(shape)).check(allow_zeros=True, name=f"layer {l}")
            if W.shape[0] != n_prev or bias.shape != (W.shape[1],) or vb.shape != bias.shape \
                    or vw.shape != values.shape or bias.dtype != values.dtype or vw.dtype != values.dtype:
                raise CheckpointError(f"{path}: layer {l} has inconsistent shapes or dtypes")
            n_prev = W.shape[1]
            model.layers_.append(W)
            model.biases_.append(bias)
            model.velocities_.append((vw, vb))
            if meta["mean_gradients"]:
                g = arrays[f"mean_grad_{l}"]
                if g.shape != values.shape or g.dtype != values.dtype:
                    raise CheckpointError(f"{path}: mean gradient {l} does not match its layer")
                model._mean_grads = (model._mean_grads or []) + [g]
        if n_prev != model.classes_.size or len(model.layers_) != meta["n_layers"]:
            raise CheckpointError(f"{path}: output layer does not match the {model.classes_.size} classes")
        model._validate_params()
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{path}: inconsistent checkpoint ({type(exc).__name__}: {exc})") from None
    model._refresh_caches()
    return model
