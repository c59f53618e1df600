"""What the reproducible build costs: the training kernels with and without FMA contraction.

refset compiles its kernels with ``-ffp-contract=off`` so that a native (``-march=native``) and
a portable build give bit-identical runs (``setup.py``; ``tests/test_reproducible_build.py``).
This script builds the COO and CSR kernels twice with ``tools/build_kernels.py`` — as refset
builds them, and with ``REFSET_CFLAGS=-ffp-contract=fast`` (multiply-adds fused into FMA
instructions, the compilers' default for this code before) — loads both into one process and
times every kernel round-robin on the same inputs (``bench_common.median_times``), printing
each kernel's time in both builds and the ratio.  The CSR kernels are the ones training
calls (PERFORMANCE §2.7); the COO ones serve the column-ordered forward pass, the gradients
of the Sensitivity method and ``loss_and_gradients``.

    python benchmarks/bench_fp_contract.py [--repeats 7] [--quick]

Needs the source checkout, Cython and a C compiler (about half a minute of building).  One
thread.  A ratio above 1 is what the reproducibility costs.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench_common import cpu_summary, fmt, format_table, machine_description, median_times

REPO = Path(__file__).resolve().parent.parent
LAYERS = {  # name: (n_in, n_out, epsilon, batch)
    "3312 x 3000, B = 2": (3312, 3000, 20, 2),
    "3312 x 3000, B = 128": (3312, 3000, 20, 128),
}


def build(out, **env):
    """Build refset.kernels._coo_cy and _csr_cy into ``out`` and import them under private
    names; returns {kernel name: function}."""
    environ = dict(os.environ, REFSET_EXT_ONLY="refset.kernels._coo_cy,refset.kernels._csr_cy",
                   **env)
    subprocess.run([sys.executable, str(REPO / "tools" / "build_kernels.py"), str(out)],
                   env=environ, check=True, capture_output=True, text=True)
    kernels = {}
    for name in ("_coo_cy", "_csr_cy"):
        (path,) = (Path(out) / "refset" / "kernels").glob(f"{name}.*")
        spec = importlib.util.spec_from_file_location(f"bench_{Path(out).name}.{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        kernels.update({k: getattr(module, k) for k in dir(module) if k.startswith(("coo_",
                                                                                     "csr_"))})
    return kernels


def candidates(k, W, X, D, dtype):
    """The kernels on canonical links, one thread; the CSR ones as training calls them."""
    from refset.kernels.csr import csr_index

    rows, cols = W.rows, W.cols
    indptr, indices = csr_index(rows, cols, *W.shape)
    values = W.values.copy()
    n_in, n_out = W.shape
    B = X.shape[1]
    fwd, bwd = np.empty((n_out, B), dtype), np.empty((n_in, B), dtype)
    grad, velocity = np.empty(values.size, dtype), np.zeros(values.size, dtype)
    return {
        "csr forward": lambda: k["csr_forward"](X, indptr, indices, values, fwd, 1),
        "csr fused backward + update": lambda: k["csr_backward_update"](
            X, D, indptr, indices, values, velocity, bwd, 1e-9, 0.9, 1e-9, True, 1),
        "coo forward": lambda: k["coo_forward"](X, rows, cols, values, fwd, 1),
        "coo backward": lambda: k["coo_backward"](D, rows, cols, values, bwd, 1),
        "coo gradient": lambda: k["coo_gradient"](X, D, rows, cols, grad, 1),
        "coo fused backward + update": lambda: k["coo_backward_update"](
            X, D, rows, cols, values, velocity, bwd, 1e-9, 0.9, 1e-9, True, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="samples per kernel and build")
    parser.add_argument("--quick", action="store_true", help="3 samples")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    import refset

    machine = machine_description()
    print(f"{cpu_summary(machine['cpu'], machine['cores'])}; load average "
          f"{machine['load_average_start'][0]:.1f}; numpy {machine['numpy']}")
    with tempfile.TemporaryDirectory() as tmp:
        builds = {"refset (no contraction)": build(Path(tmp) / "off"),
                  "FMA contraction": build(Path(tmp) / "fast",
                                           REFSET_CFLAGS="-ffp-contract=fast")}
        rows = []
        for dtype in ("float32", "float64"):
            for name, (n_in, n_out, epsilon, batch) in LAYERS.items():
                rng = np.random.default_rng(0)
                W = refset.erdos_renyi_layer(n_in, n_out, epsilon, rng, dtype=np.dtype(dtype))
                X = rng.standard_normal((n_in, batch)).astype(dtype)
                X[X < 0] = 0                          # as after a ReLU
                D = rng.standard_normal((n_out, batch)).astype(dtype)
                per_build = {b: candidates(m, W, X, D, dtype) for b, m in builds.items()}
                for kernel in per_build["refset (no contraction)"]:
                    times = median_times({b: c[kernel] for b, c in per_build.items()}, repeats)
                    off = times["refset (no contraction)"]["median"]
                    fast = times["FMA contraction"]["median"]
                    rows.append([f"{kernel}, {name}, {dtype}", fmt(off * 1e3), fmt(fast * 1e3),
                                 f"{off / fast:.2f}"])
    print(format_table("Kernels: refset's reproducible build against FMA contraction "
                       f"(one thread, medians of {repeats} interleaved samples)",
                       ["kernel, layer", "no contraction ms", "contraction ms", "ratio"], rows,
                       notes=["ratio = no contraction / contraction: above 1 is the cost of "
                              "bit-identical native and portable builds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
