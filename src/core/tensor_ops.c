/*
** tensor_ops.c: elementwise arithmetic with broadcasting, comparisons and
** ranges.
**
** Contiguous operands go through block kernels: plain loops over a run of
** elements with one loop per operation and dtype, so that the compiler
** vectorises each. A scalar, or a broadcast operand smaller than a block,
** is first repeated into a block-sized buffer, so the same vector-vector
** kernels serve every case. Strided operands take a per-element path
** through the row-major iterator.
*/
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/tensor_ops.h"
#include "ops_internal.h"
#include "tensor_iter.h"

/* Elements per block of work and the repeat buffer's minimum length. */
enum { BLOCK = 16384, REPEAT_MIN = 1024 };


const char *kubo_binary_op_name(kubo_binary_op op) {
  static const char *const names[] = {"add", "sub", "mul", "div", "pow",
                                      "minimum", "maximum"};
  return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}


const char *kubo_unary_op_name(kubo_unary_op op) {
  static const char *const names[] = {"neg", "abs", "exp", "log", "sqrt",
                                      "sin", "cos", "tanh", "square"};
  return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}


/* ---------------------------------------------------------------------
** Kernels on contiguous runs: out[i] = x[i] op y[i], out[i] = op(x[i])
** ------------------------------------------------------------------- */

static inline double minimum_f64(double x, double y) {
  return (x < y || isnan(x)) ? x : y;
}

static inline double maximum_f64(double x, double y) {
  return (x > y || isnan(x)) ? x : y;
}

static inline float minimum_f32(float x, float y) {
  return (x < y || isnan(x)) ? x : y;
}

static inline float maximum_f32(float x, float y) {
  return (x > y || isnan(x)) ? x : y;
}


static void binary_f64(kubo_binary_op op, int64_t n, const double *x,
                       const double *y, double *out) {
  int64_t i;
  switch (op) {
  case KUBO_OP_ADD: for (i = 0; i < n; i++) out[i] = x[i] + y[i]; break;
  case KUBO_OP_SUB: for (i = 0; i < n; i++) out[i] = x[i] - y[i]; break;
  case KUBO_OP_MUL: for (i = 0; i < n; i++) out[i] = x[i] * y[i]; break;
  case KUBO_OP_DIV: for (i = 0; i < n; i++) out[i] = x[i] / y[i]; break;
  case KUBO_OP_POW: for (i = 0; i < n; i++) out[i] = pow(x[i], y[i]); break;
  case KUBO_OP_MINIMUM:
    for (i = 0; i < n; i++) out[i] = minimum_f64(x[i], y[i]);
    break;
  case KUBO_OP_MAXIMUM:
    for (i = 0; i < n; i++) out[i] = maximum_f64(x[i], y[i]);
    break;
  }
}


static void binary_f32(kubo_binary_op op, int64_t n, const float *x,
                       const float *y, float *out) {
  int64_t i;
  switch (op) {
  case KUBO_OP_ADD: for (i = 0; i < n; i++) out[i] = x[i] + y[i]; break;
  case KUBO_OP_SUB: for (i = 0; i < n; i++) out[i] = x[i] - y[i]; break;
  case KUBO_OP_MUL: for (i = 0; i < n; i++) out[i] = x[i] * y[i]; break;
  case KUBO_OP_DIV: for (i = 0; i < n; i++) out[i] = x[i] / y[i]; break;
  case KUBO_OP_POW: for (i = 0; i < n; i++) out[i] = powf(x[i], y[i]); break;
  case KUBO_OP_MINIMUM:
    for (i = 0; i < n; i++) out[i] = minimum_f32(x[i], y[i]);
    break;
  case KUBO_OP_MAXIMUM:
    for (i = 0; i < n; i++) out[i] = maximum_f32(x[i], y[i]);
    break;
  }
}


/* The same operation on one pair of doubles, for the strided path. */
static double binary_one(kubo_binary_op op, double x, double y) {
  switch (op) {
  case KUBO_OP_ADD: return x + y;
  case KUBO_OP_SUB: return x - y;
  case KUBO_OP_MUL: return x * y;
  case KUBO_OP_DIV: return x / y;
  case KUBO_OP_POW: return pow(x, y);
  case KUBO_OP_MINIMUM: return minimum_f64(x, y);
  case KUBO_OP_MAXIMUM: return maximum_f64(x, y);
  }
  return NAN;
}


