#!/usr/bin/env python
"""The CHT authors' code and refset side by side: MNIST / Fashion-MNIST 1x (784-784-784-784-10).

Four kinds of runs (``--what``), each writing one JSON per run into ``--out``:

- ``authors-code``: the published code of Zhang et al. (biomedical-cybernetics/
  Cannistraci-Hebb-training, the ICLR-era MLP path of its first commit b86d25f) run from a
  user's checkout (``--authors-code``) with a Python that has PyTorch (``--authors-python``).
  The checkout is never copied into refset: a patched copy is made in a temporary directory,
  and the fixes applied to it are printed and recorded (they only make it run on today's
  packages and on a CPU; none changes the algorithm):

  1. ``run.py`` ``__main__``: CUDA-only device selection -> ``"cpu"`` (the runs call
     ``train_model(seed, "cpu", args)`` directly, so this only keeps ``python run.py`` usable);
  2. MATLAB (``import matlab``, ``matlab.engine``, ``eng.link_predict``) -> a stand-in module whose
     ``link_predict(mask)`` returns the CH3-L3 scores of the authors' own C++ kernel
     ``CH_scores_new_v2`` (HEAD of the same repository, built with pybind11; path length 3,
     model 3 = CH3, on the bipartite mask embedded in a symmetric monopartite adjacency) times
     ``(mask == 0)``, as ``link_predict.m`` does.  If the kernel cannot be built, a numpy
     closed form of the same score is used instead (equal to 1e-14, not bit-identical; the run
     records which one was used);
  3. ``torchvision`` (not installable beside a local torch build) -> a stand-in with
     ``MNIST``/``FashionMNIST`` read from the IDX ``.gz`` files of ``--data-dir`` and
     ``ToTensor``/``Normalize``/``Compose`` with torchvision's arithmetic; the data path is the
     only change;
  4. ``wandb`` and ``tqdm`` -> no-op stand-ins (the runs pass ``--no_log``).

  A small driver wraps ``Train``/``Test``/``evolve_connections`` to record, per epoch, the test
  accuracy, active neurons per layer, link counts and early-stop flags (it observes only).
  Flags: the README's CHT MNIST command with ``--dim 1`` (1x), ``--seed S``, ``--epochs E``.
- ``refset-paper``: refset's CHT as the paper describes it (ALGORITHMS §5.5, as in
  ``experiments/cht_mnist.py``), ``fidelity="paper"``, per-feature z-scored data.
- ``refset-authors``: the same call with ``fidelity="authors"`` and the authors' global
  normalisation of the images.
- ``ablation``: each CHT quirk of :mod:`refset.fidelity` alone added to paper mode
  (``--ablation add``), and/or each one removed from authors' mode (``--ablation remove``).

``--summarize`` (also done after every invocation) writes ``summary.json``, ``summary.csv``,
``table.md`` and the figure ``cht_authors_<dataset>.png`` (test accuracy per epoch, mean and
min-max over seeds per variant; active neurons per hidden layer per epoch) from the JSONs in
``--out``.  Only runs of equal length are compared (AAE depends on E).

Usage::

    python experiments/cht_authors.py --what authors-code --authors-code ~/src/Cannistraci-Hebb-training \\
        --authors-python ~/torchenv/bin/python --seeds 0 --epochs 100 --out experiments/cht_authors
    python experiments/cht_authors.py --what refset-paper,refset-authors --seeds 0,1,2
    python experiments/cht_authors.py --what ablation --ablation add --ablation-seeds 0
"""
import argparse
import csv
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

FIRST_COMMIT = "b86d25f"
ICLR_FILES = ("run.py", "model.py", "sparse.py", "sparse_topology_initialization.py",
              "Train_and_Test.py", "load_data.py", "utils.py")
KERNEL_FILES = ("CH_scores_new_v2.cpp", "CH_scores_new_v2.h", "bindings.cpp")
PUBLISHED = {"mnist": (0.9805, 0.0004), "fashion-mnist": (0.8807, 0.0011)}
AUTHORS_DATASET = {"mnist": "MNIST", "fashion-mnist": "Fashion_MNIST"}
HIDDEN = 784

# ---------------------------------------------------------------------------------------------
# stand-in modules and the driver written next to the patched copy (refset's own code)

