/*
** tensor.c: tensor storage, views, copies and element access.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/tensor.h"
#include "tensor_iter.h"


size_t kubo_dtype_size(kubo_dtype dtype) {
  return dtype == KUBO_FLOAT32 ? sizeof(float) : sizeof(double);
}


const char *kubo_dtype_name(kubo_dtype dtype) {
  return dtype == KUBO_FLOAT32 ? "float32" : "float64";
}


int kubo_dtype_parse(const char *name) {
  if (strcmp(name, "float64") == 0 || strcmp(name, "double") == 0)
    return KUBO_FLOAT64;
  if (strcmp(name, "float32") == 0 || strcmp(name, "float") == 0)
    return KUBO_FLOAT32;
  return -1;
}


static void set_contiguous_strides(kubo_tensor *t) {
  int64_t s = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    t->stride[d] = s;
    s *= t->shape[d] > 0 ? t->shape[d] : 1;
  }
}


/* Checks a shape and returns its element count in *numel. */
static kubo_status check_shape(int ndim, const int64_t *shape,
                               int64_t *numel) {
  int64_t n = 1;
  if (ndim < 0 || ndim > KUBO_MAX_DIM)
    return kubo_error_set(KUBO_EINVAL,
                          "tensor: %d dimensions requested, at most %d "
                          "are supported", ndim, (int)KUBO_MAX_DIM);
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0)
      return kubo_error_set(KUBO_EINVAL,
                            "tensor: size %lld of dimension %d is "
                            "negative", (long long)shape[d], d + 1);
    if (shape[d] > 0 && n > KUBO_MAX_NUMEL / shape[d])
      return kubo_error_set(KUBO_EINVAL,
                            "tensor: shape has more than 2^48 elements "
                            "(dimension %d has size %lld)", d + 1,
                            (long long)shape[d]);
    n *= shape[d];
  }
  *numel = n;
  return KUBO_OK;
}


kubo_status kubo_tensor_init(kubo_tensor *out, kubo_dtype dtype, int ndim,
                             const int64_t *shape) {
  int64_t numel = 0;
  size_t nbytes;
  kubo_storage *s;
  kubo_status st;

  memset(out, 0, sizeof *out);
  if (dtype != KUBO_FLOAT64 && dtype != KUBO_FLOAT32)
    return kubo_error_set(KUBO_EINVAL, "tensor: unknown dtype %d",
                          (int)dtype);
  st = check_shape(ndim, shape, &numel);
  if (st != KUBO_OK) return st;
  if (!kubo_size_mul((size_t)numel, kubo_dtype_size(dtype), &nbytes))
    return kubo_error_set(KUBO_EINVAL, "tensor: size overflows");

  s = kubo_alloc(sizeof *s);
  if (s == NULL) return KUBO_ENOMEM;
  s->data = kubo_calloc(nbytes);
  if (s->data == NULL) {
    kubo_free(s, sizeof *s);
    return kubo_error_set(KUBO_ENOMEM,
                          "tensor: out of memory allocating %lld elements "
                          "(%zu bytes)", (long long)numel, nbytes);
  }
  s->nbytes = nbytes;
  s->refcount = 1;

  out->storage = s;
  out->data = s->data;
  out->dtype = dtype;
  out->ndim = ndim;
  for (int d = 0; d < ndim; d++) out->shape[d] = shape[d];
  set_contiguous_strides(out);
  return KUBO_OK;
}


kubo_status kubo_tensor_init_like(kubo_tensor *out, const kubo_tensor *like,
                                  int dtype) {
  return kubo_tensor_init(out, dtype < 0 ? like->dtype : (kubo_dtype)dtype,
                          like->ndim, like->shape);
}


void kubo_tensor_release(kubo_tensor *t) {
  kubo_storage *s = t->storage;
  if (s != NULL) {
    if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
      kubo_free(s->data, s->nbytes);
      kubo_free(s, sizeof *s);
    }
  }
  memset(t, 0, sizeof *t);
}


void kubo_tensor_share(kubo_tensor *out, const kubo_tensor *t) {
  *out = *t;
  if (t->storage != NULL)
    __atomic_add_fetch(&t->storage->refcount, 1, __ATOMIC_ACQ_REL);
}


