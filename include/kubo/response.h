/*
** response.h: lagged correlations and fluctuation-dissipation response
** estimators.
**
** A trajectory has the shape (frames, members, ...state shape...): T
** frames at equal time spacing for each of E independent members. The
** estimators here work member by member on a (frames, d) block of one
** member (d = the number of state values), so memory does not grow with
** the number of members.
**
** Two geometries:
**   grid: the state is a periodic field of shape (nx), (ny, nx) or
**     (nz, ny, nx) whose statistics are translation invariant. Each
**     correlation is averaged over translations, so it is a function
**     of the offset D = p - q only, and is computed through FFTs over
**     space and time. The response to an impulse at site j is then
**     R(tau)[p] = r(p - j, tau) for any j.
**   dense: the state is a vector of d values without that symmetry, and
**     correlations are d x d matrices per lag.
**
** Two time conventions (kubo_corr_mode):
**   KUBO_CORR_CIRCULAR: the frames are treated as periodic in time,
**     C(tau) = (1/T) sum_{t<T} x((t + tau) mod T) y(t), as the reference
**     experiments (Giorgini, Deck, Bischoff and Souza, Phys. Rev. Lett.
**     133, 267302 (2024), and the authors' FourierCore code) compute it
**     with 3-D FFTs;
**   KUBO_CORR_PADDED: zero-padded, so only pairs inside the record
**     count, C(tau) = (1/(T - tau)) sum_{t<T-tau} x(t + tau) y(t).
** Both agree up to O(tau / T) on long records.
**
** Estimators, with s = grad log rho the score of the stationary density:
**   Gaussian:  R(tau) = C(tau) C(0)^-1, C of data minus a given mean (one
**              scalar on grids, as the reference subtracts the global
**              mean; one value per component in the dense case). On
**              grids the ratio is taken per wavenumber,
**              R^(k, tau) = C^(k, tau) / C^(k, 0), which is exact for
**              circulant matrices.
**   score:     S(tau) = -<x(tau) s(x(0))^T>, without demeaning; raw, or
**              normalised by its value at lag 0 (S^(k, tau) / S^(k, 0)
**              on grids, S(tau) S(0)^-1 in the dense case).
**   conjugate: R(tau) = <x(tau) B(x(0))> for a perturbation u(x) with
**              the conjugate observable B = -div u - u . s given per
**              frame; the response of every state value to u.
** Stein's identity -<x s^T> = I makes the raw S(0) the identity for an
** exact score, so its deviation measures the score's quality.
**
** Wavenumbers whose lag-0 power (or |S^(k, 0)|) is below 1e-12 of the
** largest are left out of a ratio (set to 0), as a pseudo-inverse does.
** Such modes carry no signal, for example the Nyquist modes that a grid
** with the drop convention sets to zero.
**
** Standard errors are the spread of per-member estimates, std / sqrt(E)
** with E the number of members (the sample standard deviation); they
** are left empty when E < 2.
**
** Threads: the FFT work of one member runs in parallel with OpenMP, and
** every result is the same for any thread count.
*/
#ifndef KUBO_RESPONSE_H
#define KUBO_RESPONSE_H

#include <stdint.h>

#include "kubo/error.h"
#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kubo_corr_mode {
  KUBO_CORR_CIRCULAR = 0,
  KUBO_CORR_PADDED = 1
} kubo_corr_mode;


/* ---------------------------------------------------------------------
** Correlations of one member (raw arrays; the hot path)
**
** A kubo_corr contains the FFTW plans and sizes for one problem: frames T,
** lags L (1 <= L <= T) and either a grid shape or dense dimensions. It
** is not safe to use from several threads at once (it parallelises each
** call itself).
** ------------------------------------------------------------------- */

typedef struct kubo_corr kubo_corr;

/* Creates a correlator for periodic fields of shape `shape` (ndim 1..3,
** row-major, x last) over `frames` frames and `lags` lags.
** Fails with KUBO_EINVAL (and *out = NULL) for frames < 1, lags outside
** 1..frames, a bad ndim or a size below 1; with KUBO_ENOMEM if plans or
** buffers cannot be allocated. */
kubo_status kubo_corr_new_grid(kubo_corr **out, int64_t frames,
                               int ndim, const int64_t *shape,
                               int64_t lags, kubo_corr_mode mode);

/* Creates a correlator of a (frames, dim_x) series against a
** (frames, dim_y) series. Fails as kubo_corr_new_grid, and for
** dim_x or dim_y below 1. */
kubo_status kubo_corr_new_dense(kubo_corr **out, int64_t frames,
                                int64_t dim_x, int64_t dim_y,
                                int64_t lags, kubo_corr_mode mode);

/* Frees c and its plans. NULL is ignored. */
void kubo_corr_free(kubo_corr *c);

/* Grid: the number H of complex modes of the real-to-complex half
** spectrum ((nx/2+1) * ny * nz). Dense: 0. */
int64_t kubo_corr_modes(const kubo_corr *c);

