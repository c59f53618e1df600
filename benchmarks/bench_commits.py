#!/usr/bin/env python
"""The training pass of two versions of refset, side by side: an earlier commit against this
checkout.

    python benchmarks/bench_commits.py --before REV [--workloads coil20,mnist,wide] [--repeats 3]

Checks ``REV`` out into a temporary git worktree, builds its kernels there
(``setup.py build_ext --inplace``), then trains each workload alternately with that version
(``PYTHONPATH`` pointing at the worktree) and with the refset installed in this environment,
every run in a fresh process, ``--repeats`` times.  Per run the figure is the median training
time per epoch over the epochs after the first (the first warms up); printed are the median
over the runs, their spread, and the ratio before / after.  One thread; needs git, Cython
and a C compiler, and ``REFSET_DATA`` (or ``--data``) for COIL20 and MNIST.

Workloads:

- ``coil20``: the original SET configuration on COIL20 (3 x 3000, epsilon 20, B = 2,
  float64, MSE; 960 training images, 4 epochs);
- ``mnist``: 784-1000-1000-1000-10, B = 128, float32, cross-entropy, 10,000 MNIST images,
  3 epochs, times scaled to 60,000;
- ``wide``: 784-10000-10000-10000-10, the same settings on 1,024 images, scaled to 60,000.

The topology is not updated in ``mnist`` and ``wide`` (the training pass alone is compared).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

WORKER = r'''
import json, sys, warnings
import numpy as np, refset
from refset.datasets import load_dataset
warnings.simplefilter("ignore")
workload, data = sys.argv[1], sys.argv[2]
if workload == "coil20":
    ds = load_dataset("COIL20", data_dir=data)
    X, y, scale = ds.X_train, ds.y_train, 1.0
    kw = dict(hidden_layer_sizes=(3000,) * 3, epsilon=20, zeta=0.3, batch_size=2,
              learning_rate=0.01, momentum=0.9, weight_decay=2e-4,
              weight_decay_style="original", loss="mse", dtype="float64", epochs=4)
else:
    width, n = (1000, 10000) if workload == "mnist" else (10000, 1024)
    ds = load_dataset("mnist", data_dir=data)
    X, y, scale = ds.X_train[:n].astype(np.float32), ds.y_train[:n], 60000 / n
    kw = dict(hidden_layer_sizes=(width,) * 3, epsilon=20, batch_size=128, dtype="float32",
              loss="cross_entropy", weight_decay_style="coupled", epochs=3,
              update_interval=100)
model = refset.SparseMLP(seed=0, verbose=0, threads=1, **kw).fit(X, y)
print(json.dumps({"file": refset.__file__,
                  "seconds": [r["seconds_train"] * scale for r in model.history_[1:]],
                  "loss": model.history_[-1]["train_loss"]}))
'''


def build(rev, where):
    """A worktree of ``rev`` at ``where`` with its kernels built in place."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), rev],
                   check=True, capture_output=True, text=True)
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=where,
                   check=True, capture_output=True, text=True)


def run(workload, data, pythonpath=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    out = subprocess.run([sys.executable, "-c", WORKER, workload, data], env=env,
                         cwd=tempfile.gettempdir(), check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if pythonpath and not result["file"].startswith(str(pythonpath)):
        raise RuntimeError(f"the 'before' run imported {result['file']}")
    return statistics.median(result["seconds"]), result["loss"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, metavar="REV", help="the earlier commit")
    p.add_argument("--workloads", default="coil20,mnist,wide")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default=os.environ.get("REFSET_DATA"),
                   help="data directory (default $REFSET_DATA)")
    args = p.parse_args(argv)
    if not args.data:
        p.error("--data or REFSET_DATA is required")
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(workloads) - {"coil20", "mnist", "wide"}
    if unknown:
        p.error(f"--workloads: unknown {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp) / "before"
        print(f"building {args.before} in a temporary worktree ...", file=sys.stderr, flush=True)
        build(args.before, where)
        try:
            for w in workloads:
                times = {"before": [], "after": []}
                losses = {}
                for _ in range(args.repeats):
                    for label, path in (("before", where), ("after", None)):
                        seconds, losses[label] = run(w, args.data, path)
                        times[label].append(seconds)
                b, a = (statistics.median(times[k]) for k in ("before", "after"))
                print(f"{w}: before {b:.3f} s/epoch ({min(times['before']):.3f}-"
                      f"{max(times['before']):.3f}), after {a:.3f} ({min(times['after']):.3f}-"
                      f"{max(times['after']):.3f}), before/after {b / a:.2f}x; "
                      f"final training loss {losses['before']:.6g} / {losses['after']:.6g}",
                      flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(where)], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
