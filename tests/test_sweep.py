"""refset.sweep: config validation, seeds, determinism, resume, failures, summaries, parallel."""
import copy
import json
import math
import os
import pathlib
import re

import numpy as np
import pytest
from scipy import stats

import refset.sweep._runner as runner
import refset.sweep._worker as worker
from refset import SparseMLP
from refset.sweep import (cell_seed, expand_cells, load_config, load_results, parse_config,
                          plan_sweep, run_sweep, summarize)

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
TIMING = ("seconds_train", "seconds_eval", "seconds_topology", "seconds_total")


def tiny(seed=0, runs=2, zeta=(0.0, 0.3), **grid):
    """A sweep of a few milliseconds per run."""
    return {
        "experiment": {"name": "tiny", "seed": seed, "runs": runs, "epochs": 3},
        "data": {"datasets": ["synthetic"],
                 "synthetic": {"n_samples": 120, "n_features": 20, "n_classes": 3}},
        "model": {"hidden_layer_sizes": [12], "epsilon": 3, "batch_size": 16,
                  "learning_rate": 0.05, "weight_init": "he_uniform"},
        "grid": {"zeta": list(zeta), **grid},
    }


def without_timing(value):
    """Rows, histories or row lists with the wall-clock fields removed."""
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING}
    return value


def snapshot(out):
    """Everything a sweep wrote that does not depend on the clock."""
    out = pathlib.Path(out)
    doc = json.loads((out / "results.json").read_text())
    snap = {"rows": without_timing(doc["runs"])}
    for row in doc["runs"]:
        if row["status"] != "ok":
            continue
        run_dir = out / row["run_dir"]
        history = json.loads((run_dir / "history.json").read_text())
        snap[row["run_id"]] = {
            "history": without_timing(history["history"]),
            "config": json.loads((run_dir / "config.json").read_text()),
        }
        with np.load(run_dir / "model.npz") as npz:
            arrays = {k: npz[k].tobytes() for k in npz.files if k != "meta"}
            meta = json.loads(str(npz["meta"]))
        snap[row["run_id"]]["model"] = arrays
        snap[row["run_id"]]["rng"] = meta["rng_state"]
    return snap


# -- config -----------------------------------------------------------------------------------

def _bad(edit):
    config = copy.deepcopy(tiny())
    edit(config)
    return config


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(extra={}), "[extra]: unknown section"),
    (lambda c: c["experiment"].update(repeats=3), "experiment.repeats: unknown key"),
    (lambda c: c["experiment"].update(runs=0), "experiment.runs: must be an integer >= 1, got 0"),
    (lambda c: c["experiment"].update(runs="10"), "experiment.runs: must be an integer"),
    (lambda c: c["experiment"].update(seed=1.5), "experiment.seed: must be an integer"),
    (lambda c: c["experiment"].update(epochs=True), "experiment.epochs: must be an integer"),
    (lambda c: c["experiment"].update(save_models="some"), "experiment.save_models: must be one"),
    (lambda c: c["experiment"].update(name="a b"), "experiment.name"),
    (lambda c: c.pop("data"), "[data]: missing"),
    (lambda c: c["data"].update(datasets="synthetic"), "data.datasets: must be a non-empty array"),
    (lambda c: c["data"].update(datasets=[]), "data.datasets: must be a non-empty array"),
    (lambda c: c["data"].update(datasets=["synthetic", "nosuch"]),
     "data.datasets: unknown dataset 'nosuch'; allowed: "),
    (lambda c: c["data"].update(datasets=["COIL20", "coil20"]), "data.datasets: 'coil20' is listed twice"),
    (lambda c: c["data"].update(test_size=1.5), "data.test_size: must be a number in (0, 1)"),
    (lambda c: c["data"].update(missing="ignore"), "data.missing: must be one of 'skip', 'error'"),
    (lambda c: c["data"]["synthetic"].update(n_rows=5), "data.synthetic.n_rows: unknown key"),
    (lambda c: c["model"].update(hidden=[3]), "model.hidden: unknown SparseMLP parameter; allowed: "),
    (lambda c: c["model"].update(seed=3), "model.seed: is set by the sweep"),
    (lambda c: c["model"].update(epochs=3), "model.epochs: is set by the sweep (set experiment.epochs)"),
    (lambda c: c["model"].update(epsilon="x"), "epsilon must be a number, got 'x'"),
    (lambda c: c["grid"].update(zeta=[]), "grid.zeta: must be a non-empty array"),
    (lambda c: c["grid"].update(zeta=0.3), "grid.zeta: must be a non-empty array"),
    (lambda c: c["grid"].update(zeta=[0.1, 0.1]), "grid.zeta: the value 0.1 is listed twice"),
    (lambda c: c["grid"].update(zeta=[0.1, 1.5]), "zeta must be a finite number in [0, 1], got 1.5"),
    (lambda c: c["grid"].update(lr=[0.1]), "grid.lr: unknown SparseMLP parameter"),
    (lambda c: c["grid"].update(epsilon=[2, 3]), "grid.epsilon: is also set in [model]"),
    (lambda c: c["grid"].update({"method_options.lam": [0.1, 0.2]}),
     "method_options.lam=0.1 (dataset synthetic): method_options: unknown option(s) lam"),
    (lambda c: c["grid"].update(method=["set", "magic"]), "method"),
    (lambda c: c.update(summary={"baseline": {"zeta": 0.5}}),
     "summary.baseline.zeta: 0.5 is not among the grid values"),
    (lambda c: c.update(summary={"baseline": {"epsilon": 3}}), "summary.baseline.epsilon: is not a grid key"),
    (lambda c: c.update(summary={"compare": {"zeta": 0.0}}), "summary.baseline: is required"),
])
def test_bad_configs_are_refused_naming_the_key(edit, message):
    with pytest.raises(ValueError) as exc:
        parse_config(_bad(edit))
    assert message in str(exc.value), str(exc.value)
    assert "\n" not in str(exc.value)


