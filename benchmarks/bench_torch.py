"""Optional section **torch**: refset's training pass against PyTorch's, one thread each.

``run.py --torch``; skipped with a note when PyTorch is not installed.  The same SET-MLP is
trained three ways, one thread each: refset (``SparseMLP``); PyTorch with dense weight
matrices whose gradients are multiplied by the 0/1 mask after every backward pass (momentum
and weight decay keep the zeros at zero); and PyTorch with the links of each layer as the
learnable values of a ``torch.sparse_csr_tensor``.  The three start from the same network: the
peers copy the topology, weights and biases of a ``SparseMLP`` built with the same seed
(``SparseMLP._initialize``, the first thing ``fit`` does) and take their batch order from that
model's generator (``permutation(n)`` per epoch, as ``fit`` draws it), so the same samples
meet the same weights and the training losses differ only by rounding.  Same widths, ε, ReLU
hidden layers, loss (softmax + cross-entropy, or sigmoid + MSE), SGD with momentum, weight
decay of the same style on the weights only, batch size and data.

The torch.sparse layer is a small ``torch.autograd.Function``: forward ``Wᵀ A`` and the input
gradient ``W G`` are CSR × dense products (MKL), the gradient of the values is
``torch.sparse.sampled_addmm`` (an SDDMM on the links).  PyTorch's own autograd through a
sparse tensor (``sparse_csr_tensor(values) @ A`` or ``torch.sparse.mm`` on COO) forms the
dense weight gradient and then masks it: measured here 8–30× slower per layer (ε = 20,
3312 × 3000 at B = 2 and 128, 10000 × 10000 at B = 128), so it would compare refset with a
strawman.

Only the training pass is compared: forward, loss, backward and SGD over an epoch's batches.
refset runs with ``update_interval`` past the last epoch, so there is no topology update (it is
measured in the training and topology sections) and all three train the identical network;
there is no evaluation pass.  Each implementation trains in its own fresh process (this
benchmark re-run with ``--_worker``, :func:`bench_common.run_interleaved`), repetitions interleaved
(refset, dense, sparse; refset, dense, sparse; ...).  Epoch 1 of every run warms up; the
epochs after it are timed.  A dense peer whose estimated memory (weights, mask, gradient and
momentum, plus activations) exceeds ``memory_cap_gib`` is not started.

Peak memory is VmHWM of each worker (:func:`bench_common.vm_status_kib`); "in training" is
the peak after resetting it once the data were loaded (:func:`bench_common.reset_peak`), minus
the resident set at that moment.
"""
import gc
import os
import statistics
import warnings

from bench_common import (format_table, print_result, reset_peak, run_interleaved,
                          vm_status_kib)
from bench_peers import ONE_THREAD, peer_settings
from bench_torch_models import DensePeer, SparsePeer, TorchData, train_torch
from bench_training import load_data

__all__ = ["TORCH_MISSING", "torch_workloads", "dense_bytes", "torch_version", "run_torch",
           "torch_table", "worker_main"]

TORCH_MISSING = "PyTorch is not installed (pip install torch)"
IMPLS = ("refset", "torch dense", "torch.sparse")
_MIB = 1 / 1024      # KiB -> MiB


def torch_workloads(mode, data_dir, seed):
    """The torch section's workloads; ``n_train`` None means the whole training set."""
    tiny = mode == "tiny"
    cfg = peer_settings(mode)["torch"]
    common = dict(seed=seed, data_dir=data_dir, epsilon=20.0, zeta=0.3, learning_rate=0.01,
                  momentum=0.9, weight_decay=2e-4, epochs=cfg["epochs"],
                  repeats=cfg["repeats"], reference=not tiny)
    mnist = dict(common, data="mnist", n_features=784, n_classes=10, loss="cross_entropy",
                 weight_decay_style="coupled", batch_size=128, dtype="float32",
                 scale_to=None if tiny else 60_000)
    lung = dict(common, data="lung_synthetic", loss="mse", weight_decay_style="original",
                batch_size=2, dtype="float64")
    if tiny:
        tiny_lung = dict(n_samples=45, n_features=300, n_classes=5)
        return [dict(mnist, name="tiny 784-64-64-64-10, B=128, float32", hidden=(64, 64, 64),
                     n_train=384, data="synthetic"),
                dict(lung, name="tiny lung-shaped 300-64-64-64-5, B=2, float64",
                     hidden=(64, 64, 64), synthetic=tiny_lung, n_features=300, n_classes=5)]
    lung_shape = dict(n_samples=203, n_features=3312, n_classes=5)
    # the masked dense peer needs ~4 s per batch of 128 at 10,000 wide on the project machine,
    # so that workload trains on a small subset (scaled to 60,000 samples, like MNIST in --quick)
    return [dict(mnist, name="MNIST-shaped 784-1000-1000-1000-10, B=128, float32",
                 hidden=(1000, 1000, 1000), n_train=10_000 if mode == "quick" else None),
            dict(mnist, name="784-10000-10000-10000-10, B=128, float32",
                 hidden=(10_000, 10_000, 10_000), n_train=256 if mode == "quick" else 1024),
            dict(lung, name="lung-shaped 3312-3000-3000-3000-5, B=2, float64",
                 hidden=(3000, 3000, 3000), synthetic=lung_shape, n_features=3312,
                 n_classes=5)]


