/*
** tensor_reduce.c: sums, means, variances, extrema and norms over all
** elements or along one dimension, accumulated in double.
**
** A strided tensor is first copied to a contiguous one. The reductions
** then treat it as (outer, len, inner), with len the size of the reduced
** dimension. All-element reductions split the data into fixed blocks
** whose partial results are combined in block order, and dimension
** reductions give each output element to one thread, so results do not
** depend on the number of threads.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/tensor_ops.h"
#include "ops_internal.h"

enum { BLOCK = 16384, COLUMN_BLOCK = 2048 };

/* What one pass accumulates. FIRST copies the first row and starts the
** extremum passes. */
typedef enum acc_kind {
  ACC_SUM, ACC_SUMSQ, ACC_DEVSQ, ACC_MIN, ACC_MAX, ACC_FIRST
} acc_kind;


const char *kubo_reduce_op_name(kubo_reduce_op op) {
  static const char *const names[] = {"sum", "mean", "var", "std", "min",
                                      "max", "norm", "argmin", "argmax"};
  return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}


/* True if candidate v replaces the current extremum cur: a smaller (MIN)
** or larger (MAX) value, or the first NaN, after which cur stays NaN. */
static inline bool extremum_replaces(acc_kind kind, double cur, double v) {
  if (isnan(cur)) return false;
  if (isnan(v)) return true;
  return kind == ACC_MIN ? v < cur : v > cur;
}


/* ---------------------------------------------------------------------
** Kernels over one contiguous run of n elements
** ------------------------------------------------------------------- */

/* Sums of x, x^2 or (x - mu)^2 with four interleaved accumulators, which
** lets the compiler vectorise without reordering the additions. */
static double sum_run_f64(acc_kind kind, const double *x, int64_t n,
                          double mu) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  if (kind == ACC_SUM) {
    for (; i + 4 <= n; i += 4) {
      s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3];
    }
    for (; i < n; i++) s0 += x[i];
  } else {
    double c = kind == ACC_DEVSQ ? mu : 0;
    for (; i + 4 <= n; i += 4) {
      double d0 = x[i] - c, d1 = x[i + 1] - c;
      double d2 = x[i + 2] - c, d3 = x[i + 3] - c;
      s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
    }
    for (; i < n; i++) s0 += (x[i] - c) * (x[i] - c);
  }
  return (s0 + s1) + (s2 + s3);
}


static double sum_run_f32(acc_kind kind, const float *x, int64_t n,
                          double mu) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  if (kind == ACC_SUM) {
    for (; i + 4 <= n; i += 4) {
      s0 += (double)x[i]; s1 += (double)x[i + 1];
      s2 += (double)x[i + 2]; s3 += (double)x[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i];
  } else {
    double c = kind == ACC_DEVSQ ? mu : 0;
    for (; i + 4 <= n; i += 4) {
      double d0 = (double)x[i] - c, d1 = (double)x[i + 1] - c;
      double d2 = (double)x[i + 2] - c, d3 = (double)x[i + 3] - c;
      s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
    }
    for (; i < n; i++) s0 += ((double)x[i] - c) * ((double)x[i] - c);
  }
  return (s0 + s1) + (s2 + s3);
}


/* Reduces a run of n > 0 elements (n >= 0 for the sums) into *value,
** and for MIN and MAX the 0-based position of the extremum into *index. */
static void reduce_run(acc_kind kind, kubo_dtype dtype, const void *data,
                       int64_t n, double mu, double *value,
                       int64_t *index) {
  if (kind == ACC_MIN || kind == ACC_MAX) {
    const double *xd = data;
    const float *xf = data;
    double best = dtype == KUBO_FLOAT64 ? xd[0] : (double)xf[0];
    int64_t at = 0;
    for (int64_t i = 1; i < n; i++) {
      double v = dtype == KUBO_FLOAT64 ? xd[i] : (double)xf[i];
      if (extremum_replaces(kind, best, v)) {
        best = v;
        at = i;
      }
    }
    *value = best;
    *index = at;
    return;
  }
  *value = dtype == KUBO_FLOAT64 ? sum_run_f64(kind, data, n, mu)
                                 : sum_run_f32(kind, data, n, mu);
  *index = 0;
}


