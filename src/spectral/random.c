/*
** random.c: Gaussian random fields and the reference correlated noise.
*/
#include <math.h>

#include "kubo/alloc.h"
#include "grid_impl.h"

/* Batches whose total size reaches this many points run in parallel. */
enum { PARALLEL_MIN = 1 << 14 };


/* Splits half-spectrum mode p into its axis indices (x, y, z). */
static void mode_index(const kubo_grid *g, int64_t p, int64_t idx[3]) {
  idx[0] = p % g->nxh;
  idx[1] = (p / g->nxh) % g->n[1];
  idx[2] = p / (g->nxh * g->n[1]);
}


/* 1 if index i on an axis of n points is its own negative (0, Nyquist). */
static int self_negative(int64_t i, int64_t n) {
  return i == 0 || (n % 2 == 0 && i == n / 2);
}


/* Returns the half-spectrum position of the conjugate partner -k of a mode
** in a self-negative x column (ix = 0 or the Nyquist column). */
static int64_t column_partner(const kubo_grid *g, const int64_t idx[3]) {
  int64_t iy = (g->n[1] - idx[1]) % g->n[1];
  int64_t iz = (g->n[2] - idx[2]) % g->n[2];
  return (iz * g->n[1] + iy) * g->nxh + idx[0];
}


/* Builds the spectrum of one Hermitian-correct random field from 2 H
** normals z. Modes strictly inside the half plane (0 < ix < nx/2) have
** no stored partner and get M sqrt(S/2) (z_re + i z_im). In the ix = 0
** and Nyquist columns, the mode of each conjugate pair with the smaller
** position draws and its partner takes the conjugate; modes that are
** their own partner are real with variance M^2 S. */
static void hermitian_spectrum(const kubo_grid *g, const double *S,
                               const double *z, double *spec) {
  double M = (double)g->real_size;
  for (int64_t p = 0; p < g->spectral_size; p++) {
    int64_t idx[3];
    mode_index(g, p, idx);
    double s = S[p] * g->keep[p];

    if (!self_negative(idx[0], g->n[0])) {
      double a = M * sqrt(0.5 * s);
      spec[2 * p] = a * z[2 * p];
      spec[2 * p + 1] = a * z[2 * p + 1];
      continue;
    }
    int64_t q = column_partner(g, idx);
    if (q == p) {
      spec[2 * p] = M * sqrt(s) * z[2 * p];
      spec[2 * p + 1] = 0;
    } else if (p < q) {
      double a = M * sqrt(0.5 * s);
      spec[2 * p] = a * z[2 * p];
      spec[2 * p + 1] = a * z[2 * p + 1];
      spec[2 * q] = spec[2 * p];
      spec[2 * q + 1] = -spec[2 * p + 1];
    }
  }
}


kubo_status kubo_grid_random_field(const kubo_grid *g,
                                   const double *spectrum, kubo_rng *rng,
                                   int64_t count, double *out) {
  if (count < 0)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: batch count must be >= 0 (got %lld)",
                          (long long)count);
  int64_t H = g->spectral_size, M = g->real_size;
  for (int64_t p = 0; p < H; p++) {
    if (!(isfinite(spectrum[p]) && spectrum[p] >= 0))
      return kubo_error_set(KUBO_EINVAL,
                            "grid: random field spectrum must be finite "
                            "and >= 0 (got %g at mode %lld)", spectrum[p],
                            (long long)p + 1);
  }

  size_t bytes = (size_t)(2 * H) * sizeof(double);
  double *z = kubo_alloc(bytes), *spec = kubo_alloc(bytes);
  kubo_status status = z != NULL && spec != NULL ? KUBO_OK : KUBO_ENOMEM;
  for (int64_t f = 0; f < count && status == KUBO_OK; f++) {
    kubo_rng_normal(rng, z, 2 * H);
    hermitian_spectrum(g, spectrum, z, spec);
    status = kubo_grid_ifft_overwrite(g, 1, spec, out + f * M);
  }
  kubo_free(z, bytes);
  kubo_free(spec, bytes);
  return status;
}


void kubo_grid_noise_amplitude(const kubo_grid *g, double eps2,
                               double *amplitude) {
  for (int64_t p = 0; p < g->spectral_size; p++)
    amplitude[p] = sqrt(eps2 / (1 + g->k2[p])) * g->keep[p];
}


/* Builds the Hermitian part h_k = (c_k + conj(c_-k)) / 2 of the white
** complex spectrum c_k = M a_k (xi_k + i zeta_k). z contains xi and zeta
** interleaved over the full spectrum in row-major (z, y, x) order. */
static void noise_spectrum(const kubo_grid *g, const double *amplitude,
                           const double *z, double *h) {
  int64_t nx = g->n[0], ny = g->n[1], nz = g->n[2];
  double half_m = 0.5 * (double)g->real_size;
  int64_t p = 0;
  for (int64_t iz = 0; iz < nz; iz++) {
    for (int64_t iy = 0; iy < ny; iy++) {
      /* Full-spectrum rows of k and of -k. */
      int64_t row = (iz * ny + iy) * nx;
      int64_t mrow = (((nz - iz) % nz) * ny + (ny - iy) % ny) * nx;
      for (int64_t ix = 0; ix < g->nxh; ix++, p++) {
        int64_t k = row + ix, mk = mrow + (nx - ix) % nx;
        double a = half_m * amplitude[p] * g->keep[p];
        h[2 * p] = a * (z[2 * k] + z[2 * mk]);
        h[2 * p + 1] = a * (z[2 * k + 1] - z[2 * mk + 1]);
      }
    }
  }
}


kubo_status kubo_grid_noise(const kubo_grid *g, const double *amplitude,
                            int64_t members, kubo_rng *rngs, double *out) {
  if (members < 0)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: member count must be >= 0 (got %lld)",
                          (long long)members);
  int64_t M = g->real_size, H = g->spectral_size;
  size_t zbytes = (size_t)(2 * M) * sizeof(double);
  size_t hbytes = (size_t)(2 * H) * sizeof(double);
  int failed = 0;
  int parallel = members > 1 && members * M >= PARALLEL_MIN;

  #pragma omp parallel if (parallel) reduction(| : failed)
  {
    double *z = kubo_alloc(zbytes), *h = kubo_alloc(hbytes);
    if (z == NULL || h == NULL) failed = 1;

    #pragma omp for schedule(static)
    for (int64_t m = 0; m < members; m++) {
      if (failed) continue;
      kubo_rng_normal(&rngs[m], z, 2 * M);
      noise_spectrum(g, amplitude, z, h);
      if (kubo_grid_ifft_overwrite(g, 1, h, out + m * M) != KUBO_OK)
        failed = 1;
    }
    kubo_free(z, zbytes);
    kubo_free(h, hbytes);
  }

  if (failed)
    return kubo_error_set(KUBO_ENOMEM,
                          "grid: out of memory for noise work arrays");
  return KUBO_OK;
}
