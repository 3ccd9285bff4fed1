/*
** integrator.h: ensembles of SDE members advanced in time.
**
** A kubo_sim contains `members` copies of one model's state, a step count
** and a seed, and advances them with one of three methods:
**
**   KUBO_EULER_MARUYAMA  u' = u + dt F(u) + sqrt(dt) eta
**   KUBO_HEUN            stochastic Heun for additive noise: the
**                        predictor v = u + dt F(u) + sqrt(dt) eta, then
**                        u' = u + (dt/2) (F(u) + F(v)) + sqrt(dt) eta
**   KUBO_RK4             classical four-stage Runge-Kutta on the drift,
**                        then u' = RK4_dt(u) + sqrt(dt) eta, as in the
**                        reference experiments
**
** Hidden state (the navier_stokes phases) takes two Brownian half steps
** per step. RK4: stage 1 uses the phases at t, stages 2 and 3 those after
** the first half step (t + dt/2), stage 4 those after the second (t +
** dt). Euler-Maruyama evaluates at t; Heun's predictor at t and its
** corrector at t + dt.
**
** Random numbers (kubo/rng.h): every draw is keyed by the seed, the
** member's global index g = first_member + local index, and the step, so
** an ensemble gets the same bits for any thread count and for any split
** of its members across integrators, and two integrators with the same
** seed, members and step count draw the same noise:
**   additive noise of step n:  stream kubo_rng_substream(g,
**     KUBO_SIM_KEY_NOISE), position n * kubo_sim_noise_blocks(sim);
**   hidden half step h (0, 1) of step n:  stream kubo_rng_substream(g,
**     KUBO_SIM_KEY_HIDDEN), position (2 n + h) * B with
**     B = ceil(hidden size / 2), one normal per hidden value;
**   default initial state:  stream kubo_rng_substream(g,
**     KUBO_SIM_KEY_INIT), position 0;
**   initial hidden state:  stream kubo_rng_substream(g,
**     KUBO_SIM_KEY_HIDDEN_INIT), position 0 (uniforms in [0, 1) times
**     2 pi for the phases).
**
** Noise of the grid models (ou, allen_cahn), per member and step:
**   KUBO_NOISE_HALF (default): 2 H normals (H half-spectrum modes) build a
**     Hermitian spectrum exactly as kubo_grid_random_field does with the
**     spectrum S_k = eps2 / (1 + |k|^2);
**   KUBO_NOISE_FULL: 2 M normals (M grid points) build it as
**     kubo_grid_noise does, from independent complex normals at every
**     mode of the full spectrum (the reference code's construction).
** Both give the same law; HALF draws about half as many normals.
**
** State: grid models keep each member's half spectrum internally, which
** saves the transforms of the noise; kubo_sim_state and kubo_sim_set_state
** convert from and to real fields. Under the drop Nyquist convention
** the Nyquist modes of a state are set to zero when it is stored.
**
** Perturbation runs: make the perturbed ensemble with kubo_sim_clone,
** which copies the state, step count, seed and keys, and change it (for
** an impulse, with kubo_sim_add_impulse). Then advance both by the same
** steps, one after the other or together with kubo_sim_advance_pair,
** which draws each member's noise once for both. Their noise is
** identical.
**
** Threads: members are stepped in parallel with OpenMP, one member per
** task; a model with a serial drift runs on the calling thread. A
** kubo_sim is not safe to use from several threads at once.
*/
#ifndef KUBO_INTEGRATOR_H
#define KUBO_INTEGRATOR_H

#include <stdint.h>

#include "kubo/error.h"
#include "kubo/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kubo_sim kubo_sim;

typedef enum kubo_sim_method {
  KUBO_EULER_MARUYAMA = 0,
  KUBO_HEUN = 1,
  KUBO_RK4 = 2
} kubo_sim_method;

typedef enum kubo_noise_draw {
  KUBO_NOISE_HALF = 0,
  KUBO_NOISE_FULL = 1
} kubo_noise_draw;

/* Purposes of the random streams, the k of kubo_rng_substream(g, k). */
enum {
  KUBO_SIM_KEY_NOISE = 0,
  KUBO_SIM_KEY_HIDDEN = 1,
  KUBO_SIM_KEY_INIT = 2,
  KUBO_SIM_KEY_HIDDEN_INIT = 3
};

/* Parses "euler_maruyama", "heun", "rk4"; returns -1 otherwise. */
int kubo_sim_method_parse(const char *name);
const char *kubo_sim_method_name(kubo_sim_method method);

/* Parses "half", "full"; returns -1 otherwise. */
int kubo_noise_draw_parse(const char *name);
const char *kubo_noise_draw_name(kubo_noise_draw draw);

typedef struct kubo_sim_options {
  kubo_sim_method method;
  double dt;                 /* > 0; 0 takes kubo_model_default_dt */
  int64_t members;           /* >= 1 */
  uint64_t seed;
  int64_t first_member;      /* global index of member 0, >= 0 */
  kubo_noise_draw noise_draw;
} kubo_sim_options;

/* Fills opt with RK4, dt 0 (the model's), 1 member, seed 1234, first
** member 0 and KUBO_NOISE_HALF. */
void kubo_sim_options_default(kubo_sim_options *opt);


/* ---------------------------------------------------------------------
** Creation
** ------------------------------------------------------------------- */

/* Creates an integrator for model m with its members in the model's
** default initial state (kubo_sim_initialize with NULL). The integrator
** retains m and makes it ready if it is not. Fails with KUBO_EINVAL for
** a bad option: dt not finite and positive, or missing while the model
** has no default; members < 1; an unknown method. Fails also with the
** status of kubo_model_ready, or with KUBO_ENOMEM. */
kubo_status kubo_sim_new(kubo_sim **out, kubo_model *m,
                         const kubo_sim_options *opt);

