#!/usr/bin/env python
"""CH3-L3 link prediction and the ESML step (PERFORMANCE §5: 784 × 1568 at 1 % in ≤ 0.4 s).

Usage::

    python benchmarks/bench_ch3.py [--quick | --tiny] [--json OUT]

Layer: 784 inputs × 1568 outputs at 1 % density (12,293 links drawn uniformly without
replacement, the G(n, M) model), the first sparse layer of CHT's 2× MNIST network.  ``k`` is
30 % of the links (what one ESML step regrows at ζ = 0.3).  Timed round-robin
(``bench_common.median_times``), medians, one thread:

- ``top_k``: :func:`refset.algorithms.ch3_l3.ch3_l3_top_k`, scores *and* selection (what ESML
  calls); the compiled kernel (``cython``) and its numpy twin (``numpy twin``).  This is the
  PERFORMANCE §5 target.
- ``scores``: :func:`refset.algorithms.ch3_l3.ch3_l3_scores`, every candidate's score.
- ``scores + sort``: the scores followed by a full lexsort (what a selection without the
  streaming heap costs).
- ``naive``: :func:`refset.algorithms.ch3_l3.ch3_l3_reference` (paths and local communities
  enumerated in Python, from the definition).  Far too slow for the full layer: it is timed on
  a smaller layer (``naive_layer``) together with the compiled kernel on that same layer, so
  the ratio is measured, not extrapolated.
- ``esml_step``: one full ESML update (prune, percolate, CH3-L3 regrowth) of the three sparse
  layers 784-1568-1568-1568 at 1 % (CHT 2×), compiled kernels.

Every record carries the same-run ratio against the numpy twin (``vs_twin``) and, for the
target row, ``target_seconds`` and ``met``.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_common import format_table, machine_description, median_times  # noqa: E402

__all__ = ["run_ch3", "ch3_settings", "ch3_table"]

TARGET_SECONDS = 0.4


def ch3_settings(mode):
    """Sizes and repeats of a mode ('tiny', 'quick' or 'full')."""
    if mode not in ("tiny", "quick", "full"):
        raise ValueError(f"mode must be 'tiny', 'quick' or 'full', got {mode!r}")
    tiny = mode == "tiny"
    return {
        "layer": (200, 400) if tiny else (784, 1568),
        "density": 0.02 if tiny else 0.01,
        "k_fraction": 0.3,
        "naive_layer": (30, 60) if tiny else (60, 120),
        "naive_density": 0.1 if tiny else 0.05,
        "esml_widths": (50, 100, 100, 100) if tiny else (784, 1568, 1568, 1568),
        "repeats": 3 if tiny else 7 if mode == "quick" else 21,
        "twin_repeats": 3 if tiny else 3 if mode == "quick" else 7,
        "seed": 0,
    }


def _layer(n_in, n_out, density, seed):
    from refset import CooMatrix

    rng = np.random.default_rng(seed)
    nnz = int(round(density * n_in * n_out))
    lin = np.sort(rng.choice(n_in * n_out, size=nnz, replace=False)).astype(np.int64)
    return CooMatrix.from_linear(lin, rng.standard_normal(nnz), (n_in, n_out))


def _record(op, W, impl, stats, **extra):
    return {"op": op, "n_in": W.shape[0], "n_out": W.shape[1], "nnz": int(W.nnz),
            "density": W.nnz / (W.shape[0] * W.shape[1]), "impl": impl,
            "seconds_median": stats["median"], "seconds_min": stats["min"],
            "seconds_max": stats["max"], "repeats": stats["repeats"], "loops": stats["loops"],
            **extra}


def run_ch3(mode="quick", log=print):
    """Time CH3-L3 and the ESML step; one record per (operation, implementation).

    Parameters
    ----------
    mode : {"tiny", "quick", "full"}
    log : callable
        Progress printer.

    Returns
    -------
    list of dict
    """
    import refset
    from refset.algorithms.ch3_l3 import ch3_l3_reference, ch3_l3_scores, ch3_l3_top_k
    from refset.algorithms.cht import esml_step

    cfg = ch3_settings(mode)
    tw = refset.get_kernels("numpy")
    try:
        cy = refset.get_kernels("cython")
    except ImportError:
        cy = None
        log("  ch3: compiled kernels not available; timing the numpy twin only")
    records = []

    W = _layer(*cfg["layer"], cfg["density"], cfg["seed"])
    k = int(cfg["k_fraction"] * W.nnz)
    reference_top = ch3_l3_top_k(W, k, kernels=tw)
    kern = {"numpy twin": tw} if cy is None else {"cython": cy, "numpy twin": tw}

    def scores_sorted(kn):
        lin, s = ch3_l3_scores(W, kernels=kn)
        return lin[np.lexsort((lin, -s))[:k]]

    for op, make in (("top_k", lambda kn: (lambda: ch3_l3_top_k(W, k, kernels=kn))),
                     ("scores", lambda kn: (lambda: ch3_l3_scores(W, kernels=kn))),
                     ("scores + sort", lambda kn: (lambda: scores_sorted(kn)))):
        cands = {name: make(kn) for name, kn in kern.items()}
        same = {name: (np.array_equal(fn(), reference_top) if op != "scores" else None)
                for name, fn in cands.items()}
        stats = {}
        for name, fn in cands.items():   # the twin is slow: fewer repeats, timed on its own
            reps = cfg["twin_repeats"] if name == "numpy twin" else cfg["repeats"]
            stats.update(median_times({name: fn}, reps, min_sample=0.0))
        t_twin = stats["numpy twin"]["median"]
        for name, s in stats.items():
            extra = {"k": k, "vs_twin": t_twin / s["median"], "same_as_twin": same[name]}
            if op == "top_k" and W.shape == (784, 1568):      # the layer of the target
                extra.update(target_seconds=TARGET_SECONDS,
                             met=s["median"] <= TARGET_SECONDS if name == "cython" else None)
            records.append(_record(op, W, name, s, **extra))
        log(f"  ch3 {op} {W.shape[0]}x{W.shape[1]} ({W.nnz} links, k={k}): "
            + ", ".join(f"{n} {s['median'] * 1e3:.1f} ms" for n, s in stats.items()))

    # the naive definition, on a layer small enough for it, beside the kernel on that layer
    V = _layer(*cfg["naive_layer"], cfg["naive_density"], cfg["seed"] + 1)
    cands = {"naive": lambda: ch3_l3_reference(V)}
    for name, kn in kern.items():
        cands[name] = lambda kn=kn: ch3_l3_scores(V, kernels=kn)
    dense = ch3_l3_reference(V)
    lin, sc = ch3_l3_scores(V, kernels=next(iter(kern.values())))
    got = np.zeros(V.shape[0] * V.shape[1])
    got[lin] = sc
    diff = float(np.max(np.abs(got.reshape(V.shape) - dense)))
    stats = median_times(cands, cfg["twin_repeats"], min_sample=0.0)
    for name, s in stats.items():
        records.append(_record("scores (naive layer)", V, name, s,
                               vs_naive=stats["naive"]["median"] / s["median"],
                               max_abs_diff_vs_naive=diff))
    log(f"  ch3 naive {V.shape[0]}x{V.shape[1]} ({V.nnz} links): "
        + ", ".join(f"{n} {s['median'] * 1e3:.2f} ms" for n, s in stats.items()))

    # one ESML step of the CHT 2x reference network (sparse layers only)
    widths = cfg["esml_widths"]
    layers = [_layer(a, b, cfg["density"], cfg["seed"] + 10 + l)
              for l, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]
    rng = np.random.default_rng(cfg["seed"])
    best = next(iter(kern))
    stats = median_times({best: lambda: esml_step(layers, rng, zeta=0.3, kernels=kern[best])},
                         cfg["twin_repeats"], min_sample=0.0)[best]
    records.append({"op": "esml_step", "widths": list(widths), "density": cfg["density"],
                    "nnz": [int(L.nnz) for L in layers], "impl": best,
                    "seconds_median": stats["median"], "seconds_min": stats["min"],
                    "seconds_max": stats["max"], "repeats": stats["repeats"], "loops": 1})
    log(f"  esml_step {'-'.join(map(str, widths))} at {cfg['density']:.0%}: "
        f"{stats['median'] * 1e3:.1f} ms ({best})")
    return records


def ch3_table(records):
    """The records as one plain-text table."""
    rows = []
    for r in records:
        shape = ("-".join(map(str, r["widths"])) if "widths" in r
                 else f"{r['n_in']}x{r['n_out']}")
        ratio = r.get("vs_twin", r.get("vs_naive"))
        rows.append([r["op"], shape, r["impl"], r["seconds_median"] * 1e3,
                     r["seconds_min"] * 1e3, ratio,
                     {True: "met", False: "MISSED"}.get(r.get("met"), "")])
    return format_table("CH3-L3 and ESML (one thread)",
                        ["op", "layer", "impl", "ms (median)", "ms (min)", "speed-up",
                         f"target {TARGET_SECONDS} s"], rows,
                        notes=["speed-up: numpy twin time / this time (on the naive layer: "
                               "naive time / this time)",
                               f"target: CH3-L3 scores + top-k on 784x1568 at 1 % <= "
                               f"{TARGET_SECONDS} s (PERFORMANCE §5), compiled kernel"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true")
    group.add_argument("--tiny", action="store_true")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    records = run_ch3(mode)
    print(ch3_table(records))
    if args.json:
        out = {"machine": machine_description(), "settings": {"mode": mode, **ch3_settings(mode)},
               "ch3": records}
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
