/*
** linalg.c: dot products, matrix products (CBLAS gemm) and dense solves
** and inverses (LAPACKE gesv, getrf, getri, gecon).
*/
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/linalg.h"
#include "ops_internal.h"
#include "tensor_iter.h"

enum { BLOCK = 16384 };

/* Items of a batched product below this many multiply-adds each are
** spread over OpenMP threads; larger ones use BLAS's own threads. */
#define SMALL_GEMM ((int64_t)1 << 18)


/* ---------------------------------------------------------------------
** Dot product
** ------------------------------------------------------------------- */

static double dot_run(kubo_dtype dtype, const void *a, const void *b,
                      int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  if (dtype == KUBO_FLOAT64) {
    const double *x = a, *y = b;
    for (; i + 4 <= n; i += 4) {
      s0 += x[i] * y[i];
      s1 += x[i + 1] * y[i + 1];
      s2 += x[i + 2] * y[i + 2];
      s3 += x[i + 3] * y[i + 3];
    }
    for (; i < n; i++) s0 += x[i] * y[i];
  } else {
    const float *x = a, *y = b;
    for (; i + 4 <= n; i += 4) {
      s0 += (double)x[i] * y[i];
      s1 += (double)x[i + 1] * y[i + 1];
      s2 += (double)x[i + 2] * y[i + 2];
      s3 += (double)x[i + 3] * y[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i] * y[i];
  }
  return (s0 + s1) + (s2 + s3);
}


kubo_status kubo_linalg_dot(const kubo_tensor *a, const kubo_tensor *b,
                            double *result) {
  char s1[160], s2[160];
  int64_t n;
  kubo_status st = kubo_ops_check_input(a, "dot", "first operand");
  if (st == KUBO_OK) st = kubo_ops_check_input(b, "dot", "second operand");
  if (st == KUBO_OK) st = kubo_ops_check_dtypes(a, b, "dot");
  if (st != KUBO_OK) return st;
  if (!kubo_tensor_same_shape(a, b))
    return kubo_error_set(KUBO_EINVAL, "dot: shapes %s and %s differ",
                          kubo_tensor_shape_string(a, s1, sizeof s1),
                          kubo_tensor_shape_string(b, s2, sizeof s2));
  n = kubo_tensor_numel(a);

  if (kubo_tensor_is_contiguous(a) && kubo_tensor_is_contiguous(b)) {
    int64_t nblocks = (n + BLOCK - 1) / BLOCK;
    size_t esize = kubo_dtype_size(a->dtype);
    double sum = 0, part[64];
    /* fixed blocks, summed in order in groups of 64 */
    for (int64_t g = 0; g < nblocks; g += 64) {
      int64_t count = nblocks - g < 64 ? nblocks - g : 64;
      #pragma omp parallel for schedule(static) if (count > 4)
      for (int64_t j = 0; j < count; j++) {
        int64_t lo = (g + j) * BLOCK, len = n - lo < BLOCK ? n - lo : BLOCK;
        part[j] = dot_run(a->dtype, (const char *)a->data + lo * esize,
                          (const char *)b->data + lo * esize, len);
      }
      for (int64_t j = 0; j < count; j++) sum += part[j];
    }
    *result = sum;
    return KUBO_OK;
  }

  kubo_iter ia, ib;
  double sum = 0;
  kubo_iter_init(&ia, a);
  kubo_iter_init(&ib, b);
  for (int64_t i = 0; i < n; i++) {
    sum += kubo_iter_read(&ia, a) * kubo_iter_read(&ib, b);
    kubo_iter_step(&ia, a);
    kubo_iter_step(&ib, b);
  }
  *result = sum;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Matrix product
** ------------------------------------------------------------------- */

/* One operand of a (batched) product, described in BLAS terms. */
typedef struct operand {
  const kubo_tensor *t;
  bool batched;             /* 3-D: one matrix per batch item */
  int64_t batch, rows, cols;
  int64_t batch_stride;     /* in elements */
  int64_t row_stride, col_stride;
  CBLAS_TRANSPOSE trans;
  int64_t ld;
} operand;


/* Reads t as a matrix: 1-D as a row (left operand) or a column (right
** operand), 3-D as a batch of matrices. */
static void read_operand(operand *o, const kubo_tensor *t, bool left) {
  int first = t->ndim == 3 ? 1 : 0;
  memset(o, 0, sizeof *o);
  o->t = t;
  o->batched = t->ndim == 3;
  o->batch = o->batched ? t->shape[0] : 1;
  o->batch_stride = o->batched ? t->stride[0] : 0;
  if (t->ndim == 1 && left) {
    o->rows = 1;
    o->cols = t->shape[0];
    o->row_stride = t->shape[0];
    o->col_stride = t->stride[0];
  } else if (t->ndim == 1) {
    o->rows = t->shape[0];
    o->cols = 1;
    o->row_stride = t->stride[0];
    o->col_stride = 1;
  } else {
    o->rows = t->shape[first];
    o->cols = t->shape[first + 1];
    o->row_stride = t->stride[first];
    o->col_stride = t->stride[first + 1];
  }
}


static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }


/* Finds a BLAS layout for o's matrices: row-major with unit column
** stride (no transpose), or unit row stride (the transpose is stored).
** A stride along a dimension of size 1 never matters. */
static bool blas_layout(operand *o) {
  int64_t r = o->rows, c = o->cols;
  if ((c == 1 || o->col_stride == 1) &&
      (r == 1 || o->row_stride >= max64(1, c))) {
    o->trans = CblasNoTrans;
    o->ld = r == 1 ? max64(1, c) : o->row_stride;
  } else if ((r == 1 || o->row_stride == 1) &&
             (c == 1 || o->col_stride >= max64(1, r))) {
    o->trans = CblasTrans;
    o->ld = c == 1 ? max64(1, r) : o->col_stride;
  } else {
    return false;
  }
  return o->ld <= INT_MAX;
}


static void gemm(kubo_dtype dtype, const operand *a, const operand *b,
                 int64_t m, int64_t n, int64_t k, const void *pa,
                 const void *pb, void *pc) {
  if (dtype == KUBO_FLOAT64)
    cblas_dgemm(CblasRowMajor, a->trans, b->trans, (int)m, (int)n, (int)k,
                1.0, pa, (int)a->ld, pb, (int)b->ld, 0.0, pc,
                (int)max64(1, n));
  else
    cblas_sgemm(CblasRowMajor, a->trans, b->trans, (int)m, (int)n, (int)k,
                1.0f, pa, (int)a->ld, pb, (int)b->ld, 0.0f, pc,
                (int)max64(1, n));
}


/* Runs the product of checked operands into the contiguous out. */
static void matmul_run(kubo_tensor *out, const operand *a,
                       const operand *b, int64_t batch) {
  int64_t m = a->rows, k = a->cols, n = b->cols;
  size_t esize = kubo_dtype_size(out->dtype);
  const char *pa = a->t->data, *pb = b->t->data;
  char *pc = out->data;

  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {
    kubo_tensor_fill(out, 0);
    return;
  }
  /* A batch of a times one b whose rows follow each other in memory is
  ** one product with batch * m rows. */
  if (batch > 1 && a->batched && !b->batched && a->trans == CblasNoTrans &&
      a->batch_stride == m * a->ld && batch * m <= INT_MAX) {
    gemm(out->dtype, a, b, batch * m, n, k, pa, pb, pc);
    return;
  }
  #pragma omp parallel for schedule(static) \
      if (batch > 1 && m * n * k <= SMALL_GEMM)
  for (int64_t i = 0; i < batch; i++)
    gemm(out->dtype, a, b, m, n, k, pa + i * a->batch_stride * esize,
         pb + i * b->batch_stride * esize, pc + i * m * n * esize);
}


/* Copies t to a contiguous temporary when its layout does not suit BLAS
** and reads the operand again from the copy. */
static kubo_status make_blas_ready(operand *o, kubo_tensor *tmp,
                                   bool left) {
  kubo_status st;
  if (blas_layout(o)) return KUBO_OK;
  st = kubo_tensor_clone(tmp, o->t, -1);
  if (st != KUBO_OK) return st;
  read_operand(o, tmp, left);
  if (!blas_layout(o))
    return kubo_error_set(KUBO_EINVAL, "matmul: a row of %lld elements "
                          "exceeds BLAS's 32-bit sizes",
                          (long long)o->cols);
  return KUBO_OK;
}


kubo_status kubo_linalg_matmul(kubo_tensor *out, const kubo_tensor *a,
                               const kubo_tensor *b) {
  operand oa, ob;
  kubo_tensor ta = {0}, tb = {0}, like = {0};
  int64_t batch;
  char s1[160], s2[160];
  bool created = false;
  kubo_status st = kubo_ops_check_input(a, "matmul", "first operand");
  if (st == KUBO_OK) st = kubo_ops_check_input(b, "matmul", "second operand");
  if (st == KUBO_OK) st = kubo_ops_check_dtypes(a, b, "matmul");
  if (st != KUBO_OK) return st;
  kubo_tensor_shape_string(a, s1, sizeof s1);
  kubo_tensor_shape_string(b, s2, sizeof s2);
  if (a->ndim < 1 || a->ndim > 3 || b->ndim < 1 || b->ndim > 3 ||
      (a->ndim == 1 && b->ndim == 1))
    return kubo_error_set(KUBO_EINVAL, "matmul: cannot multiply shapes %s "
                          "and %s (each needs 1 to 3 dimensions, not both "
                          "1; use dot for two vectors)", s1, s2);

  read_operand(&oa, a, true);
  read_operand(&ob, b, false);
  if (oa.cols != ob.rows)
    return kubo_error_set(KUBO_EINVAL, "matmul: inner sizes differ: %s "
                          "times %s (%lld columns against %lld rows)", s1,
                          s2, (long long)oa.cols, (long long)ob.rows);
  if (oa.batched && ob.batched && oa.batch != ob.batch)
    return kubo_error_set(KUBO_EINVAL, "matmul: batch sizes differ: %s "
                          "times %s", s1, s2);
  if (oa.rows > INT_MAX || oa.cols > INT_MAX || ob.cols > INT_MAX)
    return kubo_error_set(KUBO_EINVAL, "matmul: a size of %s or %s "
                          "exceeds BLAS's 32-bit sizes", s1, s2);
  batch = oa.batched ? oa.batch : ob.batch;

  /* the result's shape, described by a tensor header without storage */
  if (oa.batched || ob.batched) like.shape[like.ndim++] = batch;
  if (a->ndim != 1) like.shape[like.ndim++] = oa.rows;
  if (b->ndim != 1) like.shape[like.ndim++] = ob.cols;
  if (out->storage != NULL &&
      (out->storage == a->storage || out->storage == b->storage))
    return kubo_error_set(KUBO_EINVAL, "matmul: output shares storage "
                          "with an operand");
  st = kubo_ops_prepare_out(out, &like, a->dtype, "matmul", &created);
  if (st != KUBO_OK) return st;
  if (!kubo_tensor_is_contiguous(out)) {
    st = kubo_error_set(KUBO_EINVAL, "matmul: output is not contiguous");
    goto done;
  }

  st = make_blas_ready(&oa, &ta, true);
  if (st == KUBO_OK) st = make_blas_ready(&ob, &tb, false);
  if (st == KUBO_OK) matmul_run(out, &oa, &ob, batch);

done:
  kubo_tensor_release(&ta);
  kubo_tensor_release(&tb);
  if (st != KUBO_OK && created) kubo_tensor_release(out);
  return st;
}


/* ---------------------------------------------------------------------
** Solve and inverse
** ------------------------------------------------------------------- */

static kubo_status check_square(const kubo_tensor *a, const char *fn) {
  char s[160];
  if (a->ndim != 2 || a->shape[0] != a->shape[1])
    return kubo_error_set(KUBO_EINVAL, "%s: matrix must be square (n, n), "
                          "got shape %s", fn,
                          kubo_tensor_shape_string(a, s, sizeof s));
  if (a->shape[0] > INT_MAX)
    return kubo_error_set(KUBO_EINVAL, "%s: matrix of size %lld exceeds "
                          "LAPACK's 32-bit sizes", fn,
                          (long long)a->shape[0]);
  return KUBO_OK;
}


static kubo_status check_finite(const kubo_tensor *c, const char *fn,
                                const char *name) {
  int64_t n = kubo_tensor_numel(c);
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(kubo_tensor_at(c, i)))
      return kubo_error_set(KUBO_ENUMERIC, "%s: %s contains NaN or Inf "
                            "(element %lld in row-major order)", fn, name,
                            (long long)i + 1);
  return KUBO_OK;
}


