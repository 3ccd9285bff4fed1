/*
** grid.c: creation of periodic grids, their wavenumber tables and FFTW
** plans, and the process-wide FFTW planner lock.
*/
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "kubo/alloc.h"
#include "grid_impl.h"

static pthread_mutex_t planner_mutex = PTHREAD_MUTEX_INITIALIZER;


void kubo_fftw_lock(void) {
  pthread_mutex_lock(&planner_mutex);
}


void kubo_fftw_unlock(void) {
  pthread_mutex_unlock(&planner_mutex);
}


int kubo_nyquist_parse(const char *name) {
  if (name == NULL) return -1;
  if (strcmp(name, "drop") == 0) return KUBO_NYQUIST_DROP;
  if (strcmp(name, "zero_k") == 0) return KUBO_NYQUIST_ZERO_K;
  return -1;
}


const char *kubo_nyquist_name(kubo_nyquist nyquist) {
  return nyquist == KUBO_NYQUIST_ZERO_K ? "zero_k" : "drop";
}


/* ---------------------------------------------------------------------
** Tables
** ------------------------------------------------------------------- */

static double *table_alloc(int64_t count) {
  return kubo_calloc((size_t)count * sizeof(double));
}


static void table_free(double *t, int64_t count) {
  kubo_free(t, (size_t)count * sizeof(double));
}


/* Fills the per-axis wavenumbers and coordinates. */
static kubo_status fill_axes(kubo_grid *g) {
  for (int a = 0; a < g->ndim; a++) {
    int64_t n = g->n[a];
    double step = 2 * M_PI / g->length[a];
    g->k[a] = table_alloc(n);
    g->coord[a] = table_alloc(n);
    if (g->k[a] == NULL || g->coord[a] == NULL) return KUBO_ENOMEM;

    for (int64_t i = 0; i < n; i++) {
      int64_t m = i < (n + 1) / 2 ? i : i - n;   /* Nyquist: -n/2 */
      int nyquist = n % 2 == 0 && i == n / 2;
      if (nyquist && g->nyquist == KUBO_NYQUIST_ZERO_K) m = 0;
      g->k[a][i] = step * (double)m;
      g->coord[a][i] = g->length[a] * (double)i / (double)n;
    }
  }
  return KUBO_OK;
}


/* Fills k2, keep and dealias over the half spectrum, whose modes run
** row-major over (z, y, x) with x in 0..nx/2. */
static kubo_status fill_modes(kubo_grid *g) {
  int64_t H = g->spectral_size;
  g->k2 = table_alloc(H);
  g->keep = table_alloc(H);
  g->dealias = table_alloc(H);
  if (g->k2 == NULL || g->keep == NULL || g->dealias == NULL)
    return KUBO_ENOMEM;

  int64_t p = 0;
  for (int64_t iz = 0; iz < g->n[2]; iz++) {
    for (int64_t iy = 0; iy < g->n[1]; iy++) {
      for (int64_t ix = 0; ix < g->nxh; ix++, p++) {
        int64_t idx[3] = {ix, iy, iz};
        double k2 = 0;
        int keep = 1, dealias = 1;
        for (int a = 0; a < g->ndim; a++) {
          int64_t n = g->n[a];
          int64_t m = kubo_grid_index_abs(idx[a], n);
          double k = g->k[a][idx[a]];
          k2 += k * k;
          if (n % 2 == 0 && m == n / 2 && g->nyquist == KUBO_NYQUIST_DROP)
            keep = 0;
          if (3 * m > n) dealias = 0;
        }
        g->k2[p] = k2;
        g->keep[p] = keep;
        g->dealias[p] = dealias;
      }
    }
  }
  return KUBO_OK;
}


/* Makes the two one-field plans on scratch arrays under the planner
** lock. FFTW's manual (section "Planner Flags") says FFTW_ESTIMATE does
** not overwrite the arrays, and the scratch keeps user data out anyway. */
static kubo_status make_plans(kubo_grid *g) {
  int rank = g->ndim;
  int dims[KUBO_GRID_MAX_DIM];
  for (int a = 0; a < rank; a++) {
    if (g->n[rank - 1 - a] > INT32_MAX)
      return kubo_error_set(KUBO_EINVAL,
                            "grid: n along axis %d is too large for FFTW "
                            "(got %lld)", rank - a,
                            (long long)g->n[rank - 1 - a]);
    dims[a] = (int)g->n[rank - 1 - a];    /* FFTW wants (z, y, x) */
  }

  size_t real_bytes = (size_t)g->real_size * sizeof(double);
  size_t spec_bytes = (size_t)g->spectral_size * sizeof(fftw_complex);
  double *real = kubo_alloc(real_bytes);
  fftw_complex *spec = kubo_alloc(spec_bytes);
  kubo_status status = KUBO_OK;
  if (real == NULL || spec == NULL) {
    status = KUBO_ENOMEM;
  } else {
    kubo_fftw_lock();
    g->forward = fftw_plan_dft_r2c(rank, dims, real, spec,
                                   FFTW_ESTIMATE | FFTW_PRESERVE_INPUT);
    g->inverse = fftw_plan_dft_c2r(rank, dims, spec, real,
                                   FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
    kubo_fftw_unlock();
    if (g->forward == NULL || g->inverse == NULL)
      status = kubo_error_set(KUBO_ENOMEM,
                              "grid: FFTW could not plan the transforms");
  }
  kubo_free(real, real_bytes);
  kubo_free(spec, spec_bytes);
  return status;
}


/* ---------------------------------------------------------------------
** Creation and lifetime
** ------------------------------------------------------------------- */

static void grid_free(kubo_grid *g) {
  if (g->forward != NULL || g->inverse != NULL) {
    kubo_fftw_lock();
    if (g->forward != NULL) fftw_destroy_plan(g->forward);
    if (g->inverse != NULL) fftw_destroy_plan(g->inverse);
    kubo_fftw_unlock();
  }
  for (int a = 0; a < KUBO_GRID_MAX_DIM; a++) {
    table_free(g->k[a], g->n[a]);
    table_free(g->coord[a], g->n[a]);
  }
  table_free(g->k2, g->spectral_size);
  table_free(g->keep, g->spectral_size);
  table_free(g->dealias, g->spectral_size);
  kubo_free(g, sizeof *g);
}


static kubo_status check_shape(int ndim, const int64_t *n,
                               const double *length) {
  if (ndim < 1 || ndim > KUBO_GRID_MAX_DIM)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: n must have 1 to %d entries (got %d)",
                          KUBO_GRID_MAX_DIM, ndim);

  int64_t total = 1;
  for (int a = 0; a < ndim; a++) {
    if (n[a] < 2)
      return kubo_error_set(KUBO_EINVAL,
                            "grid: n[%d] must be at least 2 (got %lld)",
                            a + 1, (long long)n[a]);
    if (n[a] > KUBO_MAX_NUMEL / total)
      return kubo_error_set(KUBO_EINVAL,
                            "grid: too many points (more than %lld)",
                            (long long)KUBO_MAX_NUMEL);
    total *= n[a];
    if (length != NULL && !(isfinite(length[a]) && length[a] > 0))
      return kubo_error_set(KUBO_EINVAL,
                            "grid: length[%d] must be finite and positive "
                            "(got %g)", a + 1, length[a]);
  }
  return KUBO_OK;
}


