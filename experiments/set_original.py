"""The original SET code side by side with refset (paper mode and authors' mode).

Runs the truly sparse original implementation of SET (``SET-MLP-Sparse-Python-Data-Structures``
of dcmocanu/sparse-evolutionary-artificial-neural-networks) from a checkout you provide, and
refset with ``fidelity="paper"`` and ``fidelity="authors"``, on the same split and the same
standardised arrays, in the original's reference configuration (3 x 3000 ReLU, sigmoid output,
MSE, eps = 20, zeta = 0.3, B = 2, eta = 0.01, mu = 0.9, lambda = 2e-4 in the original style).
The three variants are interleaved seed by seed.  It also feeds identical weight vectors to
the original's removal (its own ``weightsEvolution_Amar``, run on a copy) and to
``refset.algorithms.select_prune`` and counts identical removed sets.

The original code is never copied into refset: the script copies the folder of your checkout
to a temporary directory, applies two one-line fixes there for today's numpy and scipy (it
prints them), builds its Cython module there (needs Cython and a C compiler) and imports it.

    git clone https://github.com/dcmocanu/sparse-evolutionary-artificial-neural-networks ~/src/set
    OMP_NUM_THREADS=1 python experiments/set_original.py --original-code ~/src/set \\
        --data-dir ../shared/data --seeds 5 --epochs COIL20=12,TOX-171=10
    python experiments/set_original.py --report-only        # figure and tables from the saved runs

Results: one JSON per run in ``--out`` (default ``experiments/set_original/``; finished runs are
skipped, so an interrupted sweep resumes), ``removal.json``, ``summary.json``, ``curves.png``
and ``tables.md``.  Write-up: experiments/set_original.md.

What the split is: the original's ``__main__`` draws it from ``np.random.seed(0)`` by shuffling
``arange(n)`` and taking the first ``int(2n/3)`` rows for training (not stratified); the
features are z-scored with the training mean and (population) std + 1e-4.  Seed ``s`` of the
original reseeds numpy's global generator with ``s`` and advances it past that shuffle before
building the network, so seed 0 is exactly the original's ``__main__`` on another dataset;
the split stays the seed-0 split for every seed and every variant.
"""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FOLDER = "SET-MLP-Sparse-Python-Data-Structures"
MODULE = "set_mlp_sparse_data_structures"
VARIANTS = ("original", "paper", "authors")
DATASETS = ("COIL20", "TOX-171")
HIDDEN = (3000, 3000, 3000)
CONFIG = dict(epsilon=20, zeta=0.3, batch_size=2, learning_rate=0.01, momentum=0.9,
              weight_decay=2e-4)
HERE = Path(__file__).resolve().parent


# -- the original code: patched temporary copy, built and imported -------------------------

def _locate_folder(path):
    path = Path(path).expanduser().resolve()
    for candidate in (path / FOLDER, path):
        if ((candidate / f"{MODULE}.py").is_file()
                and (candidate / "sparseoperations.pyx").is_file()):
            return candidate
    raise SystemExit(f"--original-code {path}: no {FOLDER}/{MODULE}.py and sparseoperations.pyx "
                     "there; pass the root of a checkout of "
                     "dcmocanu/sparse-evolutionary-artificial-neural-networks")


def _substitute(lines, pattern, replacement, expected, what):
    """Apply ``pattern`` -> ``replacement`` line by line; the 1-based lines changed.  Exactly
    ``expected`` changes, or the original code is not the version these fixes were made for."""
    hits = []
    for i, line in enumerate(lines):
        new, n = re.subn(pattern, replacement, line)
        if n:
            lines[i] = new
            hits.append(i + 1)
    if len(hits) != expected:
        raise SystemExit(f"patch ({what}) expected {expected} place(s), found {len(hits)}: is "
                         "this the expected version of the original code?")
    return hits


def _patch(source):
    """The two fixes for numpy >= 2.4 and scipy >= 1.11, as (new source, notes)."""
    lines = source.split("\n")
    # 1. np.in1d is gone; np.isin keeps the (n, 1) shape of the structured view: flatten it.
    (line,) = _substitute(lines, r"^(\s*return\s+)np\.in1d\((.*)\)(\s*(#.*)?)$",
                          r"\1np.isin(\2).ravel()\3", 1, "np.in1d -> np.isin(...).ravel()")
    notes = [f"line {line}: np.in1d(...) -> np.isin(...).ravel() (np.in1d was removed in "
             "numpy 2.4)"]
    # 2. coo_matrix(csr) shares .data with the csr in recent scipy: the Cython kernel would
    #    write the gradients over the weights.  Copy in _back_prop.
    first, second = _substitute(lines, r"coo_matrix\((self\.w\[[^\]]+\])\)",
                                r"coo_matrix(\1, copy=True)", 2,
                                "coo_matrix(W) -> coo_matrix(W, copy=True) in _back_prop")
    notes.append(f"lines {first} and {second}: coo_matrix(W) -> coo_matrix(W, copy=True) "
                 "(scipy's coo_matrix(csr) now shares .data, so the kernel overwrote the weights)")
    return "\n".join(lines), notes


