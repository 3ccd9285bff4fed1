/*
** model_ns.c: 2-D Navier-Stokes in vorticity form with the random-phase
** wave forcing of Flierl and Souza (J. Fluid Mech. 986, A8, 2024), as in
** FourierCore's response solver:
**
**   dzeta/dt = N(zeta) + IDFT[D_k DFT(zeta)] + s - mean_removal mean(s)
**              - mean_damping mean(zeta) (+ an optional steady forcing)
**
**   N(zeta) = -(1/2) [u dzeta/dx + v dzeta/dy + d(u zeta)/dx
**             + d(v zeta)/dy],  u = dpsi/dy + U, v = -dpsi/dx,
**   psi = inverse laplacian of zeta (0 where |k| = 0),
**   D_k = -nu_h / |k|^4 - nu |k|^4 (0 where |k| = 0),
**   s = Re IDFT[ F0 W_k exp(i phi_k) ].
**
** Products are formed in real space without dealiasing, as in the
** reference code. The forced modes are the full-spectrum indices with
** kx^2 + ky^2 <= kmax2 and no Nyquist index along either axis; each has
** its own phase, and phases of k and -k are independent. The Hermitian
** part of the forcing spectrum, DFT(s)_k = (c_k + conj(c_-k)) / 2, is
** built directly, so the forcing costs no transform.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/integrator.h"
#include "kubo/rng.h"
#include "model_impl.h"

typedef struct ns_data {
  double U, mean_damping, amplitude, mean_removal;
  double *diss;          /* H: D_k times keep */
  double *kx, *ky;       /* H: wavenumbers per mode (Nyquist convention) */
  double *invlap;        /* H: -1/|k|^2, 0 where |k| = 0, times keep */
  double *half_keep;     /* H: -1/2 times keep */
  double *steady;        /* 2 H: spectrum of the steady forcing, or NULL */
  int64_t nforced;
  int64_t *forced;       /* 2 per forced mode: signed indices mx, my */
  int64_t *target;       /* 2 per forced mode: half-spectrum positions of
                         ** k and of -k, -1 where not stored */
} ns_data;

static const char *const ns_params[] = {
  "nu", "nu_h", "advection", "mean_damping", "forcing.amplitude",
  "forcing.kmax2", "forcing.phase_diffusivity", "forcing.mean_removal",
  NULL
};

static const char *const ns_arrays[] = {"forcing.steady", NULL};


/* The reference values at N = nx = 32: F0 = 300 (N/128)^2 = 18.75, the
** reference formula, and kmax2 = 2 ((N/2 - 1)/2)^2 = 112.5, which
** generalises the reference (15/2)^2 + (15/2)^2 to other N. */
static void ns_defaults(kubo_model *m) {
  double n = (double)kubo_grid_n(m->grid, 0);
  double half = (n / 2 - 1) / 2;
  m->params[0] = 1e-5;                          /* nu */
  m->params[1] = 1e-2;                          /* nu_h */
  m->params[2] = M_PI;                          /* advection U */
  m->params[3] = 1;                             /* mean_damping */
  m->params[4] = 300 * (n / 128) * (n / 128);   /* forcing.amplitude */
  m->params[5] = 2 * half * half;               /* forcing.kmax2 */
  m->params[6] = 1;                             /* phase_diffusivity */
  m->params[7] = 0.9;                           /* mean_removal */
}


static void ns_destroy(kubo_model *m) {
  ns_data *d = m->data;
  if (d == NULL) return;
  size_t hb = (size_t)m->H * sizeof(double);
  kubo_free(d->diss, hb);
  kubo_free(d->kx, hb);
  kubo_free(d->ky, hb);
  kubo_free(d->invlap, hb);
  kubo_free(d->half_keep, hb);
  kubo_free(d->steady, 2 * hb);
  kubo_free(d->forced, (size_t)(2 * d->nforced) * sizeof(int64_t));
  kubo_free(d->target, (size_t)(2 * d->nforced) * sizeof(int64_t));
  kubo_free(d, sizeof *d);
  m->data = NULL;
}


static int64_t signed_index(int64_t i, int64_t n) {
  return i <= n / 2 ? i : i - n;
}


static int is_nyquist(int64_t i, int64_t n) {
  return n % 2 == 0 && i == n / 2;
}