/* Computes the lagged cross-correlation of one member.
** Grid: x and y are (frames, M) fields (M grid points; y NULL means
** y = x), shift_x and shift_y point to one value each that is
** subtracted from every value of x or y first (NULL: none). out is
** (lags, H, 2): the complex spectrum over offsets of
**   C(D, tau) = (1/(M n_tau)) sum_p sum_t x(p + D, t + tau) y(p, t),
** i.e. C^(k, tau) = (1/(M n_tau)) sum_t x^_k(t + tau) conj(y^_k(t)),
** with n_tau = T (circular) or T - tau (padded) and the unnormalised
** forward DFT over space.
** Dense: x is (frames, dim_x), y is (frames, dim_y) (NULL: y = x, which
** needs dim_y = dim_x), shift_x and shift_y hold dim_x and dim_y values
** (NULL: none), and out is (lags, dim_x, dim_y):
**   C_ij(tau) = (1/n_tau) sum_t x_i(t + tau) y_j(t).
** Fails with KUBO_EINVAL for NULL x or out, KUBO_ENOMEM if scratch space
** cannot be allocated; out is then undefined. */
kubo_status kubo_corr_member(kubo_corr *c, const double *x,
                             const double *shift_x, const double *y,
                             const double *shift_y, double *out);

/* Computes the same correlation as kubo_corr_member by a direct double
** loop over sites and times, as a reference for tests: O(T L M^2) on
** grids, O(T L dim_x dim_y) dense. The grid result is returned in real
** space, as (lags, M) values of C(D, tau) with D in row-major order. */
kubo_status kubo_corr_member_naive(const kubo_corr *c, const double *x,
                                   const double *shift_x, const double *y,
                                   const double *shift_y, double *out);


/* ---------------------------------------------------------------------
** Response estimators
** ------------------------------------------------------------------- */

typedef enum kubo_response_kind {
  KUBO_RESPONSE_GAUSSIAN = 0,   /* C(tau) C(0)^-1 */
  KUBO_RESPONSE_SCORE,          /* -<x(tau) s(x(0))^T>, raw or normalised */
  KUBO_RESPONSE_CONJUGATE,      /* <x(tau) B(x(0))> */
  KUBO_RESPONSE_PERTURBATION    /* control and perturbed ensembles */
} kubo_response_kind;

typedef struct kubo_response_spec {
  kubo_response_kind kind;
  int64_t frames;                  /* T per member */
  int64_t lags;                    /* L, 1..T */
  int ndim;                        /* state shape; 0 for a scalar state */
  int64_t shape[KUBO_MAX_DIM];
  int grid;                        /* 1: periodic grid (ndim 1..3) */
  int64_t site[3];                 /* grid: impulse site, row-major index
                                   ** per axis (0-based) */
  kubo_corr_mode mode;
  int normalize;                   /* score: divide by the lag-0 value */
} kubo_response_spec;

typedef struct kubo_response {
  kubo_response_kind kind;
  int grid;
  int64_t members;                 /* members added (perturbation:
                                   ** member-block realisations) */
  /* Grid: (lags, ...state shape...), the response at each point to an
  ** impulse at spec.site (perturbation: at the perturbed site). Dense:
  ** (lags, d, d), entry [tau, i, j] the response of component i to an
  ** impulse in component j. Conjugate: (lags, ...state shape...), or
  ** (lags, 1) for a scalar state. Perturbation: (lags, ...state
  ** shape...). */
  kubo_tensor values;
  kubo_tensor std_error;           /* the shape of values; empty if E < 2 */
  /* Score only: the raw lag-0 value S(0), shaped like one lag of values
  ** (grid: S(p - site, 0); dense: (d, d)), its diagonal mean (S(0, 0)
  ** on grids) and max |S(0) - I| over all entries. */
  kubo_tensor stein;
  double stein_diagonal;
  double stein_deviation;
} kubo_response;

typedef struct kubo_response_est kubo_response_est;

/* Creates an estimator. Fails with KUBO_EINVAL when the spec is
** inconsistent (lags outside 1..frames, a site outside the grid, a grid
** of ndim outside 1..3, normalize with a kind other than score), with
** KUBO_ENOMEM on allocation failure. */
kubo_status kubo_response_est_new(kubo_response_est **out,
                                  const kubo_response_spec *spec);

void kubo_response_est_free(kubo_response_est *e);

/* Adds one member. x: (frames, d) state values. y: the score at every
** frame, (frames, d), for KUBO_RESPONSE_SCORE; B per frame, (frames),
** for KUBO_RESPONSE_CONJUGATE; NULL for KUBO_RESPONSE_GAUSSIAN. mean:
** Gaussian only, the mean subtracted from x (one value on grids, d
** values dense; NULL for none). Fails with KUBO_EINVAL for a missing y,
** KUBO_ENOMEM, or KUBO_ENUMERIC if x or y contains NaN or Inf (the
** message names the frame). */
kubo_status kubo_response_est_add(kubo_response_est *e, const double *x,
                                  const double *y, const double *mean);

