"""Checkpoints: round trip, bit-for-bit resume, corrupt and mismatched files refused."""
import json
import os

import numpy as np
import pytest

from refset import CheckpointError, SparseMLP
from refset.estimator.checkpoint import _digest, _meta_digest


def _data(seed=0, n=100):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _model(**kw):
    return SparseMLP((10, 7), **{"epsilon": 3.0, "epochs": 5, "batch_size": 8, "seed": 3, **kw})


def test_round_trip(tmp_path):
    X, y = _data()
    model = _model(epochs=2, dtype="float32").fit(X, y)
    path = tmp_path / "m.npz"
    model.save(path)
    back = SparseMLP.load(path)
    assert back.get_params() == model.get_params()
    assert back.epoch_ == 2 and back.history_ == model.history_
    assert np.array_equal(back.classes_, model.classes_)
    for W, V in zip(model.layers_, back.layers_):
        assert np.array_equal(W.linear(), V.linear()) and np.array_equal(W.values, V.values)
        assert V.values.dtype == np.float32
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back._rng.generator.bit_generator.state == model._rng.generator.bit_generator.state


class _Stop(Exception):
    pass


def test_resume_is_identical_to_uninterrupted_run(tmp_path):
    X, y = _data()
    full = _model(dropout=0.2).fit(X, y)

    def interrupt(model, record):
        if model.epoch_ == 2:
            raise _Stop
    path = tmp_path / "run.npz"
    with pytest.raises(_Stop):
        _model(dropout=0.2).fit(X, y, checkpoint=path, callback=interrupt)
    resumed = SparseMLP.load(path)
    assert resumed.epoch_ == 2
    resumed.fit(X, y, resume=True)
    assert resumed.epoch_ == full.epoch_ == 5
    for W, V in zip(full.layers_, resumed.layers_):
        assert np.array_equal(W.linear(), V.linear())
        assert np.array_equal(W.values, V.values)
    for (a, b), (c, d) in zip(full.velocities_, resumed.velocities_):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    keys = ("train_loss", "test_loss", "nnz", "removed", "regrown", "overlap")
    assert [[r[k] for k in keys] for r in full.history_] == [[r[k] for k in keys] for r in resumed.history_]


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    X, y = _data()
    model = _model(epochs=1).fit(X, y)
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]          # no temporary file left behind


def test_corrupt_files_are_refused(tmp_path):
    X, y = _data()
    path = tmp_path / "m.npz"
    _model(epochs=1).fit(X, y).save(path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.npz"):
        SparseMLP.load(truncated)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable refset checkpoint"):
        SparseMLP.load(text)
    with pytest.raises(FileNotFoundError):
        SparseMLP.load(tmp_path / "missing.npz")


def _rewrite(path, out, change, *, redigest=True):
    """Copy checkpoint ``path`` to ``out`` with ``change(arrays, meta)`` applied to it.

    ``redigest``: recompute the metadata's digest afterwards (a hand edit that knows the
    format), so that the checks beyond the digest are exercised.
    """
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    change(arrays, meta)
    if redigest and "meta_digest" in meta:
        meta["meta_digest"] = _meta_digest(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(out, **arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a, m: m.update(format="other"), "not a refset checkpoint"),
    (lambda a, m: m.update(version=99), "version 99"),
    (lambda a, m: a.update(values_0=a["values_0"] + 1), "corrupt"),
    (lambda a, m: a.pop("bias_1"), "do not match"),
    (lambda a, m: m.update(shapes=[[8, 10], [10, 6], [7, 2]]), "hidden layer 2 has 6 neurons"),
])
def test_mismatched_files_are_refused(tmp_path, change, message):
    X, y = _data()
    path = tmp_path / "m.npz"
    _model(epochs=1).fit(X, y).save(path)
    _rewrite(path, tmp_path / "bad.npz", change)
    with pytest.raises(CheckpointError, match=message):
        SparseMLP.load(tmp_path / "bad.npz")


def test_resume_with_other_data_is_refused(tmp_path):
    X, y = _data()
    path = tmp_path / "m.npz"
    _model(epochs=1).fit(X, y).save(path)
    model = SparseMLP.load(path)
    model.epochs = 2
    with pytest.raises(ValueError, match="X has 5 features, but SparseMLP is expecting 8 features as input"):
        model.fit(X[:, :5], y, resume=True)


