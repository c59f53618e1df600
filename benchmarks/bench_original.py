"""Optional section **original**: the original SET code beside refset, seconds per epoch.

``run.py --original-code PATH``.  The original SET code's reference configuration
(3 × 3000 ReLU, sigmoid output, MSE, ε = 20, ζ = 0.3, B = 2, η = 0.01, μ = 0.9, λ = 2e-4,
float64) beside refset with ``fidelity="paper"`` on COIL20 and TOX-171, the same split and
standardised arrays, through ``experiments/set_original.py``: the checkout is copied to a
temporary directory, patched there (two one-line fixes) and built once; it is never copied
into this repository.  Runs alternate original, refset, each in a fresh process (this
benchmark re-run with ``--_worker``, :func:`bench_common.run_interleaved`) on one thread.

Per run, each epoch is split into training, evaluation and topology update (the original's
own timers; refset's ``history_``), and CPU seconds are recorded beside wall seconds.  Peak
memory is VmHWM of each worker (:func:`bench_common.vm_status_kib`).
"""
import importlib
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_common import format_table, print_result, run_interleaved, vm_status_kib
from bench_peers import ONE_THREAD, peer_settings

__all__ = ["check_original_code", "run_original", "original_table", "worker_main"]

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_IMPLS = ("original", "refset")
_MIB = 1 / 1024      # KiB -> MiB


def _set_original():
    """experiments/set_original.py, which loads, patches and runs the original SET code."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return importlib.import_module("experiments.set_original")


# -- the worker (runs in its own process) ---------------------------------------------------
def worker_main(cfg):
    """Run one implementation on one dataset; print its result as one JSON line."""
    set_original = _set_original()
    data = set_original.load_split(cfg["dataset"], cfg["data_dir"])
    if cfg["impl"] == "original":
        sys.path.insert(0, cfg["built"])           # the patched copy, built by the parent
        module = importlib.import_module(set_original.MODULE)
        rec, _ = set_original.run_original(module, data, cfg["seed"], cfg["epochs"])
        accuracy = rec["test_accuracy_all_rows"]
    else:
        rec, _ = set_original.run_refset("paper", data, cfg["seed"], cfg["epochs"])
        accuracy = rec["test_accuracy"]
    keys = ("seconds_train", "seconds_eval", "seconds_topology", "cpu_train", "cpu_eval",
            "cpu_topology", "train_loss")
    result = {"dataset": cfg["dataset"], "impl": cfg["impl"], **{k: rec[k] for k in keys},
              "test_accuracy": accuracy, "seconds_init": rec.get("seconds_init"),
              "n_train": int(data["X_train"].shape[0]), "n_test": int(data["X_test"].shape[0]),
              "vmhwm_kib": vm_status_kib("VmHWM")["VmHWM"]}
    print_result(result)
    return 0


# -- the parent ------------------------------------------------------------------------------
def check_original_code(path):
    """None if ``path`` holds the original SET code, else a one-line message."""
    try:
        _set_original()._locate_folder(path)
    except SystemExit as exc:
        return str(exc)
    return None


def run_original(path, mode, data_dir, seed, script, log):
    """The original section's records and errors (the checkout built once, in a temp dir)."""
    from refset.datasets import data_home

    load_original = _set_original().load_original

    cfg = peer_settings(mode)["original"]
    data_dir = str(data_home(data_dir))
    work = tempfile.mkdtemp(prefix="refset-bench-set-original-")
    records, errors = [], []
    try:
        log(f"  original: building the patched copy of {path} in {work}")
        try:
            module = load_original(path, work, verbose=False)
        except SystemExit as exc:                  # a failed build (compiler, Cython)
            errors.append(f"original: {exc}")
            return [{"error": str(exc)}], errors
        built = str(Path(module.__file__).parent)
        env = dict(os.environ, **ONE_THREAD)
        for dataset in cfg["datasets"]:
            if not (Path(data_dir) / f"{dataset}.mat").is_file():
                records += [{"dataset": dataset, "impl": impl,
                             "skipped": f"data not found ({dataset}.mat in {data_dir})"}
                            for impl in ORIGINAL_IMPLS]
                continue
            jobs = {impl: dict(section="original", impl=impl, dataset=dataset,
                               data_dir=data_dir, seed=seed, epochs=cfg["epochs"], built=built)
                    for impl in ORIGINAL_IMPLS}
            runs, failed, errs = run_interleaved(
                script, jobs, cfg["repeats"], env, f"original {dataset}", log,
                lambda res: f"{_phases(res, 'seconds')['epoch']:.3g} s/epoch")
            errors += errs
            records += _original_records(dataset, runs, failed, cfg)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return records, errors


