"""Section 1: the three COO kernels against scipy.sparse and dense masked numpy.

For one Erdős–Rényi layer ``W`` (n_in × n_out) and a batch of B samples, with activations
feature-major as in refset (``X`` is n_in × B, ``D`` is n_out × B):

- forward   ``out = Wᵀ X``  (n_out × B)
- backward  ``out = W D``   (n_in × B)
- gradient  ``g_k = Σ_b X[r_k, b] D[c_k, b]`` on the existing links (an SDDMM)

Implementations timed round-robin (see ``bench_common.median_times``):

- ``cython tN``: refset's compiled kernels with N threads, called as ``SparseMLP`` calls
  them.  Backward and gradient get the canonical (row-sorted) links.  Forward gets the
  links in ``refset.estimator.mlp.forward_order`` -- canonical on one thread below B = 128
  (``csr_forward``, PERFORMANCE §2.7), else by destination column, in cache tiles of input
  rows when the input is large, the weights read through the permutation (``coo_forward``
  with ``perm``, as the model does every batch).  ``cython t1 col`` is the one-thread
  forward on column-sorted links without tiles or gather (the kernel alone, PERFORMANCE
  §2's design); ``cython t1 row`` the one-thread forward on canonical links.
- ``numpy twin``: refset's normative numpy kernels (``np.add.at`` and gather + einsum).
- ``scipy csr`` / ``scipy csc``: the same product with scipy.sparse, the sparse operand
  (Wᵀ for forward, W for backward) stored in CSR or CSC and the dense operand in the
  row-major feature-major layout that both scipy kernels stream.  The better one is the
  scipy baseline.  scipy.sparse has no SDDMM, so for the gradient the baseline is the
  numpy twin (gather + einsum, PERFORMANCE §2's row for that operation).
- ``dense masked``: dense ``W`` times a 0/1 mask (into a preallocated buffer), then a BLAS
  matmul; gradient ``(X Dᵀ) * mask``.  Useful flops are counted as 2·nnz·B for all.
"""
import numpy as np

from bench_common import median_times
from refset.estimator.layout import forward_order, tiled_order
from refset.kernels.csr import csr_index

__all__ = ["run_kernels", "OPS"]

OPS = ("forward", "backward", "gradient")


def _layer(n_in, n_out, epsilon, dtype, seed):
    import refset

    return refset.erdos_renyi_layer(n_in, n_out, epsilon, np.random.default_rng(seed),
                                    dtype=np.dtype(dtype))


def _rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(a - b)) / scale)


def _candidates(op, W, X, D, threads, *, with_twin, with_baselines, dense, scipy_ops):
    """Callables (name -> fn) computing ``op`` and a function returning each result."""
    import refset

    rows, cols, vals = W.rows, W.cols, W.values
    n_in, n_out = W.shape
    B = X.shape[1]
    dt = vals.dtype
    perm = tiled_order(W, n_in)          # by (column, row): one tile; once, outside timing
    rows_c, cols_c, vals_c = rows[perm], cols[perm], vals[perm]

    def model_forward(t):
        """The forward product as SparseMLP computes it on t threads (its link order is
        computed once, outside the timing)."""
        order = forward_order(W, B, dt.itemsize, threads=t)
        out = np.empty((n_out, B), dt)
        if order is None:                   # canonical order: the row-compressed kernel
            indptr, indices = csr_index(rows, cols, n_in, n_out)
            return lambda: cy.csr_forward(X, indptr, indices, vals, out, t)
        p = order[1]
        r, c = rows[p], cols[p]
        return lambda: cy.coo_forward(X, r, c, vals, out, t, p)
    cands = {}
    try:
        cy = refset.get_kernels("cython")
    except ImportError:                    # no compiled extension: time the rest
        cy = None
    tw = refset.get_kernels("numpy")

    if op == "forward":
        shape = (n_out, B)
        if cy is not None:
            for t in threads:
                cands[f"cython t{t}"] = model_forward(t)
                if t == 1:
                    out_c, out_r = np.empty(shape, dt), np.empty(shape, dt)
                    cands["cython t1 col"] = (
                        lambda o=out_c: cy.coo_forward(X, rows_c, cols_c, vals_c, o, 1))
                    cands["cython t1 row"] = (
                        lambda o=out_r: cy.coo_forward(X, rows, cols, vals, o, 1))
        if with_twin:
            out = np.empty(shape, dt)
            cands["numpy twin"] = lambda o=out: tw.coo_forward(X, rows, cols, vals, o)
        if with_baselines:
            csr, csc = scipy_ops["WT_csr"], scipy_ops["WT_csc"]
            cands["scipy csr"] = lambda: csr @ X
            cands["scipy csc"] = lambda: csc @ X
            Wd, M, tmp = dense["W"], dense["M"], dense["tmp"]
            out = np.empty(shape, dt)

            def dense_fwd(o=out):
                np.multiply(Wd, M, out=tmp)
                return np.matmul(tmp.T, X, out=o)
            cands["dense masked"] = dense_fwd
    elif op == "backward":
        shape = (n_in, B)
        if cy is not None:
            for t in threads:
                out = np.empty(shape, dt)
                cands[f"cython t{t}"] = (
                    lambda o=out, t=t: cy.coo_backward(D, rows, cols, vals, o, t))
        if with_twin:
            out = np.empty(shape, dt)
            cands["numpy twin"] = lambda o=out: tw.coo_backward(D, rows, cols, vals, o)
        if with_baselines:
            csr, csc = scipy_ops["W_csr"], scipy_ops["W_csc"]
            cands["scipy csr"] = lambda: csr @ D
            cands["scipy csc"] = lambda: csc @ D
            Wd, M, tmp = dense["W"], dense["M"], dense["tmp"]
            out = np.empty(shape, dt)

            def dense_bwd(o=out):
                np.multiply(Wd, M, out=tmp)
                return np.matmul(tmp, D, out=o)
            cands["dense masked"] = dense_bwd
    else:
        if cy is not None:
            for t in threads:
                out = np.empty(vals.size, dt)
                cands[f"cython t{t}"] = lambda o=out, t=t: cy.coo_gradient(X, D, rows, cols, o, t)
        if with_twin or with_baselines:     # the twin doubles as the scipy-class baseline
            out = np.empty(vals.size, dt)
            cands["numpy twin"] = lambda o=out: tw.coo_gradient(X, D, rows, cols, o)
        if with_baselines:
            G, M = dense["tmp"], dense["M"]

            def dense_grad():
                np.matmul(X, D.T, out=G)
                return np.multiply(G, M, out=G)
            cands["dense masked"] = dense_grad

    def result(name, value):
        """Bring every result to one comparable shape (the values in canonical order)."""
        if op == "gradient" and name == "dense masked":
            return value[rows, cols]
        if hasattr(value, "toarray"):
            value = value.toarray()
        return np.asarray(value)

    return cands, result