/* Lists the forced modes in full-spectrum row-major order (y outer). */
static kubo_status find_forced(kubo_model *m, ns_data *d, double kmax2) {
  int64_t nx = kubo_grid_n(m->grid, 0), ny = kubo_grid_n(m->grid, 1);
  int64_t nxh = nx / 2 + 1;
  double cx = 2 * M_PI / kubo_grid_length(m->grid, 0);
  double cy = 2 * M_PI / kubo_grid_length(m->grid, 1);

  for (int pass = 0; pass < 2; pass++) {
    int64_t count = 0;
    for (int64_t iy = 0; iy < ny; iy++) {
      for (int64_t ix = 0; ix < nx; ix++) {
        if (is_nyquist(ix, nx) || is_nyquist(iy, ny)) continue;
        int64_t mx = signed_index(ix, nx), my = signed_index(iy, ny);
        double kx = cx * (double)mx, ky = cy * (double)my;
        if (kx * kx + ky * ky > kmax2) continue;
        if (pass == 1) {
          int64_t ixn = (nx - ix) % nx, iyn = (ny - iy) % ny;
          d->forced[2 * count] = mx;
          d->forced[2 * count + 1] = my;
          d->target[2 * count] = ix < nxh ? iy * nxh + ix : -1;
          d->target[2 * count + 1] = ixn < nxh ? iyn * nxh + ixn : -1;
        }
        count++;
      }
    }
    if (pass == 0) {
      d->nforced = count;
      size_t bytes = (size_t)(2 * count) * sizeof(int64_t);
      d->forced = kubo_alloc(bytes);
      d->target = kubo_alloc(bytes);
      if (d->forced == NULL || d->target == NULL) return KUBO_ENOMEM;
    }
  }
  return KUBO_OK;
}


static kubo_status check_params(const kubo_model *m) {
  static const int nonnegative[] = {0, 1, 3, 4, 5, 6};
  for (size_t i = 0; i < sizeof nonnegative / sizeof nonnegative[0]; i++) {
    int j = nonnegative[i];
    if (m->params[j] < 0)
      return kubo_error_set(KUBO_EINVAL, "navier_stokes: %s must be >= 0 "
                            "(got %g)", ns_params[j], m->params[j]);
  }
  return KUBO_OK;
}


/* Transforms the steady forcing field into d->steady. */
static kubo_status steady_spectrum(kubo_model *m, ns_data *d,
                                   const kubo_tensor *f) {
  int64_t ny = kubo_grid_n(m->grid, 1), nx = kubo_grid_n(m->grid, 0);
  int64_t want[2] = {ny, nx};
  kubo_status status = kubo_tensor_expect(f, "navier_stokes: "
                                          "forcing.steady", KUBO_FLOAT64,
                                          2, want);
  if (status != KUBO_OK) return status;
  d->steady = kubo_alloc((size_t)(2 * m->H) * sizeof(double));
  double *work = sde_work_alloc(sde_codec_work(m));
  if (d->steady == NULL || work == NULL) {
    sde_work_free(work, sde_codec_work(m));
    return KUBO_ENOMEM;
  }
  sde_encode(m, f->data, d->steady, work);
  sde_work_free(work, sde_codec_work(m));
  return KUBO_OK;
}


