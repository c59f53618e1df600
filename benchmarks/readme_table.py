#!/usr/bin/env python
"""The performance table of README.md, generated from one stored benchmark run.

Usage::

    python benchmarks/readme_table.py benchmarks/runs/2026-12-03-quick.json          # print it
    python benchmarks/readme_table.py benchmarks/runs/2026-12-03-quick.json --write  # README
    python benchmarks/readme_table.py benchmarks/runs/2026-12-03-quick.json --check  # or exit 1

The run is the ``--json`` output of ``python benchmarks/run.py --quick``; store it next to its
printed output in ``benchmarks/runs/``. The table sits in README.md between
``<!-- refset-benchmark-table -->`` and ``<!-- /refset-benchmark-table -->``, under a line that
names the run, its date and the machine it was measured on (from the run's ``lscpu``
description). Figures that the run does not measure — the original SET code's and the published
CHT code's — come from PERFORMANCE.md §3 and say so, with the machine they were measured on.
A run with the peer sections (``--torch``, ``--original-code PATH``) adds rows for them:
refset against PyTorch (masked dense and torch.sparse) per workload, and against the original
SET code measured in the same run per dataset.

Standard library only.
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN = "<!-- refset-benchmark-table -->"
END = "<!-- /refset-benchmark-table -->"

# Not measured by benchmarks/run.py: PERFORMANCE.md §3, on its machine.
ANCHOR_MACHINE = "2-vCPU AMD EPYC Zen 3 with AVX2, PERFORMANCE.md §3"
ANCHORS = {"lung-shaped": 7.5, "COIL20": 11.8, "build": 8.0, "lung topology": 6.2}
PUBLISHED_CHT_SECONDS = "3.5–4.5 s"
# benchmarks/run.py's default sections: a run with fewer names its --only in the caption
ALL_SECTIONS = ("kernels", "training", "topology", "memory", "roofline", "ch3", "paths")


def fmt(x):
    """Three significant digits, no exponent: 0.0326 -> '0.0326', 2.6 -> '2.60', 109.2 -> '109'."""
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:#.3g}"


def ms(seconds):
    return f"{fmt(1e3 * seconds)} ms"


def ratio(x):
    return f"{x:.1f}×" if x < 10 else f"{x:.0f}×"


def _kernel(run, op, dtype, impl="cython t1", layer=(3312, 3000), batch=128):
    return next(r for r in run["kernels"] if r["op"] == op and r["dtype"] == dtype
                and r["impl"] == impl and (r["n_in"], r["n_out"]) == layer
                and r["batch"] == batch)


def _maybe_kernel(run, *args, **kwargs):
    try:
        return _kernel(run, *args, **kwargs)
    except StopIteration:
        return None


def machine_line(run, source):
    m = run["machine"]
    cpu = m.get("cpu") or {}
    simd = cpu.get("simd") or []
    widest = ("AVX-512" if "avx512f" in simd else "AVX2" if "avx2" in simd
              else "AVX" if "avx" in simd else None)
    parts = [f"{cpu.get('model') or m['cpu_model']}, {m['cores']} cores"
             + (f" ({cpu['hypervisor']} guest)" if cpu.get("hypervisor") else "")]
    if widest:
        parts.append(widest)
    if cpu.get("l2"):
        parts.append(f"L2 {cpu['l2']}")
    load = m.get("load_average_start")
    date = (run.get("started") or "")[:10] or _date_from_name(source)
    targets = run.get("targets") or []
    met = sum(t["status"] == "met" for t in targets)
    missed = [t["target"] for t in targets if t["status"] == "MISSED"]
    printed = Path(source).with_suffix(".txt")
    printed = f"; printed output `{printed.name}`" if (ROOT / printed).is_file() else ""
    peers = _peer_options(run)
    text = (f"Measured by one `python benchmarks/run.py --{run['settings']['mode']}{peers}` run"
            + (f" on {date}" if date else "") + f" (`{source}`{printed}) on "
            f"{', '.join(parts)}; one thread, medians"
            + (f", load average {load[0]:.1f} at the start" if load else "") + ". "
            f"{met} of the {len(targets)} targets of PERFORMANCE.md §5 were met"
            + (f"; missed: {'; '.join(missed)}" if missed else "") + ". ")
    torch_runs = [r for r in run.get("torch") or [] if "seconds_epoch" in r]
    if torch_rows(run):
        version = next((r["torch"] for r in torch_runs if r.get("torch")), "?")
        n = torch_runs[0]["repeats"]
        text += (f"The PyTorch rows (torch {version}) time the training pass only (no topology "
                 f"update, no evaluation), {n} run{'s' if n != 1 else ''} of each "
                 "implementation in fresh processes, interleaved. ")
    if original_rows(run):
        text += ("The rows marked *this run* ran the original SET code from a checkout beside "
                 "refset. The other original SET code figures and the published CHT code's "
                 f"were not measured in this run but on a {ANCHOR_MACHINE}.")
    else:
        text += (f"The original SET code's and the published CHT code's figures were not "
                 f"measured in this run but on a {ANCHOR_MACHINE}.")
    return text


def _peer_options(run):
    """' --only ... --torch --original-code PATH' as far as the run had them ('' for a run of
    the default sections without peers)."""
    settings = run.get("settings") or {}
    sections = list(settings.get("sections") or ALL_SECTIONS)
    out = "" if set(sections) == set(ALL_SECTIONS) else f" --only {','.join(sections)}"
    out += " --torch" if settings.get("torch") and "torch" not in sections else ""
    return out + (" --original-code PATH" if settings.get("original_code") else "")


def _date_from_name(source):
    name = Path(source).name
    return name[:10] if name[:4].isdigit() and name[4] == "-" else ""


def kernel_rows(run):
    """The kernel rows: forward, backward and gradient of the 3312 × 3000 layer at B = 128."""
    out = []
    for op, what in (("forward", "forward, 3312 × 3000, ε = 20, B = 128, float32"),
                     ("backward", "backward, same layer, float32")):
        r = _kernel(run, op, "float32")
        out.append([what, ms(r["seconds_median"]),
                    f"scipy.sparse {ms(r['scipy_seconds'])} ({r['scipy_baseline'][6:].upper()}); "
                    f"dense masked {ms(r['dense_seconds'])}",
                    f"{ratio(r['vs_scipy'])} scipy; {ratio(r['vs_dense'])} dense"])
    r = _kernel(run, "gradient", "float32")
    out.append(["weight gradient on the links (SDDMM), float32", ms(r["seconds_median"]),
                f"numpy gather + einsum {ms(r['scipy_seconds'])} (scipy has no SDDMM); dense "
                f"{ms(r['dense_seconds'])}",
                f"{ratio(r['vs_scipy'])}; {ratio(r['vs_dense'])} dense"])
    f64 = {op: _kernel(run, op, "float64") for op in ("forward", "backward", "gradient")}
    dense = [f64[op]["vs_dense"] for op in f64]
    out.append(["forward / backward / gradient, same layer, float64",
                " / ".join(fmt(1e3 * f64[op]["seconds_median"]) for op in f64) + " ms",
                f"scipy {fmt(1e3 * f64['forward']['scipy_seconds'])} / "
                f"{fmt(1e3 * f64['backward']['scipy_seconds'])} ms; twin "
                f"{ms(f64['gradient']['scipy_seconds'])}; dense "
                + " / ".join(fmt(1e3 * f64[op]["dense_seconds"]) for op in f64) + " ms",
                f"{ratio(f64['forward']['vs_scipy'])} / {ratio(f64['backward']['vs_scipy'])} "
                f"scipy, {ratio(f64['gradient']['vs_scipy'])} twin; "
                f"{min(dense):.0f}–{max(dense):.0f}× dense"])
    return out


def rows(run):
    """The table's rows; a run without the kernels section (e.g. ``--only training``) has
    none of the kernel rows."""
    out = kernel_rows(run) if run.get("kernels") else []
    training = {r["config"]: r for r in run.get("training") or [] if "seconds_epoch" in r}
    for config, what in (("lung-shaped", "lung-shaped 3312-3000-3000-3000-5, B = 2, float64 "
                                         "(synthetic data of lung's shape)"),
                         ("COIL20", "COIL20, same network, B = 2, float64")):
        r = training.get(config)
        if r is None:
            continue
        anchor = ANCHORS[config]
        out.append([what, f"{fmt(r['seconds_epoch'])} s/epoch (topology "
                          f"{fmt(r['seconds_topology'])} s)",
                    f"original SET code {anchor} s/epoch (PERFORMANCE.md §3)",
                    f"{anchor / r['seconds_epoch']:.0f}×"])
    m32, m64 = training.get("MNIST float32"), training.get("MNIST float64")
    if m32 and m64:
        scaled = (f" (scaled from {m32['n_train']:,} samples)" if m32["scaled_to_60000"] else "")
        out.append(["MNIST 784-1000-1000-1000-10, B = 128, float32 / float64",
                    f"{fmt(m32['seconds_epoch'])} / {fmt(m64['seconds_epoch'])} s/epoch{scaled}",
                    "target 4.5 s (float32)", "—"])
    topo = run.get("topology") or []
    build = next((r for r in topo if r["kind"] == "build"
                  and r["layers"] == [3312, 3000, 3000, 3000, 5]), None)
    if build:
        out.append(["build 3312-3000-3000-3000-5", ms(build["seconds_median"]),
                    f"original SET code {ANCHORS['build']:.0f} s (PERFORMANCE.md §3)",
                    f"{ANCHORS['build'] / build['seconds_median']:.0f}×"])
    step = next((r for r in topo if r["kind"] == "set_step" and r.get("layer") == 0
                 and (r["n_in"], r["n_out"]) == (3312, 3000)), None)
    if step:
        links = step.get("nnz") or (build["nnz"][0] if build else None)
        out.append([f"SET update of a {links:,}-link layer" if links else "SET update, layer 0",
                    ms(step["seconds_median"]),
                    f"target 25 ms; original code {ANCHORS['lung topology']} s for the lung "
                    "epoch's four layers (PERFORMANCE.md §3)", "—"])
    ch3 = {r["impl"]: r for r in run.get("ch3") or [] if r["op"] == "top_k"
           and (r["n_in"], r["n_out"]) == (784, 1568)}
    if "cython" in ch3:
        twin = ch3.get("numpy twin")
        out.append(["CH3-L3 scores + top-k, 784 × 1568 at 1 %", ms(ch3["cython"]["seconds_median"]),
                    (f"numpy twin {fmt(twin['seconds_median'])} s; " if twin else "")
                    + f"published CHT code {PUBLISHED_CHT_SECONDS} (PERFORMANCE.md §3)",
                    f"{ratio(ch3['cython']['vs_twin'])} twin" if twin else "—"])
    imp = next((r for r in run.get("paths") or [] if r["kind"] == "importances"
                and r["layers"] == [784, 1000, 1000, 1000, 10]), None)
    if imp:
        out.append(["Path-Weight importances, 784-1000-1000-1000-10", ms(imp["seconds_median"]),
                    "target 50 ms", "—"])
    return out + torch_rows(run) + original_rows(run)


def _mib(rec):
    extra = (f" (+{fmt(rec['in_training_mib'])} in training)"
             if rec.get("in_training_mib") is not None else "")
    return f"{fmt(rec['peak_mib'])} MiB{extra}"


def torch_rows(run):
    """One row per workload of the torch section: refset against PyTorch masked dense and
    torch.sparse (training pass only; time ratio = PyTorch / refset)."""
    groups = {}
    for r in run.get("torch") or []:
        if "workload" in r:
            groups.setdefault(r["workload"], {})[r["impl"]] = r
    out = []
    for workload, g in groups.items():
        ref = g.get("refset")
        if not ref or "seconds_epoch" not in ref:
            continue
        scaled = f", scaled from {ref['n_train']:,} samples" if ref["scaled_to_60000"] else ""
        baseline, ratios = [], []
        for impl, label, short in (("torch dense", "PyTorch masked dense", "dense"),
                                   ("torch.sparse", "torch.sparse", "torch.sparse")):
            r = g.get(impl)
            if r and "seconds_epoch" in r:
                baseline.append(f"{label} {fmt(r['seconds_epoch'])} s, {_mib(r)}")
                ratios.append(f"{ratio(r['vs_refset'])} {short}")
            elif r:
                baseline.append(f"{label} {r.get('not_run') or 'failed'}")
        out.append([f"{workload.replace('B=', 'B = ')}: training pass vs PyTorch",
                    f"{fmt(ref['seconds_epoch'])} s/epoch{scaled}, {_mib(ref)}",
                    "; ".join(baseline), "; ".join(ratios) or "—"])
    return out


def original_rows(run):
    """One row per dataset of the original section: refset (fidelity 'paper') against the
    original SET code, both measured in this run."""
    groups = {}
    for r in run.get("original") or []:
        if "dataset" in r:
            groups.setdefault(r["dataset"], {})[r["impl"]] = r
    out = []
    for dataset, g in groups.items():
        orig, ref = g.get("original"), g.get("refset")
        if not (orig and ref and "seconds_epoch" in orig and "seconds_epoch" in ref):
            continue
        out.append([f"{dataset}, 3 × 3000, B = 2, float64, the original's split (*this run*)",
                    f"{fmt(ref['seconds_epoch'])} s/epoch (topology "
                    f"{fmt(ref['seconds_topology'])} s)",
                    f"original SET code {fmt(orig['seconds_epoch'])} s/epoch (topology "
                    f"{fmt(orig['seconds_topology'])} s)", ratio(orig["over_refset"])])
    return out


def table(run, source):
    """The README block (caption line, blank line, markdown table) of one run."""
    lines = [machine_line(run, source), "",
             "| workload | refset | baseline | ratio |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows(run)]
    return "\n".join(lines)


def _wrap(text, width=96):
    import textwrap

    first, rest = text.split("\n", 1)
    return textwrap.fill(first, width=width, break_on_hyphens=False) + "\n" + rest


def block(run, source):
    return f"{BEGIN}\n{_wrap(table(run, source))}\n{END}"


def current_block(text):
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start:end + len(END)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="the --json output of benchmarks/run.py")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace the table in README.md")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 if README.md's table is not the one of this run")
    p.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    run = json.loads(args.run.read_text(encoding="utf-8"))
    try:
        source = args.run.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        source = args.run.as_posix()
    new = block(run, source)
    if not (args.write or args.check):
        print(new)
        return 0
    text = args.readme.read_text(encoding="utf-8")
    old = current_block(text)
    if old is None:
        print(f"{args.readme} has no {BEGIN} ... {END} block", file=sys.stderr)
        return 1
    if args.check:
        if old == new:
            print(f"{args.readme}: the performance table is the one of {source}")
            return 0
        import difflib

        print(f"{args.readme}: the performance table differs from the one of {source} "
              f"(python benchmarks/readme_table.py {source} --write):")
        print("\n".join(difflib.unified_diff(old.splitlines(), new.splitlines(), "README.md",
                                             "generated", lineterm="")))
        return 1
    if old != new:
        args.readme.write_text(text.replace(old, new, 1), encoding="utf-8")
        print(f"{args.readme}: performance table rewritten from {source}")
    else:
        print(f"{args.readme}: performance table already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
