/*
** test_tensor_ops.c: elementwise arithmetic, broadcasting, reductions,
** comparisons and ranges, each against a naive loop over the elements.
*/
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/tensor.h"
#include "kubo/tensor_ops.h"


/* Fills t with reproducible values in [lo, lo + 2) from a 64-bit LCG. */
static void fill_values(kubo_tensor *t, uint64_t seed, double lo) {
  int64_t n = kubo_tensor_numel(t);
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int64_t i = 0; i < n; i++) {
    double v;
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    v = lo + 2.0 * (double)(s >> 11) / 9007199254740992.0;
    if (t->dtype == KUBO_FLOAT64)
      ((double *)t->data)[i] = v;
    else
      ((float *)t->data)[i] = (float)v;
  }
}


static kubo_tensor make(kubo_dtype dtype, int ndim, const int64_t *shape,
                        uint64_t seed, double lo) {
  kubo_tensor t;
  CHECK_OK(kubo_tensor_init(&t, dtype, ndim, shape));
  fill_values(&t, seed, lo);
  return t;
}


static double naive_binary(kubo_binary_op op, double x, double y) {
  switch (op) {
  case KUBO_OP_ADD: return x + y;
  case KUBO_OP_SUB: return x - y;
  case KUBO_OP_MUL: return x * y;
  case KUBO_OP_DIV: return x / y;
  case KUBO_OP_POW: return pow(x, y);
  case KUBO_OP_MINIMUM: return x < y ? x : y;
  case KUBO_OP_MAXIMUM: return x > y ? x : y;
  }
  return NAN;
}


/* Largest |got - want| / (1 + |want|) over the elements of contiguous
** got against want computed per element by the caller. */
static double max_rel_error(const kubo_tensor *got, const double *want) {
  double worst = 0;
  int64_t n = kubo_tensor_numel(got);
  for (int64_t i = 0; i < n; i++) {
    double e = fabs(kubo_tensor_at(got, i) - want[i]) / (1 + fabs(want[i]));
    if (!(e <= worst)) worst = e;
  }
  return worst;
}


/* Checks out = a op b for a of shape ashape against b of shape bshape
** (b the trailing shape of a), with b on the right and on the left. */
static void check_broadcast(kubo_dtype dtype, kubo_binary_op op, int andim,
                            const int64_t *ashape, int bndim,
                            const int64_t *bshape) {
  double tol = dtype == KUBO_FLOAT64 ? 1e-15 : 1e-6;
  kubo_tensor a = make(dtype, andim, ashape, 1, 0.5);
  kubo_tensor b = make(dtype, bndim, bshape, 2, 0.5);
  kubo_tensor r1 = {0}, r2 = {0};
  int64_t n = kubo_tensor_numel(&a), m = kubo_tensor_numel(&b);
  double *want1 = kubo_alloc((size_t)n * sizeof(double));
  double *want2 = kubo_alloc((size_t)n * sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    double x = kubo_tensor_at(&a, i), y = kubo_tensor_at(&b, i % m);
    want1[i] = naive_binary(op, x, y);
    want2[i] = naive_binary(op, y, x);
  }
  CHECK_OK(kubo_tensor_binary(&r1, &a, op, &b));
  CHECK_OK(kubo_tensor_binary(&r2, &b, op, &a));
  CHECK(kubo_tensor_same_shape(&r1, &a));
  CHECK(kubo_tensor_same_shape(&r2, &a));
  CHECK(r1.dtype == dtype);
  CHECK(max_rel_error(&r1, want1) <= tol);
  CHECK(max_rel_error(&r2, want2) <= tol);

  /* in place: a op= b */
  CHECK_OK(kubo_tensor_binary(&a, &a, op, &b));
  CHECK(max_rel_error(&a, want1) <= tol);

  kubo_free(want1, (size_t)n * sizeof(double));
  kubo_free(want2, (size_t)n * sizeof(double));
  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&r1);
  kubo_tensor_release(&r2);
}