def test_config_defaults_and_normalisation():
    config = parse_config({"data": {"datasets": ["coil20", "tox_171"]},
                           "grid": {"zeta": [0, 0.02, 0.3]}})
    assert config["data"]["datasets"] == ["COIL20", "TOX-171"]
    assert config["experiment"] == {"name": "sweep", "seed": 0, "runs": 1, "epochs": 100,
                                    "save_models": "all"}
    assert config["data"]["missing"] == "skip" and config["data"]["test_size"] == 1 / 3
    assert config["summary"] == {"baseline": {"zeta": 0.3}, "compare": {"zeta": 0.0}}
    # no ζ = 0 in the grid: no default gain
    assert parse_config({"data": {"datasets": ["COIL20"]}, "grid": {"zeta": [0.3]}})[
        "summary"] == {"baseline": None, "compare": None}
    # the normalised config is a valid config with the same meaning
    assert parse_config(json.loads(json.dumps(config))) == config


def test_example_configs_parse_and_cavallaro_follows_the_spec():
    config = load_config(EXPERIMENTS / "cavallaro2020.toml")
    model, exp = config["model"], config["experiment"]
    assert exp["runs"] == 10 and exp["epochs"] == 150
    assert config["grid"] == {"zeta": [0.0, 0.01, 0.02, 0.3]}
    assert config["data"]["datasets"] == ["lung", "CLL_SUB_111", "COIL20", "TOX-171"]
    assert model["hidden_layer_sizes"] == [3000, 3000, 3000] and model["epsilon"] == 20
    assert (model["loss"], model["batch_size"], model["learning_rate"], model["momentum"],
            model["weight_decay"], model["weight_decay_style"], model["dropout"]) == (
        "mse", 2, 0.01, 0.9, 2e-4, "original", 0.0)
    assert len(expand_cells(config)) == 4 * 4 * 10
    assert config["summary"]["baseline"] == {"zeta": 0.3}
    for name in ("zeta_quick.toml", "methods_quick.toml"):
        assert expand_cells(load_config(EXPERIMENTS / name))
    methods = expand_cells(load_config(EXPERIMENTS / "methods_quick.toml"))
    pw = next(c for c in methods if c.method == "path-weight")
    assert pw.params["method_options"] == {"lam": 0.1}
    assert next(c for c in methods if c.method == "set").params["method_options"] is None


def test_load_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[experiment\nruns = 3\n")
    with pytest.raises(ValueError, match="is not valid TOML"):
        load_config(bad)
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "none.toml")
    rel = tmp_path / "rel.toml"
    rel.write_text('[data]\ndatasets = ["COIL20"]\ndata_dir = "d"\n')
    assert load_config(rel)["data"]["data_dir"] == str(tmp_path / "d")


# -- cells and seeds --------------------------------------------------------------------------

def test_run_ids_and_cell_parameters():
    cells = expand_cells(parse_config(tiny(runs=2, method=["set", "sensitivity"])))
    assert [c.run_id for c in cells][:3] == ["synthetic__set__zeta=0.0__r00",
                                             "synthetic__set__zeta=0.0__r01",
                                             "synthetic__sensitivity__zeta=0.0__r00"]
    assert len({c.run_id for c in cells}) == len(cells) == 2 * 2 * 2
    cell = cells[0]
    assert cell.params["threads"] == 1 and cell.params["epochs"] == 3
    assert cell.params["seed"] == cell.seed == cell.data_args["seed"]
    assert cell.params["hidden_layer_sizes"] == (12,)
    config = tiny(runs=1, zeta=(0.3,), **{"method_options.lam": [0.1, 0.2]})
    config["model"]["method"] = "path-weight"
    cells = expand_cells(parse_config(config))
    assert [c.run_id for c in cells] == ["synthetic__path-weight__lam=0.1__zeta=0.3__r00",
                                         "synthetic__path-weight__lam=0.2__zeta=0.3__r00"]
    assert cells[1].params["method_options"] == {"lam": 0.2}
    lists = expand_cells(parse_config(
        {"data": {"datasets": ["synthetic"]}, "grid": {"hidden_layer_sizes": [[8, 8], [16]]}}))
    assert [c.run_id for c in lists] == ["synthetic__set__hidden_layer_sizes=8x8__r00",
                                         "synthetic__set__hidden_layer_sizes=16__r00"]


