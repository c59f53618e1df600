"""refset.plots: figures of a sweep (Cavallaro Figs. 2-3) and of single runs, and their files.

The fixture writes a sweep output directory by hand (fake rows and histories, one failed and one
skipped run) plus real tiny models for the representative runs, so these tests do not depend on
the sweep runner.
"""
import copy
import json
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

matplotlib = pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.patches import Rectangle, StepPatch  # noqa: E402

import refset  # noqa: E402
from refset.estimator.history import write_history_json  # noqa: E402
from refset.plots import (plot_accuracy_curves, plot_degree_distributions,  # noqa: E402
                          plot_execution_time, plot_learning_curves, plot_link_bookkeeping,
                          plot_method_panels, plot_results)

ZETAS = [0.0, 0.01, 0.3]
EPOCHS = 5
REPLICATES = {"alpha": 3, "beta": 1}
PNG = b"\x89PNG\r\n\x1a\n"


def _fake_history(rng, zeta, epochs=EPOCHS, accuracy=None):
    nnz = [60, 40]
    return [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5,
             "test_loss": 1.0 / e, "test_accuracy": float(rng.uniform(0.3, 0.9))
             if accuracy is None else accuracy,
             "seconds_train": float(rng.uniform(0.5, 1.0)), "seconds_eval": 0.1,
             "seconds_topology": float(rng.uniform(0, 0.2)) * (zeta > 0),
             "nnz": nnz, "removed": [round(zeta * n) for n in nnz],
             "regrown": [round(zeta * n) for n in nnz], "active_neurons": [10, 12, 3],
             "topology_updated": e < epochs} for e in range(1, epochs + 1)]


def _real_run(run_dir, seed, zeta=0.3, **kw):
    X, y = refset.make_synthetic(90, 10, n_informative=4, n_redundant=2, n_classes=3, seed=seed)
    model = refset.SparseMLP((20, 16), epsilon=2, zeta=zeta, epochs=EPOCHS, batch_size=16,
                             learning_rate=0.05, seed=seed, **kw)
    model.fit(X[:60], y[:60], validation_data=(X[60:], y[60:]))
    config = {"data": {"name": "synthetic", "seed": seed}, "model": {"method": "set", "zeta": zeta}}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    write_history_json(model.history_, run_dir / "history.json", config=config)
    model.save(run_dir / "model.npz")
    return model


def _row(run_id, dataset, zeta, r, history, status="ok"):
    sums = {k: sum(rec[k] for rec in history) for k in ("seconds_train", "seconds_eval",
                                                         "seconds_topology")}
    return {"run_id": run_id, "dataset": dataset, "method": "set", "zeta": zeta, "replicate": r,
            "seed": r, "status": status, "error": None if status == "ok" else "boom",
            "epochs": len(history), "final_accuracy": history[-1]["test_accuracy"], **sums,
            "seconds_total": sum(sums.values()), "run_dir": f"runs/{run_id}"}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory, global_seed):
    out = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(global_seed)
    rows = []
    for dataset, n_rep in REPLICATES.items():
        for zeta in ZETAS:
            for r in range(n_rep):
                run_id = f"{dataset}__set__zeta={zeta}__r{r:02d}"
                run_dir = out / "runs" / run_id
                if zeta == 0.3 and r == 0:      # the representative run: a real model
                    history = _real_run(run_dir, global_seed + r).history_
                else:
                    history = _fake_history(rng, zeta)
                    write_history_json(history, run_dir / "history.json")
                rows.append(_row(run_id, dataset, zeta, r, history))
    # a failed run with a history far from the others, and a skipped dataset: both ignored
    failed = _fake_history(rng, 0.01, accuracy=0.0)
    write_history_json(failed, out / "runs" / "alpha__failed" / "history.json")
    rows.append(_row("alpha__failed", "alpha", 0.01, 3, failed, status="failed"))
    rows.append({"run_id": "gamma__skip", "dataset": "gamma", "method": "set", "zeta": 0.3,
                 "replicate": 0, "status": "skipped", "error": "gamma.mat not found",
                 "run_dir": "runs/gamma__skip"})
    config = {"grid": {"zeta": ZETAS}, "summary": {"baseline": {"zeta": 0.3}},
              "model": {"method": "set"}}
    (out / "results.json").write_text(json.dumps({"config": config, "runs": rows}))
    return out


def _rows(sweep_dir):
    return json.loads((sweep_dir / "results.json").read_text())["runs"]


def _histories(sweep_dir, rows):
    return [json.loads((sweep_dir / r["run_dir"] / "history.json").read_text())["history"]
            for r in rows]


def _ok(sweep_dir, **match):
    return [r for r in _rows(sweep_dir) if r["status"] == "ok"
            and all(r[k] == v for k, v in match.items())]


