/*
** tensor_iter.h: row-major iteration over the elements of a strided
** tensor (internal to the engine).
*/
#ifndef KUBO_TENSOR_ITER_H
#define KUBO_TENSOR_ITER_H

#include "kubo/tensor.h"

typedef struct kubo_iter {
  int64_t index[KUBO_MAX_DIM];
  int64_t offset;              /* in elements from t->data */
  int64_t numel;
} kubo_iter;

static inline void kubo_iter_init(kubo_iter *it, const kubo_tensor *t) {
  for (int d = 0; d < KUBO_MAX_DIM; d++) it->index[d] = 0;
  it->offset = 0;
  it->numel = kubo_tensor_numel(t);
}

/* Advances to the next element; t must be the tensor the iterator was
** made for (passed again to keep the iterator small). */
static inline void kubo_iter_step(kubo_iter *it, const kubo_tensor *t) {
  for (int d = t->ndim - 1; d >= 0; d--) {
    it->index[d]++;
    it->offset += t->stride[d];
    if (it->index[d] < t->shape[d]) return;
    it->offset -= t->stride[d] * t->shape[d];
    it->index[d] = 0;
  }
}

static inline double kubo_iter_read(const kubo_iter *it,
                                    const kubo_tensor *t) {
  return t->dtype == KUBO_FLOAT64
             ? ((const double *)t->data)[it->offset]
             : (double)((const float *)t->data)[it->offset];
}

static inline void kubo_iter_write(const kubo_iter *it, kubo_tensor *t,
                                   double v) {
  if (t->dtype == KUBO_FLOAT64)
    ((double *)t->data)[it->offset] = v;
  else
    ((float *)t->data)[it->offset] = (float)v;
}

#endif
