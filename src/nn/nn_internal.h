/*
** nn_internal.h: helpers shared by the files of src/nn (not installed).
*/
#ifndef KUBO_NN_INTERNAL_H
#define KUBO_NN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Elementwise loops shorter than this run on one thread: below it the
** cost of waking the OpenMP team exceeds the work. */
#define NN_PARALLEL_MIN 32768

/* Row-major cblas_sgemm, C = alpha op(A) op(B) + beta C with op(A) of
** size (m, k) and op(B) of size (k, n), timed for the profile. Every
** size must fit in an int (the callers' shapes guarantee it). */
void nn_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda, const float *b,
              int64_t ldb, float beta, float *c, int64_t ldc);

#endif