static void test_binary_broadcast(void) {
  int64_t s234[3] = {2, 3, 4}, s4[1] = {4}, s34[2] = {3, 4};
  int64_t big[2] = {300, 1000}, row[1] = {1000};
  int64_t wide[2] = {40, 5000}, wrow[1] = {5000};
  int64_t flat[1] = {200000};
  for (int d = 0; d < 2; d++) {
    kubo_dtype dtype = d == 0 ? KUBO_FLOAT64 : KUBO_FLOAT32;
    for (int op = KUBO_OP_ADD; op <= KUBO_OP_MAXIMUM; op++) {
      check_broadcast(dtype, op, 3, s234, 3, s234);
      check_broadcast(dtype, op, 3, s234, 1, s4);
      check_broadcast(dtype, op, 3, s234, 2, s34);
      check_broadcast(dtype, op, 3, s234, 0, NULL);
      check_broadcast(dtype, op, 2, big, 1, row);
      check_broadcast(dtype, op, 2, wide, 1, wrow);
      check_broadcast(dtype, op, 1, flat, 1, flat);
    }
  }
}


static void test_binary_scalar(void) {
  int64_t shape[2] = {50, 700};
  for (int d = 0; d < 2; d++) {
    kubo_dtype dtype = d == 0 ? KUBO_FLOAT64 : KUBO_FLOAT32;
    double tol = d == 0 ? 1e-15 : 1e-6;
    kubo_tensor a = make(dtype, 2, shape, 3, 0.5);
    int64_t n = kubo_tensor_numel(&a);
    double *w1 = kubo_alloc((size_t)n * sizeof(double));
    double *w2 = kubo_alloc((size_t)n * sizeof(double));
    for (int op = KUBO_OP_ADD; op <= KUBO_OP_MAXIMUM; op++) {
      kubo_tensor r1 = {0}, r2 = {0};
      double s = 1.25;
      for (int64_t i = 0; i < n; i++) {
        w1[i] = naive_binary(op, kubo_tensor_at(&a, i), s);
        w2[i] = naive_binary(op, s, kubo_tensor_at(&a, i));
      }
      CHECK_OK(kubo_tensor_binary_scalar(&r1, &a, op, s));
      CHECK_OK(kubo_tensor_scalar_binary(&r2, s, op, &a));
      CHECK(max_rel_error(&r1, w1) <= tol);
      CHECK(max_rel_error(&r2, w2) <= tol);
      kubo_tensor_release(&r1);
      kubo_tensor_release(&r2);
    }
    kubo_free(w1, (size_t)n * sizeof(double));
    kubo_free(w2, (size_t)n * sizeof(double));
    kubo_tensor_release(&a);
  }
}


/* Strided operands and outputs, and an operand that aliases the output. */
static void test_binary_views(void) {
  int64_t shape[2] = {3, 4};
  kubo_tensor a = make(KUBO_FLOAT64, 2, shape, 4, -1), at = {0}, r = {0};
  kubo_tensor row = {0}, copy = {0}, col = {0};
  double want[12];

  /* transpose(a) + transpose(a) from a strided view */
  CHECK_OK(kubo_tensor_transpose(&at, &a, 0, 1));
  CHECK_OK(kubo_tensor_binary(&r, &at, KUBO_OP_ADD, &at));
  CHECK(r.shape[0] == 4);
  CHECK(r.shape[1] == 3);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++)
      CHECK_NEAR(kubo_tensor_at(&r, i * 3 + j),
                 2 * kubo_tensor_at(&a, j * 4 + i), 0);
  kubo_tensor_release(&r);

  /* a += a[0] (the row aliases the output): as if the row were copied */
  CHECK_OK(kubo_tensor_clone(&copy, &a, -1));
  CHECK_OK(kubo_tensor_select(&row, &a, 0, 0));
  for (int i = 0; i < 12; i++)
    want[i] = kubo_tensor_at(&copy, i) + kubo_tensor_at(&copy, i % 4);
  CHECK_OK(kubo_tensor_binary(&a, &a, KUBO_OP_ADD, &row));
  CHECK(max_rel_error(&a, want) == 0);

  /* write into a strided output: column 2 of a times 10 */
  CHECK_OK(kubo_tensor_select(&col, &a, 1, 1));
  CHECK_OK(kubo_tensor_binary_scalar(&col, &col, KUBO_OP_MUL, 10));
  for (int i = 0; i < 3; i++) want[i * 4 + 1] *= 10;
  CHECK(max_rel_error(&a, want) == 0);

  kubo_tensor_release(&at);
  kubo_tensor_release(&row);
  kubo_tensor_release(&col);
  kubo_tensor_release(&copy);
  kubo_tensor_release(&a);
}