# -- Fig. 2 --------------------------------------------------------------------------------
def test_accuracy_curves_mean_per_zeta(sweep_dir):
    fig = plot_accuracy_curves(sweep_dir)
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["alpha (3 runs per line)", "beta"]  # gamma skipped
    for ax in axes:
        lines = ax.get_lines()
        assert len(lines) == len(ZETAS)
        assert [line.get_label() for line in lines] == [f"ζ = {z}" for z in ZETAS]
        assert len({line.get_color() for line in lines}) == len(ZETAS)
        assert ax.get_ylabel() == "test accuracy (%)" and ax.get_xlabel() == "epoch"
    for zeta, line in zip(ZETAS, axes[0].get_lines()):
        acc = np.array([[rec["test_accuracy"] for rec in h]
                        for h in _histories(sweep_dir, _ok(sweep_dir, dataset="alpha", zeta=zeta))])
        assert acc.shape == (REPLICATES["alpha"], EPOCHS)
        assert_allclose(line.get_xdata(), np.arange(1, EPOCHS + 1))
        assert_allclose(line.get_ydata(), 100 * acc.mean(axis=0), rtol=1e-12)
    # the failed run (accuracy 0, ζ = 0.01) is not part of the mean
    failed = [r for r in _rows(sweep_dir) if r["status"] == "failed"]
    acc = [[rec["test_accuracy"] for rec in h]
           for h in _histories(sweep_dir, _ok(sweep_dir, dataset="alpha", zeta=0.01) + failed)]
    assert not np.allclose(axes[0].get_lines()[1].get_ydata(), 100 * np.mean(acc, axis=0))
    # one colour per ζ, the same in every panel and in the execution-time figure
    bars = plot_execution_time(sweep_dir).axes[1].containers[0]
    for z, a, b, bar in zip(ZETAS, axes[0].get_lines(), axes[1].get_lines(), bars):
        assert matplotlib.colors.same_color(a.get_color(), b.get_color())
        assert matplotlib.colors.same_color(a.get_color(), bar.get_facecolor())
    # a 95 % band per line where n > 1 (alpha), none for a single replicate (beta)
    assert sum(isinstance(c, PolyCollection) for c in axes[0].collections) == len(ZETAS)
    assert not any(isinstance(c, PolyCollection) for c in axes[1].collections)


def test_accuracy_band_is_the_t_interval():
    from scipy.stats import t

    acc = np.array([[0.5, 0.6], [0.7, 0.9], [0.6, 0.6]])
    rows = [{"dataset": "d", "zeta": 0.1, "history": [{"epoch": e + 1, "test_accuracy": a}
                                                      for e, a in enumerate(run)]} for run in acc]
    fig = plot_accuracy_curves(rows)
    (band,) = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    half = t.ppf(0.975, 2) * acc.std(axis=0, ddof=1) / np.sqrt(3)
    ys = band.get_paths()[0].vertices[:, 1]
    assert_allclose([ys.min(), ys.max()],
                    [100 * (acc.mean(0) - half).min(), min(100, 100 * (acc.mean(0) + half).max())])


def test_accuracy_curves_one_dataset_and_given_axes(sweep_dir):
    fig = plot_accuracy_curves(sweep_dir, dataset="beta")
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "beta"
    rows = [r for r in _ok(sweep_dir, dataset="alpha") if (r["zeta"], r["replicate"]) != (0.0, 2)]
    for row, history in zip(rows, _histories(sweep_dir, rows)):
        row["history"] = history                          # rows may carry their histories
    fig = plot_accuracy_curves(rows, by="zeta")           # unequal n: said per line
    assert fig.axes[0].get_title() == "alpha"
    assert [line.get_label() for line in fig.axes[0].get_lines()] == [
        "ζ = 0.0 (n=2)", "ζ = 0.01 (n=3)", "ζ = 0.3 (n=3)"]
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert plot_accuracy_curves(sweep_dir / "results.json", dataset="alpha", ax=ax) is ax.figure
    assert len(ax.get_lines()) == len(ZETAS)
    with pytest.raises(ValueError, match="ax takes one dataset"):
        plot_accuracy_curves(sweep_dir, ax=ax)
    with pytest.raises(ValueError, match="dataset must be one of .*'gamma'"):
        plot_accuracy_curves(sweep_dir, dataset="gamma")           # skipped: no finished run
    with pytest.raises(ValueError, match="by must be a grid key"):
        plot_accuracy_curves(sweep_dir, by="nonsense")


def test_grid_over_method_and_method_options():
    def rows(**fixed):
        out = []
        for method in ("set", "cht"):
            for lam in (0.1, 0.2):
                for r in range(2):
                    out.append({"dataset": "d", "method": method, "method_options.lam": lam,
                                "replicate": r, "seconds_total": 1.0, "seconds_train": 1.0,
                                "history": [{"epoch": 1, "test_accuracy": 0.5 + lam},
                                            {"epoch": 2, "test_accuracy": 0.6 + lam}], **fixed})
        return out

    grid = {"config": {"grid": {"method": ["set", "cht"], "method_options.lam": [0.1, 0.2]}},
            "runs": rows()}
    fig = plot_accuracy_curves(grid, by="method")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4                                      # method x λ, not averaged over λ
    assert {line.get_label().split(" (")[0] for line in lines} == {
        "cht, lam = 0.1", "cht, lam = 0.2", "set, lam = 0.1", "set, lam = 0.2"}
    assert len({line.get_linestyle() for line in lines}) == 2   # λ told apart by line style
    assert len({line.get_color() for line in lines}) == 2       # colour follows the method
    by_lam = plot_accuracy_curves(grid, by="method_options.lam").axes[0].get_lines()
    assert_allclose(by_lam[0].get_ydata(), [60, 70])
    assert plot_execution_time(grid, by="method").axes[0].containers[0].patches.__len__() == 4