/* Makes *out an independent copy of s: the same model, options, state,
** hidden state and step count, hence the same future noise. */
kubo_status kubo_sim_clone(kubo_sim **out, const kubo_sim *s);

/* Frees s; NULL is ignored. */
void kubo_sim_free(kubo_sim *s);


/* ---------------------------------------------------------------------
** State
**
** u: (members, ...state shape...) contiguous float64, as from
** kubo_model_state_shape; hidden: (members, hidden size).
** ------------------------------------------------------------------- */

/* Starts over: sets the step count (and time) to 0, draws the initial
** hidden state, and sets the state to u, or, if u is NULL, to the
** model's default initial state:
**   ou, allen_cahn: white noise N(0, 1) per point, filtered by
**     eps2 / (1 + |k|^2) and divided by its maximum over all members and
**     points, twice;
**   navier_stokes: sin(3x) sin(3y) in every member;
**   double_well, linear, sde: zeros.
** Fails with KUBO_EINVAL for a non-finite value in u (the state is then
** unchanged), with KUBO_ENOMEM on allocation failure. */
kubo_status kubo_sim_initialize(kubo_sim *s, const double *u);

/* Sets the state to u, keeping the step count and hidden state. Fails
** as kubo_sim_initialize. */
kubo_status kubo_sim_set_state(kubo_sim *s, const double *u);

/* Writes the current state (real fields) into u. Fails with KUBO_ENOMEM
** only. */
kubo_status kubo_sim_state(const kubo_sim *s, double *u);

/* Writes the hidden state into hidden; does nothing without one. */
void kubo_sim_hidden(const kubo_sim *s, double *hidden);

/* Replaces the hidden state. Fails with KUBO_EINVAL for a non-finite
** value. */
kubo_status kubo_sim_set_hidden(kubo_sim *s, const double *hidden);

/* Adds delta to component `index` (0-based, row-major in the state
** shape, so index = j * nx + i for the point (x_i, y_j)) of every member,
** as the impulse of a perturbation run. Fails with KUBO_EINVAL for an
** index out of range or a non-finite delta. */
kubo_status kubo_sim_add_impulse(kubo_sim *s, int64_t index, double delta);

/* Returns the maximum of |u| over all members and components of the
** current state (NaN if a value is NaN). Fails only with KUBO_ENOMEM,
** returning -1. */
double kubo_sim_max_abs(const kubo_sim *s);


/* ---------------------------------------------------------------------
** Stepping
** ------------------------------------------------------------------- */

/* Advances every member by `steps` steps (>= 0). Checks for a pending
** interrupt between chunks of steps, which are sized to take 0.02 to
** 0.2 s (or one step where a step takes longer), and stops at that step
** boundary with KUBO_EINTERRUPTED and kubo_interrupt_check's message. If
** a member's state becomes NaN or Inf, stops with KUBO_ENUMERIC, keeps
** every member at the last finite step, and records the failure
** (kubo_sim_failure). A failing drift callback stops it the same way
** with its own status. On any failure the ensemble is left at a step
** boundary, consistent and usable. */
kubo_status kubo_sim_advance(kubo_sim *s, int64_t steps);

/* Advances a and b together by `steps`, giving the same bits as
** kubo_sim_advance on each, with each member's additive noise drawn
** once. a and b must share the model (the same object), method, dt,
** members, first member, seed, noise draw and step count (KUBO_EINVAL
** otherwise). A failure in either stops both at the same boundary. */
kubo_status kubo_sim_advance_pair(kubo_sim *a, kubo_sim *b, int64_t steps);

/* The failure of the last kubo_sim_advance that stopped on a non-finite
** state: the step that produced it (1 + the step count kept), the
** 0-based local member index and the time of that step. Returns 0 if
** the last advance did not stop that way. */
int kubo_sim_failure(const kubo_sim *s, int64_t *step, int64_t *member,
                     double *time);


/* ---------------------------------------------------------------------
** Queries
** ------------------------------------------------------------------- */

kubo_model *kubo_sim_model(const kubo_sim *s);
const kubo_sim_options *kubo_sim_get_options(const kubo_sim *s);
int64_t kubo_sim_members(const kubo_sim *s);
int64_t kubo_sim_step_count(const kubo_sim *s);

/* Time = step count * dt (exact multiples, no accumulated rounding). */
double kubo_sim_time(const kubo_sim *s);

/* Philox blocks of additive noise per member and step (the stride of
** the noise positions); 0 for a model without additive noise. */
uint64_t kubo_sim_noise_blocks(const kubo_sim *s);


/* ---------------------------------------------------------------------
** Checkpoints
**
** The internal state (members, kubo_sim_raw_size doubles: half spectra
** for grid models), the hidden state, the step count and the options
** restore an integrator to the same bits. The random streams need no
** state of their own because they are keyed by the step count.
** ------------------------------------------------------------------- */

/* Doubles per member of the internal state. */
int64_t kubo_sim_raw_size(const kubo_sim *s);

/* Copies the internal state out of or into s; set also sets the step
** count. kubo_sim_set_raw fails with KUBO_EINVAL for a negative step or
** a non-finite value, leaving s unchanged. */
void kubo_sim_raw(const kubo_sim *s, double *raw);
kubo_status kubo_sim_set_raw(kubo_sim *s, const double *raw, int64_t step);

#ifdef __cplusplus
}
#endif

#endif