/* Accumulates one row x[0..n) into the lanes acc[0..n), and for MIN and
** MAX the positions into idx. k is the row's index along the reduced
** dimension, and mu contains the lanes' means for DEVSQ. */
static void accumulate_row(acc_kind kind, kubo_dtype dtype, double *acc,
                           int64_t *idx, const void *data, int64_t n,
                           const double *mu, int64_t k) {
  const double *xd = data;
  const float *xf = data;
  int64_t i;
  if (dtype == KUBO_FLOAT64) {
    switch (kind) {
    case ACC_SUM: for (i = 0; i < n; i++) acc[i] += xd[i]; return;
    case ACC_SUMSQ: for (i = 0; i < n; i++) acc[i] += xd[i] * xd[i]; return;
    case ACC_DEVSQ:
      for (i = 0; i < n; i++) acc[i] += (xd[i] - mu[i]) * (xd[i] - mu[i]);
      return;
    default: break;
    }
  } else {
    switch (kind) {
    case ACC_SUM: for (i = 0; i < n; i++) acc[i] += (double)xf[i]; return;
    case ACC_SUMSQ:
      for (i = 0; i < n; i++) acc[i] += (double)xf[i] * (double)xf[i];
      return;
    case ACC_DEVSQ:
      for (i = 0; i < n; i++) {
        double d = (double)xf[i] - mu[i];
        acc[i] += d * d;
      }
      return;
    default: break;
    }
  }
  for (i = 0; i < n; i++) {
    double v = dtype == KUBO_FLOAT64 ? xd[i] : (double)xf[i];
    if (kind == ACC_FIRST) {
      acc[i] = v;
      idx[i] = 0;
    } else if (extremum_replaces(kind, acc[i], v)) {
      acc[i] = v;
      idx[i] = k;
    }
  }
}


/* ---------------------------------------------------------------------
** Reductions over all elements
** ------------------------------------------------------------------- */

/* Reduces the n elements of the contiguous c in blocks, combining the
** partial results in block order. */
static kubo_status reduce_all(const kubo_tensor *c, acc_kind kind,
                              double mu, double *value, int64_t *index) {
  int64_t n = kubo_tensor_numel(c), nblocks = (n + BLOCK - 1) / BLOCK;
  size_t esize = kubo_dtype_size(c->dtype);
  const char *x = c->data;
  double *part;
  int64_t *at;
  size_t bytes = (size_t)nblocks * (sizeof *part + sizeof *at);

  if (nblocks <= 1) {
    reduce_run(kind, c->dtype, c->data, n, mu, value, index);
    return KUBO_OK;
  }
  part = kubo_alloc(bytes);
  if (part == NULL) return KUBO_ENOMEM;
  at = (int64_t *)(part + nblocks);

  #pragma omp parallel for schedule(static) if (nblocks > 4)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    int64_t lo = blk * BLOCK, len = n - lo < BLOCK ? n - lo : BLOCK;
    reduce_run(kind, c->dtype, x + lo * esize, len, mu, &part[blk],
               &at[blk]);
    at[blk] += lo;
  }

  *value = part[0];
  *index = at[0];
  for (int64_t blk = 1; blk < nblocks; blk++) {
    if (kind == ACC_MIN || kind == ACC_MAX) {
      if (extremum_replaces(kind, *value, part[blk])) {
        *value = part[blk];
        *index = at[blk];
      }
    } else {
      *value += part[blk];
    }
  }
  kubo_free(part, bytes);
  return KUBO_OK;
}


static kubo_status check_reduce_op(kubo_reduce_op op) {
  if ((unsigned)op > KUBO_REDUCE_ARGMAX)
    return kubo_error_set(KUBO_EINVAL, "reduce: unknown operation %d",
                          (int)op);
  return KUBO_OK;
}


/* Fails unless n elements are enough for op. */
static kubo_status check_count(kubo_reduce_op op, int64_t n,
                               const char *where) {
  const char *fn = kubo_reduce_op_name(op);
  if (op == KUBO_REDUCE_SUM || op == KUBO_REDUCE_NORM) return KUBO_OK;
  if ((op == KUBO_REDUCE_VAR || op == KUBO_REDUCE_STD) && n < 2)
    return kubo_error_set(KUBO_EINVAL, "%s: needs at least 2 elements%s "
                          "(got %lld)", fn, where, (long long)n);
  if (n == 0)
    return kubo_error_set(KUBO_EINVAL, "%s: tensor has no elements%s", fn,
                          where);
  return KUBO_OK;
}


