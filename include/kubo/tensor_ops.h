/*
** tensor_ops.h: elementwise arithmetic, reductions, comparisons and
** ranges on kubo tensors.
**
** Output tensors. Every function with a `kubo_tensor *out` either
** creates out (when out is empty) as a new contiguous tensor, or writes
** into an existing out of the result's shape and dtype, which may be a
** strided view. Passing out == a computes in place. An input that shares
** storage with out without being the very same view is copied first, so
** overlapping operands give the same result as separate ones.
**
** Broadcasting. A binary operation accepts operands of the same shape,
** or one whose shape is the trailing shape of the other. For example, b
** of shape (4) or (3, 4) against a of shape (2, 3, 4) is applied to
** every (3, 4) block of a. A 0-dimensional tensor broadcasts against
** anything. The result has the larger operand's shape.
**
** Dtypes. Both tensor operands must have the same dtype, so mixed float64
** and float32 operands fail with KUBO_EINVAL (convert one with
** kubo_tensor_clone first). Scalars are doubles, rounded to float for a
** float32 tensor, and float32 arithmetic is done in float. Reductions
** accumulate in double for both dtypes.
**
** Work on contiguous tensors runs as plain loops over blocks, spread over
** OpenMP threads when there are many elements. Every result is the same
** for any thread count, because each output element and each partial sum
** is computed by one thread in a fixed order.
*/
#ifndef KUBO_TENSOR_OPS_H
#define KUBO_TENSOR_OPS_H

#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kubo_binary_op {
  KUBO_OP_ADD = 0,
  KUBO_OP_SUB,
  KUBO_OP_MUL,
  KUBO_OP_DIV,
  KUBO_OP_POW,
  KUBO_OP_MINIMUM,    /* elementwise min; NaN if either is NaN */
  KUBO_OP_MAXIMUM     /* elementwise max; NaN if either is NaN */
} kubo_binary_op;

typedef enum kubo_unary_op {
  KUBO_OP_NEG = 0,
  KUBO_OP_ABS,
  KUBO_OP_EXP,
  KUBO_OP_LOG,
  KUBO_OP_SQRT,
  KUBO_OP_SIN,
  KUBO_OP_COS,
  KUBO_OP_TANH,
  KUBO_OP_SQUARE
} kubo_unary_op;

typedef enum kubo_reduce_op {
  KUBO_REDUCE_SUM = 0,
  KUBO_REDUCE_MEAN,
  KUBO_REDUCE_VAR,      /* sample variance: divisor n - 1 */
  KUBO_REDUCE_STD,      /* square root of KUBO_REDUCE_VAR */
  KUBO_REDUCE_MIN,      /* NaN if any element is NaN */
  KUBO_REDUCE_MAX,      /* NaN if any element is NaN */
  KUBO_REDUCE_NORM,     /* Euclidean norm: sqrt of the sum of squares */
  KUBO_REDUCE_ARGMIN,   /* 0-based index of the first minimum (or NaN) */
  KUBO_REDUCE_ARGMAX    /* 0-based index of the first maximum (or NaN) */
} kubo_reduce_op;

const char *kubo_binary_op_name(kubo_binary_op op);
const char *kubo_unary_op_name(kubo_unary_op op);
const char *kubo_reduce_op_name(kubo_reduce_op op);


/* ---------------------------------------------------------------------
** Elementwise arithmetic
** ------------------------------------------------------------------- */

/* Computes out = a op b elementwise, broadcasting the operand with the
** trailing shape (see above). Fails with KUBO_EINVAL if the shapes do not
** broadcast, the dtypes differ, or an existing out has the wrong shape or
** dtype. Fails with KUBO_ESTATE if an input is empty, and with
** KUBO_ENOMEM if out or a temporary cannot be allocated. On failure a new
** out stays empty and an existing out is unchanged. */
kubo_status kubo_tensor_binary(kubo_tensor *out, const kubo_tensor *a,
                               kubo_binary_op op, const kubo_tensor *b);

