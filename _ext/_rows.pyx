"""Compiled row kernels: the bias, the ReLU and the bias gradient (fast path of ``refset.kernels.rows``).

Every function here has a numpy twin of the same name and signature in
``refset/kernels/rows.py``; the twin is the specification and the tests compare the two bit
for bit.  Each kernel is one pass over a feature-major ``(n, B)`` array.
"""
from refset_kernels cimport floating


cdef extern from "refset_kernels.h":
    float refset_fold16_f(const float* l) noexcept nogil
    double refset_fold16_d(const double* l) noexcept nogil
    float refset_relu_f(float z) noexcept nogil
    double refset_relu_d(double z) noexcept nogil


cdef inline floating _relu(floating z) noexcept nogil:
    """z, or +0 when z < 0, without a branch (refset_kernels.h)."""
    if floating is float:
        return refset_relu_f(z)
    else:
        return refset_relu_d(z)


def add_bias(floating[:, ::1] Z, const floating[::1] b, bint relu):
    """``Z += b[:, None]``, then the ReLU when ``relu`` (entries < 0 become +0), in place.

    At B = 2 the row loop is written out: with a loop over two elements per row, the call
    took 3-4 ns a row whether or not the ReLU was on (3000 x 2 float64: 10-11 µs)."""
    cdef Py_ssize_t n = Z.shape[0], B = Z.shape[1], j, k
    cdef floating bj, z
    cdef floating* row
    if b.shape[0] != n:
        raise ValueError(f"add_bias: b must have shape ({n},), got ({b.shape[0]},)")
    if n == 0 or B == 0:
        return Z.base
    with nogil:
        if B == 2:                 # the SET configurations' batch, without an inner loop
            row = &Z[0, 0]
            for j in range(n):
                bj = b[j]
                if relu:
                    row[2 * j] = _relu(row[2 * j] + bj)
                    row[2 * j + 1] = _relu(row[2 * j + 1] + bj)
                else:
                    row[2 * j] = row[2 * j] + bj
                    row[2 * j + 1] = row[2 * j + 1] + bj
        else:
            for j in range(n):
                bj = b[j]
                row = &Z[j, 0]
                if relu:           # gcc vectorises this select (a blend, no branch)
                    for k in range(B):
                        z = row[k] + bj
                        row[k] = 0 if z < 0 else z
                else:
                    for k in range(B):
                        row[k] = row[k] + bj
    return Z.base


def row_sums(const floating[:, ::1] D, floating[::1] out):
    """The sum of each row of ``D`` (the twin's order: sixteen lanes from B = 16 on).

    At B = 2, one addition per row without an inner loop (3000 x 2 float64: 10.9 -> 2.7 µs
    a call, with the call's own overhead)."""
    cdef Py_ssize_t n = D.shape[0], B = D.shape[1], whole = B - B % 16, j, c, k
    cdef floating lanes[16]
    cdef floating s
    cdef const floating* row
    if out.shape[0] != n:
        raise ValueError(f"row_sums: out must have shape ({n},), got ({out.shape[0]},)")
    if n == 0:
        return out.base
    if B == 0:
        out[:] = 0
        return out.base
    with nogil:
        if B == 2:                 # the SET configurations' batch: one addition a row
            row = &D[0, 0]
            for j in range(n):
                out[j] = row[2 * j] + row[2 * j + 1]
        else:
            for j in range(n):
                row = &D[j, 0]
                if B < 16:
                    s = row[0]
                    for k in range(1, B):
                        s = s + row[k]
                else:
                    for k in range(16):
                        lanes[k] = row[k]
                    for c in range(16, whole, 16):
                        for k in range(16):
                            lanes[k] = lanes[k] + row[c + k]
                    if floating is float:
                        s = refset_fold16_f(lanes)
                    else:
                        s = refset_fold16_d(lanes)
                    for k in range(whole, B):
                        s = s + row[k]
                out[j] = s
    return out.base