_SETUP = """
import numpy
from setuptools import setup, Extension
from Cython.Build import cythonize
ext = Extension("sparseoperations", ["sparseoperations.pyx"],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
setup(name="sparseoperations", ext_modules=cythonize([ext], language_level=3, quiet=True))
"""


def load_original(path, workdir=None, verbose=True):
    """Copy, patch, build and import the original module; returns the module."""
    folder = _locate_folder(path)
    work = Path(workdir or tempfile.mkdtemp(prefix="set_original_"))
    dest = work / FOLDER
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in (f"{MODULE}.py", "sparseoperations.pyx"):
        shutil.copy2(folder / name, dest / name)
    source, notes = _patch((dest / f"{MODULE}.py").read_text())
    (dest / f"{MODULE}.py").write_text(source)
    (dest / "setup.py").write_text(_SETUP)
    if verbose:
        print(f"original code: {folder} copied to {dest}; fixes applied there:")
        for note in notes:
            print(f"  - {note}")
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=dest,
                           capture_output=True, text=True)
    if build.returncode != 0:
        raise SystemExit(f"building sparseoperations.pyx failed (needs Cython and a C compiler):"
                         f"\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}")
    if str(dest) not in sys.path:
        sys.path.insert(0, str(dest))
    spec = importlib.util.spec_from_file_location(MODULE, dest / f"{MODULE}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if verbose:
        print(f"  built and imported sparseoperations from {dest}")
    return module


class _Stub:
    """The attributes ``weightsEvolution_Amar`` reads: one layer, its momentum, zeta."""

    def __init__(self, W, zeta):
        import scipy.sparse as sp
        self.n_layers = 2
        self.zeta = zeta
        self.dimensions = W.shape
        self.w = {1: W}
        # momentum markers 1..nnz at the links' positions: after the call, the momentum
        # matrix holds exactly the kept links (the original filters it to them)
        self.pdw = {1: sp.csr_matrix((np.arange(1.0, W.nnz + 1), W.indices.copy(),
                                      W.indptr.copy()), shape=W.shape)}


def original_removal(module, values, zeta):
    """Indices (into ``values``) of the links the original's removal drops, sorted int64.

    Runs the original's own ``weightsEvolution_Amar`` on a copy: link ``k`` sits at
    ``(k, 0)`` of a ``(n, 10)`` matrix (positions do not matter to its removal, which looks
    only at the values; 10 columns leave room for its rejection-sampling regrowth).  numpy's
    global random state is restored afterwards.
    """
    import scipy.sparse as sp
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    W = sp.csr_matrix((values.copy(), np.zeros(n, dtype=np.int32),
                       np.arange(n + 1, dtype=np.int32)), shape=(n, 10))
    assert W.nnz == n  # explicit zeros kept in .data, as in the original's matrices
    stub = _Stub(W, zeta)
    state = np.random.get_state()
    try:
        module.SET_MLP.weightsEvolution_Amar(stub)
    finally:
        np.random.set_state(state)
    pd = stub.pdw[1].tocoo()
    kept = np.zeros(n, dtype=bool)
    kept[pd.row[pd.col == 0]] = True
    return np.flatnonzero(~kept).astype(np.int64)


# -- data: the original's split and standardisation -------------------------------------

def load_split(name, data_dir):
    """The original __main__'s split (seed 0, first int(2n/3) rows) and z-scoring."""
    import scipy.io
    path = Path(data_dir) / f"{name}.mat"
    if not path.is_file():
        raise SystemExit(f"{path} not found (--data-dir, or $REFSET_DATA)")
    mat = scipy.io.loadmat(path)
    X = np.asarray(mat["X"].toarray() if hasattr(mat["X"], "toarray") else mat["X"])
    labels = np.asarray(mat["Y"]).reshape(-1).astype(np.int64)
    if labels.min() < 1:
        raise SystemExit(f"{name}: labels must be 1..K for the original's one-hot encoding")
    n_classes = int(labels.max())
    Y = np.zeros((labels.size, n_classes))
    Y[np.arange(labels.size), labels - 1] = 1
    indices = np.arange(X.shape[0])
    np.random.RandomState(0).shuffle(indices)   # = np.random.seed(0); np.random.shuffle
    cut = int(X.shape[0] * 2 / 3)
    train, test = indices[:cut], indices[cut:]
    X_train, X_test = X[train].astype(np.float64), X[test].astype(np.float64)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    X_train = (X_train - mean) / (std + 0.0001)
    X_test = (X_test - mean) / (std + 0.0001)
    return dict(name=name, X_train=X_train, Y_train=Y[train], X_test=X_test, Y_test=Y[test],
                y_train=labels[train] - 1, y_test=labels[test] - 1, n_all=X.shape[0])


# -- one run of each variant --------------------------------------------------------------

def _seconds(text):
    h, m, s = text.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def run_original(module, data, seed, epochs, snapshot_epochs=()):
    """The original's fit() on the split; per-epoch metrics from its own return value and
    timings from its own printed (datetime) timers."""
    np.random.seed(seed)
    np.random.shuffle(np.arange(data["n_all"]))      # the __main__ split's draws
    dims = (data["X_train"].shape[1], *HIDDEN, data["Y_train"].shape[1])
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        net = module.SET_MLP(dims, (module.Relu, module.Relu, module.Relu, module.Sigmoid),
                             epsilon=CONFIG["epsilon"])
    t_init = time.perf_counter() - t0
    nnz_init = [int(net.w[i].nnz) for i in range(1, len(dims))]
    per_epoch = {"acc_all": [], "nnz": []}
    snapshots = []
    cls_predict = type(net).predict

    cpu = {"start": None, "eval_in": [], "eval_out": [], "evo_in": [], "evo_out": []}
    cls_evolve = type(net).weightsEvolution_Amar

    def evolve():                                  # the original's, timed in CPU seconds
        cpu["evo_in"].append(time.process_time())
        cls_evolve(net)
        cpu["evo_out"].append(time.process_time())

    def predict(x_test, y_test, batch_size=1):     # the original's, plus the rows it skips
        cpu["eval_in"].append(time.process_time())
        acc, act = cls_predict(net, x_test, y_test, batch_size)
        rest = x_test.shape[0] % batch_size
        full = act.copy()
        if rest:
            _, a = net._feed_forward(x_test[-rest:])
            full[-rest:] = a[net.n_layers]
        per_epoch["acc_all"].append(float(np.mean(np.argmax(full, 1) == np.argmax(y_test, 1))))
        per_epoch["nnz"].append([int(net.w[i].nnz) for i in range(1, len(dims))])
        e = len(per_epoch["acc_all"])
        print(f"  original {data['name']} seed {seed} epoch {e}/{epochs}: test acc {acc:.4f}",
              file=sys.__stdout__, flush=True)
        if e in snapshot_epochs:
            snapshots.append((e, [net.w[i].data.copy() for i in range(1, len(dims))]))
        cpu["eval_out"].append(time.process_time())
        return acc, act

    net.predict = predict
    net.weightsEvolution_Amar = evolve
    cpu["start"] = time.process_time()
    with contextlib.redirect_stdout(out):
        metrics = net.fit(data["X_train"], data["Y_train"], data["X_test"], data["Y_test"],
                          loss=module.MSE, epochs=epochs, batch_size=CONFIG["batch_size"],
                          learning_rate=CONFIG["learning_rate"], momentum=CONFIG["momentum"],
                          weight_decay=CONFIG["weight_decay"], zeta=CONFIG["zeta"],
                          testing=True, save_filename="")
    log = out.getvalue()
    train = [_seconds(s) for s in re.findall(r"Training time:\s+([0-9:.]+)", log)]
    test = [_seconds(s) for s in re.findall(r"Testing time:\s+([0-9:.]+)", log)]
    topo = [_seconds(s) for s in re.findall(r"Weights evolution time\s+([0-9:.]+)", log)]
    return {
        "variant": "original", "dataset": data["name"], "seed": seed, "epochs": epochs,
        "seconds_init": t_init, "nnz_init": nnz_init,
        "test_accuracy": [float(a) for a in metrics[:, 1]],
        "test_accuracy_all_rows": per_epoch["acc_all"],
        "train_loss": [float(v) for v in metrics[:, 0]],
        "test_loss": [float(v) for v in metrics[:, 2]],
        "seconds_train": train, "seconds_eval": test, "seconds_topology": topo,
        "nnz": per_epoch["nnz"],
        **_cpu_phases(cpu, epochs),
    }, snapshots


def _cpu_phases(cpu, epochs):
    """Per-epoch process CPU seconds of training, evaluation and topology from the marks
    taken on entering and leaving evaluation and the topology update."""
    train, ev, topo = [], [], []
    for e in range(epochs):
        begin = cpu["start"] if e == 0 else cpu["evo_out"][e - 1]
        train.append(cpu["eval_in"][e] - begin)
        ev.append(cpu["eval_out"][e] - cpu["eval_in"][e])
        topo.append(cpu["evo_out"][e] - cpu["evo_in"][e] if e < len(cpu["evo_in"]) else 0.0)
    return {"cpu_train": train, "cpu_eval": ev, "cpu_topology": topo}


def run_refset(fidelity, data, seed, epochs, snapshot_epochs=()):
    import refset
    params = dict(hidden_layer_sizes=HIDDEN, epochs=epochs, loss="mse", weight_init="normal",
                  weight_decay_style="original", threads=1, seed=seed, fidelity=fidelity,
                  **CONFIG)
    snapshots = []

    def callback(model, record):
        e = record["epoch"]
        print(f"  refset-{fidelity} {data['name']} seed {seed} epoch {e}/{epochs}: "
              f"test acc {record['test_accuracy']:.4f}  ({record['seconds_train']:.2f}s train, "
              f"{record['seconds_topology']:.2f}s topology)", flush=True)
        if e in snapshot_epochs:   # after this epoch's topology update
            snapshots.append((e, [W.values.copy() for W in model.layers_]))

    t0 = time.perf_counter()
    model = refset.SparseMLP(**params)
    # CPU marks around evaluation and the topology update (instance-level wrappers of the
    # model's private steps; the same phases as the original's timers)
    cpu = {"start": None, "eval_in": [], "eval_out": [], "evo_in": [], "evo_out": []}
    evaluate, evolve = model._evaluate, model._evolve

    def timed_evaluate(*a, **k):
        cpu["eval_in"].append(time.process_time())
        r = evaluate(*a, **k)
        cpu["eval_out"].append(time.process_time())
        return r

    def timed_evolve(*a, **k):
        cpu["evo_in"].append(time.process_time())
        r = evolve(*a, **k)
        cpu["evo_out"].append(time.process_time())
        return r

    model._evaluate, model._evolve = timed_evaluate, timed_evolve
    cpu["start"] = time.process_time()
    model.fit(data["X_train"], data["y_train"], validation_data=(data["X_test"], data["y_test"]),
              callback=callback)
    total = time.perf_counter() - t0
    h = model.history_
    effective = model.effective_params() if hasattr(model, "effective_params") else None
    return {
        "variant": fidelity, "dataset": data["name"], "seed": seed, "epochs": epochs,
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        "effective_params": _jsonable(effective),
        "seconds_total": total,
        "nnz_init": None,
        "test_accuracy": [r["test_accuracy"] for r in h],
        "train_loss": [r["train_loss"] for r in h],
        "test_loss": [r["test_loss"] for r in h],
        "seconds_train": [r["seconds_train"] for r in h],
        "seconds_eval": [r["seconds_eval"] for r in h],
        "seconds_topology": [r["seconds_topology"] for r in h],
        "nnz": [r["nnz"] for r in h],
        "removed": [r.get("removed") for r in h],
        **_cpu_phases(cpu, epochs),
    }, snapshots


def _jsonable(obj):
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return [_jsonable(v) for v in sorted(obj)]
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return repr(obj)


# -- removal-set comparison ----------------------------------------------------------------

def random_vectors(rng, count):
    """Weight vectors with ties and zeros, of several kinds and sizes."""
    out = []
    for i in range(count):
        kind = i % 8
        n = int(rng.integers(1, 3000)) if i % 5 else int(rng.integers(1, 12))
        if kind == 0:
            v = rng.normal(0, 0.1, n)
        elif kind == 1:                       # coarse rounding: many ties
            v = np.round(rng.normal(0, 0.1, n), 2)
        elif kind == 2:                       # ties and exact zeros
            v = np.round(rng.normal(0, 0.1, n), 1)
        elif kind == 3:                       # zeros inserted
            v = rng.normal(0, 0.1, n)
            v[rng.random(n) < 0.1] = 0.0
        elif kind == 4:                       # one sign only
            v = np.abs(rng.normal(0, 0.1, n)) * (1 if i % 2 else -1)
        elif kind == 5:                       # symmetric ties +-a
            v = rng.choice([-0.3, -0.1, 0.1, 0.3], n)
        elif kind == 6:                       # few distinct values, zeros among them
            v = rng.integers(-2, 3, n).astype(np.float64) / 10
        else:                                 # skewed
            v = rng.normal(0.05, 0.1, n) ** 3
        out.append(v)
    return out


def compare_removal(module, vectors, zetas=(0.3,)):
    """Counts of identical removed sets: original vs refset 'original' and vs 'sign'."""
    from refset.algorithms.sparse_evolutionary import select_prune
    res = {"vectors": 0, "cases": 0, "identical_original_rule": 0, "identical_sign_rule": 0,
           "extra_over_sign": {}, "links": 0, "links_removed_original": 0,
           "links_removed_sign": 0, "mismatches": []}
    for label, v in vectors:
        res["vectors"] += 1
        for zeta in zetas:
            res["cases"] += 1
            orig = original_removal(module, v, zeta)
            mine = select_prune(v, zeta, "original")
            sign = select_prune(v, zeta, "sign")
            same = np.array_equal(orig, mine)
            res["identical_original_rule"] += bool(same)
            res["identical_sign_rule"] += bool(np.array_equal(orig, sign))
            extra = int(orig.size) - int(sign.size)
            res["extra_over_sign"][str(extra)] = res["extra_over_sign"].get(str(extra), 0) + 1
            res["links"] += int(v.size)
            res["links_removed_original"] += int(orig.size)
            res["links_removed_sign"] += int(sign.size)
            if not same and len(res["mismatches"]) < 20:
                res["mismatches"].append({"label": label, "zeta": zeta, "n": int(v.size),
                                          "original": orig.tolist()[:50],
                                          "refset": mine.tolist()[:50]})
    return res


# -- one training step on identical state --------------------------------------------------

def step_check(module, steps=5, seed=0, fidelity="authors"):
    """The original's and refset-authors' SGD steps from identical weights and batches.

    A small network (40-30-30-30-4, the original's ER at eps 3, B = 2, eta = 0.01, mu = 0.9,
    lambda = 2e-4) takes ``steps`` mini-batch steps in the original (its ``_feed_forward`` and
    ``_back_prop``) and in refset with ``fidelity="authors"`` started from the same weights
    (``loss_and_gradients`` plus the model's own SGD step, a private method); returns the
    largest absolute difference of the loss, the weights and the biases after each step, and
    the largest weight change of the step for scale.  ``fidelity="paper"`` is the control.
    """
    import refset
    from refset.sparse import CooMatrix
    rng = np.random.default_rng(seed)
    dims = (40, 30, 30, 30, 4)
    X = rng.standard_normal((2 * steps, dims[0]))
    y = np.arange(2 * steps) % dims[-1]
    Y = np.eye(dims[-1])[y]
    state = np.random.get_state()
    np.random.seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):
        net = module.SET_MLP(dims, (module.Relu, module.Relu, module.Relu, module.Sigmoid),
                             epsilon=3)
    np.random.set_state(state)
    net.loss = module.MSE(module.Sigmoid)
    net.learning_rate, net.momentum, net.weight_decay = (CONFIG["learning_rate"],
                                                         CONFIG["momentum"],
                                                         CONFIG["weight_decay"])
    model = refset.SparseMLP(dims[1:-1], epsilon=3, zeta=CONFIG["zeta"], epochs=1,
                             batch_size=2, learning_rate=CONFIG["learning_rate"],
                             momentum=CONFIG["momentum"], weight_decay=CONFIG["weight_decay"],
                             loss="mse", weight_init="normal", weight_decay_style="original",
                             fidelity=fidelity, seed=seed)
    model.fit(X, y)                                   # sets classes_ and shapes; replaced below
    model.layers_ = [CooMatrix.from_scipy(net.w[i]) for i in range(1, len(dims))]
    model.biases_ = [net.b[i].copy() for i in range(1, len(dims))]
    model.velocities_ = [(np.zeros(W.nnz), np.zeros(W.shape[1])) for W in model.layers_]
    model._refresh_caches()
    out = []
    for t in range(steps):
        xb, yb, Yb = X[2 * t:2 * t + 2], y[2 * t:2 * t + 2], Y[2 * t:2 * t + 2]
        before = [CooMatrix.from_scipy(net.w[i]).values for i in range(1, len(dims))]
        z, a = net._feed_forward(xb)
        loss_o = net.loss.loss(Yb, a[net.n_layers])
        net._back_prop(z, a, Yb)
        loss_r, grads = model.loss_and_gradients(xb, yb)
        model._sgd_update(grads, model._kernels(), model.learning_rate)
        dw = max(float(np.max(np.abs(CooMatrix.from_scipy(net.w[i]).values
                                     - model.layers_[i - 1].values)))
                 for i in range(1, len(dims)))
        same_links = all(np.array_equal(CooMatrix.from_scipy(net.w[i]).linear(),
                                        model.layers_[i - 1].linear())
                         for i in range(1, len(dims)))
        db = max(float(np.max(np.abs(net.b[i] - model.biases_[i - 1])))
                 for i in range(1, len(dims)))
        step = max(float(np.max(np.abs(CooMatrix.from_scipy(net.w[i]).values - before[i - 1])))
                   for i in range(1, len(dims)))
        out.append({"step": t + 1, "loss_original": float(loss_o), "loss_refset": loss_r,
                    "max_abs_weight_diff": dw, "max_abs_bias_diff": db,
                    "max_abs_weight_change_original": step,
                    "same_links": bool(same_links)})
        print(f"  {fidelity} step {t + 1}: loss {loss_o:.12g} vs {loss_r:.12g}; max |w diff| "
              f"{dw:.2e} (step changed w by up to {step:.2e}), max |b diff| {db:.2e}",
              flush=True)
    return out


