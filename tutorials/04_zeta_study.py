# %% [markdown]
# # 04 · The revise fraction ζ: accuracy against time
#
# After every epoch SET removes a fraction ζ of each layer's links and regrows as many at
# random (tutorial 01). Mocanu et al. (2018) fixed ζ = 0.3; Cavallaro et al. (2020, *Artificial
# neural networks training acceleration through network science strategies*, Soft Computing
# 24:17787) ask what smaller values buy:
#
# > We find that significant reductions in execution time can generally be achieved by setting
# > the revised fraction parameter (ζ) to relatively low values.
#
# They train a 3 × 3000 SET-MLP on Lung, CLL_SUB_111 and COIL20 for 150 epochs with
# ζ ∈ {0, 0.01, 0.02, 0.3}, report the accuracy per epoch (their Fig. 2), the highest and mean
# accuracy of one run (Table 3) and the execution time over 10 runs (Fig. 3), and conclude that
# "the meaningful revise range is 0 ≤ ζ ≤ 0.02".
#
# This tutorial runs such a study with refset's sweep tools (`refset.sweep`, `refset.plots`):
#
# 1. what ζ does in one SET step, and why it could save time;
# 2. a small sweep built as a Python dict, run with `run_sweep`, and how to read its summary;
# 3. the figures: accuracy per epoch (Fig. 2), execution time (Fig. 3), degrees and link
#    bookkeeping of one run;
# 4. interrupting a sweep and resuming it;
# 5. where the real reproduction lives, and how to run it on several cores or a Dask cluster.
#
# Every figure here comes from refset's default `fidelity="paper"` (the papers' SET: ⌊ζ n⌋
# per sign, exact Erdős–Rényi counts, no quirks of the original code; those are
# `fidelity="authors"`, compared with the original code in `experiments/set_original.md`).
#
# Set `REFSET_TUTORIAL_FAST=1` for the small configuration that CI runs (its budget is 30 s): a
# small network for 10 epochs on COIL20 when `$REFSET_DATA` holds `COIL20.mat`, else on
# refset's synthetic data. Without it, section 2 trains the paper's 3 × 3000 network on COIL20
# for 30 epochs, 4 values of ζ × 3 replicates, which takes minutes rather than seconds (the
# last code cell prints how long the run took).

# %%
import io
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.stats

import refset
from refset import plots
from refset.sweep import (epoch_interval, format_summary, load_results, plan_sweep, run_sweep,
                          summarize)

FAST = os.environ.get("REFSET_TUTORIAL_FAST") == "1"
T_START = time.perf_counter()
SEED = 0
JOBS = 1            # worker processes of the sweeps; raise it to use more cores
# Output layers with few classes come out dense at these ε (tutorial 01, section 1).
warnings.filterwarnings("ignore", message=r"epsilon=.* makes the .* layer dense")

# Every sweep of this tutorial writes below WORK; the last cell deletes it.
WORK = Path(tempfile.mkdtemp(prefix="refset-tutorial04-"))
print(f"refset {refset.__version__}, kernel backend: {refset.get_backend()}, FAST={FAST}")
print(f"sweep outputs go to {WORK}")