kubo_status kubo_grid_new(kubo_grid **out, int ndim, const int64_t *n,
                          const double *length, kubo_nyquist nyquist) {
  *out = NULL;
  kubo_status status = check_shape(ndim, n, length);
  if (status != KUBO_OK) return status;
  if (nyquist != KUBO_NYQUIST_DROP && nyquist != KUBO_NYQUIST_ZERO_K)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: nyquist must be \"drop\" or \"zero_k\"");

  kubo_grid *g = kubo_calloc(sizeof *g);
  if (g == NULL) return KUBO_ENOMEM;
  g->refcount = 1;
  g->ndim = ndim;
  g->nyquist = nyquist;
  for (int a = 0; a < KUBO_GRID_MAX_DIM; a++) {
    g->n[a] = 1;
    g->length[a] = 0;
    if (a < ndim) {
      g->n[a] = n[a];
      g->length[a] = length != NULL ? length[a] : 2 * M_PI;
    }
  }
  g->nxh = g->n[0] / 2 + 1;
  g->real_size = g->n[0] * g->n[1] * g->n[2];
  g->spectral_size = g->nxh * g->n[1] * g->n[2];

  status = fill_axes(g);
  if (status == KUBO_OK) status = fill_modes(g);
  if (status == KUBO_OK) status = make_plans(g);
  if (status != KUBO_OK) {
    grid_free(g);
    return status;
  }
  *out = g;
  return KUBO_OK;
}


kubo_grid *kubo_grid_retain(kubo_grid *g) {
  __atomic_add_fetch(&g->refcount, 1, __ATOMIC_RELAXED);
  return g;
}


void kubo_grid_release(kubo_grid *g) {
  if (g == NULL) return;
  if (__atomic_sub_fetch(&g->refcount, 1, __ATOMIC_ACQ_REL) == 0)
    grid_free(g);
}


/* ---------------------------------------------------------------------
** Geometry and tables
** ------------------------------------------------------------------- */

int kubo_grid_ndim(const kubo_grid *g) { return g->ndim; }
kubo_nyquist kubo_grid_nyquist(const kubo_grid *g) { return g->nyquist; }
int64_t kubo_grid_real_size(const kubo_grid *g) { return g->real_size; }


int64_t kubo_grid_spectral_size(const kubo_grid *g) {
  return g->spectral_size;
}


int64_t kubo_grid_n(const kubo_grid *g, int axis) {
  return axis >= 0 && axis < g->ndim ? g->n[axis] : 0;
}


double kubo_grid_length(const kubo_grid *g, int axis) {
  return axis >= 0 && axis < g->ndim ? g->length[axis] : 0;
}


int kubo_grid_real_shape(const kubo_grid *g, int64_t *shape) {
  for (int d = 0; d < g->ndim; d++) shape[d] = g->n[g->ndim - 1 - d];
  return g->ndim;
}


int kubo_grid_spectral_shape(const kubo_grid *g, int64_t *shape) {
  kubo_grid_real_shape(g, shape);
  shape[g->ndim - 1] = g->nxh;
  shape[g->ndim] = 2;
  return g->ndim + 1;
}


const double *kubo_grid_k(const kubo_grid *g, int axis) {
  return axis >= 0 && axis < g->ndim ? g->k[axis] : NULL;
}


const double *kubo_grid_coordinates(const kubo_grid *g, int axis) {
  return axis >= 0 && axis < g->ndim ? g->coord[axis] : NULL;
}


const double *kubo_grid_k2(const kubo_grid *g) { return g->k2; }
const double *kubo_grid_keep(const kubo_grid *g) { return g->keep; }
const double *kubo_grid_dealias_mask(const kubo_grid *g) {
  return g->dealias;
}