def test_extending_a_finished_run_equals_a_longer_run(tmp_path):
    X, y = _data()
    longer = _model(epochs=4).fit(X, y)
    short = _model(epochs=2).fit(X, y)
    assert short.history_[-1]["topology_updated"] is False
    short.save(tmp_path / "m.npz")
    extended = SparseMLP.load(tmp_path / "m.npz").set_params(epochs=4).fit(X, y, resume=True)
    for W, V in zip(longer.layers_, extended.layers_):
        assert np.array_equal(W.linear(), V.linear()) and np.array_equal(W.values, V.values)
    keys = ("train_loss", "removed", "regrown", "overlap", "topology_updated")
    assert [[r[k] for k in keys] for r in longer.history_] == [[r[k] for k in keys] for r in extended.history_]


def test_custom_initialiser_cannot_be_saved(tmp_path):
    from refset.algorithms.initializers import Normal

    X, y = _data()
    model = _model(epochs=1, weight_init=Normal(0.05)).fit(X, y)
    with pytest.raises(ValueError, match="weight_init must be a named initialiser"):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    import os
    import stat

    from refset._io import atomic_write

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "f.txt").st_mode) == 0o644


# -- numpy values in parameters, method options and history --------------------------------

def _py(value):
    """``value`` with numpy scalars and arrays as the Python values they stand for."""
    if isinstance(value, (np.ndarray, list, tuple)):
        return [_py(v) for v in value]
    if isinstance(value, dict):
        return {k: _py(v) for k, v in value.items()}
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    return value


