"""Timing, table printing and the machine description shared by the benchmark sections.

Every figure the suite reports is a median over repeats, and every comparison is a ratio
against a baseline timed in the same run (PERFORMANCE.md §1: the machine is shared and noisy).
:func:`median_times` times several implementations of the same operation *round-robin*, so
that a burst of load from another process hits all of them alike instead of one.

Sections that train (training, torch, original) run each configuration in a fresh interpreter:
:func:`spawn_worker` re-runs the benchmark script with ``--_worker`` and reads back the one
result line the worker printed with :func:`print_result`.  A worker measures its own peak
memory: :func:`reset_peak` resets VmHWM, :func:`vm_status_kib` reads it.
"""
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

__all__ = ["median_times", "format_table", "machine_description", "cpu_description", "cpu_summary",
           "vm_status_kib", "reset_peak", "RESULT_MARK", "spawn_worker", "print_result", "fmt"]

RESULT_MARK = "@@BENCH-RESULT@@ "


def median_times(candidates, repeats, *, min_sample=2e-3, max_loops=10_000, slow_call=0.05,
                 slow_repeats=3):
    """Time several callables round-robin; median seconds per call for each.

    Parameters
    ----------
    candidates : dict of str -> callable
        Zero-argument callables computing the same thing.
    repeats : int
        Samples per candidate (its median is reported).
    min_sample : float
        Each sample loops the call until it lasts at least this long (short calls are
        dominated by timer resolution otherwise).
    slow_call, slow_repeats :
        A candidate whose single call exceeds ``slow_call`` seconds gets only
        ``min(repeats, slow_repeats)`` samples (the numpy twins at large batches).

    Returns
    -------
    dict of str -> dict
        ``median``, ``min``, ``max`` (seconds per call), ``repeats``, ``loops``.
    """
    names = list(candidates)
    loops, reps = {}, {}
    for name in names:
        fn = candidates[name]
        fn()                                   # warm-up: page faults, lazy allocations
        t0 = time.perf_counter()
        fn()
        single = time.perf_counter() - t0
        loops[name] = max(1, min(max_loops, math.ceil(min_sample / max(single, 1e-9))))
        reps[name] = repeats if single < slow_call else max(1, min(repeats, slow_repeats))
    samples = {name: [] for name in names}
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(max(reps.values(), default=0)):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:     # rotate: no fixed position bias
                if r >= reps[name]:
                    continue
                fn, k = candidates[name], loops[name]
                t0 = time.perf_counter()
                for _ in range(k):
                    fn()
                samples[name].append((time.perf_counter() - t0) / k)
    finally:
        if gc_enabled:
            gc.enable()
    return {name: {"median": statistics.median(s), "min": min(s), "max": max(s),
                   "repeats": len(s), "loops": loops[name]} for name, s in samples.items()}