/* Computes out = a op s for every element of a. Fails as
** kubo_tensor_binary. */
kubo_status kubo_tensor_binary_scalar(kubo_tensor *out, const kubo_tensor *a,
                                      kubo_binary_op op, double s);

/* Computes out = s op a for every element of a (for example 1 / a).
** Fails as kubo_tensor_binary. */
kubo_status kubo_tensor_scalar_binary(kubo_tensor *out, double s,
                                      kubo_binary_op op,
                                      const kubo_tensor *a);

/* Computes out = op(a) elementwise. Fails as kubo_tensor_binary. */
kubo_status kubo_tensor_unary(kubo_tensor *out, const kubo_tensor *a,
                              kubo_unary_op op);

/* Computes out = min(max(a, lo), hi) elementwise; NaN stays NaN. Fails
** with KUBO_EINVAL if lo > hi or either is NaN, otherwise as
** kubo_tensor_binary. */
kubo_status kubo_tensor_clamp(kubo_tensor *out, const kubo_tensor *a,
                              double lo, double hi);

/* Adds alpha * x to y in place (y may be a strided view). x must have
** y's shape or a trailing shape of it, and y's dtype. Fails with
** KUBO_EINVAL on a shape or dtype mismatch and leaves y unchanged. */
kubo_status kubo_tensor_axpy(kubo_tensor *y, double alpha,
                             const kubo_tensor *x);


/* ---------------------------------------------------------------------
** Reductions (accumulated in double)
** ------------------------------------------------------------------- */

/* Reduces all elements of t into *result. Sum and norm of an empty tensor
** are 0. Fails with KUBO_EINVAL for the other reductions of an empty
** tensor, and for var and std of fewer than 2 elements. */
kubo_status kubo_tensor_reduce(const kubo_tensor *t, kubo_reduce_op op,
                               double *result);

/* Reduces t along dimension dim (0-based) into a new tensor out whose
** shape is t's without dim (a 1-D t gives a 0-dimensional out). out has
** t's dtype, except for argmin and argmax, whose out is float64 and
** contains 0-based indices. out must be empty. Fails with KUBO_EINVAL
** for a dimension out of range, and as kubo_tensor_reduce when dimension
** dim has too few elements. */
kubo_status kubo_tensor_reduce_dim(kubo_tensor *out, const kubo_tensor *t,
                                   kubo_reduce_op op, int dim);


/* ---------------------------------------------------------------------
** Comparisons
** ------------------------------------------------------------------- */

/* Sets *result to true if a and b have the same shape, the same dtype and
** equal elements (NaN equals nothing). Fails only on an empty input. */
kubo_status kubo_tensor_equal(const kubo_tensor *a, const kubo_tensor *b,
                              bool *result);

/* Sets *result to true if |a - b| <= atol + rtol * |b| for every element
** and no element is NaN. Dtypes may differ (values compare as doubles).
** Fails with KUBO_EINVAL if the shapes differ or rtol or atol is negative
** or NaN. */
kubo_status kubo_tensor_allclose(const kubo_tensor *a, const kubo_tensor *b,
                                 double rtol, double atol, bool *result);


/* ---------------------------------------------------------------------
** Ranges (out must be empty)
** ------------------------------------------------------------------- */

/* Creates the 1-D tensor start, start + step, ... of the values below
** stop (above stop for a negative step), computed as start + i * step.
** Fails with KUBO_EINVAL if step is 0, an argument is not finite, or the
** range has more than KUBO_MAX_NUMEL elements. */
kubo_status kubo_tensor_arange(kubo_tensor *out, kubo_dtype dtype,
                               double start, double stop, double step);

/* Creates the 1-D tensor of n evenly spaced values from start to stop,
** both included (n = 1 gives start). Fails with KUBO_EINVAL if n is
** negative or too large, or start or stop is not finite. */
kubo_status kubo_tensor_linspace(kubo_tensor *out, kubo_dtype dtype,
                                 double start, double stop, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
