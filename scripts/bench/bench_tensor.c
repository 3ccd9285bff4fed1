/*
** bench_tensor.c: kubo's tensor kernels against bare loops and direct
** CBLAS/LAPACKE calls on the same arrays.
**
** Built and run by scripts/bench/tensor.sh. For float64 and float32 it
** times elementwise work (add, in-place add, broadcast add, scale, exp,
** axpy), reductions (sum, var, sum along each dimension of a matrix),
** dot, matmul (square and batched) and solve. Each row gives kubo's best
** time of 5 rounds of at least 0.2 s, the rate (GB/s of bytes read plus
** written, or GFLOP/s), and the ratio of kubo's time to the bare
** version's where there is one. The bare loops are serial, so with
** several threads the ratio also shows the OpenMP speed-up.
**
**   bench_tensor [n]     n elements for the vector rows (default 2^24)
*/
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubo/linalg.h"
#include "kubo/tensor.h"
#include "kubo/tensor_ops.h"

typedef struct bench {
  kubo_dtype dtype;
  int64_t n;
  kubo_tensor x, y, out, rows, row;     /* rows: (n / 1024, 1024) */
  kubo_tensor out_rows;                 /* out as (n / 1024, 1024) */
  kubo_tensor a, b, c;                  /* square matrices (m, m) */
  kubo_tensor batch, batch_out;         /* (256, 32, 32) */
  kubo_tensor sa, srhs;                 /* solve: (500, 500), (500) */
  int64_t m;
  double sink;
} bench;

typedef void (*bench_fn)(bench *s);


static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


/* Returns the best seconds per call of fn over 5 rounds of >= 0.2 s. */
static double best_time(bench *s, bench_fn fn) {
  double best = 1e300;
  fn(s);
  for (int round = 0; round < 5; round++) {
    long reps = 0;
    double start = now(), elapsed;
    do {
      fn(s);
      reps++;
      elapsed = now() - start;
    } while (elapsed < 0.2);
    if (elapsed / (double)reps < best) best = elapsed / (double)reps;
  }
  return best;
}


static void report(const char *name, double seconds, double amount,
                   const char *unit, double bare) {
  printf("%-30s %10.3f ms %9.2f %-7s", name, seconds * 1e3,
         amount / seconds / 1e9, unit);
  if (bare > 0) printf("  kubo/bare %.2f", seconds / bare);
  printf("\n");
}


static void die(const char *what) {
  fprintf(stderr, "bench_tensor: %s: %s\n", what, kubo_error_message());
  exit(1);
}


/* ---------------------------------------------------------------------
** The operations
** ------------------------------------------------------------------- */

static void kubo_add(bench *s) {
  if (kubo_tensor_binary(&s->out, &s->x, KUBO_OP_ADD, &s->y)) die("add");
}

static void bare_add(bench *s) {
  int64_t n = s->n;
  if (s->dtype == KUBO_FLOAT64) {
    const double *x = s->x.data, *y = s->y.data;
    double *o = s->out.data;
    for (int64_t i = 0; i < n; i++) o[i] = x[i] + y[i];
  } else {
    const float *x = s->x.data, *y = s->y.data;
    float *o = s->out.data;
    for (int64_t i = 0; i < n; i++) o[i] = x[i] + y[i];
  }
}

static void kubo_add_inplace(bench *s) {
  if (kubo_tensor_binary(&s->x, &s->x, KUBO_OP_ADD, &s->y)) die("add_");
}

static void kubo_broadcast(bench *s) {
  if (kubo_tensor_binary(&s->out_rows, &s->rows, KUBO_OP_ADD, &s->row))
    die("broadcast add");
}

static void bare_broadcast(bench *s) {
  int64_t r = s->n / 1024;
  if (s->dtype == KUBO_FLOAT64) {
    const double *x = s->x.data, *b = s->row.data;
    double *o = s->out.data;
    for (int64_t i = 0; i < r; i++)
      for (int64_t j = 0; j < 1024; j++)
        o[i * 1024 + j] = x[i * 1024 + j] + b[j];
  } else {
    const float *x = s->x.data, *b = s->row.data;
    float *o = s->out.data;
    for (int64_t i = 0; i < r; i++)
      for (int64_t j = 0; j < 1024; j++)
        o[i * 1024 + j] = x[i * 1024 + j] + b[j];
  }
}

static void kubo_scale(bench *s) {
  if (kubo_tensor_binary_scalar(&s->out, &s->x, KUBO_OP_MUL, 2)) die("mul");
}

static void kubo_exp(bench *s) {
  if (kubo_tensor_unary(&s->out, &s->y, KUBO_OP_EXP)) die("exp");
}

