/*
** optim_internal.h: the optimizer and EMA structures (src/optim only).
*/
#ifndef KUBO_OPTIM_INTERNAL_H
#define KUBO_OPTIM_INTERNAL_H

#include "kubo/optim.h"
#include "kubo/tensor.h"

struct kubo_optim {
  kubo_optim_config config;
  kubo_nn *net;
  int64_t n;               /* parameters */
  int64_t step;            /* steps taken */
  kubo_tensor m, v;        /* Adam's moments, or SGD's momentum in m;
                              1-D float32 of n */
  int narrays;
  int64_t *offsets;        /* parameter arrays of the network */
  int64_t *sizes;
  double *sumsq;           /* per-array sums of squares of a step */
  double *factor;          /* per-array gradient factors of a step */
  double last_norm;
};

struct kubo_ema {
  kubo_nn *net;
  kubo_tensor shadow;      /* 1-D float32, the network's length */
  double rate;
  bool warmup;
  int64_t updates;
};

#endif
