"""What the batch-size-2 training pass spends its time on: the CSR kernels, one variable at a time.

The COIL20 reference configuration (3 x 3000, ε = 20, B = 2, float64) is the training pass
closest to its target (≤ 0.35 s an epoch, PERFORMANCE §5; a busy machine can push it past).
This script times the two kernels that training
calls, ``csr_forward`` and ``csr_backward_update`` (compiled, one thread), on synthetic layers
shaped like COIL20's, changing one thing at a time:

1. **row lengths and the active rows**: 3000 rows of exactly 40 links against Poisson(40)
   lengths, with 30 % of the rows silenced (as a ReLU leaves a hidden layer at B = 2), the same
   rows in every call or other rows in each call (16 activation sets in turn), as in training,
   where each batch silences other rows: with varying lengths and varying active rows the
   branch at each row's end cannot be learned, with either fixed it can;
2. **outputs in L1 or not**: the forward pass's scatter into 500 .. 20,000 output rows
   (7 KB .. 312 KB at B = 2, float64; a core's L1 holds 32 KB);
3. **what a link costs in the fused step**: rows of 16, 40 and 160 links, with activations
   (propagation, gradient and SGD step) and all zero (the SGD step alone, which only streams
   the weights and velocities);
4. **the full narrow layer paths**: COIL20's 3000 x 20 output layer is full, and both kernels
   keep its sums or deltas in registers; the same work on 3000 x 21 with 20 links a row takes
   the general path;
5. **Python between the kernels**: epochs of COIL20's shape (960 synthetic samples of 1024
   features, 20 classes, 3 x 3000, the reference settings) with the two sparse kernels and
   with both replaced by stubs that only zero their outputs; what the stubbed epoch takes is
   the Python and the small row kernels (bias, ReLU, bias gradient) around them;
6. **where the epoch goes**: the same epochs with every kernel call timed, by kernel and
   layer.

Every row has activations unless the case says otherwise; times are medians of interleaved
samples (``bench_common.median_times``), in ns per link (and µs per call).

    python benchmarks/bench_b2.py [--repeats 9]
"""
import argparse
import collections
import itertools
import sys
import time

import numpy as np

from bench_common import cpu_summary, fmt, format_table, machine_description, median_times

N_ROWS = 3000


def layer(rng, n_cols, lengths):
    """A CSR layer of ``N_ROWS`` rows with the given row lengths (sorted distinct columns)."""
    from refset.kernels.csr import csr_index

    rows = np.repeat(np.arange(N_ROWS), lengths)
    cols = np.concatenate([np.sort(rng.choice(n_cols, n, replace=False)) for n in lengths])
    indptr, indices = csr_index(rows, cols, N_ROWS, n_cols)
    return indptr, indices, rng.standard_normal(rows.size) * 0.1, n_cols


def activations(rng, zero=False):
    """(N_ROWS, 2) activations: all positive (every row active), or all zero."""
    X = np.zeros((N_ROWS, 2)) if zero else np.abs(rng.standard_normal((N_ROWS, 2))) + 0.1
    return np.ascontiguousarray(X)


def relu_sets(rng, n_sets):
    """``n_sets`` (N_ROWS, 2) activation sets, each with 30 % of its rows all zero."""
    sets = []
    for _ in range(n_sets):
        X = activations(rng)
        X[rng.random(N_ROWS) < 0.3] = 0
        sets.append(X)
    return sets


def calls(k, L, X, rng):
    """Zero-argument calls of the two kernels on layer ``L`` with activations ``X``, or, when
    ``X`` is a list, with each of its activation sets in turn, one a call."""
    indptr, indices, values, n_cols = L
    w, v = values.copy(), np.zeros_like(values)
    D = rng.standard_normal((n_cols, 2)) * 1e-3
    out_f, out_b = np.empty((n_cols, 2)), np.empty((N_ROWS, 2))
    turn = itertools.cycle(X if isinstance(X, list) else [X])
    return (lambda: k.csr_forward(next(turn), indptr, indices, w, out_f, 1),
            lambda: k.csr_backward_update(next(turn), D, indptr, indices, w, v, out_b, 0.01,
                                          0.9, 2e-4, False, 1))