/* Unary operations; clamp is carried as an extra operation code so that
** it shares the drivers below. */
enum { OP_CLAMP = KUBO_OP_SQUARE + 1 };

typedef struct unary_args {
  int op;
  double lo, hi;    /* clamp bounds */
} unary_args;


static void unary_f64(const unary_args *u, int64_t n, const double *x,
                      double *out) {
  int64_t i;
  double lo = u->lo, hi = u->hi;
  switch (u->op) {
  case KUBO_OP_NEG: for (i = 0; i < n; i++) out[i] = -x[i]; break;
  case KUBO_OP_ABS: for (i = 0; i < n; i++) out[i] = fabs(x[i]); break;
  case KUBO_OP_EXP: for (i = 0; i < n; i++) out[i] = exp(x[i]); break;
  case KUBO_OP_LOG: for (i = 0; i < n; i++) out[i] = log(x[i]); break;
  case KUBO_OP_SQRT: for (i = 0; i < n; i++) out[i] = sqrt(x[i]); break;
  case KUBO_OP_SIN: for (i = 0; i < n; i++) out[i] = sin(x[i]); break;
  case KUBO_OP_COS: for (i = 0; i < n; i++) out[i] = cos(x[i]); break;
  case KUBO_OP_TANH: for (i = 0; i < n; i++) out[i] = tanh(x[i]); break;
  case KUBO_OP_SQUARE: for (i = 0; i < n; i++) out[i] = x[i] * x[i]; break;
  case OP_CLAMP:
    for (i = 0; i < n; i++)
      out[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
    break;
  }
}


static void unary_f32(const unary_args *u, int64_t n, const float *x,
                      float *out) {
  int64_t i;
  float lo = (float)u->lo, hi = (float)u->hi;
  switch (u->op) {
  case KUBO_OP_NEG: for (i = 0; i < n; i++) out[i] = -x[i]; break;
  case KUBO_OP_ABS: for (i = 0; i < n; i++) out[i] = fabsf(x[i]); break;
  case KUBO_OP_EXP: for (i = 0; i < n; i++) out[i] = expf(x[i]); break;
  case KUBO_OP_LOG: for (i = 0; i < n; i++) out[i] = logf(x[i]); break;
  case KUBO_OP_SQRT: for (i = 0; i < n; i++) out[i] = sqrtf(x[i]); break;
  case KUBO_OP_SIN: for (i = 0; i < n; i++) out[i] = sinf(x[i]); break;
  case KUBO_OP_COS: for (i = 0; i < n; i++) out[i] = cosf(x[i]); break;
  case KUBO_OP_TANH: for (i = 0; i < n; i++) out[i] = tanhf(x[i]); break;
  case KUBO_OP_SQUARE: for (i = 0; i < n; i++) out[i] = x[i] * x[i]; break;
  case OP_CLAMP:
    for (i = 0; i < n; i++)
      out[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
    break;
  }
}


static double unary_one(const unary_args *u, double x) {
  switch (u->op) {
  case KUBO_OP_NEG: return -x;
  case KUBO_OP_ABS: return fabs(x);
  case KUBO_OP_EXP: return exp(x);
  case KUBO_OP_LOG: return log(x);
  case KUBO_OP_SQRT: return sqrt(x);
  case KUBO_OP_SIN: return sin(x);
  case KUBO_OP_COS: return cos(x);
  case KUBO_OP_TANH: return tanh(x);
  case KUBO_OP_SQUARE: return x * x;
  case OP_CLAMP: return x < u->lo ? u->lo : (x > u->hi ? u->hi : x);
  }
  return NAN;
}


/* ---------------------------------------------------------------------
** Checks and output preparation (shared with tensor_reduce.c and
** linalg.c through ops_internal.h)
** ------------------------------------------------------------------- */

kubo_status kubo_ops_check_input(const kubo_tensor *t, const char *fn,
                                 const char *name) {
  if (t == NULL || t->storage == NULL)
    return kubo_error_set(KUBO_ESTATE, "%s: %s is empty or freed", fn,
                          name);
  return KUBO_OK;
}


kubo_status kubo_ops_check_dtypes(const kubo_tensor *a, const kubo_tensor *b,
                                  const char *fn) {
  if (a->dtype != b->dtype)
    return kubo_error_set(KUBO_EINVAL, "%s: dtypes differ (%s and %s); "
                          "convert one operand with :to(\"%s\") first", fn,
                          kubo_dtype_name(a->dtype),
                          kubo_dtype_name(b->dtype),
                          kubo_dtype_name(a->dtype));
  return KUBO_OK;
}


kubo_status kubo_ops_prepare_out(kubo_tensor *out, const kubo_tensor *like,
                                 kubo_dtype dtype, const char *fn,
                                 bool *created) {
  char got[160], want[160];
  *created = false;
  if (out->storage == NULL) {
    kubo_status st = kubo_tensor_init(out, dtype, like->ndim, like->shape);
    if (st != KUBO_OK) return kubo_error_prefix(st, "%s", fn);
    *created = true;
    return KUBO_OK;
  }
  if (!kubo_tensor_same_shape(out, like))
    return kubo_error_set(KUBO_EINVAL, "%s: output has shape %s, expected "
                          "%s", fn,
                          kubo_tensor_shape_string(out, got, sizeof got),
                          kubo_tensor_shape_string(like, want,
                                                   sizeof want));
  if (out->dtype != dtype)
    return kubo_error_set(KUBO_EINVAL, "%s: output has dtype %s, expected "
                          "%s", fn, kubo_dtype_name(out->dtype),
                          kubo_dtype_name(dtype));
  return KUBO_OK;
}


/* True if a and b are the same view: same first element, shape and
** strides, so that an elementwise loop reads each element before it
** writes it. */
static bool same_view(const kubo_tensor *a, const kubo_tensor *b) {
  if (a->data != b->data || a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d] || a->stride[d] != b->stride[d])
      return false;
  return true;
}


/* Makes *safe a view of in that does not alias out: in itself when it
** uses other storage or is the same view as out, else a copy in *tmp. */
static kubo_status unalias(const kubo_tensor *in, const kubo_tensor *out,
                           kubo_tensor *tmp, const kubo_tensor **safe) {
  *safe = in;
  if (out->storage == NULL || in->storage != out->storage ||
      same_view(in, out))
    return KUBO_OK;
  kubo_status st = kubo_tensor_clone(tmp, in, -1);
  if (st == KUBO_OK) *safe = tmp;
  return st;
}


/* ---------------------------------------------------------------------
** Binary operations
** ------------------------------------------------------------------- */

/* True if small's shape equals the trailing dimensions of big's. */
static bool is_trailing_shape(const kubo_tensor *small,
                              const kubo_tensor *big) {
  int offset = big->ndim - small->ndim;
  if (offset < 0) return false;
  for (int d = 0; d < small->ndim; d++)
    if (small->shape[d] != big->shape[offset + d]) return false;
  return true;
}


static void run_binary_block(kubo_dtype dtype, kubo_binary_op op,
                             int64_t n, const void *x, const void *y,
                             void *out) {
  if (dtype == KUBO_FLOAT64)
    binary_f64(op, n, x, y, out);
  else
    binary_f32(op, n, x, y, out);
}


/* Fills buf (len elements, a multiple of small's element count) with
** copies of small in row-major order. */
static void fill_repeated(void *buf, int64_t len, const kubo_tensor *small) {
  kubo_iter it;
  int64_t m = kubo_tensor_numel(small);
  kubo_iter_init(&it, small);
  for (int64_t i = 0; i < m; i++) {
    double v = kubo_iter_read(&it, small);
    if (small->dtype == KUBO_FLOAT64)
      ((double *)buf)[i] = v;
    else
      ((float *)buf)[i] = (float)v;
    kubo_iter_step(&it, small);
  }
  for (int64_t i = m; i < len; i += m)
    memcpy((char *)buf + i * kubo_dtype_size(small->dtype), buf,
           (size_t)m * kubo_dtype_size(small->dtype));
}


/* out = big op small (or small op big when small_left), all contiguous
** except small, which may be strided. */
static kubo_status binary_contiguous(kubo_tensor *out,
                                     const kubo_tensor *big,
                                     const kubo_tensor *small,
                                     bool small_left, kubo_binary_op op) {
  int64_t n = kubo_tensor_numel(big), m = kubo_tensor_numel(small);
  size_t esize = kubo_dtype_size(big->dtype);
  const char *bp = big->data;
  char *op_out = out->data;
  const char *rep;
  void *buf = NULL;
  int64_t replen, nblocks;

  if (n == 0) return KUBO_OK;
  if (m == n && kubo_tensor_is_contiguous(small)) {
    const char *sp = small->data;
    nblocks = (n + BLOCK - 1) / BLOCK;
    #pragma omp parallel for schedule(static) if (nblocks > 4)
    for (int64_t blk = 0; blk < nblocks; blk++) {
      int64_t lo = blk * BLOCK, len = n - lo < BLOCK ? n - lo : BLOCK;
      const void *x = bp + lo * esize, *y = sp + lo * esize;
      if (small_left) { const void *t = x; x = y; y = t; }
      run_binary_block(big->dtype, op, len, x, y, op_out + lo * esize);
    }
    return KUBO_OK;
  }

  /* Repeat small into a buffer of whole copies at least REPEAT_MIN long
  ** (small itself when it is contiguous and long enough), then walk big
  ** in runs of that length. Each run starts at a multiple of m. */
  replen = m >= REPEAT_MIN ? m : m * ((REPEAT_MIN + m - 1) / m);
  if (m >= REPEAT_MIN && kubo_tensor_is_contiguous(small)) {
    rep = small->data;
  } else {
    buf = kubo_alloc((size_t)replen * esize);
    if (buf == NULL) return KUBO_ENOMEM;
    fill_repeated(buf, replen, small);
    rep = buf;
  }
  nblocks = (n + replen - 1) / replen;
  #pragma omp parallel for schedule(static) if (n > 4 * BLOCK)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    int64_t lo = blk * replen, len = n - lo < replen ? n - lo : replen;
    const void *x = bp + lo * esize, *y = rep;
    if (small_left) { const void *t = x; x = y; y = t; }
    run_binary_block(big->dtype, op, len, x, y, op_out + lo * esize);
  }
  kubo_free(buf, (size_t)replen * esize);
  return KUBO_OK;
}