# -- Fig. 3 --------------------------------------------------------------------------------
def test_execution_time_stacked_bars_and_gain(sweep_dir):
    fig = plot_execution_time(sweep_dir)
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["alpha", "beta"]
    for ax, dataset in zip(axes, ("alpha", "beta")):
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert len(bars) == 3 and all(len(b) == len(ZETAS) for b in bars)   # train/eval/topology
        bottom = np.zeros(len(ZETAS))
        for container, field in zip(bars, ("seconds_train", "seconds_eval", "seconds_topology")):
            want = [np.mean([r[field] for r in _ok(sweep_dir, dataset=dataset, zeta=z)])
                    for z in ZETAS]
            assert_allclose([p.get_height() for p in container], want, rtol=1e-12)
            assert_allclose([p.get_y() for p in container], bottom, rtol=1e-12)
            bottom += want
        totals = {z: np.mean([r["seconds_total"] for r in _ok(sweep_dir, dataset=dataset, zeta=z)])
                  for z in ZETAS}
        (text,) = ax.texts
        gain = 1 - totals[0.0] / totals[0.3]
        assert text.get_text() == f"gain 1 − t(ζ = 0)/t(ζ = 0.3) = {gain:.3f}"
        assert ax.get_ylabel() == "time per run (s)"
    (errorbar,) = [c for c in axes[0].containers if isinstance(c, ErrorbarContainer)]
    segments = errorbar.lines[2][0].get_segments()                # sd over the 3 runs
    sd = [np.std([r["seconds_total"] for r in _ok(sweep_dir, dataset="alpha", zeta=z)], ddof=1)
          for z in ZETAS]
    assert_allclose([seg[1, 1] - seg[0, 1] for seg in segments], 2 * np.array(sd), rtol=1e-9)
    assert not any(isinstance(c, ErrorbarContainer) for c in axes[1].containers)  # n = 1
    assert len(fig.legends) == 1


def test_execution_time_gain_needs_both_values(sweep_dir):
    rows = [r for r in _rows(sweep_dir) if r["zeta"] != 0.0]
    doc = {"config": {"grid": {"zeta": [0.01, 0.3]}}, "runs": rows}
    assert not any(ax.texts for ax in plot_execution_time(doc).axes)
    # the baseline comes from config["summary"]["baseline"]
    doc = {"config": {"summary": {"baseline": {"zeta": 0.01}}}, "runs": _rows(sweep_dir)}
    assert "t(ζ = 0)/t(ζ = 0.01)" in plot_execution_time(doc).axes[0].texts[0].get_text()
    # and the compared value from config["summary"]["compare"] (the sweep writes both)
    doc["config"]["summary"] = {"baseline": {"zeta": 0.3}, "compare": {"zeta": 0.01}}
    assert "t(ζ = 0.01)/t(ζ = 0.3)" in plot_execution_time(doc).axes[0].texts[0].get_text()


# -- single runs ---------------------------------------------------------------------------
def test_degree_distributions_of_a_run(sweep_dir):
    run_dir = sweep_dir / "runs" / "alpha__set__zeta=0.3__r00"
    model = refset.SparseMLP.load(run_dir / "model.npz")
    for source in (run_dir, run_dir / "model.npz", model, model.layers_):
        fig = plot_degree_distributions(source)
        assert len(fig.axes) == 2 * len(model.layers_)
    for l, W in enumerate(model.layers_):
        out_ax, in_ax = fig.axes[2 * l], fig.axes[2 * l + 1]
        for ax, n, index in ((out_ax, W.shape[0], W.rows), (in_ax, W.shape[1], W.cols)):
            bars = [p for p in ax.patches if isinstance(p, Rectangle)]
            degrees = np.bincount(index, minlength=n)
            for bar in bars:                                # each bar counts its neurons
                lo = bar.get_x()
                inside = (degrees >= lo) & (degrees < lo + bar.get_width())
                assert bar.get_height() == np.sum(inside)
            assert sum(bar.get_height() for bar in bars) == n
            (mean,) = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
            assert_allclose(mean.get_xdata(), W.nnz / n)
            (expected,) = [p for p in ax.patches if isinstance(p, StepPatch)
                           and p.get_label() == "Erdős–Rényi"]
            assert expected.get_data().values.sum() == pytest.approx(n, rel=0.003)


def test_degree_distributions_skip_dense_layers_and_check_ax(tmp_path):
    model = _real_run(tmp_path / "dense", 0, dense_output=True)
    fig = plot_degree_distributions(model)
    assert len(fig.axes) == 2 * (len(model.layers_) - 1)
    from matplotlib.figure import Figure

    axes = Figure().subplots(len(model.layers_) - 1, 2)
    assert plot_degree_distributions(model, ax=axes) is axes[0, 0].figure
    with pytest.raises(ValueError, match="ax must hold 2 Axes per sparse layer"):
        plot_degree_distributions(model, ax=axes[0])
    with pytest.raises(ValueError, match="run_dir_or_model"):
        plot_degree_distributions(tmp_path / "missing")