static void bare_exp(bench *s) {
  if (s->dtype == KUBO_FLOAT64) {
    const double *y = s->y.data;
    double *o = s->out.data;
    for (int64_t i = 0; i < s->n; i++) o[i] = exp(y[i]);
  } else {
    const float *y = s->y.data;
    float *o = s->out.data;
    for (int64_t i = 0; i < s->n; i++) o[i] = expf(y[i]);
  }
}

static void kubo_axpy(bench *s) {
  if (kubo_tensor_axpy(&s->out, 1e-9, &s->y)) die("axpy");
}

static void kubo_sum(bench *s) {
  if (kubo_tensor_reduce(&s->x, KUBO_REDUCE_SUM, &s->sink)) die("sum");
}

static void bare_sum(bench *s) {
  double sum = 0;
  if (s->dtype == KUBO_FLOAT64) {
    const double *x = s->x.data;
    for (int64_t i = 0; i < s->n; i++) sum += x[i];
  } else {
    const float *x = s->x.data;
    for (int64_t i = 0; i < s->n; i++) sum += x[i];
  }
  s->sink = sum;
}

static void kubo_var(bench *s) {
  if (kubo_tensor_reduce(&s->x, KUBO_REDUCE_VAR, &s->sink)) die("var");
}

static void kubo_sum_dim0(bench *s) {
  kubo_tensor r = {0};
  if (kubo_tensor_reduce_dim(&r, &s->rows, KUBO_REDUCE_SUM, 0)) die("sum");
  kubo_tensor_release(&r);
}

static void kubo_sum_dim1(bench *s) {
  kubo_tensor r = {0};
  if (kubo_tensor_reduce_dim(&r, &s->rows, KUBO_REDUCE_SUM, 1)) die("sum");
  kubo_tensor_release(&r);
}

static void kubo_dot(bench *s) {
  if (kubo_linalg_dot(&s->x, &s->y, &s->sink)) die("dot");
}

static void kubo_matmul(bench *s) {
  if (kubo_linalg_matmul(&s->c, &s->a, &s->b)) die("matmul");
}

static void bare_matmul(bench *s) {
  int m = (int)s->m;
  if (s->dtype == KUBO_FLOAT64)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1,
                s->a.data, m, s->b.data, m, 0, s->c.data, m);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1,
                s->a.data, m, s->b.data, m, 0, s->c.data, m);
}

static void kubo_batched(bench *s) {
  if (kubo_linalg_matmul(&s->batch_out, &s->batch, &s->batch))
    die("batched matmul");
}

static void bare_batched(bench *s) {
  for (int i = 0; i < 256; i++) {
    if (s->dtype == KUBO_FLOAT64) {
      const double *p = (const double *)s->batch.data + i * 1024;
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 32, 32, 32, 1,
                  p, 32, p, 32, 0, (double *)s->batch_out.data + i * 1024,
                  32);
    } else {
      const float *p = (const float *)s->batch.data + i * 1024;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 32, 32, 32, 1,
                  p, 32, p, 32, 0, (float *)s->batch_out.data + i * 1024,
                  32);
    }
  }
}

static void kubo_solve(bench *s) {
  kubo_tensor x = {0};
  if (kubo_linalg_solve(&x, &s->sa, &s->srhs)) die("solve");
  kubo_tensor_release(&x);
}

static void bare_solve(bench *s) {
  /* the same copies kubo makes, then gesv alone */
  kubo_tensor lu = {0}, x = {0};
  lapack_int ipiv[500];
  kubo_tensor_clone(&lu, &s->sa, -1);
  kubo_tensor_clone(&x, &s->srhs, -1);
  if (s->dtype == KUBO_FLOAT64)
    LAPACKE_dgesv(LAPACK_ROW_MAJOR, 500, 1, lu.data, 500, ipiv, x.data, 1);
  else
    LAPACKE_sgesv(LAPACK_ROW_MAJOR, 500, 1, lu.data, 500, ipiv, x.data, 1);
  kubo_tensor_release(&lu);
  kubo_tensor_release(&x);
}


/* ---------------------------------------------------------------------
** Set-up and the table
** ------------------------------------------------------------------- */

static void make(kubo_tensor *t, kubo_dtype dtype, int ndim,
                 const int64_t *shape, double lo, double hi) {
  int64_t n;
  if (kubo_tensor_init(t, dtype, ndim, shape)) die("allocation");
  n = kubo_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) {
    double v = lo + (hi - lo) * (double)((i * 7919) % 1000) / 1000.0;
    if (dtype == KUBO_FLOAT64)
      ((double *)t->data)[i] = v;
    else
      ((float *)t->data)[i] = (float)v;
  }
}