/* The same with any strides: one element at a time. The small operand's
** iterator wraps to its first element after its last, which is exactly
** the trailing-shape broadcast. */
static void binary_strided(kubo_tensor *out, const kubo_tensor *big,
                           const kubo_tensor *small, bool small_left,
                           kubo_binary_op op) {
  kubo_iter io, ib, is;
  kubo_iter_init(&io, out);
  kubo_iter_init(&ib, big);
  kubo_iter_init(&is, small);
  for (int64_t i = 0; i < io.numel; i++) {
    double x = kubo_iter_read(&ib, big), y = kubo_iter_read(&is, small);
    kubo_iter_write(&io, out, small_left ? binary_one(op, y, x)
                                         : binary_one(op, x, y));
    kubo_iter_step(&io, out);
    kubo_iter_step(&ib, big);
    kubo_iter_step(&is, small);
  }
}


/* out = a op b where one of a, b broadcasts over the other. */
static kubo_status binary_driver(kubo_tensor *out, const kubo_tensor *a,
                                 kubo_binary_op op, const kubo_tensor *b,
                                 const char *fn) {
  const kubo_tensor *big, *small, *sa, *sb;
  kubo_tensor ta = {0}, tb = {0};
  bool small_left, created;
  char s1[160], s2[160];
  kubo_status st;

  if (is_trailing_shape(b, a)) {
    big = a;
    small = b;
    small_left = false;
  } else if (is_trailing_shape(a, b)) {
    big = b;
    small = a;
    small_left = true;
  } else {
    return kubo_error_set(KUBO_EINVAL, "%s: shapes %s and %s do not match "
                          "(one must equal the trailing dimensions of the "
                          "other)", fn,
                          kubo_tensor_shape_string(a, s1, sizeof s1),
                          kubo_tensor_shape_string(b, s2, sizeof s2));
  }

  st = kubo_ops_prepare_out(out, big, a->dtype, fn, &created);
  if (st != KUBO_OK) return st;
  st = unalias(a, out, &ta, &sa);
  if (st == KUBO_OK) st = unalias(b, out, &tb, &sb);
  if (st != KUBO_OK) goto done;
  big = small_left ? sb : sa;
  small = small_left ? sa : sb;

  if (kubo_tensor_is_contiguous(out) && kubo_tensor_is_contiguous(big))
    st = binary_contiguous(out, big, small, small_left, op);
  else
    binary_strided(out, big, small, small_left, op);

done:
  kubo_tensor_release(&ta);
  kubo_tensor_release(&tb);
  if (st != KUBO_OK && created) kubo_tensor_release(out);
  return st;
}