_SHIM = {
    "matlab/__init__.py": '''"""Stand-in for the MATLAB Engine API: double(list) -> ndarray; engine.start_matlab()
returns an object whose link_predict(mask) computes CH3-L3 like link_predict.m."""
import numpy as np
from . import engine  # noqa: F401


def double(x):
    return np.asarray(x, dtype=np.float64)
''',
    "matlab/engine.py": '''class _Engine:
    def link_predict(self, mask):
        from ch3_link_predict import link_predict
        return link_predict(mask)


def start_matlab():
    return _Engine()
''',
    "ch3_link_predict.py": '''"""CH3-L3 scores of a bipartite 0/1 mask, times (mask == 0) (link_predict.m).

Uses the authors' C++ kernel CH_scores_new_v2 (pybind11 module CH_scores) with path length 3
and model 3 (CH3); falls back to a numpy closed form when the module is not importable."""
import os
import sys

import numpy as np
from scipy.sparse import csr_matrix

try:
    import CH_scores
    BACKEND = "authors-cpp"
except ImportError:
    CH_scores = None
    BACKEND = "numpy-fallback"


def _numpy(X):
    d_in, d_out = X.sum(1), X.sum(0)
    c_in, c_out = X @ X.T, X.T @ X
    S = np.zeros_like(X)
    with np.errstate(divide="ignore"):       # 1/0 only on existing links (zeroed below)
        for i, j in zip(*np.nonzero(X)):      # middle link i -> j of a path u - j - i - v
            U = np.flatnonzero(X[:, j]); U = U[U != i]
            V = np.flatnonzero(X[i, :]); V = V[V != j]
            if U.size and V.size:
                S[np.ix_(U, V)] += np.outer(1 / np.sqrt(d_in[i] - c_in[i, U]),
                                            1 / np.sqrt(d_out[j] - c_out[j, V]))
    return S


def link_predict(mask):
    xb = (np.asarray(mask, dtype=np.float64) != 0).astype(np.float64)
    if CH_scores is None:
        return np.where(xb == 0, _numpy(xb), 0.0)
    n1, n2 = xb.shape
    x = np.zeros((n1 + n2, n1 + n2))
    x[:n1, n1:] = xb
    x[n1:, :n1] = xb.T
    A = csr_matrix(x)
    N = n1 + n2
    with open(os.devnull, "w") as devnull:   # the kernel prints timings to std::cout
        saved = os.dup(1)
        sys.stdout.flush()
        os.dup2(devnull.fileno(), 1)
        try:
            s = np.array(CH_scores.CH_scores_new_v2(A.indices.tolist(), A.indptr.tolist(), N,
                                                    [3.0], 1, 3, [3.0], 1))
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    return s.reshape(N, N)[:n1, n1:] * (xb == 0)
''',
    "wandb.py": '''class _Run:
    def log(self, *a, **k):
        pass


def init(*a, **k):
    return _Run()


def log(*a, **k):
    pass
''',
    "tqdm.py": '''def tqdm(iterable, *a, **k):
    return iterable
''',
    "torchvision/__init__.py": '''"""Stand-in for torchvision: MNIST / FashionMNIST from $CHT_DATA_DIR/{mnist,fashion-mnist}/*.gz,
ToTensor / Normalize / Compose with torchvision's arithmetic. `root` is ignored."""
from . import datasets, transforms  # noqa: F401
''',
    "torchvision/transforms.py": '''import torch


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    def __call__(self, img):        # uint8 (28, 28) -> float (1, 28, 28) / 255
        return img.view(1, *img.shape).contiguous().to(dtype=torch.get_default_dtype()).div(255)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, t):
        mean = torch.as_tensor(self.mean, dtype=t.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=t.dtype).view(-1, 1, 1)
        return t.sub(mean).div(std)
''',
    "torchvision/datasets.py": '''import gzip
import os

import numpy as np
import torch


def _idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


class _IDXDataset(torch.utils.data.Dataset):
    folder = None

    def __init__(self, root=None, train=True, transform=None, download=False, **kw):
        base = os.path.join(os.environ["CHT_DATA_DIR"], self.folder)
        split = "train" if train else "t10k"
        self.data = torch.from_numpy(_idx(os.path.join(base, f"{split}-images-idx3-ubyte.gz")).copy())
        self.targets = torch.from_numpy(
            _idx(os.path.join(base, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64))
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img, target = self.data[i], int(self.targets[i])
        if self.transform is not None:
            img = self.transform(img)
        return img, target


class MNIST(_IDXDataset):
    folder = "mnist"


class FashionMNIST(_IDXDataset):
    folder = "fashion-mnist"
''',
}

