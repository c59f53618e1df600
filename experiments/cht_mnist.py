#!/usr/bin/env python
"""CHT versus SET on MNIST 784-784-784-784-10 at 99 % sparsity (ALGORITHMS §5.5).

Three sparse layers (CSTI for CHT; Erdős–Rényi at the same density, ε = 3.92, for SET), a
dense output layer, SWI weights, batch 32, SGD momentum 0.9, weight decay 1e-5, learning rate
0.01 decaying linearly to 1 % over 90 % of the epochs, ζ = 0.3, topology update every epoch.
Writes one history per run and a summary (final and best accuracy, AAE, ANP) as JSON.

Usage::

    python experiments/cht_mnist.py --epochs 100 --seeds 0,1,2 --out experiments/results/cht_mnist
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import refset
from refset.estimator.history import write_history_json

DENSITY = 0.01


def run(method, seed, epochs, data, out_dir):
    n = 784
    common = dict(epochs=epochs, batch_size=32, learning_rate=0.01, momentum=0.9,
                  weight_decay=1e-5, weight_init="swi", dense_output=True, lr_schedule="linear",
                  update_interval=1, zeta=0.3, seed=seed, verbose=1)
    if method == "cht":
        model = refset.SparseMLP((n, n, n), method="cht",
                                 method_options={"sparsity": 1 - DENSITY}, **common)
    else:   # ER at the same expected density: eps (n + n) / n^2 = 0.01
        model = refset.SparseMLP((n, n, n), method="set", epsilon=DENSITY * n / 2, **common)
    t0 = time.perf_counter()
    model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test))
    seconds = time.perf_counter() - t0
    path = os.path.join(out_dir, f"{method}-seed{seed}.json")
    write_history_json(model.history_, path, method=method, seed=seed, seconds=seconds)
    acc = [r["test_accuracy"] for r in model.history_]
    last = model.history_[-1]
    return {"method": method, "seed": seed, "epochs": epochs, "final_accuracy": acc[-1],
            "best_accuracy": max(acc), "aae": last["aae"], "aae_mean": last["aae_mean"],
            "anp": last["anp"], "active_neurons": last["active_neurons"],
            "nnz": last["nnz"], "seconds": seconds}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--methods", default="cht,set")
    p.add_argument("--data-dir", default=None, help="default: $REFSET_DATA")
    p.add_argument("--out", default="experiments/results/cht_mnist")
    args = p.parse_args(argv)
    data = refset.load_dataset("MNIST", args.data_dir, seed=0)
    os.makedirs(args.out, exist_ok=True)
    summary = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for method in args.methods.split(","):
            summary.append(run(method, seed, args.epochs, data, args.out))
            print(json.dumps(summary[-1]), flush=True)
            with open(os.path.join(args.out, "summary.json"), "w") as f:
                json.dump(summary, f, indent=1)
    for method in args.methods.split(","):
        rows = [s for s in summary if s["method"] == method]
        for key in ("final_accuracy", "best_accuracy", "aae", "anp"):
            v = np.array([r[key] for r in rows])
            print(f"{method:>4} {key:<15} mean {v.mean():.4f}  std {v.std(ddof=1) if v.size > 1 else 0:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
