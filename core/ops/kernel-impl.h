/* Private: helpers shared by the op kernels in core/ops/ (parallel loops,
 * reductions, numpy broadcasting). Every split of work here depends on the
 * shapes only, never on the thread count, so results are bit-identical for
 * any number of threads. Output buffers never alias the inputs. */
#ifndef KCV_OPS_KERNEL_IMPL_H
#define KCV_OPS_KERNEL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "op-impl.h"

/* Elements per task of the simple elementwise loops. */
#define KCV_GRAIN 16384

/* ---- small helpers -------------------------------------------------------- */

/* bytes rounded up to a cache line (scratch carving). */
static inline size_t kcv_align64(size_t bytes)
{
	return (bytes + 63) & ~(size_t)63;
}

static inline int64_t kcv_min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static inline int64_t kcv_max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Parts to run `tasks` tasks in, one per thread, each with its own scratch:
 * at least 1, at most the pool's threads, max_parts and tasks. */
static inline int64_t kcv_ops_parts(kcv_pool *pool, int64_t tasks, int64_t max_parts)
{
	return kcv_max64(1, kcv_min64(kcv_min64(kcv_pool_threads(pool), max_parts), tasks));
}

/* ---- parallel loops (parallel.c) ----------------------------------------- */

/* fn(ctx, lo, hi) over [0, n) in chunks of `grain` items (the last shorter),
 * spread over the pool. */
typedef void (*kcv_range_fn)(void *ctx, size_t lo, size_t hi);
void kcv_ops_parallel(kcv_pool *pool, size_t n, size_t grain, kcv_range_fn fn, void *ctx);

/* dst[i] = scale * src[i], or dst[i] += ... when accumulate. */
void kcv_ops_scale(kcv_pool *pool, float *dst, const float *src, size_t n, float scale,
                   int accumulate);
/* ReLU: dst[i] = x[i] > 0 ? x[i] : 0; its gradient dx[i] (+)= y[i] > 0 ?
 * dy[i] : 0. Vectorised where the CPU has AVX-512. */
void kcv_ops_relu(kcv_pool *pool, float *dst, const float *x, size_t n);
void kcv_ops_relu_grad(kcv_pool *pool, float *dx, const float *y, const float *dy, size_t n,
                       int accumulate);
/* dst[i] = 0 unless accumulate (a gradient nobody feeds). */
void kcv_ops_zero_grad(float *dst, size_t n, int accumulate);

/* Sum over the middle axis of src [outer, n, inner] into dst [outer, inner],
 * times scale; dst is overwritten or, with accumulate, added to. Sums in
 * double. */
size_t kcv_ops_reduce_scratch(int64_t outer, int64_t n, int64_t inner);
void kcv_ops_reduce(kcv_pool *pool, const float *src, int64_t outer, int64_t n, int64_t inner,
                    float scale, float *dst, int accumulate, void *scratch);

/* Numbers of elements: total, before axis, after axis. */
int64_t kcv_ops_outer(const kcv_shape *s, int axis);
int64_t kcv_ops_inner(const kcv_shape *s, int axis);

/* ---- kcv's own GEMMs for the convolutions (gemm.c) ----------------------- */

/* 1 when the CPU runs the AVX-512 kernels (else kcv_gemm_nn uses OpenBLAS
 * and kcv_gemm_tn must not be called). */
int kcv_gemm_fast(void);
/* Floats of packed B for a K x N matrix. */
size_t kcv_gemm_packed_b_floats(int64_t k, int64_t n);
/* Pack B [K,N] (row stride ldb) for kcv_gemm_nn; 64-byte aligned output. */
void kcv_gemm_pack_b(const float *b, int64_t ldb, int64_t k, int64_t n, float *packed);
/* Pack `count` such matrices (bstride floats apart) into packed (pstride
 * floats apart), spread over the pool. */
void kcv_gemm_pack_b_many(kcv_pool *pool, const float *b, int64_t ldb, int64_t bstride,
                          int64_t k, int64_t n, float *packed, int64_t pstride, int64_t count);
/* C[M,N] = A[M,K] B[K,N] (+ C with accumulate), single-threaded. With
 * bpacked (from kcv_gemm_pack_b) it runs the AVX-512 kernel; with bpacked
 * NULL, OpenBLAS on b. */