/* Completes the estimate into *out (zeroed or released first). Fails
** with KUBO_ESTATE if no member was added, with KUBO_ENUMERIC if the
** dense C(0) or S(0) is singular (the message names the estimator). */
kubo_status kubo_response_est_finish(kubo_response_est *e,
                                     kubo_response *out);

void kubo_response_release(kubo_response *r);


/* ---------------------------------------------------------------------
** Trajectory sources: tensors or HDF5 datasets read member by member
** ------------------------------------------------------------------- */

typedef struct kubo_traj kubo_traj;

/* Wraps a tensor of shape (frames, members, ...state...) (ndim >= 2;
** float64 or float32, any layout). The source keeps a reference. */
kubo_status kubo_traj_from_tensor(kubo_traj **out, const kubo_tensor *t);

/* Opens dataset name of the HDF5 file at path, of the same layout.
** Fails with KUBO_EIO for a missing file or dataset, KUBO_EINVAL for a
** dataset of fewer than 2 dimensions. */
kubo_status kubo_traj_from_h5(kubo_traj **out, const char *path,
                              const char *name);

void kubo_traj_free(kubo_traj *s);

int64_t kubo_traj_frames(const kubo_traj *s);
int64_t kubo_traj_members(const kubo_traj *s);

/* Writes the state shape into shape (up to KUBO_MAX_DIM entries) and
** returns its ndim (0 for a scalar state). */
int kubo_traj_state_shape(const kubo_traj *s, int64_t *shape);

/* Number of values d of one state (1 for a scalar state). */
int64_t kubo_traj_state_size(const kubo_traj *s);

/* Reads members first .. first + count - 1 into out as float64,
** (count, frames, d), member-major. HDF5 sources read the file in
** blocks of frames. Fails with KUBO_EINVAL for a range outside the
** members, KUBO_EIO on read errors. */
kubo_status kubo_traj_read(kubo_traj *s, int64_t first, int64_t count,
                           double *out);

/* Computes the mean over frames and members of every state value (d
** values into mean) and, if total is not NULL, the mean of all values
** into *total. */
kubo_status kubo_traj_mean(kubo_traj *s, double *mean, double *total);

/* Computes the second series of one member for kubo_response_run: the
** score at every frame, y (frames, d), for KUBO_RESPONSE_SCORE, or B per
** frame, y (frames), for KUBO_RESPONSE_CONJUGATE, from the member's
** states x (frames, d). Returns KUBO_OK or a status with a message set
** (kubo_error_set); the run then stops with that status. */
typedef kubo_status (*kubo_response_series_fn)(void *userdata,
                                               int64_t member,
                                               int64_t frames,
                                               const double *x, double *y);

/* Runs the estimator of spec over every member of s into *out. The
** Gaussian kind subtracts the mean of the source: the mean of all values
** on grids, as the reference experiments do, and the mean of each
** component in the dense case. The other kinds call fn once per member
** (fn may be NULL for the Gaussian kind). Members are read in groups of
** about 256 MiB, so memory does not grow with the member count.
** spec->frames and the state shape must match the source (the message
** names both); an interrupt is checked between members. */
kubo_status kubo_response_run(kubo_traj *s, const kubo_response_spec *spec,
                              kubo_response_series_fn fn, void *userdata,
                              kubo_response *out);


/* ---------------------------------------------------------------------
** Perturbation (dynamical) response
** ------------------------------------------------------------------- */

typedef struct kubo_sim kubo_sim;

typedef struct kubo_perturbation_spec {
  int64_t index;     /* impulse site: 0-based row-major state index */
  double delta;      /* impulse size, finite and non-zero */
  int64_t lags;      /* samples per block, >= 1 */
  int64_t every;     /* steps between samples, >= 1 */
  int64_t resets;    /* blocks, >= 1 */
} kubo_perturbation_spec;

/* Estimates the response of every state value to an impulse at p->index
** from a control and a perturbed copy of sim's ensemble that share
** their noise. The run has p->resets blocks of p->lags * p->every
** steps. Each block starts the perturbed copy from the control's
** current state plus delta at the site; before each group of p->every
** steps, (perturbed - control) / delta of every member is recorded as
** that lag's sample. values (lags, ...state shape...) is the mean over
** the members * resets realisations and std_error their sample standard
** deviation over sqrt(n) (empty for a single realisation). sim itself is
** not advanced: the control is a copy. Fails with KUBO_EINVAL for bad
** options, with the integrator's status (the message names the block)
** if a step fails, KUBO_EINTERRUPTED between blocks. */
kubo_status kubo_response_perturbation(const kubo_sim *sim,
                                       const kubo_perturbation_spec *p,
                                       kubo_response *out);

#ifdef __cplusplus
}
#endif

#endif
