#!/usr/bin/env python
"""Naji et al.'s convergence claim: Path-Weight and Sensitivity against SET and dense.

Naji, Abtahi and Marvasti (arXiv 2103.07674, Fig. 1) report that a 90 %-sparse MLP trained
with Path-Weight or Sensitivity reaches a given accuracy in far fewer epochs than SET or the
dense network.  This script trains the four on one dataset (MNIST / Fashion-MNIST here; the
paper's CIFAR-10 is not available) with identical settings and several seeds, writes one JSON
history per run, a summary (JSON, CSV and Markdown) and a figure of test accuracy per epoch
(mean over seeds, min-max band).  experiments/naji.md reports the runs.

Methods (``--methods``):

- ``set``, ``sensitivity``, ``path-weight`` (static λ, ζ, δ), ``path-weight-tv`` (the
  time-varying schedule, eqs. 7-9): ``refset.SparseMLP``, one ε for every layer;
- ``dense``: a minimal numpy dense MLP (BLAS matmuls) with refset's optimizer and loss (SGD with
  momentum, coupled weight decay on weights only, softmax cross-entropy averaged over the batch,
  inverted dropout on hidden activations, per-epoch shuffle, last partial batch kept) and
  He-uniform weights (N(0, 0.1²), refset's sparse default, diverges when dense: fan-in 784-1000).
  refset's COO kernels would have to process every one of the dense links (2.79 M against the
  sparse nets' 0.30 M at width 1000) without BLAS, hence this twin.

Usage::

    python experiments/naji.py --dataset fashion-mnist --seeds 0,1,2 --epochs 30 \\
        --hidden 1000,1000,1000 --train-subset 20000 --out experiments/naji/fashion-mnist

Runs whose JSON already exists are skipped (the script can be interrupted and rerun).
"""
import argparse
import csv
import json
import math
import os
import sys
import time
import warnings

import numpy as np

import refset
from refset.estimator.history import write_history_json

SPARSE = {
    "set": ("set", {}),
    "sensitivity": ("sensitivity", {}),
    "path-weight": ("path-weight", {}),
    "path-weight-tv": ("path-weight", {"time_varying": True}),
}
COLORS = {"dense": "k", "set": "tab:blue", "sensitivity": "tab:green",
          "path-weight": "tab:orange", "path-weight-tv": "tab:red"}


# ---------------------------------------------------------------------------------------------
# dense baseline