void kcv_gemm_nn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                 int64_t ldb, const float *bpacked, float *c, int64_t ldc, int accumulate);
/* C[I,J] = (store) or += (else) A^T B over `rows` rows: A [rows, I] (row
 * stride lda), B [rows, J] (ldb); C [I, J] (ldc), or C^T [J, I] with
 * trans_c. AVX-512 only (kcv_gemm_fast()), single-threaded. Fastest with
 * J >= 32 (B's rows are the vectors). */
void kcv_gemm_tn(int64_t rows, const float *a, int64_t lda, int64_t ni, const float *b,
                 int64_t ldb, int64_t nj, float *c, int64_t ldc, int trans_c, int store);

/* ---- convolution (conv2d.c, conv2d_fast.c, conv2d_winograd.c) ------------ */

/* The geometry of one conv2d node (see conv2d.c). */
typedef struct kcv_conv_geom {
	int64_t n, h, w, cin, oh, ow, cout, kh, kw;
	int64_t sh, sw, dh, dw, pt, pl;
	int64_t groups, cin_g, cout_g;
	int64_t k; /* KH*KW*Cin/g: the column length */
	int64_t m; /* N*OH*OW: the output rows */
	int relu, bias, direct;
	int res; /* index of the residual input, or -1 */
} kcv_conv_geom;

/* (image, row, column) of a running row index over [N, H, W], stepped
 * without divisions. */
typedef struct kcv_pos3 {
	int64_t n, y, x, h, w;
} kcv_pos3;

static inline kcv_pos3 kcv_pos3_at(int64_t r, int64_t h, int64_t w)
{
	kcv_pos3 p = {r / (h * w), r % (h * w) / w, r % w, h, w};
	return p;
}

static inline void kcv_pos3_next(kcv_pos3 *p)
{
	if (++p->x == p->w) {
		p->x = 0;
		if (++p->y == p->h) {
			p->y = 0;
			p->n++;
		}
	}
}

/* The AVX-512 path: ungrouped convolutions of moderate kernel size and
 * stride on a CPU with AVX-512 (kcv_conv_fast_ok). Scratch bytes, forward,
 * backward. */
int kcv_conv_fast_ok(const kcv_conv_geom *g);
size_t kcv_conv_fast_scratch(const kcv_conv_geom *g, int backward);
void kcv_conv_fast_forward(const kcv_conv_geom *g, const kcv_op_call *c);
void kcv_conv_fast_backward(const kcv_conv_geom *g, const kcv_op_grad_call *c);

/* Winograd F(2x2, 3x3) (conv2d_winograd.c), inside the AVX-512 path: 3x3
 * stride-1 undilated ungrouped convolutions with padding <= 2 and at least
 * 16 input and output channels. The forward pass (with bias, residual and
 * ReLU), dX = (+)= the transposed convolution of dY (already masked by the
 * ReLU), dW (+)= the weight gradient; each is multithreaded over the pool.
 * scratch: kcv_conv_wino_scratch(g, backward) bytes, 64-byte aligned. */
int kcv_conv_wino_ok(const kcv_conv_geom *g);
size_t kcv_conv_wino_scratch(const kcv_conv_geom *g, int backward);
void kcv_conv_wino_forward(const kcv_conv_geom *g, kcv_pool *pool, const float *x,
                           const float *w, const float *bias, const float *res, float *out,
                           void *scratch);
void kcv_conv_wino_dx(const kcv_conv_geom *g, kcv_pool *pool, const float *dy, const float *w,
                      float *dx, int accumulate, void *scratch);
void kcv_conv_wino_dw(const kcv_conv_geom *g, kcv_pool *pool, const float *x, const float *dy,
                      float *dw, int accumulate, void *scratch);

/* bfloat16 convolutions through oneDNN (conv2d_bf16.c; the backend is
 * made in op-impl.h's kcv_bf16_new). The conv calls return 1 when they ran
 * the node, 0 when it takes the float32 path (a convolution oneDNN has no
 * fast kernel for); 0 leaves the outputs untouched. */
int kcv_conv_bf16_forward(kcv_bf16 *b, size_t node, const kcv_conv_geom *g,
                          const kcv_op_call *c);
int kcv_conv_bf16_backward(kcv_bf16 *b, size_t node, const kcv_conv_geom *g,
                           const kcv_op_grad_call *c);

/* ---- broadcasting binary ops (broadcast.c) ------------------------------- */

/* A row kernel: o[i] = f(d[i], a[i*sa], b[i*sb]) for i < n, added to o when
 * acc; sa and sb are 0 (broadcast) or 1. d is the output gradient in a
 * backward pass and NULL in a forward one. */
