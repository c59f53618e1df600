"""Optional sections: refset's training against PyTorch and against the original SET code.

**torch** (``run.py --torch``; skipped with a note when PyTorch is not installed).  The same
SET-MLP is trained three ways, one thread each: refset (``SparseMLP``); PyTorch with dense
weight matrices whose gradients are multiplied by the 0/1 mask after every backward pass
(momentum and weight decay keep the zeros at zero); and PyTorch with the links of each layer
as the learnable values of a ``torch.sparse_csr_tensor``.  The three start from the same
network: the peers copy the topology, weights and biases of a ``SparseMLP`` built with the
same seed (``SparseMLP._initialize``, the first thing ``fit`` does) and take their batch order
from that model's generator (``permutation(n)`` per epoch, as ``fit`` draws it), so the same
samples meet the same weights and the training losses differ only by rounding.  Same widths,
ε, ReLU hidden layers, loss (softmax + cross-entropy, or sigmoid + MSE), SGD with momentum,
weight decay of the same style on the weights only, batch size and data.

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
benchmark re-run with ``--_worker``, as in :mod:`bench_training`), repetitions interleaved
(refset, dense, sparse; refset, dense, sparse; ...).  Epoch 1 of every run warms up; the
epochs after it are timed.  A dense peer whose estimated memory (weights, mask, gradient and
momentum, plus activations) exceeds ``memory_cap_gib`` is not started.

**original** (``run.py --original-code PATH``).  The original SET code's reference
configuration (3 × 3000 ReLU, sigmoid output, MSE, ε = 20, ζ = 0.3, B = 2, η = 0.01, μ = 0.9,
λ = 2e-4, float64) beside refset with ``fidelity="paper"`` on COIL20 and TOX-171, the same
split and standardised arrays, through ``experiments/set_original.py``: the checkout is
copied to a temporary directory, patched there (two one-line fixes) and built once; it is
never copied into this repository.  Runs alternate original, refset, each in a fresh process.

Peak memory is VmHWM of each worker (:func:`bench_common.vm_status_kib`); "in training" is
the peak after resetting it once the data were loaded (``/proc/self/clear_refs``), minus the
resident set at that moment.
"""
import gc
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bench_common import format_table, vm_status_kib
from bench_training import RESULT_MARK, _load, _reset_peak, _spawn

__all__ = ["PEER_SECTIONS", "TORCH_MISSING", "peer_settings", "torch_workloads", "dense_bytes",
           "torch_version", "run_torch", "torch_table", "check_original_code", "run_original",
           "original_table", "worker_main"]

ROOT = Path(__file__).resolve().parents[1]
PEER_SECTIONS = ("torch", "original")
TORCH_MISSING = "PyTorch is not installed (pip install torch)"
IMPLS = ("refset", "torch dense", "torch.sparse")
ORIGINAL_IMPLS = ("original", "refset")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
_MIB = 1 / 1024      # KiB -> MiB


def peer_settings(mode):
    """Repetitions, epochs and limits of the peer sections in a mode ('tiny', 'quick', 'full')."""
    return {"torch": {"repeats": {"tiny": 1, "quick": 3, "full": 5}[mode],
                      "epochs": {"tiny": 2, "quick": 2, "full": 3}[mode],
                      "memory_cap_gib": 8.0},
            "original": {"repeats": {"tiny": 1, "quick": 3, "full": 5}[mode],
                         "epochs": {"tiny": 1, "quick": 2, "full": 4}[mode],
                         "datasets": ["COIL20"] if mode == "tiny" else ["COIL20", "TOX-171"]}}


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


# -- workers (each in its own process) -------------------------------------------------------
def worker_main(cfg):
    """Run one peer configuration; print its result as one JSON line."""
    if cfg["section"] == "torch":
        result = _torch_worker(cfg)
    else:
        result = _original_worker(cfg)
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


def _workload_data(cfg):
    """(X, y, source): the workload's training samples in the model dtype."""
    import numpy as np

    import refset

    source = None
    if cfg["data"] != "synthetic":
        try:
            X, y, _, _, source = _load(cfg)     # MNIST, or synthetic data of lung's shape
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


def _torch_worker(cfg):
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
    return result


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
    data = _TorchData(torch, X, np.searchsorted(classes, y), classes.size, sparse)
    gc.collect()
    before = _start_peak()
    peer = (_SparsePeer if sparse else _DensePeer)(torch, init, biases, data, cfg["loss"])
    history = _train_torch(torch, peer, data, orders, cfg)
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
    reset = _reset_peak()
    return {"reset": reset, "vmhwm_before_kib": so_far, **vm_status_kib("VmRSS")}


class _TorchData:
    """The training set as tensors: rows (dense peer) or feature-major columns (sparse peer)."""

    def __init__(self, torch, X, y_idx, n_classes, sparse):
        X = torch.from_numpy(X)
        self.X = X.T.contiguous() if sparse else X
        self.y = torch.from_numpy(y_idx.astype("int64"))
        self.Y = torch.nn.functional.one_hot(self.y, n_classes).to(X.dtype)
        self.n = X.shape[0]


