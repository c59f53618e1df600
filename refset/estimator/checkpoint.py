"""Checkpoints: a model with its optimizer and generator state in one ``.npz`` file.

Layout: per layer ``l`` the arrays ``rows_l``, ``cols_l``, ``values_l``, ``bias_l``,
``velocity_w_l``, ``velocity_b_l`` (and ``mean_grad_l`` for Sensitivity, whose next update
needs the last epoch's mean gradient); ``classes``; and ``meta``, a JSON document (format name and
version, refset version, hyperparameters, ``n_features_in_``, ``epoch_``, ``history_``, the
generator state, the method's state (e.g. Path-Weight's schedule, CHT's early-stop flags), a
SHA-256 digest of every array and ``meta_digest``, the SHA-256 digest of the metadata itself
(:func:`_meta_digest`)).  No pickle is involved: loading never runs code from the file.

Numpy values among the parameters, the method's state or the history (``epochs=np.int64(3)``)
are stored as the Python values they stand for (:func:`refset._io.json_default`).

Writing is atomic (temporary file, fsync, rename), so an interrupted save leaves the previous
checkpoint intact.  Loading reads the zip members itself (no member may claim more bytes than it
holds, so a corrupt header cannot allocate more memory than the file's size), checks the format,
the digests of the metadata and of every array, the canonical COO form of every layer and that
the metadata agrees with the arrays (:func:`_inconsistency`), and raises
:class:`CheckpointError` with the reason for any malformed file.  Saving runs the same checks, so
a file :func:`save_checkpoint` writes is one :func:`load_checkpoint` accepts.

Versions: 3 (this one) adds ``meta_digest``; version-2 files (no metadata digest) are still read,
with every other check; version-1 files are refused.
"""
import hashlib
import json
import math
import numbers
import os
import zipfile

import numpy as np

from .._io import atomic_write, json_default
from .._version import __version__
from .._rng import generator_from_state, generator_state
from ..draws import Draws
from ..sparse import CooMatrix

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint"]