kubo_status kubo_tensor_reduce(const kubo_tensor *t, kubo_reduce_op op,
                               double *result) {
  kubo_tensor c = {0};
  int64_t n, index = 0;
  double value = 0, mean;
  kubo_status st = check_reduce_op(op);
  if (st == KUBO_OK) st = kubo_ops_check_input(t, kubo_reduce_op_name(op),
                                               "tensor");
  if (st != KUBO_OK) return st;
  n = kubo_tensor_numel(t);
  st = check_count(op, n, "");
  if (st == KUBO_OK) st = kubo_tensor_contiguous(&c, t);
  if (st != KUBO_OK) return st;

  switch (op) {
  case KUBO_REDUCE_SUM:
  case KUBO_REDUCE_MEAN:
    st = reduce_all(&c, ACC_SUM, 0, &value, &index);
    if (op == KUBO_REDUCE_MEAN) value /= (double)n;
    break;
  case KUBO_REDUCE_VAR:
  case KUBO_REDUCE_STD:
    /* two passes: the mean, then squared deviations from it */
    st = reduce_all(&c, ACC_SUM, 0, &mean, &index);
    if (st == KUBO_OK)
      st = reduce_all(&c, ACC_DEVSQ, mean / (double)n, &value, &index);
    value /= (double)(n - 1);
    if (op == KUBO_REDUCE_STD) value = sqrt(value);
    break;
  case KUBO_REDUCE_NORM:
    /* NOTE: unlike BLAS nrm2 the squares are not scaled, so the norm
    ** overflows to Inf once an element exceeds about 1e154. */
    st = reduce_all(&c, ACC_SUMSQ, 0, &value, &index);
    value = sqrt(value);
    break;
  case KUBO_REDUCE_MIN:
  case KUBO_REDUCE_ARGMIN:
    st = reduce_all(&c, ACC_MIN, 0, &value, &index);
    if (op == KUBO_REDUCE_ARGMIN) value = (double)index;
    break;
  case KUBO_REDUCE_MAX:
  case KUBO_REDUCE_ARGMAX:
    st = reduce_all(&c, ACC_MAX, 0, &value, &index);
    if (op == KUBO_REDUCE_ARGMAX) value = (double)index;
    break;
  }
  kubo_tensor_release(&c);
  if (st == KUBO_OK) *result = value;
  return st;
}


/* ---------------------------------------------------------------------
** Reductions along one dimension
** ------------------------------------------------------------------- */

typedef struct lanes {
  const kubo_tensor *c;    /* contiguous input */
  int64_t outer, len, inner;
  double *acc;             /* outer * inner results */
  int64_t *idx;            /* positions of extrema, or NULL */
  const double *mu;        /* lane means for ACC_DEVSQ, or NULL */
} lanes;