def train_dense(X, y, Xt, yt, hidden, *, epochs, batch_size, lr, momentum, weight_decay,
                dropout, seed):
    """Dense ReLU MLP with refset's optimizer; returns a refset-like history (list of dict)."""
    rng = np.random.default_rng(seed)
    n_classes = int(max(y.max(), yt.max())) + 1
    sizes = [X.shape[1], *hidden, n_classes]
    Ws = [rng.uniform(-1, 1, (a, b)) * math.sqrt(6.0 / a) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b) for b in sizes[1:]]
    vW = [np.zeros_like(W) for W in Ws]
    vb = [np.zeros_like(b) for b in bs]
    L = len(Ws)

    def forward(A, train):
        acts, masks = [A], []
        for l in range(L):
            Z = acts[-1] @ Ws[l] + bs[l]
            if l < L - 1:
                np.maximum(Z, 0, out=Z)
                if train and dropout > 0:
                    m = (rng.random(Z.shape) < 1 - dropout) / (1 - dropout)
                    Z *= m
                    masks.append(m)
                else:
                    masks.append(None)
            else:
                Z -= Z.max(axis=1, keepdims=True)
                np.exp(Z, out=Z)
                Z /= Z.sum(axis=1, keepdims=True)
            acts.append(Z)
        return acts, masks

    def evaluate(Xe, ye):
        loss, correct = 0.0, 0
        for s in range(0, Xe.shape[0], 1000):
            P = forward(Xe[s:s + 1000], False)[0][-1]
            yy = ye[s:s + 1000]
            loss -= np.log(np.maximum(P[np.arange(yy.size), yy], np.finfo(float).tiny)).sum()
            correct += int(np.count_nonzero(P.argmax(1) == yy))
        return loss / Xe.shape[0], correct / Xe.shape[0]

    history = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(X.shape[0])
        loss_sum, correct = 0.0, 0
        for s in range(0, X.shape[0], batch_size):
            idx = order[s:s + batch_size]
            B = idx.size
            acts, masks = forward(X[idx], True)
            P, yy = acts[-1], y[idx]
            loss_sum -= np.log(np.maximum(P[np.arange(B), yy], np.finfo(float).tiny)).sum()
            correct += int(np.count_nonzero(P.argmax(1) == yy))
            D = P.copy()
            D[np.arange(B), yy] -= 1
            D /= B
            for l in range(L - 1, -1, -1):
                gW = acts[l].T @ D
                gb = D.sum(0)
                if l > 0:
                    Dp = D @ Ws[l].T
                    Dp *= acts[l] > 0
                    if masks[l - 1] is not None:
                        Dp *= masks[l - 1]
                vW[l] *= momentum
                vW[l] -= lr * (gW + weight_decay * Ws[l])
                Ws[l] += vW[l]
                vb[l] *= momentum
                vb[l] -= lr * gb
                bs[l] += vb[l]
                if l > 0:
                    D = Dp
        t1 = time.perf_counter()
        test_loss, test_acc = evaluate(Xt, yt)
        t2 = time.perf_counter()
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / X.shape[0],
                        "train_accuracy": correct / X.shape[0], "test_loss": test_loss,
                        "test_accuracy": test_acc, "seconds_train": t1 - t0,
                        "seconds_eval": t2 - t1, "seconds_topology": 0.0,
                        "nnz": [W.size for W in Ws], "learning_rate": lr})
        print(f"  dense epoch {epoch + 1:3d}  test acc {test_acc:.4f}  "
              f"({t1 - t0:.1f}s train, {t2 - t1:.1f}s eval)", flush=True)
    return history


# ---------------------------------------------------------------------------------------------
# summary

def epochs_to_reach(acc, target):
    """First epoch (1-based) whose test accuracy is >= target, or None."""
    hit = np.flatnonzero(np.asarray(acc) >= target)
    return int(hit[0]) + 1 if hit.size else None


def summarise(runs, methods, seeds, reference="set"):
    """Per-method rows: final/best accuracy, epochs to the reference's final accuracy, times."""
    ref_final = {s: runs[(reference, s)]["acc"][-1] for s in seeds if (reference, s) in runs}
    ref_mean = float(np.mean(list(ref_final.values()))) if ref_final else None
    rows = []
    for m in methods:
        rs = [(s, runs[(m, s)]) for s in seeds if (m, s) in runs]
        if not rs:
            continue
        final = np.array([r["acc"][-1] for _, r in rs])
        best = np.array([max(r["acc"]) for _, r in rs])
        reach = [epochs_to_reach(r["acc"], ref_final[s]) if s in ref_final else None
                 for s, r in rs]
        reach_mean = [epochs_to_reach(r["acc"], ref_mean) for _, r in rs] if ref_mean else []
        got = [e for e in reach if e is not None]
        per_epoch = {k: float(np.mean([np.mean([h[k] for h in r["history"]]) for _, r in rs]))
                     for k in ("seconds_train", "seconds_eval", "seconds_topology")}
        rows.append({
            "method": m, "n": len(rs), "seeds": [s for s, _ in rs],
            "final_mean": float(final.mean()),
            "final_std": float(final.std(ddof=1)) if final.size > 1 else 0.0,
            "final_per_seed": final.tolist(),
            "best": float(best.max()), "best_mean": float(best.mean()),
            "reach_set_final_per_seed": reach,
            "reach_set_final_mean": float(np.mean(got)) if got else None,
            "reach_set_final_n_reached": len(got),
            "reach_set_mean_final_per_seed": reach_mean,
            **{f"{k}_per_epoch": v for k, v in per_epoch.items()},
            "densities": rs[0][1].get("densities"),
        })
    return rows, ref_final