typedef void (*kcv_bcast_row)(const float *d, const float *a, size_t sa, const float *b,
                              size_t sb, float *o, size_t n, int acc);

/* A binary op: its forward row and, for each input, its gradient row (NULL:
 * the gradient is d times grad_sign[i]; add and sub need no temporary). */
typedef struct kcv_binary_def {
	const char *name;
	kcv_bcast_row forward;
	kcv_bcast_row grad[2];
	float grad_sign[2];
} kcv_binary_def;

kcv_status kcv_binary_infer(const kcv_binary_def *def, const kcv_shape *in, int n_in,
                            kcv_shape *out, char *msg, size_t msg_size);
size_t kcv_binary_scratch(const kcv_binary_def *def, const kcv_shape *in,
                          const kcv_shape *out, int backward);
void kcv_binary_forward(const kcv_binary_def *def, const kcv_op_call *c);
void kcv_binary_backward(const kcv_binary_def *def, const kcv_op_grad_call *c);

/* Defines `const kcv_op_def kcv_op_def_<id>` for the binary op described by
 * the kcv_binary_def `bin`; needs = bwd_needs_in. */
#define KCV_BINARY_OP_DEF(id, bin, needs)                                                \
	static kcv_status id##_infer(const kcv_shape *in, int n_in, const void *params,     \
	                             kcv_shape *out, char *msg, size_t msg_size)            \
	{                                                                                    \
		return kcv_binary_infer(&bin, in, n_in, out, msg, msg_size);                     \
	}                                                                                    \
	static size_t id##_scratch(const kcv_shape *in, int n_in, const void *params,       \
	                           const kcv_shape *out, int backward)                      \
	{                                                                                    \
		return kcv_binary_scratch(&bin, in, out, backward);                              \
	}                                                                                    \
	static double id##_flops(const kcv_shape *in, int n_in, const void *params,         \
	                         const kcv_shape *out)                                      \
	{                                                                                    \
		return (double)kcv_shape_numel(out);                                             \
	}                                                                                    \
	static void id##_forward(const kcv_op_call *c)                                       \
	{                                                                                    \
		kcv_binary_forward(&bin, c);                                                     \
	}                                                                                    \
	static void id##_backward(const kcv_op_grad_call *c)                                 \
	{                                                                                    \
		kcv_binary_backward(&bin, c);                                                    \
	}                                                                                    \
	const kcv_op_def kcv_op_def_##id = {                                                 \
		.name = #id,                                                                     \
		.min_in = 2,                                                                     \
		.max_in = 2,                                                                     \
		.bwd_needs_in = (needs),                                                         \
		.infer = id##_infer,                                                             \
		.scratch = id##_scratch,                                                         \
		.flops = id##_flops,                                                             \
		.forward = id##_forward,                                                         \
		.backward = id##_backward,                                                       \
	}

/* Defines a static kcv_bcast_row `name` from `static inline float
 * fn(const float *d, size_t i, float a, float b)` (fn reads d[i] only when it
 * needs the output gradient). */
#define KCV_BCAST_LOOP_(fn, A, B)                                                        \
	do {                                                                                 \
		if (acc) {                                                                       \
			for (size_t i = 0; i < n; i++)                                               \
				o[i] += fn(d, i, A, B);                                                  \
		} else {                                                                         \
			for (size_t i = 0; i < n; i++)                                               \
				o[i] = fn(d, i, A, B);                                                   \
		}                                                                                \
	} while (0)
#define KCV_BCAST_ROW(name, fn)                                                          \
	static void name(const float *restrict d, const float *restrict a, size_t sa,        \
	                 const float *restrict b, size_t sb, float *restrict o, size_t n,     \
	                 int acc)                                                            \
	{                                                                                    \
		if (sa && sb) {                                                                  \
			KCV_BCAST_LOOP_(fn, a[i], b[i]);                                             \
		} else if (sa) {                                                                 \
			const float b0 = b[0];                                                       \
			KCV_BCAST_LOOP_(fn, a[i], b0);                                               \
		} else if (sb) {                                                                 \
			const float a0 = a[0];                                                       \
			KCV_BCAST_LOOP_(fn, a0, b[i]);                                               \
		} else {                                                                         \
			const float a0 = a[0], b0 = b[0];                                            \
			KCV_BCAST_LOOP_(fn, a0, b0);                                                 \
		}                                                                                \
	}

#endif
