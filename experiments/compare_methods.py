#!/usr/bin/env python
"""SET, Path-Weight and Sensitivity on one dataset with identical settings, several seeds.

Each run's history is written as JSON; the summary (final and best test accuracy, AAE,
seconds split into train / evaluation / topology) is printed per method as mean ± std.

Usage::

    python experiments/compare_methods.py --dataset COIL20 --epochs 30 --seeds 0,1,2 \\
        --out experiments/results/compare_coil20
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import refset
from refset.estimator.history import write_history_json

METHODS = {
    "set": ("set", {}),
    "path-weight": ("path-weight", {}),
    "path-weight-tv": ("path-weight", {"time_varying": True}),
    "sensitivity": ("sensitivity", {}),
    "sensitivity-rel": ("sensitivity", {"form": "relative"}),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="COIL20")
    p.add_argument("--data-dir", default=None, help="default: $REFSET_DATA")
    p.add_argument("--methods", default="set,path-weight,path-weight-tv,sensitivity")
    p.add_argument("--hidden", default="1000,1000,1000")
    p.add_argument("--epsilon", type=float, default=20.0)
    p.add_argument("--zeta", type=float, default=0.3)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default="experiments/results/compare")
    args = p.parse_args(argv)
    data = refset.load_dataset(args.dataset, args.data_dir, seed=0)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    os.makedirs(args.out, exist_ok=True)
    summary = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for label in args.methods.split(","):
            method, options = METHODS[label]
            model = refset.SparseMLP(hidden, epsilon=args.epsilon, zeta=args.zeta,
                                     epochs=args.epochs, batch_size=args.batch_size,
                                     learning_rate=args.lr, method=method,
                                     method_options=options or None, seed=seed)
            t0 = time.perf_counter()
            model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test))
            seconds = time.perf_counter() - t0
            write_history_json(model.history_, os.path.join(args.out, f"{label}-seed{seed}.json"),
                               method=label, seed=seed, seconds=seconds)
            h = model.history_
            acc = [r["test_accuracy"] for r in h]
            row = {"method": label, "seed": seed, "final_accuracy": acc[-1],
                   "best_accuracy": max(acc), "aae": h[-1]["aae"], "seconds": seconds,
                   **{k: sum(r[k] for r in h) for k in
                      ("seconds_train", "seconds_eval", "seconds_topology")}}
            summary.append(row)
            print(json.dumps(row), flush=True)
            with open(os.path.join(args.out, "summary.json"), "w") as f:
                json.dump({"settings": vars(args), "runs": summary}, f, indent=1)
    print(f"\n{args.dataset}, hidden {hidden}, eps {args.epsilon}, zeta {args.zeta}, "
          f"{args.epochs} epochs, B {args.batch_size}, lr {args.lr}")
    for label in args.methods.split(","):
        rows = [s for s in summary if s["method"] == label]
        cells = []
        for key in ("final_accuracy", "best_accuracy", "aae", "seconds_topology", "seconds"):
            v = np.array([r[key] for r in rows])
            sd = v.std(ddof=1) if v.size > 1 else 0.0
            cells.append(f"{key} {v.mean():.4f} ± {sd:.4f}")
        print(f"{label:>16}  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
