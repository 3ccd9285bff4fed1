/*
** test_linalg.c: dot, matmul against a triple loop, solve and inv
** against known matrices and A inv(A) = I.
*/
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "kubo/alloc.h"
#include "kubo/linalg.h"
#include "kubo/tensor.h"


static void fill_values(kubo_tensor *t, uint64_t seed) {
  int64_t n = kubo_tensor_numel(t);
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int64_t i = 0; i < n; i++) {
    double v;
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    v = 2.0 * (double)(s >> 11) / 9007199254740992.0 - 1.0;
    if (t->dtype == KUBO_FLOAT64)
      ((double *)t->data)[i] = v;
    else
      ((float *)t->data)[i] = (float)v;
  }
}


static kubo_tensor make(kubo_dtype dtype, int ndim, const int64_t *shape,
                        uint64_t seed) {
  kubo_tensor t;
  CHECK_OK(kubo_tensor_init(&t, dtype, ndim, shape));
  fill_values(&t, seed);
  return t;
}


static kubo_tensor from_values(int ndim, const int64_t *shape,
                               const double *values) {
  kubo_tensor t;
  CHECK_OK(kubo_tensor_init(&t, KUBO_FLOAT64, ndim, shape));
  memcpy(t.data, values, (size_t)kubo_tensor_numel(&t) * sizeof(double));
  return t;
}


/* Returns element (i, j) of matrix number `item` of t. A 2-D t is the
** same matrix for every item, and a 1-D t is a row if as_row, else a
** column. */
static double element(const kubo_tensor *t, int64_t item, int64_t i,
                      int64_t j, int as_row) {
  int64_t idx[3];
  double v;
  if (t->ndim == 1) {
    idx[0] = as_row ? j : i;
  } else if (t->ndim == 2) {
    idx[0] = i;
    idx[1] = j;
  } else {
    idx[0] = item;
    idx[1] = i;
    idx[2] = j;
  }
  kubo_tensor_get(t, idx, &v);
  return v;
}


/* Checks matmul(a, b), of batch matrices (m, n), against a triple loop. */
static void check_matmul(const kubo_tensor *a, const kubo_tensor *b,
                         int64_t batch, int64_t m, int64_t n, int64_t k,
                         double tol) {
  kubo_tensor c = {0};
  double worst = 0;
  CHECK_OK(kubo_linalg_matmul(&c, a, b));
  if (kubo_tensor_is_empty(&c)) return;
  CHECK(kubo_tensor_numel(&c) == batch * m * n);
  for (int64_t it = 0; it < batch; it++)
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double want = 0;
        for (int64_t p = 0; p < k; p++)
          want += element(a, it, i, p, 1) * element(b, it, p, j, 0);
        double got = kubo_tensor_at(&c, (it * m + i) * n + j);
        if (fabs(got - want) > worst) worst = fabs(got - want);
      }
  CHECK(worst <= tol);
  kubo_tensor_release(&c);
}


static void test_matmul_shapes(void) {
  for (int d = 0; d < 2; d++) {
    kubo_dtype dt = d == 0 ? KUBO_FLOAT64 : KUBO_FLOAT32;
    double tol = d == 0 ? 1e-12 : 1e-4;
    int64_t s57[2] = {5, 7}, s73[2] = {7, 3}, s7[1] = {7};
    int64_t b457[3] = {4, 5, 7}, b473[3] = {4, 7, 3};
    kubo_tensor a = make(dt, 2, s57, 1), b = make(dt, 2, s73, 2);
    kubo_tensor v = make(dt, 1, s7, 3), w = make(dt, 1, s7, 4);
    kubo_tensor ba = make(dt, 3, b457, 5), bb = make(dt, 3, b473, 6);
    int64_t s75[2] = {7, 5};
    kubo_tensor at7 = make(dt, 2, s75, 7);
    check_matmul(&a, &b, 1, 5, 3, 7, tol);        /* (5,7) x (7,3) */
    check_matmul(&a, &v, 1, 5, 1, 7, tol);        /* (5,7) x (7) */
    check_matmul(&w, &b, 1, 1, 3, 7, tol);        /* (7) x (7,3) */
    check_matmul(&ba, &bb, 4, 5, 3, 7, tol);      /* batched */
    check_matmul(&ba, &b, 4, 5, 3, 7, tol);       /* one b for all */
    check_matmul(&a, &bb, 4, 5, 3, 7, tol);       /* one a for all */
    check_matmul(&ba, &v, 4, 5, 1, 7, tol);       /* batch times vector */

    /* a transposed view goes to BLAS as a transposed operand */
    kubo_tensor tr = {0}, narrow = {0}, sel = {0};
    CHECK_OK(kubo_tensor_transpose(&tr, &at7, 0, 1));    /* (5, 7) */
    check_matmul(&tr, &b, 1, 5, 3, 7, tol);
    /* a column range of a wider matrix has row stride 9, so it is copied */
    int64_t s79[2] = {7, 9};
    kubo_tensor wide = make(dt, 2, s79, 8);
    CHECK_OK(kubo_tensor_narrow(&narrow, &wide, 1, 2, 5));  /* (7, 3) */
    check_matmul(&a, &narrow, 1, 5, 3, 7, tol);
    /* a strided vector (a column of wide) */
    CHECK_OK(kubo_tensor_select(&sel, &wide, 1, 4));       /* (7) */
    check_matmul(&a, &sel, 1, 5, 1, 7, tol);

    kubo_tensor_release(&tr);
    kubo_tensor_release(&narrow);
    kubo_tensor_release(&sel);
    kubo_tensor_release(&wide);
    kubo_tensor_release(&a);
    kubo_tensor_release(&b);
    kubo_tensor_release(&v);
    kubo_tensor_release(&w);
    kubo_tensor_release(&ba);
    kubo_tensor_release(&bb);
    kubo_tensor_release(&at7);
  }
}