def show(fig):
    """Show a Figure of `refset.plots` (they are drawn without pyplot).

    In a notebook it is displayed inline. In a script pyplot adopts it and shows it (matplotlib
    >= 3.11); with an older matplotlib it is written to a PNG file instead.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(fig)
        return
    try:
        plt.figure(fig)
    except (ValueError, TypeError):   # matplotlib < 3.11: "not managed by pyplot"
        path = Path(tempfile.mkstemp(prefix="refset-tutorial04-", suffix=".png")[1])
        fig.savefig(path, dpi=100)
        print(f"(figure written to {path})")
    else:
        plt.show()

# %% [markdown]
# ## 1. What ζ does in one SET step
#
# > at the end of each epoch, there is a weight adjustment phase. It consists of removing the
# > closest-to-zero links in between layers plus a wider revising range ( i.e., ζ). [...]
# > Subsequently, the framework adds new weights randomly to exactly compensate the removed
# > ones.
#
# refset's `set_step` removes the $\lfloor \zeta\, n_{neg} \rfloor$ negative and
# $\lfloor \zeta\, n_{pos} \rfloor$ positive weights closest to zero and regrows as many links
# at random empty cells (ALGORITHMS §2). We apply it with several ζ to the same tiny layer, each
# time with the same random generator seed.

# %%
W = refset.erdos_renyi_layer(10, 8, 2.0, np.random.default_rng(SEED))
n_neg, n_pos = int((W.values < 0).sum()), int((W.values > 0).sum())
print(f"layer {W.shape}, {W.nnz} links ({n_neg} negative, {n_pos} positive)")
print(f"{'zeta':>5} {'removed':>8} {'regrown':>8} {'links after':>12} {'cells kept':>11} "
      f"{'weights kept':>13}")
moved = []
for zeta in (0.0, 0.1, 0.3, 0.5, 1.0):
    step = refset.set_step(W, zeta, np.random.default_rng(SEED))
    new = step.layer
    kept = step.source >= 0                        # new links that are old links
    same_cells = np.intersect1d(W.linear(), new.linear()).size
    print(f"{zeta:>5} {step.removed.size:>8} {step.regrown.size:>8} {new.nnz:>12} "
          f"{same_cells:>11} {int(kept.sum()):>13}")
    assert new.nnz == W.nnz                                          # the link count is kept
    assert step.removed.size == step.regrown.size
    assert step.removed.size == math.floor(zeta * n_neg) + math.floor(zeta * n_pos)
    assert np.array_equal(new.values[kept], W.values[step.source[kept]])  # survivors unchanged
    if zeta == 0:                                    # static sparse training: nothing moves
        assert step.removed.size == 0
        assert np.array_equal(new.linear(), W.linear()) and np.array_equal(new.values, W.values)
    if zeta == 1:                                    # every link replaced, some on the same cell
        assert not kept.any() and same_cells > 0
    moved.append(step.removed.size)
assert moved == sorted(moved)                                        # more ζ, more links move

# %% [markdown]
# ζ = 0 leaves the layer untouched: that is static sparse training on the initial
# Erdős–Rényi graph. Every larger ζ moves more links, and the link count never changes.
# Regrowth may pick a cell that was just emptied (as in the original code; the option
# `allow_regrow_removed=False` forbids it), so "cells kept" can exceed "weights kept": at
# ζ = 1 every weight is new, yet some links sit where old ones were.
#
# ### Why a small ζ could save time
#
# The update costs time on top of the epoch's training. We time it for the paper's network,
# 1024-3000-3000-3000-20 at ε = 20 (COIL20's input and output sizes), for several ζ.

# %%
paper_shapes = [(1024, 3000), (3000, 3000), (3000, 3000), (3000, 20)]
rng = np.random.default_rng(SEED)
paper_layers = [refset.erdos_renyi_layer(n_in, n_out, 20, rng) for n_in, n_out in paper_shapes]
print("links per layer:", [L.nnz for L in paper_layers], "(the last layer is dense)")

zetas_timed = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
update_ms = []
for zeta in zetas_timed:
    best = math.inf
    for _ in range(3):                      # the minimum of 3 repeats: least disturbed by load
        t0 = time.perf_counter()
        for L in paper_layers:
            refset.set_step(L, zeta, rng)
        best = min(best, time.perf_counter() - t0)
    update_ms.append(1000 * best)
    print(f"zeta = {zeta:<5} one update of all four layers: {1000 * best:6.1f} ms")

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(zetas_timed, update_ms, "o-")
ax.set_xlabel("ζ")
ax.set_ylabel("ms per topology update")
ax.set_ylim(0, 1.1 * max(update_ms))
ax.set_title("SET update of the 1024-3000-3000-3000-20 network, ε = 20", fontsize=10)
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
assert update_ms[0] < update_ms[-1]

# %% [markdown]
# At ζ = 0 nothing is removed and the update is a copy of the layers. Any ζ > 0 pays for
# selecting the weakest weights of each sign, checking for isolated neurons and rebuilding the
# layers, whatever the number of links moved; the sampling of new cells and weights adds a part
# that grows with ζ. A large part of what ζ = 0.3 costs is therefore already paid at
# ζ = 0.01.
#
# How much is that next to an epoch? We train the same network for two epochs (the update runs
# after the first; the last epoch has none) on a few synthetic samples of COIL20's shape (96 in
# FAST mode, 320 otherwise), with the paper's settings (batch size 2, squared error on a sigmoid
# output), and scale the training time to COIL20's 960 training samples.

# %%
X_probe, y_probe = refset.datasets.make_synthetic(n_samples=96 if FAST else 320, n_features=1024,
                                                  n_classes=20, n_clusters_per_class=1, seed=SEED)
probe = refset.SparseMLP((3000, 3000, 3000), epsilon=20, zeta=0.3, epochs=2, batch_size=2,
                         loss="mse", learning_rate=0.01, momentum=0.9, weight_decay=2e-4,
                         weight_decay_style="original", seed=SEED)
probe.fit(X_probe, y_probe)
first = probe.history_[0]
train_960 = first["seconds_train"] * 960 / len(y_probe)
share = first["seconds_topology"] / (train_960 + first["seconds_topology"])
print(f"epoch 1 on {len(y_probe)} samples: training {first['seconds_train']:.2f} s, "
      f"topology update {1000 * first['seconds_topology']:.0f} ms")
print(f"scaled to COIL20 (960 samples): training {train_960:.2f} s per epoch; the update at "
      f"zeta = 0.3 is {100 * share:.1f} % of the epoch")
assert first["topology_updated"] and not probe.history_[-1]["topology_updated"]
assert share < 0.25

# %% [markdown]
# In refset the whole update is a small share of a COIL20 epoch of this network: the cell above
# prints it (timings on a shared machine are noisy, so the code only checks that it is under a
# quarter; it is smaller with the slower numpy kernels, `REFSET_BACKEND=numpy`, whose training
# takes longer). Lowering ζ can save at most that share (less the copy that ζ = 0 still makes),
# which bounds the time gain Cavallaro et al. define, $1 - t(\zeta = 0) / t(\zeta = 0.3)$. The
# update runs once per epoch while training is per sample, so the share shrinks on larger
# training sets and grows on smaller ones.
#
# The original SET implementation (scipy.sparse, with rejection sampling of new cells) is much
# slower at this step: measured with the paper's network on a 2-vCPU AMD EPYC (PERFORMANCE.md
# §3), it spends 2.5 s of an 11.8 s COIL20 epoch, and 6.2 s of a 7.5 s epoch on a Lung-shaped
# problem, in the topology update. An implementation like that has much more to gain from a small ζ. The
# paper's gains, 0.137 on Lung, 0.366 on CLL_SUB_111 and −0.005 on COIL20, were measured with
# the authors' implementation: a gain is a property of the implementation as much as of ζ.
# Section 2 measures refset's.
#
# ## 2. A sweep over ζ
#
# A sweep is a config: datasets × grid × replicates (the format is in `help(refset.sweep)`;
# `experiments/*.toml` are the same content as TOML files). We write it as a dict you can edit.
# Every replicate $r$ gets one seed for all values of ζ (paired design): the same split, the
# same initial network and the same first epoch, so ζ is the only difference between the runs
# of a replicate.
#
# The FAST configuration uses a small network; the full one the paper's network and training
# settings (those of `experiments/cavallaro2020.toml`) for 30 of its 150 epochs. Both use
# COIL20 when the sweep finds `COIL20.mat` (in `$REFSET_DATA`, else `~/.cache/refset`) and fall
# back to synthetic data otherwise. `plan_sweep` reports missing files without running anything.

# %%
_, _, missing = plan_sweep({"data": {"datasets": ["COIL20"]}})
DATASET = "synthetic" if "COIL20" in missing else "COIL20"
if DATASET == "synthetic":
    print(f"note: {missing['COIL20']}\n-> this sweep uses refset's synthetic data instead")

if FAST:
    zetas = [0.0, 0.02, 0.3]
    experiment = {"name": "zeta_tutorial", "seed": SEED, "runs": 3, "epochs": 10}
    model = {"hidden_layer_sizes": [256, 256], "epsilon": 4 if DATASET == "synthetic" else 10,
             "batch_size": 16, "learning_rate": 0.05, "weight_init": "he_uniform"}
    synthetic = {"n_samples": 1200, "n_features": 100, "n_classes": 4}
else:
    zetas = [0.0, 0.01, 0.02, 0.3]
    experiment = {"name": "zeta_tutorial", "seed": SEED, "runs": 3, "epochs": 30}
    model = {"hidden_layer_sizes": [3000, 3000, 3000], "epsilon": 20, "prune": "sign",
             "loss": "mse", "batch_size": 2, "learning_rate": 0.01, "momentum": 0.9,
             "weight_decay": 2e-4, "weight_decay_style": "original", "dropout": 0.0,
             "dtype": "float64"}
    synthetic = {"n_samples": 1440, "n_features": 1024, "n_classes": 20,
                 "n_clusters_per_class": 1}

config = {
    "experiment": {**experiment, "save_models": "first"},   # model.npz of replicate 0 only
    "data": {"datasets": [DATASET],
             **({"synthetic": synthetic} if DATASET == "synthetic" else {})},
    "model": model,
    "grid": {"zeta": zetas},
    "summary": {"baseline": {"zeta": 0.3}, "compare": {"zeta": 0.0}},  # gain 1 - t(0)/t(0.3)
}
print(json.dumps(config, indent=1))

# %% [markdown]
# `run_sweep` trains one model per cell, writes every run under `OUT/runs/`, and prints one
# line per finished run and the summary table. Within a replicate the ζ values take turns to
# run first, so a drift of the machine's speed does not always favour the same ζ. (The warning
# about a dense output layer is expected: tutorial 01, section 1.)

# %%
OUT = WORK / "zeta"
t0 = time.perf_counter()
rows = run_sweep(config, OUT, jobs=JOBS)
print(f"\n{len(rows)} runs in {time.perf_counter() - t0:.1f} s; files: "
      f"{sorted(p.name for p in OUT.iterdir())}")
runs = config["experiment"]["runs"]
assert len(rows) == len(zetas) * runs and all(r["status"] == "ok" for r in rows)

# %% [markdown]
# `rows` (also `load_results(OUT)`, `results.json`, `results.csv`) holds one row per run, and
# each run directory its per-epoch `history.json`. Two facts the paired design guarantees,
# checked on the histories:
#
# - every run of every ζ has the same number of links in every layer at every epoch (ε fixes
#   it, SET conserves it), and the runs at ζ = 0 never remove a link;
# - within a replicate, the first epoch is identical for every ζ (ζ acts only at the end of it):
#   same test accuracy, same training loss.

# %%
def history(row):
    with open(OUT / row["run_dir"] / "history.json", encoding="utf-8") as f:
        return json.load(f)["history"]


assert load_results(OUT) == rows
histories = {(r["zeta"], r["replicate"]): history(r) for r in rows}
nnz = {tuple(rec["nnz"]) for h in histories.values() for rec in h}
print("links per layer, in every epoch of every run:", nnz)
assert len(nnz) == 1
for (zeta, replicate), h in histories.items():
    removed = np.array([rec["removed"] for rec in h])
    assert np.array_equal(removed, [rec["regrown"] for rec in h])
    if zeta == 0:
        assert not removed.any()
    else:
        assert (removed[:-1].sum(axis=1) > 0).all() and not removed[-1].any()
for replicate in range(runs):
    firsts = {(h[0]["test_accuracy"], h[0]["train_loss"])
              for (zeta, r), h in histories.items() if r == replicate}
    assert len(firsts) == 1, firsts
print(f"epoch 1 of replicate 0: test accuracy {histories[0.0, 0][0]['test_accuracy']:.4f} "
      "for every zeta")

# %% [markdown]
# ### Reading the summary
#
# `summarize` groups the rows by dataset, method and grid point (this is the table `run_sweep`
# printed, also in `summary.json` / `summary.csv`):

# %%
summary = summarize(rows, grid_keys=["zeta"], baseline={"zeta": 0.3}, compare={"zeta": 0.0})
print(format_summary(summary, ["zeta"]))
with open(OUT / "summary.json", encoding="utf-8") as f:
    assert json.load(f) == summary
by_zeta = {s["zeta"]: s for s in summary}
assert all(s["n"] == runs and s["n_failed"] == s["n_skipped"] == 0 for s in summary)

# %% [markdown]
# Column by column, recomputed by hand for one ζ below:
#
# - **n**: finished runs (the replicates).
# - **best %**: the highest test accuracy any run reached in any epoch, Table 3's "highest
#   accuracy reached during the whole simulation".
# - **final % [95 % CI]**: the mean over the runs of the last epoch's accuracy, with the 95 %
#   Student-t interval over the runs, $\bar a \pm t_{0.975,\,n-1}\, s / \sqrt{n}$. This is
#   the uncertainty that matters when comparing two values of ζ: how much the result would
#   move with other seeds (splits, initial networks, batch orders).
# - **r0 epochs % [95 % CI]**: Cavallaro's Table 3 statistic. Their table reports "a single run
#   with fixed seed": the mean of that run's accuracy over its epochs and a confidence interval
#   over the epochs. We give it for replicate 0. It mixes the early, still-learning epochs with
#   the plateau, and its interval describes how much one run's accuracy fluctuates from epoch to
#   epoch, not how another seed would do; with 150 epochs it becomes narrow ("lower than 0.3"
#   on COIL20) whatever the spread between seeds. It treats the epochs as independent draws,
#   which they are not, and on a short run that climbs from a low first epoch its upper end
#   can even pass 100 %.
# - **s/run**: mean seconds per run, split into training, evaluation and topology update.
# - **gain**: $1 - t(\zeta = 0) / t(\zeta = 0.3)$ with $t$ the mean seconds per run; the same
#   value on every row of a dataset.

# %%
z = zetas[-1]
ok = sorted((r for r in rows if r["zeta"] == z), key=lambda r: r["replicate"])
final = np.array([r["final_accuracy"] for r in ok])
half = scipy.stats.t.ppf(0.975, len(final) - 1) * final.std(ddof=1) / math.sqrt(len(final))
acc_r0 = [rec["test_accuracy"] for rec in histories[z, 0]]
mean_r0, low_r0, high_r0 = epoch_interval(acc_r0)
s = by_zeta[z]
print(f"zeta = {z}: final accuracies {np.round(100 * final, 2).tolist()} %")
print(f"  over the runs:           mean {100 * final.mean():.2f} % ± {100 * half:.2f}")
print(f"  replicate 0, the epochs: mean {100 * mean_r0:.2f} % ± {100 * (high_r0 - mean_r0):.2f} "
      f"({len(acc_r0)} epochs, from {100 * acc_r0[0]:.1f} % at epoch 1)")
assert s["best_accuracy"] == max(max(rec["test_accuracy"] for rec in histories[z, r["replicate"]])
                                 for r in ok)
assert np.isclose(s["final_accuracy_mean"], final.mean())
assert np.isclose(s["final_accuracy_ci_high"] - s["final_accuracy_mean"], half)
assert np.isclose(s["r0_mean_accuracy"], mean_r0) and np.isclose(s["r0_ci_high"], high_r0)

# %% [markdown]
# ### Where the time goes, and the gain
#
# A run's time is the sum over its epochs of training, evaluation and topology update (data
# loading and building the initial network are not counted). Because $t$ is a sum of the three
# parts, the gain splits exactly into their contributions:
#
# $$1 - \frac{t_0}{t_{0.3}} = \frac{(\text{train}_{0.3} - \text{train}_0)
#   + (\text{eval}_{0.3} - \text{eval}_0) + (\text{topo}_{0.3} - \text{topo}_0)}{t_{0.3}} .$$
#
# Only the last term is caused by ζ. Training and evaluation do the same work at every ζ (the
# same number of links, samples and epochs), so their differences are timing noise of a shared
# machine; in a short sweep they can be as large as the topology term, or larger.

# %%
t0_, t3_ = by_zeta[0.0], by_zeta[0.3]
print(f"{'zeta':>5} {'s/run':>8} {'train':>8} {'eval':>8} {'topology':>9} {'topology share':>15}")
for s in summary:
    print(f"{s['zeta']:>5} {s['seconds_total_mean']:>8.3f} {s['seconds_train_mean']:>8.3f} "
          f"{s['seconds_eval_mean']:>8.3f} {s['seconds_topology_mean']:>9.4f} "
          f"{100 * s['seconds_topology_mean'] / s['seconds_total_mean']:>14.1f}%")
gain = 1 - t0_["seconds_total_mean"] / t3_["seconds_total_mean"]
terms = {part: (t3_[f"seconds_{part}_mean"] - t0_[f"seconds_{part}_mean"])
         / t3_["seconds_total_mean"] for part in ("train", "eval", "topology")}
print(f"gain 1 - t(0)/t(0.3) = {gain:.4f} = " + " + ".join(f"{v:+.4f} ({k})"
                                                         for k, v in terms.items()))
assert np.isclose(gain, t0_["gain"]) and all(np.isclose(s["gain"], gain) for s in summary)
assert np.isclose(gain, sum(terms.values()))

# %% [markdown]
# The topology term is the part of the gain that ζ buys, and it can be no larger than the
# update's share of a run at ζ = 0.3. For the paper's network on COIL20 that share is small
# (section 1 prints it, and so does the full mode of this section). The small network of the FAST mode
# trains each epoch quickly, so there the fixed cost of the update weighs more. The training
# term is noise: compare it across reruns of the same sweep. With 10 runs per ζ and 150 epochs,
# as in the paper, the noise averages down, but it does not vanish on a shared machine. The
# rotating run order spreads a slow drift of the machine's speed over all values of ζ (evenly
# when the number of replicates is a multiple of the number of ζ values); it cannot remove
# the noise.
#
# ## 3. The figures
#
# `refset.plots` draws the paper's figures from a sweep directory (or from the rows). Each
# function returns a matplotlib Figure; `refset plot OUT` writes them all to files.
#
# **Accuracy per epoch per ζ** (Cavallaro's Fig. 2): the mean over the replicates, with the
# 95 % interval of that mean as a band.

# %%
fig = plots.plot_accuracy_curves(OUT)
show(fig)
lines = fig.axes[0].get_lines()
assert [line.get_label() for line in lines] == [f"ζ = {z}" for z in zetas]
curve = np.mean([[rec["test_accuracy"] for rec in histories[zetas[0], r]] for r in range(runs)],
                axis=0)
assert np.allclose(lines[0].get_ydata(), 100 * curve)

# %% [markdown]
# **Execution time** (Fig. 3): the mean seconds per run, stacked training / evaluation /
# topology update (hatched), with the standard deviation over the runs as the error bar and
# the gain written on the panel.

# %%
fig = plots.plot_execution_time(OUT)
show(fig)
assert fig.axes[0].texts[0].get_text().endswith(f"= {gain:.3f}")

# %% [markdown]
# Two figures read any single run. We take replicate 0 at ζ = 0.3, the baseline of the gain.
# **Degree distributions**: the in- and out-degrees of every sparse layer after training,
# against the binomial law of an Erdős–Rényi graph of the same density (tutorial 01, section 2,
# discusses what SET does to them). At ζ = 0 they would be exactly those of the initial draw.

# %%
row = next(r for r in rows if r["zeta"] == 0.3 and r["replicate"] == 0)
run_dir = OUT / row["run_dir"]
print("run directory:", sorted(p.name for p in run_dir.iterdir()))
fig = plots.plot_degree_distributions(run_dir)
show(fig)
trained = refset.SparseMLP.load(run_dir / "model.npz")
assert [W.nnz for W in trained.layers_] == list(next(iter(nnz)))   # the saved final network

# %% [markdown]
# **Link bookkeeping**: links per layer (flat: the count is conserved), links removed and
# regrown after each epoch (none after the last), and the number of active neurons.

# %%
fig = plots.plot_link_bookkeeping(run_dir)
show(fig)
h = histories[0.3, 0]
assert all(rec["active_neurons"] == h[0]["active_neurons"] for rec in h)

# %% [markdown]
# ## 4. Interrupting and resuming a sweep
#
# A long sweep will be interrupted (a reboot, a time limit on a cluster, Ctrl-C). Each run's
# files are written atomically as it finishes, its `result.json` last; rerunning the same
# sweep into the same directory skips every run whose `result.json` says `ok` and runs the
# rest. An unfinished run restarts from epoch 0 with its own seed, so the resumed sweep ends
# with the same results as an uninterrupted one.
#
# To see this in seconds in both modes we use a small synthetic study: ζ ∈ {0, 0.3}, 3
# replicates, 5 epochs. First the uninterrupted sweep, as the reference; then the same config
# in a fresh directory, stopped after 3 runs with `max_runs=3` (from the command line, an
# interruption does the same), then run again.

# %%
small = {"experiment": {"name": "zeta_resume", "seed": SEED, "runs": 3, "epochs": 5,
                        "save_models": "first"},
         "data": {"datasets": ["synthetic"],
                  "synthetic": {"n_samples": 600, "n_features": 40, "n_classes": 3}},
         "model": {"hidden_layer_sizes": [64, 64], "epsilon": 4, "batch_size": 16,
                   "learning_rate": 0.05, "weight_init": "he_uniform"},
         "grid": {"zeta": [0.0, 0.3]}}
reference = run_sweep(small, WORK / "uninterrupted", progress=False)

RESUMED = WORK / "resumed"
log = io.StringIO()
before = run_sweep(small, RESUMED, max_runs=3, stream=log)
print(log.getvalue())
stamps = {r["run_id"]: os.stat(RESUMED / r["run_dir"] / "result.json").st_mtime_ns
          for r in before}
print("finished before the interruption:", list(stamps))
assert [(r["zeta"], r["replicate"]) for r in before] == [(0.0, 0), (0.3, 0), (0.3, 1)]

# %% [markdown]
# Pending runs execute replicate by replicate, so the interrupted sweep holds replicate 0 of
# both values of ζ and one run of replicate 1; its summary counts only the finished runs (n)
# and says how many are still to run. Now the same call again:

# %%
log = io.StringIO()
after = run_sweep(small, RESUMED, stream=log)
print(log.getvalue())
assert f"{len(before)} finished earlier, {len(reference) - len(before)} to run" in log.getvalue()
assert len(before) == 3 and len(after) == len(reference) == 6

# %% [markdown]
# The three finished runs were not trained again: their `result.json` files are untouched and
# their rows, times included, are the stored ones. And the resumed sweep equals the
# uninterrupted one: the same rows (apart from the seconds, which are measured), the same
# histories epoch by epoch, the same final networks bit for bit.

# %%
SECONDS = ("seconds_train", "seconds_eval", "seconds_topology", "seconds_total")


def without_seconds(record):
    return {k: v for k, v in record.items() if k not in SECONDS}


def run_history(out, row):
    with open(out / row["run_dir"] / "history.json", encoding="utf-8") as f:
        return [without_seconds(rec) for rec in json.load(f)["history"]]


after_by_id = {r["run_id"]: r for r in after}
for r in before:
    assert os.stat(RESUMED / r["run_dir"] / "result.json").st_mtime_ns == stamps[r["run_id"]]
    assert after_by_id[r["run_id"]] == r                       # not recomputed
for a, b in zip(reference, after):
    assert without_seconds(a) == without_seconds(b)
    assert run_history(WORK / "uninterrupted", a) == run_history(RESUMED, b)
    if a["replicate"] == 0:                                    # save_models = "first"
        m_a = refset.SparseMLP.load(WORK / "uninterrupted" / a["run_dir"] / "model.npz")
        m_b = refset.SparseMLP.load(RESUMED / b["run_dir"] / "model.npz")
        for La, Lb in zip(m_a.layers_, m_b.layers_):
            assert np.array_equal(La.linear(), Lb.linear())
            assert np.array_equal(La.values, Lb.values)
print(f"resumed sweep == uninterrupted sweep: {len(after)} rows, histories and "
      f"{sum(r['replicate'] == 0 for r in after)} saved models")

# %% [markdown]
# A run that raises is recorded as `failed` (with its traceback in `error.txt`) and the others
# go on; a rerun retries it. A config that differs from the one stored in the directory
# (`sweep.toml`) in anything that defines the runs is refused, so results of two different
# studies never mix in one table.
#
# ## 5. The real reproduction
#
# `experiments/cavallaro2020.toml` is the paper's study: Lung, CLL_SUB_111, COIL20 (and
# TOX-171, a fourth small wide data set), ζ ∈ {0, 0.01, 0.02, 0.3}, 10 runs, 150 epochs, the
# 3 × 3000 network with the original training settings; 160 runs of 150 epochs each (the
# README's performance section gives refset's seconds per epoch for a Lung-shaped network and
# for COIL20, and the machine they were measured on). Its results and their discussion
# against the paper are in `experiments/cavallaro2020.md`. To run it yourself:
#
# ```bash
# export REFSET_DATA=/path/to/data        # lung.mat, CLL-SUB-111.mat, COIL20.mat, TOX-171.mat
# refset sweep experiments/cavallaro2020.toml --dry-run    # list the cells, their seeds, state
# refset sweep experiments/cavallaro2020.toml --jobs 4     # 4 worker processes, 1 thread each
# refset plot refset-runs/cavallaro2020                    # figures into .../plots/
# ```
#
# Data sets whose file is missing are skipped with a message (`refset train --dataset lung
# --download --epochs 1` fetches Lung, likewise CLL_SUB_111); add the file and rerun. The
# same command resumes an interrupted sweep. For the time comparison, keep some cores free:
# workers that share the memory bus and caches slow each other down, and that noise goes into
# the times.
#
# On several machines, start a Dask scheduler and workers (`pip install 'refset[distributed]'`
# on every machine, the data files under each worker's `$REFSET_DATA`); the workers send each
# run back to the driver, so no shared file system is needed:
#
# ```bash
# dask scheduler                                  # prints its address, tcp://HOST:8786
# dask worker tcp://HOST:8786 --nworkers 4 --nthreads 1   # on each machine: 4 processes
# refset sweep experiments/cavallaro2020.toml --dask tcp://HOST:8786
# ```
#
# From Python: `run_sweep("experiments/cavallaro2020.toml", out_dir, jobs=4)` or
# `run_sweep(..., dask="tcp://HOST:8786")`. `experiments/zeta_quick.toml` is a small study like
# the FAST one of section 2, for trying the command line.

# %%
shutil.rmtree(WORK)         # comment out to keep the sweep directories
print(f"this run (FAST={FAST}) took {time.perf_counter() - T_START:.0f} s")

# %% [markdown]
# ## Summary
#
# - ζ is the fraction of each layer's links that SET replaces after every epoch:
#   $\lfloor \zeta n_{neg} \rfloor + \lfloor \zeta n_{pos} \rfloor$ links move, the link count
#   never changes, and ζ = 0 is static sparse training.
# - A smaller ζ can only save the ζ-dependent part of the topology update. In refset the whole
#   update is a small share of a COIL20 epoch of the paper's network, so the time gain
#   $1 - t(\zeta = 0) / t(\zeta = 0.3)$ is small. The original SET implementation spends a
#   large share of each epoch in the update, and has much more to gain.
# - A sweep is a config (dict or TOML): datasets × grid × replicates with a paired design
#   (one seed per replicate for every ζ). `run_sweep` writes every run, the rows and a summary.
# - Read the summary with its two kinds of interval in mind: over the runs (the uncertainty of
#   a comparison between ζ values) and over the epochs of one run (Cavallaro's Table 3, a
#   measure of fluctuation). Split the gain into its training, evaluation and topology terms:
#   only the last is caused by ζ, the others are timing noise.
# - `refset.plots` draws Fig. 2, Fig. 3, the degree distributions and the link bookkeeping.
# - An interrupted sweep resumes where it stopped and ends equal to an uninterrupted one.
#
# ## Exercises
#
# 1. Add ζ = 0.01 and ζ = 0.1 to the grid of section 2 and run it into a new directory (the
#    old one refuses a different config). Are the runs the two sweeps share identical, apart
#    from their seconds? Why (read "Cells and seeds" in `help(refset.sweep)`)?
# 2. Grid over the pruning rule too: `"grid": {"zeta": [...], "prune": ["sign",
#    "magnitude"]}`. Does the rule matter more at ζ = 0.3 than at ζ = 0.02? What does the
#    summary's gain compare now?
# 3. Run the FAST study on another data set: `lung_small` (73 samples, 7 classes) or
#    `TOX-171` (171 × 5748, 4 classes). How wide are the intervals over the runs with a test
#    set of a few dozen samples, and how does the update's share change with so few samples?
# 4. Compute the gain by hand from `results.csv` with the `csv` module (or pandas): the mean
#    `seconds_total` per ζ and $1 - t_0 / t_{0.3}$. Then the same with `seconds_topology` in
#    place of `seconds_total` in the numerator's difference. Rerun the sweep into a second
#    directory: which of the two numbers is stable?
# 5. Time `set_step` at ζ = 0, 0.01 and 0.3 on layers of 1000, 3000 and 10 000 neurons per
#    side (ε = 20), and the training of an epoch from section 1 on 320 and 960 samples. How
#    does the update's share of an epoch scale with the width, and with the number of samples?
# 6. Run `experiments/cavallaro2020.toml` for COIL20 only (edit `datasets`) with `--jobs 2`
#    and compare your Table 3 and gain with the paper's and with `experiments/cavallaro2020.md`.
