r"""The original SET code's removal as an oracle adapter (``set_prune`` only).

Checks refset's ``prune="original"`` (ALGORITHMS §7, :mod:`refset.fidelity` quirk
``prune_thresholds``) against the published code it reproduces: ``weightsEvolution_Amar`` of
``SET-MLP-Sparse-Python-Data-Structures/set_mlp_sparse_data_structures.py`` in
dcmocanu/sparse-evolutionary-artificial-neural-networks, loaded from a checkout you provide::

    git clone https://github.com/dcmocanu/sparse-evolutionary-artificial-neural-networks ~/src/set
    REFSET_SET_ORIGINAL=~/src/set refset oracle check --adapter examples/oracle/set_original.py

Nothing of the original code is shipped with refset.  The module is copied from the checkout
(working tree, else the last git commit that has it) into a temporary directory, patched there
for today's numpy (``np.in1d`` -> ``np.isin(...).ravel()``; the scipy fix of ``_back_prop`` is
applied too, although removal does not reach it) and imported from there.  Its Cython module
``sparseoperations`` is not built: removal never calls it, so a placeholder that raises if
called stands in for it (no compiler needed).

Without ``REFSET_SET_ORIGINAL`` the adapter defines no contract function, so every case is
``n/a`` and the check passes vacuously, with a one-line notice on stderr.

How the removal is called
-------------------------
``set_prune(values, zeta, rule, with_zero)`` places link ``k`` at cell ``(k, 0)`` of an
``(n, 10)`` CSR matrix (explicit zeros stay in ``.data``, as the original would see them;
positions do not matter to its removal, which looks only at the values), gives the momentum
matrix the markers 1..n on the same cells, and runs the original's ``weightsEvolution_Amar``
on a minimal object holding that layer and ``zeta``.  The original filters the momentum matrix
to the links it keeps, so the removed indices are the cells whose marker is gone.  Its
regrowth runs too (10 columns leave room for its rejection sampling) and is discarded; numpy's
global random state is restored afterwards.

The original has one removal rule, so ``rule`` and ``with_zero`` are ignored: the adapter
always answers with the original's thresholds.  Expected results: ``L1-set-prune-original``
and ``L1-set-prune-original-ties`` pass; ``L1-set-prune-sign`` (the papers' rule) fails, as
it must; ``L1-cht-prune-original`` (the CHT authors' variant, thresholds computed with one
extra 0) is not the SET code's rule.  Listing the last two as expected failures::

    REFSET_SET_ORIGINAL=~/src/set refset oracle check --adapter examples/oracle/set_original.py \
        --case prune --expected-failures XFAIL_FILE     # L1-set-prune-sign, L1-cht-prune-original
"""
import atexit
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

import numpy as np

NAME = "original SET code (weightsEvolution_Amar)"
_FOLDER = "SET-MLP-Sparse-Python-Data-Structures"
_MODULE = "set_mlp_sparse_data_structures"


def _source(checkout):
    for folder in (os.path.join(checkout, _FOLDER), checkout):
        path = os.path.join(folder, _MODULE + ".py")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    name = f"{_FOLDER}/{_MODULE}.py"
    rev = subprocess.run(["git", "-C", checkout, "log", "--all", "-n", "1", "--format=%H", "--",
                          name], capture_output=True, text=True).stdout.strip()
    if rev:
        r = subprocess.run(["git", "-C", checkout, "show", f"{rev}:{name}"], capture_output=True,
                           text=True)
        if r.returncode == 0:
            return r.stdout
    raise ImportError(f"REFSET_SET_ORIGINAL={checkout}: {name} not found (neither in the working "
                      "tree nor in its git history); is it a checkout of "
                      "dcmocanu/sparse-evolutionary-artificial-neural-networks?")


def _patch(source):
    """np.in1d -> np.isin(...).ravel() (one line); coo_matrix(W) -> coo_matrix(W, copy=True)."""
    lines = source.split("\n")
    n_isin = n_copy = 0
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*return\s+)np\.in1d\((.*)\)(\s*(#.*)?)$", line)
        if m:
            lines[i] = f"{m.group(1)}np.isin({m.group(2)}).ravel(){m.group(3)}"
            n_isin += 1
        lines[i], n = re.subn(r"coo_matrix\((self\.w\[[^\]]+\])\)", r"coo_matrix(\1, copy=True)",
                              lines[i])
        n_copy += n
    if n_isin != 1:
        raise ImportError(f"set_original adapter: expected one np.in1d line to patch, found "
                          f"{n_isin}; is this the expected version of the original code?")
    return "\n".join(lines)


def _load(checkout):
    work = tempfile.mkdtemp(prefix="refset_set_original_")
    atexit.register(shutil.rmtree, work, True)
    path = os.path.join(work, _MODULE + ".py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(_patch(_source(checkout)))
    placeholder = types.ModuleType("sparseoperations")

    def _not_built(*args, **kwargs):
        raise RuntimeError("the set_original adapter does not build sparseoperations.pyx; "
                           "only the removal is available")

    placeholder.backpropagation_updates_Cython = _not_built
    saved = sys.modules.get("sparseoperations")
    sys.modules["sparseoperations"] = placeholder
    try:
        spec = importlib.util.spec_from_file_location("_refset_set_original", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("sparseoperations", None)
        else:
            sys.modules["sparseoperations"] = saved
    return module


class _Layer:
    """The attributes the original's ``weightsEvolution_Amar`` reads, for one layer."""

    def __init__(self, W, zeta):
        from scipy.sparse import csr_matrix
        self.n_layers = 2
        self.zeta = zeta
        self.dimensions = W.shape
        self.w = {1: W}
        self.pdw = {1: csr_matrix((np.arange(1.0, W.nnz + 1), W.indices.copy(),
                                   W.indptr.copy()), shape=W.shape)}


def _make_set_prune(module):
    def set_prune(values, zeta, rule="sign", with_zero=False):
        """Indices of the values the original code removes (its one rule; ``rule`` and
        ``with_zero`` are ignored), sorted int64."""
        from scipy.sparse import csr_matrix
        values = np.asarray(values, dtype=np.float64)
        n = values.size
        if n == 0:
            return np.empty(0, dtype=np.int64)
        W = csr_matrix((values.copy(), np.zeros(n, dtype=np.int32),
                        np.arange(n + 1, dtype=np.int32)), shape=(n, 10))
        layer = _Layer(W, float(zeta))
        state = np.random.get_state()
        try:
            module.SET_MLP.weightsEvolution_Amar(layer)
        finally:
            np.random.set_state(state)
        kept = layer.pdw[1].tocoo()
        keep = np.zeros(n, dtype=bool)
        keep[kept.row[kept.col == 0]] = True
        return np.flatnonzero(~keep).astype(np.int64)

    return set_prune


_CHECKOUT = os.environ.get("REFSET_SET_ORIGINAL")
if _CHECKOUT:
    set_prune = _make_set_prune(_load(os.path.abspath(os.path.expanduser(_CHECKOUT))))
else:
    print("set_original: REFSET_SET_ORIGINAL is not set (the path of a checkout of "
          "dcmocanu/sparse-evolutionary-artificial-neural-networks); no function defined, every "
          "case is n/a", file=sys.stderr)
