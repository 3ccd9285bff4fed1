/*
** grid.h: periodic grids, FFTW3 transforms and spectral operators.
**
** A kubo_grid describes a periodic box of 1, 2 or 3 dimensions with n
** points along each axis. Axis 0 is x, axis 1 is y and axis 2 is z. Real
** fields are stored row-major with x varying fastest, so one field has
** the shape (nx), (ny, nx) or (nz, ny, nx), and nodes sit at
** x_i = i * Lx / nx, i = 0..nx-1 (likewise for y and z).
**
** Spectra are FFTW's real-to-complex half spectra of shape (nx/2+1),
** (ny, nx/2+1) or (nz, ny, nx/2+1) complex numbers. Each complex number
** is two doubles (real, imaginary), the layout of fftw_complex and of a
** kubo tensor with a trailing dimension 2. Below, M = nx * ny * nz is
** the real size (grid points) and H = (nx/2+1) * ny * nz the spectral
** size (complex modes).
**
** Normalisation, held by every function here: the forward transform is
** unnormalised, u^_k = sum_x u_x exp(-i k.x), and the inverse transform
** divides by M, so that ifft(fft(u)) = u. Parseval then reads
** sum_x |u_x|^2 = (1/M) sum_k |u^_k|^2 over all M modes of the full
** spectrum; in the half spectrum every mode with 0 < ix < nx/2 stands
** for itself and its conjugate partner and counts twice.
**
** Wavenumbers follow FFTW's order: index m along an axis of n points and
** length L has wavenumber (2 pi / L) * m for m < n/2 and (2 pi / L) *
** (m - n) above. For even n the index n/2 is the Nyquist index, and the
** grid's Nyquist convention decides what it means:
**   KUBO_NYQUIST_DROP (default): the Nyquist wavenumber is -(pi n / L),
**     and every operator, filter, random field and noise generator sets
**     each mode with a Nyquist index along any axis to zero;
**   KUBO_NYQUIST_ZERO_K: the Nyquist index gets wavenumber 0 in all
**     tables and operators, as FourierCore's wavenumbers(N) does in the
**     reference experiments. So dx is 0 on the Nyquist column, |k|^2
**     there counts only the other axes, and nothing is zeroed.
** The transforms themselves are exact in both conventions. Odd n has no
** Nyquist index, and the two conventions then agree.
**
** Threads: a grid is immutable after kubo_grid_new and may be used from
** several threads at once. Its FFTW plans are made once, on scratch
** arrays and with FFTW_ESTIMATE, while holding the process-wide planner
** lock below, so user data is never touched by the planner.
**
** Batches: every transform and operator takes a count of fields laid out
** one after another (shape (count, ...field shape...)), such as ensemble
** members or frames. A batch is transformed field by field with the one
** plan of the grid, so field i of a batch gets the same bits as a call
** with that field alone, whatever the batch size or thread count.
*/
#ifndef KUBO_GRID_H
#define KUBO_GRID_H

#include <stdint.h>

#include "kubo/error.h"
#include "kubo/rng.h"
#include "kubo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { KUBO_GRID_MAX_DIM = 3 };

typedef enum kubo_nyquist {
  KUBO_NYQUIST_DROP = 0,
  KUBO_NYQUIST_ZERO_K = 1
} kubo_nyquist;

/* Parses "drop" or "zero_k"; returns -1 for any other string. */
int kubo_nyquist_parse(const char *name);
const char *kubo_nyquist_name(kubo_nyquist nyquist);

typedef struct kubo_grid kubo_grid;


/* ---------------------------------------------------------------------
** Creation and lifetime
** ------------------------------------------------------------------- */

/* Creates a grid of ndim (1..3) axes with n[a] points and length
** length[a] along axis a (a = 0 is x). length may be NULL for 2 pi on
** every axis. The new grid holds one reference.
** Fails with KUBO_EINVAL (and *out = NULL) if ndim is out of range, an
** n[a] is below 2, the real size exceeds KUBO_MAX_NUMEL, or a length is
** not finite and positive; with KUBO_ENOMEM if tables or plans cannot be
** allocated. */
kubo_status kubo_grid_new(kubo_grid **out, int ndim, const int64_t *n,
                          const double *length, kubo_nyquist nyquist);