def test_seeds_are_deterministic_paired_and_stable(global_seed):
    config = tiny(seed=global_seed, runs=3, zeta=(0.0, 0.3))
    seeds = {c.run_id: c.seed for c in expand_cells(parse_config(config))}
    assert seeds == {c.run_id: c.seed for c in expand_cells(parse_config(config))}
    # paired design: replicate r has one seed for every grid value; replicates differ
    by_rep = {}
    for c in expand_cells(parse_config(config)):
        by_rep.setdefault(c.replicate, set()).add(c.seed)
    assert all(len(s) == 1 for s in by_rep.values()) and len(set().union(*by_rep.values())) == 3
    # adding grid values, replicates or datasets (in front) changes no existing seed
    bigger = tiny(seed=global_seed, runs=4, zeta=(0.5, 0.0, 0.01, 0.3))
    bigger["data"]["datasets"] = ["COIL20", "synthetic"]
    more = {c.run_id: c.seed for c in expand_cells(parse_config(bigger))}
    assert all(more[k] == v for k, v in seeds.items())
    assert cell_seed(global_seed, "COIL20", 0) != cell_seed(global_seed, "synthetic", 0)
    assert cell_seed(global_seed + 1, "COIL20", 0) != cell_seed(global_seed, "COIL20", 0)


# -- running ----------------------------------------------------------------------------------

def test_sweep_writes_the_layout_and_is_reproducible(tmp_path, global_seed):
    config = tiny(seed=global_seed)
    rows = run_sweep(config, tmp_path / "a", progress=False)
    out = tmp_path / "a"
    assert {p.name for p in out.iterdir()} == {"sweep.toml", "results.json", "results.csv",
                                               "summary.json", "summary.csv", "runs", ".lock"}
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert rows.failed == [] and rows.failure_message() is None and rows.n_runs == 4
    assert load_results(out) == rows
    for row in rows:
        run_dir = out / row["run_dir"]
        assert {p.name for p in run_dir.iterdir()} == {"config.json", "history.json",
                                                       "history.csv", "model.npz", "result.json"}
        assert json.loads((run_dir / "result.json").read_text()) == row
        history = json.loads((run_dir / "history.json").read_text())["history"]
        acc = [r["test_accuracy"] for r in history]
        assert row["epochs"] == 3 and row["final_accuracy"] == acc[-1]
        assert row["best_accuracy"] == max(acc) and row["mean_accuracy"] == pytest.approx(np.mean(acc))
        assert row["seconds_total"] == pytest.approx(sum(r[k] for r in history for k in TIMING[:3]))
        # the run is `refset train --seed <seed>` with the same parameters
        config_json = json.loads((run_dir / "config.json").read_text())
        assert config_json["model"]["seed"] == config_json["data"]["seed"] == row["seed"]
        model = SparseMLP.load(run_dir / "model.npz")
        assert model.epoch_ == 3 and model.zeta == row["zeta"]
    assert load_config(out / "sweep.toml") == parse_config(config)
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("run_id,dataset,method,zeta,replicate,seed,status,error,epochs")
    assert len(csv_lines) == 5
    summary = json.loads((out / "summary.json").read_text())
    assert [(s["zeta"], s["n"]) for s in summary] == [(0.0, 2), (0.3, 2)]
    assert summary[0]["gain"] is not None
    # a second sweep in another directory: identical bit for bit (but the clock)
    run_sweep(config, tmp_path / "b", progress=False)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_resume_after_interruption_equals_uninterrupted(tmp_path, monkeypatch):
    config = tiny(runs=2, zeta=(0.0, 0.02, 0.3))
    run_sweep(config, tmp_path / "full", progress=False)

    calls = []
    real = worker.run_cell

    def counting(cell, save_model=True):
        calls.append(cell.run_id)
        if len(calls) == 4 and interrupt:
            raise KeyboardInterrupt
        return real(cell, save_model)

    monkeypatch.setattr(worker, "run_cell", counting)
    out = tmp_path / "part"
    interrupt = False
    first = run_sweep(config, out, progress=False, max_runs=2)
    assert len(first) == 2 and len(calls) == 2
    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, out, progress=False)
    done = load_results(out)
    assert len(done) == 3 and len(calls) == 4        # 2 earlier + 1 finished + the interrupted one
    mtimes = {r["run_id"]: os.stat(out / r["run_dir"] / "result.json").st_mtime_ns for r in done}
    # damage two finished runs: a corrupt result.json, a deleted model
    damaged = [done[0]["run_id"], done[1]["run_id"]]
    (out / done[0]["run_dir"] / "result.json").write_text("{not json")
    os.remove(out / done[1]["run_dir"] / "model.npz")
    interrupt, calls[:] = False, []
    rows = run_sweep(config, out, progress=False)
    assert sorted(calls) == sorted(damaged + [c.run_id for c in expand_cells(parse_config(config))
                                              if c.run_id not in mtimes])
    for run_id, mtime in mtimes.items():
        if run_id not in damaged:
            assert os.stat(out / "runs" / run_id / "result.json").st_mtime_ns == mtime
    assert [r["status"] for r in rows] == ["ok"] * 6
    assert snapshot(out) == snapshot(tmp_path / "full")
    calls[:] = []
    run_sweep(config, out, progress=False)           # nothing left to do
    assert calls == []


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path, monkeypatch, capsys):
    real_fit = SparseMLP.fit

    def fit(self, *args, **kwargs):
        if self.zeta == 0.3:
            raise RuntimeError("injected failure\nsecond line")
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(SparseMLP, "fit", fit)
    config = tiny(runs=2)
    rows = run_sweep(config, tmp_path, progress=True)
    assert [(r["zeta"], r["status"]) for r in rows] == [(0.0, "ok"), (0.0, "ok"),
                                                        (0.3, "failed"), (0.3, "failed")]
    failed = rows[2]
    assert failed["error"] == "RuntimeError: injected failure second line"
    assert failed["final_accuracy"] is None and failed["epochs"] == 0
    text = (tmp_path / failed["run_dir"] / "error.txt").read_text()
    assert "Traceback" in text and "injected failure" in text
    assert "2 failed" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [(s["n"], s["n_failed"]) for s in summary] == [(2, 0), (0, 2)]
    assert summary[0]["gain"] is None                  # no ok run at the baseline ζ = 0.3
    # a rerun retries the failed runs only, and says so
    monkeypatch.setattr(SparseMLP, "fit", real_fit)
    ok_mtime = os.stat(tmp_path / rows[0]["run_dir"] / "result.json").st_mtime_ns
    rows = run_sweep(config, tmp_path, progress=True)
    assert "retrying 2 failed" in capsys.readouterr().out
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert not (tmp_path / failed["run_dir"] / "error.txt").exists()
    assert os.stat(tmp_path / rows[0]["run_dir"] / "result.json").st_mtime_ns == ok_mtime