def _loss(F, out, y, Y, kind):
    """Mean loss of a batch from the output pre-activations ``out`` (batch, classes)."""
    if kind == "cross_entropy":
        return F.cross_entropy(out, y)
    diff = out.sigmoid() - Y
    return 0.5 * diff.pow(2).sum() / out.shape[0]


class _DensePeer:
    """Dense weight matrices; the gradient is multiplied by the 0/1 mask after backward."""

    def __init__(self, torch, init, biases, data, loss):
        self.torch, self.data, self.kind = torch, data, loss
        self.W, self.masks, self.b = [], [], []
        for (rows, cols, values, shape), b in zip(init, biases):
            r, c = torch.from_numpy(rows), torch.from_numpy(cols)
            W = torch.zeros(shape, dtype=data.X.dtype)
            W[r, c] = torch.from_numpy(values)
            M = torch.zeros(shape, dtype=data.X.dtype)
            M[r, c] = 1
            self.W.append(W.requires_grad_())
            self.masks.append(M)
            self.b.append(torch.from_numpy(b.copy()).requires_grad_())
        self.params = [(p, torch.zeros_like(p), decay) for W, b in zip(self.W, self.b)
                       for p, decay in ((W, True), (b, False))]

    def forward_loss(self, idx):
        torch = self.torch
        A = self.data.X.index_select(0, idx)
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            A = torch.addmm(b, A, W)
            if l < len(self.W) - 1:
                A = torch.relu(A)
        return _loss(torch.nn.functional, A, self.data.y[idx], self.data.Y[idx], self.kind), A

    def after_backward(self):
        for W, M in zip(self.W, self.masks):
            W.grad.mul_(M)

    def zeros_kept(self):
        """Whether every weight outside the mask is still exactly zero."""
        with self.torch.no_grad():
            return all(not bool(W.masked_fill(M.bool(), 0).any())
                       for W, M in zip(self.W, self.masks))


_SPARSE_FUNCTION = None


def _sparse_function(torch):
    """The autograd Function of one sparse layer, feature-major: ``Z = Wᵀ A``, shape
    (n_out, batch), differentiable in the link values and in ``A``."""
    global _SPARSE_FUNCTION
    if _SPARSE_FUNCTION is not None:
        return _SPARSE_FUNCTION

    class SparseLinear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, values, A, layer):
            ctx.save_for_backward(values, A)
            ctx.layer = layer
            return layer.transposed(values) @ A

        @staticmethod
        def backward(ctx, G):
            values, A = ctx.saved_tensors
            layer = ctx.layer
            # dL/dw_k = sum_b A[row_k, b] G[col_k, b] on the links only (SDDMM)
            grad_values = torch.sparse.sampled_addmm(layer.transposed(values), G, A.T,
                                                     beta=0.0).values()
            grad_A = layer.matrix(values) @ G if ctx.needs_input_grad[1] else None
            return grad_values, grad_A, None

    _SPARSE_FUNCTION = SparseLinear
    return SparseLinear


class _CsrLayer:
    """The index structure of one layer's links: CSR of Wᵀ, whose link order is that of the
    learnable values, and CSR of W (canonical order, reached by a gather)."""

    def __init__(self, torch, rows, cols, shape):
        import numpy as np

        self.torch = torch
        n_in, n_out = shape
        order = np.lexsort((rows, cols))                  # by (col, row): the rows of Wᵀ
        self.order = order
        self.crow_t = torch.from_numpy(np.concatenate(
            [[0], np.cumsum(np.bincount(cols, minlength=n_out))]))
        self.col_t = torch.from_numpy(rows[order])
        self.shape_t = (n_out, n_in)
        self.crow = torch.from_numpy(np.concatenate(
            [[0], np.cumsum(np.bincount(rows, minlength=n_in))]))
        self.col = torch.from_numpy(cols)                   # canonical links: by (row, col)
        self.to_canonical = torch.from_numpy(np.argsort(order))
        self.shape = tuple(shape)

    def transposed(self, values):
        """Wᵀ, shape (n_out, n_in), as CSR over ``values`` (in this order: the parameter's)."""
        return self.torch.sparse_csr_tensor(self.crow_t, self.col_t, values, self.shape_t,
                                            check_invariants=False)

    def matrix(self, values):
        """W, shape (n_in, n_out), as CSR: ``values`` gathered into canonical (row, col) order."""
        return self.torch.sparse_csr_tensor(self.crow, self.col, values[self.to_canonical],
                                            self.shape, check_invariants=False)