/* A product large enough for BLAS's blocked kernels and its threads. */
static void test_matmul_large(void) {
  int64_t sa[2] = {130, 90}, sb[2] = {90, 110};
  kubo_tensor a = make(KUBO_FLOAT64, 2, sa, 9), b = make(KUBO_FLOAT64, 2,
                                                         sb, 10);
  check_matmul(&a, &b, 1, 130, 110, 90, 1e-12);
  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
}


static void test_matmul_errors(void) {
  int64_t s23[2] = {2, 3}, s3[1] = {3}, s2[1] = {2}, b[3] = {2, 3, 3};
  int64_t c[3] = {3, 3, 3};
  kubo_tensor a = make(KUBO_FLOAT64, 2, s23, 1), v = make(KUBO_FLOAT64, 1,
                                                          s3, 2);
  kubo_tensor u = make(KUBO_FLOAT64, 1, s2, 3), f = make(KUBO_FLOAT32, 1,
                                                         s3, 4);
  kubo_tensor bb = make(KUBO_FLOAT64, 3, b, 5), cc = make(KUBO_FLOAT64, 3,
                                                          c, 6);
  kubo_tensor out = {0}, wrong = {0};
  int64_t before = kubo_alloc_live_bytes();
  CHECK(kubo_linalg_matmul(&out, &a, &u) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "inner sizes differ") != NULL);
  CHECK(kubo_linalg_matmul(&out, &v, &v) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "use dot") != NULL);
  CHECK(kubo_linalg_matmul(&out, &a, &f) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "dtypes differ") != NULL);
  CHECK(kubo_linalg_matmul(&out, &bb, &cc) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "batch sizes differ") != NULL);
  CHECK(kubo_tensor_is_empty(&out));
  CHECK(kubo_alloc_live_bytes() == before);
  /* an existing output of the wrong shape */
  CHECK_OK(kubo_tensor_init(&wrong, KUBO_FLOAT64, 1, s3));
  CHECK(kubo_linalg_matmul(&wrong, &a, &v) == KUBO_EINVAL);
  CHECK(kubo_linalg_matmul(&v, &a, &v) == KUBO_EINVAL);
  kubo_tensor_release(&wrong);
  kubo_tensor_release(&a);
  kubo_tensor_release(&v);
  kubo_tensor_release(&u);
  kubo_tensor_release(&f);
  kubo_tensor_release(&bb);
  kubo_tensor_release(&cc);
}


static void test_dot(void) {
  int64_t s[1] = {100003}, m[2] = {30, 40};
  for (int d = 0; d < 2; d++) {
    kubo_dtype dt = d == 0 ? KUBO_FLOAT64 : KUBO_FLOAT32;
    kubo_tensor x = make(dt, 1, s, 11), y = make(dt, 1, s, 12);
    kubo_tensor p = make(dt, 2, m, 13), q = make(dt, 2, m, 14);
    kubo_tensor pt = {0}, qt = {0}, f = {0};
    double got, want = 0;
    for (int64_t i = 0; i < s[0]; i++)
      want += kubo_tensor_at(&x, i) * kubo_tensor_at(&y, i);
    CHECK_OK(kubo_linalg_dot(&x, &y, &got));
    CHECK_NEAR(got, want, 1e-10);

    /* transposed views pair the same elements: the strided path */
    want = 0;
    for (int64_t i = 0; i < 1200; i++)
      want += kubo_tensor_at(&p, i) * kubo_tensor_at(&q, i);
    CHECK_OK(kubo_tensor_transpose(&pt, &p, 0, 1));
    CHECK_OK(kubo_tensor_transpose(&qt, &q, 0, 1));
    CHECK_OK(kubo_linalg_dot(&pt, &qt, &got));
    CHECK_NEAR(got, want, 1e-12);

    CHECK(kubo_linalg_dot(&p, &pt, &got) == KUBO_EINVAL);
    CHECK(strstr(kubo_error_message(), "shapes") != NULL);
    CHECK_OK(kubo_tensor_clone(&f, &p, d == 0 ? KUBO_FLOAT32 : KUBO_FLOAT64));
    CHECK(kubo_linalg_dot(&p, &f, &got) == KUBO_EINVAL);
    kubo_tensor_release(&x);
    kubo_tensor_release(&y);
    kubo_tensor_release(&p);
    kubo_tensor_release(&q);
    kubo_tensor_release(&pt);
    kubo_tensor_release(&qt);
    kubo_tensor_release(&f);
  }
}