def _phases(run, prefix):
    """Per-epoch medians of one run: training and evaluation over epochs 2..E (all when E < 3),
    topology over the epochs that had an update (all but the last)."""
    train, ev, topo = (run[f"{prefix}_{k}"] for k in ("train", "eval", "topology"))
    E = len(train)
    used = slice(1, None) if E >= 3 else slice(None)
    out = {"train": statistics.median(train[used]), "eval": statistics.median(ev[used]),
           "topology": statistics.median(topo[:E - 1]) if E > 1 else 0.0}
    out["epoch"] = out["train"] + out["eval"] + out["topology"]
    return out


def _original_records(dataset, runs, failed, cfg):
    out = []
    for impl in ORIGINAL_IMPLS:
        rec = {"dataset": dataset, "impl": impl, "repeats": len(runs[impl]),
               "epochs": cfg["epochs"]}
        if not runs[impl]:
            rec["error"] = failed.get(impl, "no run")
            out.append(rec)
            continue
        for prefix in ("seconds", "cpu"):
            per_run = [_phases(r, prefix) for r in runs[impl]]
            med = {k: statistics.median(p[k] for p in per_run) for k in per_run[0]}
            key = "" if prefix == "seconds" else "cpu_"
            rec.update({f"{key}seconds_{k}": v for k, v in med.items()})
            rec[f"{key}seconds_epoch_min"] = min(p["epoch"] for p in per_run)
            rec[f"{key}seconds_epoch_max"] = max(p["epoch"] for p in per_run)
        first = runs[impl][0]
        rec.update({"n_train": first["n_train"], "n_test": first["n_test"],
                    "test_accuracy_last": statistics.median(r["test_accuracy"][-1]
                                                            for r in runs[impl]),
                    "peak_mib": statistics.median(r["vmhwm_kib"] for r in runs[impl]) * _MIB,
                    "per_run": runs[impl]})
        out.append(rec)
    orig, ref = out
    if "seconds_epoch" in orig and "seconds_epoch" in ref:
        orig["over_refset"] = orig["seconds_epoch"] / ref["seconds_epoch"]
        orig["cpu_over_refset"] = orig["cpu_seconds_epoch"] / ref["cpu_seconds_epoch"]
    return out


def original_table(records):
    title = "original: the original SET code vs refset (seconds per epoch, 1 thread)"
    if len(records) == 1 and "dataset" not in records[0]:
        return format_table(title, ["section"], [["FAILED"]], [records[0]["error"][:300]])
    headers = ["dataset", "code", "runs x epochs", "train s", "eval s", "topo s", "s/epoch",
               "min", "max", "orig/refset", "CPU orig/refset", "test acc", "peak MiB"]
    rows, notes = [], []
    for r in records:
        code = "original SET code" if r["impl"] == "original" else "refset (paper)"
        if "seconds_epoch" not in r:
            why = r.get("skipped") or r.get("error", "")
            rows.append([r["dataset"], code, "skipped" if "skipped" in r else "FAILED"]
                        + ["-"] * 10)
            notes.append(f"{r['dataset']}, {code}: {why.splitlines()[-1][:300] if why else ''}")
            continue
        rows.append([r["dataset"], code, f"{r['repeats']} x {r['epochs']}", r["seconds_train"],
                     r["seconds_eval"], r["seconds_topology"], r["seconds_epoch"],
                     r["seconds_epoch_min"], r["seconds_epoch_max"], r.get("over_refset"),
                     r.get("cpu_over_refset"), r["test_accuracy_last"], r["peak_mib"]])
    notes[:0] = [
        "both: 3 x 3000 ReLU, sigmoid + MSE, eps 20, zeta 0.3, B 2, lr 0.01, momentum 0.9, "
        "weight decay 2e-4 (original style), float64; the original's split (seed-0 shuffle, "
        "first 2/3) and z-scoring (experiments/set_original.py); refset fidelity='paper'",
        "s/epoch = train + eval + topology, per run the median over epochs (train and eval over "
        "epochs 2..E when E >= 3; topology over the epochs that had an update, all but the "
        "last), then the median over the runs, alternating original and refset in fresh "
        "processes; min, max: spread of s/epoch over the runs",
        "original: its own timers (wall); eval: the original predicts the test set at B = 2, "
        "refset in chunks of 256; CPU orig/refset: the same ratio in process CPU seconds",
        "orig/refset > 1: refset is faster; test acc: after the last epoch (every test row)"]
    return format_table(title, headers, rows, notes)
