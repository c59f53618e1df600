r"""The CHT authors' own CH3-L3 kernel as an oracle adapter (``ch3_l3_scores`` only).

Checks refset's CH3-L3 link prediction against the published C++ kernel of Zhang et al.
(``CH_scores_new_v2.cpp`` of biomedical-cybernetics/Cannistraci-Hebb-training, the kernel its
MLP code calls through pybind11), built from a checkout you provide::

    git clone https://github.com/biomedical-cybernetics/Cannistraci-Hebb-training ~/src/cht
    REFSET_CHT_AUTHORS=~/src/cht refset oracle check \
        --adapter examples/oracle/cht_authors_ch3.py --case ch3

Nothing of the authors' code is shipped with refset: the sources are read from the checkout
(working tree, else the last git commit that has them), compiled with ``g++`` into a cache
directory (``$REFSET_CHT_AUTHORS_BUILD``, default ``~/.cache/refset/cht_authors_kernel``) and
imported from there.  Needs a C++ compiler with OpenMP and the pybind11 headers (``pip install
pybind11``, or ``REFSET_PYBIND11_INCLUDE=DIR``).

Without ``REFSET_CHT_AUTHORS`` the adapter defines no contract function, so every case is
``n/a`` and the check passes vacuously, with a one-line notice on stderr.

How the kernel is called
------------------------
The kernel scores node pairs of a *monopartite* graph.  A layer's bipartite mask X (n_in x
n_out) is embedded as the symmetric adjacency [[0, X], [Xᵀ, 0]] in CSR form (``indices``,
``indptr``), the kernel is asked for path length 3 and model 3 (CH3: the sum over the paths
of 1/sqrt((1 + de_1)(1 + de_2)), de = the external degree of an intermediate node), and the
input x output block is kept, times (X == 0) — what the authors' ``link_predict.m`` does with
the MATLAB twin of this kernel (their first commit).  Note that the authors' later MLP code
asks the same kernel for model 1 when ``--regrow_method CH3_L3`` is given; model 3 is the
CH3-L3 of the paper and of ALGORITHMS §5.4.
"""
import glob
import hashlib
import os
import subprocess
import sys
import sysconfig

import numpy as np

NAME = "CHT authors' C++ CH3-L3 kernel"
_SOURCES = ("CH_scores_new_v2.cpp", "CH_scores_new_v2.h", "bindings.cpp")


def _source(checkout, name):
    path = os.path.join(checkout, name)
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return f.read()
    rev = subprocess.run(["git", "-C", checkout, "log", "--all", "-n", "1", "--format=%H", "--",
                          name], capture_output=True, text=True).stdout.strip()
    if rev:
        r = subprocess.run(["git", "-C", checkout, "show", f"{rev}:{name}"], capture_output=True)
        if r.returncode == 0:
            return r.stdout
    raise ImportError(f"REFSET_CHT_AUTHORS={checkout}: {name} not found (neither in the working "
                      "tree nor in its git history); is it a checkout of "
                      "biomedical-cybernetics/Cannistraci-Hebb-training?")


def _pybind11_include():
    if os.environ.get("REFSET_PYBIND11_INCLUDE"):
        return os.environ["REFSET_PYBIND11_INCLUDE"]
    try:
        import pybind11
    except ImportError:
        raise ImportError("building the CHT authors' kernel needs the pybind11 headers: "
                          "pip install pybind11, or set REFSET_PYBIND11_INCLUDE") from None
    return pybind11.get_include()


def _build(checkout):
    blobs = {name: _source(checkout, name) for name in _SOURCES}
    key = hashlib.sha256(b"".join(blobs[n] for n in _SOURCES)).hexdigest()[:16]
    root = os.environ.get("REFSET_CHT_AUTHORS_BUILD",
                          os.path.join(os.path.expanduser("~"), ".cache", "refset",
                                       "cht_authors_kernel"))
    build = os.path.join(root, f"{key}-py{sys.version_info[0]}{sys.version_info[1]}")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = os.path.join(build, "CH_scores" + suffix)
    if not os.path.exists(target):
        os.makedirs(build, exist_ok=True)
        for name, blob in blobs.items():
            with open(os.path.join(build, name), "wb") as f:
                f.write(blob)
        cmd = [os.environ.get("CXX", "g++"), "-O3", "-shared", "-fPIC", "-std=c++11",
               "-fopenmp", "-I" + _pybind11_include(), "-I" + sysconfig.get_paths()["include"],
               "bindings.cpp", "CH_scores_new_v2.cpp", "-o", target + ".tmp"]
        r = subprocess.run(cmd, cwd=build, capture_output=True, text=True)
        if r.returncode != 0:
            raise ImportError("compiling the CHT authors' kernel failed:\n" + " ".join(cmd)
                              + "\n" + r.stderr[-3000:])
        os.replace(target + ".tmp", target)
    sys.path.insert(0, build)
    try:
        import CH_scores
    finally:
        sys.path.remove(build)
    return CH_scores


def _quiet_call(fn, *args):
    """The kernel prints two timing lines to std::cout; keep the oracle's output clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            return fn(*args)
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _make_ch3(kernel):
    def ch3_l3_scores(layer):
        """CH3-L3 score of every non-link of ``layer`` (rows, cols, values, shape); float64
        (n_in, n_out), 0 on links and where no length-3 path exists."""
        from scipy.sparse import csr_matrix

        n_in, n_out = (int(n) for n in layer.shape)
        rows = np.asarray(layer.rows, dtype=np.int64)
        cols = np.asarray(layer.cols, dtype=np.int64)
        X = np.zeros((n_in, n_out))
        X[rows, cols] = 1.0
        N = n_in + n_out
        A = csr_matrix((np.ones(2 * rows.size), (np.concatenate([rows, n_in + cols]),
                                                  np.concatenate([n_in + cols, rows]))),
                       shape=(N, N))
        A.sum_duplicates()
        A.sort_indices()
        S = np.array(_quiet_call(kernel.CH_scores_new_v2, A.indices.tolist(), A.indptr.tolist(),
                                 N, [3.0], 1, 3, [3.0], 1), dtype=np.float64)
        return S.reshape(N, N)[:n_in, n_in:] * (X == 0)

    return ch3_l3_scores


_CHECKOUT = os.environ.get("REFSET_CHT_AUTHORS")
if _CHECKOUT:
    ch3_l3_scores = _make_ch3(_build(os.path.abspath(os.path.expanduser(_CHECKOUT))))
else:
    print("cht_authors_ch3: REFSET_CHT_AUTHORS is not set (the path of a checkout of "
          "biomedical-cybernetics/Cannistraci-Hebb-training); no function defined, every case "
          "is n/a", file=sys.stderr)