def fmt(value, digits=3):
    """Compact number formatting for tables (None and NaN print as '-')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:.{decimals}f}"


def format_table(title, headers, rows, notes=()):
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    out = [f"\n== {title} ==", line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    out += [f"   {note}" for note in notes]
    return "\n".join(out)


def vm_status_kib(*keys):
    """Fields of /proc/self/status in KiB (None where unavailable, e.g. not on Linux)."""
    found = dict.fromkeys(keys)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in found:
                    found[key] = int(rest.split()[0])
    except OSError:
        pass
    return found


def reset_peak():
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def spawn_worker(script, cfg, env):
    """Run ``script --_worker JSON`` for one configuration in a fresh interpreter.

    Returns ``(result, None)``, the dict the worker printed with :func:`print_result`, or
    ``(None, message)`` when it printed none: its exit status and the last lines of its output.
    """
    proc = subprocess.run([sys.executable, str(script), "--_worker", json.dumps(cfg)],
                          capture_output=True, text=True, env=env)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):]), None
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    return None, f"worker exited with {proc.returncode}: {tail}"


def run_interleaved(script, jobs, repeats, env, label, log, summary, failed=None):
    """Every job ``repeats`` times, round-robin (run 1 of each, then run 2, ...), each run in
    a fresh process (:func:`spawn_worker`).

    ``jobs`` maps an implementation's name to its worker configuration; one that fails is
    not run again, and names already in ``failed`` are not run at all.  ``summary(result)``
    is the text logged after each run.  Returns ``(runs, failed, errors)``: the results per
    implementation (each with its ``process_seconds``), the failure message per
    implementation, and one line per failure for the run's error list.
    """
    runs = {impl: [] for impl in jobs}
    failed, errors = dict(failed or {}), []
    for rep in range(repeats):
        for impl, job in jobs.items():
            if impl in failed:
                continue
            t0 = time.perf_counter()
            res, error = spawn_worker(script, job, env)
            if error is not None:
                failed[impl] = error
                errors.append(f"{label} {impl}: {error}")
                log(f"  {label} {impl}: FAILED ({error.splitlines()[0]})")
                continue
            res["process_seconds"] = time.perf_counter() - t0
            runs[impl].append(res)
            log(f"  {label} {impl} run {rep + 1}: {summary(res)} "
                f"(process {res['process_seconds']:.1f} s)")
    return runs, failed, errors


def print_result(result):
    """A worker's result: one JSON line on stdout, marked for :func:`spawn_worker`."""
    print(RESULT_MARK + json.dumps(result), flush=True)


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# Vector extensions worth naming in a benchmark header (the kernels are built with -march=native).
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
              "avx512_bf16", "amx_tile", "neon", "asimd", "sve")
LSCPU_FIELDS = {"Model name": "model", "Vendor ID": "vendor", "Hypervisor vendor": "hypervisor",
                "L1d cache": "l1d", "L2 cache": "l2", "L3 cache": "l3",
                "Thread(s) per core": "threads_per_core", "Socket(s)": "sockets"}


def cpu_description():
    """What ``lscpu`` says about the CPU (model, caches, hypervisor, vector extensions).

    Falls back to /proc/cpuinfo (model, flags) where ``lscpu`` is missing; the keys it could
    not find are absent.  ``simd`` lists the extensions of :data:`SIMD_FLAGS` the CPU has.
    """
    import shutil
    import subprocess

    info, flags = {}, []
    if shutil.which("lscpu"):
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                                 env=dict(os.environ, LC_ALL="C")).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key in LSCPU_FIELDS:
                info[LSCPU_FIELDS[key]] = value
            elif key == "Flags":
                flags = value.split()
    if not flags:
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key.strip() in ("flags", "Features") and not flags:
                        flags = value.split()
        except OSError:
            pass
    info.setdefault("model", _cpu_model())
    info["simd"] = [f for f in SIMD_FLAGS if f in flags]
    info["source"] = "lscpu" if "vendor" in info else "/proc/cpuinfo"
    return info


def cpu_summary(cpu, cores):
    """'AMD EPYC, 2 cores (KVM guest), AVX-512 (avx512f avx512bw ...), L2 2 MiB (2 instances)'."""
    simd = cpu.get("simd", [])
    widest = ("AVX-512" if "avx512f" in simd else "AVX2" if "avx2" in simd
              else "AVX" if "avx" in simd else None)
    parts = [f"{cpu.get('model', '?')}, {cores} cores"
             + (f" ({cpu['hypervisor']} guest)" if cpu.get("hypervisor") else "")]
    if widest:
        parts.append(f"{widest} ({' '.join(simd)})")
    if cpu.get("l2"):
        parts.append(f"L2 {cpu['l2']}")
    return ", ".join(parts)


def _mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _blas():
    import numpy as np
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name')} {info.get('version')}"
    except Exception:                     # older numpy: no mode="dicts"
        return "unknown"


def machine_description():
    """CPU (model, caches, vector extensions), cores, memory, library versions, BLAS,
    refset.show_config() and the load."""
    import numpy
    import scipy

    import refset

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "cpu_model": _cpu_model(),
        "cpu": cpu_description(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "memory_gib": _mem_total_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "blas": _blas(),
        "refset_config": refset.show_config(print_out=False),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                "MKL_NUM_THREADS", "REFSET_BACKEND",
                                                "REFSET_DATA")},
        "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