/* Adds a reference (for models and bindings that share a grid) and
** returns g. */
kubo_grid *kubo_grid_retain(kubo_grid *g);

/* Drops a reference; the last one frees the grid and its plans. NULL is
** ignored. */
void kubo_grid_release(kubo_grid *g);


/* ---------------------------------------------------------------------
** Geometry and tables (all owned by the grid; valid while it lives)
** ------------------------------------------------------------------- */

int kubo_grid_ndim(const kubo_grid *g);
kubo_nyquist kubo_grid_nyquist(const kubo_grid *g);

/* Points and box length along axis a (0 = x); 0 for a >= ndim. */
int64_t kubo_grid_n(const kubo_grid *g, int axis);
double kubo_grid_length(const kubo_grid *g, int axis);

/* Returns the real size M = nx * ny * nz and the spectral size
** H = (nx/2+1) * ny * nz. A spectrum is 2 H doubles. */
int64_t kubo_grid_real_size(const kubo_grid *g);
int64_t kubo_grid_spectral_size(const kubo_grid *g);

/* Writes the shape of one real field, (nz, ny, nx) for ndim 3, into
** shape (ndim entries) and returns ndim. */
int kubo_grid_real_shape(const kubo_grid *g, int64_t *shape);

/* Writes the shape of one spectrum as a real tensor, (ny, nx/2+1, 2) for
** ndim 2, into shape (ndim + 1 entries) and returns ndim + 1. */
int kubo_grid_spectral_shape(const kubo_grid *g, int64_t *shape);

/* Returns the n[a] wavenumbers along axis a in FFTW order, with the
** Nyquist convention applied: -(pi n / L) at the Nyquist index under
** drop, 0 under zero_k. A spectrum uses the first nx/2+1 along x. */
const double *kubo_grid_k(const kubo_grid *g, int axis);

/* |k|^2 per mode of the half spectrum (H entries), from kubo_grid_k. */
const double *kubo_grid_k2(const kubo_grid *g);

/* 1 or 0 per mode of the half spectrum: 0 where the drop convention
** removes a Nyquist mode, 1 elsewhere (all 1 under zero_k). Every
** operator below multiplies by it. */
const double *kubo_grid_keep(const kubo_grid *g);

/* The 2/3-rule mask per mode of the half spectrum: 0 where the integer
** index magnitude |m| along any axis exceeds n/3 (3 |m| > n), else 1.
** Uses index magnitudes, so Nyquist modes are removed under either
** convention. */
const double *kubo_grid_dealias_mask(const kubo_grid *g);

/* Node coordinate i * L / n along axis a (n[a] entries). */
const double *kubo_grid_coordinates(const kubo_grid *g, int axis);


/* ---------------------------------------------------------------------
** Transforms (raw arrays; the hot path)
**
** real: (count, ...real field shape...), count * M doubles.
** spec: (count, ...spectral shape...), count * 2 H doubles.
** Input and output must not overlap. Arrays need no particular alignment,
** but fields at addresses that FFTW counts as SIMD-aligned (as every
** kubo_alloc address is) avoid a copy. count may be 0. Large batches run
** in parallel with OpenMP, and the bits never depend on the thread
** count.
** ------------------------------------------------------------------- */

/* Forward transform of count real fields into half spectra (unnormalised).
** real is left unchanged. Fails with KUBO_EINVAL for count < 0, with
** KUBO_ENOMEM if a scratch copy cannot be allocated. */
kubo_status kubo_grid_fft(const kubo_grid *g, int64_t count,
                          const double *real, double *spec);

/* Inverse transform of count half spectra into real fields, divided by M.
** spec is left unchanged: it is copied first, because FFTW's multi-
** dimensional complex-to-real transforms overwrite their input. spec
** should be the spectrum of a real field (Hermitian in the ix = 0 and
** Nyquist columns), as every function here produces; for other input
** the result is whatever FFTW's complex-to-real transform gives. Fails
** as kubo_grid_fft. */
kubo_status kubo_grid_ifft(const kubo_grid *g, int64_t count,
                           const double *spec, double *real);

