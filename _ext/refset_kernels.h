/* C helpers shared by refset's compiled kernels (_coo.pyx, _csr.pyx).
 *
 * Everything here fixes the order of its floating-point operations in the source, so a
 * build with or without vector instructions (-march=native, a portable build, AVX or not)
 * gives bit-identical results; every build also compiles with -ffp-contract=off (setup.py),
 * so no multiply and add are fused behind our back.
 */
#ifndef REFSET_KERNELS_H
#define REFSET_KERNELS_H

#include <stdint.h>
#include <string.h>
#include <Python.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif

/* The end of the sixteen-lane sums below: l[j] + l[j + 8] for j < 8, then
   ((h0 + h4) + (h1 + h5)) + ((h2 + h6) + (h3 + h7)).  In float with AVX-512 the same
   additions are done on halves of one vector: gcc's own code for the tree took about twice
   the instructions, and at B = 128 it was the longest part of a link's dependency chain
   (fused update of 1000 x 1000, float32: 599 -> 521 us).  Same operations, same bits. */
static inline float refset_fold16_f(const float* l) {
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    __m512 v = _mm512_loadu_ps(l);
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    __m128 t = _mm_add_ps(a, _mm_movehdup_ps(a));     /* a0 + a1 in lane 0, a2 + a3 in 2 */
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehl_ps(t, t)));
#else
    return (((l[0] + l[8]) + (l[4] + l[12])) + ((l[1] + l[9]) + (l[5] + l[13])))
         + (((l[2] + l[10]) + (l[6] + l[14])) + ((l[3] + l[11]) + (l[7] + l[15])));
#endif
}
static inline double refset_fold16_d(const double* l) {
    return (((l[0] + l[8]) + (l[4] + l[12])) + ((l[1] + l[9]) + (l[5] + l[13])))
         + (((l[2] + l[10]) + (l[6] + l[14])) + ((l[3] + l[11]) + (l[7] + l[15])));
}

/* The ReLU of add_bias at B = 2 without a branch: z, or +0 when z < 0 (so -0 and NaN stay
   as they are), the comparison turned into a mask on z's bits.  A scalar select compiles
   to a branch, which the signs of a batch's pre-activations (about half negative, at
   random) mispredict every other time; longer rows are vectorised with blends instead.
   3000 x 2 float64 with the row loop written out for B = 2: 10.2 -> 1.8-2.7 us a call. */
static inline double refset_relu_d(double z) {
    uint64_t u;
    memcpy(&u, &z, sizeof u);
    u &= (uint64_t) 0 - (uint64_t) !(z < 0);
    memcpy(&z, &u, sizeof z);
    return z;
}
static inline float refset_relu_f(float z) {
    uint32_t u;
    memcpy(&u, &z, sizeof u);
    u &= (uint32_t) 0 - (uint32_t) !(z < 0);
    memcpy(&z, &u, sizeof z);
    return z;
}

/* Dot product with sixteen independent partial sums, so that the compiler can vectorise
   the reduction without -ffast-math; the summation order is fixed (deterministic).  The
   tail (n mod 16 products) is added after the tree: adding it into a lane first made
   gcc keep all sixteen lanes apart, ~100 instructions per call, which at B = 32 on a
   million-neuron layer left the loads of rows no room to overlap (gradient 894 ms). */
#define REFSET_DOT(NAME, T, FOLD)                                             \
static inline T NAME(const T* x, const T* d, Py_ssize_t n) {                 \
    Py_ssize_t b = 0, j;                                                      \
    T s = 0;                                                                  \
    if (n < 16) {              /* small batches: the plain loop is cheapest */ \
        for (; b < n; b++) s += x[b] * d[b];                                  \
        return s;                                                             \
    }                                                                         \
    T acc[16] = {0};                                                          \
    for (; b + 16 <= n; b += 16)                                              \
        for (j = 0; j < 16; j++) acc[j] += x[b + j] * d[b + j];               \
    s = FOLD(acc);                                                            \
    for (; b < n; b++) s += x[b] * d[b];                                      \
    return s;                                                                 \
}
REFSET_DOT(refset_dot_f, float, refset_fold16_f)
REFSET_DOT(refset_dot_d, double, refset_fold16_d)

/* Software prefetch.  Links visit rows in an order the hardware prefetcher cannot guess;
   when a randomly visited (., B) array is larger than about half a core's L2 (float64
   3312 x 128 is 3.4 MB; a million-neuron layer's activations are 42 MB at B = 32) each
   row's latency shows, and asking for the row of the link REFSET_PF_DIST ahead hides it.
   Measured: 3312 x 3000, B = 128, 10-20 % on every kernel (fused update 7.0 -> 6.0 ms
   float64); 333,334 x 333,334 at B = 32, float32, fused update 833 -> 492 ms and
   gradient 552 -> 346 ms (distance 8; 4 gained less there).  Only the randomly visited
   side is prefetched (rows visited in order are the hardware's job); smaller arrays are
   left alone (measured slower at 1000 x 1000). */
#ifndef REFSET_PF_DIST
#define REFSET_PF_DIST 8
#endif
/* The widest layer the full-layer paths at B = 2 take (refset_bu2_full_rows_d, refset_fwd2_full). */
#define REFSET_FULL2_MAX 32

#define REFSET_PF_MIN_ROW_BYTES 64
#define REFSET_PF_MIN_ARRAY_BYTES (1 << 20)

/* The row length to prefetch for an array of n_rows x B elements of elem bytes: B, or 0
   (off). */
static inline Py_ssize_t refset_pf_len(Py_ssize_t n_rows, Py_ssize_t B, Py_ssize_t elem) {
    return (B * elem >= REFSET_PF_MIN_ROW_BYTES
            && n_rows * B * elem > REFSET_PF_MIN_ARRAY_BYTES) ? B : 0;
}

/* Prefetch row idx[k + REFSET_PF_DIST] (row_bytes long) of the array at base, if that link
   exists (k1: end of the links).  always_inline: GCC deletes calls to a function whose only
   effect is a prefetch.  One version per index type (int64 COO, int32 CSR). */