static void test_binary_errors(void) {
  int64_t s234[3] = {2, 3, 4}, s3[1] = {3}, s24[2] = {2, 4};
  kubo_tensor a = make(KUBO_FLOAT64, 3, s234, 5, 0);
  kubo_tensor b = make(KUBO_FLOAT64, 1, s3, 6, 0);
  kubo_tensor c = make(KUBO_FLOAT32, 3, s234, 7, 0);
  kubo_tensor d = make(KUBO_FLOAT64, 2, s24, 8, 0);
  kubo_tensor r = {0}, empty = {0};
  int64_t before = kubo_alloc_live_bytes();

  CHECK(kubo_tensor_binary(&r, &a, KUBO_OP_ADD, &b) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "do not match") != NULL);
  CHECK(kubo_tensor_is_empty(&r));
  /* mixed dtypes are an error, not a silent promotion */
  CHECK(kubo_tensor_binary(&r, &a, KUBO_OP_MUL, &c) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "dtypes differ") != NULL);
  CHECK(kubo_tensor_axpy(&a, 2, &c) == KUBO_EINVAL);
  /* existing output of the wrong shape is left alone */
  CHECK(kubo_tensor_binary(&d, &a, KUBO_OP_ADD, &a) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "output has shape") != NULL);
  CHECK(kubo_tensor_binary(&r, &a, KUBO_OP_ADD, &empty) == KUBO_ESTATE);
  CHECK(kubo_tensor_unary(&r, &empty, KUBO_OP_EXP) == KUBO_ESTATE);
  CHECK(kubo_tensor_clamp(&r, &a, 1, 0) == KUBO_EINVAL);
  CHECK(kubo_tensor_clamp(&r, &a, NAN, 0) == KUBO_EINVAL);
  CHECK(kubo_alloc_live_bytes() == before);

  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&c);
  kubo_tensor_release(&d);
}


static double naive_unary(kubo_unary_op op, double x) {
  switch (op) {
  case KUBO_OP_NEG: return -x;
  case KUBO_OP_ABS: return x < 0 ? -x : x;
  case KUBO_OP_EXP: return exp(x);
  case KUBO_OP_LOG: return log(x);
  case KUBO_OP_SQRT: return sqrt(x);
  case KUBO_OP_SIN: return sin(x);
  case KUBO_OP_COS: return cos(x);
  case KUBO_OP_TANH: return tanh(x);
  case KUBO_OP_SQUARE: return x * x;
  }
  return NAN;
}


static void test_unary(void) {
  int64_t shape[1] = {100000};
  for (int d = 0; d < 2; d++) {
    kubo_dtype dtype = d == 0 ? KUBO_FLOAT64 : KUBO_FLOAT32;
    double tol = d == 0 ? 1e-15 : 1e-6;
    kubo_tensor a = make(dtype, 1, shape, 9, 0.01);
    int64_t n = shape[0];
    double *want = kubo_alloc((size_t)n * sizeof(double));
    for (int op = KUBO_OP_NEG; op <= KUBO_OP_SQUARE; op++) {
      kubo_tensor r = {0};
      for (int64_t i = 0; i < n; i++)
        want[i] = naive_unary(op, kubo_tensor_at(&a, i));
      CHECK_OK(kubo_tensor_unary(&r, &a, op));
      CHECK(max_rel_error(&r, want) <= tol);
      kubo_tensor_release(&r);
    }
    /* clamp to [0.5, 1.5], in place */
    for (int64_t i = 0; i < n; i++) {
      double x = kubo_tensor_at(&a, i);
      want[i] = x < 0.5 ? 0.5 : (x > 1.5 ? 1.5 : x);
    }
    CHECK_OK(kubo_tensor_clamp(&a, &a, 0.5, 1.5));
    CHECK(max_rel_error(&a, want) == 0);
    kubo_free(want, (size_t)n * sizeof(double));
    kubo_tensor_release(&a);
  }
}