_DRIVER = r'''"""Run the patched CHT authors' code with per-epoch instrumentation (observes only).
usage: python cht_driver.py --code DIR --out JSON [run.py flags ...]"""
import argparse, json, os, sys, time

pre = argparse.ArgumentParser(add_help=False)
pre.add_argument("--code", required=True)
pre.add_argument("--out", required=True)
pre.add_argument("--threads", type=int, default=1)
ours, rest = pre.parse_known_args()
sys.path.insert(0, os.path.abspath(ours.code))
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim"))
sys.argv = [sys.argv[0]] + rest

import torch
torch.set_num_threads(ours.threads)

import run as R
import model as M
import sparse as S
import ch3_link_predict

args = R.args()
rec = {"code": os.path.abspath(ours.code), "argv": rest, "args": vars(args), "epochs": [],
       "updates": [], "torch": torch.__version__, "threads": ours.threads,
       "ch3_backend": ch3_link_predict.BACKEND}
state = {"epoch": 0, "t_train": 0.0}


def masks(model):
    return [l.weight_mask.detach().float() for l in model.sparse_layers]


def active(model):
    m = masks(model)
    indeg = [x.sum(0) > 0 for x in m]
    outdeg = [x.sum(1) > 0 for x in m]
    hidden = []
    for l in range(len(m)):
        a = indeg[l].clone()
        if l + 1 < len(m):
            a &= outdeg[l + 1]
        hidden.append(int(a.sum()))
    return {"inputs": int(outdeg[0].sum()), "hidden": hidden,
            "in_degree_positive": [int(x.sum()) for x in indeg]}


def dump():
    tmp = ours.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, ours.out)


orig_train, orig_test = R.Train, R.Test


def Train(args_, model, device, loader, optimizer, epoch, warm):
    state["epoch"] = epoch
    state["lr"] = optimizer.param_groups[0]["lr"]
    if epoch == 0:
        rec["n_params"] = [int(l.n_params) for l in model.sparse_layers]
        rec["nnz_init"] = [int(x.sum()) for x in masks(model)]
        rec["active_init"] = active(model)
        rec["init_nonzero_weights_on_links"] = [
            int(((l.weight.data != 0) & (l.weight_mask != 0)).sum()) for l in model.sparse_layers]
    t = time.time()
    orig_train(args_, model, device, loader, optimizer, epoch, warm)
    state["t_train"] = time.time() - t


def Test(model, device, loader):
    t = time.time()
    top1, top5, loss = orig_test(model, device, loader)
    t_eval = time.time() - t
    e = state["epoch"]
    rec["epochs"].append({
        "epoch": e + 1, "test_acc": float(top1) / 100.0, "test_loss": float(loss), "lr": state["lr"],
        "active": active(model), "nnz": [int(x.sum()) for x in masks(model)],
        "early_stop_signal": [bool(l.early_stop_signal) for l in model.sparse_layers],
        "seconds_train": state["t_train"], "seconds_eval": t_eval,
        "seconds_evolve": state.pop("t_evolve_epoch", 0.0)})
    print(f"[driver] epoch {e + 1} acc {float(top1):.2f} active {rec['epochs'][-1]['active']['hidden']} "
          f"nnz {rec['epochs'][-1]['nnz']} train {state['t_train']:.1f}s", flush=True)
    dump()
    return top1, top5, loss


R.Train, R.Test = Train, Test
orig_evolve = M.sparse_mlp.evolve_connections
orig_remove = S.sparse_layer.remove_connections
orig_regrow = S.sparse_layer.regrow_connections


def remove(self):
    self._zero_links = int(((self.weight.data * self.weight_mask == 0) & (self.weight_mask != 0)).sum())
    self._nnz_before = int(self.weight_mask.sum())
    orig_remove(self)
    self._after_set = int(self.mask_after_removal.sum())


def regrow(self):
    self._after_perc = int(self.mask_after_removal.sum())
    old = self.weight_mask.clone()
    orig_regrow(self)
    self._grown = int(self.new_links_mask.sum())
    self._regrown_removed = int((self.new_links_mask * (old - self.mask_after_removal)).sum())


def evolve(self):
    t = time.time()
    all_stopped = all(l.early_stop_signal for l in self.sparse_layers)
    orig_evolve(self)
    dt = time.time() - t
    state["t_evolve_epoch"] = dt
    u = {"before_epoch": state["epoch"] + 2, "ran": not all_stopped, "seconds": dt}
    if not all_stopped:
        u["layers"] = [{"nnz_before": l._nnz_before, "exact_zero_links": l._zero_links,
                        "removed_set": l._nnz_before - l._after_set,
                        "percolated": l._after_set - l._after_perc,
                        "target_regrow": int(l.noRewires), "grown": l._grown,
                        "regrown_were_removed": l._regrown_removed,
                        "nnz_after": int(l.weight_mask.sum()),
                        "overlap": float(l.overlap_rate), "early_stop_signal": bool(l.early_stop_signal)}
                       for l in self.sparse_layers]
        u["active_after"] = active(self)
    rec["updates"].append(u)


M.sparse_mlp.evolve_connections = evolve
S.sparse_layer.remove_connections = remove
S.sparse_layer.regrow_connections = regrow

t0 = time.time()
R.train_model(args.seed, "cpu", args)
rec["seconds_total"] = time.time() - t0
rec["done"] = True
dump()
'''