#define REFSET_PREFETCH(NAME, I)                                              \
static inline __attribute__((always_inline)) void NAME(                       \
        const void* base, const I* idx, Py_ssize_t k, Py_ssize_t k1,          \
        Py_ssize_t row_bytes, int write) {                                    \
    const char* c;                                                            \
    Py_ssize_t i;                                                             \
    if (row_bytes == 0 || k + REFSET_PF_DIST >= k1) return;                   \
    c = (const char*) base + (Py_ssize_t) idx[k + REFSET_PF_DIST] * row_bytes; \
    if (write)                                                                \
        for (i = 0; i < row_bytes; i += 64) __builtin_prefetch(c + i, 1, 3);  \
    else                                                                      \
        for (i = 0; i < row_bytes; i += 64) __builtin_prefetch(c + i, 0, 3);  \
}
REFSET_PREFETCH(refset_prefetch, int64_t)
REFSET_PREFETCH(refset_prefetch32, int32_t)

/* Prefetch the rows (row_bytes long) of the links k, k+1, ... of a column tile: at most
   REFSET_PF_RUN of them, before k1 and with columns below c1.  The column-tiled forward
   pass of _csr.pyx calls it for the next row's run while it works on a row: a tile's runs
   are short (a few links), and the link-ahead prefetch above would reach into other tiles. */
