"""Sections 2 and 4: seconds per training epoch and peak memory, one process per configuration.

Each configuration trains a :class:`refset.SparseMLP` in a fresh interpreter (this script
re-run with a hidden ``--_worker`` flag), so that its peak resident set is its own and no
allocation of an earlier run lingers.  The worker loads the data, converts it to the model
dtype, resets the kernel's peak-RSS counter (``/proc/self/clear_refs``, Linux) and trains
with the test split as validation data (evaluated every epoch, like the SET code).

Peak memory is VmHWM of /proc/self/status.  ``ru_maxrss`` is recorded too but is not per
configuration: on Linux a child started by fork/vfork + exec inherits the parent's peak in
it (the benchmark parent holds dense 3312 × 3000 matrices by then), and it cannot be reset.

Per epoch, ``history_`` gives seconds of training, evaluation (train and test sets) and
topology update.  The first epoch is a warm-up and the last one has no topology update, so
the figures are medians over epochs 2 .. E-1 (E epochs run).  A run on a subset of MNIST is
scaled to 60,000 samples: training and evaluation time times 60,000 / n_train (the test
subset is cut in the same proportion), topology time unscaled.
"""
import gc
import os
import resource
import statistics
import time
import warnings

from bench_common import print_result, reset_peak, spawn_worker, vm_status_kib

__all__ = ["training_configs", "load_data", "run_training", "worker_main", "ANCHORS"]

# PERFORMANCE §3 (anchor: the original SET code), §4 (floors) and §5 (targets); seconds/epoch
ANCHORS = {
    "lung-shaped": {"anchor": 7.5, "anchor_topology": 6.2, "target": 0.4},
    "COIL20": {"anchor": 11.8, "anchor_topology": 2.5, "target": 1.2},
    "MNIST float32": {"floor": 3.1, "target": 4.5},
    "MNIST float64": {"floor": 6.1},
}

_REFERENCE = dict(epsilon=20.0, zeta=0.3, batch_size=2, learning_rate=0.01, momentum=0.9,
                  weight_decay=2e-4, weight_decay_style="original", loss="mse",
                  dtype="float64")