def test_missing_dataset_is_skipped_with_a_message(tmp_path, capsys):
    config = tiny(runs=1, zeta=(0.3,))
    config["data"] = {"datasets": ["lung", "synthetic"], "data_dir": str(tmp_path / "data"),
                      "synthetic": config["data"]["synthetic"]}
    rows = run_sweep(config, tmp_path / "out", progress=True)
    assert [(r["dataset"], r["status"]) for r in rows] == [("lung", "skipped"),
                                                           ("synthetic", "ok")]
    message = f"lung.mat not found in {tmp_path / 'data'}; put the file there or remove it " \
              "from [data] datasets"
    assert rows[0]["error"] == message and rows[0]["run_dir"] is None
    assert f"skipping lung: {message}" in capsys.readouterr().out
    assert not (tmp_path / "out" / "runs" / rows[0]["run_id"]).exists()
    _, plan, missing = plan_sweep(config, tmp_path / "out")
    assert [state for _, state in plan] == ["missing", "done"] and missing == {"lung": message}
    # the worker reports it too (Dask workers have no driver-side check)
    cell = expand_cells(parse_config(config))[0]
    outcome = worker.run_cell(cell)
    assert (outcome["status"], outcome["error"]) == ("skipped", message)
    config["data"]["missing"] = "error"
    with pytest.raises(ValueError, match="data.datasets: lung.mat not found"):
        run_sweep(config, tmp_path / "out2", progress=False)
    assert not (tmp_path / "out2").exists()


def test_another_config_in_the_same_directory_is_refused(tmp_path):
    config = tiny(runs=1, zeta=(0.3,))
    run_sweep(config, tmp_path, progress=False)
    other = copy.deepcopy(config)
    other["grid"]["zeta"] = [0.0, 0.3]
    with pytest.raises(ValueError, match=r"holds a sweep with another config \(differs in grid.zeta\)"):
        run_sweep(other, tmp_path, progress=False)
    renamed = copy.deepcopy(config)                     # a label change defines no run
    renamed["experiment"]["name"] = "renamed"
    assert run_sweep(renamed, tmp_path, progress=False)[0]["status"] == "ok"
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("")
    with pytest.raises(ValueError, match="holds no sweep.toml"):
        run_sweep(config, tmp_path / "x", progress=False)


def test_failure_of_a_fit_in_worker_processes_and_jobs_2_equals_jobs_1(tmp_path):
    pytest.importorskip("joblib")
    config = tiny(runs=2, zeta=(0.0, 0.3), method=["set", "cht"])
    config["model"]["hidden_layer_sizes"] = [7]          # CSTI refuses it at fit time
    one = run_sweep(config, tmp_path / "one", progress=False)
    two = run_sweep(config, tmp_path / "two", jobs=2, progress=False)
    assert sorted((r["method"], r["status"]) for r in one) == (
        [("cht", "failed")] * 4 + [("set", "ok")] * 4)
    assert "CSTI" in one[-1]["error"] and [r["status"] for r in two] == [r["status"] for r in one]
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")