static kubo_status check_binary_op(kubo_binary_op op, const char *fn) {
  if ((unsigned)op > KUBO_OP_MAXIMUM)
    return kubo_error_set(KUBO_EINVAL, "%s: unknown binary operation %d",
                          fn, (int)op);
  return KUBO_OK;
}


kubo_status kubo_tensor_binary(kubo_tensor *out, const kubo_tensor *a,
                               kubo_binary_op op, const kubo_tensor *b) {
  const char *fn = kubo_binary_op_name(op);
  kubo_status st = check_binary_op(op, "binary");
  if (st == KUBO_OK) st = kubo_ops_check_input(a, fn, "first operand");
  if (st == KUBO_OK) st = kubo_ops_check_input(b, fn, "second operand");
  if (st == KUBO_OK) st = kubo_ops_check_dtypes(a, b, fn);
  if (st != KUBO_OK) return st;
  return binary_driver(out, a, op, b, fn);
}


/* a op s (or s op a when scalar_left), with s as a 0-dimensional
** tensor that the broadcasting driver repeats. */
static kubo_status binary_with_scalar(kubo_tensor *out, const kubo_tensor *a,
                                      kubo_binary_op op, double s,
                                      bool scalar_left) {
  const char *fn = kubo_binary_op_name(op);
  kubo_tensor scalar;
  kubo_status st = check_binary_op(op, "binary");
  if (st == KUBO_OK) st = kubo_ops_check_input(a, fn, "operand");
  if (st != KUBO_OK) return st;
  st = kubo_tensor_init(&scalar, a->dtype, 0, NULL);
  if (st != KUBO_OK) return st;
  kubo_tensor_fill(&scalar, s);
  st = scalar_left ? binary_driver(out, &scalar, op, a, fn)
                   : binary_driver(out, a, op, &scalar, fn);
  kubo_tensor_release(&scalar);
  return st;
}