def test_link_bookkeeping(sweep_dir):
    run_dir = sweep_dir / "runs" / "alpha__set__zeta=0.3__r00"
    history = json.loads((run_dir / "history.json").read_text())["history"]
    for source in (run_dir, run_dir / "history.json", history):
        fig = plot_link_bookkeeping(source)
        assert len(fig.axes) == 3
    links, changes, active = fig.axes
    n_layers = len(history[0]["nnz"])
    assert len(links.get_lines()) == n_layers
    for l, line in enumerate(links.get_lines()):
        assert_allclose(line.get_ydata(), [rec["nnz"][l] for rec in history])
        assert "(conserved)" in line.get_label()
    updated = [rec["epoch"] for rec in history if rec["topology_updated"]]
    assert len(updated) == EPOCHS - 1
    for line in changes.get_lines():                      # removed and regrown per layer
        assert_allclose(line.get_xdata(), updated)
    removed = changes.get_lines()[0]
    assert_allclose(removed.get_ydata(), [rec["removed"][0] for rec in history][:-1])
    assert len(active.get_lines()) == len(history[0]["active_neurons"])


def test_link_bookkeeping_counts_not_conserved():
    history = [{"epoch": e, "nnz": [10, 10 - e], "removed": [0, 0], "regrown": [0, 0],
                "active_neurons": [4, 4, 2]} for e in (1, 2)]
    labels = [line.get_label() for line in plot_link_bookkeeping(history).axes[0].get_lines()]
    assert labels == ["layer 1: 10 (conserved)", "layer 2: 9 → 8"]
    with pytest.raises(ValueError, match="history_or_run_dir"):
        plot_link_bookkeeping(42)
    with pytest.raises(ValueError, match="no epoch record"):
        plot_link_bookkeeping([])


# -- single runs trained by `refset train` ---------------------------------------------------
CLI_EPOCHS = 4
_CLI_DATA = ["--n-samples", "120", "--n-features", "24", "--n-classes", "3", "--epochs",
             str(CLI_EPOCHS), "--quiet"]
CLI_RUNS = {
    "set": ["--hidden", "20,20", "--epsilon", "4"],
    # CSTI: hidden widths equal to the 24 features
    "cht": ["--method", "cht", "--hidden", "24,24", "--sparsity", "0.8"],
    "path-weight": ["--method", "path-weight", "--time-varying", "--hidden", "20,20",
                    "--epsilon", "4"],
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, global_seed):
    """``{method: (run_dir, the layers the run really started from)}``, trained by the CLI."""
    from refset.cli import main
    from refset.estimator.mlp import SparseMLP

    out = tmp_path_factory.mktemp("cli_runs")
    started = []
    initialize = SparseMLP._initialize

    def spy(self, *args, **kw):                   # the layers fit() trains in epoch 1
        initialize(self, *args, **kw)
        started.append(copy.deepcopy(self.layers_))

    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SparseMLP, "_initialize", spy)
        for method, args in CLI_RUNS.items():
            run_dir = out / method
            assert main(["train", *_CLI_DATA, *args, "--seed", str(global_seed),
                         "--out", str(run_dir)]) == 0
            (layers,) = started
            runs[method] = run_dir, layers
            started.clear()
    return runs


def _history(run_dir):
    return json.loads((run_dir / "history.json").read_text())["history"]


def test_learning_curves_of_a_run(cli_runs):
    run_dir, _ = cli_runs["set"]
    history = _history(run_dir)
    fig = plot_learning_curves(run_dir)
    loss, acc, seconds = fig.axes
    assert fig.get_suptitle().splitlines() == [
        "Learning curves: set", "set, ζ = 0.3, ε = 4, lr 0.01"]
    for ax, field, scale in ((loss, "loss", 1), (acc, "accuracy", 100)):
        train, test = ax.get_lines()
        assert train.get_label().startswith("train") and test.get_label() == "test"
        for line, split in ((train, "train"), (test, "test")):
            assert len(line.get_xdata()) == CLI_EPOCHS
            assert_allclose(line.get_xdata(), range(1, CLI_EPOCHS + 1))
            assert_allclose(line.get_ydata(), [scale * r[f"{split}_{field}"] for r in history])
    final = 100 * history[-1]["test_accuracy"]
    assert acc.get_title().startswith(f"accuracy: test {final:.1f} % at the end")
    assert acc.get_ylabel() == "accuracy (%)" and seconds.get_xlabel() == "epoch"
    # the time per epoch, stacked: training, evaluation, topology update
    bars = [c for c in seconds.containers if isinstance(c, BarContainer)]
    assert [b.get_label().split(":")[0] for b in bars] == [
        "training", "evaluation", "topology update"]
    bottom = np.zeros(CLI_EPOCHS)
    for bar, field in zip(bars, ("seconds_train", "seconds_eval", "seconds_topology")):
        want = [r[field] for r in history]
        assert_allclose([p.get_height() for p in bar], want)
        assert_allclose([p.get_y() for p in bar], bottom)
        bottom += want
    # a model and its records draw the same curves; records without test data only train
    model = refset.SparseMLP.load(run_dir / "model.npz")
    assert_allclose(plot_learning_curves(model).axes[1].get_lines()[1].get_ydata(),
                    acc.get_lines()[1].get_ydata())
    no_test = [dict(r, test_loss=None, test_accuracy=None) for r in history]
    fig = plot_learning_curves(no_test)
    assert [len(a.get_lines()) for a in fig.axes[:2]] == [1, 1]
    assert fig.axes[1].get_title() == "accuracy (no test data)"
    with pytest.raises(ValueError, match="no epoch record"):
        plot_learning_curves([])