/* Turns a getrf/gesv info code into a status. */
static kubo_status check_info(lapack_int info, const char *fn,
                              const char *routine) {
  if (info > 0)
    return kubo_error_set(KUBO_ENUMERIC, "%s: matrix is singular: pivot %d "
                          "of its LU factorisation is exactly zero "
                          "(U(%d, %d) = 0)", fn, (int)info, (int)info,
                          (int)info);
  if (info == LAPACK_WORK_MEMORY_ERROR ||
      info == LAPACK_TRANSPOSE_MEMORY_ERROR)
    return kubo_error_set(KUBO_ENOMEM, "%s: LAPACK %s ran out of memory",
                          fn, routine);
  if (info < 0)
    return kubo_error_set(KUBO_EINVAL, "%s: LAPACK %s rejected argument %d",
                          fn, routine, (int)-info);
  return KUBO_OK;
}


/* Fails if the LU factors lu (n, n) of a matrix with 1-norm anorm have a
** reciprocal condition number below the dtype's machine epsilon. */
static kubo_status check_condition(const kubo_tensor *lu, double anorm,
                                   const char *fn) {
  lapack_int n = (lapack_int)lu->shape[0], info;
  double rcond, eps, smallest = INFINITY;
  int64_t at = 0;
  if (lu->dtype == KUBO_FLOAT64) {
    info = LAPACKE_dgecon(LAPACK_ROW_MAJOR, '1', n, lu->data, n, anorm,
                          &rcond);
    eps = DBL_EPSILON;
  } else {
    float rc = 0;
    info = LAPACKE_sgecon(LAPACK_ROW_MAJOR, '1', n, lu->data, n,
                          (float)anorm, &rc);
    rcond = rc;
    eps = FLT_EPSILON;
  }
  if (info != 0) return check_info(info, fn, "gecon");
  if (rcond >= eps) return KUBO_OK;
  for (int64_t i = 0; i < n; i++) {
    double u = fabs(kubo_tensor_at(lu, i * n + i));
    if (u < smallest) {
      smallest = u;
      at = i;
    }
  }
  return kubo_error_set(KUBO_ENUMERIC, "%s: matrix is singular to working "
                        "precision: reciprocal condition number %.3g is "
                        "below %s epsilon %.3g (smallest pivot |U(%lld, "
                        "%lld)| = %.3g)", fn, rcond,
                        kubo_dtype_name(lu->dtype), eps, (long long)at + 1,
                        (long long)at + 1, smallest);
}