# -- report ---------------------------------------------------------------------------------

def _runs(out):
    runs = []
    for f in sorted((out / "runs").glob("*.json")):
        runs.append(json.loads(f.read_text()))
    return runs


def _fmt_range(vals, fmt="{:.3f}"):
    lo, mid, hi = (fmt.format(x) for x in (min(vals), statistics.median(vals), max(vals)))
    return f"{mid} [{lo}, {hi}]"


def _time_split(rs, train, evaluation, topology):
    """Per-epoch times of the runs ``rs`` under the given keys: training, evaluation,
    topology (epochs with an update) and their total over the epochs that had an update."""
    tr = [t for r in rs for t in r[train]]
    ev = [t for r in rs for t in r[evaluation]]
    to = [t for r in rs for t in r[topology][:r["epochs"] - 1]]
    tot = [a + b + c for r in rs for a, b, c in
           zip(r[train][:-1], r[evaluation][:-1], r[topology][:-1])]
    return tr, ev, to, tot


def _time_row(dataset, variant, rs, prefix, ref_total):
    """One row of a time table (keys ``<prefix>_train`` ...) and its medians; the ratio column
    is the original's total over this variant's (``ref_total`` None: the original itself)."""
    tr, ev, to, tot = _time_split(rs, f"{prefix}_train", f"{prefix}_eval", f"{prefix}_topology")
    med = statistics.median(tot)
    ref = med if variant == "original" else ref_total
    ratio = f"{ref / med:.2f}" if ref else "—"
    row = (f"| {dataset} | {variant} | {_fmt_range(tr, '{:.2f}')} | {_fmt_range(ev, '{:.3f}')} "
           f"| {_fmt_range(to, '{:.3f}')} | {_fmt_range(tot, '{:.2f}')} | {ratio} |")
    return row, {"train": statistics.median(tr), "eval": statistics.median(ev),
                 "topology": statistics.median(to), "total": med}