/* ---------------------------------------------------------------------
** solve and inv
** ------------------------------------------------------------------- */

/* A = [[4, -2, 1], [-2, 4, -2], [1, -2, 4]] and x = (1, 2, 3) give
** b = A x = (3, 0, 9); inv(A) = adj(A) / det(A) with det(A) = 36. */
static const double known_a[9] = {4, -2, 1, -2, 4, -2, 1, -2, 4};
static const double known_inv[9] = {12 / 36., 6 / 36., 0,
                                    6 / 36., 15 / 36., 6 / 36.,
                                    0, 6 / 36., 12 / 36.};


static void test_solve_known(void) {
  int64_t s33[2] = {3, 3}, s3[1] = {3}, s32[2] = {3, 2};
  double bv[3] = {3, 0, 9}, b2[6] = {3, 1, 0, 0, 9, 0};
  kubo_tensor a = from_values(2, s33, known_a), b = from_values(1, s3, bv);
  kubo_tensor bb = from_values(2, s32, b2), x = {0}, xx = {0}, ai = {0};
  kubo_tensor a32 = {0}, b32 = {0}, x32 = {0};

  CHECK_OK(kubo_linalg_solve(&x, &a, &b));
  CHECK(x.ndim == 1);
  CHECK(x.shape[0] == 3);
  for (int i = 0; i < 3; i++) CHECK_NEAR(kubo_tensor_at(&x, i), i + 1, 1e-14);
  /* a and b are not modified */
  CHECK(kubo_tensor_at(&a, 0) == 4);
  CHECK(kubo_tensor_at(&b, 0) == 3);

  /* two right sides: the second is e1, so its solution is inv(A) e1 */
  CHECK_OK(kubo_linalg_solve(&xx, &a, &bb));
  CHECK(xx.ndim == 2);
  CHECK(xx.shape[1] == 2);
  for (int i = 0; i < 3; i++) {
    CHECK_NEAR(kubo_tensor_at(&xx, 2 * i), i + 1, 1e-14);
    CHECK_NEAR(kubo_tensor_at(&xx, 2 * i + 1), known_inv[3 * i], 1e-15);
  }

  CHECK_OK(kubo_linalg_inv(&ai, &a));
  for (int i = 0; i < 9; i++)
    CHECK_NEAR(kubo_tensor_at(&ai, i), known_inv[i], 1e-15);

  /* float32 */
  CHECK_OK(kubo_tensor_clone(&a32, &a, KUBO_FLOAT32));
  CHECK_OK(kubo_tensor_clone(&b32, &b, KUBO_FLOAT32));
  CHECK_OK(kubo_linalg_solve(&x32, &a32, &b32));
  CHECK(x32.dtype == KUBO_FLOAT32);
  for (int i = 0; i < 3; i++)
    CHECK_NEAR(kubo_tensor_at(&x32, i), i + 1, 1e-5);
  kubo_tensor_release(&x32);
  CHECK_OK(kubo_linalg_inv(&x32, &a32));
  for (int i = 0; i < 9; i++)
    CHECK_NEAR(kubo_tensor_at(&x32, i), known_inv[i], 1e-6);

  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&bb);
  kubo_tensor_release(&x);
  kubo_tensor_release(&xx);
  kubo_tensor_release(&ai);
  kubo_tensor_release(&a32);
  kubo_tensor_release(&b32);
  kubo_tensor_release(&x32);
}


