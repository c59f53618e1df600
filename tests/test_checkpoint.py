"""Checkpoints: round trip, bit-for-bit resume, corrupt and mismatched files refused."""
import json
import os

import numpy as np
import pytest

from refset import CheckpointError, SparseMLP


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


def _rewrite(path, out, change):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    change(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(out, **arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a, m: m.update(format="other"), "not a refset checkpoint"),
    (lambda a, m: m.update(version=99), "version 99"),
    (lambda a, m: a.update(values_0=a["values_0"] + 1), "corrupt"),
    (lambda a, m: a.pop("bias_1"), "do not match"),
    (lambda a, m: m.update(shapes=[[8, 10], [10, 6], [7, 2]]), "layer 1"),
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
    with pytest.raises(ValueError, match="X has 5 features, but the model expects 8"):
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
