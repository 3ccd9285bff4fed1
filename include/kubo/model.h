/*
** model.h: the stochastic models that kubo integrates.
**
** A model is an SDE  du = F(u) dt + B dW  for one ensemble member, plus
** an optional hidden state that enters F (the forcing phases of the
** Navier-Stokes model). Built-in kinds:
**
**   "ou"             Ornstein-Uhlenbeck SPDE on a periodic grid
**   "allen_cahn"     modified Allen-Cahn SPDE with correlated noise
**   "navier_stokes"  2-D vorticity with random-phase wave forcing
**   "double_well"    dx = (x - x^3) dt + eps sqrt(2) dW per component
**   "linear"         dx = A x dt + B dW with B B^T = Q
**   "sde"            a drift given as a C callback (the Lua `sde` model)
**
** Grid models ("ou", "allen_cahn", "navier_stokes") hold one real field
** per member, shape (ny, nx) on a 2-D grid (any dimension for ou and
** allen_cahn), row-major with x fastest. The others hold a vector of
** dim components.
**
** The reference equations (Giorgini, Deck, Bischoff and Souza, Phys.
** Rev. Lett. 133, 267302 (2024), and the authors' FourierCore solver):
**
**   ou, allen_cahn:  F(u) = IDFT[ S_k DFT(f(u)) + (-kappa |k|^2
**                    - i U kx) DFT(u) ],  S_k = eps2 / (1 + |k|^2),
**     with f(u) = lambda_c u (1 - u^2), lambda_c = alpha / eps2 (4000)
**     for allen_cahn, and f(u) = -lambda_c u, lambda_c = lambda / eps2
**     (10) for ou. The noise per unit time is
**     eta = Re IDFT[ M sqrt(S_k) (a_k + i b_k) ], a, b standard normals
**     at every mode of the full spectrum and M grid points, so that
**     Cov(eta_x, eta_y) = sum_k S_k cos(k.(x - y)) (0.099994 per point
**     on 32 x 32 with the zero_k Nyquist convention).
**
**   navier_stokes:   dzeta/dt = N(zeta) + IDFT[D_k DFT(zeta)] + s
**                    - mean_removal * mean(s) - mean_damping * mean(zeta)
**     with D_k = -nu_h / |k|^4 - nu |k|^4 (0 where |k| = 0), the
**     skew-symmetric advection N = -(1/2)[u.grad zeta + div(u zeta)],
**     velocity u = (dpsi/dy + U, -dpsi/dx), psi = inverse laplacian of
**     zeta, and the forcing s = Re IDFT[ F0 W_k exp(i phi_k) ] over the
**     forced modes W_k (integer wavenumbers with kx^2 + ky^2 <= kmax2 and
**     no Nyquist index: 349 modes on 32 x 32). Each phase phi_k is a
**     Brownian motion with <dphi^2> = 2 D t (D = phase_diffusivity).
**
** Lifecycle: kubo_model_new makes a model with the reference parameters,
** and kubo_model_set and kubo_model_set_array change them.
** kubo_model_ready checks them and builds the tables. From then on the
** model is immutable, may be shared by several integrators and may be
** used from several threads, unless its drift is a serial callback.
** Models are reference counted.
*/
#ifndef KUBO_MODEL_H
#define KUBO_MODEL_H

#include <stdint.h>

#include "kubo/error.h"
#include "kubo/grid.h"
#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kubo_model kubo_model;

/* Largest number of scalar parameters of one model. */
enum { KUBO_MODEL_MAX_PARAMS = 16 };

/* A drift given by the caller: fills dxdt[0 .. dim-1] with F(x) for one
** member. Returns KUBO_OK, or a status with the message set. Called on
** the thread that advances the integrator, one member at a time, never
** from several threads at once. */
typedef kubo_status (*kubo_model_drift_fn)(int64_t dim, const double *x,
                                           double *dxdt, void *userdata);


/* ---------------------------------------------------------------------
** Creation and parameters
** ------------------------------------------------------------------- */

/* Creates a model of the given kind with its reference parameters in
** *out (one reference). grid is used by the grid kinds, which retain it;
** NULL gives them a 32 x 32 grid of box 2 pi with the zero_k Nyquist
** convention. navier_stokes needs a 2-D grid. Vector kinds ignore grid.
** Fails with KUBO_EINVAL for an unknown kind or a grid of the wrong
** dimension, with KUBO_ENOMEM on allocation failure. */
kubo_status kubo_model_new(kubo_model **out, const char *kind,
                           kubo_grid *grid);

/* Sets the scalar parameter `name` (see kubo_model_param_name) before
** kubo_model_ready. Fails with KUBO_EINVAL for an unknown name or a
** non-finite value, with KUBO_ESTATE after kubo_model_ready. Ranges are
** checked by kubo_model_ready. */
kubo_status kubo_model_set(kubo_model *m, const char *name, double value);

/* Sets an array parameter before kubo_model_ready (the model keeps a
** contiguous float64 copy):
**   linear:         "A" (n, n) drift matrix, "Q" (n, n) noise covariance
**   sde:            "noise" (dim) amplitudes, or "Q" (dim, dim) covariance
**   navier_stokes:  "forcing.steady" (ny, nx) a fixed field added to the
**                   tendency
** Fails with KUBO_EINVAL for an unknown name or a wrong shape, with
** KUBO_ESTATE after kubo_model_ready. */
kubo_status kubo_model_set_array(kubo_model *m, const char *name,
                                 const kubo_tensor *value);