/* Like kubo_grid_ifft, but uses spec as work space and leaves undefined
** values in it. This saves one copy in loops that no longer need the
** spectrum, and gives the same bits as kubo_grid_ifft. */
kubo_status kubo_grid_ifft_overwrite(const kubo_grid *g, int64_t count,
                                     double *spec, double *real);


/* ---------------------------------------------------------------------
** Operators on spectra, in place (spec: count * 2 H doubles)
**
** Each multiplies every mode by a symbol and by kubo_grid_keep(g). The
** symbols use kubo_grid_k, so they follow the Nyquist convention. They
** fail only for count < 0 (KUBO_EINVAL), and kubo_grid_spec_apply also
** for a derivative along an axis the grid lacks.
** ------------------------------------------------------------------- */

typedef enum kubo_grid_op {
  KUBO_GRID_DX = 0,               /* i kx */
  KUBO_GRID_DY,                   /* i ky; KUBO_EINVAL on a 1-D grid */
  KUBO_GRID_DZ,                   /* i kz; KUBO_EINVAL below 3-D */
  KUBO_GRID_LAPLACIAN,            /* -|k|^2 */
  KUBO_GRID_INVERSE_LAPLACIAN,    /* -1/|k|^2, and 0 where |k|^2 = 0 */
  KUBO_GRID_DEALIAS,              /* the 2/3-rule mask */
  KUBO_GRID_IDENTITY              /* 1: applies only the keep mask */
} kubo_grid_op;

kubo_status kubo_grid_spec_apply(const kubo_grid *g, kubo_grid_op op,
                                 int64_t count, double *spec);

/* Multiplies by (-|k|^2)^power. power may be negative, and the symbol is
** then 0 where |k|^2 = 0 (the mean mode, and the Nyquist-aliased modes
** under zero_k); power 0 applies only the keep mask. */
kubo_status kubo_grid_spec_laplacian_power(const kubo_grid *g, int power,
                                           int64_t count, double *spec);

/* Multiplies by a real symbol table (H entries, e.g. a filter). */
kubo_status kubo_grid_spec_scale(const kubo_grid *g, const double *table,
                                 int64_t count, double *spec);

/* Multiplies by a complex symbol table (H complex entries, 2 H doubles,
** e.g. -kappa |k|^2 - i U kx). */
kubo_status kubo_grid_spec_multiply(const kubo_grid *g, const double *table,
                                    int64_t count, double *spec);

/* A symbol as a C function of the wavenumber vector: k[a] is the
** wavenumber along axis a (zero for axes beyond ndim) and k2 = |k|^2.
** It writes the complex value to out[0] (real) and out[1] (imaginary). */
typedef void (*kubo_grid_symbol_fn)(const double k[KUBO_GRID_MAX_DIM],
                                    double k2, void *userdata,
                                    double out[2]);

/* Evaluates fn at every mode into a complex table (2 H doubles) for
** kubo_grid_spec_multiply, with the keep mask applied. Cannot fail. */
void kubo_grid_symbol_table(const kubo_grid *g, kubo_grid_symbol_fn fn,
                            void *userdata, double *table);

/* A real function of |k|^2, for spectra of random fields and filters. */
typedef double (*kubo_grid_radial_fn)(double k2, void *userdata);

/* Evaluates fn(|k|^2) at every mode into a real table (H doubles), with
** the keep mask applied. Cannot fail. */
void kubo_grid_radial_table(const kubo_grid *g, kubo_grid_radial_fn fn,
                            void *userdata, double *table);


/* ---------------------------------------------------------------------
** Random fields and the reference noise
** ------------------------------------------------------------------- */