def report(out):
    runs = _runs(out)
    if not runs:
        print("no runs in", out / "runs")
        return
    by = {}
    for r in runs:
        by.setdefault((r["dataset"], r["variant"]), []).append(r)
    datasets = [d for d in DATASETS if any(k[0] == d for k in by)]
    lines = ["## Test accuracy (median [min, max] over seeds)", "",
             "| dataset | variant | seeds | epoch 1 | epoch 5 | last epoch | best epoch (median) |",
             "|---|---|---|---|---|---|---|"]
    summary = {}
    for d in datasets:
        for v in VARIANTS:
            rs = by.get((d, v))
            if not rs:
                continue
            E = min(r["epochs"] for r in rs)
            acc = np.array([r["test_accuracy"][:E] for r in rs])
            cells = [_fmt_range(acc[:, e - 1].tolist()) for e in (1, min(5, E), E)]
            best = statistics.median(acc.max(axis=1).tolist())
            lines.append(f"| {d} | {v} | {len(rs)} ({','.join(str(r['seed']) for r in rs)}) "
                         f"| {cells[0]} | {cells[1]} | {cells[2]} (epoch {E}) | {best:.3f} |")
            summary[f"{d}/{v}"] = {"seeds": [r["seed"] for r in rs], "epochs": E,
                                   "acc_median": np.median(acc, 0).tolist(),
                                   "acc_min": acc.min(0).tolist(), "acc_max": acc.max(0).tolist()}
            if v == "original":
                alt = np.array([r["test_accuracy_all_rows"][:E] for r in rs])
                summary[f"{d}/{v}"]["acc_all_rows_median"] = np.median(alt, 0).tolist()
                if not np.array_equal(alt, acc):
                    cells = [_fmt_range(alt[:, e - 1].tolist()) for e in (1, min(5, E), E)]
                    lines.append(f"| {d} | original, every test row | {len(rs)} | {cells[0]} | "
                                 f"{cells[1]} | {cells[2]} | "
                                 f"{statistics.median(alt.max(axis=1).tolist()):.3f} |")
    lines += ["", "## Seconds per epoch (median [min, max] over seeds x epochs; topology over "
              "the epochs that had an update)", "",
              "| dataset | variant | training | evaluation | topology | total | "
              "original / this (total) |", "|---|---|---|---|---|---|---|"]
    for d in datasets:
        ref_total = None
        for v in VARIANTS:
            rs = by.get((d, v))
            if not rs:
                continue
            row, times = _time_row(d, v, rs, "seconds", ref_total)
            ref_total = times["total"] if v == "original" else ref_total
            lines.append(row)
            summary[f"{d}/{v}"]["seconds"] = times
            if v == "original":
                summary[f"{d}/{v}"]["seconds_init_median"] = statistics.median(
                    [r["seconds_init"] for r in rs])
                summary[f"{d}/{v}"]["nnz_init"] = [r["nnz_init"] for r in rs]
            else:
                summary[f"{d}/{v}"]["nnz_first_epoch"] = [r["nnz"][0] for r in rs]
    lines += ["", "## Process CPU seconds per epoch (median [min, max] over seeds x epochs; the "
              "machine is shared, so CPU time is the fairer speed measure)", "",
              "| dataset | variant | training | evaluation | topology | total | "
              "original / this (total) |", "|---|---|---|---|---|---|---|"]
    for d in datasets:
        ref_total = None
        for v in VARIANTS:
            rs = [r for r in by.get((d, v), []) if "cpu_train" in r]
            if not rs:
                continue
            row, times = _time_row(d, v, rs, "cpu", ref_total)
            ref_total = times["total"] if v == "original" else ref_total
            lines.append(row)
            summary[f"{d}/{v}"]["cpu_seconds"] = times
    lines += ["", "## Curves compared over seeds (mean test accuracy over epochs 1..E per run; "
              "exact two-sided permutation test over the seeds' assignment to the two variants)",
              "", "| dataset | comparison | mean over epochs, A | mean over epochs, B | "
              "A − B | p (means over epochs) | epoch 1: A − B (medians) | p (epoch 1) |",
              "|---|---|---|---|---|---|---|---|"]
    for d in datasets:
        for a, b in (("original", "authors"), ("original", "paper"), ("authors", "paper")):
            ra, rb = by.get((d, a)), by.get((d, b))
            if not ra or not rb:
                continue
            E = min(r["epochs"] for r in ra + rb)
            key = "test_accuracy_all_rows" if a == "original" else "test_accuracy"
            A = np.array([r[key][:E] for r in ra])
            B = np.array([r["test_accuracy"][:E] for r in rb])
            ma, mb = A.mean(1), B.mean(1)
            p_mean = _permutation_p(ma, mb)
            p_first = _permutation_p(A[:, 0], B[:, 0])
            lines.append(f"| {d} | {a} − {b} | {ma.mean():.4f} | {mb.mean():.4f} | "
                         f"{ma.mean() - mb.mean():+.4f} | {p_mean:.3f} | "
                         f"{np.median(A[:, 0]) - np.median(B[:, 0]):+.4f} | {p_first:.3f} |")
            summary.setdefault("comparisons", {})[f"{d}/{a}-{b}"] = {
                "mean_a": ma.tolist(), "mean_b": mb.tolist(), "p_mean": p_mean,
                "first_a": A[:, 0].tolist(), "first_b": B[:, 0].tolist(), "p_first": p_first}
    removal = out / "removal.json"
    if removal.exists():
        rem = json.loads(removal.read_text())
        lines += ["", "## Removal sets on identical weight vectors", "",
                  "| source | vectors x zeta | identical to refset prune='original' | "
                  "identical to prune='sign' | links removed, original | links removed, sign | "
                  "links removed by the original minus by 'sign', per vector: how many vectors |",
                  "|---|---|---|---|---|---|---|"]
        for src, c in rem.items():
            bins = {}
            for k, n in c["extra_over_sign"].items():
                k = int(k)
                b = str(k) if k <= 3 else ("4–10" if k <= 10 else "> 10")
                bins[b] = bins.get(b, 0) + n
            order = ["0", "1", "2", "3", "4–10", "> 10"]
            extra = ", ".join(f"{b}: {bins[b]}" for b in order if b in bins)
            lines.append(f"| {src} | {c['cases']} | {c['identical_original_rule']} | "
                         f"{c['identical_sign_rule']} | {c['links_removed_original']} | "
                         f"{c['links_removed_sign']} | {extra} |")
    (out / "tables.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(lines))
    _figure(out, summary, datasets)


def _permutation_p(a, b):
    """Exact two-sided permutation p-value of the difference of means of ``a`` and ``b``."""
    from itertools import combinations
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    hits = total = 0
    for idx in combinations(range(pooled.size), a.size):
        mask = np.zeros(pooled.size, dtype=bool)
        mask[list(idx)] = True
        total += 1
        hits += abs(pooled[mask].mean() - pooled[~mask].mean()) >= observed - 1e-12
    return hits / total


def _figure(out, summary, datasets):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colors = {"original": "black", "paper": "tab:blue", "authors": "tab:red"}
    labels = {"original": "original code", "paper": "refset fidelity='paper'",
              "authors": "refset fidelity='authors'"}
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    for ax, d in zip(axes[0], datasets):
        for v in VARIANTS:
            s = summary.get(f"{d}/{v}")
            if not s:
                continue
            x = np.arange(1, s["epochs"] + 1)
            ax.plot(x, s["acc_median"], color=colors[v],
                    label=f"{labels[v]} (median, {len(s['seeds'])} seeds)")
            ax.fill_between(x, s["acc_min"], s["acc_max"], color=colors[v], alpha=0.15,
                            linewidth=0)
            if "acc_all_rows_median" in s and s["acc_all_rows_median"] != s["acc_median"]:
                ax.plot(x, s["acc_all_rows_median"][:s["epochs"]], color=colors[v],
                        linestyle="--", label="original code, every test row (median)")
        ax.set_title(f"{d}: 3 x 3000, eps 20, zeta 0.3, B 2, MSE")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)
    print("figure:", out / "curves.png")