#ifndef REFSET_PF_RUN
#define REFSET_PF_RUN 16
#endif
static inline __attribute__((always_inline)) void refset_prefetch_run(
        const void* base, const int32_t* idx, Py_ssize_t k, Py_ssize_t k1, int32_t c1,
        Py_ssize_t row_bytes, int write) {
    Py_ssize_t e = k + REFSET_PF_RUN < k1 ? k + REFSET_PF_RUN : k1, i;
    for (; k < e && idx[k] < c1; k++) {
        const char* c = (const char*) base + (Py_ssize_t) idx[k] * row_bytes;
        if (write)
            for (i = 0; i < row_bytes; i += 64) __builtin_prefetch(c + i, 1, 3);
        else
            for (i = 0; i < row_bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
    }
}

/* ---- SGD with momentum and weight decay on one link, as refset.kernels.coo.sgd_update -----
 *     original (the SET code): v = mu v - lr g;             w = w + (v - lam w)
 *     coupled:                 v = mu v - lr (g + lam w);   w = w + v
 * Every kernel takes its steps through this one definition. */
#define REFSET_SGD(NAME, T)                                                               \
static inline void NAME(T* w, T* v, T g, T lr, T mu, T lam, int coupled) {                \
    T w0 = *w, vk;                                                                        \
    if (coupled) {                                                                        \
        vk = mu * *v - lr * (g + lam * w0);                                               \
        *v = vk;                                                                          \
        *w = w0 + vk;                                                                     \
    } else {                                                                              \
        vk = mu * *v - lr * g;                                                            \
        *v = vk;                                                                          \
        *w = w0 + (vk - lam * w0);                                                        \
    }                                                                                     \
}
REFSET_SGD(refset_sgd_f, float)
REFSET_SGD(refset_sgd_d, double)

/* ---- The SGD step of a row whose input activations are all zero ----------------------
 * Every gradient of the row is 0 (x = 0), so the step needs neither the deltas nor the
 * columns: v = mu v - lr 0, w = w + (v - lam w) (original) or v = mu v - lr (0 + lam w),
 * w = w + v (coupled), elementwise (the compiler may vectorise it; the operations per
 * element are fixed, so every build gives the same bits). */
#define REFSET_SGD_ZERO_ROW(NAME, SGD, T)                                                 \
static inline void NAME(T* w, T* v, Py_ssize_t n, T lr, T mu, T lam, int coupled) {       \
    Py_ssize_t p;                                                                         \
    for (p = 0; p < n; p++) SGD(w + p, v + p, 0, lr, mu, lam, coupled);                   \
}
REFSET_SGD_ZERO_ROW(refset_sgd_zero_row_f, refset_sgd_f, float)
REFSET_SGD_ZERO_ROW(refset_sgd_zero_row_d, refset_sgd_d, double)

/* REFSET_SGD_ZERO_ROW on the rows rows[0..n) (row i's links indptr[i] .. indptr[i + 1]): one
 * call for the rows without activations instead of one a row. */
#define REFSET_SGD_ZERO_ROWS(NAME, ZERO_ROW, T)                                            \
static inline void NAME(const int64_t* rows, Py_ssize_t n, const int64_t* indptr, T* w,   \
                        T* v, T lr, T mu, T lam, int coupled) {                           \
    Py_ssize_t a;                                                                         \
    for (a = 0; a < n; a++) {                                                             \
        Py_ssize_t k0 = indptr[rows[a]];                                                  \
        ZERO_ROW(w + k0, v + k0, indptr[rows[a] + 1] - k0, lr, mu, lam, coupled);         \
    }                                                                                     \
}
REFSET_SGD_ZERO_ROWS(refset_sgd_zero_rows_f, refset_sgd_zero_row_f, float)
REFSET_SGD_ZERO_ROWS(refset_sgd_zero_rows_d, refset_sgd_zero_row_d, double)

/* ---- The fused backward/update of one row of a CSR layer at B = 2 ----------------------
 *
 * Row i of a layer has n links, to the columns idx[0..n) with weights w and velocities v
 * (pointers into the layer's arrays at the row's first link); x0, x1 are the row's two
 * input activations and D the (n_out, 2) deltas.  For every link p, in order:
 *
 *     d = D[idx[p]];  g = x0 d0 + x1 d1                       (the gradient of the link)
 *     original: v = mu v - lr g;              w = w + (v - lam w)
 *     coupled:  v = mu v - lr (g + lam w);    w = w + v
 *
 * and, when o is not NULL, the propagation o = sum_p w_old d (the row's share of W D, with
 * the weights before the update) in eight interleaved partial sums: link p adds into lane
 * p mod 8, and the lanes are added as ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)).
 * The lanes break the chain of dependent additions that a single sum would be (3-4 cycles
 * per link), and they are what lets the AVX version below take eight links per step.
 *
 * refset_bu2_row_d (double) uses AVX-512 (F, VL) or 256-bit AVX when the build has them; all
 * versions perform the same operations in the same order, so every build gives the same bits.
 * n_ahead: the links of the layer from idx on (at least n); the AVX-512 version reads the
 * columns of a row's last block of eight in place when they are all in the array.
 */
#define REFSET_BU2_ROW_SCALAR(NAME, SGD, T)                                                 \
static inline void NAME(T x0, T x1, const T* D, const int32_t* idx, T* w, T* v,             \
                        Py_ssize_t p, Py_ssize_t n, T* a0, T* a1, int prop,                 \
                        T lr, T mu, T lam, int coupled) {                                   \
    for (; p < n; p++) {                                                                    \
        const T* d = D + 2 * (Py_ssize_t) idx[p];                                           \
        T d0 = d[0], d1 = d[1], wk = w[p];                                                  \
        if (prop) {                                                                         \
            a0[p & 7] += wk * d0;                                                           \
            a1[p & 7] += wk * d1;                                                           \
        }                                                                                   \
        SGD(w + p, v + p, x0 * d0 + x1 * d1, lr, mu, lam, coupled);                         \
    }                                                                                       \
}
REFSET_BU2_ROW_SCALAR(refset_bu2_tail_f, refset_sgd_f, float)
REFSET_BU2_ROW_SCALAR(refset_bu2_tail_d, refset_sgd_d, double)

#define REFSET_LANE_SUM(a) \
    ((((a)[0] + (a)[4]) + ((a)[1] + (a)[5])) + (((a)[2] + (a)[6]) + ((a)[3] + (a)[7])))

static inline void refset_bu2_row_f(float x0, float x1, const float* D, const int32_t* idx,
                                    float* w, float* v, Py_ssize_t n, Py_ssize_t n_ahead,
                                    float* o, float lr, float mu, float lam, int coupled) {
    float a0[8] = {0}, a1[8] = {0};
    refset_bu2_tail_f(x0, x1, D, idx, w, v, 0, n, a0, a1, o != NULL, lr, mu, lam, coupled);
    if (o != NULL) {
        o[0] = REFSET_LANE_SUM(a0);
        o[1] = REFSET_LANE_SUM(a1);
    }
}

#if defined(__AVX__)
/* REFSET_SGD on every lane of a vector of links, for the AVX (P = _mm256) and AVX-512
   (P = _mm512) versions of the fused step: gradients G, weights W and velocities V in,
   V updated and the new weights in Wn, the same operations in the same order. */
#define REFSET_VSGD(P, G, W, V, Wn, LR, MU, LAM, coupled)                                 \
    do {                                                                                  \
        if (coupled) {                                                                    \
            V = P##_sub_pd(P##_mul_pd(MU, V),                                             \
                           P##_mul_pd(LR, P##_add_pd(G, P##_mul_pd(LAM, W))));            \
            Wn = P##_add_pd(W, V);                                                        \
        } else {                                                                          \
            V = P##_sub_pd(P##_mul_pd(MU, V), P##_mul_pd(LR, G));                         \
            Wn = P##_add_pd(W, P##_sub_pd(V, P##_mul_pd(LAM, W)));                        \
        }                                                                                 \
    } while (0)

/* Links c[0..4) as vectors: lanes j of d0 and d1 hold D[c[j]][0] and D[c[j]][1]. */
static inline void refset_load_pairs4(const double* D, const int32_t* c, __m256d* d0,
                                      __m256d* d1) {
    __m256d P = _mm256_set_m128d(_mm_loadu_pd(D + 2 * (Py_ssize_t) c[2]),
                                 _mm_loadu_pd(D + 2 * (Py_ssize_t) c[0]));
    __m256d Q = _mm256_set_m128d(_mm_loadu_pd(D + 2 * (Py_ssize_t) c[3]),
                                 _mm_loadu_pd(D + 2 * (Py_ssize_t) c[1]));
    *d0 = _mm256_unpacklo_pd(P, Q);
    *d1 = _mm256_unpackhi_pd(P, Q);
}

/* Four links as lanes 4h .. 4h+3 of a group of eight; only the first m (1..4) are real when
   m < 4: the others read column 0 and weight 0, and neither their accumulator lanes nor
   their weights and velocities are written. */
static inline void refset_bu2_quad(__m256d X0, __m256d X1, const double* D, const int32_t* c,
                                   double* w, double* v, int m, __m256d* A0, __m256d* A1,
                                   int prop, __m256d LR, __m256d MU, __m256d LAM,
                                   int coupled) {
    __m256d d0, d1, W, V, G, Wn;
    __m256i mask = _mm256_setzero_si256();
    int32_t cc[4] = {0, 0, 0, 0};
    int j;
    if (m == 4) {
        refset_load_pairs4(D, c, &d0, &d1);
        W = _mm256_loadu_pd(w);
        V = _mm256_loadu_pd(v);
    } else {
        for (j = 0; j < m; j++) cc[j] = c[j];
        mask = _mm256_set_epi64x(m > 3 ? -1 : 0, m > 2 ? -1 : 0, m > 1 ? -1 : 0, -1);
        refset_load_pairs4(D, cc, &d0, &d1);
        W = _mm256_maskload_pd(w, mask);
        V = _mm256_maskload_pd(v, mask);
    }
    if (prop) {
        __m256d S0 = _mm256_add_pd(*A0, _mm256_mul_pd(W, d0));
        __m256d S1 = _mm256_add_pd(*A1, _mm256_mul_pd(W, d1));
        if (m == 4) {
            *A0 = S0;
            *A1 = S1;
        } else {                   /* lanes past the row keep their sums exactly */
            *A0 = _mm256_blendv_pd(*A0, S0, _mm256_castsi256_pd(mask));
            *A1 = _mm256_blendv_pd(*A1, S1, _mm256_castsi256_pd(mask));
        }
    }
    G = _mm256_add_pd(_mm256_mul_pd(X0, d0), _mm256_mul_pd(X1, d1));
    REFSET_VSGD(_mm256, G, W, V, Wn, LR, MU, LAM, coupled);
    if (m == 4) {
        _mm256_storeu_pd(v, V);
        _mm256_storeu_pd(w, Wn);
    } else {
        _mm256_maskstore_pd(v, mask, V);
        _mm256_maskstore_pd(w, mask, Wn);
    }
}
#endif

#if defined(__AVX512F__) && defined(__AVX512VL__)
/* The deltas of links c[0..8) as two vectors, lane j of d0 and d1 holding D[c[j]][0] and
   D[c[j]][1].  Only the lanes of mask m are used: the others read the deltas of column c[j]
   when c_all says that c[0..8) all lie in the layer's index array (the next row's links),
   or of column 0 otherwise. */
static inline void refset_pairs8(const double* D, const int32_t* c, __mmask8 m, int c_all,
                                 __m512d* d0, __m512d* d1) {
    int32_t cc[8];
    const int32_t* k = c;
    __m512d P, Q;
    if (!c_all) {
        _mm256_storeu_si256((__m256i*) cc, _mm256_maskz_loadu_epi32(m, c));
        k = cc;
    }
    /* P holds the pairs D[k0], D[k2], D[k4], D[k6]; Q those of k1, k3, k5, k7: the low
       (high) elements of each 128-bit lane of P and Q, interleaved, are d0 (d1) in order */
    P = _mm512_insertf64x4(
        _mm512_castpd256_pd512(_mm256_set_m128d(_mm_loadu_pd(D + 2 * (Py_ssize_t) k[2]),
                                                _mm_loadu_pd(D + 2 * (Py_ssize_t) k[0]))),
        _mm256_set_m128d(_mm_loadu_pd(D + 2 * (Py_ssize_t) k[6]),
                         _mm_loadu_pd(D + 2 * (Py_ssize_t) k[4])), 1);
    Q = _mm512_insertf64x4(
        _mm512_castpd256_pd512(_mm256_set_m128d(_mm_loadu_pd(D + 2 * (Py_ssize_t) k[3]),
                                                _mm_loadu_pd(D + 2 * (Py_ssize_t) k[1]))),
        _mm256_set_m128d(_mm_loadu_pd(D + 2 * (Py_ssize_t) k[7]),
                         _mm_loadu_pd(D + 2 * (Py_ssize_t) k[5])), 1);
    *d0 = _mm512_unpacklo_pd(P, Q);
    *d1 = _mm512_unpackhi_pd(P, Q);
}

/* Eight links at once (AVX-512), their deltas in d0, d1: lane j is the block's link j, as
   lane p mod 8 of the sums.  Only the lanes of mask m are real: the others read weight 0,
   and neither their sums nor their weights and velocities are written.  The same
   operations as two calls of refset_bu2_quad, on one vector instead of two halves, with
   mask registers instead of AVX's vmaskmov in a row's last block.  Measured (COIL20,
   3000 x 3000, B = 2, float64, one thread, real activations of 480 batches, interleaved):
   166 -> 137 us a call. */
static inline __m512d refset_bu2_oct(__m512d X0, __m512d X1, __m512d d0, __m512d d1,
                                     double* w, double* v, __mmask8 m, __m512d* A0,
                                     __m512d* A1, int prop, __m512d LR, __m512d MU,
                                     __m512d LAM, int coupled) {
    __m512d W = _mm512_maskz_loadu_pd(m, w), V = _mm512_maskz_loadu_pd(m, v), G, Wn;
    if (prop) {
        *A0 = _mm512_mask_add_pd(*A0, m, *A0, _mm512_mul_pd(W, d0));
        *A1 = _mm512_mask_add_pd(*A1, m, *A1, _mm512_mul_pd(W, d1));
    }
    G = _mm512_add_pd(_mm512_mul_pd(X0, d0), _mm512_mul_pd(X1, d1));
    REFSET_VSGD(_mm512, G, W, V, Wn, LR, MU, LAM, coupled);
    _mm512_mask_storeu_pd(v, m, V);
    _mm512_mask_storeu_pd(w, m, Wn);
    return Wn;                     /* the new weights (for the fused next product) */
}

/* The next batch's forward product of a block's first r (1..8) links from their new weights
   Wn, in order: out[c[j]] += Wn[j] (xn0, xn1), a pair of out read, added and written per
   link, as refset_fwd2_row does (the products Wn xn0 and Wn xn1 are its wk x0 and wk x1). */
static inline void refset_fwd2_oct(double* out, const int32_t* c, __m512d Wn, __m512d XN0,
                                   __m512d XN1, int r) {
    __m512d P0 = _mm512_mul_pd(Wn, XN0), P1 = _mm512_mul_pd(Wn, XN1);
    __m512d L = _mm512_unpacklo_pd(P0, P1), H = _mm512_unpackhi_pd(P0, P1);
    __m128d q[8];
    int j;
    q[0] = _mm512_castpd512_pd128(L);
    q[1] = _mm512_castpd512_pd128(H);
    q[2] = _mm512_extractf64x2_pd(L, 1);
    q[3] = _mm512_extractf64x2_pd(H, 1);
    q[4] = _mm512_extractf64x2_pd(L, 2);
    q[5] = _mm512_extractf64x2_pd(H, 2);
    q[6] = _mm512_extractf64x2_pd(L, 3);
    q[7] = _mm512_extractf64x2_pd(H, 3);
    for (j = 0; j < r; j++) {
        double* o = out + 2 * (Py_ssize_t) c[j];
        _mm_storeu_pd(o, _mm_add_pd(_mm_loadu_pd(o), q[j]));
    }
}
#endif

#if defined(__AVX512F__) && defined(__AVX512VL__)
/* The mask of the first `left` lanes of a block of eight (all eight from 8 on, none from 0). */
static inline __mmask8 refset_lanes8(Py_ssize_t left) {
    return (__mmask8) (left >= 8 ? 0xFF : left > 0 ? (1u << left) - 1 : 0);
}

/* A row's two sums from its eight lanes each, into o[0], o[1]: with lo and hi the halves of
   A, lo + hi is (l0 + l4, l1 + l5, l2 + l6, l3 + l7), and the hadd and the halves' sum add
   them as REFSET_LANE_SUM does. */
static inline void refset_lane_sums8(__m512d A0, __m512d A1, double* o) {
    __m256d H = _mm256_hadd_pd(
        _mm256_add_pd(_mm512_castpd512_pd256(A0), _mm512_extractf64x4_pd(A0, 1)),
        _mm256_add_pd(_mm512_castpd512_pd256(A1), _mm512_extractf64x4_pd(A1, 1)));
    _mm_storeu_pd(o, _mm_add_pd(_mm256_castpd256_pd128(H), _mm256_extractf128_pd(H, 1)));
}
#endif

#if defined(__AVX512F__) && defined(__AVX512VL__)
/* refset_bu2_row_d with AVX-512, and, when out_next is not NULL, the row's share of the next
   batch's forward product with its next activations xn0, xn1 (refset_bu2_row_next_d): each
   block's products go to out_next from the registers that hold its new weights and columns
   (refset_fwd2_oct).  Always inlined, so that a constant NULL removes that part. */
static inline __attribute__((always_inline)) void refset_bu2_row512(
        double x0, double x1, const double* D, const int32_t* idx, double* w, double* v,
        Py_ssize_t n, Py_ssize_t n_ahead, double* o, double lr, double mu, double lam,
        int coupled, double xn0, double xn1, double* out_next) {
    int prop = o != NULL;
    __m512d X0 = _mm512_set1_pd(x0), X1 = _mm512_set1_pd(x1);
    __m512d XN0 = _mm512_set1_pd(xn0), XN1 = _mm512_set1_pd(xn1);
    __m512d LR = _mm512_set1_pd(lr), MU = _mm512_set1_pd(mu), LAM = _mm512_set1_pd(lam);
    __m512d A0 = _mm512_setzero_pd(), A1 = _mm512_setzero_pd();
    __m512d d0, d1, Wn;
    Py_ssize_t p = 0;
    for (; p + 8 <= n; p += 8) {
        refset_pairs8(D, idx + p, 0xFF, 1, &d0, &d1);
        Wn = refset_bu2_oct(X0, X1, d0, d1, w + p, v + p, 0xFF, &A0, &A1, prop, LR, MU, LAM,
                            coupled);
        if (out_next != NULL)
            refset_fwd2_oct(out_next, idx + p, Wn, XN0, XN1, 8);
    }
    if (p < n) {                   /* 1 .. 7 links left: lanes 0 .. n-p-1 */
        __mmask8 m = refset_lanes8(n - p);
        refset_pairs8(D, idx + p, m, p + 8 <= n_ahead, &d0, &d1);
        Wn = refset_bu2_oct(X0, X1, d0, d1, w + p, v + p, m, &A0, &A1, prop, LR, MU, LAM,
                            coupled);
        if (out_next != NULL)
            refset_fwd2_oct(out_next, idx + p, Wn, XN0, XN1, (int) (n - p));
    }
    if (prop)
        refset_lane_sums8(A0, A1, o);
}
#endif

static inline void refset_bu2_row_d(double x0, double x1, const double* D, const int32_t* idx,
                                    double* w, double* v, Py_ssize_t n, Py_ssize_t n_ahead,
                                    double* o, double lr, double mu, double lam, int coupled) {
#if defined(__AVX512F__) && defined(__AVX512VL__)
    refset_bu2_row512(x0, x1, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled, 0, 0, NULL);
#elif defined(__AVX__)
    int prop = o != NULL;
    __m256d X0 = _mm256_set1_pd(x0), X1 = _mm256_set1_pd(x1);
    __m256d LR = _mm256_set1_pd(lr), MU = _mm256_set1_pd(mu), LAM = _mm256_set1_pd(lam);
    __m256d A0lo = _mm256_setzero_pd(), A0hi = _mm256_setzero_pd();
    __m256d A1lo = _mm256_setzero_pd(), A1hi = _mm256_setzero_pd();
    Py_ssize_t p = 0, r;
    for (; p + 8 <= n; p += 8) {
        refset_bu2_quad(X0, X1, D, idx + p, w + p, v + p, 4, &A0lo, &A1lo, prop,
                        LR, MU, LAM, coupled);
        refset_bu2_quad(X0, X1, D, idx + p + 4, w + p + 4, v + p + 4, 4, &A0hi, &A1hi, prop,
                        LR, MU, LAM, coupled);
    }
    r = n - p;                     /* 0 .. 7 links left: lanes 0 .. r-1 */
    if (r > 0)
        refset_bu2_quad(X0, X1, D, idx + p, w + p, v + p, r < 4 ? (int) r : 4, &A0lo, &A1lo,
                        prop, LR, MU, LAM, coupled);
    if (r > 4)
        refset_bu2_quad(X0, X1, D, idx + p + 4, w + p + 4, v + p + 4, (int) r - 4, &A0hi,
                        &A1hi, prop, LR, MU, LAM, coupled);
    if (prop) {
        /* lanes l0..l7 = (A lo, A hi): S = lo + hi is (l0 + l4, l1 + l5, l2 + l6, l3 + l7);
           hadd of S0, S1 gives (S0[0] + S0[1], S1[0] + S1[1], S0[2] + S0[3], ...) and its
           two halves added are the row's two sums in REFSET_LANE_SUM's order. */
        __m256d H = _mm256_hadd_pd(_mm256_add_pd(A0lo, A0hi), _mm256_add_pd(A1lo, A1hi));
        _mm_storeu_pd(o, _mm_add_pd(_mm256_castpd256_pd128(H), _mm256_extractf128_pd(H, 1)));
    }
#else
    int prop = o != NULL;
    double a0[8] = {0}, a1[8] = {0};
    refset_bu2_tail_d(x0, x1, D, idx, w, v, 0, n, a0, a1, prop, lr, mu, lam, coupled);
    if (prop) {
        o[0] = REFSET_LANE_SUM(a0);
        o[1] = REFSET_LANE_SUM(a1);
    }
#endif
}

/* W D through ReLU' for a row's pair o of sums at B = 2: 0 where the row's activation is not
 * > 0 (the compiled B = 2 backward steps below; _csr.pyx does the same at other widths). */
#define REFSET_RELU_PRIME2(o, x0, x1)                                                     \
    do {                                                                                  \
        (o)[0] = (x0) > 0 ? (o)[0] : 0;                                                   \
        (o)[1] = (x1) > 0 ? (o)[1] : 0;                                                   \
    } while (0)

/* ---- The fused backward/update of a layer's rows with activations at B = 2 ---------------
 * refset_bu2_row on each of the rows rows[0..n) in turn (their links are indptr[i] ..
 * indptr[i + 1] of indices, w and v; k_end: the links of the layer, for n_ahead), then, when
 * out is not NULL, the row's W D through ReLU' (0 where the row's activation is not > 0), as
 * _csr.pyx's row by row loop does: the same operations in the same order, so the same bits.
 * One call for the rows instead of one a row (the Cython loop called, for every row, a
 * function with the general-B code, its stack frame and its argument list).  Measured,
 * float64, one thread: 3000 rows of 8 links, all active, 41.9 -> 37.7 us a call; in the
 * COIL20 reference fit (3 x 3000, B = 2, with REFSET_BU2_ROWS_NEXT below) the hidden layers'
 * fused step 129.2-129.6 -> 110.6 us a call (about 9 ns per row with activations) and the
 * epoch, 12 epochs each side, interleaved: median 0.342 -> 0.316 s. */
#define REFSET_BU2_ROWS(NAME, ROW, T)                                                     \
static inline void NAME(const T* X, const T* D, const int64_t* rows, Py_ssize_t n,        \
                        const int64_t* indptr, const int32_t* indices, Py_ssize_t k_end,  \
                        T* w, T* v, T* out, T lr, T mu, T lam, int coupled) {             \
    Py_ssize_t a;                                                                         \
    for (a = 0; a < n; a++) {                                                             \
        Py_ssize_t i = rows[a], k0 = indptr[i];                                           \
        T x0 = X[2 * i], x1 = X[2 * i + 1];                                               \
        T* o = out != NULL ? out + 2 * i : NULL;                                          \
        ROW(x0, x1, D, indices + k0, w + k0, v + k0, indptr[i + 1] - k0, k_end - k0, o,     \
            lr, mu, lam, coupled);                                                        \
        if (o != NULL)                                                                    \
            REFSET_RELU_PRIME2(o, x0, x1);                                                \
    }                                                                                     \
}
REFSET_BU2_ROWS(refset_bu2_rows_f, refset_bu2_row_f, float)
REFSET_BU2_ROWS(refset_bu2_rows_d, refset_bu2_row_d, double)

/* The same for the rows i0 .. i1 in order, with the next batch's forward product fused (the
 * first layer: X_next (n_in, 2), its product into out_next): each row with activations as in
 * REFSET_BU2_ROWS, a row without only its SGD step, then, when the row's next activations are
 * not both zero, its share of out_next with the new weights (ROW_NEXT does both parts of a
 * row with activations, refset_bu2_row_next below), as _csr.pyx's row by row loop does, so
 * the same bits. */
#define REFSET_BU2_ROWS_NEXT(NAME, ROW, ROW_NEXT, ZERO_ROW, FWD_ROW, T)                    \
static inline void NAME(const T* X, const T* D, Py_ssize_t i0, Py_ssize_t i1,              \
                        const int64_t* indptr, const int32_t* indices, Py_ssize_t k_end,  \
                        T* w, T* v, T* out, T lr, T mu, T lam, int coupled,               \
                        const T* X_next, T* out_next) {                                   \
    Py_ssize_t i;                                                                         \
    for (i = i0; i < i1; i++) {                                                           \
        Py_ssize_t k0 = indptr[i], n = indptr[i + 1] - k0;                                \
        T x0 = X[2 * i], x1 = X[2 * i + 1], n0 = X_next[2 * i], n1 = X_next[2 * i + 1];   \
        int next = (n0 != 0) | (n1 != 0);                                                 \
        if ((x0 != 0) | (x1 != 0)) {                                                      \
            T* o = out != NULL ? out + 2 * i : NULL;                                      \
            if (next)                                                                     \
                ROW_NEXT(x0, x1, n0, n1, D, indices + k0, w + k0, v + k0, n, k_end - k0,  \
                         o, lr, mu, lam, coupled, out_next);                              \
            else                                                                          \
                ROW(x0, x1, D, indices + k0, w + k0, v + k0, n, k_end - k0, o, lr, mu,    \
                    lam, coupled);                                                        \
            if (o != NULL)                                                                \
                REFSET_RELU_PRIME2(o, x0, x1);                                            \
        } else {                                                                          \
            ZERO_ROW(w + k0, v + k0, n, lr, mu, lam, coupled);                            \
            if (next)                                                                     \
                FWD_ROW(n0, n1, indices + k0, w + k0, n, out_next);                       \
        }                                                                                 \
    }                                                                                     \
}

/* ---- The fused backward/update of a full narrow layer at B = 2 (float64, AVX-512) ----
 * The rows rows[0..n) of a layer whose rows each link to all its n_out <= REFSET_FULL2_MAX
 * columns (see refset_fwd2_full below): refset_bu2_row_d on each, then, when out is not
 * NULL, the row's W D through ReLU' (0 where the row's activation is not > 0), as
 * _csr.pyx does after it.  Every row's link p is column p, so the deltas of its blocks of
 * eight are the same for every row: they are read once into registers, and each block is
 * the same refset_bu2_oct as in refset_bu2_row_d, with the same masks, so the same bits.
 * Returns 0 (nothing done) in a build without AVX-512. */
static inline int refset_bu2_full_rows_d(const double* X, const double* D,
                                         const int64_t* rows, Py_ssize_t n, double* w,
                                         double* v, Py_ssize_t n_out, double* out, double lr,
                                         double mu, double lam, int coupled) {
#if defined(__AVX512F__) && defined(__AVX512VL__)
    __m512d LR = _mm512_set1_pd(lr), MU = _mm512_set1_pd(mu), LAM = _mm512_set1_pd(lam);
    __m512d DV0[4], DV1[4];
    __mmask8 m[4];
    int32_t cols[REFSET_FULL2_MAX + 8];
    Py_ssize_t a, c;
    int k, prop = out != NULL;
    for (c = 0; c < REFSET_FULL2_MAX + 8; c++) cols[c] = (int32_t) (c < n_out ? c : 0);
    for (k = 0; k < 4; k++) {
        m[k] = refset_lanes8(n_out - 8 * k);
        refset_pairs8(D, cols + 8 * k, 0xFF, 1, &DV0[k], &DV1[k]);
    }
    for (a = 0; a < n; a++) {
        Py_ssize_t i = rows[a];
        double x0 = X[2 * i], x1 = X[2 * i + 1];
        double* wr = w + i * n_out;
        double* vr = v + i * n_out;
        __m512d X0 = _mm512_set1_pd(x0), X1 = _mm512_set1_pd(x1);
        __m512d A0 = _mm512_setzero_pd(), A1 = _mm512_setzero_pd();
        _Pragma("GCC unroll 4")
        for (k = 0; k < 4; k++)
            if (m[k])
                refset_bu2_oct(X0, X1, DV0[k], DV1[k], wr + 8 * k, vr + 8 * k, m[k], &A0, &A1,
                               prop, LR, MU, LAM, coupled);
        if (prop) {                /* as refset_bu2_row_d, then ReLU' */
            refset_lane_sums8(A0, A1, out + 2 * i);
            REFSET_RELU_PRIME2(out + 2 * i, x0, x1);
        }
    }
    return 1;
#else
    (void) X; (void) D; (void) rows; (void) n; (void) w; (void) v; (void) n_out; (void) out;
    (void) lr; (void) mu; (void) lam; (void) coupled;
    return 0;
#endif
}

/* ---- The forward product of one row of a CSR layer at B = 2 ----------------------------
 * out[idx[p]] += w[p] (x0, x1) for p in [0, n), in order: each output's sum is taken in
 * row order, as coo_forward's on canonical links. */
#define REFSET_FWD2_ROW(NAME, T)                                                          \
static inline void NAME(T x0, T x1, const int32_t* idx, const T* w, Py_ssize_t n,         \
                        T* out) {                                                         \
    Py_ssize_t p;                                                                         \
    _Pragma("GCC unroll 4")                                                               \
    for (p = 0; p < n; p++) {                                                             \
        T* o = out + 2 * (Py_ssize_t) idx[p];                                             \
        T wk = w[p];                                                                      \
        o[0] += wk * x0;                                                                  \
        o[1] += wk * x1;                                                                  \
    }                                                                                     \
}
REFSET_FWD2_ROW(refset_fwd2_row_f, float)
REFSET_FWD2_ROW(refset_fwd2_row_d, double)

/* refset_fwd2_row on the rows rows[0..n) in order (row i's links indptr[i] .. indptr[i + 1]):
 * one call for the rows instead of one a row, the same sums in the same order. */
#define REFSET_FWD2_ROWS(NAME, ROW, T)                                                    \
static inline void NAME(const T* X, const int64_t* rows, Py_ssize_t n,                   \
                        const int64_t* indptr, const int32_t* indices, const T* w,        \
                        T* out) {                                                         \
    Py_ssize_t a;                                                                         \
    for (a = 0; a < n; a++) {                                                             \
        Py_ssize_t i = rows[a], k0 = indptr[i];                                           \
        ROW(X[2 * i], X[2 * i + 1], indices + k0, w + k0, indptr[i + 1] - k0, out);       \
    }                                                                                     \
}
REFSET_FWD2_ROWS(refset_fwd2_rows_f, refset_fwd2_row_f, float)
REFSET_FWD2_ROWS(refset_fwd2_rows_d, refset_fwd2_row_d, double)

/* ---- A row with activations of the first layer at B = 2, its next product fused ---------
 * refset_bu2_row, then refset_fwd2_row with the row's next activations xn0, xn1 on its new
 * weights.  The AVX-512 version (float64) scatters each block's products from the registers
 * that hold its new weights and columns (refset_fwd2_oct), so the row's links are read once;
 * the same operations in the same order, so the same bits. */
static inline void refset_bu2_row_next_f(float x0, float x1, float xn0, float xn1,
                                         const float* D, const int32_t* idx, float* w,
                                         float* v, Py_ssize_t n, Py_ssize_t n_ahead, float* o,
                                         float lr, float mu, float lam, int coupled,
                                         float* out_next) {
    refset_bu2_row_f(x0, x1, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled);
    refset_fwd2_row_f(xn0, xn1, idx, w, n, out_next);
}

static inline void refset_bu2_row_next_d(double x0, double x1, double xn0, double xn1,
                                         const double* D, const int32_t* idx, double* w,
                                         double* v, Py_ssize_t n, Py_ssize_t n_ahead,
                                         double* o, double lr, double mu, double lam,
                                         int coupled, double* out_next) {
#if defined(__AVX512F__) && defined(__AVX512VL__)
    refset_bu2_row512(x0, x1, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled, xn0, xn1,
                      out_next);
#else
    refset_bu2_row_d(x0, x1, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled);
    refset_fwd2_row_d(xn0, xn1, idx, w, n, out_next);
#endif
}

REFSET_BU2_ROWS_NEXT(refset_bu2_rows_next_f, refset_bu2_row_f, refset_bu2_row_next_f,
                     refset_sgd_zero_row_f, refset_fwd2_row_f, float)
REFSET_BU2_ROWS_NEXT(refset_bu2_rows_next_d, refset_bu2_row_d, refset_bu2_row_next_d,
                     refset_sgd_zero_row_d, refset_fwd2_row_d, double)

/* ---- The forward product of a full narrow layer at B = 2 ---------------------------------
 * A layer whose rows each link to all its n_out <= REFSET_FULL2_MAX columns (a dense output
 * layer: ε = 20 makes COIL20's 3000 x 20 and MNIST's 1000 x 10 full): row i's weights are
 * w[i n_out .. (i + 1) n_out), column by column.  For the rows rows[0..n), in order:
 * out[c] += w[i][c] (x0, x1), the same operations in the same order as refset_fwd2_row over
 * those rows into a zeroed out, so the same bits; every out[c] is written.  The sums stay in
 * two local arrays (one per sample, starting at +0) that the compiler vectorises over the
 * columns, instead of a load and a store of a pair of out per link, each waiting for the
 * previous row's store of it. */
#define REFSET_FWD2_FULL(NAME, T)                                                         \
static inline void NAME(const T* X, const int64_t* rows, Py_ssize_t n, const T* w,       \
                        Py_ssize_t n_out, T* out) {                                       \
    T o0[REFSET_FULL2_MAX] = {0}, o1[REFSET_FULL2_MAX] = {0};                            \
    Py_ssize_t a, c;                                                                      \
    for (a = 0; a < n; a++) {                                                             \
        const T* x = X + 2 * rows[a];                                                     \
        const T* wr = w + rows[a] * n_out;                                                \
        T x0 = x[0], x1 = x[1];                                                           \
        for (c = 0; c < n_out; c++) {                                                     \
            o0[c] += wr[c] * x0;                                                          \
            o1[c] += wr[c] * x1;                                                          \
        }                                                                                 \
    }                                                                                     \
    for (c = 0; c < n_out; c++) {                                                         \
        out[2 * c] = o0[c];                                                               \
        out[2 * c + 1] = o1[c];                                                           \
    }                                                                                     \
}
REFSET_FWD2_FULL(refset_fwd2_full_f, float)
#if defined(__AVX512F__) && defined(__AVX512VL__)
/* The same in AVX-512 registers: lane j of O0[k], O1[k] is column 8 k + j's sum. */
static inline void refset_fwd2_full_d(const double* X, const int64_t* rows, Py_ssize_t n,
                                      const double* w, Py_ssize_t n_out, double* out) {
    __m512d O0[4], O1[4];
    __mmask8 m[4];
    double o[2][REFSET_FULL2_MAX];
    Py_ssize_t a, c;
    int k;
    for (k = 0; k < 4; k++) {
        m[k] = refset_lanes8(n_out - 8 * k);
        O0[k] = _mm512_setzero_pd();
        O1[k] = _mm512_setzero_pd();
    }
    for (a = 0; a < n; a++) {
        const double* wr = w + rows[a] * n_out;
        __m512d X0 = _mm512_set1_pd(X[2 * rows[a]]), X1 = _mm512_set1_pd(X[2 * rows[a] + 1]);
        _Pragma("GCC unroll 4")
        for (k = 0; k < 4; k++) {
            if (m[k]) {
                __m512d W = _mm512_maskz_loadu_pd(m[k], wr + 8 * k);
                O0[k] = _mm512_add_pd(O0[k], _mm512_mul_pd(W, X0));
                O1[k] = _mm512_add_pd(O1[k], _mm512_mul_pd(W, X1));
            }
        }
    }
    for (k = 0; k < 4; k++) {
        _mm512_storeu_pd(o[0] + 8 * k, O0[k]);
        _mm512_storeu_pd(o[1] + 8 * k, O1[k]);
    }
    for (c = 0; c < n_out; c++) {
        out[2 * c] = o[0][c];
        out[2 * c + 1] = o[1][c];
    }
}
#else
REFSET_FWD2_FULL(refset_fwd2_full_d, double)
#endif

/* ---- The fused backward/update of one row at a fixed batch width NB -------------------
 * The same operations in the same order as the general loop of _csr.pyx (per link: W D
 * into the row's sums, then the gradient as REFSET_DOT, then the SGD step), with the row's
 * activations and sums in local arrays of a size known at compile time, which the compiler
 * keeps in vector registers instead of reloading them from memory for every link.  NB is a
 * multiple of 16, so REFSET_DOT's tail is empty.  o: the row of W D (zeroed) or NULL;
 * n_ahead: links of the layer from this row's first on (the prefetch looks across rows). */
#define REFSET_BU_ROW_FIXED(NAME, SGD, FOLD, T, NB)                                       \
static inline void NAME(const T* x, const T* D, const int32_t* idx, T* w, T* v,            \
                        Py_ssize_t n, Py_ssize_t n_ahead, T* o, T lr, T mu, T lam,         \
                        int coupled, Py_ssize_t pf_bytes) {                                \
    T xl[NB], acc[NB];                                                                    \
    Py_ssize_t p, b;                                                                      \
    int j;                                                                                \
    for (b = 0; b < NB; b++) {                                                            \
        xl[b] = x[b];                                                                     \
        acc[b] = 0;                                                                       \
    }                                                                                     \
    for (p = 0; p < n; p++) {                                                             \
        const T* d = D + (Py_ssize_t) idx[p] * NB;                                        \
        T wk = w[p], g, l[16] = {0};                                                      \
        refset_prefetch32(D, idx, p, n_ahead, pf_bytes, 0);                               \
        if (o != NULL)                                                                    \
            for (b = 0; b < NB; b++) acc[b] += wk * d[b];                                 \
        for (b = 0; b < NB; b += 16)                                                      \
            for (j = 0; j < 16; j++) l[j] += xl[b + j] * d[b + j];                        \
        g = FOLD(l);                                                                      \
        SGD(w + p, v + p, g, lr, mu, lam, coupled);                                       \
    }                                                                                     \
    if (o != NULL)                                                                        \
        for (b = 0; b < NB; b++) o[b] = acc[b];                                           \
}
REFSET_BU_ROW_FIXED(refset_bu_row32_f, refset_sgd_f, refset_fold16_f, float, 32)
REFSET_BU_ROW_FIXED(refset_bu_row32_d, refset_sgd_d, refset_fold16_d, double, 32)
REFSET_BU_ROW_FIXED(refset_bu_row128_f, refset_sgd_f, refset_fold16_f, float, 128)
REFSET_BU_ROW_FIXED(refset_bu_row128_d, refset_sgd_d, refset_fold16_d, double, 128)

/* The fixed-width row for batch width B, if there is one: returns 1 when B is 32 or 128
   (row done), 0 otherwise (the caller runs the general loop). */
#define REFSET_BU_ROW_FIXED_ANY(NAME, T, ROW32, ROW128)                                   \
static inline int NAME(Py_ssize_t B, const T* x, const T* D, const int32_t* idx, T* w,     \
                       T* v, Py_ssize_t n, Py_ssize_t n_ahead, T* o, T lr, T mu, T lam,    \
                       int coupled, Py_ssize_t pf_bytes) {                                 \
    if (B == 32)                                                                          \
        ROW32(x, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled, pf_bytes);            \
    else if (B == 128)                                                                    \
        ROW128(x, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled, pf_bytes);           \
    else                                                                                  \
        return 0;                                                                         \
    return 1;                                                                             \
}
REFSET_BU_ROW_FIXED_ANY(refset_bu_row_fixed_f, float, refset_bu_row32_f, refset_bu_row128_f)
REFSET_BU_ROW_FIXED_ANY(refset_bu_row_fixed_d, double, refset_bu_row32_d, refset_bu_row128_d)

#endif  /* REFSET_KERNELS_H */
