"""User mistakes get a clear message and change nothing; faults are survived.

CLI: exit status 2, one line on stderr naming the option or file, and no file changed.
API: the exception type and a message naming the parameter.
"""
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import refset
from refset.cli import main


def _snapshot(root):
    """{relative path: sha256} of every file under ``root`` (and the directories, as None)."""
    root = Path(root)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                       if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def _cli(capsys, *args):
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err.strip()


def _one_error_line(err):
    lines = [line for line in err.splitlines() if not line.startswith("refset: warning:")]
    assert len(lines) == 1 and lines[0].startswith("refset: error:"), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "r"
    assert main(["train", "--hidden", "16,16", "--epsilon", "2", "--epochs", "2", "--quiet",
                 "--out", str(run)]) == 0
    return run


@pytest.fixture
def run(finished_run, tmp_path):
    """A private copy of a finished two-epoch run."""
    copy = tmp_path / "run"
    copy.mkdir()
    for f in finished_run.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    return copy


# -- --resume: conflicting options are refused, a refused command writes nothing -----------------

@pytest.mark.parametrize("extra, named", [
    (["--zeta", "0.9"], "--zeta"), (["--hidden", "64"], "--hidden"),
    (["--zeta", "0.9", "--hidden", "64", "--epochs", "3"], "--zeta, --hidden"),
    (["--method", "cht"], "--method"), (["--out", "elsewhere"], "--out"),
    (["--seed", "0"], "--seed"),            # the default value, given explicitly: still refused
])
def test_resume_refuses_options_that_conflict_with_the_run(run, capsys, extra, named):
    before = _snapshot(run)
    status, _, err = _cli(capsys, "train", "--resume", str(run), *extra)
    line = _one_error_line(err)
    assert status == 2 and named in line and "cannot be changed" in line
    assert _snapshot(run) == before


@pytest.mark.parametrize("extra, named", [
    (["--threads", "0", "--epochs", "7"], "threads"),
    (["--epochs", "1"], "--epochs 1 is fewer than the 2 epochs"),
])
def test_a_refused_resume_changes_no_file(run, capsys, extra, named):
    before = _snapshot(run)
    status, _, err = _cli(capsys, "train", "--resume", str(run), *extra)
    assert status == 2 and named in _one_error_line(err)
    assert _snapshot(run) == before


def test_resume_honours_epochs_and_threads(run, capsys):
    status, _, _ = _cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--threads", "1",
                        "--quiet")
    assert status == 0
    assert refset.SparseMLP.load(run / "model.npz").epoch_ == 3


def test_resume_names_the_directory_when_given_the_model_file(run, capsys):
    status, _, err = _cli(capsys, "train", "--resume", str(run / "model.npz"))
    assert status == 2 and f"did you mean --resume {run}?" in _one_error_line(err)


def test_force_with_an_invalid_configuration_keeps_the_old_run(run, capsys):
    """--force --method cht with widths CSTI cannot build fails before writing anything."""
    before = _snapshot(run)
    status, _, err = _cli(capsys, "train", "--force", "--out", str(run), "--method", "cht",
                          "--hidden", "50", "--epochs", "1")
    assert status == 2 and "refset: error:" in err and "Traceback" not in err
    assert _snapshot(run) == before


def test_a_failing_new_run_creates_no_directory(tmp_path, capsys):
    out = tmp_path / "new"
    status, _, err = _cli(capsys, "train", "--out", str(out), "--method", "cht", "--hidden",
                          "50", "--epochs", "1")
    assert status == 2 and "Traceback" not in err
    assert not out.exists()


# -- operating-system errors: one line, naming the path ------------------------------------------