def dense_bytes(widths, batch_size, itemsize):
    """Estimated bytes of the masked dense peer: weights, mask, gradient and momentum of every
    layer, plus a few activation-sized buffers per layer (the data are not counted)."""
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return (4 * weights + 4 * batch_size * sum(widths)) * itemsize


# -- the worker (runs in its own process) ---------------------------------------------------
def _workload_data(cfg):
    """(X, y, source): the workload's training samples in the model dtype."""
    import numpy as np

    import refset

    source = None
    if cfg["data"] != "synthetic":
        try:
            X, y, _, _, source = load_data(cfg)     # MNIST, or synthetic data of lung's shape
        except refset.DatasetNotFoundError:
            pass
    if source is None:             # tiny runs, or no MNIST files: synthetic data of its shape
        X, y = refset.make_synthetic(n_samples=cfg.get("n_train") or 60_000,
                                     n_features=cfg["n_features"], n_classes=cfg["n_classes"],
                                     seed=cfg["seed"])
        source = "synthetic (make_synthetic)" + ("" if cfg["data"] == "synthetic" else
                                                 f" of MNIST's shape: {cfg['data']} not found")
    return np.ascontiguousarray(X, dtype=cfg["dtype"]), y, source


def _refset_model(cfg):
    import refset

    return refset.SparseMLP(
        tuple(cfg["hidden"]), epsilon=cfg["epsilon"], zeta=cfg["zeta"], epochs=cfg["epochs"],
        batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"],
        momentum=cfg["momentum"], weight_decay=cfg["weight_decay"],
        weight_decay_style=cfg["weight_decay_style"], loss=cfg["loss"], dtype=cfg["dtype"],
        threads=1, seed=cfg["seed"], update_interval=cfg["epochs"] + 1)


def worker_main(cfg):
    """Train one implementation on one workload; print its result as one JSON line."""
    os.environ.update(ONE_THREAD)           # before torch (and its OpenMP) is imported
    X, y, source = _workload_data(cfg)
    result = {"workload": cfg["name"], "impl": cfg["impl"], "data_source": source,
              "n_train": int(X.shape[0]), "n_features": int(X.shape[1])}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="epsilon=.*makes the")   # dense output layer
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        run = _train_refset if cfg["impl"] == "refset" else _train_peer
        history, layers, before, extra = run(cfg, X, y)
    result.update({
        "layers": [layers[0][0][0]] + [shape[1] for shape, _ in layers],
        "nnz": [int(nnz) for _, nnz in layers], "history": history,
        "memory": {"vmhwm_kib": extra.pop("vmhwm_kib"), "vmrss_before_kib": before["VmRSS"],
                   "vmhwm_before_kib": before["vmhwm_before_kib"],
                   "peak_reset": before["reset"]}, **extra})
    print_result(result)
    return 0


def _train_refset(cfg, X, y):
    """refset's run: ``SparseMLP.fit``; per-epoch seconds and metrics from ``history_``."""
    gc.collect()
    before = _start_peak()
    model = _refset_model(cfg).fit(X, y)
    peak = vm_status_kib("VmHWM")["VmHWM"]
    history = [{k: h[k] for k in ("epoch", "seconds_train", "train_loss", "train_accuracy")}
               for h in model.history_]
    return history, [(W.shape, W.nnz) for W in model.layers_], before, {"vmhwm_kib": peak}