static kubo_status ns_ready(kubo_model *m) {
  kubo_status status = check_params(m);
  if (status != KUBO_OK) return status;
  status = sde_spectral_ready(m, 0);
  if (status != KUBO_OK) return status;

  ns_data *d = kubo_calloc(sizeof *d);
  if (d == NULL) return kubo_error_set(KUBO_ENOMEM, "navier_stokes: out "
                                       "of memory");
  m->data = d;
  double nu = m->params[0], nu_h = m->params[1];
  d->U = m->params[2];
  d->mean_damping = m->params[3];
  d->amplitude = m->params[4];
  d->mean_removal = m->params[7];

  int64_t H = m->H, nxh = kubo_grid_n(m->grid, 0) / 2 + 1;
  size_t hb = (size_t)H * sizeof(double);
  d->diss = kubo_alloc(hb);
  d->kx = kubo_alloc(hb);
  d->ky = kubo_alloc(hb);
  d->invlap = kubo_alloc(hb);
  d->half_keep = kubo_alloc(hb);
  if (d->diss == NULL || d->kx == NULL || d->ky == NULL ||
      d->invlap == NULL || d->half_keep == NULL ||
      find_forced(m, d, m->params[5]) != KUBO_OK)
    return kubo_error_set(KUBO_ENOMEM, "navier_stokes: out of memory");

  const double *k2 = kubo_grid_k2(m->grid), *keep = kubo_grid_keep(m->grid);
  const double *kxs = kubo_grid_k(m->grid, 0), *kys = kubo_grid_k(m->grid, 1);
  for (int64_t p = 0; p < H; p++) {
    double q = k2[p];
    d->kx[p] = kxs[p % nxh];
    d->ky[p] = kys[p / nxh];
    d->diss[p] = q > 0 ? (-nu_h / (q * q) - nu * q * q) * keep[p] : 0;
    d->invlap[p] = q > 0 ? -keep[p] / q : 0;
    d->half_keep[p] = -0.5 * keep[p];
  }

  const kubo_tensor *steady = sde_array(m, "forcing.steady");
  if (steady != NULL) {
    status = steady_spectrum(m, d, steady);
    if (status == KUBO_ENOMEM)
      return kubo_error_set(KUBO_ENOMEM, "navier_stokes: out of memory");
    if (status != KUBO_OK) return status;
  }

  m->hidden_size = d->nforced;
  m->hidden_diffusivity = m->params[6];
  /* forcing spectrum, 5 spectra, 5 real fields */
  m->work_size = 6 * sde_pad(2 * H) + 5 * sde_pad(m->M);
  m->has_score = 0;
  snprintf(m->score_note, sizeof m->score_note, "navier_stokes has none");
  return KUBO_OK;
}


/* Builds the Hermitian spectrum of s - mean_removal mean(s) from the
** phases. */
static void forcing_spectrum(const kubo_model *m, const ns_data *d,
                             const double *phase, double *f) {
  memset(f, 0, (size_t)(2 * m->H) * sizeof(double));
  double half = 0.5 * d->amplitude;
  for (int64_t j = 0; j < d->nforced; j++) {
    double c = half * cos(phase[j]), s = half * sin(phase[j]);
    int64_t p = d->target[2 * j], q = d->target[2 * j + 1];
    if (p >= 0) {
      f[2 * p] += c;
      f[2 * p + 1] += s;
    }
    if (q >= 0) {
      f[2 * q] += c;
      f[2 * q + 1] -= s;
    }
  }
  f[0] *= 1 - d->mean_removal;
  f[1] *= 1 - d->mean_removal;
}


static kubo_status ns_drift(const kubo_model *m, const double *y,
                            const double *phase, int fresh, double *out,
                            double *work) {
  const ns_data *d = m->data;
  int64_t H = m->H, M = m->M, sp = sde_pad(2 * H), rp = sde_pad(M);
  double *force = work;
  double *spec[5], *real[5];
  for (int i = 0; i < 5; i++) {
    spec[i] = work + (1 + i) * sp;
    real[i] = work + 6 * sp + i * rp;
  }
  double scale = 1.0 / (double)M;

  if (fresh && phase != NULL) forcing_spectrum(m, d, phase, force);

  /* Spectra of dpsi/dy, -dpsi/dx, dzeta/dx, dzeta/dy and zeta, each
  ** divided by M for the inverse transform. */
  for (int64_t p = 0; p < H; p++) {
    double yr = y[2 * p] * scale, yi = y[2 * p + 1] * scale;
    double kx = d->kx[p], ky = d->ky[p];
    double pr = d->invlap[p] * yr, pi = d->invlap[p] * yi;
    spec[0][2 * p] = -ky * pi;
    spec[0][2 * p + 1] = ky * pr;
    spec[1][2 * p] = kx * pi;
    spec[1][2 * p + 1] = -kx * pr;
    spec[2][2 * p] = -kx * yi;
    spec[2][2 * p + 1] = kx * yr;
    spec[3][2 * p] = -ky * yi;
    spec[3][2 * p + 1] = ky * yr;
    spec[4][2 * p] = yr;
    spec[4][2 * p + 1] = yi;
  }
  for (int i = 0; i < 5; i++) sde_c2r(m, spec[i], real[i]);

  /* u.grad zeta, u zeta and v zeta with the mean flow U in u. */
  double *u = real[0], *v = real[1], *zx = real[2], *zy = real[3];
  double *z = real[4];
  for (int64_t i = 0; i < M; i++) {
    double uu = u[i] + d->U;
    double adv = uu * zx[i] + v[i] * zy[i];
    double uz = uu * z[i], vz = v[i] * z[i];
    zx[i] = adv;
    zy[i] = uz;
    z[i] = vz;
  }
  sde_r2c(m, zx, spec[0]);
  sde_r2c(m, zy, spec[1]);
  sde_r2c(m, z, spec[2]);

  const double *a = spec[0], *b = spec[1], *c = spec[2];
  for (int64_t p = 0; p < H; p++) {
    double kx = d->kx[p], ky = d->ky[p], h = d->half_keep[p];
    double nr = h * (a[2 * p] - kx * b[2 * p + 1] - ky * c[2 * p + 1]);
    double ni = h * (a[2 * p + 1] + kx * b[2 * p] + ky * c[2 * p]);
    out[2 * p] = nr + d->diss[p] * y[2 * p];
    out[2 * p + 1] = ni + d->diss[p] * y[2 * p + 1];
  }
  if (phase != NULL) {
    for (int64_t i = 0; i < 2 * H; i++) out[i] += force[i];
  }
  if (d->steady != NULL) {
    for (int64_t i = 0; i < 2 * H; i++) out[i] += d->steady[i];
  }
  out[0] -= d->mean_damping * y[0];
  out[1] -= d->mean_damping * y[1];
  return KUBO_OK;
}