class _Stubs:
    """The compiled kernels with csr_forward and csr_backward_update replaced by stubs that
    zero their outputs (training then runs every other step as usual)."""

    def __init__(self, kernels):
        self._kernels = kernels

    def __getattr__(self, name):
        return getattr(self._kernels, name)

    @staticmethod
    def csr_forward(X, indptr, indices, values, out, threads=1):
        out.fill(0)
        return out

    @staticmethod
    def csr_backward_update(X, D, indptr, indices, values, velocity, out, *args, X_next=None,
                            out_next=None):
        for a in (out, out_next):
            if a is not None:
                a.fill(0)
        return out


class _Timed:
    """The compiled kernels, each call timed and added to ``totals`` under the kernel's name
    and its layer's shape (the rows of its first two 2-D arguments, else its first array's
    size)."""

    def __init__(self, kernels, totals):
        self._kernels, self._totals = kernels, totals

    def __getattr__(self, name):
        fn = getattr(self._kernels, name)
        if not callable(fn):
            return fn

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            result = fn(*args, **kwargs)
            elapsed = time.perf_counter() - t0
            arrays = [a for a in args if isinstance(a, np.ndarray)]
            two_d = [str(a.shape[0]) for a in arrays if a.ndim == 2][:2]
            shape = " x ".join(two_d) if two_d else str(arrays[0].size) if arrays else ""
            self._totals[f"{name} {shape}"].append(elapsed)
            return result
        return timed


def python_share(repeats):
    """Tables 5 and 6: seconds of training per epoch with the real kernels and with stubs,
    interleaved; and, in a third fit of each round, every kernel call timed."""
    import warnings

    import refset

    X, y = refset.make_synthetic(n_samples=960, n_features=1024, n_classes=20, seed=0)
    times = {"sparse kernels": [], "stubs": [], "timed": []}
    totals = collections.defaultdict(list)
    rounds = max(1, repeats // 3)
    for _ in range(rounds):
        for name in times:
            model = refset.SparseMLP((3000, 3000, 3000), epsilon=20, zeta=0.3, epochs=3,
                                     batch_size=2, learning_rate=0.01, momentum=0.9,
                                     weight_decay=2e-4, weight_decay_style="original",
                                     loss="mse", dtype="float64", backend="cython", seed=0)
            # a private hook: the estimator asks it for its kernels
            if name == "stubs":
                kernels = _Stubs(model._kernels())
                model._kernels = lambda: kernels
            callback = None
            if name == "timed":
                epoch_calls = collections.defaultdict(list)
                timed = _Timed(model._kernels(), epoch_calls)
                model._kernels = lambda: timed

                def callback(model, record):
                    # each epoch's calls (none evaluate: no validation data); epoch 1 warms up
                    if record["epoch"] > 1:
                        for key, seconds in epoch_calls.items():
                            totals[key].append(sum(seconds))
                    epoch_calls.clear()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="epsilon=.*makes the")
                model.fit(X, y, callback=callback)
            times[name] += [h["seconds_train"] for h in model.history_[1:]]
    table5 = format_table(
        "5. Python between the kernels: a COIL20-shaped epoch (B = 2, float64)",
        ["kernels", "train s/epoch", "min", "max"],
        [[n, fmt(float(np.median(t))), fmt(min(t)), fmt(max(t))]
         for n, t in times.items() if n != "timed"],
        notes=["stubs: csr_forward and csr_backward_update only zero their outputs; the rest "
               "(Python, numpy, the row kernels) runs as in training", "epochs 2 and 3 of "
               f"{rounds} interleaved fits each"])
    shares = sorted(((float(np.median(v)), k) for k, v in totals.items()), reverse=True)
    table6 = format_table(
        "6. where the epoch goes: every kernel call timed (the same epochs, a third fit)",
        ["kernel, layer (rows x columns)", "ms/epoch"],
        [[k, fmt(t * 1e3)] for t, k in shares]
        + [["all kernels (the sum of the rows)", fmt(sum(t for t, _ in shares) * 1e3)],
           ["the whole training pass", fmt(float(np.median(times["timed"])) * 1e3)]],
        notes=["the sum of each epoch's calls, median over epochs 2 and 3 of the fits; the "
               "topology update between epochs calls none of these kernels",
               "each call's figure holds about 0.1 us of the timer itself; its bookkeeping "
               "adds about 1.7 us a call to the whole training pass (about 15 ms an epoch)"])
    return table5 + "\n" + table6