def _degree_counts(layer, side, edges):
    return np.histogram(np.bincount(layer.rows if side == 0 else layer.cols,
                                    minlength=layer.shape[side]), bins=edges)[0]


@pytest.mark.parametrize("method", ["set", "cht"])
def test_degrees_at_the_first_and_last_epoch(cli_runs, method):
    run_dir, started = cli_runs[method]
    final = refset.SparseMLP.load(run_dir / "model.npz").layers_
    fig = plot_degree_distributions(run_dir)
    assert "initial degrees not drawn" not in fig.get_suptitle()
    sparse = [l for l, W in enumerate(final) if W.nnz < W.shape[0] * W.shape[1]]
    assert len(fig.axes) == 2 * len(sparse)
    for l, pair in zip(sparse, np.reshape(fig.axes, (-1, 2))):
        for side, ax in enumerate(pair):
            (initial,) = [p for p in ax.patches if isinstance(p, StepPatch)
                          and p.get_label() == "initial"]
            values, edges = initial.get_data().values, initial.get_data().edges
            # the step line is the histogram of the layers the run started from, exactly
            assert_allclose(values, _degree_counts(started[l], side, edges))
            assert values.sum() == started[l].shape[side]
            bars = [p for p in ax.patches if isinstance(p, Rectangle)]
            assert_allclose([b.get_height() for b in bars], _degree_counts(final[l], side, edges))
            assert bars[0].get_label() == f"after epoch {CLI_EPOCHS}"
    if method == "cht":                 # CSTI rebuilt from the data named in config.json
        assert "CSTI sparsity 0.8" in fig.get_suptitle()
    assert plot_degree_distributions(run_dir, initial=None).axes[0].patches[-1].get_label() \
        != "initial"


def test_initial_degrees_without_the_data_are_said_to_be_missing(cli_runs, tmp_path, capsys):
    import shutil

    run_dir = shutil.copytree(cli_runs["cht"][0], tmp_path / "cht")
    config = json.loads((run_dir / "config.json").read_text())
    config["data"].update(name="COIL20", data_dir=str(tmp_path / "nowhere"))
    (run_dir / "config.json").write_text(json.dumps(config))
    fig = plot_degree_distributions(run_dir)
    note = fig.get_suptitle().splitlines()[-1]
    assert note.startswith("initial degrees not drawn: CSTI builds it from the training data")
    assert not any(p.get_label() == "initial" for a in fig.axes for p in a.patches)
    paths = plot_results(run_dir, tmp_path / "figs", formats=["png"])
    assert "degrees_cht.png" in [p.name for p in paths]
    assert f"{run_dir}: {note}" in capsys.readouterr().out
    # Erdős–Rényi layers need no data and no config.json: model.npz is enough
    run_dir = shutil.copytree(cli_runs["set"][0], tmp_path / "set")
    (run_dir / "config.json").unlink()
    fig = plot_degree_distributions(run_dir)
    assert "initial degrees not drawn" not in fig.get_suptitle()
    assert any(p.get_label() == "initial" for p in fig.axes[0].patches)


def test_cht_panels(cli_runs):
    run_dir, _ = cli_runs["cht"]
    history = _history(run_dir)
    model = refset.SparseMLP.load(run_dir / "model.npz")
    fig = plot_method_panels(run_dir)
    overlap, frozen, percolation, active = fig.axes
    assert overlap.get_title().startswith("overlap") and frozen.get_title().startswith("frozen")
    assert percolation.get_title().startswith("percolation")
    assert active.get_title().startswith("active neurons")
    updated = [r for r in history if "frozen" in r]
    assert [r["epoch"] for r in updated] == list(range(1, CLI_EPOCHS))
    n_sparse = 2                                           # the output layer is dense
    lines = overlap.get_lines()
    for l in range(n_sparse):
        assert_allclose(lines[l].get_xdata(), [r["epoch"] for r in updated])
        assert_allclose(lines[l].get_ydata(), [np.nan if r["overlap"][l] is None
                                               else r["overlap"][l] for r in updated])
    assert lines[n_sparse].get_ydata()[0] == 0.9                  # the early-stop threshold
    # frozen: from the update after which each layer froze to the end (sticky)
    after = {}
    for r in updated:
        for l, flag in enumerate(r["frozen"][:n_sparse]):
            if flag:
                after.setdefault(l, r["epoch"])
    for l, line in enumerate(frozen.get_lines()):
        want = [l + 1.0 if l in after and r["epoch"] >= after[l] else np.nan for r in history]
        assert_allclose(line.get_ydata(), want)
    title = fig.get_suptitle()
    for l, e in after.items():
        assert f"frozen after epoch {e}" in title
    if not after:
        assert "no layer frozen" in title
    # percolation and neurons removed per update
    labels = [line.get_label() for line in percolation.get_lines()]
    assert labels[:2] == ["layer 1: links percolated", "layer 2: links percolated"]
    assert_allclose(percolation.get_lines()[0].get_ydata(), [r["percolated"][0] for r in updated])
    removed = sum(r["removed_neurons"][0] for r in updated)
    assert labels[2] == f"hidden 1: neurons removed ({removed} in all)"
    # active neurons: linear axis, percent of each layer's width (CHT's shrinkage shows)
    assert active.get_yscale() == "linear"
    widths = [24, 24, 24, 3]
    assert model.layers_[0].shape[1] == 24 - removed
    for k, line in enumerate(active.get_lines()):
        assert_allclose(line.get_ydata(), [100 * r["active_neurons"][k] / widths[k]
                                           for r in history])
        assert line.get_label().endswith(f"of {widths[k]}")
    lo, hi = active.get_ylim()
    assert hi - lo >= 5                   # a loss of a few neurons is not a flat line
    shrunk = 100 * history[-1]["active_neurons"][1] / 24
    assert lo < shrunk and (removed == 0 or shrunk < hi - 1)