/* Draws count real Gaussian fields with mean zero and covariance
** Cov(u_x, u_y) = sum over all M modes of S_k cos(k.(x - y)), where k is
** the true wavenumber of each mode (the basis function at a Nyquist index
** is (-1)^i under either convention). spectrum gives S_k >= 0 per mode
** of the half spectrum (H entries, e.g. from kubo_grid_radial_table), and
** the keep mask is applied to it. The per-point variance is sum_k S_k.
** The draw is Hermitian-correct: each conjugate pair of modes shares one
** complex normal, and self-conjugate modes are real. Field f uses the
** 2 H normals from rng (advancing it by H blocks) in half-spectrum order.
** out: (count, ...real field shape...). Fails with KUBO_EINVAL for a
** negative or non-finite S_k or count < 0, with KUBO_ENOMEM on
** allocation failure. */
kubo_status kubo_grid_random_field(const kubo_grid *g,
                                   const double *spectrum, kubo_rng *rng,
                                   int64_t count, double *out);

/* Fills amplitude (H entries) with sqrt(eps2 / (1 + |k|^2)) times the
** keep mask: the square root of the noise spectrum of the reference
** Ornstein-Uhlenbeck and Allen-Cahn experiments. Cannot fail. */
void kubo_grid_noise_amplitude(const kubo_grid *g, double eps2,
                               double *amplitude);

/* Draws the reference correlated noise for each of members fields:
**   eta = Re IDFT[ M * a_k * (xi_k + i zeta_k) ]
** with xi, zeta independent standard normals at every mode of the FULL
** spectrum (no Hermitian symmetry) and IDFT dividing by M. Its covariance
** is Cov(eta_x, eta_y) = sum over all modes of a_k^2 cos(k.(x - y)), with
** k the true wavenumber as for kubo_grid_random_field. With
** kubo_grid_noise_amplitude on a 32 x 32 zero_k grid and eps2 = 0.004,
** the per-point variance is 0.099994.
** amplitude: a_k on the half spectrum (H entries), assumed equal at k
** and -k, with the keep mask applied on top.
** rngs: one stream per member. Member m reads 2 M normals (M blocks)
** from rngs[m] at rngs[m].position, xi and zeta interleaved in
** row-major order of the full spectrum, and advances rngs[m] by M.
** eta is computed exactly from the Hermitian part (c_k + conj(c_-k)) / 2
** of c_k = M a_k (xi_k + i zeta_k), with one complex-to-real transform.
** out: (members, ...real field shape...).
** Fails with KUBO_EINVAL for members < 0, with KUBO_ENOMEM on allocation
** failure. */
kubo_status kubo_grid_noise(const kubo_grid *g, const double *amplitude,
                            int64_t members, kubo_rng *rngs, double *out);


/* ---------------------------------------------------------------------
** Diagnostics (count fields in, count numbers out)
**
** The mean is a real-space sum. The others are computed from spectra and
** agree with the real-space integrals by Parseval. All fail with
** KUBO_EINVAL for count < 0 and KUBO_ENOMEM on allocation failure.
** ------------------------------------------------------------------- */

/* Spatial mean of each real field. */
kubo_status kubo_grid_mean(const kubo_grid *g, int64_t count,
                           const double *real, double *out);

/* What a field passed to the energy diagnostics is. */
typedef enum kubo_grid_field {
  KUBO_FIELD_PLAIN = 0,         /* any field u: spectrum of (1/2) u^2 */
  KUBO_FIELD_STREAMFUNCTION,    /* psi */
  KUBO_FIELD_VORTICITY          /* omega = laplacian psi */
} kubo_grid_field;

/* Domain-averaged energy (1/2) <|grad psi|^2> of each field, given as a
** streamfunction or a vorticity (psi = inverse laplacian omega); for
** KUBO_FIELD_PLAIN, (1/2) <u^2>. */
kubo_status kubo_grid_energy(const kubo_grid *g, kubo_grid_field kind,
                             int64_t count, const double *real,
                             double *out);

/* Domain-averaged enstrophy (1/2) <omega^2> of each field, given as a
** streamfunction or a vorticity (KUBO_FIELD_PLAIN is read as vorticity). */
kubo_status kubo_grid_enstrophy(const kubo_grid *g, kubo_grid_field kind,
                                int64_t count, const double *real,
                                double *out);

/* Shell width dk = 2 pi / max(L) of the isotropic spectrum: the smallest
** wavenumber step of the grid. */
double kubo_grid_spectrum_dk(const kubo_grid *g);

