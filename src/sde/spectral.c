/*
** spectral.c: FFT plans, state conversion and the correlated noise of
** the grid models.
**
** The models make their own one-field FFTW plans (under the planner
** lock) instead of going through kubo_grid_fft. A member's step then runs
** its transforms back to back on its own work arrays, and the 1/M of the
** inverse transform is folded into copies that the step makes anyway.
*/
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/integrator.h"
#include "model_impl.h"

/* Batches of at least this many points are converted in parallel. */
enum { PARALLEL_MIN = 1 << 14 };

/* Kinds of mode in the half-spectrum noise draw (noise_map[4 p]). */
enum {
  DRAW_INTERIOR = 0,    /* 0 < ix < nx/2: a complex normal of its own */
  DRAW_SELF = 1,        /* its own conjugate partner: a real normal */
  DRAW_PAIR = 2,        /* draws for itself and its stored partner */
  DRAW_PARTNER = 3      /* set by its partner */
};


double *sde_work_alloc(int64_t n) {
  return kubo_alloc((size_t)n * sizeof(double));
}


void sde_work_free(double *work, int64_t n) {
  kubo_free(work, (size_t)n * sizeof(double));
}


/* 1 if index i on an axis of n points is its own negative (0, Nyquist). */
static int self_negative(int64_t i, int64_t n) {
  return i == 0 || (n % 2 == 0 && i == n / 2);
}


/* Fills the noise tables. Half draw (as kubo_grid_random_field): mode p
** uses normals 2p, 2p+1; a mode in a self-negative x column pairs with its
** partner q, and the one with the smaller position draws. Full draw (as
** kubo_grid_noise): mode p combines the normals of full-spectrum modes k
** and -k, h = (c_k + conj(c_-k)) / 2 with c = M a (xi + i zeta). */
static kubo_status noise_tables(kubo_model *m, double eps2) {
  const kubo_grid *g = m->grid;
  const double *k2 = kubo_grid_k2(g), *keep = kubo_grid_keep(g);
  int64_t nx = kubo_grid_n(g, 0);
  int64_t ny = kubo_grid_ndim(g) > 1 ? kubo_grid_n(g, 1) : 1;
  int64_t nz = kubo_grid_ndim(g) > 2 ? kubo_grid_n(g, 2) : 1;
  int64_t nxh = nx / 2 + 1, H = m->H;
  double M = (double)m->M;

  m->noise_coef = kubo_alloc((size_t)(3 * H) * sizeof(double));
  m->noise_map = kubo_alloc((size_t)(4 * H) * sizeof(int64_t));
  if (m->noise_coef == NULL || m->noise_map == NULL)
    return KUBO_ENOMEM;

  for (int64_t p = 0; p < H; p++) {
    int64_t ix = p % nxh, iy = (p / nxh) % ny, iz = p / (nxh * ny);
    double s = eps2 / (1 + k2[p]) * keep[p];
    int64_t *map = m->noise_map + 4 * p;

    m->noise_coef[3 * p] = M * sqrt(0.5 * s);
    m->noise_coef[3 * p + 1] = M * sqrt(s);
    m->noise_coef[3 * p + 2] = 0.5 * M * sqrt(s);

    int64_t iyn = (ny - iy) % ny, izn = (nz - iz) % nz;
    if (!self_negative(ix, nx)) {
      map[0] = DRAW_INTERIOR;
      map[1] = p;
    } else {
      int64_t q = (izn * ny + iyn) * nxh + ix;
      if (q == p)
        map[0] = DRAW_SELF;
      else if (p < q)
        map[0] = DRAW_PAIR;
      else
        map[0] = DRAW_PARTNER;
      map[1] = q;
    }
    map[2] = (iz * ny + iy) * nx + ix;
    map[3] = (izn * ny + iyn) * nx + (nx - ix) % nx;
  }
  return KUBO_OK;
}