@pytest.mark.parametrize("n_workers", [1, 2])        # 1 thread: submitted without joblib
def test_dask_local_cluster_gives_the_same_results(tmp_path, monkeypatch, n_workers):
    distributed = pytest.importorskip("distributed")
    import threading

    config = tiny(runs=1)
    run_sweep(config, tmp_path / "local", progress=False)
    log, real = tmp_path / "threads.txt", worker.run_cell

    def on_worker(cell, save_model=True):          # the task is serialised: log to a file
        with open(log, "a") as f:
            f.write(threading.current_thread().name + "\n")
        return real(cell, save_model)

    monkeypatch.setattr(worker, "run_cell", on_worker)
    with distributed.LocalCluster(n_workers=n_workers, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        rows = run_sweep(config, tmp_path / "dask", dask=cluster.scheduler_address,
                         progress=False)
    threads = log.read_text().splitlines()
    assert len(threads) == 2 and threading.main_thread().name not in threads   # on the workers
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert snapshot(tmp_path / "dask") == snapshot(tmp_path / "local")


def test_dask_without_distributed_is_a_clear_import_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'refset\[distributed\]'"):
        run_sweep(tiny(runs=1), tmp_path, dask="tcp://127.0.0.1:1", progress=False)


def test_save_models_first_and_none(tmp_path):
    config = tiny(runs=2, zeta=(0.3,))
    config["experiment"]["save_models"] = "first"
    rows = run_sweep(config, tmp_path / "first", progress=False)
    assert [(tmp_path / "first" / r["run_dir"] / "model.npz").exists() for r in rows] == [True, False]
    assert run_sweep(config, tmp_path / "first", progress=False) == rows   # nothing recomputed
    config["experiment"]["save_models"] = "none"
    rows = run_sweep(config, tmp_path / "none", progress=False)
    assert not any((tmp_path / "none" / r["run_dir"] / "model.npz").exists() for r in rows)


# -- the output directory: refused paths, lock, leftovers, damaged models ----------------------

def tree(path):
    """Every file under ``path`` (relative name -> bytes), to show that nothing changed."""
    path = pathlib.Path(path)
    if path.is_file():
        return {".": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def test_a_config_that_is_a_directory_or_not_utf8_is_refused_naming_it(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=f"^config: {re.escape(str(tmp_path))} is a directory; give the "):
        load_config(tmp_path)
    with pytest.raises(ValueError, match=f"^config: {re.escape(str(tmp_path))} is a directory"):
        run_sweep(tmp_path, out, progress=False)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('[data]\ndatasets = ["synthetic"]\n# r\xe9sum\xe9\n'.encode("latin-1"))
    message = "^" + re.escape(f"config: {bad} is not UTF-8 text (byte 0xe9 at offset 35); save it "
                             "as UTF-8") + "$"
    for call in (lambda: load_config(bad), lambda: run_sweep(bad, out, progress=False),
                 lambda: plan_sweep(bad)):
        with pytest.raises(ValueError, match=message):
            call()
    assert not out.exists()


def test_an_out_dir_that_is_a_file_or_under_one_is_refused_before_any_work(tmp_path,
                                                                            monkeypatch):
    calls = []
    monkeypatch.setattr(worker, "run_cell", lambda *a: calls.append(a))
    file = tmp_path / "results.txt"
    file.write_text("a user's file\n")
    for out, message in [
            (file, f"out_dir: {file} is a file, not a directory; give a directory"),
            (file / "sub" / "out", f"out_dir: cannot create {file / 'sub' / 'out'}: {file} is a "
                                   "file, not a directory")]:
        for call in (lambda: run_sweep(tiny(), out, progress=False),
                     lambda: plan_sweep(tiny(), out)):
            with pytest.raises(ValueError) as exc:
                call()
            assert str(exc.value) == message
    assert tree(tmp_path) == {"results.txt": b"a user's file\n"} and calls == []


def test_an_out_dir_in_a_read_only_place_is_refused_before_any_work(tmp_path, monkeypatch):
    locked = tmp_path / "shared"
    locked.mkdir()
    real_access = os.access
    # as root, chmod does not stop writing: tell the check the directory is read-only
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        os.fspath(path) != str(locked) and real_access(path, mode, **kw)))
    with pytest.raises(ValueError, match="^" + re.escape(
            f"out_dir: cannot create {locked / 'out'}: {locked} is not writable; choose another "
            "directory") + "$"):
        run_sweep(tiny(), locked / "out", progress=False)
    with pytest.raises(ValueError, match=f"^out_dir: {re.escape(str(locked))} is not writable"):
        run_sweep(tiny(), locked, progress=False)
    assert list(locked.iterdir()) == []
    _, plan, _ = plan_sweep(tiny(), locked / "out")    # reading a plan needs no write access
    assert {state for _, state in plan} == {"pending"}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="permissions do not bind root")
def test_an_out_dir_without_write_permission_is_refused(tmp_path):
    locked = tmp_path / "shared"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ValueError, match=f"{re.escape(str(locked))} is not writable"):
            run_sweep(tiny(), locked / "out", progress=False)
    finally:
        locked.chmod(0o755)