static double norm1(const kubo_tensor *a) {
  lapack_int n = (lapack_int)a->shape[0];
  if (a->dtype == KUBO_FLOAT64)
    return LAPACKE_dlange(LAPACK_ROW_MAJOR, '1', n, n, a->data, n);
  return LAPACKE_slange(LAPACK_ROW_MAJOR, '1', n, n, a->data, n);
}


kubo_status kubo_linalg_solve(kubo_tensor *x, const kubo_tensor *a,
                              const kubo_tensor *b) {
  kubo_tensor lu = {0};
  lapack_int *ipiv = NULL, n, nrhs, info;
  char s1[160], s2[160];
  double anorm;
  kubo_status st = kubo_ops_check_input(a, "solve", "matrix");
  if (st == KUBO_OK) st = kubo_ops_check_input(b, "solve", "right side");
  if (st == KUBO_OK) st = kubo_ops_check_dtypes(a, b, "solve");
  if (st == KUBO_OK) st = check_square(a, "solve");
  if (st != KUBO_OK) return st;
  if (x->storage != NULL)
    return kubo_error_set(KUBO_EINVAL, "solve: output must be empty");
  if ((b->ndim != 1 && b->ndim != 2) || b->shape[0] != a->shape[0] ||
      (b->ndim == 2 && b->shape[1] > INT_MAX))
    return kubo_error_set(KUBO_EINVAL, "solve: right side of shape %s does "
                          "not fit matrix %s (expected (%lld) or (%lld, "
                          "nrhs))", kubo_tensor_shape_string(b, s1, sizeof s1),
                          kubo_tensor_shape_string(a, s2, sizeof s2),
                          (long long)a->shape[0], (long long)a->shape[0]);
  n = (lapack_int)a->shape[0];
  nrhs = b->ndim == 2 ? (lapack_int)b->shape[1] : 1;

  st = kubo_tensor_clone(x, b, -1);
  if (st == KUBO_OK) st = kubo_tensor_clone(&lu, a, -1);
  if (st == KUBO_OK) st = check_finite(&lu, "solve", "matrix");
  if (st == KUBO_OK) st = check_finite(x, "solve", "right side");
  if (st != KUBO_OK || n == 0 || nrhs == 0) goto done;
  ipiv = kubo_alloc((size_t)n * sizeof *ipiv);
  if (ipiv == NULL) {
    st = KUBO_ENOMEM;
    goto done;
  }

  anorm = norm1(&lu);
  if (a->dtype == KUBO_FLOAT64)
    info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, nrhs, lu.data, n, ipiv,
                         x->data, nrhs);
  else
    info = LAPACKE_sgesv(LAPACK_ROW_MAJOR, n, nrhs, lu.data, n, ipiv,
                         x->data, nrhs);
  st = check_info(info, "solve", "gesv");
  if (st == KUBO_OK) st = check_condition(&lu, anorm, "solve");