# ---------------------------------------------------------------------------------------------
# the authors' code: patched scratch copy, kernel build, runs


def _git_show(repo, rev, path):
    r = subprocess.run(["git", "-C", repo, "show", f"{rev}:{path}"], capture_output=True)
    return r.stdout if r.returncode == 0 else None


def _git_last_commit_with(repo, path):
    r = subprocess.run(["git", "-C", repo, "log", "--all", "-n", "1", "--format=%H", "--", path],
                       capture_output=True, text=True)
    return r.stdout.strip() or None


def prepare_authors_code(checkout, python, work):
    """Make the patched copy in ``work``; returns (code_dir, fixes, notes)."""
    code = os.path.join(work, "code")
    os.makedirs(code, exist_ok=True)
    notes = []
    for name in ICLR_FILES:                                  # the ICLR-era files, first commit
        blob = _git_show(checkout, FIRST_COMMIT, name)
        if blob is not None:
            where = f"git {FIRST_COMMIT}:{name}"
        elif os.path.isfile(os.path.join(checkout, name)):
            with open(os.path.join(checkout, name), "rb") as f:
                blob = f.read()
            where = f"working tree {name} (not a git checkout with {FIRST_COMMIT}: check it is "\
                    f"the ICLR-era code)"
        else:
            raise SystemExit(f"--authors-code {checkout}: cannot find {name} (neither git commit "
                             f"{FIRST_COMMIT} nor the working tree)")
        with open(os.path.join(code, name), "wb") as f:
            f.write(blob)
        notes.append(where)
    fixes = []
    path = os.path.join(code, "run.py")
    with open(path, "rb") as f:
        text = f.read().decode()
    nl = "\r\n" if "\r\n" in text else "\n"
    old = nl.join(['    torch.cuda.set_device(args.cuda_device)',
                   '    device = "cuda:" + str(args.cuda_device)', '    ',
                   '    print("using GPU: ", torch.cuda.get_device_name())'])
    if old in text:
        with open(path, "wb") as f:
            f.write(text.replace(old, '    device = "cpu"  # PATCH (CPU)').encode())
        fixes.append("run.py __main__: CUDA device selection replaced by device = 'cpu'")
    else:
        fixes.append("run.py __main__: CUDA block not found (unchanged); runs call "
                     "train_model(seed, 'cpu', args)")
    shim = os.path.join(work, "shim")
    for rel, src in _SHIM.items():
        os.makedirs(os.path.dirname(os.path.join(shim, rel)), exist_ok=True)
        with open(os.path.join(shim, rel), "w") as f:
            f.write(src)
    with open(os.path.join(work, "cht_driver.py"), "w") as f:
        f.write(_DRIVER)
    # the C++ CH3-L3 kernel (HEAD of the authors' repository), built with pybind11
    build = os.path.join(work, "kernel")
    os.makedirs(build, exist_ok=True)
    have = True
    for name in KERNEL_FILES:
        src = os.path.join(checkout, name)
        if os.path.isfile(src):
            shutil.copy(src, build)
            continue
        rev = _git_last_commit_with(checkout, name)
        blob = _git_show(checkout, rev, name) if rev else None
        if blob is None:
            have = False
            break
        with open(os.path.join(build, name), "wb") as f:
            f.write(blob)
    kernel = "numpy-fallback"
    if have:
        setup = ("from setuptools import setup, Extension\nimport pybind11\n"
                 "setup(name='CH_scores', ext_modules=[Extension('CH_scores', "
                 "['bindings.cpp', 'CH_scores_new_v2.cpp'], include_dirs=[pybind11.get_include()], "
                 "language='c++', extra_compile_args=['-std=c++11', '-O3', '-fopenmp'], "
                 "extra_link_args=['-fopenmp'])])\n")
        with open(os.path.join(build, "setup_refset.py"), "w") as f:
            f.write(setup)
        r = subprocess.run([python, "setup_refset.py", "build_ext", "--inplace"], cwd=build,
                           capture_output=True, text=True)
        if r.returncode == 0 and glob.glob(os.path.join(build, "CH_scores*.so")):
            for so in glob.glob(os.path.join(build, "CH_scores*.so")):
                shutil.copy(so, shim)
            kernel = "authors-cpp"
        else:
            print("warning: building the authors' C++ kernel failed; using the numpy closed "
                  "form:\n" + r.stderr[-2000:], file=sys.stderr)
    fixes.append("MATLAB engine -> stand-in; link_predict = CH3-L3 (path length 3, model 3) of "
                 + ("the authors' C++ kernel CH_scores_new_v2 (HEAD) built with pybind11"
                    if kernel == "authors-cpp" else "a numpy closed form (kernel not built)")
                 + ", times (mask == 0)")
    fixes.append("torchvision -> stand-in reading the IDX .gz files of --data-dir (root path "
                 "ignored), ToTensor/Normalize with torchvision's arithmetic")
    fixes.append("wandb, tqdm -> no-op stand-ins (runs use --no_log)")
    return code, fixes, notes + [f"CH3-L3: {kernel}"]