kubo_status kubo_tensor_binary_scalar(kubo_tensor *out, const kubo_tensor *a,
                                      kubo_binary_op op, double s) {
  return binary_with_scalar(out, a, op, s, false);
}


kubo_status kubo_tensor_scalar_binary(kubo_tensor *out, double s,
                                      kubo_binary_op op,
                                      const kubo_tensor *a) {
  return binary_with_scalar(out, a, op, s, true);
}


/* ---------------------------------------------------------------------
** Unary operations
** ------------------------------------------------------------------- */

static kubo_status unary_driver(kubo_tensor *out, const kubo_tensor *a,
                                const unary_args *u, const char *fn) {
  const kubo_tensor *sa;
  kubo_tensor ta = {0};
  bool created;
  kubo_status st = kubo_ops_check_input(a, fn, "operand");
  if (st != KUBO_OK) return st;
  st = kubo_ops_prepare_out(out, a, a->dtype, fn, &created);
  if (st != KUBO_OK) return st;
  st = unalias(a, out, &ta, &sa);
  if (st != KUBO_OK) {
    if (created) kubo_tensor_release(out);
    return st;
  }

  if (kubo_tensor_is_contiguous(out) && kubo_tensor_is_contiguous(sa)) {
    int64_t n = kubo_tensor_numel(sa), nblocks = (n + BLOCK - 1) / BLOCK;
    size_t esize = kubo_dtype_size(sa->dtype);
    const char *x = sa->data;
    char *y = out->data;
    #pragma omp parallel for schedule(static) if (nblocks > 4)
    for (int64_t blk = 0; blk < nblocks; blk++) {
      int64_t lo = blk * BLOCK, len = n - lo < BLOCK ? n - lo : BLOCK;
      if (sa->dtype == KUBO_FLOAT64)
        unary_f64(u, len, (const void *)(x + lo * esize),
                  (void *)(y + lo * esize));
      else
        unary_f32(u, len, (const void *)(x + lo * esize),
                  (void *)(y + lo * esize));
    }
  } else {
    kubo_iter io, ia;
    kubo_iter_init(&io, out);
    kubo_iter_init(&ia, sa);
    for (int64_t i = 0; i < io.numel; i++) {
      kubo_iter_write(&io, out, unary_one(u, kubo_iter_read(&ia, sa)));
      kubo_iter_step(&io, out);
      kubo_iter_step(&ia, sa);
    }
  }
  kubo_tensor_release(&ta);
  return KUBO_OK;
}