def _train_peer(cfg, X, y):
    """A PyTorch peer's run, from the network and batch orders of refset's run."""
    import numpy as np
    import torch

    from refset.draws import draws_from_seed

    torch.set_num_threads(1)
    if torch.get_num_interop_threads() != 1:
        torch.set_num_interop_threads(1)     # possible once per process only
    model = _refset_model(cfg)               # what fit() builds and draws first
    classes = np.unique(y)
    model._initialize(X.shape[1], classes.size, draws_from_seed(cfg["seed"]))
    init = [(W.rows, W.cols, W.values, W.shape) for W in model.layers_]
    biases = list(model.biases_)
    orders = [model._rng.permutation(X.shape[0]) for _ in range(cfg["epochs"])]
    layers = [(W.shape, W.nnz) for W in model.layers_]
    del model
    sparse = cfg["impl"] == "torch.sparse"
    data = TorchData(torch, X, np.searchsorted(classes, y), classes.size, sparse)
    gc.collect()
    before = _start_peak()
    peer = (SparsePeer if sparse else DensePeer)(torch, init, biases, data, cfg["loss"])
    history = train_torch(torch, peer, data, orders, cfg)
    extra = {"vmhwm_kib": vm_status_kib("VmHWM")["VmHWM"], "torch": torch.__version__}
    if not sparse:                          # after reading the peak: the check allocates
        extra["zeros_kept"] = peer.zeros_kept()
    return history, layers, before, extra


def _start_peak():
    """Note the peak so far, hand freed heap memory back to the system (glibc), reset VmHWM
    and note the resident set: the start of the 'in training' figure."""
    so_far = vm_status_kib("VmHWM")["VmHWM"]
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    reset = reset_peak()
    return {"reset": reset, "vmhwm_before_kib": so_far, **vm_status_kib("VmRSS")}


# -- the parent ------------------------------------------------------------------------------
def torch_version():
    """PyTorch's version if ``import torch`` works, else None."""
    try:
        import torch
    except (ImportError, OSError):           # not installed, or its libraries do not load
        return None
    return torch.__version__


def run_torch(mode, data_dir, seed, script, log, memory_cap_gib=None):
    """The torch section's records and errors; one skipped record without PyTorch.

    ``memory_cap_gib`` (default: the mode's setting) bounds the masked dense peer's estimated
    memory (:func:`dense_bytes`); above it, that peer is recorded as not run."""
    if torch_version() is None:
        log(f"  torch: skipped ({TORCH_MISSING})")
        return [{"skipped": TORCH_MISSING}], []
    cap = memory_cap_gib or peer_settings(mode)["torch"]["memory_cap_gib"]
    env = dict(os.environ, **ONE_THREAD)
    records, errors = [], []
    for w in torch_workloads(mode, data_dir, seed):
        failed = {}
        widths = [w["n_features"], *w["hidden"], w["n_classes"]]
        need = dense_bytes(widths, w["batch_size"], 4 if w["dtype"] == "float32" else 8)
        if need > cap * 2**30:
            failed["torch dense"] = (f"not run: needs {need / 2**30:.1f} GiB (estimate; cap "
                                     f"{cap:g} GiB)")
        jobs = {impl: dict(w, section="torch", impl=impl) for impl in IMPLS}
        runs, failed, errs = run_interleaved(
            script, jobs, w["repeats"], env, f"torch {w['name']}", log,
            lambda res: f"{_train_seconds(res):.3g} s/epoch measured", failed)
        errors += errs
        records += _torch_records(w, runs, failed, widths, need)
    return records, errors


def _train_seconds(res):
    """Mean training seconds per epoch of one run, without the warm-up epoch when there are more."""
    return statistics.mean(h["seconds_train"] for h in (res["history"][1:] or res["history"]))


def _torch_records(w, runs, failed, widths, need):
    n_full = w.get("scale_to")
    out = []
    for impl in IMPLS:
        rec = {"workload": w["name"], "impl": impl, "layers": widths, "dtype": w["dtype"],
               "batch_size": w["batch_size"], "loss": w["loss"],
               "weight_decay_style": w["weight_decay_style"], "epsilon": w["epsilon"],
               "reference_workload": w["reference"], "dense_estimate_bytes": need}
        if not runs[impl]:
            reason = failed.get(impl, "no run")
            rec["not_run" if reason.startswith("not run") else "error"] = reason
            out.append(rec)
            continue
        first = runs[impl][0]
        n = first["n_train"]
        scale = n_full / n if n_full and n < n_full else 1.0
        per_run = [statistics.mean(h["seconds_train"] for h in (r["history"][1:]
                                                                  or r["history"]))
                   for r in runs[impl]]
        mem = [r["memory"] for r in runs[impl]]
        last = first["history"][-1]
        rec.update({
            "data_source": first["data_source"], "n_train": n, "nnz": first["nnz"],
            "epochs": len(first["history"]),
            "epochs_timed": [h["epoch"] for h in (first["history"][1:] or first["history"])],
            "scaled_to_60000": scale != 1.0, "scale_factor": scale, "repeats": len(per_run),
            "measured_seconds_runs": per_run,
            "seconds_epoch": statistics.median(per_run) * scale,
            "seconds_epoch_min": min(per_run) * scale,
            "seconds_epoch_max": max(per_run) * scale,
            "peak_mib": statistics.median(m["vmhwm_kib"] for m in mem) * _MIB,
            "process_peak_mib": statistics.median(max(m["vmhwm_kib"], m["vmhwm_before_kib"])
                                                  for m in mem) * _MIB,
            "in_training_mib": (statistics.median(m["vmhwm_kib"] - m["vmrss_before_kib"]
                                                  for m in mem) * _MIB
                                if all(m["peak_reset"] for m in mem) else None),
            "train_loss": last["train_loss"], "train_accuracy": last["train_accuracy"],
            "train_loss_runs": [r["history"][-1]["train_loss"] for r in runs[impl]],
            "torch": first.get("torch"), "per_run": runs[impl]})
        if "zeros_kept" in first:
            rec["zeros_kept"] = all(r["zeros_kept"] for r in runs[impl])
        out.append(rec)
    ref = out[0]
    for rec in out[1:]:
        if "seconds_epoch" in rec and "seconds_epoch" in ref:
            rec["vs_refset"] = rec["seconds_epoch"] / ref["seconds_epoch"]
            rec["loss_rel_diff"] = abs(rec["train_loss"] - ref["train_loss"]) / abs(
                ref["train_loss"])
    return out