/* Runs one pass of kind over every lane. With inner == 1 each lane is a
** contiguous run; otherwise rows of the (len, inner) slab of each outer
** index are added lane-wise, a block of columns per task. */
static void reduce_lanes(const lanes *w, acc_kind kind) {
  size_t esize = kubo_dtype_size(w->c->dtype);
  const char *x = w->c->data;
  int64_t work = w->outer * w->len * w->inner;

  if (w->inner == 1) {
    #pragma omp parallel for schedule(static) if (work > 4 * BLOCK)
    for (int64_t o = 0; o < w->outer; o++) {
      int64_t at = 0;
      reduce_run(kind, w->c->dtype, x + o * w->len * esize, w->len,
                 w->mu ? w->mu[o] : 0, &w->acc[o], &at);
      if (w->idx) w->idx[o] = at;
    }
    return;
  }

  int64_t ncol = (w->inner + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
  int64_t ntasks = w->outer * ncol;
  #pragma omp parallel for schedule(static) if (work > 4 * BLOCK)
  for (int64_t task = 0; task < ntasks; task++) {
    int64_t o = task / ncol, lo = (task % ncol) * COLUMN_BLOCK;
    int64_t n = w->inner - lo < COLUMN_BLOCK ? w->inner - lo : COLUMN_BLOCK;
    int64_t lane = o * w->inner + lo;
    const char *slab = x + (o * w->len * w->inner + lo) * esize;
    int64_t k = 0;
    if (kind == ACC_MIN || kind == ACC_MAX) {
      accumulate_row(ACC_FIRST, w->c->dtype, w->acc + lane, w->idx + lane,
                     slab, n, NULL, 0);
      k = 1;
    }
    for (; k < w->len; k++)
      accumulate_row(kind, w->c->dtype, w->acc + lane,
                     w->idx ? w->idx + lane : NULL,
                     slab + k * w->inner * esize, n,
                     w->mu ? w->mu + lane : NULL, k);
  }
}


/* Computes the lanes of op into w->acc (as doubles, final values). */
static void compute_lanes(lanes *w, kubo_reduce_op op, double *scratch) {
  int64_t m = w->outer * w->inner;
  double len = (double)w->len;
  switch (op) {
  case KUBO_REDUCE_SUM:
    reduce_lanes(w, ACC_SUM);
    break;
  case KUBO_REDUCE_MEAN:
    reduce_lanes(w, ACC_SUM);
    for (int64_t i = 0; i < m; i++) w->acc[i] /= len;
    break;
  case KUBO_REDUCE_VAR:
  case KUBO_REDUCE_STD:
    /* the means go to scratch, then acc collects squared deviations */
    reduce_lanes(w, ACC_SUM);
    for (int64_t i = 0; i < m; i++) {
      scratch[i] = w->acc[i] / len;
      w->acc[i] = 0;
    }
    w->mu = scratch;
    reduce_lanes(w, ACC_DEVSQ);
    for (int64_t i = 0; i < m; i++) {
      w->acc[i] /= len - 1;
      if (op == KUBO_REDUCE_STD) w->acc[i] = sqrt(w->acc[i]);
    }
    break;
  case KUBO_REDUCE_NORM:
    reduce_lanes(w, ACC_SUMSQ);
    for (int64_t i = 0; i < m; i++) w->acc[i] = sqrt(w->acc[i]);
    break;
  case KUBO_REDUCE_MIN:
  case KUBO_REDUCE_ARGMIN:
  case KUBO_REDUCE_MAX:
  case KUBO_REDUCE_ARGMAX: {
    bool is_min = op == KUBO_REDUCE_MIN || op == KUBO_REDUCE_ARGMIN;
    reduce_lanes(w, is_min ? ACC_MIN : ACC_MAX);
    if (op == KUBO_REDUCE_ARGMIN || op == KUBO_REDUCE_ARGMAX)
      for (int64_t i = 0; i < m; i++) w->acc[i] = (double)w->idx[i];
    break;
  }
  }
}


kubo_status kubo_tensor_reduce_dim(kubo_tensor *out, const kubo_tensor *t,
                                   kubo_reduce_op op, int dim) {
  const char *fn = kubo_reduce_op_name(op);
  int64_t shape[KUBO_MAX_DIM], m;
  kubo_tensor c = {0};
  kubo_dtype dtype;
  lanes w = {0};
  char where[64];
  size_t bytes;
  double *block;
  kubo_status st = check_reduce_op(op);
  if (st == KUBO_OK) st = kubo_ops_check_input(t, fn, "tensor");
  if (st != KUBO_OK) return st;
  if (out->storage != NULL)
    return kubo_error_set(KUBO_EINVAL, "%s: output tensor must be empty",
                          fn);
  if (dim < 0 || dim >= t->ndim)
    return kubo_error_set(KUBO_EINVAL, "%s: dimension %d out of range "
                          "(tensor has %d)", fn, dim + 1, t->ndim);

  w.outer = 1;
  w.inner = 1;
  w.len = t->shape[dim];
  for (int d = 0; d < dim; d++) w.outer *= t->shape[d];
  for (int d = dim + 1; d < t->ndim; d++) w.inner *= t->shape[d];
  for (int d = 0, j = 0; d < t->ndim; d++)
    if (d != dim) shape[j++] = t->shape[d];
  m = w.outer * w.inner;
  dtype = op == KUBO_REDUCE_ARGMIN || op == KUBO_REDUCE_ARGMAX
              ? KUBO_FLOAT64 : t->dtype;
  snprintf(where, sizeof where, " along dimension %d", dim + 1);
  if (m > 0) st = check_count(op, w.len, where);
  if (st == KUBO_OK) st = kubo_tensor_init(out, dtype, t->ndim - 1, shape);
  if (st != KUBO_OK || m == 0 || w.len == 0) return st;

  st = kubo_tensor_contiguous(&c, t);
  if (st != KUBO_OK) {
    kubo_tensor_release(out);
    return st;
  }
  /* one block: lane results, lane means (var, std), extremum positions */
  bytes = (size_t)m * (2 * sizeof(double) + sizeof(int64_t));
  block = kubo_calloc(bytes);
  if (block == NULL) {
    kubo_tensor_release(&c);
    kubo_tensor_release(out);
    return KUBO_ENOMEM;
  }
  w.c = &c;
  w.acc = block;
  w.idx = (int64_t *)(block + 2 * m);
  compute_lanes(&w, op, block + m);

  for (int64_t i = 0; i < m; i++) {
    if (dtype == KUBO_FLOAT64)
      ((double *)out->data)[i] = w.acc[i];
    else
      ((float *)out->data)[i] = (float)w.acc[i];
  }
  kubo_free(block, bytes);
  kubo_tensor_release(&c);
  return KUBO_OK;
}