def fmt_reach(v):
    return "never" if v is None else str(v)


def markdown_table(rows, n_epochs):
    out = ["| method | n | final test acc % (mean ± std) | best % | epochs to reach SET's final "
           "acc (per seed; mean) | s/epoch train / eval / topology |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        per = ", ".join(fmt_reach(e) for e in r["reach_set_final_per_seed"])
        mean = "—" if r["reach_set_final_mean"] is None else f"{r['reach_set_final_mean']:.1f}"
        if r["reach_set_final_n_reached"] < r["n"] and r["reach_set_final_n_reached"] > 0:
            mean += f" (of {r['reach_set_final_n_reached']} seeds that reached it)"
        out.append(f"| {r['method']} | {r['n']} | {100 * r['final_mean']:.2f} ± "
                   f"{100 * r['final_std']:.2f} | {100 * r['best']:.2f} | {per}; {mean} | "
                   f"{r['seconds_train_per_epoch']:.2f} / {r['seconds_eval_per_epoch']:.2f} / "
                   f"{r['seconds_topology_per_epoch']:.3f} |")
    return "\n".join(out)


def plot(runs, methods, seeds, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for m in methods:
        accs = [runs[(m, s)]["acc"] for s in seeds if (m, s) in runs]
        if not accs:
            continue
        n = min(len(a) for a in accs)
        A = 100 * np.array([a[:n] for a in accs])
        ep = np.arange(1, n + 1)
        for ax, Y in zip(axes, (A, np.maximum.accumulate(A, axis=1))):
            ax.plot(ep, Y.mean(0), color=COLORS.get(m), label=f"{m} (n={len(accs)})", lw=1.5)
            ax.fill_between(ep, Y.min(0), Y.max(0), color=COLORS.get(m), alpha=0.2, lw=0)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("best test accuracy so far (%)")
    axes[0].set_title(title + "\nmean over seeds, band: min-max", fontsize=10)
    axes[1].set_title("running maximum of each run's test accuracy\n(mean, band: min-max)",
                      fontsize=10)
    axes[1].set_ylim(*axes[0].get_ylim())
    axes[0].legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir", default=os.environ.get("REFSET_DATA"),
                   help="default: $REFSET_DATA")
    p.add_argument("--methods", default="dense,set,sensitivity,path-weight-tv")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", default="1000,1000,1000")
    p.add_argument("--train-subset", type=int, default=0,
                   help="train on this many training samples (a fixed seeded random subset, "
                        "the same for every run); 0: all")
    p.add_argument("--epsilon", type=float, default=None,
                   help="default: 0.1 n n / (n + n) for the first hidden-to-hidden layer "
                        "(ER density 10 %% there)")
    p.add_argument("--zeta", type=float, default=0.3)
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--delta", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=2e-4)
    p.add_argument("--dense-dropout", type=float, default=0.3)
    p.add_argument("--out", default="experiments/naji/fashion-mnist")
    p.add_argument("--plot-only", action="store_true", help="summarise existing runs only")
    args = p.parse_args(argv)

    hidden = tuple(int(h) for h in args.hidden.split(","))
    methods = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    for m in methods:
        if m != "dense" and m not in SPARSE:
            p.error(f"unknown method {m!r}")
    if args.epsilon is None:
        a, b = (hidden[0], hidden[1]) if len(hidden) > 1 else (784, hidden[0])
        args.epsilon = 0.1 * a * b / (a + b)
    os.makedirs(args.out, exist_ok=True)

    runs = {}
    if not args.plot_only:
        t0 = time.perf_counter()
        data = refset.load_dataset(args.dataset, args.data_dir, seed=0)
        X, y = data.X_train, data.y_train
        if args.train_subset:
            sub = np.sort(np.random.default_rng(12345).permutation(X.shape[0])[:args.train_subset])
            X, y = X[sub], y[sub]
        Xt, yt = data.X_test, data.y_test
        print(f"{args.dataset}: {X.shape[0]} train / {Xt.shape[0]} test, {X.shape[1]} features "
              f"(loaded in {time.perf_counter() - t0:.1f}s); hidden {hidden}, "
              f"eps {args.epsilon:g}", flush=True)
    for seed in seeds:
        for m in methods:
            path = os.path.join(args.out, f"{m}-seed{seed}.json")
            if not os.path.exists(path):
                if args.plot_only:
                    continue
                print(f"[{m} seed {seed}]", flush=True)
                t0 = time.perf_counter()
                if m == "dense":
                    classes = np.unique(y)
                    hist = train_dense(X, np.searchsorted(classes, y), Xt,
                                       np.searchsorted(classes, yt), hidden, epochs=args.epochs,
                                       batch_size=args.batch_size, lr=args.lr,
                                       momentum=args.momentum, weight_decay=args.weight_decay,
                                       dropout=args.dense_dropout, seed=seed)
                    sizes = [X.shape[1], *hidden, len(classes)]
                    extra = {"densities": [1.0] * (len(sizes) - 1),
                             "nnz": [a * b for a, b in zip(sizes[:-1], sizes[1:])],
                             "implementation": "numpy dense (experiments/naji.py)",
                             "weight_init": "he_uniform", "dropout": args.dense_dropout}
                else:
                    method, options = SPARSE[m]
                    if method == "path-weight":
                        options = dict(options, lam=args.lam, delta=args.delta)
                    model = refset.SparseMLP(
                        hidden, epsilon=args.epsilon, zeta=args.zeta, epochs=args.epochs,
                        batch_size=args.batch_size, learning_rate=args.lr,
                        momentum=args.momentum, weight_decay=args.weight_decay, method=method,
                        method_options=options or None, seed=seed, verbose=1)
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message=r"epsilon=.* makes the")
                        model.fit(X, y, validation_data=(Xt, yt))
                    hist = model.history_
                    extra = {"densities": [W.nnz / (W.shape[0] * W.shape[1])
                                           for W in model.layers_],
                             "nnz": [W.nnz for W in model.layers_],
                             "implementation": f"refset {refset.__version__} "
                                               f"({refset.get_backend()} kernels)",
                             "method_options": options}
                seconds = time.perf_counter() - t0
                write_history_json(hist, path, method=m, seed=seed, seconds=seconds,
                                   settings=vars(args), **extra)
                print(f"  -> {path}  final {hist[-1]['test_accuracy']:.4f}  {seconds:.0f}s",
                      flush=True)
            with open(path) as f:
                doc = json.load(f)
            runs[(m, seed)] = {"history": doc["history"],
                               "acc": [h["test_accuracy"] for h in doc["history"]],
                               "densities": doc.get("densities")}

    rows, ref_final = summarise(runs, methods, seeds)
    table = markdown_table(rows, args.epochs)
    print("\n" + table)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"settings": vars(args), "set_final_per_seed": ref_final, "methods": rows},
                  f, indent=1, default=str)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out, "curves.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "seed", "epoch", "test_accuracy", "seconds_train", "seconds_eval",
                    "seconds_topology"])
        for (m, s), r in sorted(runs.items()):
            for h in r["history"]:
                w.writerow([m, s, h["epoch"], h["test_accuracy"], h["seconds_train"],
                            h["seconds_eval"], h["seconds_topology"]])
    if runs:
        n_tr = f", {args.train_subset} training samples" if args.train_subset else ""
        plot(runs, methods, seeds, os.path.join(args.out, "accuracy.png"),
             f"{args.dataset}, 784-{'-'.join(map(str, hidden))}-10, ε={args.epsilon:g}{n_tr}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