def row_lengths(k, rng, repeats):
    """Table 1: both kernels on fixed and Poisson row lengths, the same active rows in every
    call or others in each; ns per link of the active rows (the SGD step of the silenced rows
    is in the backward figures too)."""
    sets = relu_sets(rng, 16)
    fns, links = {}, {}
    for kind, lengths in (("fixed 40", np.full(N_ROWS, 40)),
                          ("Poisson(40)", np.maximum(rng.poisson(40, N_ROWS), 1))):
        L = layer(rng, 3000, lengths)
        for same in (True, False):
            name = f"{kind}, {'the same' if same else 'other'} active rows"
            used = sets[:1] if same else sets
            fns[name, 0], fns[name, 1] = calls(k, L, used, rng)
            links[name] = float(np.mean([lengths[(X != 0).any(axis=1)].sum() for X in used]))
    times = median_times(fns, repeats, min_sample=0.05)
    rows = [[name, fmt(times[name, 0]["median"] * 1e9 / links[name]),
             fmt(times[name, 1]["median"] * 1e9 / links[name])] for name in links]
    return format_table(
        "1. 3000 x 3000, 30 % of the rows silenced: row lengths and which rows are active",
        ["rows", "forward ns/link", "backward ns/link"], rows,
        notes=["per link of the active rows; other active rows: 16 activation sets in turn, "
               "so the row lengths the kernels meet change from call to call, as in training"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="samples per case")
    args = parser.parse_args(argv)
    from refset import get_kernels
    from refset.kernels import backend

    if not backend.compiled_available():
        print("bench_b2: the compiled kernels are not built", file=sys.stderr)
        return 1
    k = get_kernels("cython")
    machine = machine_description()
    print(f"{cpu_summary(machine['cpu'], machine['cores'])}; load average "
          f"{machine['load_average_start'][0]:.1f}; numpy {machine['numpy']}")
    rng = np.random.default_rng(0)
    Xa = activations(rng)

    def timed(cases, which):
        """{name: (ns per link, µs per call)} of kernel ``which`` (0 forward, 1 backward)."""
        fns = {name: calls(k, L, X, rng)[which] for name, (L, X) in cases.items()}
        times = median_times(fns, args.repeats, min_sample=0.05)
        return {name: (times[name]["median"] * 1e9 / cases[name][0][1].size,
                       times[name]["median"] * 1e6) for name in cases}

    tables = [row_lengths(k, rng, args.repeats)]

    cases = {f"{c} outputs, {c * 16 // 1024} KB": (layer(rng, c, np.full(N_ROWS, 40)), Xa)
             for c in (500, 1000, 2000, 3000, 6000, 20000)}
    res = timed(cases, 0)
    tables.append(format_table(
        "2. forward, 3000 rows of 40 links: the outputs' size", ["outputs", "ns/link", "us/call"],
        [[n, fmt(a), fmt(b)] for n, (a, b) in res.items()]))

    rows = []
    for n in (16, 40, 160):
        L = layer(rng, 3000, np.full(N_ROWS, n))
        res = timed({"active": (L, Xa), "zero": (L, activations(rng, zero=True))}, 1)
        rows.append([f"{n} links a row", fmt(res["active"][0]), fmt(res["zero"][0]),
                     fmt(res["active"][0] * n), fmt(res["zero"][0] * n)])
    tables.append(format_table(
        "3. fused backward step, 3000 x 3000: rows with activations and rows without",
        ["rows", "active ns/link", "zero ns/link", "active ns/row", "zero ns/row"], rows,
        notes=["zero: the SGD step alone (the gradients are 0), which streams the weights and "
               "velocities and reads no delta"]))

    cases = {"3000 x 20, full": (layer(rng, 20, np.full(N_ROWS, 20)), Xa),
             "3000 x 21, 20 links a row": (layer(rng, 21, np.full(N_ROWS, 20)), Xa)}
    fwd, bwd = timed(cases, 0), timed(cases, 1)
    tables.append(format_table(
        "4. the full narrow layer paths (sums or deltas in registers) against the general one",
        ["layer", "forward ns/link", "forward us/call", "backward ns/link", "backward us/call"],
        [[n, fmt(fwd[n][0]), fmt(fwd[n][1]), fmt(bwd[n][0]), fmt(bwd[n][1])] for n in cases]))
    tables.append(python_share(args.repeats))
    print("\n".join(tables))
    print(f"\none thread, float64, B = 2; tables 1-4: medians of {args.repeats} interleaved "
          "samples per table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