def training_configs(mode, data_dir, threads, seed):
    """The configurations of a mode: 'tiny', 'quick' or 'full'."""
    tiny = mode == "tiny"
    epochs = {"tiny": 3, "quick": 4, "full": 10}[mode]
    hidden = (128, 128, 128) if tiny else (3000, 3000, 3000)
    common = dict(threads=threads, seed=seed, data_dir=data_dir, reference=not tiny)
    lung = dict(common, **_REFERENCE, name="lung-shaped", data="lung_synthetic", hidden=hidden,
                epochs=epochs,
                synthetic=dict(n_samples=90 if tiny else 203, n_features=300 if tiny else 3312,
                               n_classes=5))
    coil = dict(common, **_REFERENCE, name="COIL20", data="COIL20", hidden=hidden, epochs=epochs,
                n_train=60 if tiny else None, n_test=30 if tiny else None)
    mnist_train = {"tiny": 600, "quick": 10_000, "full": None}[mode]
    mnist_test = {"tiny": 100, "quick": 10_000 // 6, "full": None}[mode]
    mnist = dict(common, data="mnist", hidden=(128, 128, 128) if tiny else (1000, 1000, 1000),
                 epochs={"tiny": 3, "quick": 4, "full": 6}[mode], epsilon=20.0, zeta=0.3,
                 batch_size=128, learning_rate=0.01, momentum=0.9, weight_decay=2e-4,
                 weight_decay_style="coupled", loss="cross_entropy",
                 n_train=mnist_train,
                 n_test=mnist_test, scale=60_000 / mnist_train if mode == "quick" else None)
    return [lung, coil,
            dict(mnist, name="MNIST float32", dtype="float32"),
            dict(mnist, name="MNIST float64", dtype="float64")]


# -- the worker (runs in its own process) ---------------------------------------------------
def load_data(cfg):
    """(X_train, y_train, X_test, y_test, source) of a configuration's ``data``: synthetic
    data of ``synthetic``'s shape for 'lung_synthetic', else a refset dataset from ``data_dir``
    (cut to ``n_train`` / ``n_test`` samples when given)."""
    import numpy as np

    import refset
    from refset.datasets import standardize, stratified_split

    if cfg["data"] == "lung_synthetic":
        s = cfg["synthetic"]
        X, y = refset.make_synthetic(n_samples=s["n_samples"], n_features=s["n_features"],
                                     n_classes=s["n_classes"], seed=cfg["seed"])
        train, test = stratified_split(y, test_size=1 / 3, seed=cfg["seed"])
        X_train, X_test = standardize(X[train], X[test])
        return X_train, y[train], X_test, y[test], "synthetic (make_synthetic), lung's shape"
    data = refset.load_dataset(cfg["data"], cfg["data_dir"], seed=cfg["seed"])
    X_train, y_train, X_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test
    rng = np.random.default_rng(cfg["seed"])
    if cfg.get("n_train"):
        keep = _subset(y_train, cfg["n_train"], rng)
        X_train, y_train = X_train[keep], y_train[keep]
    if cfg.get("n_test"):
        keep = _subset(y_test, cfg["n_test"], rng)
        keep = keep[np.isin(y_test[keep], y_train)]     # only classes seen in training
        X_test, y_test = X_test[keep], y_test[keep]
    return X_train, y_train, X_test, y_test, repr(data)


def _subset(y, n, rng):
    """Sorted indices of a random subset of size n with every class in it (if n allows)."""
    import numpy as np

    perm = rng.permutation(len(y))
    _, first = np.unique(y[perm], return_index=True)
    rest = np.ones(perm.size, dtype=bool)
    rest[first] = False
    keep = np.concatenate([perm[first], perm[rest]])[:n]
    return np.sort(keep)


def worker_main(cfg):
    """Train one configuration; print its result as one JSON line."""
    import numpy as np

    import refset

    result = {"config": cfg["name"]}
    t_start = time.perf_counter()
    try:
        X_train, y_train, X_test, y_test, source = load_data(cfg)
    except refset.DatasetNotFoundError as exc:
        first = str(exc).split(", which does not exist")[0].splitlines()[0]
        result["skipped"] = f"data not found ({first})"
        print_result(result)
        return 0
    dtype = np.dtype(cfg["dtype"])
    X_train = np.ascontiguousarray(X_train, dtype=dtype)
    X_test = np.ascontiguousarray(X_test, dtype=dtype)
    gc.collect()
    loaded = vm_status_kib("VmHWM", "VmRSS")
    maxrss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reset = reset_peak()
    model = refset.SparseMLP(
        tuple(cfg["hidden"]), epsilon=cfg["epsilon"], zeta=cfg["zeta"], epochs=cfg["epochs"],
        batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"],
        momentum=cfg["momentum"], weight_decay=cfg["weight_decay"],
        weight_decay_style=cfg["weight_decay_style"], loss=cfg["loss"], dtype=cfg["dtype"],
        threads=cfg["threads"], seed=cfg["seed"])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="epsilon=.*makes the")  # dense output layer
        t0 = time.perf_counter()
        model.fit(X_train, y_train, validation_data=(X_test, y_test))
        fit_seconds = time.perf_counter() - t0
    after = vm_status_kib("VmHWM", "VmRSS")
    n_values = sum(int(W.nnz) for W in model.layers_)
    result.update({
        "data_source": source, "n_train": int(len(y_train)), "n_test": int(len(y_test)),
        "n_features": int(X_train.shape[1]), "n_classes": int(model.classes_.size),
        "layers": [model.layers_[0].shape[0]] + [W.shape[1] for W in model.layers_],
        "nnz": [int(W.nnz) for W in model.layers_],
        "backend": refset.get_backend() if model.backend is None else model.backend,
        "fit_seconds": fit_seconds, "worker_seconds": time.perf_counter() - t_start,
        "history": [{k: rec[k] for k in ("epoch", "seconds_train", "seconds_eval",
                                         "seconds_topology", "train_loss", "test_accuracy")}
                    for rec in model.history_],
        "memory": {
            "ru_maxrss_after_data_kib": maxrss_loaded,
            "ru_maxrss_end_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "vmhwm_after_data_kib": loaded["VmHWM"], "vmrss_before_fit_kib": loaded["VmRSS"],
            "peak_reset_before_fit": reset,
            "vmhwm_fit_kib": after["VmHWM"], "vmrss_after_fit_kib": after["VmRSS"],
            "model_state_bytes": n_values * (2 * dtype.itemsize + 16),
        },
    })
    print_result(result)
    return 0


