/*
** tensor.h: n-dimensional arrays of float64 or float32.
**
** A kubo_tensor is a small value (a view): a pointer to reference-counted
** storage, the address of its first element, a dtype, a shape and strides
** counted in elements. Several views may share one storage. Row-major
** order: the last dimension varies fastest in a contiguous tensor.
**
** Ownership: a function that fills a `kubo_tensor *out` makes out hold
** one reference; kubo_tensor_release() drops it. An out tensor must be
** empty (zeroed, or released) when passed in, unless the contract says
** it writes into an existing tensor. Indices and dimensions are 0-based
** here; the Lua bindings convert from 1-based.
**
** Complex spectra are stored as real tensors with a trailing dimension
** of 2 (real, imaginary), which is the memory layout of fftw_complex.
*/
#ifndef KUBO_TENSOR_H
#define KUBO_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubo/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kubo_dtype { KUBO_FLOAT64 = 0, KUBO_FLOAT32 = 1 } kubo_dtype;

enum { KUBO_MAX_DIM = 8 };

typedef struct kubo_storage {
  void *data;        /* KUBO_ALIGNMENT-aligned, from kubo_alloc */
  size_t nbytes;
  long refcount;     /* views sharing this storage */
} kubo_storage;

typedef struct kubo_tensor {
  kubo_storage *storage;           /* NULL when empty or released */
  void *data;                      /* address of element (0, ..., 0) */
  kubo_dtype dtype;
  int ndim;                        /* 0 .. KUBO_MAX_DIM; 0 is a scalar */
  int64_t shape[KUBO_MAX_DIM];
  int64_t stride[KUBO_MAX_DIM];    /* in elements */
} kubo_tensor;

/* Largest number of elements one tensor may hold (2^48). */
#define KUBO_MAX_NUMEL ((int64_t)1 << 48)

size_t kubo_dtype_size(kubo_dtype dtype);
const char *kubo_dtype_name(kubo_dtype dtype);

/* Parses "float64"/"double" or "float32"/"float"; returns -1 if unknown. */
int kubo_dtype_parse(const char *name);


/* ---------------------------------------------------------------------
** Creation and lifetime
** ------------------------------------------------------------------- */

/* Creates a zero-filled contiguous tensor of the given shape in *out.
** Fails with KUBO_EINVAL for ndim outside 0..KUBO_MAX_DIM, a negative
** size or more than KUBO_MAX_NUMEL elements, and with KUBO_ENOMEM if the
** allocation fails; *out is then left empty. */
kubo_status kubo_tensor_init(kubo_tensor *out, kubo_dtype dtype, int ndim,
                             const int64_t *shape);

/* Like kubo_tensor_init with the shape of like (and its dtype if dtype is
** negative). */
kubo_status kubo_tensor_init_like(kubo_tensor *out, const kubo_tensor *like,
                                  int dtype);

/* Drops out's reference and leaves it empty. Safe on an empty tensor. */
void kubo_tensor_release(kubo_tensor *t);

/* Makes out a second view of t (same storage, shape and strides). */
void kubo_tensor_share(kubo_tensor *out, const kubo_tensor *t);

static inline bool kubo_tensor_is_empty(const kubo_tensor *t) {
  return t->storage == NULL;
}

int64_t kubo_tensor_numel(const kubo_tensor *t);
bool kubo_tensor_is_contiguous(const kubo_tensor *t);
bool kubo_tensor_same_shape(const kubo_tensor *a, const kubo_tensor *b);

/* Writes "(3, 4)"-style text of t's shape into buf (always terminated). */
const char *kubo_tensor_shape_string(const kubo_tensor *t, char *buf,
                                     size_t size);

/* Fails with KUBO_EINVAL, naming `what`, unless t has the given dtype,
** is contiguous and has exactly the given shape (-1 in shape matches any
** size). */
kubo_status kubo_tensor_expect(const kubo_tensor *t, const char *what,
                               kubo_dtype dtype, int ndim,
                               const int64_t *shape);


/* ---------------------------------------------------------------------
** Views (share storage; out must be empty)
** ------------------------------------------------------------------- */

/* Removes dimension dim by fixing it at index. */
kubo_status kubo_tensor_select(kubo_tensor *out, const kubo_tensor *t,
                               int dim, int64_t index);

/* Keeps indices first..last-1 of dimension dim (half-open). */
kubo_status kubo_tensor_narrow(kubo_tensor *out, const kubo_tensor *t,
                               int dim, int64_t first, int64_t last);

/* Reinterprets a contiguous tensor with a new shape of equal size. One
** entry of shape may be -1 and is then inferred. */
kubo_status kubo_tensor_reshape(kubo_tensor *out, const kubo_tensor *t,
                                int ndim, const int64_t *shape);

kubo_status kubo_tensor_transpose(kubo_tensor *out, const kubo_tensor *t,
                                  int dim1, int dim2);


/* ---------------------------------------------------------------------
** Copies and element access
** ------------------------------------------------------------------- */

/* Makes out a new contiguous copy of t, converting to dtype (negative:
** keep t's). */
kubo_status kubo_tensor_clone(kubo_tensor *out, const kubo_tensor *t,
                              int dtype);

/* Makes out a contiguous view of t if t is contiguous, else a copy. */
kubo_status kubo_tensor_contiguous(kubo_tensor *out, const kubo_tensor *t);

/* Copies src into the existing dst of the same shape, converting dtype;
** dst and src may be any views. */
kubo_status kubo_tensor_copy(kubo_tensor *dst, const kubo_tensor *src);

void kubo_tensor_fill(kubo_tensor *t, double value);

/* Returns the offset in elements of the element at idx (no checks). */
static inline int64_t kubo_tensor_offset(const kubo_tensor *t,
                                         const int64_t *idx) {
  int64_t off = 0;
  for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
  return off;
}

/* Reads or writes the element at the 0-based index idx (t->ndim entries).
** Fails with KUBO_EINVAL if an index is out of range. */
kubo_status kubo_tensor_get(const kubo_tensor *t, const int64_t *idx,
                            double *value);
kubo_status kubo_tensor_set(kubo_tensor *t, const int64_t *idx,
                            double value);

/* Reads element i of a contiguous tensor as a double (no checks). */
static inline double kubo_tensor_at(const kubo_tensor *t, int64_t i) {
  return t->dtype == KUBO_FLOAT64 ? ((const double *)t->data)[i]
                                  : (double)((const float *)t->data)[i];
}

#ifdef __cplusplus
}
#endif

#endif