static void test_axpy(void) {
  int64_t s234[3] = {2, 3, 4}, s34[2] = {3, 4}, sbig[1] = {70000};
  for (int d = 0; d < 2; d++) {
    kubo_dtype dtype = d == 0 ? KUBO_FLOAT64 : KUBO_FLOAT32;
    double tol = d == 0 ? 1e-15 : 1e-6, want[24];
    kubo_tensor y = make(dtype, 3, s234, 10, -1);
    kubo_tensor x = make(dtype, 3, s234, 11, -1);
    kubo_tensor b = make(dtype, 2, s34, 12, -1);
    kubo_tensor yb = make(dtype, 1, sbig, 13, -1);
    kubo_tensor xb = make(dtype, 1, sbig, 14, -1);
    double *wb = kubo_alloc(70000 * sizeof(double));

    for (int i = 0; i < 24; i++)
      want[i] = kubo_tensor_at(&y, i) + 0.5 * kubo_tensor_at(&x, i);
    CHECK_OK(kubo_tensor_axpy(&y, 0.5, &x));
    CHECK(max_rel_error(&y, want) <= tol);

    for (int i = 0; i < 24; i++) want[i] += -2 * kubo_tensor_at(&b, i % 12);
    CHECK_OK(kubo_tensor_axpy(&y, -2, &b));
    CHECK(max_rel_error(&y, want) <= tol);

    for (int i = 0; i < 70000; i++)
      wb[i] = kubo_tensor_at(&yb, i) + 3 * kubo_tensor_at(&xb, i);
    CHECK_OK(kubo_tensor_axpy(&yb, 3, &xb));
    CHECK(max_rel_error(&yb, wb) <= tol);

    /* y += 2 y */
    for (int i = 0; i < 24; i++) want[i] *= 3;
    CHECK_OK(kubo_tensor_axpy(&y, 2, &y));
    CHECK(max_rel_error(&y, want) <= tol);

    kubo_free(wb, 70000 * sizeof(double));
    kubo_tensor_release(&y);
    kubo_tensor_release(&x);
    kubo_tensor_release(&b);
    kubo_tensor_release(&yb);
    kubo_tensor_release(&xb);
  }
}


/* ---------------------------------------------------------------------
** Reductions
** ------------------------------------------------------------------- */

/* Naive reduction of n values read with the given stride. */
static double naive_reduce(kubo_reduce_op op, const kubo_tensor *t,
                           int64_t first, int64_t n, int64_t stride) {
  double sum = 0, sq = 0, best = 0, mean, dev = 0;
  int64_t at = 0;
  for (int64_t k = 0; k < n; k++) {
    double v = kubo_tensor_at(t, first + k * stride);
    sum += v;
    sq += v * v;
    if (k == 0 || ((op == KUBO_REDUCE_MIN || op == KUBO_REDUCE_ARGMIN)
                       ? v < best : v > best)) {
      best = v;
      at = k;
    }
  }
  mean = sum / (double)n;
  for (int64_t k = 0; k < n; k++) {
    double v = kubo_tensor_at(t, first + k * stride) - mean;
    dev += v * v;
  }
  switch (op) {
  case KUBO_REDUCE_SUM: return sum;
  case KUBO_REDUCE_MEAN: return mean;
  case KUBO_REDUCE_VAR: return dev / (double)(n - 1);
  case KUBO_REDUCE_STD: return sqrt(dev / (double)(n - 1));
  case KUBO_REDUCE_MIN: case KUBO_REDUCE_MAX: return best;
  case KUBO_REDUCE_NORM: return sqrt(sq);
  case KUBO_REDUCE_ARGMIN: case KUBO_REDUCE_ARGMAX: return (double)at;
  }
  return NAN;
}