# -- the parent ------------------------------------------------------------------------------
def _summary(cfg, res):
    hist = res["history"]
    used = hist[1:-1] if len(hist) >= 3 else hist[1:] or hist
    scale = cfg.get("scale") or 1.0
    med = {k: statistics.median(h[k] for h in used)
           for k in ("seconds_train", "seconds_eval", "seconds_topology")}
    epoch = statistics.median(h["seconds_train"] + h["seconds_eval"] + h["seconds_topology"]
                              for h in used)
    scaled = {"seconds_train": med["seconds_train"] * scale,
              "seconds_eval": med["seconds_eval"] * scale,
              "seconds_topology": med["seconds_topology"],
              "seconds_epoch": statistics.median(
                  (h["seconds_train"] + h["seconds_eval"]) * scale + h["seconds_topology"]
                  for h in used)}
    ref = ANCHORS.get(cfg["name"], {}) if cfg["reference"] else {}   # tiny: no comparison
    total = scaled["seconds_epoch"]
    rec = {
        "config": cfg["name"], "data_source": res["data_source"], "layers": res["layers"],
        "nnz": res["nnz"], "dtype": cfg["dtype"], "batch_size": cfg["batch_size"],
        "loss": cfg["loss"], "weight_decay_style": cfg["weight_decay_style"],
        "threads": cfg["threads"], "backend": res["backend"],
        "n_train": res["n_train"], "n_test": res["n_test"], "epochs": len(hist),
        "epochs_used": [h["epoch"] for h in used],
        "scaled_to_60000": scale != 1.0, "scale_factor": scale,
        "measured": {**med, "seconds_epoch": epoch},
        **scaled,
        "test_accuracy_last": hist[-1]["test_accuracy"],
        "reference_workload": cfg["reference"],
        "anchor_seconds_epoch": ref.get("anchor"),
        "anchor_topology_seconds": ref.get("anchor_topology"),
        "anchor_over_refset": ref["anchor"] / total if "anchor" in ref else None,
        "anchor_topology_over_refset": (ref["anchor_topology"] / scaled["seconds_topology"]
                                        if "anchor_topology" in ref else None),
        "floor_seconds_epoch": ref.get("floor"),
        "target_seconds_epoch": ref.get("target"),
        "target_over_refset": ref["target"] / total if "target" in ref else None,
        "fit_seconds": res["fit_seconds"], "per_epoch": hist,
    }
    mem = res["memory"]
    mib = 1 / 1024
    memory = {
        "config": cfg["name"], "dtype": cfg["dtype"], "n_train": res["n_train"],
        "layers": res["layers"], "nnz_total": sum(res["nnz"]),
        "process_peak_mib": max(filter(None, [mem["vmhwm_after_data_kib"],
                                              mem["vmhwm_fit_kib"]]), default=0) * mib,
        "ru_maxrss_after_data_mib": mem["ru_maxrss_after_data_kib"] * mib,
        "ru_maxrss_end_mib": mem["ru_maxrss_end_kib"] * mib,
        "vmhwm_after_data_mib": _scale(mem["vmhwm_after_data_kib"], mib),
        "vmrss_before_fit_mib": _scale(mem["vmrss_before_fit_kib"], mib),
        "vmhwm_during_fit_mib": (_scale(mem["vmhwm_fit_kib"], mib)
                                 if mem["peak_reset_before_fit"] else None),
        "fit_increment_mib": (_scale(mem["vmhwm_fit_kib"] - mem["vmrss_before_fit_kib"], mib)
                              if mem["peak_reset_before_fit"] and mem["vmhwm_fit_kib"]
                              else None),
        "model_state_mib": mem["model_state_bytes"] / 2**20,
        "peak_reset_supported": mem["peak_reset_before_fit"],
    }
    return rec, memory


def _scale(value, factor):
    return None if value is None else value * factor


def run_training(configs, script, log):
    """Spawn one worker per configuration; returns (training, memory, errors)."""
    env = dict(os.environ)
    training, memory, errors = [], [], []
    for cfg in configs:
        t0 = time.perf_counter()
        res, error = spawn_worker(script, cfg, env)
        wall = time.perf_counter() - t0
        if error is not None:
            errors.append(f"{cfg['name']}: {error}")
            training.append({"config": cfg["name"], "dtype": cfg["dtype"], "error": error})
            log(f"  training {cfg['name']}: FAILED ({error.splitlines()[0]})")
            continue
        if "skipped" in res:
            training.append({"config": cfg["name"], "dtype": cfg["dtype"],
                             "skipped": res["skipped"]})
            memory.append({"config": cfg["name"], "dtype": cfg["dtype"],
                           "skipped": res["skipped"]})
            log(f"  training {cfg['name']}: skipped ({res['skipped']})")
            continue
        rec, mem = _summary(cfg, res)
        rec["process_seconds"] = wall
        training.append(rec)
        memory.append(mem)
        log(f"  training {cfg['name']}: {rec['seconds_epoch']:.3g} s/epoch "
            f"({'scaled, ' if rec['scaled_to_60000'] else ''}process {wall:.1f} s)")
    return training, memory, errors