def test_out_naming_a_file_or_a_path_under_one(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("keep")
    for out, expected in ((f, f"--out: {f} is a file, not a directory"),
                          (f / "sub", f"--out: cannot create {f / 'sub'}: {f} is a file")):
        status, _, err = _cli(capsys, "train", "--out", str(out), "--epochs", "1")
        line = _one_error_line(err)
        assert status == 2 and expected in line and str(f) in line
    assert f.read_text() == "keep"


def test_an_os_error_during_training_is_one_line(tmp_path, capsys, monkeypatch):
    """A full disk while writing the checkpoint: one line naming the file, no traceback."""
    import refset.estimator.mlp as mlp

    def full_disk(model, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(mlp, "save_checkpoint", full_disk)
    status, _, err = _cli(capsys, "train", "--out", str(tmp_path / "r"), "--epochs", "1",
                          "--hidden", "8", "--quiet")
    line = _one_error_line(err)
    assert status == 2 and "No space left on device" in line and "model.npz" in line


# -- sizes that cannot fit are refused up front --------------------------------------------------

@pytest.mark.parametrize("hidden", ["1000000000000", "99999999999999999999"])
def test_sizes_that_cannot_fit_are_refused_with_the_estimate(tmp_path, capsys, hidden):
    out = tmp_path / "big"
    status, _, err = _cli(capsys, "train", "--hidden", hidden, "--out", str(out))
    line = _one_error_line(err)
    assert status == 2 and "training needs at least" in line and "is available" in line
    assert not out.exists()


def test_estimate_memory_refuses_in_the_api():
    X, y = refset.make_synthetic(n_samples=60, seed=0)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(10000000000,\).*needs at least"):
        refset.SparseMLP((10**10,), epochs=1).fit(X, y)
    small = refset.SparseMLP((64, 64), epsilon=5).estimate_memory(200, 4)
    assert 0 < small < 2**20


# -- nonsense accepted silently --------------------------------------------------------------------

@pytest.mark.parametrize("hidden", ["10,,10", "10,", ",10", ""])
def test_hidden_with_an_empty_item_is_refused(capsys, hidden):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--hidden", hidden])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--hidden must be comma-separated positive integers" in err


def test_more_threads_than_cpus_warns():
    X, y = refset.make_synthetic(n_samples=60, seed=0)
    threads = (os.cpu_count() or 1) + 1
    with pytest.warns(UserWarning, match=rf"threads={threads} exceeds the \d+ CPUs"):
        refset.SparseMLP((8,), epochs=1, threads=threads).fit(X, y)


def test_set_step_states_its_precondition():
    W = refset.CooMatrix(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([1.0, -1.0, 0.5]),
                         (3, 2))                     # input 2 has no link
    with pytest.raises(ValueError, match=r"isolated neurons before the update \(inputs \(rows\) 2\)"):
        refset.set_step(W, 0.5, np.random.default_rng(0))
    step = refset.set_step(W, 0.5, np.random.default_rng(0), guard=False)
    assert step.layer.nnz == W.nnz


# -- not fitted, labels ----------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["predict", "predict_proba", "score", "loss_and_gradients",
                                  "active_neurons", "save"])
def test_every_method_before_fit_raises_not_fitted(call, tmp_path):
    X, y = refset.make_synthetic(n_samples=20, seed=0)
    model = refset.SparseMLP((8,))
    args = {"predict": (X,), "predict_proba": (X,), "score": (X, y),
            "loss_and_gradients": (X, y), "active_neurons": (), "save": (tmp_path / "m.npz",)}
    with pytest.raises(refset.NotFittedError, match="not fitted yet"):
        getattr(model, call)(*args[call])
    assert issubclass(refset.NotFittedError, ValueError)
    assert issubclass(refset.NotFittedError, AttributeError)


def test_mixed_label_types_are_refused_by_name():
    X = refset.make_synthetic(n_samples=20, seed=0)[0][:6]
    y = np.array([1, "a", 2, "b", 1, 2], dtype=object)
    with pytest.raises(ValueError, match="y mixes labels of types int, str"):
        refset.SparseMLP((8,), epochs=1).fit(X, y)


# -- SIGTERM ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigterm_ends_training_with_a_message(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "refset", "train", "--hidden", "300,300",
                             "--epochs", "200", "--quiet", "--out", str(out)],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not (out / "model.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"terminated (SIGTERM); the last completed epoch is saved: continue with refset " \
           f"train --resume {out}" in err
    assert "Traceback" not in err
    assert refset.SparseMLP.load(out / "model.npz").epoch_ >= 1


# -- leftovers and concurrent runs ------------------------------------------------------------------

def test_resume_removes_temporaries_an_interrupted_run_left(run, capsys):
    leftover = run / ".tmp-abcd1234-model.npz"
    leftover.write_bytes(b"x" * 1000)
    notes = run / ".tmp-notes"                      # not a name atomic_write makes: kept
    notes.write_text("mine")
    status, out, _ = _cli(capsys, "train", "--resume", str(run), "--epochs", "3")
    assert status == 0 and "removed 1 temporary file(s)" in out
    assert not leftover.exists() and notes.read_text() == "mine"


def test_a_run_directory_in_use_is_refused(run, capsys):
    from refset._lock import lock_directory

    before = {k: v for k, v in _snapshot(run).items() if k != ".lock"}
    with lock_directory(run, what="refset train", name="run directory"):
        status, _, err = _cli(capsys, "train", "--resume", str(run), "--epochs", "3")
    assert status == 2 and "in use by another refset train" in _one_error_line(err)
    assert {k: v for k, v in _snapshot(run).items() if k != ".lock"} == before


def test_fingerprint_command(run, capsys):
    status, out, _ = _cli(capsys, "fingerprint", str(run))
    model = refset.SparseMLP.load(run / "model.npz")
    assert status == 0 and out.split()[0] == model.fingerprint() and "epoch 2" in out
    (run / "model.npz").write_bytes(b"garbage")
    status, _, err = _cli(capsys, "fingerprint", str(run))
    assert status == 2 and "model.npz" in _one_error_line(err)
