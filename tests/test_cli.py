"""The ``refset`` command line: a smoke run, resume, info and one-line errors."""
import csv
import json
import os
import subprocess
import sys

from contextlib import nullcontext as _nullcontext

import pytest

from refset.cli import main

SMALL = ["--hidden", "64,64", "--epsilon", "4", "--epochs", "3", "--batch-size", "32", "--lr", "0.05",
         "--weight-init", "he_uniform", "--quiet"]


def test_train_smoke(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(out)]) == 0
    history = json.loads((out / "history.json").read_text())["history"]
    assert len(history) == 3 and history[-1]["test_accuracy"] > 0.4      # chance 0.25
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 3 and "nnz_1" in rows[0] and "active_neurons_0" in rows[0]
    assert (out / "model.npz").exists() and (out / "config.json").exists()
    # an existing run is never overwritten silently
    assert main(["train", *SMALL, "--out", str(out)]) == 2
    assert "already holds a trained model" in capsys.readouterr().err
    # resume it to more epochs
    assert main(["train", "--resume", str(out), "--epochs", "4", "--quiet"]) == 0
    assert len(json.loads((out / "history.json").read_text())["history"]) == 4


def test_epoch_lines(tmp_path, capsys):
    assert main(["train", "--hidden", "16", "--epsilon", "3", "--epochs", "2", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "epoch    1/2" in text and "test acc" in text and "done: test accuracy" in text


@pytest.mark.parametrize("args, message", [
    (["train", "--zeta", "1.5"], "zeta must be a finite number in [0, 1], got 1.5"),
    (["train", "--epsilon", "0"], "epsilon must be"),
    (["train", "--hidden", "10,x"], "--hidden must be comma-separated positive integers"),
    (["train", "--dataset", "nosuch"], "name"),
    (["train", "--epochs", "0"], "epochs must be"),
    (["train", "--dtype", "float16"], "invalid choice"),
    (["train", "--resume", "/nonexistent/run"], "not a refset run directory"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_with_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        status = main([*args, "--out", str(tmp_path / "x")] if args[0] == "train" else args)
        raise SystemExit(status)
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_missing_dataset_file_names_file(tmp_path, capsys):
    status = main(["train", "--dataset", "COIL20", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2 and "COIL20.mat" in err and len(err.strip().splitlines()) == 1


def test_info_and_module_entry_point(tmp_path):
    # run outside the source tree, so that the installed package (with its extension) is used
    result = subprocess.run([sys.executable, "-m", "refset", "info"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0
    assert "backend" in result.stdout and "numpy" in result.stdout
    result = subprocess.run([sys.executable, "-m", "refset", "train", "--help"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0 and "--zeta" in result.stdout


def test_coil20_if_available(tmp_path):
    data = os.environ.get("REFSET_DATA")
    if not data or not os.path.exists(os.path.join(data, "COIL20.mat")):
        pytest.skip("COIL20.mat not in REFSET_DATA")
    assert main(["train", "--dataset", "COIL20", *SMALL, "--out", str(tmp_path)]) == 0
    history = json.loads((tmp_path / "history.json").read_text())["history"]
    assert history[-1]["test_accuracy"] > 0.3           # chance is 0.05


def test_synthetic_shape_options(tmp_path):
    out = tmp_path / "r"
    assert main(["train", *SMALL, "--n-samples", "300", "--n-features", "50", "--n-classes", "3",
                 "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["synthetic"] == {"n_samples": 300, "n_features": 50, "n_classes": 3}
    assert main(["train", "--dataset", "COIL20", "--n-samples", "10", "--out", str(tmp_path / "c")]) == 2


@pytest.mark.parametrize("method,extra", [
    ("path-weight", ["--lam", "0.2", "--time-varying"]),
    ("sensitivity", ["--sensitivity-form", "relative"]),
    ("cht", ["--hidden", "20,20", "--sparsity", "0.8"]),
])
def test_train_each_method(tmp_path, method, extra):
    args = ["train", "--method", method, "--n-samples", "120", "--n-features", "20",
            "--hidden", "16,16", "--epochs", "3", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(args + extra) == 0
    doc = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(doc["history"]) == 3
    assert doc["config"]["model"]["method"] == method
    first = doc["history"][0]
    if method == "path-weight":
        assert first["lam"] == 0.2 and "candidate_fraction" in first
    if method == "cht":
        assert "percolated" in first and first["anp"] <= 1.0


@pytest.mark.parametrize("argv,match", [
    (["--method", "set", "--lam", "0.1"], "--lam is an option of --method path-weight"),
    (["--method", "cht", "--sparsity", "1.5"], "sparsity"),
    (["--method", "cht", "--hidden", "7,7"], "CSTI needs every hidden width"),
    (["--method", "path-weight", "--schedule-k", "1,2"], "--schedule-k"),
    (["--method", "path-weight", "--dense-output"], "--dense-output"),
    (["--update-interval", "0"], "--update-interval"),
])
def test_method_option_errors_are_one_line(tmp_path, capsys, argv, match):
    args = ["train", "--n-samples", "60", "--n-features", "20", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--quiet"]
    with pytest.raises(SystemExit) if "--schedule-k" in argv else _nullcontext():
        code = main(args + argv)
        assert code == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1, err


def test_train_fidelity_authors(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--loss", "mse", "--fidelity", "authors", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["fidelity"] == "authors"
    from refset import SparseMLP
    model = SparseMLP.load(out / "model.npz")
    assert model.effective_params()["prune"] == "original"
    out = tmp_path / "quirks"
    assert main(["train", *SMALL, "--quirks", "prune_thresholds,drop_last_batch",
                 "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["fidelity"] == [
        "prune_thresholds", "drop_last_batch"]


def test_train_cht_authors_normalises_the_data_globally(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--method", "cht", "--hidden", "200,200", "--epochs", "1", "--quiet",
                 "--fidelity", "authors", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["data"]["standardize"] == "global"


@pytest.mark.parametrize("args, message", [
    (["--quirks", "masked_csti_weights"], "quirk 'masked_csti_weights' belongs to method 'cht'"),
    (["--quirks", "nope"], "--quirks must be comma-separated quirk names"),
    (["--quirks", "prune_thresholds", "--fidelity", "authors"], "--quirks replaces --fidelity"),
    (["--method", "sensitivity", "--fidelity", "authors"], "fidelity='authors' is available"),
])
def test_bad_fidelity_exits_with_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(["train", *args, "--out", str(tmp_path / "x")]))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x").exists()
