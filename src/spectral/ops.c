/*
** ops.c: spectral operators applied in place to batches of half spectra.
*/
#include <math.h>

#include "grid_impl.h"

static kubo_status check_count(int64_t count) {
  if (count < 0)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: batch count must be >= 0 (got %lld)",
                          (long long)count);
  return KUBO_OK;
}


/* Multiplies every spectrum of the batch by the real table. */
static void scale_batch(const kubo_grid *g, const double *table,
                        int64_t count, double *spec) {
  int64_t H = g->spectral_size;
  for (int64_t f = 0; f < count; f++) {
    double *s = spec + 2 * H * f;
    for (int64_t p = 0; p < H; p++) {
      s[2 * p] *= table[p];
      s[2 * p + 1] *= table[p];
    }
  }
}


/* Multiplies every spectrum by i k_axis times the keep mask. The loops
** walk the modes in (z, y, x) order, so that no index is divided out. */
static void derivative_batch(const kubo_grid *g, int axis, int64_t count,
                             double *spec) {
  const double *k = g->k[axis];
  for (int64_t f = 0; f < count; f++) {
    double *s = spec + 2 * g->spectral_size * f;
    int64_t p = 0;
    for (int64_t iz = 0; iz < g->n[2]; iz++) {
      for (int64_t iy = 0; iy < g->n[1]; iy++) {
        for (int64_t ix = 0; ix < g->nxh; ix++, p++) {
          int64_t idx[3] = {ix, iy, iz};
          double m = k[idx[axis]] * g->keep[p];
          double re = s[2 * p], im = s[2 * p + 1];
          s[2 * p] = -m * im;
          s[2 * p + 1] = m * re;
        }
      }
    }
  }
}


/* Applies (-|k|^2)^power without a table, mode by mode. */
static void power_batch(const kubo_grid *g, int power, int64_t count,
                        double *spec) {
  int64_t H = g->spectral_size;
  for (int64_t f = 0; f < count; f++) {
    double *s = spec + 2 * H * f;
    for (int64_t p = 0; p < H; p++) {
      double k2 = g->k2[p], v;
      if (power < 0 && k2 == 0) {
        v = 0;
      } else {
        v = 1;
        double base = power < 0 ? -1.0 / k2 : -k2;
        for (int i = 0; i < (power < 0 ? -power : power); i++) v *= base;
      }
      v *= g->keep[p];
      s[2 * p] *= v;
      s[2 * p + 1] *= v;
    }
  }
}


kubo_status kubo_grid_spec_laplacian_power(const kubo_grid *g, int power,
                                           int64_t count, double *spec) {
  kubo_status status = check_count(count);
  if (status != KUBO_OK) return status;
  power_batch(g, power, count, spec);
  return KUBO_OK;
}


kubo_status kubo_grid_spec_apply(const kubo_grid *g, kubo_grid_op op,
                                 int64_t count, double *spec) {
  kubo_status status = check_count(count);
  if (status != KUBO_OK) return status;

  switch (op) {
  case KUBO_GRID_DX:
  case KUBO_GRID_DY:
  case KUBO_GRID_DZ: {
    int axis = (int)(op - KUBO_GRID_DX);
    if (axis >= g->ndim)
      return kubo_error_set(KUBO_EINVAL,
                            "grid: d%c needs a grid with at least %d "
                            "dimensions (this one has %d)",
                            "xyz"[axis], axis + 1, g->ndim);
    derivative_batch(g, axis, count, spec);
    return KUBO_OK;
  }
  case KUBO_GRID_LAPLACIAN:
    power_batch(g, 1, count, spec);
    return KUBO_OK;
  case KUBO_GRID_INVERSE_LAPLACIAN:
    power_batch(g, -1, count, spec);
    return KUBO_OK;
  case KUBO_GRID_DEALIAS:
    scale_batch(g, g->dealias, count, spec);
    return KUBO_OK;
  case KUBO_GRID_IDENTITY:
    scale_batch(g, g->keep, count, spec);
    return KUBO_OK;
  }
  return kubo_error_set(KUBO_EINVAL, "grid: unknown operator %d", (int)op);
}


kubo_status kubo_grid_spec_scale(const kubo_grid *g, const double *table,
                                 int64_t count, double *spec) {
  kubo_status status = check_count(count);
  if (status != KUBO_OK) return status;
  int64_t H = g->spectral_size;
  for (int64_t f = 0; f < count; f++) {
    double *s = spec + 2 * H * f;
    for (int64_t p = 0; p < H; p++) {
      double v = table[p] * g->keep[p];
      s[2 * p] *= v;
      s[2 * p + 1] *= v;
    }
  }
  return KUBO_OK;
}


kubo_status kubo_grid_spec_multiply(const kubo_grid *g, const double *table,
                                    int64_t count, double *spec) {
  kubo_status status = check_count(count);
  if (status != KUBO_OK) return status;
  int64_t H = g->spectral_size;
  for (int64_t f = 0; f < count; f++) {
    double *s = spec + 2 * H * f;
    for (int64_t p = 0; p < H; p++) {
      double a = table[2 * p] * g->keep[p];
      double b = table[2 * p + 1] * g->keep[p];
      double re = s[2 * p], im = s[2 * p + 1];
      s[2 * p] = a * re - b * im;
      s[2 * p + 1] = a * im + b * re;
    }
  }
  return KUBO_OK;
}


/* Writes the wavenumber vector of half-spectrum mode p into k. */
static void mode_vector(const kubo_grid *g, int64_t p,
                        double k[KUBO_GRID_MAX_DIM]) {
  int64_t idx[3] = {p % g->nxh, (p / g->nxh) % g->n[1],
                    p / (g->nxh * g->n[1])};
  for (int a = 0; a < KUBO_GRID_MAX_DIM; a++)
    k[a] = a < g->ndim ? g->k[a][idx[a]] : 0;
}


void kubo_grid_symbol_table(const kubo_grid *g, kubo_grid_symbol_fn fn,
                            void *userdata, double *table) {
  for (int64_t p = 0; p < g->spectral_size; p++) {
    double k[KUBO_GRID_MAX_DIM], v[2] = {0, 0};
    mode_vector(g, p, k);
    if (g->keep[p] != 0) fn(k, g->k2[p], userdata, v);
    table[2 * p] = v[0];
    table[2 * p + 1] = v[1];
  }
}


void kubo_grid_radial_table(const kubo_grid *g, kubo_grid_radial_fn fn,
                            void *userdata, double *table) {
  for (int64_t p = 0; p < g->spectral_size; p++)
    table[p] = g->keep[p] != 0 ? fn(g->k2[p], userdata) : 0;
}
