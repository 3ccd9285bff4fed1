/*
** grid_impl.h: the layout of kubo_grid, shared by src/spectral/ only.
*/
#ifndef KUBO_GRID_IMPL_H
#define KUBO_GRID_IMPL_H

#include <fftw3.h>

#include "kubo/grid.h"

struct kubo_grid {
  long refcount;                       /* atomic updates only */
  int ndim;
  kubo_nyquist nyquist;
  int64_t n[KUBO_GRID_MAX_DIM];        /* 1 for axes beyond ndim */
  double length[KUBO_GRID_MAX_DIM];
  int64_t real_size;                   /* M */
  int64_t spectral_size;               /* H */
  int64_t nxh;                         /* nx / 2 + 1 */

  double *k[KUBO_GRID_MAX_DIM];        /* n[a] entries each */
  double *coord[KUBO_GRID_MAX_DIM];    /* n[a] entries each */
  double *k2;                          /* H entries */
  double *keep;                        /* H entries, 0 or 1 */
  double *dealias;                     /* H entries, 0 or 1 */

  /* One-field plans, made on 64-byte aligned scratch, so they run on
  ** any arrays with the same fftw_alignment_of (kubo_grid_aligned). */
  fftw_plan forward;                   /* r2c, input preserved */
  fftw_plan inverse;                   /* c2r, input destroyed */
};

/* The wavenumber index magnitude |m| of FFTW index i on an axis of n
** points (n/2 for the Nyquist index). */
static inline int64_t kubo_grid_index_abs(int64_t i, int64_t n) {
  return i <= n / 2 ? i : n - i;
}

/* 1 if p has the alignment of the arrays the plans were made on (64
** bytes), as FFTW's new-array execute functions require. */
static inline int kubo_grid_aligned(const void *p) {
  return fftw_alignment_of((double *)p) == 0;
}

#endif