def test_frozen_layers_and_early_stop_in_the_title():
    history = [{"epoch": e, "overlap": [o, 0.5, None], "frozen": [e >= 2, e >= 3, None],
                "percolated": [0, 0, 0], "removed_neurons": [0], "shortfall": [0, 0, 0],
                "active_neurons": [10, 10, 10, 2]} for e, o in ((1, 0.5), (2, 0.95), (3, 0.99))]
    history.append({"epoch": 4, "overlap": [None] * 3, "active_neurons": [10, 10, 10, 2]})
    fig = plot_method_panels({"history": history, "config": {"model": {
        "method": "cht", "zeta": 0.3, "method_options": {"early_stop_threshold": 0.9}}}})
    title = fig.get_suptitle()
    assert "layer 1 frozen after epoch 2, layer 2 frozen after epoch 3" in title
    assert "CSTI sparsity 0.99" in title and "ζ = 0.3" in title
    one, two = fig.axes[1].get_lines()
    assert_allclose(one.get_ydata(), [np.nan, 1, 1, 1])         # sticky through epoch 4
    assert_allclose(two.get_ydata(), [np.nan, np.nan, 2, 2])
    history[1]["frozen"] = [True, True, None]                  # every layer at once
    for rec in history[2:3]:
        rec["frozen"] = [True, True, None]
    assert "all layers frozen after epoch 2" in plot_method_panels(history).get_suptitle()


def test_path_weight_panels_and_the_schedule_used(cli_runs):
    run_dir, _ = cli_runs["path-weight"]
    history = _history(run_dir)
    fig = plot_method_panels(run_dir)
    fractions, delta, importance = fig.axes
    updated = [r for r in history if "zeta" in r]
    assert len(updated) == CLI_EPOCHS - 1
    lam, zeta = fractions.get_lines()
    assert (lam.get_label(), zeta.get_label()) == ("λ", "ζ")
    assert_allclose(zeta.get_ydata(), [r["zeta"] for r in updated])
    assert_allclose(lam.get_ydata(), [r["lam"] for r in updated])
    assert_allclose(delta.get_lines()[0].get_ydata(), [r["delta"] for r in updated])
    assert "time-varying" in fractions.get_title()
    assert [line.get_label().split(" ")[0] for line in importance.get_lines()] == [
        "C_prim", "C_sec", "K3·C_prim", "K4·C_prim"]
    # the title states the ζ actually used, not the configured one
    zetas = [r["zeta"] for r in updated]
    runs = [z for i, z in enumerate(zetas) if i == 0 or z != zetas[i - 1]]
    title = fig.get_suptitle().replace("\n", " ")
    if len(runs) == 1:
        assert f"ζ = {runs[0]:.3g}" in title
    else:
        assert "ζ per update " + " → ".join(f"{z:.3g}" for z in runs) in title
    for figure in (plot_learning_curves(run_dir), plot_link_bookkeeping(run_dir)):
        assert figure.get_suptitle().splitlines()[1:] == fig.get_suptitle().splitlines()[1:]


def test_a_time_varying_title_is_not_the_configured_zeta():
    history = [{"epoch": e, "lam": lam, "zeta": z, "delta": d, "c_prim": 1.0, "c_sec": 0.01}
               for e, (lam, z, d) in enumerate([(0.1, 0.3, 1.0), (0.2, 0.6, 2.0),
                                                (0.4, 1.0, 4.0), (0.4, 1.0, 4.0)], 1)]
    doc = {"history": history, "config": {"model": {
        "method": "path-weight", "zeta": 0.3, "method_options": {"time_varying": True}}}}
    title = plot_learning_curves(doc).get_suptitle().replace("\n", " ")
    assert "ζ per update 0.3 → 0.6 → 1," in title and "ζ = 0.3" not in title
    assert "λ per update 0.1 → 0.2 → 0.4" in title and "δ per update 1 → 2 → 4" in title
    doc["config"]["model"]["method_options"] = {}                    # fixed: one value
    for rec in history:
        rec.update(lam=0.1, zeta=0.3, delta=1.0)
    title = plot_learning_curves(doc).get_suptitle()
    assert "ζ = 0.3, λ = 0.1, δ = 1" in title and "per update" not in title