def _typed(value):
    """A comparable form of ``value`` that keeps the Python type of every scalar."""
    if isinstance(value, (list, tuple)):
        return [_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


def _untimed(history):
    return [{k: v for k, v in r.items() if not k.startswith("seconds_")} for r in history]


def _assert_same_state(a, b):
    assert a.epoch_ == b.epoch_ and _untimed(a.history_) == _untimed(b.history_)
    assert a.method_state_ == b.method_state_
    assert np.array_equal(a.classes_, b.classes_) and a.n_features_in_ == b.n_features_in_
    assert a._rng.generator.bit_generator.state == b._rng.generator.bit_generator.state
    for W, V in zip(a.layers_, b.layers_, strict=True):
        assert W.shape == V.shape and W.values.dtype == V.values.dtype
        assert np.array_equal(W.rows, V.rows) and np.array_equal(W.cols, V.cols)
        assert np.array_equal(W.values, V.values)
    for x, y in zip(a.biases_, b.biases_, strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    for (p, q), (r, s) in zip(a.velocities_, b.velocities_, strict=True):
        assert np.array_equal(p, r) and np.array_equal(q, s)
    assert (a._mean_grads is None) == (b._mean_grads is None)
    for g, h in zip(a._mean_grads or [], b._mean_grads or [], strict=True):
        assert np.array_equal(g, h)


# (parameter, numpy value, other parameters): every integer, float and bool parameter of
# SparseMLP in numpy types, and numpy values in every method's options.
_NUMPY_CASES = [
    ("hidden_layer_sizes", np.array([10, 7]), {}),
    ("hidden_layer_sizes", (np.int32(10), np.uint8(7)), {}),
    ("epsilon", np.float32(3.0), {}),
    ("epsilon", np.int64(3), {}),
    ("zeta", np.float32(0.3), {}),
    ("zeta", np.float16(0.25), {"dtype": "float32"}),
    ("allow_regrow_removed", np.bool_(False), {}),
    ("epochs", np.int64(2), {}),
    ("batch_size", np.int32(8), {}),
    ("batch_size", np.uint16(8), {"dtype": "float32"}),
    ("learning_rate", np.float32(0.01), {"dtype": "float32"}),
    ("learning_rate", np.float64(0.01), {"dtype": "float32"}),
    ("momentum", np.float32(0.9), {}),
    ("momentum", np.float64(0.9), {"dtype": "float32"}),
    ("weight_decay", np.float32(2e-4), {"dtype": "float32"}),
    ("weight_decay", np.float64(2e-4), {}),
    ("dropout", np.float32(0.2), {}),
    ("dropout", np.float64(0.2), {"dtype": "float32"}),
    ("threads", np.int64(1), {}),
    ("seed", np.int64(3), {}),
    ("seed", np.uint32(3), {}),
    ("verbose", np.int8(0), {}),
    ("dense_output", np.bool_(True), {}),
    ("update_interval", np.int64(2), {}),
    ("method_options", {"zeta": np.float32(0.25), "form": "relative"}, {"method": "sensitivity"}),
    ("method_options", {"lam": np.float32(0.1), "zeta": np.float64(0.2), "delta": np.int64(1),
                        "max_paths": np.int64(1000), "n_path_samples": np.int32(500),
                        "time_varying": np.bool_(True), "K1": np.float32(2.0),
                        "probe_size": np.int16(64)}, {"method": "path-weight"}),
    ("method_options", {"topology_init": "erdos_renyi", "zeta": np.float32(0.25),
                        "early_stop_threshold": np.float32(0.9), "sparsity": np.float64(0.5)},
     {"method": "cht"}),
]


def test_numpy_cases_cover_every_numeric_parameter():
    defaults = SparseMLP().get_params()
    numeric = {k for k, v in defaults.items() if isinstance(v, (bool, int, float, tuple))}
    numeric |= {"seed", "dense_output", "method_options"}     # None by default
    covered = {case.values[0] if hasattr(case, "values") else case[0] for case in _NUMPY_CASES}
    assert covered == numeric


@pytest.mark.parametrize("name, value, other", _NUMPY_CASES)
def test_numpy_parameters_are_checkpointed(tmp_path, name, value, other):
    X, y = _data()
    params = {"hidden_layer_sizes": (10, 7), "epsilon": 3.0, "batch_size": 8, "seed": 3,
              "epochs": 2, **other, name: value}
    model = SparseMLP(**params)
    path = tmp_path / "m.npz"
    model.fit(X, y, checkpoint=path)
    back = SparseMLP.load(path)
    original, loaded = model.get_params(), back.get_params()
    assert _py(loaded) == _py(original)
    assert _typed(loaded) == _typed(_py(original))      # Python ints as ints, floats as floats
    _assert_same_state(model, back)
    for m in (model, back):
        m.set_params(epochs=4).fit(X, y, resume=True)
    _assert_same_state(model, back)                  # continued training is bit-identical


def test_numpy_values_in_the_history_are_checkpointed(tmp_path):
    X, y = _data()

    def add(model, record):
        record.update(custom=np.float32(0.5), ids=np.arange(2), flag=np.bool_(True),
                      count=np.int64(7))
    model = _model(epochs=2)
    model.fit(X, y, checkpoint=tmp_path / "m.npz", callback=add)   # saved before the callback
    first = SparseMLP.load(tmp_path / "m.npz").history_[0]
    assert first["custom"] == 0.5 and first["ids"] == [0, 1]
    assert first["flag"] is True and type(first["count"]) is int
    model.save(tmp_path / "m.npz")
    back = SparseMLP.load(tmp_path / "m.npz")
    assert back.history_ == [{k: _py(v) for k, v in r.items()} for r in model.history_]


def test_json_writers_accept_numpy_values(tmp_path):
    from refset.estimator.history import write_history_csv, write_history_json
    from refset.estimator.run import make_data_args, run_config, write_run_config
    from refset.sweep._store import write_csv, write_json

    history = [{"epoch": np.int64(1), "train_loss": np.float32(0.5), "nnz": np.array([3, 4]),
                "flag": np.bool_(True), "test_loss": np.float32("nan")}]
    write_history_json(history, tmp_path / "h.json", config={"model": {"epochs": np.int64(3)}})
    doc = json.loads((tmp_path / "h.json").read_text())
    assert doc == {"config": {"model": {"epochs": 3}},
                   "history": [{"epoch": 1, "train_loss": 0.5, "nnz": [3, 4], "flag": True,
                                "test_loss": None}]}
    write_history_csv(history, tmp_path / "h.csv")
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == \
        "epoch,train_loss,nnz_1,nnz_2,flag,test_loss"
    model = SparseMLP(np.array([8, 4]), epochs=np.int64(3), zeta=np.float32(0.25),
                      dense_output=np.bool_(False))
    write_run_config(tmp_path, run_config(make_data_args("synthetic", seed=np.int64(2)), model))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"]["hidden_layer_sizes"] == [8, 4] and config["model"]["epochs"] == 3
    assert config["model"]["dense_output"] is False and config["data"]["seed"] == 2
    write_json(tmp_path / "r.json", {"seed": np.uint8(3), "grid": np.arange(3)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"seed": 3, "grid": [0, 1, 2]}
    write_csv(tmp_path / "s.csv", [{"a": [np.int64(1)]}], ["a"])
    assert (tmp_path / "s.csv").read_text().splitlines() == ["a", "[1]"]


def test_every_json_writer_has_the_numpy_hook():
    """Every ``json.dump`` of refset passes ``default=json_default`` (refset._io)."""
    import ast
    import pathlib

    import refset

    root = pathlib.Path(refset.__file__).parent
    # oracle/_format.py: pack() turns numpy scalars into Python values and arrays into .npz
    # members before its write_json, so what it dumps never holds numpy values.
    exempt = {root / "oracle" / "_format.py"}
    missing = []
    for path in sorted(root.rglob("*.py")):
        if path in exempt:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "dump" and getattr(node.func.value, "id", "") == "json"
                    and not any(k.arg == "default" for k in node.keywords)):
                missing.append(f"{path.relative_to(root)}:{node.lineno}")
    assert missing == []


# -- corrupt files: CheckpointError, never another exception -----------------------------------

def _small_checkpoint(tmp_path):
    X, y = _data(n=40)
    model = SparseMLP((4,), epsilon=2.0, epochs=1, batch_size=16, seed=0).fit(X, y)
    path = tmp_path / "small.npz"
    model.save(path)
    return path, SparseMLP.load(path)


def _header_positions(data):
    """Byte positions of the zip local headers, the .npy headers and the central directory."""
    import io
    import struct
    import zipfile

    positions, ends = set(), []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            off = info.header_offset
            n, m = struct.unpack("<HH", data[off + 26:off + 30])
            start = off + 30 + n + m                      # the member's data: a .npy file
            assert data[start:start + 6] == b"\x93NUMPY" and data[start + 6] == 1
            (hlen,) = struct.unpack("<H", data[start + 8:start + 10])
            positions.update(range(off, start + 10 + hlen))
            ends.append(start + info.compress_size)
    central = data.index(b"PK\x01\x02", max(ends))       # central directory and end records
    positions.update(range(central, len(data)))
    return sorted(positions)


def _load_outcome(path, reference):
    """None if ``path`` is refused with CheckpointError or loads as ``reference`` (None: must
    be refused); else what happened instead."""
    try:
        model = SparseMLP.load(path)
    except CheckpointError as exc:
        one_line = str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        return None if one_line else f"message {exc}"
    except Exception as exc:       # noqa: BLE001 -- the failure this test looks for
        return f"{type(exc).__name__}: {exc}"
    if reference is None:
        return "loaded"
    try:
        assert model.get_params() == reference.get_params()
        _assert_same_state(model, reference)
    except AssertionError:
        return "loaded a model that differs from the original"
    return None


def test_single_byte_corruptions_are_refused_or_harmless(tmp_path):
    path, reference = _small_checkpoint(tmp_path)
    data = path.read_bytes()
    headers = _header_positions(data)
    rng = np.random.default_rng(12345)
    rest = np.setdiff1d(np.arange(len(data)), headers)
    sample = rng.choice(rest, size=min(rest.size, 600), replace=False)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(data)
    failures = []
    # every header byte once (flipping the lowest, highest, top or 0x20 bits in turn), a second
    # seeded random value for a seeded fifth of them, and seeded random values elsewhere
    cases = [(p, data[p] ^ (0x01, 0xFF, 0x80, 0x20)[i % 4]) for i, p in enumerate(headers)]
    again = rng.choice(headers, size=len(headers) // 5, replace=False)
    cases += [(int(p), int(v)) for p, v in zip(again, rng.integers(0, 256, again.size))]
    cases += [(int(p), int(v)) for p, v in zip(sample, rng.integers(0, 256, sample.size))]
    for pos, value in cases:
        if value == data[pos]:
            continue
        with open(corrupt, "r+b") as f:          # patched in place: rewriting is slow
            f.seek(pos)
            f.write(bytes([value]))
        why = _load_outcome(corrupt, reference)
        with open(corrupt, "r+b") as f:
            f.seek(pos)
            f.write(data[pos:pos + 1])
        if why is not None:
            failures.append((pos, value, why))
    assert len(cases) > 3000 and failures == []


def _rezip(path, out, members):
    """Copy the zip ``path`` to ``out`` with the member bytes of ``members`` (name: bytes or
    None to drop it) replaced or added."""
    import zipfile

    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        names = [i.filename for i in src.infolist()]
        for name in names + [n for n in members if n not in names]:
            data = members.get(name, src.read(name) if name in names else None)
            if data is not None:
                dst.writestr(name, data)


def _npy(header_shape, payload, descr="<i8"):
    """Bytes of a .npy file whose header claims ``header_shape`` and which holds ``payload``."""
    import io

    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        f, {"descr": descr, "fortran_order": False, "shape": header_shape})
    return f.getvalue() + payload


def _patch(data, offset, value):
    return data[:offset] + bytes([value]) + data[offset + 1:]


def test_malformed_files_are_refused(tmp_path):
    """Each of these raised something else than CheckpointError (or ran out of memory)."""
    import struct

    path, _ = _small_checkpoint(tmp_path)
    data = path.read_bytes()
    central = data.index(b"PK\x01\x02")            # the first member's central header
    npy = 30 + len(b"classes.npy") + struct.unpack("<H", data[28:30])[0]
    assert data[npy:npy + 6] == b"\x93NUMPY"
    shape = data.index(b"'shape': (", npy) + len(b"'shape': (")
    bad = {
        "empty.npz": b"",
        "text.npz": b"hello",
        "npy.npz": _npy((3,), bytes(24)),                               # a .npy, not a zip
        "encrypted.npz": _patch(_patch(data, 6, data[6] | 1), central + 8, data[central + 8] | 1),
        "method.npz": _patch(data, central + 10, 99),                  # compression method
        "version.npz": _patch(data, central + 6, 0xFF),                 # zip version needed
        "token.npz": _patch(data, shape - 1, ord("[")),                 # .npy header syntax
    }
    bad.update({f"cut{n}.npz": data[:n] for n in range(0, len(data), 97)})
    bad.update({f"cut-{n}.npz": data[:len(data) - n] for n in (1, 2, 22, 23, 100)})
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    _rezip(path, tmp_path / "huge.npz", {"classes.npy": _npy((10 ** 12,), bytes(16))})
    _rezip(path, tmp_path / "object.npz", {"classes.npy": _npy((2,), bytes(16), "|O")})
    _rezip(path, tmp_path / "extra.npz", {"notes.txt": b"hello"})
    _rezip(path, tmp_path / "nometa.npz", {"meta.npy": None})
    names = list(bad) + ["huge.npz", "object.npz", "extra.npz", "nometa.npz"]
    outcomes = {name: _load_outcome(tmp_path / name, None) for name in names}
    assert {k: v for k, v in outcomes.items() if v is not None} == {}
    with pytest.raises(CheckpointError, match="huge.npz: .*claims 8000000000000 bytes"):
        SparseMLP.load(tmp_path / "huge.npz")
    with pytest.raises(CheckpointError, match="encrypted"):
        SparseMLP.load(tmp_path / "encrypted.npz")
    with pytest.raises(CheckpointError, match="not a readable refset checkpoint"):
        SparseMLP.load(tmp_path)                                        # a directory
    with pytest.raises(FileNotFoundError):
        SparseMLP.load(tmp_path / "missing.npz")


# -- metadata: cross-checked against the arrays and protected by its own digest ---------------

_CHT = {"method": "cht", "method_options": {"topology_init": "erdos_renyi"}}


def _set_classes(a, m):
    a["classes"] = np.array([0, 1, 2])
    m["digests"]["classes"] = _digest(a["classes"])


def _arrays_to_float32(a, m):
    for k in list(a):
        if k != "meta" and a[k].dtype == np.float64:
            a[k] = a[k].astype(np.float32)
            m["digests"][k] = _digest(a[k])


# (model parameters, change(arrays, meta), what the refusal names)
_META_EDITS = {
    "width": ({}, lambda a, m: m["params"].update(hidden_layer_sizes=[10, 8]),
              "hidden layer 2 has 7 neurons, but hidden_layer_sizes gives 8"),
    "fewer layers": ({}, lambda a, m: m["params"].update(hidden_layer_sizes=[10]),
                     r"hidden_layer_sizes \[10\] means 2 layers, but the file holds 3"),
    "more layers": ({}, lambda a, m: m["params"].update(hidden_layer_sizes=[10, 7, 7]),
                    "means 4 layers"),
    "n_layers": ({}, lambda a, m: m.update(n_layers=2),
                 "n_layers 2 disagrees with the 3 layer shapes"),
    "epoch": ({}, lambda a, m: m.update(epoch=1),
              "epoch 1 disagrees with the history, which has 2 epoch records"),
    "history": ({}, lambda a, m: m.update(history=m["history"][:1]),
                "epoch 2 disagrees with the history, which has 1 epoch records"),
    "history order": ({}, lambda a, m: m["history"].reverse(), "history's epoch numbers"),
    "dtype": ({}, lambda a, m: m["params"].update(dtype="float32"),
              "dtype 'float32' of the parameters disagrees with the float64 array values_0"),
    "array dtype": ({}, _arrays_to_float32,
                    "dtype 'float64' of the parameters disagrees with the float32 array values_0"),
    "to sensitivity": ({}, lambda a, m: m["params"].update(method="sensitivity"),
                       "method 'sensitivity' needs the mean gradients of the last epoch"),
    "to path-weight": ({}, lambda a, m: m["params"].update(method="path-weight"),
                       r"method state has keys \[\], which do not fit method 'path-weight'"),
    "to cht": ({}, lambda a, m: m["params"].update(_CHT),
               r"method state has keys \[\], which do not fit method 'cht'"),
    "from sensitivity": ({"method": "sensitivity"}, lambda a, m: m["params"].update(method="set"),
                         "mean gradients are stored, but method is 'set'"),
    "path-weight state": ({"method": "path-weight"}, lambda a, m: m["method_state"].pop("lam"),
                          r"keys \['delta', 'zeta'\], which do not fit method 'path-weight'"),
    "cht state": (_CHT, lambda a, m: m["method_state"].update(frozen=[False, False, False]),
                  "method state 'frozen' of 'cht' must be 2 bools"),
    "cht width": (_CHT, lambda a, m: m["params"].update(hidden_layer_sizes=[3, 3]),
                  r"hidden layer 1 has \d+ neurons, but hidden_layer_sizes gives 3 and CHT only "
                  "removes neurons"),
    "n_features_in": ({}, lambda a, m: m.update(n_features_in=9),
                      "n_features_in 9 disagrees with the 8 inputs of the first layer"),
    "classes": ({}, _set_classes, "the output layer has 2 neurons, but there are 3 classes"),
}


@pytest.mark.parametrize("redigest", [True, False], ids=["digest recomputed", "hand edit"])
@pytest.mark.parametrize("edit", list(_META_EDITS))
def test_metadata_disagreeing_with_the_arrays_is_refused(tmp_path, edit, redigest):
    params, change, message = _META_EDITS[edit]
    X, y = _data()
    path = tmp_path / "m.npz"
    _model(epochs=2, **params).fit(X, y).save(path)
    SparseMLP.load(path)                                   # the file itself is fine
    _rewrite(path, tmp_path / "bad.npz", change, redigest=redigest)
    if redigest:
        message = "bad.npz: the metadata disagrees with the arrays: .*" + message
    else:
        message = "bad.npz: the metadata was modified or is corrupt"
    with pytest.raises(CheckpointError, match=message):
        SparseMLP.load(tmp_path / "bad.npz")


def test_cht_widths_may_shrink_but_not_grow(tmp_path):
    X, y = _data()
    path = tmp_path / "m.npz"
    cht = _model(epochs=2, **_CHT).fit(X, y)
    cht.save(path)
    wider = lambda a, m: m["params"].update(hidden_layer_sizes=[12, 9])   # noqa: E731
    _rewrite(path, tmp_path / "cht.npz", wider)
    back = SparseMLP.load(tmp_path / "cht.npz")
    assert [W.shape for W in back.layers_] == [W.shape for W in cht.layers_]
    _model(epochs=2).fit(X, y).save(path)                 # not CHT: widths must be equal
    _rewrite(path, tmp_path / "set.npz", wider)
    with pytest.raises(CheckpointError, match="hidden layer 1 has 10 neurons, but "
                       "hidden_layer_sizes gives 12$"):
        SparseMLP.load(tmp_path / "set.npz")


def _to_version_2(a, m):
    del m["meta_digest"]
    m["version"] = 2


@pytest.mark.parametrize("params", [{}, {"method": "sensitivity"}, {"method": "path-weight"},
                                    _CHT], ids=["set", "sensitivity", "path-weight", "cht"])
def test_version_2_files_still_load(tmp_path, params):
    X, y = _data()
    path = tmp_path / "m.npz"
    model = _model(epochs=2, **params).fit(X, y)
    model.save(path)
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
    assert meta["version"] == 3 and meta["meta_digest"] == _meta_digest(meta)
    _rewrite(path, tmp_path / "v2.npz", _to_version_2)
    back = SparseMLP.load(tmp_path / "v2.npz")
    assert back.get_params() == model.get_params()
    _assert_same_state(model, back)
    for m in (model, back):
        m.set_params(epochs=3).fit(X, y, resume=True)
    _assert_same_state(model, back)


def test_version_2_files_are_cross_checked(tmp_path):
    X, y = _data()
    path = tmp_path / "m.npz"
    _model(epochs=2).fit(X, y).save(path)

    def edit(a, m):
        _to_version_2(a, m)
        m["epoch"] = 1
    _rewrite(path, tmp_path / "v2.npz", edit)
    with pytest.raises(CheckpointError, match="v2.npz: the metadata disagrees with the arrays: "
                       "epoch 1 disagrees with the history"):
        SparseMLP.load(tmp_path / "v2.npz")
    _rewrite(path, tmp_path / "v1.npz", lambda a, m: m.update(version=1))
    with pytest.raises(CheckpointError, match="version 1 is not supported"):
        SparseMLP.load(tmp_path / "v1.npz")
    _rewrite(path, tmp_path / "nodigest.npz", lambda a, m: m.pop("meta_digest"), redigest=False)
    with pytest.raises(CheckpointError, match="the metadata was modified"):
        SparseMLP.load(tmp_path / "nodigest.npz")


def test_early_version_2_cht_state_loads(tmp_path):
    """The first version-2 files of CHT kept only ``frozen`` (also the flags that passed)."""
    X, y = _data()
    path = tmp_path / "m.npz"
    _model(epochs=2, **_CHT).fit(X, y).save(path)

    def early(a, m):
        _to_version_2(a, m)
        m["method_state"] = {"frozen": [True, False]}
    _rewrite(path, tmp_path / "v2.npz", early)
    back = SparseMLP.load(tmp_path / "v2.npz")
    assert back.method_state_ == {"frozen": [True, False], "passed": [True, False]}
    back.set_params(epochs=3).fit(X, y, resume=True)


def test_a_model_disagreeing_with_its_parameters_is_not_saved(tmp_path):
    X, y = _data()
    path = tmp_path / "m.npz"
    model = _model(epochs=2).fit(X, y)
    model.save(path)
    before = path.read_bytes()
    model.set_params(hidden_layer_sizes=(10, 8))
    with pytest.raises(ValueError, match="m.npz: not saved: .*hidden layer 2 has 7 neurons, but "
                       "hidden_layer_sizes gives 8"):
        model.save(path)
    model.set_params(hidden_layer_sizes=(10, 7), epochs=0)
    with pytest.raises(ValueError, match="m.npz: not saved: invalid parameters .*epochs"):
        model.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]