def run_authors(args, seed, out_json, work):
    """One run of the patched authors' code (a subprocess; progress lines are echoed)."""
    code, fixes, notes = args._authors
    run_dir = tempfile.mkdtemp(prefix=f"run-s{seed}-", dir=work)   # fresh cwd: corr cache
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               CHT_DATA_DIR=os.path.abspath(args.data_dir))
    cmd = [args.authors_python, os.path.join(work, "cht_driver.py"), "--code", code,
           "--out", out_json, "--learning_rate", "0.01", "--epochs", str(args.epochs),
           "--regrow_method", "CH3_L3", "--init_mode", "swi", "--chain_removal",
           "--self_correlated_sparse", "--dim", "1", "--bias", "--linearlr", "--early_stop",
           "--update_interval", "3", "--dataset", AUTHORS_DATASET[args.dataset], "--no_log",
           "--seed", str(seed)]
    print("authors' code:", " ".join(cmd[1:]), flush=True)
    log = open(os.path.join(run_dir, "log.txt"), "w")
    proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=(lambda: os.nice(args.nice)) if args.nice else None)
    for line in proc.stdout:
        log.write(line)
        if line.startswith("[driver]"):
            print(f"  seed {seed} {line[9:]}", end="", flush=True)
    if proc.wait() != 0:
        raise SystemExit(f"the authors' code failed (seed {seed}); log: {log.name}")
    with open(out_json) as f:
        rec = json.load(f)
    rec.update(fixes=fixes, sources=notes, variant="authors-code", dataset=args.dataset,
               seed=seed)
    with open(out_json, "w") as f:
        json.dump(rec, f, indent=1)


# ---------------------------------------------------------------------------------------------
# refset


def load_data(dataset, data_dir, global_norm):
    import refset
    if not global_norm:
        return refset.load_dataset(dataset, data_dir, seed=0)
    try:
        return refset.load_dataset(dataset, data_dir, seed=0, normalize="global")
    except TypeError:
        return refset.load_dataset(dataset, data_dir, seed=0, standardize="global")


