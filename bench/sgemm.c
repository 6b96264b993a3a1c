/* OpenBLAS sgemm GFLOP/s on large square matrices (the float32 reference
 * for the convolution kernels). Usage: sgemm N THREADS REPEAT */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4096, threads = argc > 2 ? atoi(argv[2]) : 2;
	int repeat = argc > 3 ? atoi(argv[3]) : 5;
	openblas_set_num_threads(threads);
	float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
	      *c = malloc(sizeof(float) * n * n);
	if (!a || !b || !c)
		return 1;
	for (long i = 0; i < (long)n * n; i++) {
		a[i] = (float)(i % 7) * 0.1f;
		b[i] = (float)(i % 5) * 0.1f;
		c[i] = 0;
	}
	double best = 1e30;
	for (int r = 0; r < repeat + 1; r++) {
		double t0 = now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
		double t = now() - t0;
		if (r > 0 && t < best)
			best = t;
	}
	printf("{\"n\": %d, \"threads\": %d, \"gflops\": %.1f}\n", n, threads,
	       2.0 * n * (double)n * n / best * 1e-9);
	free(a);
	free(b);
	free(c);
	return 0;
}