def test_sensitivity_panel_and_set_has_none(cli_runs):
    history = [{"epoch": e, "zeta": 0.2, "form": "quotient", "mean_sensitivity": [s, 2 * s]}
               for e, s in ((1, 0.5), (2, 0.25))]
    fig = plot_method_panels(history)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["layer 1", "layer 2"]
    assert_allclose(fig.axes[0].get_lines()[1].get_ydata(), [1.0, 0.5])
    assert "sensitivity, ζ = 0.2" in fig.get_suptitle()
    with pytest.raises(ValueError, match="'set' has no panels of its own"):
        plot_method_panels(cli_runs["set"][0])


def test_active_neurons_on_a_linear_axis():
    history = [{"epoch": e, "nnz": [5000, 5000, 100], "active_neurons": [n, h, h, 10]}
               for e, (n, h) in enumerate([(784, 1000), (700, 950), (673, 900)], 1)]
    ax = plot_link_bookkeeping(history).axes[2]
    assert ax.get_yscale() == "linear"                  # counts without the widths
    assert [line.get_label() for line in ax.get_lines()] == [
        "inputs: 784 → 673", "hidden 1: 1000 → 900", "hidden 2: 1000 → 900", "outputs: 10"]
    assert_allclose(ax.get_lines()[0].get_ydata(), [784, 700, 673])


def test_refset_plot_of_each_kind_of_run(cli_runs, tmp_path, capsys):
    from refset.cli import main

    expected = {"set": ["curves", "degrees", "bookkeeping"],
                "cht": ["curves", "degrees", "bookkeeping", "method"],
                "path-weight": ["curves", "degrees", "bookkeeping", "method"]}
    for method, stems in expected.items():
        out = tmp_path / method
        assert main(["plot", str(cli_runs[method][0]), "--out", str(out), "--format", "png",
                     "--quiet"]) == 0
        assert sorted(p.name for p in out.iterdir()) == sorted(
            f"{stem}_{method}.png" for stem in stems)
        _check_files(out.iterdir())
    assert capsys.readouterr().out == ""


# -- files ---------------------------------------------------------------------------------
def _check_files(paths):
    for path in paths:
        data = path.read_bytes()
        assert data, path
        if path.suffix == ".png":
            assert data.startswith(PNG)
        else:
            assert b"<svg" in data[:2000] and data.rstrip().endswith(b"</svg>")


def test_plot_results_of_a_sweep(sweep_dir, capsys):
    paths = plot_results(sweep_dir)
    reps = ["alpha__set__zeta=0.3__r00", "beta__set__zeta=0.3__r00"]
    stems = ["accuracy_curves", "execution_time"] + [
        f"{kind}_{rep}" for rep in reps for kind in ("curves", "degrees", "bookkeeping")]
    assert [p.name for p in paths] == [f"{s}.{f}" for s in stems for f in ("png", "svg")]
    assert all(p.parent == sweep_dir / "plots" for p in paths)
    _check_files(paths)
    assert sorted(p.name for p in (sweep_dir / "plots").iterdir()) == sorted(p.name for p in paths)
    assert capsys.readouterr().out.count("wrote ") == len(stems)


def test_plot_results_of_a_train_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    _real_run(run_dir, 1)
    paths = plot_results(run_dir, tmp_path / "figs", formats="svg,png", quiet=True)
    assert [p.name for p in paths] == [f"{stem}_run.{fmt}" for stem in
                                       ("curves", "degrees", "bookkeeping")
                                       for fmt in ("svg", "png")]
    _check_files(paths)
    assert capsys.readouterr().out == ""
    (run_dir / "model.npz").unlink()                       # no model: no degrees
    assert [p.name for p in plot_results(run_dir, formats=["png"])] == [
        "curves_run.png", "bookkeeping_run.png"]
    assert "degree distributions skipped" in capsys.readouterr().out


def test_representative_run_falls_back_to_the_first_finished_one(tmp_path, sweep_dir):
    import shutil

    out = tmp_path / "sweep"
    shutil.copytree(sweep_dir, out, ignore=shutil.ignore_patterns("plots"))
    doc = json.loads((out / "results.json").read_text())
    doc["runs"] = [r for r in doc["runs"] if r["dataset"] == "beta"]
    for row in doc["runs"]:
        if row["run_id"] == "beta__set__zeta=0.3__r00":
            row["status"] = "failed"
    (out / "results.json").write_text(json.dumps(doc))
    names = [p.name for p in plot_results(out, formats=["png"], quiet=True)]
    # the first finished beta run (it has no model: no degrees)
    assert names == ["accuracy_curves.png", "execution_time.png",
                     "curves_beta__set__zeta=0.0__r00.png",
                     "bookkeeping_beta__set__zeta=0.0__r00.png"]