class _SparsePeer:
    """torch.sparse CSR layers whose values are the parameters; activations feature-major."""

    def __init__(self, torch, init, biases, data, loss):
        self.torch, self.data, self.kind = torch, data, loss
        self.fn = _sparse_function(torch)
        self.layers, self.values, self.b = [], [], []
        for (rows, cols, values, shape), b in zip(init, biases):
            layer = _CsrLayer(torch, rows, cols, shape)
            self.layers.append(layer)
            self.values.append(torch.from_numpy(values[layer.order]).requires_grad_())
            self.b.append(torch.from_numpy(b.copy()).requires_grad_())
        self.params = [(p, torch.zeros_like(p), decay) for v, b in zip(self.values, self.b)
                       for p, decay in ((v, True), (b, False))]

    def forward_loss(self, idx):
        A = self.data.X.index_select(1, idx)
        last = len(self.layers) - 1
        for l, (layer, v, b) in enumerate(zip(self.layers, self.values, self.b)):
            A = self.fn.apply(v, A, layer) + b[:, None]
            if l < last:
                A = self.torch.relu(A)
        out = A.T
        return _loss(self.torch.nn.functional, out, self.data.y[idx], self.data.Y[idx],
                     self.kind), out

    def after_backward(self):
        pass


def _train_torch(torch, peer, data, orders, cfg):
    """Train ``peer`` one epoch per batch order; per epoch seconds and running metrics."""
    lr, mu, lam = cfg["learning_rate"], cfg["momentum"], cfg["weight_decay"]
    coupled = cfg["weight_decay_style"] == "coupled"
    B = cfg["batch_size"]
    history = []
    for epoch, order in enumerate(orders, 1):
        order = torch.from_numpy(order)
        t0 = time.perf_counter()
        loss_sum, correct = 0.0, 0
        for start in range(0, data.n, B):
            idx = order[start:start + B]
            loss, out = peer.forward_loss(idx)
            loss_sum += loss.item() * idx.numel()
            correct += int((out.argmax(dim=1) == data.y[idx]).sum())
            loss.backward()
            peer.after_backward()
            with torch.no_grad():           # refset's update rules (refset.kernels.sgd_update)
                for p, v, decay in peer.params:
                    g = p.grad
                    if decay and coupled:                 # v <- mu v - lr (g + lam w)
                        g.add_(p, alpha=lam)
                    v.mul_(mu).add_(g, alpha=-lr)
                    if decay and not coupled:             # w <- w + v - lam w
                        p.mul_(1 - lam)
                    p.add_(v)
                    p.grad = None
        history.append({"epoch": epoch, "seconds_train": time.perf_counter() - t0,
                        "train_loss": loss_sum / data.n, "train_accuracy": correct / data.n})
    return history


def _set_original():
    """experiments/set_original.py, which loads, patches and runs the original SET code."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return importlib.import_module("experiments.set_original")


def _original_worker(cfg):
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
    return {"dataset": cfg["dataset"], "impl": cfg["impl"], **{k: rec[k] for k in keys},
            "test_accuracy": accuracy, "seconds_init": rec.get("seconds_init"),
            "n_train": int(data["X_train"].shape[0]), "n_test": int(data["X_test"].shape[0]),
            "vmhwm_kib": vm_status_kib("VmHWM")["VmHWM"]}


# -- the parent: torch section ----------------------------------------------------------------
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
        runs = {impl: [] for impl in IMPLS}
        failed = {}
        widths = [w["n_features"], *w["hidden"], w["n_classes"]]
        need = dense_bytes(widths, w["batch_size"], 4 if w["dtype"] == "float32" else 8)
        if need > cap * 2**30:
            failed["torch dense"] = (f"not run: needs {need / 2**30:.1f} GiB (estimate; cap "
                                     f"{cap:g} GiB)")
        for rep in range(w["repeats"]):
            for impl in IMPLS:
                if impl in failed:
                    continue
                t0 = time.perf_counter()
                res, error = _spawn(script, dict(w, section="torch", impl=impl), env)
                if error is not None:
                    failed[impl] = error
                    errors.append(f"torch {w['name']} {impl}: {error}")
                    log(f"  torch {w['name']} {impl}: FAILED ({error.splitlines()[0]})")
                    continue
                res["process_seconds"] = time.perf_counter() - t0
                runs[impl].append(res)
                timed = res["history"][1:] or res["history"]
                log(f"  torch {w['name']} {impl} run {rep + 1}: "
                    f"{statistics.mean(h['seconds_train'] for h in timed):.3g} s/epoch measured "
                    f"(process {res['process_seconds']:.1f} s)")
        records += _torch_records(w, runs, failed, widths, need)
    return records, errors


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


# -- the parent: original section -------------------------------------------------------------
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
            runs = {impl: [] for impl in ORIGINAL_IMPLS}
            failed = {}
            for rep in range(cfg["repeats"]):
                for impl in ORIGINAL_IMPLS:
                    if impl in failed:
                        continue
                    job = dict(section="original", impl=impl, dataset=dataset,
                               data_dir=data_dir, seed=seed, epochs=cfg["epochs"], built=built)
                    t0 = time.perf_counter()
                    res, error = _spawn(script, job, env)
                    if error is not None:
                        failed[impl] = error
                        errors.append(f"original {dataset} {impl}: {error}")
                        log(f"  original {dataset} {impl}: FAILED ({error.splitlines()[0]})")
                        continue
                    res["process_seconds"] = time.perf_counter() - t0
                    runs[impl].append(res)
                    log(f"  original {dataset} {impl} run {rep + 1}: "
                        f"{_phases(res, 'seconds')['epoch']:.3g} s/epoch "
                        f"(process {res['process_seconds']:.1f} s)")
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