/* A inv(A) = I for a random diagonally dominant matrix, and solve agrees
** with inv(A) b; the matrix is read through a transposed view. */
static void test_inverse_identity(void) {
  int64_t s[2] = {40, 40}, v[1] = {40};
  kubo_tensor a = make(KUBO_FLOAT64, 2, s, 20), at = {0}, ai = {0};
  kubo_tensor prod = {0}, b = make(KUBO_FLOAT64, 1, v, 21), x = {0};
  kubo_tensor y = {0};
  double worst = 0;
  for (int i = 0; i < 40; i++) ((double *)a.data)[i * 40 + i] += 40;
  CHECK_OK(kubo_tensor_transpose(&at, &a, 0, 1));
  CHECK_OK(kubo_linalg_inv(&ai, &at));
  CHECK_OK(kubo_linalg_matmul(&prod, &at, &ai));
  for (int i = 0; i < 40; i++)
    for (int j = 0; j < 40; j++) {
      double e = fabs(kubo_tensor_at(&prod, i * 40 + j) - (i == j));
      if (e > worst) worst = e;
    }
  CHECK(worst < 1e-13);
  CHECK_OK(kubo_linalg_solve(&x, &at, &b));
  CHECK_OK(kubo_linalg_matmul(&y, &ai, &b));
  for (int i = 0; i < 40; i++)
    CHECK_NEAR(kubo_tensor_at(&x, i), kubo_tensor_at(&y, i), 1e-14);
  kubo_tensor_release(&a);
  kubo_tensor_release(&at);
  kubo_tensor_release(&ai);
  kubo_tensor_release(&prod);
  kubo_tensor_release(&b);
  kubo_tensor_release(&x);
  kubo_tensor_release(&y);
}


static void test_singular(void) {
  int64_t s22[2] = {2, 2}, s2[1] = {2}, s23[2] = {2, 3}, s3[1] = {3};
  int64_t h[2] = {14, 14};
  double sing[4] = {1, 2, 2, 4}, bv[2] = {1, 1};
  kubo_tensor a = from_values(2, s22, sing), b = from_values(1, s2, bv);
  kubo_tensor x = {0}, hil, hb, r = make(KUBO_FLOAT64, 2, s23, 30);
  kubo_tensor b3 = make(KUBO_FLOAT64, 1, s3, 31);
  int64_t before = kubo_alloc_live_bytes();

  /* LU with partial pivoting meets an exact zero at pivot 2 */
  CHECK(kubo_linalg_solve(&x, &a, &b) == KUBO_ENUMERIC);
  CHECK(strstr(kubo_error_message(), "singular") != NULL);
  CHECK(strstr(kubo_error_message(), "pivot 2") != NULL);
  CHECK(kubo_tensor_is_empty(&x));
  CHECK(kubo_linalg_inv(&x, &a) == KUBO_ENUMERIC);
  CHECK(strstr(kubo_error_message(), "U(2, 2)") != NULL);
  CHECK(kubo_alloc_live_bytes() == before);

  /* the 14 x 14 Hilbert matrix has condition number near 1e19 */
  CHECK_OK(kubo_tensor_init(&hil, KUBO_FLOAT64, 2, h));
  for (int i = 0; i < 14; i++)
    for (int j = 0; j < 14; j++)
      ((double *)hil.data)[i * 14 + j] = 1.0 / (i + j + 1);
  CHECK_OK(kubo_tensor_init(&hb, KUBO_FLOAT64, 1, h));
  CHECK(kubo_linalg_solve(&x, &hil, &hb) == KUBO_ENUMERIC);
  CHECK(strstr(kubo_error_message(), "working precision") != NULL);
  CHECK(kubo_linalg_inv(&x, &hil) == KUBO_ENUMERIC);

  /* NaN input, wrong shapes */
  ((double *)b.data)[1] = NAN;
  ((double *)a.data)[3] = 5;
  CHECK(kubo_linalg_solve(&x, &a, &b) == KUBO_ENUMERIC);
  CHECK(strstr(kubo_error_message(), "NaN") != NULL);
  CHECK(kubo_linalg_inv(&x, &r) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "square") != NULL);
  CHECK(kubo_linalg_solve(&x, &a, &b3) == KUBO_EINVAL);
  CHECK(strstr(kubo_error_message(), "does not fit") != NULL);
  CHECK(kubo_tensor_is_empty(&x));

  kubo_tensor_release(&a);
  kubo_tensor_release(&b);
  kubo_tensor_release(&hil);
  kubo_tensor_release(&hb);
  kubo_tensor_release(&r);
  kubo_tensor_release(&b3);
}


int main(void) {
  int64_t before = kubo_alloc_live_bytes();
  test_matmul_shapes();
  test_matmul_large();
  test_matmul_errors();
  test_dot();
  test_solve_known();
  test_inverse_identity();
  test_singular();
  CHECK(kubo_alloc_live_bytes() == before);
  return check_summary();
}
