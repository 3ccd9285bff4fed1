/*
** diag.c: spatial mean, energy, enstrophy and isotropic spectra.
**
** The energy diagnostics sum over the half spectrum, where each mode
** with 0 < ix < nx/2 stands for two modes of the full spectrum, and
** divide by M^2, so that by Parseval (1/M^2) sum_k |u^_k|^2 = <u^2>.
*/
#include <math.h>

#include "kubo/alloc.h"
#include "grid_impl.h"

typedef enum quantity { ENERGY, ENSTROPHY } quantity;


kubo_status kubo_grid_mean(const kubo_grid *g, int64_t count,
                           const double *real, double *out) {
  if (count < 0)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: batch count must be >= 0 (got %lld)",
                          (long long)count);
  int64_t M = g->real_size;
  for (int64_t f = 0; f < count; f++) {
    double sum = 0;
    for (int64_t i = 0; i < M; i++) sum += real[f * M + i];
    out[f] = sum / (double)M;
  }
  return KUBO_OK;
}


/* Returns the weight of half-spectrum mode p in sums over the full
** spectrum: 1 for the ix = 0 and Nyquist columns, else 2. */
static double mode_weight(const kubo_grid *g, int64_t p) {
  int64_t ix = p % g->nxh;
  int self = ix == 0 || (g->n[0] % 2 == 0 && ix == g->n[0] / 2);
  return self ? 1.0 : 2.0;
}


/* Returns the factor f such that the quantity's density at mode p is
** (1/2) f |u^_p|^2 (before the weight and 1/M^2). Follows the grid's
** operators: psi = inverse laplacian of omega and omega = laplacian psi,
** each with the keep mask. */
static double density_factor(const kubo_grid *g, quantity q,
                             kubo_grid_field kind, int64_t p) {
  double k2 = g->k2[p], keep = g->keep[p];
  if (q == ENERGY) {
    if (kind == KUBO_FIELD_STREAMFUNCTION) return k2 * keep;
    if (kind == KUBO_FIELD_VORTICITY) return k2 > 0 ? keep / k2 : 0;
    return 1;
  }
  if (kind == KUBO_FIELD_STREAMFUNCTION) return k2 * k2 * keep;
  return 1;
}


/* Transforms count fields into a new buffer *spec (2 H per field). */
static kubo_status forward_copy(const kubo_grid *g, int64_t count,
                                const double *real, double **spec,
                                size_t *bytes) {
  *bytes = (size_t)(count * 2 * g->spectral_size) * sizeof(double);
  *spec = kubo_alloc(*bytes);
  if (*spec == NULL) return KUBO_ENOMEM;
  kubo_status status = kubo_grid_fft(g, count, real, *spec);
  if (status != KUBO_OK) {
    kubo_free(*spec, *bytes);
    *spec = NULL;
  }
  return status;
}


static kubo_status check_kind(int64_t count, kubo_grid_field kind) {
  if (count < 0)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: batch count must be >= 0 (got %lld)",
                          (long long)count);
  if (kind != KUBO_FIELD_PLAIN && kind != KUBO_FIELD_STREAMFUNCTION &&
      kind != KUBO_FIELD_VORTICITY)
    return kubo_error_set(KUBO_EINVAL, "grid: unknown field kind %d",
                          (int)kind);
  return KUBO_OK;
}


static kubo_status integrate(const kubo_grid *g, quantity q,
                             kubo_grid_field kind, int64_t count,
                             const double *real, double *out) {
  kubo_status status = check_kind(count, kind);
  if (status != KUBO_OK) return status;
  double *spec;
  size_t bytes;
  status = forward_copy(g, count, real, &spec, &bytes);
  if (status != KUBO_OK) return status;

  int64_t H = g->spectral_size;
  double M = (double)g->real_size;
  for (int64_t f = 0; f < count; f++) {
    const double *s = spec + 2 * H * f;
    double sum = 0;
    for (int64_t p = 0; p < H; p++) {
      double a2 = s[2 * p] * s[2 * p] + s[2 * p + 1] * s[2 * p + 1];
      sum += mode_weight(g, p) * density_factor(g, q, kind, p) * a2;
    }
    out[f] = 0.5 * sum / (M * M);
  }
  kubo_free(spec, bytes);
  return KUBO_OK;
}


kubo_status kubo_grid_energy(const kubo_grid *g, kubo_grid_field kind,
                             int64_t count, const double *real,
                             double *out) {
  return integrate(g, ENERGY, kind, count, real, out);
}


kubo_status kubo_grid_enstrophy(const kubo_grid *g, kubo_grid_field kind,
                                int64_t count, const double *real,
                                double *out) {
  return integrate(g, ENSTROPHY, kind, count, real, out);
}


/* ---------------------------------------------------------------------
** Isotropic spectra
** ------------------------------------------------------------------- */

double kubo_grid_spectrum_dk(const kubo_grid *g) {
  double lmax = 0;
  for (int a = 0; a < g->ndim; a++)
    if (g->length[a] > lmax) lmax = g->length[a];
  return 2 * M_PI / lmax;
}


/* Returns the shell of half-spectrum mode p, from the true wavenumber
** magnitude (Nyquist indices at pi n / L whatever the convention). */
static int64_t mode_shell(const kubo_grid *g, int64_t p, double dk) {
  int64_t idx[3] = {p % g->nxh, (p / g->nxh) % g->n[1],
                    p / (g->nxh * g->n[1])};
  double k2 = 0;
  for (int a = 0; a < g->ndim; a++) {
    double k = 2 * M_PI / g->length[a] *
               (double)kubo_grid_index_abs(idx[a], g->n[a]);
    k2 += k * k;
  }
  return (int64_t)floor(sqrt(k2) / dk + 0.5);
}


int64_t kubo_grid_spectrum_bins(const kubo_grid *g) {
  double dk = kubo_grid_spectrum_dk(g);
  int64_t last = 0;
  for (int64_t p = 0; p < g->spectral_size; p++) {
    int64_t b = mode_shell(g, p, dk);
    if (b > last) last = b;
  }
  return last + 1;
}


kubo_status kubo_grid_spectrum(const kubo_grid *g, kubo_grid_field kind,
                               int64_t count, const double *real,
                               double *out) {
  kubo_status status = check_kind(count, kind);
  if (status != KUBO_OK) return status;
  double *spec;
  size_t bytes;
  status = forward_copy(g, count, real, &spec, &bytes);
  if (status != KUBO_OK) return status;

  int64_t H = g->spectral_size, bins = kubo_grid_spectrum_bins(g);
  double M = (double)g->real_size, dk = kubo_grid_spectrum_dk(g);
  for (int64_t i = 0; i < count * bins; i++) out[i] = 0;
  for (int64_t p = 0; p < H; p++) {
    int64_t b = mode_shell(g, p, dk);
    double w = 0.5 * mode_weight(g, p) *
               density_factor(g, ENERGY, kind, p) / (M * M);
    for (int64_t f = 0; f < count; f++) {
      const double *s = spec + 2 * H * f;
      double a2 = s[2 * p] * s[2 * p] + s[2 * p + 1] * s[2 * p + 1];
      out[f * bins + b] += w * a2;
    }
  }
  kubo_free(spec, bytes);
  return KUBO_OK;
}