def run_refset(variant, fidelity, seed, epochs, data, out_json):
    """refset CHT 784-784-784-784-10 (ALGORITHMS §5.5; the call of experiments/cht_mnist.py)."""
    import refset
    from refset.estimator.history import write_history_json
    model = refset.SparseMLP((HIDDEN, HIDDEN, HIDDEN), method="cht",
                             method_options={"sparsity": 0.99}, epochs=epochs, batch_size=32,
                             learning_rate=0.01, momentum=0.9, weight_decay=1e-5,
                             weight_init="swi", dense_output=True, lr_schedule="linear",
                             update_interval=1, zeta=0.3, seed=seed, verbose=0,
                             fidelity=fidelity)
    t0 = time.perf_counter()

    def progress(m, record):
        print(f"  {variant} seed {seed} epoch {record['epoch']:>3} "
              f"acc {record['test_accuracy']:.4f} active {record['active_neurons'][1:-1]}",
              flush=True)

    model.fit(data.X_train, data.y_train, validation_data=(data.X_test, data.y_test),
              callback=progress)
    seconds = time.perf_counter() - t0
    write_history_json(model.history_, out_json, variant=variant, seed=seed, seconds=seconds,
                       fidelity=fidelity if isinstance(fidelity, str) else list(fidelity),
                       effective_params=_jsonable(model.effective_params()))


def _jsonable(d):
    return json.loads(json.dumps(d, default=str))


# ---------------------------------------------------------------------------------------------
# summaries, table, figure


def aae(curve):
    """Area under the test-accuracy curve / (E - 1), trapezoid (ALGORITHMS §5.5)."""
    c = np.asarray(curve, float)
    return float(np.sum((c[1:] + c[:-1]) / 2) / (len(c) - 1)) if len(c) > 1 else float(c[0])


def _freeze_epochs(flags, epochs):
    """Per layer, the first epoch whose record shows the layer frozen (None: never)."""
    out = []
    for l in range(len(flags[0]) if flags else 0):
        hit = [e for e, f in zip(epochs, flags) if f[l]]
        out.append(hit[0] if hit else None)
    return out


def summarize_run(path):
    with open(path) as f:
        rec = json.load(f)
    if "epochs" in rec and rec["epochs"] and "test_acc" in rec["epochs"][0]:       # authors
        ep = rec["epochs"]
        acc = [r["test_acc"] for r in ep]
        # the authors' code evolves *before* an epoch; refset's record of epoch e is taken
        # after the update that ends epoch e: align (the topology after the update that
        # follows epoch e is the one recorded with epoch e + 1)
        hidden = [r["active"]["hidden"] for r in ep]
        hidden = hidden[1:] + hidden[-1:]
        ran = [u for u in rec.get("updates", []) if u.get("ran")]
        first = ran[0]["active_after"]["hidden"] if ran else None
        n_layers = len(ep[0]["early_stop_signal"])
        passed = [next((u["before_epoch"] - 1 for u in ran if u["layers"][l]["early_stop_signal"]),
                       None) for l in range(n_layers)]
        frozen_all = max(passed) if passed and None not in passed else None
        meta = dict(variant="authors-code", seed=rec.get("seed", rec["args"]["seed"]),
                    dataset=rec.get("dataset"), complete=bool(rec.get("done")),
                    seconds_per_epoch=float(np.mean([r["seconds_train"] + r["seconds_eval"]
                                                     for r in ep])))
        freeze = {"passed_epoch_per_layer": passed, "all_frozen_after_epoch": frozen_all,
                  "updates_run": len(ran)}
    else:                                                                          # refset
        hist = rec["history"] if "history" in rec else rec["epochs"]
        acc = [r["test_accuracy"] for r in hist]
        hidden = [list(r["active_neurons"][1:-1]) for r in hist]
        epochs = [r["epoch"] for r in hist]
        first = None
        for r in hist:
            if any(int(x) > 0 for x in (r.get("regrown") or [])) or \
                    any(int(x) > 0 for x in (r.get("removed") or [])):
                first = list(r["active_neurons"][1:-1])
                break
        frozen = [r.get("frozen") for r in hist]
        fz = _freeze_epochs([f[:3] for f in frozen if f is not None],
                            [e for e, f in zip(epochs, frozen) if f is not None])
        all_fz = [e for e, f in zip(epochs, frozen)       # None: the dense output layer
                  if f is not None and all(x for x in f if x is not None)]
        meta = dict(variant=rec.get("variant"), seed=rec.get("seed"), dataset=None,
                    complete=True, seconds_per_epoch=(rec.get("seconds") or 0) / max(len(hist), 1))
        freeze = {"passed_epoch_per_layer": fz, "all_frozen_after_epoch": all_fz[0] if all_fz else None,
                  "updates_run": sum(1 for r in hist if any(int(x) > 0 for x in (r.get("removed") or [])))}
    total = 3 * HIDDEN
    return dict(meta, path=os.path.basename(path), epochs=len(acc), final_accuracy=acc[-1],
                best_accuracy=max(acc), aae=aae(acc), aae_mean=float(np.mean(acc)),
                anp=sum(hidden[-1]) / total, active_final=hidden[-1],
                active_after_first_update=first, **freeze,
                curve=acc, active_curve=hidden)