FORMAT = "refset-checkpoint"
VERSION = 3            # 3: digest of the metadata; 2: method state (session 2); 1: refused
READABLE_VERSIONS = (2, 3)
_LAYER_KEYS = ("rows", "cols", "values", "bias", "velocity_w", "velocity_b")
_METHOD_STATE_KEYS = {          # keys of method_state_ (refset.estimator.methods.initial_state)
    "set": (set(), set()), "sensitivity": (set(), set()),
    "path-weight": ({"lam", "zeta", "delta"}, {"lam", "zeta", "delta"}),
    "cht": ({"passed", "frozen"}, {"passed", "frozen", "budget"}),   # (required, allowed)
}


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, truncated, of another format or inconsistent."""


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _meta_digest(meta):
    """SHA-256 of the canonical JSON of ``meta`` without its ``meta_digest`` field."""
    doc = {k: v for k, v in meta.items() if k != "meta_digest"}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _generator(model):
    if model._rng.generator is None:
        raise ValueError("a model driven by replayed draws (refset.draws.Draws.replay) cannot "
                         "be checkpointed: its randomness is not a generator state")
    return model._rng.generator


def save_checkpoint(model, path):
    """Write ``model`` (a fitted :class:`refset.SparseMLP`) to ``path`` atomically.

    Raises
    ------
    ValueError
        If the model cannot be stored (a custom ``weight_init``, replayed draws) or its
        parameters disagree with its fitted state (e.g. ``hidden_layer_sizes`` changed after
        fitting); nothing is written then and an existing ``path`` is left as it was.
    """
    model._check_fitted()
    arrays = {"classes": np.asarray(model.classes_)}
    for l, (W, b, (vw, vb)) in enumerate(zip(model.layers_, model.biases_, model.velocities_)):
        for key, a in zip(_LAYER_KEYS, (W.rows, W.cols, W.values, b, vw, vb)):
            arrays[f"{key}_{l}"] = a
    mean_grads = model._mean_grads if model.method == "sensitivity" else None
    if mean_grads is not None:           # Sensitivity: needed to extend a finished run
        for l, g in enumerate(mean_grads):
            arrays[f"mean_grad_{l}"] = g
    params = model.get_params()
    if not isinstance(params["weight_init"], (str, type(None))):
        raise ValueError("weight_init must be a named initialiser to save a checkpoint "
                         f"(a callable cannot be stored without pickle), got {params['weight_init']!r}")
    if isinstance(params["seed"], numbers.Integral) and not isinstance(params["seed"], bool):
        params["seed"] = int(params["seed"])
    elif params["seed"] is not None:
        params["seed"] = None            # a Generator: its exact state is saved below instead
    params["hidden_layer_sizes"] = [int(n) for n in np.atleast_1d(params["hidden_layer_sizes"])]
    meta = {
        "format": FORMAT, "version": VERSION, "refset_version": __version__,
        "params": params, "n_layers": len(model.layers_),
        "shapes": [list(W.shape) for W in model.layers_],
        "n_features_in": int(model.n_features_in_), "epoch": int(model.epoch_),
        "history": model.history_, "rng_state": generator_state(_generator(model)),
        "method_state": model.method_state_,
        "mean_gradients": mean_grads is not None,
        "digests": {k: _digest(a) for k, a in arrays.items()},
    }
    # the document as a reader parses it (numpy values as Python ones), digested as such
    meta = json.loads(json.dumps(meta, default=json_default))
    try:       # the checks of load_checkpoint: never write a file that would be refused
        problem = _inconsistency(meta, arrays, _rebuild_params(meta, type(model)))
    except ValueError as exc:
        raise ValueError(f"{path}: not saved: invalid parameters ({exc})") from None
    if problem is not None:
        raise ValueError(f"{path}: not saved: the model's parameters disagree with its fitted "
                         f"state: {problem}")
    meta["meta_digest"] = _meta_digest(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _read_member(zf, info, limit):
    """One ``.npy`` member of the zip ``zf`` as an array, read without pickle.

    ``limit`` bounds the bytes a member may claim (the file's size for stored members), so a
    corrupt shape or size field cannot make it allocate more memory than the file holds.
    """
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise CheckpointError(f"member {info.filename!r} has .npy version {version}")
        if dtype.hasobject or dtype.kind not in "biufU" or dtype.itemsize == 0:
            raise CheckpointError(f"member {info.filename!r} has dtype {dtype}")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes > limit or nbytes != info.file_size - f.tell():
            raise CheckpointError(f"member {info.filename!r}: its header claims {nbytes} bytes, "
                                  f"it holds {info.file_size - f.tell()}")
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):     # reading to the end checks the CRC
            raise CheckpointError(f"member {info.filename!r} has the wrong length")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


def _read_npz(path):
    """The arrays of the ``.npz`` file ``path``, by name (``FileNotFoundError`` if missing)."""
    size = os.path.getsize(path)
    arrays = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if name is None or name in arrays:
                raise CheckpointError(f"unexpected member {info.filename!r}")
            limit = size if info.compress_type == zipfile.ZIP_STORED else math.inf
            arrays[name] = _read_member(zf, info, limit)
    return arrays


def _upgrade_v2(meta):
    """A version-2 document in the current layout (in place).

    The first version-2 files of CHT kept one early-stop list, ``frozen``, which those versions
    also used as the flags that passed; ``passed`` is that list.
    """
    state = meta.get("method_state")
    params = meta.get("params")
    if (isinstance(params, dict) and params.get("method") == "cht" and isinstance(state, dict)
            and "frozen" in state and "passed" not in state):
        frozen = state["frozen"]
        state["passed"] = list(frozen) if isinstance(frozen, list) else frozen


def _rebuild_params(meta, cls):
    """An unfitted ``cls`` with the parameters of ``meta`` (``hidden_layer_sizes`` a tuple)."""
    params = dict(meta["params"])
    params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return cls(**params)


def _is_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _inconsistency(meta, arrays, model):
    """What in ``meta`` disagrees with ``arrays`` or with itself (a message), or None.

    ``model`` is the unfitted estimator built from ``meta["params"]``.  Checks everything that
    can be derived: the layer count and widths from ``hidden_layer_sizes`` (CHT's percolation
    removes hidden neurons: its widths are between 1 and the initial ones), ``epoch`` from the
    history (one record per completed epoch), the arrays' dtype from the ``dtype`` in force, the
    method's state from ``method``, the mean gradients (Sensitivity only), the inputs from the
    first layer, the classes from the output layer and the set of arrays stored.
    """
    sizes = model._validate_params()
    method = model.method
    n_layers, shapes = meta["n_layers"], meta["shapes"]
    if not isinstance(shapes, list) or not all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(n, int) and n >= 1 for n in s)
            for s in shapes):
        return f"shapes {shapes!r} are not pairs of positive integers"
    if n_layers != len(shapes):
        return f"n_layers {n_layers!r} disagrees with the {len(shapes)} layer shapes"
    if len(shapes) != len(sizes) + 1:
        return (f"hidden_layer_sizes {list(sizes)} means {len(sizes) + 1} layers, but the file "
                f"holds {len(shapes)}")
    for l, (n, (_, width)) in enumerate(zip(sizes, shapes)):
        if method == "cht" and not 1 <= width <= n:
            return (f"hidden layer {l + 1} has {width} neurons, but hidden_layer_sizes gives "
                    f"{n} and CHT only removes neurons (1 to {n} expected)")
        if method != "cht" and width != n:
            return f"hidden layer {l + 1} has {width} neurons, but hidden_layer_sizes gives {n}"
    for l in range(1, n_layers):
        if shapes[l][0] != shapes[l - 1][1]:
            return (f"layer {l} has {shapes[l][0]} inputs, but layer {l - 1} has "
                    f"{shapes[l - 1][1]} outputs")
    if meta["n_features_in"] != shapes[0][0]:
        return (f"n_features_in {meta['n_features_in']} disagrees with the {shapes[0][0]} "
                "inputs of the first layer")
    classes = arrays["classes"]
    if classes.ndim != 1 or classes.size != shapes[-1][1]:
        return f"the output layer has {shapes[-1][1]} neurons, but there are {classes.size} classes"
    history, epoch = meta["history"], meta["epoch"]
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        return "the history is not a list of epoch records"
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch != len(history):
        return (f"epoch {epoch!r} disagrees with the history, which has {len(history)} epoch "
                "records (one per completed epoch)")
    if [r.get("epoch") for r in history] != list(range(1, epoch + 1)):
        return "the history's epoch numbers are not 1, 2, ... in order"
    dtype = np.dtype(model._p("dtype"))
    for l in range(n_layers):
        for key in ("values", "bias", "velocity_w", "velocity_b"):
            a = arrays.get(f"{key}_{l}")
            if a is not None and a.dtype != dtype:
                return (f"dtype {str(dtype)!r} of the parameters disagrees with the {a.dtype} "
                        f"array {key}_{l}")
    state = meta["method_state"]
    if not isinstance(state, dict):
        return f"the method state {state!r} is not a mapping"
    required, allowed = _METHOD_STATE_KEYS[method]
    if not required <= set(state) <= allowed:
        return (f"the method state has keys {sorted(state)}, which do not fit method "
                f"{method!r} (expected {sorted(required) or 'none'})")
    if method == "path-weight" and not all(_is_number(v) for v in state.values()):
        return f"the method state {state!r} of 'path-weight' holds non-numbers"
    if method == "cht":
        n_sparse = n_layers - (1 if model._setting("dense_output") else 0)
        for key in sorted(state):
            v = state[key]
            kind = int if key == "budget" else bool
            if not (isinstance(v, list) and len(v) == n_sparse and all(type(x) is kind for x in v)):
                return (f"the method state {key!r} of 'cht' must be {n_sparse} {kind.__name__}s "
                        f"(one per sparse layer), got {v!r}")
    expect_grads = method == "sensitivity" and epoch >= 1
    if meta["mean_gradients"] is not expect_grads:
        if meta["mean_gradients"]:
            return (f"mean gradients are stored, but method is {method!r} (only 'sensitivity' "
                    "keeps them)")
        return "method 'sensitivity' needs the mean gradients of the last epoch, which are missing"
    expected = {"classes"} | {f"{k}_{l}" for k in _LAYER_KEYS for l in range(n_layers)}
    if expect_grads:
        expected |= {f"mean_grad_{l}" for l in range(n_layers)}
    if set(arrays) != expected:
        missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        return (f"the arrays stored do not match the metadata (missing {missing or 'none'}, "
                f"unexpected {extra or 'none'})")
    return None


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
        If the file is not a valid, self-consistent refset checkpoint: whatever is wrong with
        the file, never another exception (but ``MemoryError``).
    """
    try:
        arrays = _read_npz(path)
    except (FileNotFoundError, MemoryError):
        raise
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: not a readable refset checkpoint ({exc})") from None
    except Exception as exc:   # zipfile and the .npy parser raise many kinds for a corrupt file
        reason = " ".join(str(exc).split())                 # one line
        raise CheckpointError(f"{path}: not a readable refset checkpoint "
                              f"({type(exc).__name__}: {reason})") from None
    try:
        text = arrays.pop("meta")
        if text.shape != () or text.dtype.kind != "U":
            raise ValueError(f"meta is a {text.dtype} array of shape {text.shape}")
        meta = json.loads(text.item())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except (KeyError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: missing or unreadable metadata ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a refset checkpoint (format {meta.get('format')!r})")
    version = meta.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise CheckpointError(f"{path}: checkpoint format version {version} is not supported "
                              f"(this refset reads versions {readable})")
    if version >= 3 and meta.get("meta_digest") != _meta_digest(meta):
        raise CheckpointError(f"{path}: the metadata was modified or is corrupt (its SHA-256 "
                              "digest does not match); refusing to load it")
    if version == 2:
        _upgrade_v2(meta)
    try:
        digests = meta["digests"]
        if not isinstance(digests, dict) or sorted(digests) != sorted(arrays):
            raise CheckpointError(f"{path}: the arrays stored do not match the metadata")
        for key, a in arrays.items():
            if _digest(a) != digests[key]:
                raise CheckpointError(f"{path}: array {key!r} is corrupt (checksum mismatch)")
        model = _rebuild_params(meta, cls)
        try:
            problem = _inconsistency(meta, arrays, model)
        except ValueError as exc:        # model._validate_params
            raise CheckpointError(f"{path}: invalid parameters in the metadata ({exc})") from None
        if problem is not None:
            raise CheckpointError(f"{path}: the metadata disagrees with the arrays: {problem}")
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
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise CheckpointError(f"{path}: inconsistent checkpoint ({type(exc).__name__}: {exc})") from None
    model._refresh_caches()
    return model