def test_stale_temporaries_are_removed_and_reported(tmp_path, capsys):
    from refset._lock import remove_stale_temporaries

    config = tiny(runs=1)
    rows = run_sweep(config, tmp_path, progress=False)
    run_dir = tmp_path / rows[0]["run_dir"]
    (run_dir / ".tmp-k3j_9x0a-model.npz").write_bytes(b"\0" * 1500)   # a killed save
    (tmp_path / ".tmp-abcdefgh-results.json").write_text("{")
    (tmp_path / ".tmp-notes").write_text("not a temporary of ours")
    (tmp_path / "runs" / ".tmp-sub").mkdir()
    (tmp_path / "runs" / ".tmp-sub" / ".tmp-00000000-x").write_text("deeper")
    os.symlink(run_dir / "result.json", tmp_path / ".tmp-aaaaaaaa-link")
    rows_again = run_sweep(config, tmp_path, progress=True)
    text = capsys.readouterr().out
    assert "removed 3 temporary file(s) (1.5 kB) left by an interrupted sweep" in text
    assert rows_again == rows
    assert not (run_dir / ".tmp-k3j_9x0a-model.npz").exists()
    assert not (tmp_path / ".tmp-abcdefgh-results.json").exists()
    assert (tmp_path / ".tmp-notes").exists() and (tmp_path / ".tmp-aaaaaaaa-link").is_symlink()
    assert (run_dir / "result.json").exists()
    run_sweep(config, tmp_path, progress=True)
    assert "temporary" not in capsys.readouterr().out
    # the helper alone (refset train uses it on a run directory)
    (run_dir / ".tmp-12345678-history.json").write_text("12345")
    (tmp_path / "runs" / ".tmp-22345678-x").write_text("1")
    assert remove_stale_temporaries(tmp_path / "runs", recursive=False) == (1, 1)
    assert remove_stale_temporaries(tmp_path, recursive=True) == (1, 5)
    assert remove_stale_temporaries(tmp_path / "missing") == (0, 0)


def test_failures_are_reported_for_the_exit_status(tmp_path, monkeypatch):
    from refset.sweep._store import store_outcome

    real_fit = SparseMLP.fit

    def fit(self, *args, **kwargs):
        if self.zeta == 0.3 and self.seed == cells[0].seed:
            raise RuntimeError("injected")
        return real_fit(self, *args, **kwargs)

    cells = expand_cells(parse_config(tiny(runs=2)))
    monkeypatch.setattr(SparseMLP, "fit", fit)
    rows = run_sweep(tiny(runs=2), tmp_path, progress=False)
    assert [r["run_id"] for r in rows.failed] == ["synthetic__set__zeta=0.3__r00"]
    assert rows.failure_message() == (f"1 of 4 runs failed; see {tmp_path}/runs/"
                                      "synthetic__set__zeta=0.3__r00/error.txt")
    assert (tmp_path / "runs" / "synthetic__set__zeta=0.3__r00" / "error.txt").is_file()
    monkeypatch.setattr(SparseMLP, "fit", lambda self, *a, **k: 1 / 0)
    rows = run_sweep(tiny(runs=2, zeta=(0.0, 0.3, 0.5)), tmp_path / "b", progress=False)
    assert rows.failure_message() == f"6 of 6 runs failed; see {tmp_path}/b/runs/*/error.txt"
    # a run failed without a traceback (a data file a worker did not find): error.txt says why
    outcome = {"status": "failed", "error": "lung.mat not found in /data", "traceback": None,
               "config": {"data": {}, "model": {}}, "history": [], "model": None}
    store_outcome(str(tmp_path / "c"), cells[0], outcome, ["zeta"])
    assert (tmp_path / "c" / "runs" / cells[0].run_id / "error.txt").read_text() == \
        "lung.mat not found in /data\n"


_HOLD_LOCK = """
import sys, time
from refset._lock import lock_directory
with lock_directory(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def hold_lock(directory):
    """A process holding the sweep lock of ``directory`` (a sweep that is running there)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(directory)],
                            stdout=subprocess.PIPE, text=True, cwd=directory)
    assert proc.stdout.readline() == "locked\n"
    return proc


