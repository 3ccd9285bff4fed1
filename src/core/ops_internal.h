/*
** ops_internal.h: argument checks shared by tensor_ops.c,
** tensor_reduce.c and linalg.c (internal to the engine).
*/
#ifndef KUBO_OPS_INTERNAL_H
#define KUBO_OPS_INTERNAL_H

#include "kubo/tensor.h"

/* Fails with KUBO_ESTATE, naming fn and the argument, if t is NULL,
** empty or released. */
kubo_status kubo_ops_check_input(const kubo_tensor *t, const char *fn,
                                 const char *name);

/* Fails with KUBO_EINVAL if a and b have different dtypes. */
kubo_status kubo_ops_check_dtypes(const kubo_tensor *a, const kubo_tensor *b,
                                  const char *fn);

/* Creates out with like's shape and the given dtype if out is empty
** (setting *created), else checks that the existing out has that shape
** and dtype. */
kubo_status kubo_ops_prepare_out(kubo_tensor *out, const kubo_tensor *like,
                                 kubo_dtype dtype, const char *fn,
                                 bool *created);

#endif