# -- main -----------------------------------------------------------------------------------

def _parse_epochs(text):
    if "=" not in text:
        return {d: int(text) for d in DATASETS}
    out = {}
    for part in text.split(","):
        k, v = part.split("=")
        out[k.strip()] = int(v)
    return out


def _parse_seeds(text):
    """``"5"`` -> seeds 0..4; ``"3-6"`` -> 3..6; ``"7,"`` or ``"0,2,5"`` -> that list."""
    text = text.strip()
    if "," in text:
        return [int(s) for s in text.split(",") if s.strip()]
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return list(range(int(text)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--original-code", help="root of a checkout of "
                   "dcmocanu/sparse-evolutionary-artificial-neural-networks")
    p.add_argument("--data-dir", default=os.environ.get("REFSET_DATA"),
                   help="folder with COIL20.mat and TOX-171.mat (default $REFSET_DATA)")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--seeds", default="5",
                   help="a count N (seeds 0..N-1), a range 3-6, or a list 0,2,5 (one seed: 7,)")
    p.add_argument("--epochs", default="COIL20=12,TOX-171=10",
                   help="epochs for every dataset, or NAME=N,NAME=N")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--out", default=str(HERE / "set_original"))
    p.add_argument("--random-vectors", type=int, default=2000,
                   help="random weight vectors with ties and zeros for the removal comparison")
    p.add_argument("--no-removal", action="store_true", help="skip the removal comparison")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--removal-only", action="store_true",
                   help="only the removal comparison on random vectors (no training runs)")
    p.add_argument("--workdir", help="where to build the patched copy (default: a temp dir)")
    args = p.parse_args(argv)
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report(out)
        return
    datasets = [d for d in args.datasets.split(",") if d]
    variants = [v for v in args.variants.split(",") if v]
    seeds = _parse_seeds(args.seeds)
    epochs = _parse_epochs(args.epochs)
    if args.data_dir is None:
        raise SystemExit("no data directory: pass --data-dir or set REFSET_DATA")
    module = None
    if "original" in variants or not args.no_removal:
        if not args.original_code:
            raise SystemExit("--original-code PATH is needed for the original's runs and the "
                             "removal comparison (or use --variants paper,authors --no-removal)")
        module = load_original(args.original_code, args.workdir)
    removal_vectors = {"original-run matrices": [], "refset-authors matrices": []}
    for d in ([] if args.removal_only else datasets):
        data = load_split(d, args.data_dir)
        E = epochs[d]
        snap = {1, max(1, E // 2), max(1, E - 1)}
        print(f"{d}: {data['X_train'].shape[0]} train / {data['X_test'].shape[0]} test, "
              f"{data['X_train'].shape[1]} features, {data['Y_train'].shape[1]} classes; "
              f"{E} epochs, seeds {seeds}, variants {variants}", flush=True)
        for s in seeds:
            for v in variants:
                f = out / "runs" / f"{d}__{v}__seed{s}.json"
                if f.exists():
                    print(f"  {f.name} exists: skipped")
                    continue
                print(f"  start {f.name} (load average {os.getloadavg()[0]:.2f})", flush=True)
                t0 = time.perf_counter()
                if v == "original":
                    rec, snaps = run_original(module, data, s, E, snap if s == seeds[0] else ())
                    removal_vectors["original-run matrices"] += [
                        (f"{d} seed {s} epoch {e} layer {l + 1}", x)
                        for e, layers in snaps for l, x in enumerate(layers)]
                else:
                    rec, snaps = run_refset(v, data, s, E, snap if s == seeds[0] else ())
                    if v == "authors":
                        removal_vectors["refset-authors matrices"] += [
                            (f"{d} seed {s} epoch {e} layer {l + 1}", x)
                            for e, layers in snaps for l, x in enumerate(layers)]
                rec["wall_seconds"] = time.perf_counter() - t0
                rec["loadavg_after"] = list(os.getloadavg())
                f.write_text(json.dumps(rec))
                print(f"  {d} {v} seed {s}: final test acc {rec['test_accuracy'][-1]:.4f}, "
                      f"{rec['wall_seconds']:.0f}s", flush=True)
    if module is not None and not args.no_removal:
        print("one training step on identical state (original vs refset authors) ...", flush=True)
        checks = {f: step_check(module, fidelity=f) for f in ("authors", "paper")}
        (out / "step_check.json").write_text(json.dumps(checks, indent=1))
    if not args.no_removal and module is not None:
        print("removal comparison ...", flush=True)
        rng = np.random.default_rng(12345)
        for i, v in enumerate(random_vectors(rng, args.random_vectors)):
            src = ("random vectors, continuous (no ties)" if i % 8 in (0, 4, 7) else
                   "random vectors with ties and/or exact zeros")
            removal_vectors.setdefault(src, []).append((f"random {i}", v))
        path = out / "removal.json"
        result = json.loads(path.read_text()) if path.exists() else {}
        for src, vecs in removal_vectors.items():
            if not vecs:
                continue
            zetas = (0.3,) if "matrices" in src else (0.3, 0.01, 0.02, 0.5)
            key = f"{src}, zeta {'/'.join(str(z) for z in zetas)}"
            result[key] = compare_removal(module, vecs, zetas)
            c = result[key]
            print(f"  {key}: {c['cases']} cases, identical to 'original' rule "
                  f"{c['identical_original_rule']}, to 'sign' rule {c['identical_sign_rule']}",
                  flush=True)
        path.write_text(json.dumps(result, indent=1))
    report(out)


if __name__ == "__main__":
    main()
