"""``refset sweep`` and ``refset plot`` on the command line: end to end and one-line errors."""
import json
import sys
import types

import pytest

from refset.cli import main

CONFIG = """
[experiment]
name = "cli"
runs = 2
epochs = 2

[data]
datasets = ["synthetic"]

[data.synthetic]
n_samples = 120
n_features = 20
n_classes = 3

[model]
hidden_layer_sizes = [12]
epsilon = 3
batch_size = 16
learning_rate = 0.05

[grid]
zeta = [0.0, 0.3]
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(CONFIG)
    return path


def test_sweep_end_to_end_resume_and_dry_run(tmp_path, config, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sweep cli: 4 runs, 0 finished earlier, 4 to run" in text
    assert "[1/4] synthetic__set__zeta=0.0__r00  ok  acc " in text and "ETA" in text
    assert "final % [95% CI]" in text and f"results in {out}/" in text
    doc = json.loads((out / "results.json").read_text())
    assert [r["status"] for r in doc["runs"]] == ["ok"] * 4
    assert doc["config"]["grid"] == {"zeta": [0.0, 0.3]}
    assert (out / "sweep.toml").read_text() == CONFIG
    # the same command again: nothing to run
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["sweep", str(config), "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"4 runs (4 done) -> {out}"
    assert lines[0].startswith("synthetic__set__zeta=0.0__r00") and lines[0].endswith("done")
    # a sweep run directory is a refset train run directory
    run_dir = out / doc["runs"][0]["run_dir"]
    assert main(["train", "--resume", str(run_dir), "--epochs", "3", "--quiet"]) == 0
    assert len(json.loads((run_dir / "history.json").read_text())["history"]) == 3


def test_sweep_jobs_2_and_default_out(tmp_path, config, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(config), "--jobs", "2", "--quiet"]) == 0
    rows = json.loads((tmp_path / "refset-runs" / "cli" / "results.json").read_text())["runs"]
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)


def test_missing_dataset_is_skipped_at_the_cli(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.replace('datasets = ["synthetic"]', 'datasets = ["COIL20", "synthetic"]'))
    data = tmp_path / "nodata"
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--data-dir", str(data)]) == 0
    text = capsys.readouterr().out
    assert f"skipping COIL20: COIL20.mat not found in {data}; put the file there or remove it " \
           "from [data] datasets" in text
    assert "4 ok, 0 failed" in text and "4 skipped" in text
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--data-dir", str(data),
                 "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("8 runs (4 done, 4 missing)")


def _one_line_error(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("runs = 2", "runs = 0"), "experiment.runs: must be an integer >= 1, got 0"),
    (lambda t: t.replace("[grid]", "[grids]"), "[grids]: unknown section"),
    (lambda t: t.replace("epsilon = 3", "eps = 3"), "model.eps: unknown SparseMLP parameter"),
    (lambda t: t.replace("zeta = [0.0, 0.3]", "zeta = []"), "grid.zeta: must be a non-empty array"),
    (lambda t: t.replace('["synthetic"]', '["nosuch"]'), "data.datasets: unknown dataset 'nosuch'"),
    (lambda t: t.replace("runs = 2", 'runs = "2"'), "experiment.runs: must be an integer"),
    (lambda t: t.replace("[experiment]", "[experiment"), "is not valid TOML"),
    (lambda t: t.replace("zeta = [0.0, 0.3]", "zeta = [0.0, 3.0]"), "zeta must be a finite number"),
])
def test_bad_configs_exit_2_with_one_line(tmp_path, capsys, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(edit(CONFIG))
    err = _one_line_error(capsys, ["sweep", str(path), "--out", str(tmp_path / "o")], message)
    assert err.startswith("refset: error: ")
    assert not (tmp_path / "o").exists()


def test_sweep_cli_errors(tmp_path, config, capsys, monkeypatch):
    out = str(tmp_path / "o")
    err = _one_line_error(capsys, ["sweep", str(tmp_path / "none.toml")], "does not exist")
    assert err.startswith("refset: error: config: ")
    _one_line_error(capsys, ["sweep", str(config), "--out", out, "--jobs", "0"], "jobs must be")
    assert main(["sweep", str(config), "--out", out, "--quiet"]) == 0
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.replace("epochs = 2", "epochs = 3"))
    _one_line_error(capsys, ["sweep", str(other), "--out", out],
                    "holds a sweep with another config (differs in experiment.epochs)")
    monkeypatch.setitem(sys.modules, "distributed", None)
    _one_line_error(capsys, ["sweep", str(config), "--out", str(tmp_path / "d"), "--dask",
                             "tcp://127.0.0.1:1"],
                    "--dask needs the distributed package: pip install 'refset[distributed]'")


def test_sweep_missing_error_mode_exits_2(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.replace('datasets = ["synthetic"]',
                                   'datasets = ["lung", "synthetic"]\nmissing = "error"'))
    _one_line_error(capsys, ["sweep", str(path), "--out", str(tmp_path / "o"), "--data-dir",
                             str(tmp_path)], "lung.mat not found in")


def test_plot_command_calls_plot_results(tmp_path, monkeypatch, capsys):
    calls = []

    def plot_results(path, out_dir=None, *, formats=("png", "svg"), quiet=False):
        calls.append((path, out_dir, formats, quiet))
        if path == "bad":
            raise ValueError("path: bad is neither a sweep nor a run directory")
        return [tmp_path / "a.png", tmp_path / "a.svg"]

    monkeypatch.setitem(sys.modules, "refset.plots", types.SimpleNamespace(plot_results=plot_results))
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "p"), "--format", "png, PDF"]) == 0
    assert calls == [(str(tmp_path), str(tmp_path / "p"), ("png", "pdf"), True)]
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / "a.png"),
                                                    str(tmp_path / "a.svg"), "2 files written"]
    assert main(["plot", str(tmp_path), "--quiet"]) == 0
    assert calls[-1] == (str(tmp_path), None, ("png", "svg"), True)
    assert capsys.readouterr().out == ""
    _one_line_error(capsys, ["plot", "bad"], "path: bad is neither")
    _one_line_error(capsys, ["plot", "x", "--format", ","], "--format must list file formats")