def torch_table(records):
    if len(records) == 1 and "skipped" in records[0]:
        return format_table("torch: refset vs PyTorch (training pass, 1 thread)", ["section"],
                            [["skipped"]], [records[0]["skipped"]])
    headers = ["workload", "impl", "n_train", "s/epoch", "min", "max", "vs refset",
               "peak MiB", "in training MiB", "train loss", "loss rel. diff"]
    rows, notes, scaled = [], [], {}
    for i, r in enumerate(records):
        first = i == 0 or records[i - 1]["workload"] != r["workload"]
        name = r["workload"] + ("" if r["reference_workload"] else " [tiny]") if first else ""
        if "seconds_epoch" not in r:
            rows.append([name, r["impl"], "-", r.get("not_run") and "not run" or "FAILED"]
                        + ["-"] * 7)
            why = r.get("not_run") or " | ".join(r.get("error", "").splitlines()[-2:])
            notes.append(f"{r['workload']}, {r['impl']}: {why[:300]}")
            continue
        diff = r.get("loss_rel_diff")
        rows.append([name, r["impl"], r["n_train"], r["seconds_epoch"], r["seconds_epoch_min"],
                     r["seconds_epoch_max"], r.get("vs_refset"), r["peak_mib"],
                     r["in_training_mib"], r["train_loss"],
                     None if diff is None else f"{diff:.1e}"])
        if r["scaled_to_60000"]:
            scaled[r["workload"]] = (r["n_train"], r["scale_factor"])
        if r.get("zeros_kept") is False:
            notes.append(f"{r['workload']}, torch dense: weights outside the mask became "
                         "nonzero")
    timed = next((r for r in records if "epochs" in r), None)
    if timed:
        epochs = timed["epochs_timed"]
        which = (f"epoch {epochs[0]}" if len(epochs) == 1 else
                 f"the mean over epochs {epochs[0]}-{epochs[-1]}")
        notes.insert(0, f"s/epoch: the training pass only (forward, loss, backward, SGD over "
                        f"the epoch's batches; no evaluation, no topology update) in "
                        f"{which} of each run (epoch 1 warms up), median over "
                        f"{timed['repeats']} runs, each in a fresh process, interleaved "
                        "(refset, dense, sparse; refset, ...); min, max: spread over the runs")
    notes[1:1] = [
        "vs refset = peer s/epoch / refset s/epoch (> 1: refset is faster); torch dense: dense "
        "weights, gradient times the 0/1 mask after backward; torch.sparse: CSR values as the "
        "parameters, forward and input gradient CSR @ dense, value gradient "
        "torch.sparse.sampled_addmm",
        "peak: VmHWM of the worker from the model's construction on (reset once the data were "
        "loaded; libraries and data included, and the torch workers hold torch and refset); "
        "in training: that peak minus the RSS at the reset; the whole-process peak, data "
        "loading included, is process_peak_mib in the JSON",
        "train loss: running mean over the last epoch's batches; same data, batch order and "
        "initial weights (the peers copy refset's), so peers differ from refset by rounding "
        "only (loss rel. diff = |peer - refset| / refset)"]
    for workload, (n, factor) in scaled.items():
        notes.append(f"{workload}: SCALED: trained on {n} samples, time x{factor:.3g} "
                     "(to 60,000 samples)")
    return format_table("torch: refset vs PyTorch (training pass, 1 thread)", headers, rows,
                        notes)
