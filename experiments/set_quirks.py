#!/usr/bin/env python
"""Each quirk of the original SET code measured alone (refset's fidelity, ALGORITHMS §7).

The reference configuration of the original code (3 × 3000 hidden, ε = 20, ζ = 0.3, B = 2,
η = 0.01, μ = 0.9, λ = 2e-4 in the original weight-decay style, MSE + sigmoid, N(0, 0.1²)
weights) on COIL20 (refset's stratified 2/3 : 1/3 split, seed 0): the papers' mode, then the
papers' mode plus one quirk, then every quirk (``fidelity="authors"``), each for a few epochs
and several seeds.  Prints and writes a table of test accuracy after epoch 1 and the last
epoch (median, min, max over seeds), links trained and links removed at the first update
(``results.json`` also holds every curve and the seconds per epoch, which are not a benchmark
when other jobs share the machine).  ``decay_not_scaled`` is the reference configuration's own weight-decay style, so it is
on in every row.

Usage::

    python experiments/set_quirks.py --epochs 5 --seeds 0,1,2 --out experiments/set_quirks
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import refset
from refset.fidelity import AUTHORS

REFERENCE = dict(hidden_layer_sizes=(3000, 3000, 3000), epsilon=20, zeta=0.3, batch_size=2,
                 learning_rate=0.01, momentum=0.9, weight_decay=2e-4,
                 weight_decay_style="original", loss="mse", weight_init="normal")


def run(fidelity, seed, epochs, data):
    model = refset.SparseMLP(**REFERENCE, epochs=epochs, seed=seed, fidelity=fidelity)
    t0 = time.perf_counter()
    model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test))
    seconds = time.perf_counter() - t0
    h = model.history_
    return {"fidelity": fidelity, "seed": seed, "epochs": epochs,
            "test_accuracy": [r["test_accuracy"] for r in h],
            "train_loss": [r["train_loss"] for r in h],
            "nnz": h[0]["nnz"], "removed_first_update": h[0]["removed"],
            "seconds_per_epoch": seconds / epochs}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--data-dir", default=None, help="default: $REFSET_DATA")
    p.add_argument("--out", default="experiments/set_quirks")
    p.add_argument("--summarize", action="store_true",
                   help="only rewrite table.md from OUT/results.json")
    args = p.parse_args(argv)
    variants = [("paper", "paper")] + [(q, [q]) for q in AUTHORS["set"] if q != "decay_not_scaled"]
    variants.append(("authors", "authors"))
    if args.summarize:
        with open(os.path.join(args.out, "results.json")) as f:
            summarize(json.load(f), variants, args.out)
        return 0
    data = refset.load_dataset("COIL20", args.data_dir, seed=0)
    os.makedirs(args.out, exist_ok=True)
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name, fidelity in variants:          # interleaved: every variant per seed
            r = run(fidelity, seed, args.epochs, data)
            r["variant"] = name
            results.append(r)
            print(f"{name:<24} seed {seed}  test acc {r['test_accuracy'][0]:.3f} -> "
                  f"{r['test_accuracy'][-1]:.3f}  links {sum(r['nnz'])}  "
                  f"{r['seconds_per_epoch']:.2f} s/epoch", flush=True)
            with open(os.path.join(args.out, "results.json"), "w") as f:
                json.dump(results, f, indent=1)
    summarize(results, variants, args.out)
    return 0


def summarize(results, variants, out):
    """Write ``out/table.md``: per variant, the median (min–max) over seeds."""
    epochs = results[0]["epochs"]
    seeds = sorted({r["seed"] for r in results})
    lines = [f"| variant | test acc. epoch 1 | test acc. epoch {epochs} | links trained | "
             "links removed at the 1st update |", "|---|---|---|---|---|"]
    for name, _ in variants:
        rows = [r for r in results if r["variant"] == name]
        first = np.array([r["test_accuracy"][0] for r in rows])
        last = np.array([r["test_accuracy"][-1] for r in rows])
        lines.append(
            f"| {name} | {np.median(first):.3f} ({first.min():.3f}–{first.max():.3f}) | "
            f"{np.median(last):.3f} ({last.min():.3f}–{last.max():.3f}) | "
            f"{int(np.median([sum(r['nnz']) for r in rows])):,} | "
            f"{int(np.median([sum(r['removed_first_update']) for r in rows])):,} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out, "table.md"), "w") as f:   # pasted into set_quirks.md
        f.write(f"COIL20 (refset's stratified split, seed 0), reference configuration of the "
                f"original SET code, seeds {','.join(map(str, seeds))}, {epochs} epochs; median "
                f"(min–max) over seeds. Written by `python experiments/set_quirks.py "
                f"--epochs {epochs} --seeds {','.join(map(str, seeds))}`.\n\n{table}\n")


if __name__ == "__main__":
    sys.exit(main())