/* Number of shells of the isotropic spectrum: shell b contains the modes
** with b - 1/2 <= |k| / dk < b + 1/2, where dk = 2 pi / max(L) is the
** smallest wavenumber step, and |k| is the true magnitude (Nyquist
** indices at pi n / L under both conventions, so no mode is lost). */
int64_t kubo_grid_spectrum_bins(const kubo_grid *g);

/* Isotropic spectrum of each field: out (count, bins), where bin b sums
** the energy density of kind (the same as kubo_grid_energy) over shell
** b, so that the bins of a field sum to kubo_grid_energy of it. Modes
** removed by the keep mask are left out for the streamfunction and
** vorticity kinds (their energy is zero there) but counted for
** KUBO_FIELD_PLAIN, which makes it Parseval-exact for any field. */
kubo_status kubo_grid_spectrum(const kubo_grid *g, kubo_grid_field kind,
                               int64_t count, const double *real,
                               double *out);


/* ---------------------------------------------------------------------
** Tensor wrappers (for the bindings)
**
** Inputs may be float64 or float32 tensors of any layout (converted to
** contiguous float64 first). A real tensor ends in the real field shape,
** a spectrum in the spectral shape (trailing 2); leading dimensions form
** the batch. Results are new float64 tensors in *out (which must be
** empty). They fail with KUBO_EINVAL, naming the expected shape, when
** the trailing dimensions do not fit the grid.
** ------------------------------------------------------------------- */

/* Returns 1 if t ends in the spectral shape of g, 0 if it ends in the
** real shape, -1 if neither. A tensor matching both (possible only when
** nx = 2) counts as a spectrum. */
int kubo_grid_classify(const kubo_grid *g, const kubo_tensor *t);

kubo_status kubo_grid_fft_tensor(const kubo_grid *g, const kubo_tensor *u,
                                 kubo_tensor *out);
kubo_status kubo_grid_ifft_tensor(const kubo_grid *g,
                                  const kubo_tensor *spec,
                                  kubo_tensor *out);

/* Applies op to x, a real field (transform, multiply, inverse transform)
** or a spectrum (multiply) as kubo_grid_classify decides. out has the
** kind and shape of x. */
kubo_status kubo_grid_apply_tensor(const kubo_grid *g, kubo_grid_op op,
                                   const kubo_tensor *x, kubo_tensor *out);
kubo_status kubo_grid_laplacian_power_tensor(const kubo_grid *g, int power,
                                             const kubo_tensor *x,
                                             kubo_tensor *out);

/* Multiplies x (real field or spectrum) by a complex table (2 H doubles)
** or, if is_complex is 0, by a real table (H doubles). */
kubo_status kubo_grid_multiply_tensor(const kubo_grid *g,
                                      const double *table, int is_complex,
                                      const kubo_tensor *x,
                                      kubo_tensor *out);


/* What kubo_grid_diagnostic_tensor computes per field. */
typedef enum kubo_grid_diagnostic {
  KUBO_DIAG_MEAN = 0,
  KUBO_DIAG_ENERGY,
  KUBO_DIAG_ENSTROPHY,
  KUBO_DIAG_SPECTRUM
} kubo_grid_diagnostic;

/* Computes a diagnostic of every real field in x (shape (..., real field
** shape)) into out: shape (...) for the mean, energy and enstrophy (0
** dimensions for a single field), (..., bins) for the spectrum. kind is
** ignored by the mean. Fails with KUBO_EINVAL if x does not end in the
** real field shape. */
kubo_status kubo_grid_diagnostic_tensor(const kubo_grid *g,
                                        kubo_grid_diagnostic which,
                                        kubo_grid_field kind,
                                        const kubo_tensor *x,
                                        kubo_tensor *out);


/* ---------------------------------------------------------------------
** FFTW planner lock
**
** FFTW's planner (fftw_plan_*, fftw_destroy_plan) is not thread-safe.
** Engine code that plans FFTW transforms of its own must hold this
** process-wide lock around those calls; executing a plan needs no lock.
** ------------------------------------------------------------------- */

void kubo_fftw_lock(void);
void kubo_fftw_unlock(void);

#ifdef __cplusplus
}
#endif

#endif
