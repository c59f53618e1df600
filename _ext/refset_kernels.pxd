"""Declarations shared by refset's compiled kernels: the C helpers of refset_kernels.h and the
small fused-type wrappers around them (cimported by _coo.pyx and _csr.pyx)."""
from libc.stdint cimport int32_t, int64_t

ctypedef fused floating:
    float
    double

cdef extern from "refset_kernels.h":
    void refset_sgd_f(float* w, float* v, float g, float lr, float mu, float lam,
                      int coupled) noexcept nogil
    void refset_sgd_d(double* w, double* v, double g, double lr, double mu, double lam,
                      int coupled) noexcept nogil
    float refset_dot_f(const float* x, const float* d, Py_ssize_t n) noexcept nogil
    double refset_dot_d(const double* x, const double* d, Py_ssize_t n) noexcept nogil
    Py_ssize_t refset_pf_len(Py_ssize_t n_rows, Py_ssize_t B, Py_ssize_t elem) noexcept nogil
    void refset_prefetch(const void* base, const int64_t* idx, Py_ssize_t k, Py_ssize_t k1,
                         Py_ssize_t row_bytes, int write) noexcept nogil
    void refset_prefetch32(const void* base, const int32_t* idx, Py_ssize_t k, Py_ssize_t k1,
                           Py_ssize_t row_bytes, int write) noexcept nogil
    void refset_prefetch_run(const void* base, const int32_t* idx, Py_ssize_t k, Py_ssize_t k1,
                             int32_t c1, Py_ssize_t row_bytes, int write) noexcept nogil


cdef inline floating _dot(const floating* x, const floating* d, Py_ssize_t n) noexcept nogil:
    """The dot product of refset_kernels.h (sixteen partial sums in a fixed order)."""
    if floating is float:
        return refset_dot_f(x, d, n)
    else:
        return refset_dot_d(x, d, n)


cdef inline void _sgd(floating* w, floating* v, floating g, floating lr, floating mu,
                      floating lam, bint coupled) noexcept nogil:
    """SGD with momentum on one weight (refset_kernels.h: REFSET_SGD)."""
    if floating is float:
        refset_sgd_f(w, v, g, lr, mu, lam, coupled)
    else:
        refset_sgd_d(w, v, g, lr, mu, lam, coupled)
