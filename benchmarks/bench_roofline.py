"""Section 5: measured memory bandwidth, and how close each kernel comes to it.

Bandwidth is a numpy triad ``a = b + s*c`` on float64 arrays, done in place as two passes
(``np.multiply(c, s, out=a); np.add(a, b, out=a)``), which move 5 × 8 bytes per element
(read c, write a, read a, read b, write a; write-allocate traffic not counted).  With N
threads the arrays are split in N contiguous parts handled by N Python threads (numpy
releases the GIL), each looping over its part.  Sizes: 4·10⁷ elements per array for DRAM,
10⁵ (2.4 MB in all) for cache, 10⁴ (240 kB) for the innermost caches.

Byte models of a kernel on a layer with nnz links, batch B, float size s, 8-byte indices:

- ``compulsory``: what must cross the memory bus at least once: the links
  (nnz·(s + 16): value, row, col; for the gradient the written value instead of the read
  one) and each activation matrix once (forward: read X, n_in·B·s, write out, n_out·B·s;
  backward the reverse; gradient: read X and D).  Compared with the DRAM bandwidth.
- ``per_link``: what the feature-major kernels stream through the caches: per link the
  value and two indices, plus for forward/backward one source B-vector read and one
  destination B-vector read and written (3·B·s), for the gradient two B-vectors read
  (2·B·s).  Compared with the cache (10⁵) bandwidth; at the sizes benchmarked the
  activations fit in cache (PERFORMANCE §2, lesson 5), so this is the roofline that binds.
"""
import threading
import time

import numpy as np

__all__ = ["measure_bandwidth", "roofline_records", "BYTES_MODEL"]

BYTES_MODEL = {
    "triad": "numpy a=b+s*c as two in-place passes: 5 x 8 bytes per float64 element",
    "compulsory": "links nnz*(s+16) + activations once: forward n_in*B*s + n_out*B*s, "
                  "backward n_out*B*s + n_in*B*s, gradient (n_in+n_out)*B*s; vs DRAM triad",
    "per_link": "links nnz*(s+16) + per link: forward/backward 3*B*s (source row read, "
                "destination row read+write), gradient 2*B*s (two rows read); vs cache triad",
}


def _triad_once(a, b, c, s, parts, loops):
    def work(sl):
        for _ in range(loops):
            np.multiply(c[sl], s, out=a[sl])
            np.add(a[sl], b[sl], out=a[sl])

    if len(parts) == 1:
        work(parts[0])
        return
    workers = [threading.Thread(target=work, args=(sl,)) for sl in parts]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def measure_bandwidth(n, threads, repeats, min_sample=0.02):
    """Median triad bandwidth in GB/s (10⁹ bytes/s) for arrays of ``n`` float64."""
    a = np.zeros(n)
    b = np.random.default_rng(0).random(n)
    c = np.random.default_rng(1).random(n)
    bounds = np.linspace(0, n, threads + 1).astype(int)
    parts = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    _triad_once(a, b, c, 3.0, parts, 1)                    # warm-up, page faults
    t0 = time.perf_counter()                               # calibrate on one thread, so
    _triad_once(a, b, c, 3.0, [slice(0, n)], 1)            # thread start-up is amortised
    single = (time.perf_counter() - t0) / threads
    loops = max(1, int(np.ceil(min_sample / max(single, 1e-9))))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _triad_once(a, b, c, 3.0, parts, loops)
        times.append((time.perf_counter() - t0) / loops)
    seconds = float(np.median(times))
    return {"kind": "bandwidth", "elements": int(n), "working_set_bytes": 3 * 8 * int(n),
            "threads": threads, "seconds_median": seconds, "repeats": repeats,
            "loops": loops, "gb_per_s": 5 * 8 * n / seconds / 1e9,
            "gb_per_s_stream_convention": 3 * 8 * n / seconds / 1e9}


def kernel_bytes(op, n_in, n_out, nnz, B, itemsize):
    """(compulsory, per_link) bytes of one kernel call (module docstring)."""
    links = nnz * (itemsize + 16)
    acts = (n_in + n_out) * B * itemsize
    per_vec = (2 if op == "gradient" else 3) * B * itemsize
    return links + acts, links + nnz * per_vec


def roofline_records(kernel_records, bandwidth, dram_label, cache_label, inner_label=None):
    """One record per timed refset kernel: achieved GB/s under both byte models."""
    bw = {(r["label"], r["threads"]): r["gb_per_s"] for r in bandwidth}
    out = []
    for r in kernel_records:
        if not r["impl"].startswith("cython"):
            continue
        itemsize = np.dtype(r["dtype"]).itemsize
        compulsory, per_link = kernel_bytes(r["op"], r["n_in"], r["n_out"], r["nnz"],
                                            r["batch"], itemsize)
        t = r["seconds_median"]
        dram = bw.get((dram_label, r["threads"]))
        cache = bw.get((cache_label, r["threads"]))
        inner = bw.get((inner_label, r["threads"]))
        out.append({
            "kind": "kernel", "op": r["op"], "impl": r["impl"], "threads": r["threads"],
            "n_in": r["n_in"], "n_out": r["n_out"], "nnz": r["nnz"], "batch": r["batch"],
            "dtype": r["dtype"], "seconds_median": t,
            "compulsory_bytes": compulsory, "per_link_bytes": per_link,
            "compulsory_gb_per_s": compulsory / t / 1e9,
            "per_link_gb_per_s": per_link / t / 1e9,
            "fraction_of_dram": compulsory / t / 1e9 / dram if dram else None,
            "fraction_of_cache": per_link / t / 1e9 / cache if cache else None,
            "fraction_of_inner_cache": per_link / t / 1e9 / inner if inner else None,
        })
    return out