def run_kernels(cfg, threads, log, *, cython_only=False):
    """Time every (layer, dtype, batch, op, implementation); one record each.

    Parameters
    ----------
    cfg : dict
        ``layers`` [(n_in, n_out)], ``batches``, ``dtypes``, ``epsilon``, ``repeats``,
        ``min_sample``, ``twin_max_batch`` (largest B at which the numpy twin is timed).
    threads : list of int
    log : callable
        Progress printer.
    cython_only : bool
        Only refset's compiled kernels (for the roofline section run on its own).
    """
    import scipy.sparse as sp

    records = []
    for n_in, n_out in cfg["layers"]:
        for dtype in cfg["dtypes"]:
            W = _layer(n_in, n_out, cfg["epsilon"], dtype, cfg["seed"])
            scipy_ops, dense = None, None
            if not cython_only:
                coo = sp.coo_matrix((W.values, (W.rows, W.cols)), shape=W.shape)
                scipy_ops = {"W_csr": coo.tocsr(), "W_csc": coo.tocsc(),
                             "WT_csr": coo.T.tocsr(), "WT_csc": coo.T.tocsc()}
                Wd = coo.toarray()
                dense = {"W": Wd, "M": (Wd != 0).astype(Wd.dtype), "tmp": np.empty_like(Wd)}
            rng = np.random.default_rng(cfg["seed"] + 1)
            for B in cfg["batches"]:
                X = rng.standard_normal((n_in, B)).astype(dtype)
                D = rng.standard_normal((n_out, B)).astype(dtype)
                for op in OPS:
                    with_twin = not cython_only and B <= cfg["twin_max_batch"]
                    cands, result = _candidates(op, W, X, D, threads, with_twin=with_twin,
                                                with_baselines=not cython_only, dense=dense,
                                                scipy_ops=scipy_ops)
                    if not cands:
                        continue
                    ref_name = next(iter(cands))
                    reference = result(ref_name, cands[ref_name]())
                    errors = {name: _rel_err(result(name, fn()), reference)
                              for name, fn in cands.items()}
                    stats = median_times(cands, cfg["repeats"], min_sample=cfg["min_sample"])
                    records += _records(op, W, B, dtype, stats, errors)
                    log(_progress_line(op, W, B, dtype, stats))
    return records


def _records(op, W, B, dtype, stats, errors):
    flops = 2.0 * W.nnz * B
    scipy_names = [n for n in ("scipy csr", "scipy csc") if n in stats]
    if scipy_names:
        scipy_best = min(scipy_names, key=lambda n: stats[n]["median"])
    elif op == "gradient" and "numpy twin" in stats and "dense masked" in stats:
        scipy_best = "numpy twin"          # scipy.sparse has no SDDMM (module docstring)
    else:
        scipy_best = None
    t_scipy = stats[scipy_best]["median"] if scipy_best else None
    t_dense = stats["dense masked"]["median"] if "dense masked" in stats else None
    out = []
    for name, s in stats.items():
        t = s["median"]
        threads = int(name.split()[1][1:]) if name.startswith("cython") else 1
        out.append({
            "op": op, "n_in": W.shape[0], "n_out": W.shape[1], "nnz": int(W.nnz),
            "batch": B, "dtype": dtype, "impl": name, "threads": threads,
            "seconds_median": t, "seconds_min": s["min"], "seconds_max": s["max"],
            "repeats": s["repeats"], "loops": s["loops"],
            "gflops": flops / t / 1e9,
            "scipy_baseline": scipy_best, "scipy_seconds": t_scipy, "dense_seconds": t_dense,
            "vs_scipy": t_scipy / t if t_scipy else None,
            "vs_dense": t_dense / t if t_dense else None,
            "max_rel_diff_vs_first": errors[name],
        })
    return out


def _progress_line(op, W, B, dtype, stats):
    parts = ", ".join(f"{n} {s['median'] * 1e3:.3g} ms" for n, s in stats.items())
    return f"  kernels {W.shape[0]}x{W.shape[1]} B={B} {dtype} {op}: {parts}"
