#!/usr/bin/env python
"""refset benchmark suite: kernels, training, topology, memory, roofline and the algorithms.

Usage::

    python benchmarks/run.py [--quick | --tiny] [--json out.json] [--threads 1,2]
                             [--only kernels,training,topology,memory,roofline,ch3,paths]
                             [--torch] [--original-code PATH]

Prints one table per section and a final table of the PERFORMANCE.md §5 targets, and writes
everything (machine description, settings, per section a list of records) as JSON.  Every
time is a median over repeats; every comparison is a ratio against a baseline measured in the
same run.  Two peer sections run only on request, in addition to the ``--only`` sections:
``--torch`` (the same SET-MLP trained by PyTorch, masked dense and torch.sparse) and
``--original-code PATH`` (the original SET code from a checkout, beside refset).  See
benchmarks/README.md for what each section measures and how to read it.
"""
import os

# The dense baseline is timed single-threaded like everything else (PERFORMANCE §1): BLAS
# threads must be fixed before numpy is imported.  An explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_common import cpu_summary, format_table, machine_description  # noqa: E402
from bench_peers import PEER_SECTIONS  # noqa: E402
from refset.estimator.mlp import COLUMN_ORDER_MIN_BATCH  # noqa: E402

SECTIONS = ("kernels", "training", "topology", "memory", "roofline", "ch3", "paths")
FULL_LAYERS = [(3312, 3000), (3000, 3000), (784, 1000)]
REF_NET = {"n_features": 3312, "hidden": (3000, 3000, 3000), "n_classes": 5}


