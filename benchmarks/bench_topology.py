"""Section 3: network construction and the SET topology update.

- build: ``SparseMLP._initialize`` of the reference network (Erdős–Rényi layers, biases,
  velocities), median over fresh generators.
- SET step: :func:`refset.set_step` (ζ = 0.3, sign-split pruning, regrowth among free
  positions) on every layer of the built network, median per layer; the 3312 × 3000
  layer has the 126,240 links of PERFORMANCE §5's target.
"""
import time
import warnings

import numpy as np

from bench_common import median_times

__all__ = ["run_topology"]


def run_topology(cfg, log):
    """Records ``{"kind": "build" | "set_step", ...}`` for the configured network."""
    import refset

    n_features, hidden, n_classes = cfg["n_features"], tuple(cfg["hidden"]), cfg["n_classes"]
    epsilon, zeta, dtype = cfg["epsilon"], cfg["zeta"], cfg["dtype"]
    sizes = [n_features, *hidden, n_classes]
    records = []
    times, model = [], None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="epsilon=.*makes the")  # dense 3000 x 5
        for r in range(cfg["build_repeats"]):
            model = refset.SparseMLP(hidden, epsilon=epsilon, dtype=dtype)
            rng = np.random.default_rng(cfg["seed"] + r)
            t0 = time.perf_counter()
            model._initialize(n_features, n_classes, rng)
            times.append(time.perf_counter() - t0)
    build = {
        "kind": "build", "layers": sizes, "epsilon": epsilon, "dtype": dtype,
        "nnz": [int(W.nnz) for W in model.layers_],
        "seconds_median": float(np.median(times)), "seconds_min": min(times),
        "repeats": len(times),
    }
    records.append(build)
    log(f"  topology build {'-'.join(map(str, sizes))}: {build['seconds_median'] * 1e3:.1f} ms")
    rng = np.random.default_rng(cfg["seed"] + 1000)
    for l, W in enumerate(model.layers_):
        stats = median_times({"set_step": lambda W=W: refset.set_step(W, zeta, rng)},
                             cfg["step_repeats"], min_sample=0.0)["set_step"]
        records.append({
            "kind": "set_step", "layer": l, "n_in": W.shape[0], "n_out": W.shape[1],
            "nnz": int(W.nnz), "density": W.nnz / (W.shape[0] * W.shape[1]), "zeta": zeta,
            "dtype": dtype, "seconds_median": stats["median"], "seconds_min": stats["min"],
            "repeats": stats["repeats"],
        })
        log(f"  set_step layer {l} {W.shape[0]}x{W.shape[1]} ({W.nnz} links): "
            f"{stats['median'] * 1e3:.2f} ms")
    return records