static void test_reduce_all(void) {
  int64_t small[3] = {3, 4, 5}, large[1] = {300001};
  for (int d = 0; d < 2; d++) {
    kubo_dtype dtype = d == 0 ? KUBO_FLOAT64 : KUBO_FLOAT32;
    for (int s = 0; s < 2; s++) {
      kubo_tensor t = s == 0 ? make(dtype, 3, small, 20, -1)
                             : make(dtype, 1, large, 21, -1);
      int64_t n = kubo_tensor_numel(&t);
      for (int op = KUBO_REDUCE_SUM; op <= KUBO_REDUCE_ARGMAX; op++) {
        double got = NAN, want = naive_reduce(op, &t, 0, n, 1);
        CHECK_OK(kubo_tensor_reduce(&t, op, &got));
        CHECK_NEAR(got, want, 1e-10 * (1 + fabs(want)));
      }
      kubo_tensor_release(&t);
    }
  }
}


static void test_reduce_dim(void) {
  int64_t shape[3] = {3, 4, 5};
  for (int d = 0; d < 2; d++) {
    kubo_dtype dtype = d == 0 ? KUBO_FLOAT64 : KUBO_FLOAT32;
    double tol = d == 0 ? 1e-13 : 1e-6;
    kubo_tensor t = make(dtype, 3, shape, 22, -1), tt = {0};
    for (int dim = 0; dim < 3; dim++) {
      for (int op = KUBO_REDUCE_SUM; op <= KUBO_REDUCE_ARGMAX; op++) {
        kubo_tensor r = {0};
        int64_t idx[3], k = 0;
        CHECK_OK(kubo_tensor_reduce_dim(&r, &t, op, dim));
        CHECK(r.ndim == 2);
        /* every other index combination is one output element */
        for (idx[0] = 0; idx[0] < 3; idx[0]++)
          for (idx[1] = 0; idx[1] < 4; idx[1]++)
            for (idx[2] = 0; idx[2] < 5; idx[2]++) {
              if (idx[dim] != 0) continue;
              double want = naive_reduce(op, &t, kubo_tensor_offset(&t, idx),
                                         shape[dim], t.stride[dim]);
              CHECK_NEAR(kubo_tensor_at(&r, k), want,
                         tol * (1 + fabs(want)));
              k++;
            }
        CHECK(k == kubo_tensor_numel(&r));
        kubo_tensor_release(&r);
      }
    }
    /* a strided input: the sum over dim 1 of the (5, 4, 3) transpose */
    CHECK_OK(kubo_tensor_transpose(&tt, &t, 0, 2));
    {
      kubo_tensor r = {0};
      CHECK_OK(kubo_tensor_reduce_dim(&r, &tt, KUBO_REDUCE_SUM, 1));
      CHECK(r.shape[0] == 5);
      CHECK(r.shape[1] == 3);
      for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) {
          double want = 0;
          for (int m = 0; m < 4; m++)
            want += kubo_tensor_at(&t, j * 20 + m * 5 + i);
          CHECK_NEAR(kubo_tensor_at(&r, i * 3 + j), want, tol);
        }
      kubo_tensor_release(&r);
    }
    kubo_tensor_release(&tt);
    kubo_tensor_release(&t);
  }
}


/* A large reduction along the leading dimension (the mean over ensemble
** members) uses the row-accumulating path with many column blocks. */
static void test_reduce_dim_large(void) {
  int64_t shape[2] = {17, 9000};
  kubo_tensor t = make(KUBO_FLOAT32, 2, shape, 23, -1), r = {0};
  CHECK_OK(kubo_tensor_reduce_dim(&r, &t, KUBO_REDUCE_STD, 0));
  for (int64_t j = 0; j < shape[1]; j += 997) {
    double want = naive_reduce(KUBO_REDUCE_STD, &t, j, 17, shape[1]);
    CHECK_NEAR(kubo_tensor_at(&r, j), want, 1e-6);
  }
  kubo_tensor_release(&r);
  kubo_tensor_release(&t);
}