def settings(mode, repeats=None, seed=0):
    """Sizes and repeat counts of a mode ('tiny', 'quick' or 'full')."""
    tiny, quick = mode == "tiny", mode == "quick"
    kernels = {
        "layers": [(300, 200), (120, 100)] if tiny else FULL_LAYERS,
        "batches": [2, 16] if tiny else [2, 32, 128],
        "dtypes": ["float32", "float64"], "epsilon": 20.0, "seed": seed,
        "repeats": 3 if tiny else 7 if quick else 21,
        "min_sample": 5e-4 if tiny else 3e-3 if quick else 2e-2,
        "twin_max_batch": 32 if quick else 128,   # the numpy twin at B = 128 takes ~0.4 s
    }
    topology = {
        **({"n_features": 300, "hidden": (128, 128, 128), "n_classes": 5} if tiny else REF_NET),
        "epsilon": 20.0, "zeta": 0.3, "dtype": "float64", "seed": seed,
        "build_repeats": 3 if tiny or quick else 7,
        "step_repeats": 5 if tiny else 9 if quick else 21,
    }
    roofline = {
        "sizes": {"dram": 10**6 if tiny else 4 * 10**7, "cache": 10**5, "inner": 10**4},
        "repeats": 3 if tiny else 5 if quick else 9,
    }
    if repeats:
        kernels["repeats"] = topology["step_repeats"] = repeats
        topology["build_repeats"] = roofline["repeats"] = max(3, repeats // 3)
    return {"kernels": kernels, "topology": topology, "roofline": roofline}


# -- tables -----------------------------------------------------------------------------------
def kernel_table(records, threads):
    impls = ["cython t1", "cython t1 col", "cython t1 row"] + [f"cython t{t}" for t in threads if t != 1] + [
        "numpy twin", "scipy csr", "scipy csc", "dense masked"]
    impls = [i for i in impls if any(r["impl"] == i for r in records)]
    short = {"cython t1 col": "t1col", "cython t1 row": "t1row", "numpy twin": "twin", "scipy csr": "csr",
             "scipy csc": "csc", "dense masked": "dense"}
    cy = [f"cython t{t}" for t in threads if any(r["impl"] == f"cython t{t}" for r in records)]
    headers = (["layer", "B", "dtype", "op"] + [f"{short.get(i, i[7:])} ms" for i in impls]
               + [f"{c[7:]} GF/s" for c in cy[:1]]
               + [h for c in cy for h in (f"{c[7:]} xscipy", f"{c[7:]} xdense")])
    groups = {}
    for r in records:
        groups.setdefault((r["n_in"], r["n_out"], r["batch"], r["dtype"], r["op"]), {})[
            r["impl"]] = r
    rows = []
    for (n_in, n_out, B, dtype, op), g in groups.items():
        row = [f"{n_in}x{n_out}", B, dtype, op]
        row += [g[i]["seconds_median"] * 1e3 if i in g else None for i in impls]
        row += [g[c]["gflops"] if c in g else None for c in cy[:1]]
        for c in cy:
            row += [g[c]["vs_scipy"] if c in g else None, g[c]["vs_dense"] if c in g else None]
        rows.append(row)
    notes = ["ms: median per call; GF/s: 2*nnz*B / time; xscipy, xdense: baseline time / "
             "refset time (> 1 means refset is faster)",
             "scipy baseline = faster of csr/csc; scipy.sparse has no SDDMM, so for "
             "'gradient' xscipy is against the numpy twin (gather + einsum)",
             "t1, tN: one and N threads, called as SparseMLP calls them (forward on one "
             f"thread below B = {COLUMN_ORDER_MIN_BATCH}: csr_forward on the canonical links; "
             "otherwise coo_forward on the links in refset.estimator.mlp.forward_order -- by "
             "column, in cache tiles when the input is large -- reading the weights through "
             "the permutation); t1col: coo_forward on column-sorted links, no tiles, no "
             "permutation; t1row: coo_forward on canonical links"]
    return format_table("kernels", headers, rows, notes)


def training_table(records):
    headers = ["config", "dtype", "B", "n_train", "epochs", "train s", "eval s", "topo s",
               "s/epoch", "anchor s", "anchor/refset", "target s", "target/refset", "floor s"]
    rows, notes = [], ["s/epoch = median over epochs 2..E-1 of train + eval + topology "
                       "(E epochs run; epoch 1 warms up, epoch E has no topology update)",
                       "anchor = original SET code, PERFORMANCE §3 (measured on the project's "
                       "standard machine, not in this run); target/refset >= 1 means met"]
    for r in records:
        if "seconds_epoch" not in r:
            rows.append([r["config"], r.get("dtype"), "-", "-", "-", "-", "-", "-",
                         "skipped" if "skipped" in r else "FAILED", "-", "-", "-", "-", "-"])
            why = r.get("skipped") or " | ".join(r.get("error", "").splitlines()[-2:])
            notes.append(f"{r['config']}: {why[:300]}")
            continue
        name = r["config"] + (f" (scaled x{r['scale_factor']:.3g})" if r["scaled_to_60000"]
                              else "")
        if not r["reference_workload"]:
            name += " [tiny]"
        rows.append([name, r["dtype"], r["batch_size"], r["n_train"],
                     ",".join(map(str, r["epochs_used"])), r["seconds_train"],
                     r["seconds_eval"], r["seconds_topology"], r["seconds_epoch"],
                     r["anchor_seconds_epoch"], r["anchor_over_refset"],
                     r["target_seconds_epoch"], r["target_over_refset"],
                     r["floor_seconds_epoch"]])
        if r["scaled_to_60000"]:
            notes.append(f"{r['config']}: SCALED: measured on {r['n_train']} training / "
                         f"{r['n_test']} test samples, train and eval time x"
                         f"{r['scale_factor']:.3g} (topology unscaled); unscaled s/epoch "
                         f"{r['measured']['seconds_epoch']:.3g}")
    return format_table("training (seconds per epoch, 1 thread)", headers, rows, notes)


def topology_table(records):
    headers = ["what", "shape", "links", "ms (median)", "target ms"]
    rows = []
    for r in records:
        if r["kind"] == "build":
            rows.append(["build " + "-".join(map(str, r["layers"])), "", sum(r["nnz"]),
                         r["seconds_median"] * 1e3,
                         200 if r["layers"] == [3312, 3000, 3000, 3000, 5] else None])
        else:
            rows.append([f"set_step layer {r['layer']}", f"{r['n_in']}x{r['n_out']}", r["nnz"],
                         r["seconds_median"] * 1e3, 25 if r["nnz"] == 126240 else None])
    return format_table("topology", headers, rows,
                        ["build = SparseMLP._initialize (float64); set_step: zeta 0.3, sign "
                         "pruning; anchor build 8 s (PERFORMANCE §3)"])


def memory_table(records):
    headers = ["config", "dtype", "n_train", "process peak MiB", "after data MiB",
               "before fit MiB", "peak in fit MiB", "fit increment MiB", "model state MiB"]
    rows = []
    for r in records:
        if "skipped" in r:
            rows.append([r["config"], r["dtype"], "skipped", "-", "-", "-", "-", "-", "-"])
            continue
        rows.append([r["config"], r["dtype"], r["n_train"], r["process_peak_mib"],
                     r["vmhwm_after_data_mib"], r["vmrss_before_fit_mib"],
                     r["vmhwm_during_fit_mib"], r["fit_increment_mib"], r["model_state_mib"]])
    return format_table("memory (one fresh process per configuration)", headers, rows, [
        "process peak: VmHWM over the whole worker (interpreter, data loading as float64, "
        "training); after data: VmHWM once the data were loaded (ru_maxrss, in the JSON, "
        "also holds the parent's peak: Linux keeps it across exec)",
        "peak in fit: VmHWM after resetting it (/proc/self/clear_refs) once the data were "
        "loaded; fit increment = peak in fit - RSS before fit",
        "model state = values + velocities + int64 row/col of all links"])


def roofline_tables(bandwidth, kernel_rows):
    bw_rows = [[r["label"], r["elements"], r["working_set_bytes"] / 1e6, r["threads"],
                r["gb_per_s"], r["gb_per_s_stream_convention"]] for r in bandwidth]
    t1 = format_table("roofline: measured bandwidth (numpy triad a = b + s*c, float64)",
                      ["level", "elements", "working set MB", "threads", "GB/s (5x8 B/elem)",
                       "GB/s (STREAM 3x8)"], bw_rows)
    rows = [[f"{r['n_in']}x{r['n_out']}", r["batch"], r["dtype"], r["op"], r["impl"],
             r["seconds_median"] * 1e3, r["compulsory_gb_per_s"], r["fraction_of_dram"],
             r["per_link_gb_per_s"], r["fraction_of_cache"]] for r in kernel_rows]
    t2 = format_table("roofline: refset kernels as a fraction of the measured bandwidth",
                      ["layer", "B", "dtype", "op", "impl", "ms", "compulsory GB/s",
                       "of DRAM", "per-link GB/s", "of cache"], rows,
                      ["compulsory: links + each activation matrix once, vs the DRAM triad; "
                       "per-link: links + the B-vectors each link streams, vs the cache (1e5) "
                       "triad of the same thread count (byte models in the JSON)"])
    return t1 + "\n" + t2


def targets_table(targets):
    rows = [[t["target"], t["threshold"], t["measured"], t["status"], t.get("note", "")]
            for t in targets]
    return format_table("targets (PERFORMANCE §5)", ["target", "required", "measured",
                                                           "status", "note"], rows)


# -- targets ----------------------------------------------------------------------------------
def compute_targets(results):
    out = []
    kernels = results.get("kernels") or []
    for dtype in ("float32", "float64"):
        for op in ("forward", "backward", "gradient"):
            rec = next((r for r in kernels if r["impl"] == "cython t1" and r["n_in"] == 3312
                        and r["n_out"] == 3000 and r["batch"] == 128 and r["dtype"] == dtype
                        and r["op"] == op), None)
            for key, need, what in (("vs_scipy", 1.5, "scipy.sparse"),
                                    ("vs_dense", 5.0, "dense masked")):
                value = rec.get(key) if rec else None
                note = ("baseline: numpy gather+einsum (no scipy SDDMM)"
                        if op == "gradient" and key == "vs_scipy" else "")
                out.append(_target(f"kernel {op} 3312x3000 B=128 {dtype} vs {what}",
                                   f">= {need}x", value, value is not None and value >= need,
                                   note, unit="x"))
    training = {r["config"]: r for r in results.get("training") or []
                if "seconds_epoch" in r and r.get("reference_workload")}
    for name, label, need in (("lung-shaped", "lung-shaped reference, B=2, float64", 0.4),
                              ("COIL20", "COIL20 reference, B=2, float64", 1.2),
                              ("MNIST float32", "MNIST 784-1000-1000-1000-10, B=128, float32",
                               4.5)):
        rec = training.get(name)
        value = rec["seconds_epoch"] if rec else None
        note = ""
        if rec and rec["scaled_to_60000"]:
            note = f"scaled from {rec['n_train']} samples; "
        elif rec and name == "lung-shaped":
            note = "synthetic data of lung's shape; "
        if rec:
            note += (f"train only {rec['seconds_train']:.3g} s, eval "
                     f"{rec['seconds_eval']:.3g} s, topology {rec['seconds_topology']:.3g} s")
        out.append(_target(f"{label} s/epoch", f"<= {need} s", value,
                           value is not None and value <= need, note, unit="s"))
    # issue 17: the COIL20 training pass itself, and ratios against peers measured in this run
    rec = training.get("COIL20")
    value = rec["seconds_train"] if rec else None
    out.append(_target("COIL20 reference, B=2, float64: training pass s/epoch", "<= 0.35 s",
                       value, value is not None and value <= 0.35,
                       "forward + fused backward/update over the 960 training images" if rec
                       else "", unit="s"))
    orig = next((r for r in results.get("original") or []
                 if r.get("dataset") == "COIL20" and "over_refset" in r), None)
    value = orig["over_refset"] if orig else None
    out.append(_target("COIL20 epoch: original SET code / refset (same run)", ">= 12x", value,
                       value is not None and value >= 12,
                       "" if orig else "needs --original-code PATH", unit="x"))
    for name, label in (("MNIST-shaped 784-1000-1000-1000-10, B=128, float32",
                         "MNIST-shaped B=128 float32"),
                        ("784-10000-10000-10000-10, B=128, float32",
                         "784-10000x3-10 B=128 float32")):
        peer = next((r for r in results.get("torch") or [] if r.get("workload") == name
                     and r.get("impl") == "torch.sparse" and "vs_refset" in r), None)
        value = peer["vs_refset"] if peer else None
        out.append(_target(f"training pass: torch.sparse / refset, {label}", ">= 2x", value,
                           value is not None and value >= 2,
                           "" if peer else "needs --torch and PyTorch", unit="x"))
    topo = results.get("topology") or []
    build = next((r for r in topo if r["kind"] == "build"
                  and r["layers"] == [3312, 3000, 3000, 3000, 5]), None)
    value = build["seconds_median"] if build else None
    out.append(_target("network build 3312-3000-3000-3000-5", "<= 0.2 s", value,
                       value is not None and value <= 0.2, "", unit="s"))
    step = next((r for r in topo if r["kind"] == "set_step" and r["nnz"] == 126240), None)
    value = step["seconds_median"] if step else None
    out.append(_target("SET topology update, 126k links", "<= 0.025 s", value,
                       value is not None and value <= 0.025, "", unit="s"))
    ch3 = next((r for r in results.get("ch3") or [] if r["op"] == "top_k"
                and r["impl"] == "cython" and (r["n_in"], r["n_out"]) == (784, 1568)), None)
    value = ch3["seconds_median"] if ch3 else None
    out.append(_target("CH3-L3 scores + top-k, 784x1568 at 1 %", "<= 0.4 s", value,
                       value is not None and value <= 0.4, "", unit="s"))
    if results.get("paths"):
        from bench_paths import paths_target
        out.append(paths_target(results["paths"]))
    else:
        out.append(_target("Path-Weight importances 784-1000-1000-1000-10", "<= 0.05 s", None,
                           False, "", unit="s"))
    return out


def _target(name, threshold, value, ok, note, unit):
    return {"target": name, "threshold": threshold, "measured": value, "unit": unit,
            "status": "not measured" if value is None else "met" if ok else "MISSED",
            "note": note}


# -- main -------------------------------------------------------------------------------------
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="fewer repeats, no numpy twin at B=128, MNIST on a 10,000-sample "
                           "subset scaled to 60,000 (under 3 minutes)")
    size.add_argument("--tiny", action="store_true",
                      help="tiny sizes, seconds in all (for the test suite; not comparable "
                           "to the targets)")
    p.add_argument("--json", metavar="PATH", help="write all records as JSON")
    p.add_argument("--threads", default="1,2",
                   help="thread counts of the compiled kernels in the kernels and roofline "
                        "sections (default 1,2)")
    p.add_argument("--train-threads", type=int, default=1,
                   help="threads of the training runs (default 1)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run (default all: {','.join(SECTIONS)}); "
                        "also 'torch' (same as --torch) and 'original' (needs --original-code)")
    p.add_argument("--torch", action="store_true",
                   help="also run the torch section: the same SET-MLP trained by refset, by "
                        "PyTorch with masked dense weights and by PyTorch with torch.sparse CSR "
                        "layers (one thread, interleaved fresh processes; time ratios, peak "
                        "memory, losses); skipped with a note when PyTorch is not installed "
                        "(about 6 minutes in --quick)")
    p.add_argument("--original-code", metavar="PATH",
                   help="also run the original section: the original SET code of a checkout of "
                        "dcmocanu/sparse-evolutionary-artificial-neural-networks at PATH (built "
                        "in a temporary patched copy, never copied into refset) beside refset "
                        "on COIL20 and TOX-171 (about 2.5 minutes in --quick)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="directory of COIL20.mat and mnist/ (default: $REFSET_DATA, then "
                        "refset's default data home)")
    p.add_argument("--repeats", type=int, default=None,
                   help="override the number of timing repeats")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        args.threads = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    except ValueError:
        p.error(f"--threads must be comma-separated integers, got {args.threads!r}")
    if not args.threads or min(args.threads) < 1:
        p.error("--threads must list integers >= 1")
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS) - set(PEER_SECTIONS)
    if unknown:
        p.error(f"--only: unknown section(s) {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(SECTIONS + PEER_SECTIONS)}")
    args.torch = args.torch or "torch" in args.only
    if "original" in args.only and args.original_code is None:
        p.error("--only original needs --original-code PATH")
    if args.original_code is not None and not args._worker:
        from bench_original import check_original_code

        problem = check_original_code(args.original_code)
        if problem:                          # one line, before any section has run
            print(f"{p.prog}: error: {problem}", file=sys.stderr)
            sys.exit(2)
    if args.train_threads < 1:
        p.error("--train-threads must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args._worker:
        cfg = json.loads(args._worker)
        if cfg.get("section") == "torch":
            from bench_torch import worker_main
        elif cfg.get("section") == "original":
            from bench_original import worker_main
        else:
            from bench_training import worker_main
        return worker_main(cfg)

    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    cfg = settings(mode, args.repeats, args.seed)
    data_dir = args.data if args.data is not None else os.environ.get("REFSET_DATA") or None
    t_start = time.perf_counter()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    machine = machine_description()
    print(f"refset benchmarks, mode {mode}: {cpu_summary(machine['cpu'], machine['cores'])}; "
          f"numpy {machine['numpy']}, scipy {machine['scipy']}, {machine['blas']}, backend "
          f"{machine['refset_config']['backend']}, load average "
          f"{', '.join(f'{x:.2f}' for x in machine['load_average_start'] or ())}", flush=True)
    results = {"machine": machine,
               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "settings": {"mode": mode, "sections": args.only, "threads": args.threads,
                            "train_threads": args.train_threads, "data_dir": data_dir,
                            "seed": args.seed, "torch": args.torch,
                            "original_code": args.original_code, **cfg}}
    if args.torch or args.original_code is not None:
        from bench_peers import peer_settings
        results["settings"]["peers"] = peer_settings(mode)
    errors = []

    kernel_records = None
    if "kernels" in args.only or "roofline" in args.only:
        from bench_kernels import run_kernels
        log("[kernels]")
        kernel_records = run_kernels(cfg["kernels"], args.threads, log,
                                     cython_only="kernels" not in args.only)
        if "kernels" in args.only:
            results["kernels"] = kernel_records
            print(kernel_table(kernel_records, args.threads), flush=True)

    if "training" in args.only or "memory" in args.only:
        from bench_training import run_training, training_configs
        log("[training]")
        configs = training_configs(mode, data_dir, args.train_threads, args.seed)
        training, memory, errs = run_training(configs, Path(__file__).resolve(), log)
        errors += errs
        if "training" in args.only:
            results["training"] = training
            print(training_table(training), flush=True)
        if "memory" in args.only:
            results["memory"] = memory
            print(memory_table(memory), flush=True)

    if "topology" in args.only:
        from bench_topology import run_topology
        log("[topology]")
        results["topology"] = run_topology(cfg["topology"], log)
        print(topology_table(results["topology"]), flush=True)

    if "roofline" in args.only:
        from bench_roofline import BYTES_MODEL, measure_bandwidth, roofline_records
        log("[roofline]")
        bandwidth = []
        for label, n in cfg["roofline"]["sizes"].items():
            for t in args.threads:
                rec = measure_bandwidth(n, t, cfg["roofline"]["repeats"])
                rec["label"] = label
                bandwidth.append(rec)
                log(f"  triad {label} n={n} threads={t}: {rec['gb_per_s']:.1f} GB/s")
        rows = roofline_records(kernel_records, bandwidth, "dram", "cache", "inner")
        for r in rows:
            r["bytes_model"] = BYTES_MODEL
        results["roofline"] = bandwidth + rows
        results["roofline_model"] = BYTES_MODEL
        print(roofline_tables(bandwidth, rows), flush=True)

    if "ch3" in args.only:
        from bench_ch3 import ch3_table, run_ch3
        log("[ch3]")
        results["ch3"] = run_ch3(mode, log)
        print(ch3_table(results["ch3"]), flush=True)

    if "paths" in args.only:
        from bench_paths import paths_table, run_paths
        log("[paths]")
        results["paths"] = run_paths(mode, log)
        print(paths_table(results["paths"]), flush=True)

    script = Path(__file__).resolve()
    if args.torch:
        from bench_torch import run_torch, torch_table
        log("[torch]")
        results["torch"], errs = run_torch(mode, data_dir, args.seed, script, log)
        errors += errs
        print(torch_table(results["torch"]), flush=True)

    if args.original_code is not None:
        from bench_original import original_table, run_original
        log("[original]")
        results["original"], errs = run_original(args.original_code, mode, data_dir,
                                                 args.seed, script, log)
        errors += errs
        print(original_table(results["original"]), flush=True)

    missing = [text for wanted, text in (
        (args.torch, "--torch (refset vs PyTorch, masked dense and torch.sparse)"),
        (args.original_code is not None, "--original-code PATH (refset vs the original SET "
                                         "code)")) if not wanted]
    if missing:
        print(f"\n== peers ==\n   not requested: {'; '.join(missing)}", flush=True)

    results["targets"] = compute_targets(results)
    print(targets_table(results["targets"]), flush=True)
    results["machine"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") \
        else None
    results["seconds_total"] = time.perf_counter() - t_start
    results["errors"] = errors
    print(f"\ntotal {results['seconds_total']:.1f} s"
          + (f"; {len(errors)} error(s)" if errors else ""), flush=True)
    if args.json:
        path = Path(args.json)
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
        print(f"wrote {path}", flush=True)
    return 1 if errors else 0


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


if __name__ == "__main__":
    sys.exit(main())