kubo_status kubo_tensor_unary(kubo_tensor *out, const kubo_tensor *a,
                              kubo_unary_op op) {
  unary_args u = {(int)op, 0, 0};
  if ((unsigned)op > KUBO_OP_SQUARE)
    return kubo_error_set(KUBO_EINVAL, "unary: unknown operation %d",
                          (int)op);
  return unary_driver(out, a, &u, kubo_unary_op_name(op));
}


kubo_status kubo_tensor_clamp(kubo_tensor *out, const kubo_tensor *a,
                              double lo, double hi) {
  unary_args u = {OP_CLAMP, lo, hi};
  if (isnan(lo) || isnan(hi) || lo > hi)
    return kubo_error_set(KUBO_EINVAL, "clamp: bounds %g and %g are not "
                          "an interval (need lo <= hi)", lo, hi);
  return unary_driver(out, a, &u, "clamp");
}


/* ---------------------------------------------------------------------
** axpy
** ------------------------------------------------------------------- */

kubo_status kubo_tensor_axpy(kubo_tensor *y, double alpha,
                             const kubo_tensor *x) {
  const kubo_tensor *sx;
  kubo_tensor tx = {0}, ax = {0};
  kubo_status st = kubo_ops_check_input(y, "axpy", "y");
  if (st == KUBO_OK) st = kubo_ops_check_input(x, "axpy", "x");
  if (st == KUBO_OK) st = kubo_ops_check_dtypes(y, x, "axpy");
  if (st != KUBO_OK) return st;
  if (!is_trailing_shape(x, y)) {
    char s1[160], s2[160];
    return kubo_error_set(KUBO_EINVAL, "axpy: x of shape %s does not "
                          "match y of shape %s",
                          kubo_tensor_shape_string(x, s1, sizeof s1),
                          kubo_tensor_shape_string(y, s2, sizeof s2));
  }

  if (x->ndim == y->ndim && kubo_tensor_is_contiguous(x) &&
      kubo_tensor_is_contiguous(y) && x->storage != y->storage) {
    int64_t n = kubo_tensor_numel(y), nblocks = (n + BLOCK - 1) / BLOCK;
    #pragma omp parallel for schedule(static) if (nblocks > 4)
    for (int64_t blk = 0; blk < nblocks; blk++) {
      int64_t lo = blk * BLOCK, hi = n - lo < BLOCK ? n : lo + BLOCK;
      if (y->dtype == KUBO_FLOAT64) {
        double *py = y->data;
        const double *px = x->data;
        for (int64_t i = lo; i < hi; i++) py[i] += alpha * px[i];
      } else {
        float *py = y->data;
        const float *px = x->data;
        float fa = (float)alpha;
        for (int64_t i = lo; i < hi; i++) py[i] += fa * px[i];
      }
    }
    return KUBO_OK;
  }

  /* General case: y += (alpha * x), broadcast. */
  st = unalias(x, y, &tx, &sx);
  if (st == KUBO_OK) st = kubo_tensor_binary_scalar(&ax, sx, KUBO_OP_MUL,
                                                    alpha);
  if (st == KUBO_OK) st = binary_driver(y, y, KUBO_OP_ADD, &ax, "axpy");
  kubo_tensor_release(&ax);
  kubo_tensor_release(&tx);
  return st;
}


/* ---------------------------------------------------------------------
** Comparisons
** ------------------------------------------------------------------- */

kubo_status kubo_tensor_equal(const kubo_tensor *a, const kubo_tensor *b,
                              bool *result) {
  kubo_iter ia, ib;
  kubo_status st = kubo_ops_check_input(a, "equal", "first operand");
  if (st == KUBO_OK) st = kubo_ops_check_input(b, "equal", "second operand");
  if (st != KUBO_OK) return st;
  *result = false;
  if (a->dtype != b->dtype || !kubo_tensor_same_shape(a, b)) return KUBO_OK;
  kubo_iter_init(&ia, a);
  kubo_iter_init(&ib, b);
  for (int64_t i = 0; i < ia.numel; i++) {
    if (kubo_iter_read(&ia, a) != kubo_iter_read(&ib, b)) return KUBO_OK;
    kubo_iter_step(&ia, a);
    kubo_iter_step(&ib, b);
  }
  *result = true;
  return KUBO_OK;
}