kubo_status sde_spectral_ready(kubo_model *m, double eps2) {
  const kubo_grid *g = m->grid;
  int ndim = kubo_grid_ndim(g);
  int n[KUBO_GRID_MAX_DIM];
  for (int a = 0; a < ndim; a++)
    n[a] = (int)kubo_grid_n(g, ndim - 1 - a);
  m->M = kubo_grid_real_size(g);
  m->H = kubo_grid_spectral_size(g);
  m->dim = m->M;
  m->state_size = 2 * m->H;

  size_t rbytes = (size_t)m->M * sizeof(double);
  size_t sbytes = (size_t)(2 * m->H) * sizeof(double);
  double *real = kubo_alloc(rbytes), *spec = kubo_alloc(sbytes);
  kubo_status status = KUBO_OK;
  if (real == NULL || spec == NULL) {
    status = KUBO_ENOMEM;
  } else {
    kubo_fftw_lock();
    m->r2c = fftw_plan_dft_r2c(ndim, n, real, (fftw_complex *)spec,
                               FFTW_ESTIMATE);
    m->c2r = fftw_plan_dft_c2r(ndim, n, (fftw_complex *)spec, real,
                               FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
    kubo_fftw_unlock();
    if (m->r2c == NULL || m->c2r == NULL)
      status = kubo_error_set(KUBO_ENOMEM, "%s: FFTW could not plan the "
                              "transforms of the grid", m->ops->kind);
  }
  kubo_free(real, rbytes);
  kubo_free(spec, sbytes);
  if (status == KUBO_OK && eps2 > 0) status = noise_tables(m, eps2);
  if (status == KUBO_ENOMEM && kubo_error_message()[0] == '\0')
    kubo_error_set(KUBO_ENOMEM, "%s: out of memory for the model tables",
                   m->ops->kind);
  return status;
}


void sde_spectral_free(kubo_model *m) {
  kubo_fftw_lock();
  if (m->r2c != NULL) fftw_destroy_plan(m->r2c);
  if (m->c2r != NULL) fftw_destroy_plan(m->c2r);
  kubo_fftw_unlock();
  m->r2c = m->c2r = NULL;
  kubo_free(m->noise_coef, (size_t)(3 * m->H) * sizeof(double));
  kubo_free(m->noise_map, (size_t)(4 * m->H) * sizeof(int64_t));
  m->noise_coef = NULL;
  m->noise_map = NULL;
}


int64_t sde_codec_work(const kubo_model *m) {
  if (!m->ops->spectral) return 0;
  return sde_pad(2 * m->H) + sde_pad(m->M);
}


void sde_encode(const kubo_model *m, const double *u, double *x,
                double *work) {
  if (!m->ops->spectral) {
    memcpy(x, u, (size_t)m->dim * sizeof(double));
    return;
  }
  double *real = work + sde_pad(2 * m->H);
  memcpy(real, u, (size_t)m->M * sizeof(double));
  sde_r2c(m, real, x);
  if (kubo_grid_nyquist(m->grid) == KUBO_NYQUIST_DROP) {
    const double *keep = kubo_grid_keep(m->grid);
    for (int64_t p = 0; p < m->H; p++) {
      x[2 * p] *= keep[p];
      x[2 * p + 1] *= keep[p];
    }
  }
}


void sde_decode(const kubo_model *m, const double *x, double *u,
                double *work) {
  if (!m->ops->spectral) {
    memcpy(u, x, (size_t)m->dim * sizeof(double));
    return;
  }
  double *spec = work, *real = work + sde_pad(2 * m->H);
  double scale = 1.0 / (double)m->M;
  for (int64_t i = 0; i < 2 * m->H; i++) spec[i] = x[i] * scale;
  sde_c2r(m, spec, real);
  memcpy(u, real, (size_t)m->M * sizeof(double));
}


/* Runs sde_encode (inverse = 0) or sde_decode over a batch. */
static kubo_status codec_batch(const kubo_model *m, int inverse,
                               int64_t count, const double *in,
                               double *out) {
  int64_t S = m->state_size, D = m->dim, W = sde_codec_work(m);
  int parallel = count > 1 && count * D >= PARALLEL_MIN;
  int failed = 0;

  #pragma omp parallel if (parallel) reduction(| : failed)
  {
    double *work = W > 0 ? sde_work_alloc(W) : NULL;
    if (W > 0 && work == NULL) failed = 1;

    #pragma omp for schedule(static)
    for (int64_t j = 0; j < count; j++) {
      if (failed) continue;
      if (inverse)
        sde_decode(m, in + j * S, out + j * D, work);
      else
        sde_encode(m, in + j * D, out + j * S, work);
    }
    sde_work_free(work, W);
  }
  if (failed)
    return kubo_error_set(KUBO_ENOMEM, "%s: out of memory for transform "
                          "work arrays", m->ops->kind);
  return KUBO_OK;
}


kubo_status sde_encode_batch(const kubo_model *m, int64_t count,
                             const double *u, double *x) {
  return codec_batch(m, 0, count, u, x);
}


kubo_status sde_decode_batch(const kubo_model *m, int64_t count,
                             const double *x, double *u) {
  return codec_batch(m, 1, count, x, u);
}


int64_t sde_noise_normals(const kubo_model *m, int draw) {
  if (m->ops->noise == NULL) return 0;
  if (!m->ops->spectral) return m->dim;
  return draw == KUBO_NOISE_FULL ? 2 * m->M : 2 * m->H;
}


static void noise_half(const kubo_model *m, const double *z, double *eta) {
  for (int64_t p = 0; p < m->H; p++) {
    const int64_t *map = m->noise_map + 4 * p;
    const double *c = m->noise_coef + 3 * p;
    if (map[0] == DRAW_INTERIOR || map[0] == DRAW_PAIR) {
      eta[2 * p] = c[0] * z[2 * p];
      eta[2 * p + 1] = c[0] * z[2 * p + 1];
      if (map[0] == DRAW_PAIR) {
        eta[2 * map[1]] = eta[2 * p];
        eta[2 * map[1] + 1] = -eta[2 * p + 1];
      }
    } else if (map[0] == DRAW_SELF) {
      eta[2 * p] = c[1] * z[2 * p];
      eta[2 * p + 1] = 0;
    }
  }
}


static void noise_full(const kubo_model *m, const double *z, double *eta) {
  for (int64_t p = 0; p < m->H; p++) {
    const int64_t *map = m->noise_map + 4 * p;
    double c = m->noise_coef[3 * p + 2];
    int64_t k = map[2], mk = map[3];
    eta[2 * p] = c * (z[2 * k] + z[2 * mk]);
    eta[2 * p + 1] = c * (z[2 * k + 1] - z[2 * mk + 1]);
  }
}


void sde_spectral_noise(const kubo_model *m, int draw, const double *z,
                        double *eta) {
  if (draw == KUBO_NOISE_FULL)
    noise_full(m, z, eta);
  else
    noise_half(m, z, eta);
}
