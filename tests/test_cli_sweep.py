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


# -- errors that name the path; exit status 1 for failed runs; the lock; leftovers ------------

def _tree(path):
    """Every file under ``path`` (relative name -> bytes), to show that nothing changed."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def test_sweep_config_that_is_a_directory_or_not_utf8_exits_2(tmp_path, capsys):
    out = tmp_path / "o"
    _one_line_error(capsys, ["sweep", str(tmp_path), "--out", str(out)],
                    f"refset: error: config: {tmp_path} is a directory; give the sweep's TOML "
                    "file")
    bad = tmp_path / "utf16.toml"
    bad.write_bytes(CONFIG.encode("utf-16"))
    for extra in ([], ["--dry-run"]):
        _one_line_error(capsys, ["sweep", str(bad), "--out", str(out)] + extra,
                        f"refset: error: config: {bad} is not UTF-8 text (byte 0xff at offset "
                        "0); save it as UTF-8")
    assert not out.exists()


def test_sweep_out_that_is_a_file_or_under_one_exits_2(tmp_path, config, capsys):
    file = tmp_path / "notes.txt"
    file.write_text("mine\n")
    for extra in ([], ["--dry-run"]):
        _one_line_error(capsys, ["sweep", str(config), "--out", str(file)] + extra,
                        f"refset: error: out_dir: {file} is a file, not a directory")
        _one_line_error(capsys, ["sweep", str(config), "--out", str(file / "o")] + extra,
                        f"refset: error: out_dir: cannot create {file / 'o'}: {file} is a file, "
                        "not a directory")
    assert _tree(tmp_path) == {"notes.txt": b"mine\n", "sweep.toml": CONFIG.encode()}


_HOLD_LOCK = """
import sys, time
from refset._lock import lock_directory
with lock_directory(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_sweep_on_the_same_out_exits_2_at_once(tmp_path, config, capsys):
    import subprocess

    out = tmp_path / "o"
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out)],
                              stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert holder.stdout.readline() == "locked\n"
        before = _tree(out)
        _one_line_error(capsys, ["sweep", str(config), "--out", str(out)],
                        f"refset: error: out_dir: {out} is in use by another sweep (pid "
                        f"{holder.pid}); wait for it to end or use another directory")
        assert _tree(out) == before
    finally:
        holder.kill()                                  # a killed sweep's lock blocks nothing
        holder.wait()
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0


def test_sweep_with_failed_runs_exits_1_with_one_line(tmp_path, config, capsys, monkeypatch):
    from refset import SparseMLP

    real_fit = SparseMLP.fit

    def fit(self, *args, **kwargs):
        if self.zeta == 0.3:
            raise RuntimeError("injected")
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(SparseMLP, "fit", fit)
    out = tmp_path / "o"
    assert main(["sweep", str(config), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"refset: 2 of 4 runs failed; see {out}/runs/*/error.txt\n"
    assert "2 ok, 2 failed" in captured.out
    assert len(list(out.glob("runs/*/error.txt"))) == 2
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    monkeypatch.undo()                                 # the retry succeeds: exit 0
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_damaged_model_and_leftover_temporaries_at_the_cli(tmp_path, config, capsys):
    out = tmp_path / "o"
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    run = out / "runs" / "synthetic__set__zeta=0.3__r01"
    (run / "model.npz").write_bytes(b"garbage")
    (run / ".tmp-abcd_123-model.npz").write_bytes(b"\0" * 2_500_000)   # a killed save
    assert main(["sweep", str(config), "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"4 runs (3 done, 1 pending) -> {out}"
    assert [line.split()[-1] for line in lines[:4]] == ["done", "done", "done", "pending"]
    assert main(["sweep", str(config), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sweep cli: 4 runs, 3 finished earlier, 1 to run" in text
    assert "removed 1 temporary file(s) (2.5 MB) left by an interrupted sweep" in text
    assert "rerunning synthetic__set__zeta=0.3__r01: model.npz: not a readable checkpoint" in text
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "history.csv",
                                                     "history.json", "model.npz", "result.json"]
    assert main(["sweep", str(config), "--out", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"4 runs (4 done) -> {out}"


def _plot_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    history = [{"epoch": e, "test_accuracy": 0.5, "nnz": [50], "removed": [5], "regrown": [5],
                "active_neurons": [10, 3]} for e in (1, 2)]
    (run / "history.json").write_text(json.dumps({"history": history}))
    return run


def test_plot_of_damaged_files_exits_2_naming_the_file(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    run = _plot_run(tmp_path)
    for path, data, message in [
            (sweep / "results.json", b'{"config": {}, "runs": [', "not valid JSON (Expecting "),
            (sweep / "results.json", b'{"runs": []}\xff', "not UTF-8 text (byte 0xff at "),
            (run / "history.json", b'{"history": [', "not valid JSON (Expecting "),
            (run / "history.json", b"\xfe", "not UTF-8 text (byte 0xfe at offset 0)")]:
        path.write_bytes(data)
        before = _tree(tmp_path)
        _one_line_error(capsys, ["plot", str(path.parent)], f"refset: error: {path}: {message}")
        assert _tree(tmp_path) == before and not (path.parent / "plots").exists()


def test_plot_out_that_cannot_be_written_exits_2(tmp_path, capsys, monkeypatch):
    import os

    pytest.importorskip("matplotlib")
    run = _plot_run(tmp_path)
    file = tmp_path / "fig.png"
    file.write_bytes(b"a user's figure")
    shared = tmp_path / "shared"
    shared.mkdir()
    before = _tree(tmp_path)
    _one_line_error(capsys, ["plot", str(run), "--out", str(file)],
                    f"refset: error: out_dir: {file} is a file, not a directory")
    _one_line_error(capsys, ["plot", str(run), "--out", str(file / "p")],
                    f"refset: error: out_dir: cannot create {file / 'p'}: {file} is a file")
    real_access = os.access                            # read-only (chmod does not bind root)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        os.fspath(path) != str(shared) and real_access(path, mode, **kw)))
    _one_line_error(capsys, ["plot", str(run), "--out", str(shared / "p")],
                    f"refset: error: out_dir: cannot create {shared / 'p'}: {shared} is not "
                    "writable; choose another directory")
    assert _tree(tmp_path) == before and list(shared.iterdir()) == []
    monkeypatch.undo()
    assert main(["plot", str(run), "--out", str(shared / "p"), "--format", "svg"]) == 0
    assert sorted(p.name for p in (shared / "p").iterdir()) == ["bookkeeping_run.svg", "curves_run.svg"]