def test_plot_results_rejects_bad_input(tmp_path, sweep_dir):
    for path in (tmp_path / "missing", tmp_path, sweep_dir / "results.json"):
        with pytest.raises(ValueError, match=f"path must be .*{path.name}"):
            plot_results(path)
    with pytest.raises(ValueError, match="formats must be"):
        plot_results(sweep_dir, formats=["png", "docx"])
    with pytest.raises(ValueError, match="formats must be"):
        plot_results(sweep_dir, formats=[])
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    rows = [r for r in _rows(sweep_dir) if r["status"] != "ok"]
    (unfinished / "results.json").write_text(json.dumps({"config": {}, "runs": rows}))
    with pytest.raises(ValueError, match="no finished"):
        plot_results(unfinished)
    with pytest.raises(ValueError, match="results must be"):
        plot_accuracy_curves(tmp_path / "missing")
    with pytest.raises(ValueError, match="results must hold 'runs'"):
        plot_execution_time({"runs": [{"zeta": 0.1}]})


def _tree(path):
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("data, problem", [
    (b"{\"config\": {}, \"runs\": [", "not valid JSON (Expecting value: line 1 column 25"),
    (b"{\"runs\": []}\xff", "not UTF-8 text (byte 0xff at offset 12)"),
    (b"[1, 2]", "not a refset results.json"),
    (b"{\"runs\": 3}", "must hold 'runs', a list of rows"),
])
def test_a_damaged_results_json_is_an_error_naming_it(tmp_path, data, problem):
    (tmp_path / "results.json").write_bytes(data)
    for call in (plot_results, plot_accuracy_curves, plot_execution_time):
        with pytest.raises(ValueError) as exc:
            call(tmp_path)
        assert str(exc.value).startswith(f"{tmp_path / 'results.json'}: {problem}"), exc.value
    assert _tree(tmp_path) == {"results.json": data}


@pytest.mark.parametrize("data, problem", [
    (b"{\"history\": [{\"epoch\": 1}", "not valid JSON (Expecting ',' delimiter"),
    (b"\xfe\xff", "not UTF-8 text (byte 0xfe at offset 0)"),
    (b"{\"records\": []}", "holds no 'history' list of epoch records"),
    (b"{\"history\": [1, 2]}", "holds no 'history' list of epoch records"),
])
def test_a_damaged_history_json_is_an_error_naming_it(tmp_path, sweep_dir, data, problem):
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_bytes(data)
    with pytest.raises(ValueError) as exc:
        plot_results(run)
    assert str(exc.value).startswith(f"{run / 'history.json'}: {problem}"), exc.value
    with pytest.raises(ValueError, match="^" + str(run / "history.json").replace("\\", "\\\\")):
        plot_link_bookkeeping(run / "history.json")
    assert _tree(run) == {"history.json": data}                  # no plots directory either
    # the history of one run of a sweep
    out = tmp_path / "sweep"
    shutil.copytree(sweep_dir, out, ignore=shutil.ignore_patterns("plots"))
    damaged = out / "runs" / "alpha__set__zeta=0.0__r01" / "history.json"
    damaged.write_bytes(data)
    with pytest.raises(ValueError) as exc:
        plot_accuracy_curves(out)
    assert str(exc.value).startswith(f"{damaged}: {problem}"), exc.value


def test_out_dir_that_cannot_be_written_is_refused_before_drawing(tmp_path, sweep_dir,
                                                                   monkeypatch):
    import os
    import shutil

    sweep_dir = shutil.copytree(sweep_dir, tmp_path / "sweep",
                                ignore=shutil.ignore_patterns("plots"))
    before = _tree(sweep_dir)
    file = tmp_path / "figures.png"
    file.write_bytes(b"a user's figure")
    with pytest.raises(ValueError) as exc:
        plot_results(sweep_dir, file)
    assert str(exc.value) == f"out_dir: {file} is a file, not a directory; give a directory"
    with pytest.raises(ValueError) as exc:
        plot_results(sweep_dir, file / "plots")
    assert str(exc.value) == (f"out_dir: cannot create {file / 'plots'}: {file} is a file, "
                              "not a directory")
    shared = tmp_path / "shared"
    shared.mkdir()
    real_access = os.access
    # read-only for this process (as root chmod would not bind, so the check is told)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        os.fspath(path) not in (str(shared), str(sweep_dir)) and real_access(path, mode, **kw)))
    with pytest.raises(ValueError) as exc:
        plot_results(sweep_dir, shared / "figs")
    assert str(exc.value) == (f"out_dir: cannot create {shared / 'figs'}: {shared} is not "
                              "writable; choose another directory")
    with pytest.raises(ValueError) as exc:
        plot_results(sweep_dir)                               # default: PATH/plots
    assert str(exc.value) == (f"out_dir: cannot create {sweep_dir / 'plots'}: {sweep_dir} is "
                              "not writable; choose another directory")
    assert _tree(sweep_dir) == before and list(shared.iterdir()) == []
    assert file.read_bytes() == b"a user's figure"


def test_missing_matplotlib_is_a_clear_import_error(monkeypatch, sweep_dir):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'refset\[plot\]'"):
        plot_accuracy_curves(sweep_dir)
    with pytest.raises(ImportError, match="refset plots need matplotlib"):
        plot_results(sweep_dir)
