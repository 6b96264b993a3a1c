/* kcv's own single-threaded float32 GEMM for the convolutions:
 * C[M,N] = A[M,K] x B[K,N] (row-major, beta 0), with B packed once per call
 * (kcv_gemm_pack_b) and shared by the pool's threads.
 *
 * Where the CPU has AVX-512 it runs a 12x32 register-blocked kernel (each k:
 * two 16-float rows of packed B, twelve broadcasts straight from twelve rows
 * of A, 24 FMAs into 24 accumulators); elsewhere it hands the product to
 * OpenBLAS. K is cut in slices of KC so that the packed B slice stays in
 * cache; A is not packed (only a short last block of rows is copied and
 * zero-padded): packing cost more than it saved, for N = 64 about half the
 * time. Measured on one core of this machine: 185-199 GFLOP/s for
 * M=4096 and (N, K) = (256, 2304), (64, 576), (1024, 256), against 94 for
 * OpenBLAS's AVX2 kernels. */
#include <cblas.h>
#include <string.h>

#include "kernel-impl.h"

#define MR 12
#define NR 32
#define KC 256

size_t kcv_gemm_packed_b_floats(int64_t k, int64_t n)
{
	return (size_t)k * (size_t)((n + NR - 1) / NR * NR);
}

size_t kcv_gemm_a_scratch_floats(void)
{
	return (size_t)MR * KC;
}

int kcv_gemm_fast(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
#else
	return 0;
#endif
}

/* B [K,N] (ldb) into NR-column panels: panel p holds rows k = 0..K-1 of
 * columns p*NR .. p*NR+NR-1, zero-padded past N. */
void kcv_gemm_pack_b(const float *b, int64_t ldb, int64_t k, int64_t n, float *packed)
{
	int64_t panels = (n + NR - 1) / NR;
	for (int64_t p = 0; p < panels; p++) {
		int64_t c0 = p * NR, w = n - c0 < NR ? n - c0 : NR;
		float *dst = packed + p * k * NR;
		for (int64_t kk = 0; kk < k; kk++, dst += NR) {
			memcpy(dst, b + kk * ldb + c0, (size_t)w * sizeof(float));
			if (w < NR)
				memset(dst + w, 0, (size_t)(NR - w) * sizeof(float));
		}
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* C tile [rows <= MR, cols <= NR] (+)= A (MR rows of kc, row stride lda) x
 * Bp (kc x NR, packed); `add` adds to C (the later K slices). */
__attribute__((target("avx512f"))) static void kernel_12x32(int64_t kc, const float *ap, int64_t lda,
                                                            const float *bp, float *c,
                                                            int64_t ldc, int rows, int cols,
                                                            int add)
{
	__m512 acc[MR][2];
	for (int i = 0; i < MR; i++)
		acc[i][0] = acc[i][1] = _mm512_setzero_ps();
	for (int64_t k = 0; k < kc; k++) {
		__m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
		for (int i = 0; i < MR; i++) {
			__m512 a = _mm512_set1_ps(ap[i * lda + k]);
			acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
			acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
		}
		bp += NR;
	}
	__mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
	__mmask16 m1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
	for (int i = 0; i < rows; i++) {
		float *ci = c + i * ldc;
		if (add) {
			acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(m0, ci));
			acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(m1, ci + 16));
		}
		_mm512_mask_storeu_ps(ci, m0, acc[i][0]);
		_mm512_mask_storeu_ps(ci + 16, m1, acc[i][1]);
	}
}

/* The last, short block of rows: copied with zero rows up to MR. */
static void pack_rows(const float *a, int64_t lda, int rows, int64_t kc, float *dst)
{
	for (int i = 0; i < MR; i++)
		for (int64_t k = 0; k < kc; k++)
			dst[i * kc + k] = i < rows ? a[i * lda + k] : 0.0f;
}

static void gemm_avx512(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                        const float *bpacked, float *c, int64_t ldc, float *ascratch)
{
	int64_t panels = (n + NR - 1) / NR;
	for (int64_t i0 = 0; i0 < m; i0 += MR) {
		int rows = (int)(m - i0 < MR ? m - i0 : MR);
		for (int64_t k0 = 0; k0 < k; k0 += KC) {
			int64_t kc = k - k0 < KC ? k - k0 : KC;
			const float *ablk = a + i0 * lda + k0;
			int64_t alda = lda;
			if (rows < MR) { /* the last rows: pad with zeros */
				pack_rows(a + i0 * lda + k0, lda, rows, kc, ascratch);
				ablk = ascratch;
				alda = kc;
			}
			for (int64_t p = 0; p < panels; p++) {
				int64_t c0 = p * NR;
				int cols = (int)(n - c0 < NR ? n - c0 : NR);
				kernel_12x32(kc, ablk, alda, bpacked + p * k * NR + k0 * NR, c + i0 * ldc + c0,
				             ldc, rows, cols, k0 > 0);
			}
		}
	}
}
#endif

void kcv_gemm_nn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                 int64_t ldb, const float *bpacked, float *c, int64_t ldc, float *ascratch)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (bpacked) {
		gemm_avx512(m, n, k, a, lda, bpacked, c, ldc, ascratch);
		return;
	}
#else
	(void)bpacked;
	(void)ascratch;
#endif
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)m, (blasint)n, (blasint)k,
	            1.0f, a, (blasint)lda, b, (blasint)ldb, 0.0f, c, (blasint)ldc);
}