static void test_reduce_special(void) {
  int64_t n5[1] = {5}, n0[1] = {0}, s20[2] = {2, 0}, n1[1] = {1};
  int64_t big[1] = {1000000};
  kubo_tensor t, e, e2, one, r = {0}, f;
  double v, v1, v2;

  /* NaN propagates through min and max; argmax finds the first max */
  CHECK_OK(kubo_tensor_init(&t, KUBO_FLOAT64, 1, n5));
  double vals[5] = {1, 7, 3, 7, -2};
  memcpy(t.data, vals, sizeof vals);
  CHECK_OK(kubo_tensor_reduce(&t, KUBO_REDUCE_ARGMAX, &v));
  CHECK(v == 1);
  CHECK_OK(kubo_tensor_reduce(&t, KUBO_REDUCE_ARGMIN, &v));
  CHECK(v == 4);
  ((double *)t.data)[2] = NAN;
  CHECK_OK(kubo_tensor_reduce(&t, KUBO_REDUCE_MAX, &v));
  CHECK(isnan(v));
  CHECK_OK(kubo_tensor_reduce(&t, KUBO_REDUCE_MIN, &v));
  CHECK(isnan(v));
  CHECK_OK(kubo_tensor_reduce(&t, KUBO_REDUCE_ARGMAX, &v));
  CHECK(v == 2);

  /* empty tensors: sum 0, mean an error; var of one element an error */
  CHECK_OK(kubo_tensor_init(&e, KUBO_FLOAT64, 1, n0));
  CHECK_OK(kubo_tensor_reduce(&e, KUBO_REDUCE_SUM, &v));
  CHECK(v == 0);
  CHECK(kubo_tensor_reduce(&e, KUBO_REDUCE_MEAN, &v) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "no elements") != NULL);
  CHECK_OK(kubo_tensor_init(&one, KUBO_FLOAT64, 1, n1));
  CHECK(kubo_tensor_reduce(&one, KUBO_REDUCE_VAR, &v) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "at least 2") != NULL);
  CHECK_OK(kubo_tensor_init(&e2, KUBO_FLOAT64, 2, s20));
  CHECK_OK(kubo_tensor_reduce_dim(&r, &e2, KUBO_REDUCE_SUM, 1));
  CHECK(r.ndim == 1);
  CHECK(r.shape[0] == 2);
  CHECK(kubo_tensor_at(&r, 1) == 0);
  kubo_tensor_release(&r);
  CHECK(kubo_tensor_reduce_dim(&r, &e2, KUBO_REDUCE_MAX, 1) == KUBO_EINVAL);
  CHECK(kubo_tensor_is_empty(&r));
  CHECK(kubo_tensor_reduce_dim(&r, &t, KUBO_REDUCE_SUM, 1) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "out of range") != NULL);

  /* float32 data accumulate in double: a float accumulator would drift
  ** by far more than 1e-9 relative over a million terms */
  CHECK_OK(kubo_tensor_init(&f, KUBO_FLOAT32, 1, big));
  kubo_tensor_fill(&f, 0.1);
  CHECK_OK(kubo_tensor_reduce(&f, KUBO_REDUCE_SUM, &v));
  CHECK_NEAR(v, 1e6 * (double)0.1f, 1e-9 * 1e5);

  /* the same bits for one and two threads */
  fill_values(&f, 24, -1);
  omp_set_num_threads(1);
  CHECK_OK(kubo_tensor_reduce(&f, KUBO_REDUCE_VAR, &v1));
  omp_set_num_threads(2);
  CHECK_OK(kubo_tensor_reduce(&f, KUBO_REDUCE_VAR, &v2));
  CHECK(memcmp(&v1, &v2, sizeof v1) == 0);

  kubo_tensor_release(&t);
  kubo_tensor_release(&e);
  kubo_tensor_release(&e2);
  kubo_tensor_release(&one);
  kubo_tensor_release(&f);
}


/* ---------------------------------------------------------------------
** Comparisons and ranges
** ------------------------------------------------------------------- */