int64_t kubo_tensor_numel(const kubo_tensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  return n;
}


bool kubo_tensor_is_contiguous(const kubo_tensor *t) {
  int64_t s = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != s) return false;
    s *= t->shape[d];
  }
  return true;
}


bool kubo_tensor_same_shape(const kubo_tensor *a, const kubo_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}


const char *kubo_tensor_shape_string(const kubo_tensor *t, char *buf,
                                     size_t size) {
  size_t used = 0;
  if (size == 0) return buf;
  buf[0] = '\0';
  used += (size_t)snprintf(buf, size, "(");
  for (int d = 0; d < t->ndim && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld",
                             (long long)t->shape[d]);
  if (used < size) snprintf(buf + used, size - used, ")");
  return buf;
}


kubo_status kubo_tensor_expect(const kubo_tensor *t, const char *what,
                               kubo_dtype dtype, int ndim,
                               const int64_t *shape) {
  char got[160];
  bool ok = t->ndim == ndim;
  if (kubo_tensor_is_empty(t))
    return kubo_error_set(KUBO_EINVAL, "%s: tensor is empty or freed",
                          what);
  for (int d = 0; ok && d < ndim; d++)
    if (shape[d] >= 0 && t->shape[d] != shape[d]) ok = false;
  if (!ok) {
    char want[160];
    size_t used = (size_t)snprintf(want, sizeof want, "(");
    for (int d = 0; d < ndim && used < sizeof want; d++) {
      if (shape[d] >= 0)
        used += (size_t)snprintf(want + used, sizeof want - used,
                                 d ? ", %lld" : "%lld",
                                 (long long)shape[d]);
      else
        used += (size_t)snprintf(want + used, sizeof want - used,
                                 d ? ", any" : "any");
    }
    if (used < sizeof want) snprintf(want + used, sizeof want - used, ")");
    return kubo_error_set(KUBO_EINVAL, "%s: expected shape %s, got %s",
                          what, want,
                          kubo_tensor_shape_string(t, got, sizeof got));
  }
  if (t->dtype != dtype)
    return kubo_error_set(KUBO_EINVAL, "%s: expected dtype %s, got %s "
                          "(convert with :to(\"%s\"))", what,
                          kubo_dtype_name(dtype), kubo_dtype_name(t->dtype),
                          kubo_dtype_name(dtype));
  if (!kubo_tensor_is_contiguous(t))
    return kubo_error_set(KUBO_EINVAL, "%s: tensor is not contiguous "
                          "(call :contiguous() first)", what);
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Views
** ------------------------------------------------------------------- */

static kubo_status check_dim(const kubo_tensor *t, int dim,
                             const char *fn) {
  if (t->storage == NULL)
    return kubo_error_set(KUBO_ESTATE, "%s: tensor is empty or freed", fn);
  if (dim < 0 || dim >= t->ndim)
    return kubo_error_set(KUBO_EINVAL, "%s: dimension %d out of range "
                          "(tensor has %d)", fn, dim + 1, t->ndim);
  return KUBO_OK;
}


kubo_status kubo_tensor_select(kubo_tensor *out, const kubo_tensor *t,
                               int dim, int64_t index) {
  kubo_status st = check_dim(t, dim, "select");
  if (st != KUBO_OK) return st;
  if (index < 0 || index >= t->shape[dim])
    return kubo_error_set(KUBO_EINVAL, "select: index %lld out of range "
                          "1..%lld in dimension %d", (long long)index + 1,
                          (long long)t->shape[dim], dim + 1);
  kubo_tensor_share(out, t);
  out->data = (char *)t->data +
              (size_t)(index * t->stride[dim]) * kubo_dtype_size(t->dtype);
  for (int d = dim; d < t->ndim - 1; d++) {
    out->shape[d] = t->shape[d + 1];
    out->stride[d] = t->stride[d + 1];
  }
  out->ndim = t->ndim - 1;
  return KUBO_OK;
}


kubo_status kubo_tensor_narrow(kubo_tensor *out, const kubo_tensor *t,
                               int dim, int64_t first, int64_t last) {
  kubo_status st = check_dim(t, dim, "slice");
  if (st != KUBO_OK) return st;
  if (first < 0 || last > t->shape[dim] || first > last)
    return kubo_error_set(KUBO_EINVAL, "slice: range %lld..%lld invalid "
                          "for dimension %d of size %lld",
                          (long long)first + 1, (long long)last, dim + 1,
                          (long long)t->shape[dim]);
  kubo_tensor_share(out, t);
  out->data = (char *)t->data +
              (size_t)(first * t->stride[dim]) * kubo_dtype_size(t->dtype);
  out->shape[dim] = last - first;
  return KUBO_OK;
}


kubo_status kubo_tensor_reshape(kubo_tensor *out, const kubo_tensor *t,
                                int ndim, const int64_t *shape) {
  int64_t want[KUBO_MAX_DIM];
  int64_t known = 1, n = kubo_tensor_numel(t);
  int infer = -1;
  char buf[160];

  if (t->storage == NULL)
    return kubo_error_set(KUBO_ESTATE, "reshape: tensor is empty or freed");
  if (ndim < 0 || ndim > KUBO_MAX_DIM)
    return kubo_error_set(KUBO_EINVAL, "reshape: %d dimensions requested, "
                          "at most %d are supported", ndim,
                          (int)KUBO_MAX_DIM);
  for (int d = 0; d < ndim; d++) {
    want[d] = shape[d];
    if (shape[d] == -1 && infer < 0) {
      infer = d;
    } else if (shape[d] < 0) {
      return kubo_error_set(KUBO_EINVAL, "reshape: invalid size %lld in "
                            "dimension %d", (long long)shape[d], d + 1);
    } else {
      if (shape[d] > 0 && known > KUBO_MAX_NUMEL / shape[d])
        return kubo_error_set(KUBO_EINVAL, "reshape: shape too large");
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    if (known == 0 || n % known != 0)
      return kubo_error_set(KUBO_EINVAL, "reshape: cannot infer size of "
                            "dimension %d for %lld elements", infer + 1,
                            (long long)n);
    want[infer] = n / known;
    known = n;
  }
  if (known != n)
    return kubo_error_set(KUBO_EINVAL, "reshape: %lld elements cannot "
                          "take a shape with %lld (tensor shape %s)",
                          (long long)n, (long long)known,
                          kubo_tensor_shape_string(t, buf, sizeof buf));
  if (!kubo_tensor_is_contiguous(t))
    return kubo_error_set(KUBO_EINVAL, "reshape: tensor is not contiguous "
                          "(call :contiguous() first)");
  kubo_tensor_share(out, t);
  out->ndim = ndim;
  for (int d = 0; d < ndim; d++) out->shape[d] = want[d];
  set_contiguous_strides(out);
  return KUBO_OK;
}


kubo_status kubo_tensor_transpose(kubo_tensor *out, const kubo_tensor *t,
                                  int dim1, int dim2) {
  int64_t tmp;
  kubo_status st = check_dim(t, dim1, "transpose");
  if (st == KUBO_OK) st = check_dim(t, dim2, "transpose");
  if (st != KUBO_OK) return st;
  kubo_tensor_share(out, t);
  tmp = out->shape[dim1];
  out->shape[dim1] = out->shape[dim2];
  out->shape[dim2] = tmp;
  tmp = out->stride[dim1];
  out->stride[dim1] = out->stride[dim2];
  out->stride[dim2] = tmp;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Copies and element access
** ------------------------------------------------------------------- */

kubo_status kubo_tensor_copy(kubo_tensor *dst, const kubo_tensor *src) {
  char a[160], b[160];
  kubo_iter it;
  if (dst->storage == NULL || src->storage == NULL)
    return kubo_error_set(KUBO_ESTATE, "copy: tensor is empty or freed");
  if (kubo_tensor_numel(dst) != kubo_tensor_numel(src))
    return kubo_error_set(KUBO_EINVAL, "copy: shapes %s and %s differ in "
                          "size", kubo_tensor_shape_string(dst, a, sizeof a),
                          kubo_tensor_shape_string(src, b, sizeof b));
  if (dst->dtype == src->dtype && kubo_tensor_is_contiguous(dst) &&
      kubo_tensor_is_contiguous(src)) {
    memmove(dst->data, src->data,
            (size_t)kubo_tensor_numel(src) * kubo_dtype_size(src->dtype));
    return KUBO_OK;
  }
  /* A strided source that shares storage with dst (x:copy_(x:transpose()))
  ** is copied out first, so no element is read after it was written. */
  if (src->storage == dst->storage) {
    kubo_tensor tmp;
    kubo_status st = kubo_tensor_clone(&tmp, src, -1);
    if (st != KUBO_OK) return st;
    st = kubo_tensor_copy(dst, &tmp);
    kubo_tensor_release(&tmp);
    return st;
  }
  /* Element by element in row-major order of each operand, so tensors of
  ** equal size but different shape copy like a reshape. */
  kubo_iter_init(&it, src);
  {
    kubo_iter out;
    kubo_iter_init(&out, dst);
    for (int64_t i = 0; i < it.numel; i++) {
      double v = kubo_iter_read(&it, src);
      kubo_iter_write(&out, dst, v);
      kubo_iter_step(&it, src);
      kubo_iter_step(&out, dst);
    }
  }
  return KUBO_OK;
}


kubo_status kubo_tensor_clone(kubo_tensor *out, const kubo_tensor *t,
                              int dtype) {
  kubo_status st;
  if (t->storage == NULL)
    return kubo_error_set(KUBO_ESTATE, "clone: tensor is empty or freed");
  st = kubo_tensor_init_like(out, t, dtype);
  if (st != KUBO_OK) return st;
  return kubo_tensor_copy(out, t);
}


kubo_status kubo_tensor_contiguous(kubo_tensor *out, const kubo_tensor *t) {
  if (t->storage == NULL)
    return kubo_error_set(KUBO_ESTATE,
                          "contiguous: tensor is empty or freed");
  if (kubo_tensor_is_contiguous(t)) {
    kubo_tensor_share(out, t);
    return KUBO_OK;
  }
  return kubo_tensor_clone(out, t, -1);
}


void kubo_tensor_fill(kubo_tensor *t, double value) {
  kubo_iter it;
  if (t->storage == NULL) return;
  if (kubo_tensor_is_contiguous(t)) {
    int64_t n = kubo_tensor_numel(t);
    if (t->dtype == KUBO_FLOAT64) {
      double *p = t->data;
      for (int64_t i = 0; i < n; i++) p[i] = value;
    } else {
      float *p = t->data;
      for (int64_t i = 0; i < n; i++) p[i] = (float)value;
    }
    return;
  }
  kubo_iter_init(&it, t);
  for (int64_t i = 0; i < it.numel; i++) {
    kubo_iter_write(&it, t, value);
    kubo_iter_step(&it, t);
  }
}


static kubo_status check_index(const kubo_tensor *t, const int64_t *idx,
                               const char *fn) {
  if (t->storage == NULL)
    return kubo_error_set(KUBO_ESTATE, "%s: tensor is empty or freed", fn);
  for (int d = 0; d < t->ndim; d++)
    if (idx[d] < 0 || idx[d] >= t->shape[d])
      return kubo_error_set(KUBO_EINVAL, "%s: index %lld out of range "
                            "1..%lld in dimension %d", fn,
                            (long long)idx[d] + 1, (long long)t->shape[d],
                            d + 1);
  return KUBO_OK;
}


kubo_status kubo_tensor_get(const kubo_tensor *t, const int64_t *idx,
                            double *value) {
  kubo_status st = check_index(t, idx, "get");
  int64_t off;
  if (st != KUBO_OK) return st;
  off = kubo_tensor_offset(t, idx);
  *value = t->dtype == KUBO_FLOAT64 ? ((const double *)t->data)[off]
                                    : (double)((const float *)t->data)[off];
  return KUBO_OK;
}


kubo_status kubo_tensor_set(kubo_tensor *t, const int64_t *idx,
                            double value) {
  kubo_status st = check_index(t, idx, "set");
  int64_t off;
  if (st != KUBO_OK) return st;
  off = kubo_tensor_offset(t, idx);
  if (t->dtype == KUBO_FLOAT64)
    ((double *)t->data)[off] = value;
  else
    ((float *)t->data)[off] = (float)value;
  return KUBO_OK;
}