static void ns_hidden_init(const kubo_model *m, uint64_t seed, uint64_t g,
                           double *phase) {
  uint64_t stream = kubo_rng_substream(g, KUBO_SIM_KEY_HIDDEN_INIT);
  kubo_rng_uniform_at(seed, stream, 0, phase, m->hidden_size);
  for (int64_t j = 0; j < m->hidden_size; j++) phase[j] *= 2 * M_PI;
}


/* zeta = sin(3x) sin(3y) in every member. */
static kubo_status ns_default_state(const kubo_model *m, uint64_t seed,
                                    int64_t first_member, int64_t members,
                                    double *u) {
  int64_t nx = kubo_grid_n(m->grid, 0), ny = kubo_grid_n(m->grid, 1);
  const double *x = kubo_grid_coordinates(m->grid, 0);
  const double *y = kubo_grid_coordinates(m->grid, 1);
  for (int64_t j = 0; j < ny; j++)
    for (int64_t i = 0; i < nx; i++)
      u[j * nx + i] = sin(3 * x[i]) * sin(3 * y[j]);
  for (int64_t k = 1; k < members; k++)
    memcpy(u + k * m->M, u, (size_t)m->M * sizeof(double));
  return KUBO_OK;
}


/* 1/(4 nx), the reference value at nx = 32, halved until the stiffest
** linear rate nu |k|^4 + nu_h / |k|^4 times dt is at most 2 (RK4 is
** stable on the negative real axis up to about 2.79): on 256 x 256 the
** hyperviscosity needs 1/8192 instead of 1/1024. */
static double ns_default_dt(const kubo_model *m) {
  double dt = 1.0 / (4.0 * (double)kubo_grid_n(m->grid, 0));
  double nu = m->params[0], nu_h = m->params[1], rate = 0;
  const double *k2 = kubo_grid_k2(m->grid);
  for (int64_t p = 0; p < kubo_grid_spectral_size(m->grid); p++) {
    if (k2[p] == 0) continue;
    double r = nu * k2[p] * k2[p] + nu_h / (k2[p] * k2[p]);
    if (r > rate) rate = r;
  }
  while (rate * dt > 2) dt /= 2;
  return dt;
}


kubo_status kubo_model_forced_modes(const kubo_model *m, int64_t *kxky) {
  if (m->ops != &sde_ns_ops)
    return kubo_error_set(KUBO_EINVAL, "%s: only navier_stokes has forced "
                          "modes", m->ops->kind);
  if (!m->ready)
    return kubo_error_set(KUBO_ESTATE, "navier_stokes: the model is not "
                          "ready (call kubo_model_ready first)");
  const ns_data *d = m->data;
  memcpy(kxky, d->forced, (size_t)(2 * d->nforced) * sizeof(int64_t));
  return KUBO_OK;
}


const model_ops sde_ns_ops = {
  "navier_stokes", ns_params, ns_arrays, 1, ns_defaults, ns_ready,
  ns_destroy, ns_drift, NULL, ns_hidden_init, ns_default_state, NULL,
  ns_default_dt
};
