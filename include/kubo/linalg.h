/*
** linalg.h: inner products, matrix products and dense solves through
** CBLAS and LAPACKE (OpenBLAS).
**
** Operands of one call must share a dtype (float64 or float32); a mix
** fails with KUBO_EINVAL. Matrices are row-major. Inputs may be strided
** views: a transposed matrix goes to BLAS as a transposed operand without
** a copy, and any other layout is copied to a contiguous temporary.
*/
#ifndef KUBO_LINALG_H
#define KUBO_LINALG_H

#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets *result to the sum of a[i] * b[i] over all elements of two
** tensors of the same shape (for vectors, the dot product), accumulated
** in double in a fixed order. Fails with KUBO_EINVAL if the shapes or
** dtypes differ. */
kubo_status kubo_linalg_dot(const kubo_tensor *a, const kubo_tensor *b,
                            double *result);

/* Matrix product out = a b with these shapes:
**   (m, k) x (k, n) -> (m, n)         (m, k) x (k) -> (m)
**   (k) x (k, n) -> (n)
**   (batch, m, k) x (batch, k, n) -> (batch, m, n)
**   (batch, m, k) x (k, n) -> (batch, m, n)   (one b for every item)
**   (m, k) x (batch, k, n) -> (batch, m, n)   (one a for every item)
**   (batch, m, k) x (k) -> (batch, m)
** out is created if empty. Otherwise it is overwritten, so it must be a
** contiguous tensor of the result's shape and dtype that shares no
** storage with a or b. Fails with KUBO_EINVAL on other shapes, mismatched
** inner or batch sizes, sizes beyond BLAS's 32-bit integers or mixed
** dtypes, and with KUBO_ENOMEM if a copy cannot be made. */
kubo_status kubo_linalg_matmul(kubo_tensor *out, const kubo_tensor *a,
                               const kubo_tensor *b);

/* Solves a x = b for x by LU factorisation with partial pivoting
** (LAPACK gesv). a is (n, n); b is (n) or (n, nrhs); x is created with
** b's shape (it must be empty). a and b are not modified. Fails with
** KUBO_ENUMERIC if a is singular, and the message names the zero pivot.
** It also fails so if a is singular to working precision (reciprocal
** condition number below the dtype's machine epsilon) or if a or b
** contains NaN or Inf. Fails with KUBO_EINVAL on bad shapes or mixed
** dtypes. */
kubo_status kubo_linalg_solve(kubo_tensor *x, const kubo_tensor *a,
                              const kubo_tensor *b);

/* Computes the inverse of the (n, n) matrix a into a new tensor out (it
** must be empty), by LAPACK getrf and getri. Fails as kubo_linalg_solve
** for a singular matrix. */
kubo_status kubo_linalg_inv(kubo_tensor *out, const kubo_tensor *a);

#ifdef __cplusplus
}
#endif

#endif