def test_a_second_sweep_on_the_same_out_fails_at_once_and_a_killed_one_blocks_nothing(
        tmp_path, monkeypatch):
    config = tiny(runs=1)
    run_sweep(config, tmp_path, progress=False)
    calls = []
    monkeypatch.setattr(worker, "run_cell", lambda *a: calls.append(a))
    proc = hold_lock(tmp_path)
    try:
        (tmp_path / "runs" / "synthetic__set__zeta=0.0__r00" / "model.npz").unlink()  # to redo
        before = tree(tmp_path)
        assert before[".lock"] == f"{proc.pid}\n".encode()
        with pytest.raises(ValueError) as exc:
            run_sweep(config, tmp_path, progress=False)
        assert str(exc.value) == (f"out_dir: {tmp_path} is in use by another sweep (pid "
                                  f"{proc.pid}); wait for it to end or use another directory")
        assert tree(tmp_path) == before and calls == []
    finally:
        proc.kill()                                       # SIGKILL: the kernel drops the lock
        proc.wait()
    monkeypatch.undo()
    rows = run_sweep(config, tmp_path, progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"


def test_a_run_with_a_damaged_model_is_not_finished(tmp_path, capsys):
    from refset.sweep._store import checkpoint_problem

    config = tiny(runs=2, zeta=(0.3,))
    rows = run_sweep(config, tmp_path / "ref", progress=False)
    out = tmp_path / "out"
    run_sweep(config, out, progress=False)
    model = out / rows[0]["run_dir"] / "model.npz"
    good = model.read_bytes()
    assert checkpoint_problem(model) is None
    cases = {b"garbage": "not a readable checkpoint (BadZipFile: File is not a zip file)",
             good[:len(good) // 2]: "not a readable checkpoint (BadZipFile: ",
             b"": "not a readable checkpoint (BadZipFile: "}
    for data, problem in cases.items():
        model.write_bytes(data)
        assert checkpoint_problem(model).startswith(problem)
        _, plan, _ = plan_sweep(config, out)
        assert [state for _, state in plan] == ["pending", "done"]
    # a zip of other arrays; a checkpoint that lost an array
    np.savez(model, a=np.zeros(2))
    assert checkpoint_problem(model) == "no metadata (not a refset checkpoint)"
    with np.load(tmp_path / "ref" / rows[0]["run_dir"] / "model.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if k != "bias_0"}
    np.savez(model, **arrays)
    assert checkpoint_problem(model) == "its arrays do not match its metadata (incomplete)"
    # the metadata's version: refused unless this refset reads it
    from refset.estimator import checkpoint

    with np.load(tmp_path / "ref" / rows[0]["run_dir"] / "model.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    for version, problem in [(1, "checkpoint format version 1, not one this refset reads"),
                             (checkpoint.VERSION, None)]:
        np.savez(model, **dict(arrays, meta=np.array(json.dumps(dict(meta, version=version)))))
        found = checkpoint_problem(model)
        assert found == problem or found.startswith(problem), found
    np.savez(model, **dict(arrays, meta=np.array([1.0, 2.0])))
    assert checkpoint_problem(model) == "unreadable metadata"
    capsys.readouterr()
    again = run_sweep(config, out, progress=True)
    text = capsys.readouterr().out
    assert f"rerunning {rows[0]['run_id']}: model.npz: unreadable metadata" in text
    assert "1 finished earlier, 1 to run" in text
    assert SparseMLP.load(model).epoch_ == 3 and checkpoint_problem(model) is None
    assert without_timing(list(again)) == without_timing(rows)
    assert snapshot(out) == snapshot(tmp_path / "ref")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the workers in /proc")
def test_workers_end_when_the_driver_is_killed(tmp_path):
    """kill -9 of a --jobs 2 sweep: its worker processes end within seconds, not hours."""
    pytest.importorskip("joblib")
    import signal
    import subprocess
    import sys
    import time

    config = tmp_path / "long.toml"
    config.write_text(
        '[experiment]\nruns = 2\nepochs = 300\nsave_models = "none"\n'
        '[data]\ndatasets = ["synthetic"]\n'
        '[data.synthetic]\nn_samples = 300\nn_features = 200\n'
        '[model]\nepsilon = 20\n'
        # executed: replicate 0's small network first (< 1 s), then large ones (> 15 s each)
        '[grid]\nhidden_layer_sizes = [[4], [1000, 1000]]\n')

    def children(pid):
        found = []
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_bytes().rpartition(b")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
        return found

    def running(pid):
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except OSError:
            return False
        return state != b"Z"

    driver = subprocess.Popen([sys.executable, "-m", "refset", "sweep", str(config), "--out",
                               str(tmp_path / "out"), "--jobs", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              cwd=tmp_path)
    workers = []
    try:
        for line in driver.stdout:                    # a run finished: the workers are busy
            if line.startswith("[1/4]"):
                break
        else:
            pytest.fail("the sweep ended before a run finished")
        time.sleep(1.0)
        workers = children(driver.pid)
        assert len(workers) >= 2
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 10
        while any(map(running, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if running(pid)]
    finally:
        driver.kill()
        driver.wait()
        for pid in workers:                           # leave nothing behind if the test failed
            if running(pid):
                os.kill(pid, signal.SIGKILL)


_WATCHER = """
import sys, time
import refset.sweep._worker as worker
worker._scratch = sys.argv[2]
worker.watch_driver(int(sys.argv[1]), interval=0.05)
print("watching", flush=True)
time.sleep(60)
"""


def test_watch_driver_ends_the_worker_and_removes_its_scratch(tmp_path):
    """The watcher of a driver that is not the parent (e.g. killed, unreaped: a zombie)."""
    import subprocess
    import sys

    scratch = tmp_path / "refset-sweep-x"
    scratch.mkdir()
    (scratch / "model.npz").write_bytes(b"half a model")
    driver = subprocess.Popen(["sleep", "60"])
    watcher = subprocess.Popen([sys.executable, "-c", _WATCHER, str(driver.pid), str(scratch)],
                               stdout=subprocess.PIPE, text=True, cwd=scratch.parent)
    try:
        assert watcher.stdout.readline() == "watching\n"
        with pytest.raises(subprocess.TimeoutExpired):
            watcher.wait(timeout=0.5)                     # the driver lives: so does the worker
        driver.kill()                                     # not reaped yet: a zombie
        assert watcher.wait(timeout=10) == 1
        assert not scratch.exists()
    finally:
        watcher.kill()
        driver.kill()
        watcher.wait()
        driver.wait()


# -- summaries --------------------------------------------------------------------------------

def _row(dataset, zeta, replicate, final, best, total, status="ok", method="set", mean=None,
         ci=(None, None)):
    return {"run_id": f"{dataset}-{method}-{zeta}-{replicate}", "dataset": dataset,
            "method": method, "zeta": zeta, "replicate": replicate, "status": status,
            "final_accuracy": final, "best_accuracy": best, "mean_accuracy": mean,
            "mean_accuracy_ci_low": ci[0], "mean_accuracy_ci_high": ci[1], "aae": mean,
            "seconds_total": total, "seconds_train": None if total is None else total / 2,
            "seconds_eval": None if total is None else total / 4,
            "seconds_topology": None if total is None else total / 4}


def test_summary_statistics_against_hand_computed_values():
    rows = [
        _row("A", 0.0, 0, 0.80, 0.85, 8.0, mean=0.7, ci=(0.68, 0.72)),
        _row("A", 0.0, 1, 0.90, 0.95, 10.0, mean=0.8),
        _row("A", 0.0, 2, 0.70, 0.90, 12.0, mean=0.9),
        _row("A", 0.0, 3, None, None, None, status="failed"),
        _row("A", 0.3, 0, 0.60, 0.65, 20.0, mean=0.5),
        _row("B", 0.0, 0, 0.50, 0.55, 4.0),
        _row("B", 0.3, 0, None, None, None, status="skipped"),
    ]
    summary = summarize(rows, baseline={"zeta": 0.3})
    a0, a3, b0, b3 = summary
    assert (a0["dataset"], a0["zeta"], a0["n"], a0["n_failed"]) == ("A", 0.0, 3, 1)
    assert a0["best_accuracy"] == 0.95
    mean = (0.8 + 0.9 + 0.7) / 3
    sd = math.sqrt(((0.8 - mean) ** 2 + (0.9 - mean) ** 2 + (0.7 - mean) ** 2) / 2)
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert a0["final_accuracy_mean"] == pytest.approx(mean, abs=1e-15)
    assert a0["final_accuracy_sd"] == pytest.approx(sd, rel=1e-12)
    assert a0["final_accuracy_ci_low"] == pytest.approx(mean - half, rel=1e-12)
    assert a0["final_accuracy_ci_high"] == pytest.approx(mean + half, rel=1e-12)
    assert round(half, 4) == 0.2484                      # 4.303 * 0.1 / sqrt(3)
    assert a0["mean_accuracy_mean"] == pytest.approx(0.8)
    assert (a0["r0_best_accuracy"], a0["r0_mean_accuracy"], a0["r0_ci_low"],
            a0["r0_ci_high"]) == (0.85, 0.7, 0.68, 0.72)
    assert a0["seconds_total_mean"] == pytest.approx(10.0)
    assert a0["seconds_train_mean"] == pytest.approx(5.0)
    # n = 1: no interval
    assert a3["n"] == 1 and a3["final_accuracy_ci_low"] is None and a3["final_accuracy_sd"] is None
    # gain = 1 - t(0) / t(0.3) per dataset, on every row of the dataset
    assert a0["gain"] == a3["gain"] == pytest.approx(1 - 10.0 / 20.0)
    assert b0["gain"] is None and b3["gain"] is None and b3["n"] == 0 and b3["n_skipped"] == 1
    assert b3["best_accuracy"] is None and b3["seconds_total_mean"] is None
    # per method, and with explicit compare points
    rows2 = rows + [_row("A", 0.0, 0, 0.5, 0.5, 30.0, method="cht"),
                    _row("A", 0.3, 0, 0.5, 0.5, 40.0, method="cht")]
    gains = {(s["dataset"], s["method"], s["zeta"]): s["gain"]
             for s in summarize(rows2, baseline={"zeta": 0.3}, compare={"zeta": 0.0})}
    assert gains[("A", "cht", 0.0)] == pytest.approx(0.25)
    assert gains[("A", "set", 0.3)] == pytest.approx(0.5)
    assert summarize(rows)[0]["gain"] is None           # no baseline, no gain


def test_epoch_interval_is_the_t_interval_over_epochs(global_seed):
    from refset.sweep import epoch_interval

    acc = np.random.default_rng(global_seed).uniform(0.5, 1.0, size=7)
    mean, low, high = epoch_interval(acc)
    half = stats.t.ppf(0.975, 6) * acc.std(ddof=1) / math.sqrt(7)
    assert mean == pytest.approx(acc.mean()) and high - mean == pytest.approx(half)
    assert mean - low == pytest.approx(half)
    assert epoch_interval([0.5])[1:] == (None, None)


def test_execution_order_is_by_replicate_with_rotated_grid_points():
    config = parse_config(tiny(runs=3, zeta=(0.0, 0.01, 0.3)))
    cells = expand_cells(config)
    order = [(c.replicate, c.point["zeta"]) for c in runner._execution_order(cells, cells, config)]
    assert order == [(0, 0.0), (0, 0.01), (0, 0.3), (1, 0.01), (1, 0.3), (1, 0.0),
                     (2, 0.3), (2, 0.0), (2, 0.01)]