done:
  kubo_free(ipiv, (size_t)n * sizeof *ipiv);
  kubo_tensor_release(&lu);
  if (st != KUBO_OK) kubo_tensor_release(x);
  return st;
}


kubo_status kubo_linalg_inv(kubo_tensor *out, const kubo_tensor *a) {
  lapack_int *ipiv = NULL, n, info;
  double anorm;
  kubo_status st = kubo_ops_check_input(a, "inv", "matrix");
  if (st == KUBO_OK) st = check_square(a, "inv");
  if (st != KUBO_OK) return st;
  if (out->storage != NULL)
    return kubo_error_set(KUBO_EINVAL, "inv: output must be empty");
  n = (lapack_int)a->shape[0];

  st = kubo_tensor_clone(out, a, -1);
  if (st == KUBO_OK) st = check_finite(out, "inv", "matrix");
  if (st != KUBO_OK || n == 0) goto done;
  ipiv = kubo_alloc((size_t)n * sizeof *ipiv);
  if (ipiv == NULL) {
    st = KUBO_ENOMEM;
    goto done;
  }

  anorm = norm1(out);
  if (a->dtype == KUBO_FLOAT64)
    info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, out->data, n, ipiv);
  else
    info = LAPACKE_sgetrf(LAPACK_ROW_MAJOR, n, n, out->data, n, ipiv);
  st = check_info(info, "inv", "getrf");
  if (st == KUBO_OK) st = check_condition(out, anorm, "inv");
  if (st != KUBO_OK) goto done;
  if (a->dtype == KUBO_FLOAT64)
    info = LAPACKE_dgetri(LAPACK_ROW_MAJOR, n, out->data, n, ipiv);
  else
    info = LAPACKE_sgetri(LAPACK_ROW_MAJOR, n, out->data, n, ipiv);
  st = check_info(info, "inv", "getri");

done:
  kubo_free(ipiv, (size_t)n * sizeof *ipiv);
  if (st != KUBO_OK) kubo_tensor_release(out);
  return st;
}