/* Installs the drift of an "sde" model (before kubo_model_ready). The
** caller keeps userdata alive while the model lives. */
kubo_status kubo_model_set_drift(kubo_model *m, kubo_model_drift_fn fn,
                                 void *userdata);

/* Checks the parameters and builds the model's tables and FFT plans.
** Calling it again does nothing. Fails with KUBO_EINVAL naming the bad
** parameter (for example a negative kappa, linear without A, or an "sde"
** model without a drift), with KUBO_ENOMEM on allocation failure. */
kubo_status kubo_model_ready(kubo_model *m);

kubo_model *kubo_model_retain(kubo_model *m);
/* Drops a reference; the last one frees the model. NULL is ignored. */
void kubo_model_release(kubo_model *m);


/* ---------------------------------------------------------------------
** Queries (valid after kubo_model_new unless marked "ready")
** ------------------------------------------------------------------- */

const char *kubo_model_kind(const kubo_model *m);

/* The grid of a grid model (owned by the model), or NULL. */
kubo_grid *kubo_model_grid(const kubo_model *m);

/* Real components per member: nx * ny (* nz) for grid models, the
** dimension for vector models ("linear" and "sde": ready). */
int64_t kubo_model_dim(const kubo_model *m);

/* Writes the shape of one member's state, (ny, nx) or (dim), and returns
** its number of dimensions. */
int kubo_model_state_shape(const kubo_model *m, int64_t *shape);

/* Hidden values per member: the forcing phases of navier_stokes (one
** per forced mode, ready), 0 for the other kinds. */
int64_t kubo_model_hidden_size(const kubo_model *m);

/* The scalar parameters in a fixed order: names such as "kappa" or
** "forcing.amplitude", with their current values. */
int kubo_model_param_count(const kubo_model *m);
const char *kubo_model_param_name(const kubo_model *m, int i);
double kubo_model_param_value(const kubo_model *m, int i);

/* Reads parameter `name` into *value. Fails with KUBO_EINVAL if the
** model has no such parameter. */
kubo_status kubo_model_get(const kubo_model *m, const char *name,
                           double *value);

/* Returns the array parameter `name` (owned by the model), or NULL if it
** is not set. */
const kubo_tensor *kubo_model_array(const kubo_model *m, const char *name);

/* The time step of the reference experiment: 1/32 for ou and allen_cahn
** (1/N on the reference N = 32 grid; the Allen-Cahn reaction, not the
** grid, limits it, so it stays 1/32 on other grids), 0.01 for
** double_well, and 0 (none) for linear and sde.
** navier_stokes: 1/(4 nx), halved until nu |k|^4 dt <= 2 at the largest
** |k| (1/128 on 32 x 32, 1/8192 on 256 x 256). */
double kubo_model_default_dt(const kubo_model *m);

/* 1 if the model has an analytic score (ou, allen_cahn, double_well,
** linear with a stable A and a nonsingular stationary covariance;
** ready), else 0. */
int kubo_model_has_score(const kubo_model *m);

/* 1 if the model's drift must run on the calling thread (the "sde" kind,
** whose callback may call into an interpreter). */
int kubo_model_is_serial(const kubo_model *m);


/* ---------------------------------------------------------------------
** Evaluation on batches of real states (ready)
**
** u, out: (count, ...state shape...) contiguous float64, count >= 0.
** out may not overlap u.
** ------------------------------------------------------------------- */

/* Computes the drift F(u) of count states. hidden: (count, hidden size)
** values of the hidden state, or NULL for all zeros (navier_stokes: the
** forcing with every phase 0). Fails with KUBO_ESTATE before
** kubo_model_ready, with KUBO_ENOMEM on allocation failure, or with the
** status of a failing drift callback. */
kubo_status kubo_model_drift(const kubo_model *m, int64_t count,
                             const double *u, const double *hidden,
                             double *out);

/* Computes the analytic score grad log p(u) of count states:
**   ou, allen_cahn: the score of the discrete system, whose noise
**     covariance is M eps2 (1 - laplacian)^-1 with M grid points:
**     s(u) = (2/M) { f(u) + IDFT[ ((1 + |k|^2)/eps2) (-kappa |k|^2)
**     DFT(u) ] }, that is 1/M times the continuum score
**     (2/eps2) [f(u) + kappa (laplacian u - laplacian^2 u)];
**   double_well: -(x^3 - x) / eps^2;
**   linear: -Sigma^-1 x with A Sigma + Sigma A^T + Q = 0.
** Fails with KUBO_EINVAL if the model has none (kubo_model_has_score). */
kubo_status kubo_model_score(const kubo_model *m, int64_t count,
                             const double *u, double *out);

/* Writes the forced modes of a navier_stokes model as integer wavenumber
** pairs (kx, ky), signed, in the order of the hidden phases: kxky gets
** 2 * hidden size values. Fails with KUBO_EINVAL for other kinds. */
kubo_status kubo_model_forced_modes(const kubo_model *m, int64_t *kxky);

#ifdef __cplusplus
}
#endif

#endif