static void test_compare(void) {
  int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
  kubo_tensor a = make(KUBO_FLOAT64, 2, s23, 30, 0), b = {0}, c = {0};
  kubo_tensor d = make(KUBO_FLOAT64, 2, s32, 31, 0);
  bool eq;
  CHECK_OK(kubo_tensor_clone(&b, &a, -1));
  CHECK_OK(kubo_tensor_equal(&a, &b, &eq));
  CHECK(eq);
  CHECK_OK(kubo_tensor_equal(&a, &d, &eq));
  CHECK(!eq);
  CHECK_OK(kubo_tensor_clone(&c, &a, KUBO_FLOAT32));
  CHECK_OK(kubo_tensor_equal(&a, &c, &eq));
  CHECK(!eq);
  CHECK_OK(kubo_tensor_allclose(&a, &c, 1e-6, 0, &eq));
  CHECK(eq);
  CHECK_OK(kubo_tensor_allclose(&a, &c, 1e-12, 0, &eq));
  CHECK(!eq);
  ((double *)b.data)[4] += 1e-3;
  CHECK_OK(kubo_tensor_allclose(&a, &b, 0, 1e-4, &eq));
  CHECK(!eq);
  CHECK_OK(kubo_tensor_allclose(&a, &b, 0, 1e-2, &eq));
  CHECK(eq);
  ((double *)b.data)[4] = NAN;
  CHECK_OK(kubo_tensor_allclose(&a, &b, 1, 1, &eq));
  CHECK(!eq);
  CHECK(kubo_tensor_allclose(&a, &d, 1, 1, &eq) == KUBO_EINVAL);
  CHECK(kubo_tensor_allclose(&a, &b, -1, 0, &eq) == KUBO_EINVAL);
  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&c);
  kubo_tensor_release(&d);
}


static void test_ranges(void) {
  kubo_tensor t;
  CHECK_OK(kubo_tensor_arange(&t, KUBO_FLOAT64, 0, 1, 0.1));
  CHECK(t.ndim == 1);
  CHECK(t.shape[0] == 10);
  for (int i = 0; i < 10; i++) CHECK_NEAR(kubo_tensor_at(&t, i), 0.1 * i, 0);
  kubo_tensor_release(&t);
  CHECK_OK(kubo_tensor_arange(&t, KUBO_FLOAT32, 5, 0, -2));
  CHECK(t.shape[0] == 3);
  CHECK(kubo_tensor_at(&t, 2) == 1);
  kubo_tensor_release(&t);
  CHECK_OK(kubo_tensor_arange(&t, KUBO_FLOAT64, 1, 1, 1));
  CHECK(t.shape[0] == 0);
  kubo_tensor_release(&t);
  CHECK(kubo_tensor_arange(&t, KUBO_FLOAT64, 0, 1, 0) == KUBO_EINVAL);
  CHECK(kubo_tensor_arange(&t, KUBO_FLOAT64, 0, INFINITY, 1) ==
        KUBO_EINVAL);
  CHECK(kubo_tensor_arange(&t, KUBO_FLOAT64, 0, 1e300, 1e-300) ==
        KUBO_EINVAL);

  CHECK_OK(kubo_tensor_linspace(&t, KUBO_FLOAT64, 0, 1, 11));
  CHECK(t.shape[0] == 11);
  for (int i = 0; i < 11; i++)
    CHECK_NEAR(kubo_tensor_at(&t, i), i / 10.0, 1e-15);
  CHECK(kubo_tensor_at(&t, 10) == 1);
  kubo_tensor_release(&t);
  CHECK_OK(kubo_tensor_linspace(&t, KUBO_FLOAT64, 3, 4, 1));
  CHECK(t.shape[0] == 1);
  CHECK(kubo_tensor_at(&t, 0) == 3);
  kubo_tensor_release(&t);
  CHECK(kubo_tensor_linspace(&t, KUBO_FLOAT64, 0, 1, -1) == KUBO_EINVAL);
  CHECK(kubo_tensor_linspace(&t, KUBO_FLOAT64, NAN, 1, 3) == KUBO_EINVAL);
}


int main(void) {
  int64_t before = kubo_alloc_live_bytes();
  test_binary_broadcast();
  test_binary_scalar();
  test_binary_views();
  test_binary_errors();
  test_unary();
  test_axpy();
  test_reduce_all();
  test_reduce_dim();
  test_reduce_dim_large();
  test_reduce_special();
  test_compare();
  test_ranges();
  CHECK(kubo_alloc_live_bytes() == before);
  return check_summary();
}