def _ms(values):
    v = np.asarray([x for x in values if x is not None], float)
    if v.size == 0:
        return "-"
    return f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if v.size > 1 else f"{v[0]:.4f}"


def summarize(out, dataset):
    runs = []
    for path in sorted(glob.glob(os.path.join(out, f"*_{dataset}_seed*.json"))):
        try:
            runs.append(summarize_run(path))
        except (KeyError, ValueError, IndexError, json.JSONDecodeError) as exc:
            print(f"skipping {path}: {exc}", file=sys.stderr)
    if not runs:
        return
    for r in runs:
        r["dataset"] = dataset
        r["variant"] = r["variant"] or os.path.basename(r["path"]).split(f"_{dataset}_")[0]
    slim = [{k: v for k, v in r.items() if k not in ("curve", "active_curve")} for r in runs]
    with open(os.path.join(out, f"summary_{dataset}.json"), "w") as f:
        json.dump(slim, f, indent=1)
    keys = ["variant", "seed", "epochs", "complete", "final_accuracy", "best_accuracy", "aae",
            "aae_mean", "anp", "active_final", "active_after_first_update",
            "passed_epoch_per_layer", "all_frozen_after_epoch", "updates_run", "seconds_per_epoch"]
    with open(os.path.join(out, f"summary_{dataset}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for r in slim:
            w.writerow([r[k] for k in keys])
    variants = list(dict.fromkeys(r["variant"] for r in runs))
    lines = [f"| variant ({dataset}) | seeds | epochs | final acc | best acc | AAE | ANP | "
             "active after 1st update | freezing (all frozen after epoch) |",
             "|---|---|---|---|---|---|---|---|---|"]
    pub = PUBLISHED.get(dataset)
    if pub:
        lines.append(f"| published CHT 1x (Zhang et al.) | 3 | 100 | {pub[0]:.4f} ± {pub[1]:.4f} "
                     "| | | | | |")
    for v in variants:
        rs = [r for r in runs if r["variant"] == v]
        first = [r["active_after_first_update"] for r in rs if r["active_after_first_update"]]
        fz = [r["all_frozen_after_epoch"] for r in rs]
        lines.append(
            f"| {v} | {','.join(str(r['seed']) for r in rs)} | "
            f"{'/'.join(sorted({str(r['epochs']) for r in rs}))} | "
            f"{_ms([r['final_accuracy'] for r in rs])} | {_ms([r['best_accuracy'] for r in rs])} | "
            f"{_ms([r['aae'] for r in rs])} | {_ms([r['anp'] for r in rs])} | "
            f"{'; '.join(str(x) for x in first) or '-'} | {', '.join(str(x) for x in fz)} |")
    with open(os.path.join(out, f"table_{dataset}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    figure(runs, variants, os.path.join(out, f"cht_authors_{dataset}.png"), dataset)


def figure(runs, variants, path, dataset):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no figure", file=sys.stderr)
        return
    main = [v for v in variants if not v.startswith(("+", "-"))] or variants
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, v in enumerate(main):
        rs = [r for r in runs if r["variant"] == v]
        n = min(len(r["curve"]) for r in rs)
        A = np.array([r["curve"][:n] for r in rs])
        x = np.arange(1, n + 1)
        c = colors[k % len(colors)]
        axes[0].plot(x, A.mean(0), color=c, label=f"{v} ({len(rs)} seed{'s' * (len(rs) > 1)})")
        axes[0].fill_between(x, A.min(0), A.max(0), color=c, alpha=0.2)
        H = np.array([[h for h in r["active_curve"][:n]] for r in rs], float)   # seed, epoch, layer
        for l in range(3):
            axes[l + 1].plot(x, H[:, :, l].mean(0), color=c, label=v)
            axes[l + 1].fill_between(x, H[:, :, l].min(0), H[:, :, l].max(0), color=c, alpha=0.2)
    pub = PUBLISHED.get(dataset)
    if pub:
        axes[0].axhline(pub[0], color="k", ls=":", lw=1, label=f"published {pub[0]:.4f}")
    lo = min(min(r["curve"][5:] or r["curve"]) for r in runs)
    axes[0].set_ylim(max(lo - 0.005, 0), None)
    axes[0].set(xlabel="epoch", ylabel="test accuracy", title=f"{dataset} 1x: mean, min-max")
    axes[0].legend(fontsize=7, loc="lower right")
    for l in range(3):
        axes[l + 1].set(xlabel="epoch", ylabel="active neurons",
                        title=f"hidden layer {l + 1} (of {HIDDEN})")
        axes[l + 1].set_yscale("log")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("figure:", path)


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors-code", help="a checkout of biomedical-cybernetics/"
                   "Cannistraci-Hebb-training (git clone; never copied into refset)")
    p.add_argument("--authors-python", default=None, help="a Python with torch, numpy, scipy, "
                   "pybind11 (default: this one)")
    p.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--ablation-seeds", default="0")
    p.add_argument("--ablation", default="add", help="add, remove or add,remove")
    p.add_argument("--quirks", default=None, help="only these quirks in the ablation (comma list)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--data-dir", default=os.environ.get("REFSET_DATA"),
                   help="default: $REFSET_DATA (holds mnist/ and fashion-mnist/)")
    p.add_argument("--what", default="authors-code,refset-paper,refset-authors,ablation")
    p.add_argument("--out", default="experiments/cht_authors")
    p.add_argument("--nice", type=int, default=10, help="niceness of the authors' code runs")
    p.add_argument("--summarize", action="store_true", help="only rebuild summaries and figure")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    what = set(args.what.split(","))
    seeds = [int(s) for s in args.seeds.split(",") if s != ""]
    if args.summarize:
        summarize(args.out, args.dataset)
        return 0
    if args.data_dir is None:
        raise SystemExit("--data-dir or $REFSET_DATA is needed")
    tag = f"{args.dataset}"
    if "authors-code" in what:
        if not args.authors_code:
            raise SystemExit("--what authors-code needs --authors-code PATH (a checkout of the "
                             "authors' repository)")
        work = tempfile.mkdtemp(prefix="cht_authors_")
        args.authors_python = args.authors_python or sys.executable
        args._authors = prepare_authors_code(os.path.abspath(args.authors_code),
                                             args.authors_python, work)
        print(f"patched copy of the authors' code in {work}; fixes applied:")
        for fix in args._authors[1]:
            print("  -", fix)
        for seed in seeds:
            run_authors(args, seed, os.path.abspath(
                os.path.join(args.out, f"authors-code_{tag}_seed{seed}.json")), work)
            summarize(args.out, args.dataset)
    todo = []
    if "refset-authors" in what:
        todo += [("refset-authors", "authors", s) for s in seeds]
    if "refset-paper" in what:
        todo += [("refset-paper", "paper", s) for s in seeds]
    if "ablation" in what:
        from refset.fidelity import AUTHORS
        quirks = args.quirks.split(",") if args.quirks else list(AUTHORS["cht"])
        for s in [int(x) for x in args.ablation_seeds.split(",")]:
            if "add" in args.ablation:
                todo += [(f"+{q}", [q], s) for q in quirks]
            if "remove" in args.ablation:
                todo += [(f"-{q}", [x for x in AUTHORS["cht"] if x != q], s) for q in quirks]
    cache = {}
    for variant, fidelity, seed in todo:
        glob_norm = fidelity == "authors" or (not isinstance(fidelity, str)
                                              and "global_normalisation" in fidelity)
        if glob_norm not in cache:
            cache[glob_norm] = load_data(args.dataset, args.data_dir, glob_norm)
        fname = variant.replace("+", "plus-", 1) if variant.startswith("+") else \
            variant.replace("-", "minus-", 1) if variant.startswith("-") else variant
        path = os.path.join(args.out, f"{fname}_{tag}_seed{seed}.json")
        print(f"refset {variant} seed {seed} ({args.epochs} epochs)", flush=True)
        run_refset(variant, fidelity, seed, args.epochs, cache[glob_norm], path)
        summarize(args.out, args.dataset)
    summarize(args.out, args.dataset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
