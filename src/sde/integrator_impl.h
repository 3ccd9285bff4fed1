/*
** integrator_impl.h: the layout of kubo_sim, shared by integrator.c
** (creation, state, checkpoints) and integrator_step.c (stepping).
*/
#ifndef KUBO_SDE_INTEGRATOR_IMPL_H
#define KUBO_SDE_INTEGRATOR_IMPL_H

#include "kubo/integrator.h"
#include "model_impl.h"

struct kubo_sim {
  kubo_model *model;
  kubo_sim_options opt;
  int64_t members;
  int64_t S;                 /* internal doubles per member */
  int64_t Hs;                /* hidden values per member */
  int64_t noise_normals;     /* normals per member and step */
  uint64_t noise_blocks;     /* Philox blocks per member and step */
  uint64_t hidden_blocks;    /* Philox blocks per hidden half step */
  double *x, *xs;            /* (members, S): current, and saved at the
                             ** start of a chunk */
  double *h, *hs;            /* (members, Hs) */
  int64_t step;
  int64_t chunk;             /* steps per chunk, adapted to its time */

  int failed;                /* the last advance hit a non-finite state */
  int64_t fail_step, fail_member;
  double fail_time;
};


/* Bytes of an ensemble buffer with per_member doubles per member. */
static inline size_t sde_buffer_bytes(const kubo_sim *s,
                                      int64_t per_member) {
  return (size_t)s->members * (size_t)per_member * sizeof(double);
}

#endif