static void run(kubo_dtype dtype, int64_t n) {
  bench s;
  int64_t vec[1] = {n}, mat[2] = {n / 1024, 1024}, row[1] = {1024};
  int64_t bshape[3] = {256, 32, 32}, ssq[2] = {500, 500}, srow[1] = {500};
  double size = (double)kubo_dtype_size(dtype), bytes = (double)n * size;
  memset(&s, 0, sizeof s);
  s.dtype = dtype;
  s.n = n;
  make(&s.x, dtype, 1, vec, 0.1, 1);
  make(&s.y, dtype, 1, vec, -1, 1);
  make(&s.out, dtype, 1, vec, 0, 0);
  if (kubo_tensor_reshape(&s.rows, &s.x, 2, mat)) die("reshape");
  if (kubo_tensor_reshape(&s.out_rows, &s.out, 2, mat)) die("reshape");
  make(&s.row, dtype, 1, row, 0, 1);
  make(&s.batch, dtype, 3, bshape, -1, 1);
  make(&s.batch_out, dtype, 3, bshape, 0, 0);
  make(&s.sa, dtype, 2, ssq, -1, 1);
  for (int i = 0; i < 500; i++) {
    int64_t idx[2] = {i, i};
    kubo_tensor_set(&s.sa, idx, 500);
  }
  make(&s.srhs, dtype, 1, srow, 1, 2);

  printf("-- %s, n = %lld\n", kubo_dtype_name(dtype), (long long)n);
  report("x + y", best_time(&s, kubo_add), 3 * bytes, "GB/s",
         best_time(&s, bare_add));
  report("x += y", best_time(&s, kubo_add_inplace), 3 * bytes, "GB/s", 0);
  report("(n/1024, 1024) + (1024)", best_time(&s, kubo_broadcast),
         3 * bytes, "GB/s", best_time(&s, bare_broadcast));
  report("x * 2", best_time(&s, kubo_scale), 2 * bytes, "GB/s", 0);
  report("exp(y)", best_time(&s, kubo_exp), 2 * bytes, "GB/s",
         best_time(&s, bare_exp));
  report("axpy", best_time(&s, kubo_axpy), 3 * bytes, "GB/s", 0);
  kubo_tensor_fill(&s.x, 0.5);
  report("sum", best_time(&s, kubo_sum), bytes, "GB/s",
         best_time(&s, bare_sum));
  report("var (two passes)", best_time(&s, kubo_var), 2 * bytes, "GB/s", 0);
  report("sum along dim 1 of (n/1024,1024)", best_time(&s, kubo_sum_dim0),
         bytes, "GB/s", 0);
  report("sum along dim 2 of (n/1024,1024)", best_time(&s, kubo_sum_dim1),
         bytes, "GB/s", 0);
  report("dot", best_time(&s, kubo_dot), 2 * bytes, "GB/s", 0);

  for (int k = 0; k < 2; k++) {
    int64_t m = k == 0 ? 256 : 1024, sq[2] = {m, m};
    char name[64];
    s.m = m;
    make(&s.a, dtype, 2, sq, -1, 1);
    make(&s.b, dtype, 2, sq, -1, 1);
    make(&s.c, dtype, 2, sq, 0, 0);
    snprintf(name, sizeof name, "matmul %lld", (long long)m);
    report(name, best_time(&s, kubo_matmul), 2.0 * m * m * m, "GFLOP/s",
           best_time(&s, bare_matmul));
    kubo_tensor_release(&s.a);
    kubo_tensor_release(&s.b);
    kubo_tensor_release(&s.c);
  }
  report("matmul 256 x (32, 32)", best_time(&s, kubo_batched),
         256 * 2.0 * 32 * 32 * 32, "GFLOP/s", best_time(&s, bare_batched));
  report("solve 500", best_time(&s, kubo_solve), 2.0 / 3 * 500 * 500 * 500,
         "GFLOP/s", best_time(&s, bare_solve));

  kubo_tensor_release(&s.x);
  kubo_tensor_release(&s.y);
  kubo_tensor_release(&s.out);
  kubo_tensor_release(&s.rows);
  kubo_tensor_release(&s.out_rows);
  kubo_tensor_release(&s.row);
  kubo_tensor_release(&s.batch);
  kubo_tensor_release(&s.batch_out);
  kubo_tensor_release(&s.sa);
  kubo_tensor_release(&s.srhs);
}


int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : (int64_t)1 << 24;
  if (n < 1024 || n % 1024 != 0) {
    fprintf(stderr, "bench_tensor: n must be a positive multiple of 1024 "
                    "(got %s)\n", argv[1]);
    return 1;
  }
  run(KUBO_FLOAT64, n);
  run(KUBO_FLOAT32, n);
  return 0;
}
