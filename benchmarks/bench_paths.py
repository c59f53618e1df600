#!/usr/bin/env python
"""Path-Weight importances: enumeration against the scalable identities, and the cost at scale.

Usage::

    python benchmarks/bench_paths.py [--quick | --tiny] [--json OUT]

Records (``run_paths(mode)`` returns them as a list of dicts, each with a ``kind``):

- ``enumeration``: on small Erdős–Rényi networks, the per-node importance N, per-link
  importance S and weakest path per link computed (a) from enumerated paths
  (``enumerate_paths`` with the path-product kernel, then ``np.bincount`` / ``np.minimum.at``
  over the paths) and (b) by the identities of ALGORITHMS §4.1 (``node_importance``,
  ``connection_importance``, ``weakest_path_through_links``); medians timed round-robin,
  ``speedup`` = enumeration / identities, and the largest relative disagreement of each
  quantity (``max_rel_diff_*``).
- ``path_products``: the compiled kernel against its numpy twin on every path of the largest
  small network (``speedup`` = twin / compiled).
- ``importances``: node + connection importance + weakest path per link on
  784-1000-1000-1000-10 at ε = 20 (float64), one thread, against PERFORMANCE §5's
  ≤ 50 ms; the parts (forward/backward sums, min-plus) are timed separately too.
- ``sample_paths``: 100,000 uniform paths on the same network, compiled ``segment_search``
  against the numpy twin.
- ``step``: one whole ``path_weight_step`` (sampled candidates, 100,000 path samples) and one
  ``sensitivity_step`` on the same network, for information (no target).

``--tiny`` shrinks everything (784-1000-... becomes 78-100-100-100-10); nothing is then
comparable with the target.  :func:`paths_target` turns the records into the target row of
``benchmarks/run.py``'s table.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):        # one thread, as everywhere
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_common import format_table, machine_description, median_times  # noqa: E402

__all__ = ["run_paths", "paths_table", "paths_target", "settings"]

TARGET_SECONDS = 0.050
MNIST_NET = [784, 1000, 1000, 1000, 10]


def settings(mode):
    """Sizes and repeat counts of a mode ('tiny', 'quick' or 'full')."""
    tiny, quick = mode == "tiny", mode == "quick"
    small = [([8, 10, 10, 3], 2.0), ([20, 40, 40, 5], 3.0)]
    if not tiny:
        small = [([20, 40, 40, 5], 3.0), ([50, 100, 100, 10], 5.0),
                 ([64, 128, 128, 128, 10], 3.0)]
    if not tiny and not quick:
        small += [([100, 300, 300, 10], 8.0)]
    return {
        "mode": mode, "seed": 0,
        "small": small,
        "large": ([78, 100, 100, 100, 10] if tiny else MNIST_NET, 20.0),
        "repeats": 3 if tiny else 7 if quick else 21,
        "step_repeats": 3 if tiny else 5 if quick else 9,
        "n_path_samples": 2_000 if tiny else 100_000,
    }


def _network(sizes, epsilon, seed):
    import refset

    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="epsilon=.*makes the")
        return [refset.erdos_renyi_layer(a, b, epsilon, rng) for a, b in zip(sizes[:-1], sizes[1:])]


def _scales(n_layers, seed):
    return np.random.default_rng(seed + 17).uniform(0.5, 20.0, n_layers)


def _max_rel(a_list, b_list, log=False):
    worst = 0.0
    for a, b in zip(a_list, b_list):
        if log:                                  # compare importances, links on a path only
            keep = np.isfinite(b)
            a, b = np.exp(a[keep]), np.exp(b[keep])
        scale = np.maximum(np.abs(b), 1e-300)
        worst = max(worst, float(np.max(np.abs(a - b) / scale)) if a.size else 0.0)
    return worst


def _from_enumeration(layers, scales, kernels):
    """N, S and the weakest log importance per link, computed from every enumerated path."""
    from refset.algorithms import paths as P

    paths, importance = P.enumerate_paths(layers, scales, kernels=kernels)
    nodes = P.path_nodes(layers, paths)
    sizes = [layers[0].shape[0]] + [W.shape[1] for W in layers]
    N = [np.bincount(nodes[:, l], weights=importance, minlength=n) for l, n in enumerate(sizes)]
    S, weakest = [], []
    for l, W in enumerate(layers):
        S.append(np.bincount(paths[:, l], weights=importance, minlength=W.nnz))
        lo = np.full(W.nnz, np.inf)
        np.minimum.at(lo, paths[:, l], importance)
        with np.errstate(divide="ignore"):
            weakest.append(np.log(lo))
    return N, S, weakest


def _from_identities(layers, scales):
    from refset.algorithms import paths as P

    return (P.node_importance(layers, scales), P.connection_importance(layers, scales),
            P.weakest_path_through_links(layers, scales))


def _enumeration_records(cfg, log):
    import refset
    from refset.algorithms import paths as P

    kernels = refset.get_kernels()
    records, largest = [], None
    for sizes, epsilon in cfg["small"]:
        layers = _network(sizes, epsilon, cfg["seed"])
        scales = _scales(len(layers), cfg["seed"])
        n_paths = P.path_count(layers)
        enum = _from_enumeration(layers, scales, kernels)
        ident = _from_identities(layers, scales)
        stats = median_times({
            "enumeration": lambda: _from_enumeration(layers, scales, kernels),
            "identities": lambda: _from_identities(layers, scales),
        }, cfg["repeats"])
        rec = {
            "kind": "enumeration", "layers": sizes, "epsilon": epsilon,
            "nnz": [W.nnz for W in layers], "n_paths": n_paths, "backend": kernels.name,
            "seconds_enumeration": stats["enumeration"]["median"],
            "seconds_identities": stats["identities"]["median"],
            "speedup": stats["enumeration"]["median"] / stats["identities"]["median"],
            "max_rel_diff_node": _max_rel(ident[0], enum[0]),
            "max_rel_diff_connection": _max_rel(ident[1], enum[1]),
            "max_rel_diff_weakest": _max_rel(ident[2], enum[2], log=True),
            "repeats": stats["identities"]["repeats"],
        }
        records.append(rec)
        log(f"  {'-'.join(map(str, sizes))} eps={epsilon:g}: P={n_paths}, enumeration "
            f"{rec['seconds_enumeration'] * 1e3:.2f} ms, identities "
            f"{rec['seconds_identities'] * 1e3:.2f} ms (x{rec['speedup']:.0f}), max rel diff "
            f"N {rec['max_rel_diff_node']:.1e} S {rec['max_rel_diff_connection']:.1e} "
            f"weakest {rec['max_rel_diff_weakest']:.1e}")
        largest = (layers, scales, sizes)
    records.append(_path_products_record(*largest, cfg, log))
    return records


def _path_products_record(layers, scales, sizes, cfg, log):
    import refset
    from refset.algorithms import paths as P
    from refset.kernels.backend import compiled_available

    paths, _ = P.enumerate_paths(layers, scales)
    a = np.concatenate(P.normalized_weights(layers, scales))
    offsets = np.cumsum([0] + [W.nnz for W in layers[:-1]]).astype(np.int64)
    out = np.empty(len(paths))
    cands = {"numpy twin": lambda: refset.get_kernels("numpy").path_products(paths, offsets, a,
                                                                             out)}
    if compiled_available():
        cy = refset.get_kernels("cython")
        cands["cython"] = lambda: cy.path_products(paths, offsets, a, out)
    stats = median_times(cands, cfg["repeats"])
    rec = {"kind": "path_products", "layers": sizes, "n_paths": len(paths),
           "seconds_numpy": stats["numpy twin"]["median"],
           "seconds_cython": stats["cython"]["median"] if "cython" in stats else None}
    rec["speedup"] = (rec["seconds_numpy"] / rec["seconds_cython"]
                      if rec["seconds_cython"] else None)
    log(f"  path_products on {len(paths)} paths: numpy {rec['seconds_numpy'] * 1e3:.2f} ms"
        + (f", cython {rec['seconds_cython'] * 1e3:.2f} ms (x{rec['speedup']:.1f})"
           if rec["seconds_cython"] else ""))
    return rec


def _large_records(cfg, log):
    import refset
    from refset.algorithms import paths as P
    from refset.algorithms import path_weight_step, sensitivity_step
    from refset.kernels.backend import compiled_available

    sizes, epsilon = cfg["large"]
    layers = _network(sizes, epsilon, cfg["seed"])
    scales = _scales(len(layers), cfg["seed"])
    nnz = [W.nnz for W in layers]
    common = {"layers": sizes, "epsilon": epsilon, "nnz": nnz, "dtype": "float64"}
    a = P.normalized_weights(layers, scales)
    stats = median_times({
        "total": lambda: _from_identities(layers, scales),
        "sums": lambda: (P.forward_sums(layers, scales), P.backward_sums(layers, scales)),
        "weakest": lambda: P.weakest_path_through_links(layers, scales),
        "strongest": lambda: P.strongest_path_through_links(layers, scales),
    }, cfg["repeats"])
    measured = stats["total"]["median"]
    records = [{
        "kind": "importances", **common, "what": "node + connection importance + weakest path",
        "seconds_median": measured, "seconds_min": stats["total"]["min"],
        "seconds_sums": stats["sums"]["median"], "seconds_weakest": stats["weakest"]["median"],
        "seconds_strongest": stats["strongest"]["median"],
        "target_seconds": TARGET_SECONDS, "target_met": measured <= TARGET_SECONDS,
        "comparable": sizes == MNIST_NET and epsilon == 20.0,
        "repeats": stats["total"]["repeats"], "n_paths": P.path_count(layers),
        "normalised_weights_dtype": str(a[0].dtype),
    }]
    log(f"  importances {'-'.join(map(str, sizes))} eps={epsilon:g} ({sum(nnz)} links): "
        f"{measured * 1e3:.2f} ms (sums {stats['sums']['median'] * 1e3:.2f}, weakest "
        f"{stats['weakest']['median'] * 1e3:.2f}; target <= {TARGET_SECONDS * 1e3:.0f} ms)")

    n = cfg["n_path_samples"]
    cands = {"numpy twin": lambda: P.sample_paths(layers, n, np.random.default_rng(1),
                                                  kernels=refset.get_kernels("numpy"))}
    if compiled_available():
        cands["cython"] = lambda: P.sample_paths(layers, n, np.random.default_rng(1),
                                                 kernels=refset.get_kernels("cython"))
    st = median_times(cands, cfg["step_repeats"])
    rec = {"kind": "sample_paths", **common, "n_samples": n,
           "seconds_numpy": st["numpy twin"]["median"],
           "seconds_cython": st["cython"]["median"] if "cython" in st else None}
    rec["speedup"] = rec["seconds_numpy"] / rec["seconds_cython"] if rec["seconds_cython"] else None
    records.append(rec)
    log(f"  sample_paths n={n}: numpy {rec['seconds_numpy'] * 1e3:.1f} ms"
        + (f", cython {rec['seconds_cython'] * 1e3:.1f} ms" if rec["seconds_cython"] else ""))

    grads = [np.random.default_rng(2).standard_normal(W.nnz) * 1e-3 for W in layers]
    steps = {
        "path_weight_step": lambda: path_weight_step(
            layers, scales, np.random.default_rng(3), lam=0.2, zeta=0.3, n_path_samples=n),
        "sensitivity_step": lambda: sensitivity_step(layers, grads, np.random.default_rng(3),
                                                     zeta=0.3),
    }
    st = median_times(steps, cfg["step_repeats"], min_sample=0.0)
    info = path_weight_step(layers, scales, np.random.default_rng(3), lam=0.2, zeta=0.3,
                            n_path_samples=n).info
    for name in steps:
        rec = {"kind": "step", "method": name, **common, "seconds_median": st[name]["median"],
               "seconds_min": st[name]["min"], "repeats": st[name]["repeats"]}
        if name == "path_weight_step":
            rec.update(candidate_mode=info["candidate_mode"], n_path_samples=n,
                       candidate_fraction=info["candidate_fraction"],
                       removed=info["removed"])
        records.append(rec)
        log(f"  {name}: {st[name]['median'] * 1e3:.1f} ms")
    return records


def run_paths(mode="quick", log=print):
    """Run every measurement of this section; returns the records (see module docstring).

    Parameters
    ----------
    mode : {"tiny", "quick", "full"}
    log : callable
        Progress printer.
    """
    if mode not in ("tiny", "quick", "full"):
        raise ValueError(f"mode must be 'tiny', 'quick' or 'full', got {mode!r}")
    cfg = settings(mode)
    records = _enumeration_records(cfg, log)
    records += _large_records(cfg, log)
    for r in records:
        r["mode"] = mode
    return records


def paths_target(records):
    """The PERFORMANCE §5 target row (same fields as ``benchmarks/run.py``'s targets)."""
    rec = next((r for r in records if r["kind"] == "importances" and r["comparable"]), None)
    value = rec["seconds_median"] if rec else None
    return {"target": "Path-Weight importances 784-1000-1000-1000-10 (node, connection, "
                      "weakest path)", "threshold": f"<= {TARGET_SECONDS} s", "measured": value,
            "unit": "s",
            "status": "not measured" if value is None else
            "met" if value <= TARGET_SECONDS else "MISSED",
            "note": "numpy bincount / minimum.at passes, one thread"}


def paths_table(records):
    """Plain-text tables of the records."""
    enum = [r for r in records if r["kind"] == "enumeration"]
    rows = [["-".join(map(str, r["layers"])), r["epsilon"], r["n_paths"],
             r["seconds_enumeration"] * 1e3, r["seconds_identities"] * 1e3, r["speedup"],
             f"{r['max_rel_diff_node']:.1e}", f"{r['max_rel_diff_connection']:.1e}",
             f"{r['max_rel_diff_weakest']:.1e}"]
            for r in enum]
    out = [format_table("paths: enumeration vs identities (N, S, weakest path per link)",
                        ["network", "eps", "paths", "enum ms", "ident ms", "x", "diff N",
                         "diff S", "diff weakest"], rows,
                        notes=["x = enumeration time / identities time; diff = max relative "
                               "difference"])]
    rows = []
    for r in records:
        if r["kind"] in ("path_products", "sample_paths"):
            rows.append([r["kind"], r.get("n_paths", r.get("n_samples")),
                         r["seconds_numpy"] * 1e3,
                         None if r["seconds_cython"] is None else r["seconds_cython"] * 1e3,
                         r["speedup"]])
    out.append(format_table("paths: kernels, compiled vs numpy twin",
                            ["kernel", "paths", "numpy ms", "cython ms", "x"], rows))
    rows = []
    for r in records:
        if r["kind"] == "importances":
            rows.append(["importances (N + S + weakest)", r["seconds_median"] * 1e3,
                         f"<= {r['target_seconds'] * 1e3:.0f} ms" if r["comparable"] else "-",
                         ("met" if r["target_met"] else "MISSED") if r["comparable"]
                         else "not comparable"])
            rows.append(["  forward + backward sums", r["seconds_sums"] * 1e3, "", ""])
            rows.append(["  weakest path per link", r["seconds_weakest"] * 1e3, "", ""])
            rows.append(["  strongest path per link", r["seconds_strongest"] * 1e3, "", ""])
        elif r["kind"] == "step":
            rows.append([r["method"], r["seconds_median"] * 1e3, "", ""])
    large = next((r for r in records if r["kind"] == "importances"), None)
    title = "paths at scale" + (f": {'-'.join(map(str, large['layers']))}, "
                                f"eps={large['epsilon']:g}, {sum(large['nnz'])} links"
                                if large else "")
    out.append(format_table(title, ["what", "ms", "target", "status"], rows))
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer repeats and networks")
    size.add_argument("--tiny", action="store_true", help="tiny sizes (plumbing only)")
    p.add_argument("--json", metavar="PATH", help="write the records as JSON")
    args = p.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    t0 = time.perf_counter()
    machine = machine_description()
    print(f"[paths] mode={mode} backend={machine['refset_config']['backend']} "
          f"load={machine['load_average_start']}", flush=True)
    records = run_paths(mode, log=lambda m: print(m, flush=True))
    print(paths_table(records))
    target = paths_target(records)
    print(f"\ntarget: {target['target']}: {target['threshold']}, measured "
          f"{target['measured']}, {target['status']}")
    if args.json:
        machine["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        Path(args.json).write_text(json.dumps(
            {"machine": machine, "settings": settings(mode), "paths": records,
             "targets": [target], "seconds_total": time.perf_counter() - t0}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