kubo_status kubo_tensor_allclose(const kubo_tensor *a, const kubo_tensor *b,
                                 double rtol, double atol, bool *result) {
  kubo_iter ia, ib;
  char s1[160], s2[160];
  kubo_status st = kubo_ops_check_input(a, "allclose", "first operand");
  if (st == KUBO_OK)
    st = kubo_ops_check_input(b, "allclose", "second operand");
  if (st != KUBO_OK) return st;
  if (!kubo_tensor_same_shape(a, b))
    return kubo_error_set(KUBO_EINVAL, "allclose: shapes %s and %s differ",
                          kubo_tensor_shape_string(a, s1, sizeof s1),
                          kubo_tensor_shape_string(b, s2, sizeof s2));
  if (!(rtol >= 0) || !(atol >= 0))
    return kubo_error_set(KUBO_EINVAL, "allclose: tolerances must be "
                          "non-negative (got rtol %g, atol %g)", rtol, atol);
  *result = false;
  kubo_iter_init(&ia, a);
  kubo_iter_init(&ib, b);
  for (int64_t i = 0; i < ia.numel; i++) {
    double x = kubo_iter_read(&ia, a), y = kubo_iter_read(&ib, b);
    if (!(fabs(x - y) <= atol + rtol * fabs(y))) {
      /* equal infinities have a NaN difference but are close */
      if (!(isinf(x) && x == y)) return KUBO_OK;
    }
    kubo_iter_step(&ia, a);
    kubo_iter_step(&ib, b);
  }
  *result = true;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Ranges
** ------------------------------------------------------------------- */

kubo_status kubo_tensor_arange(kubo_tensor *out, kubo_dtype dtype,
                               double start, double stop, double step) {
  double count;
  int64_t n;
  kubo_status st;
  memset(out, 0, sizeof *out);
  if (!isfinite(start) || !isfinite(stop) || !isfinite(step))
    return kubo_error_set(KUBO_EINVAL, "arange: start, stop and step must "
                          "be finite (got %g, %g, %g)", start, stop, step);
  if (step == 0)
    return kubo_error_set(KUBO_EINVAL, "arange: step must not be 0");
  count = ceil((stop - start) / step);
  if (!(count <= (double)KUBO_MAX_NUMEL))
    return kubo_error_set(KUBO_EINVAL, "arange: %g elements requested, at "
                          "most 2^48 are supported", count);
  n = count > 0 ? (int64_t)count : 0;
  st = kubo_tensor_init(out, dtype, 1, &n);
  if (st != KUBO_OK) return st;
  for (int64_t i = 0; i < n; i++) {
    double v = start + (double)i * step;
    if (dtype == KUBO_FLOAT64)
      ((double *)out->data)[i] = v;
    else
      ((float *)out->data)[i] = (float)v;
  }
  return KUBO_OK;
}


kubo_status kubo_tensor_linspace(kubo_tensor *out, kubo_dtype dtype,
                                 double start, double stop, int64_t n) {
  kubo_status st;
  double h;
  memset(out, 0, sizeof *out);
  if (!isfinite(start) || !isfinite(stop))
    return kubo_error_set(KUBO_EINVAL, "linspace: start and stop must be "
                          "finite (got %g, %g)", start, stop);
  if (n < 0 || n > KUBO_MAX_NUMEL)
    return kubo_error_set(KUBO_EINVAL, "linspace: number of points must "
                          "be between 0 and 2^48 (got %lld)", (long long)n);
  st = kubo_tensor_init(out, dtype, 1, &n);
  if (st != KUBO_OK) return st;
  h = n > 1 ? (stop - start) / (double)(n - 1) : 0;
  for (int64_t i = 0; i < n; i++) {
    /* the last point is stop exactly, not start + (n - 1) * h */
    double v = i == n - 1 && n > 1 ? stop : start + (double)i * h;
    if (dtype == KUBO_FLOAT64)
      ((double *)out->data)[i] = v;
    else
      ((float *)out->data)[i] = (float)v;
  }
  return KUBO_OK;
}
