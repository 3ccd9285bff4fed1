/*
** perturb.c: the dynamical ("true") response from a control and a
** perturbed ensemble that share their noise.
**
** Following the reference experiments' numerical_response: the run is
** cut into `resets` blocks of lags * every steps. At the start of each
** block the perturbed ensemble is resynchronised to the control (a fresh
** clone of it) and delta is added at the site. Before each group of
** `every` steps, (perturbed - control) / delta is recorded in the lag
** slot of the step within the block. Then both advance with the same
** noise. Every (member, block) pair is one realisation. The estimate is
** their mean and the standard error their sample standard deviation
** over sqrt(n). Both are accumulated by Welford's update, because the
** realisations of a linear system are nearly equal and a sum of
** squares would cancel.
*/
#include <math.h>
#include <string.h>

#include "kubo/alloc.h"
#include "kubo/integrator.h"
#include "kubo/response.h"


static kubo_status check_options(const kubo_sim *sim,
                                 const kubo_perturbation_spec *p) {
  int64_t dim = kubo_model_dim(kubo_sim_model(sim));
  if (p->index < 0 || p->index >= dim)
    return kubo_error_set(KUBO_EINVAL, "perturbation: site index %lld is "
                          "outside the state of %lld values",
                          (long long)p->index + 1, (long long)dim);
  if (!isfinite(p->delta) || p->delta == 0.0)
    return kubo_error_set(KUBO_EINVAL, "perturbation: delta must be "
                          "finite and non-zero (got %g)", p->delta);
  if (p->lags < 1 || p->every < 1 || p->resets < 1)
    return kubo_error_set(KUBO_EINVAL, "perturbation: lags, every and "
                          "resets must be at least 1 (got %lld, %lld, "
                          "%lld)", (long long)p->lags, (long long)p->every,
                          (long long)p->resets);
  return KUBO_OK;
}


/* Adds (b - a) / delta of every member to lag slot tau of the running
** mean and sum of squared deviations ((lags, dim) each) by Welford's
** update. The slot already contains `before` realisations. */
static void record(const double *a, const double *b, int64_t members,
                   int64_t dim, double delta, int64_t tau, int64_t before,
                   double *mean, double *m2) {
  double *mu = mean + tau * dim, *q = m2 + tau * dim;
  for (int64_t m = 0; m < members; m++) {
    double n = (double)(before + m + 1);
    for (int64_t i = 0; i < dim; i++) {
      double r = (b[m * dim + i] - a[m * dim + i]) / delta;
      double d = r - mu[i];
      mu[i] += d / n;
      q[i] += d * (r - mu[i]);
    }
  }
}


/* Runs one block: resynchronises perturbed to control, adds the
** impulse, and records lags samples while advancing both. */
static kubo_status run_block(kubo_sim *control,
                             const kubo_perturbation_spec *p, int64_t block,
                             double *ua, double *ub, double *mean,
                             double *m2) {
  int64_t members = kubo_sim_members(control);
  int64_t dim = kubo_model_dim(kubo_sim_model(control));
  kubo_sim *perturbed = NULL;
  kubo_status status = kubo_sim_clone(&perturbed, control);

  if (status == KUBO_OK)
    status = kubo_sim_add_impulse(perturbed, p->index, p->delta);
  for (int64_t tau = 0; status == KUBO_OK && tau < p->lags; tau++) {
    status = kubo_sim_state(control, ua);
    if (status == KUBO_OK) status = kubo_sim_state(perturbed, ub);
    if (status != KUBO_OK) break;
    record(ua, ub, members, dim, p->delta, tau, block * members, mean,
           m2);
    /* the last sample needs no further steps; the control still takes
    ** them so that the next block starts a full block later */
    status = kubo_sim_advance_pair(control, perturbed, p->every);
  }
  kubo_sim_free(perturbed);
  return status;
}


kubo_status kubo_response_perturbation(const kubo_sim *sim,
                                       const kubo_perturbation_spec *p,
                                       kubo_response *out) {
  kubo_model *m = kubo_sim_model(sim);
  int64_t members = kubo_sim_members(sim), dim = kubo_model_dim(m);
  int64_t shape[KUBO_MAX_DIM];
  int ndim = kubo_model_state_shape(m, shape + 1);
  size_t state_bytes = (size_t)members * (size_t)dim * sizeof(double);
  size_t acc_bytes;
  double *ua = NULL, *ub = NULL, *mean = NULL, *m2 = NULL;
  kubo_sim *control = NULL;
  kubo_status status;
  double n;

  memset(out, 0, sizeof *out);
  if ((status = check_options(sim, p)) != KUBO_OK) return status;
  acc_bytes = (size_t)p->lags * (size_t)dim * sizeof(double);

  ua = kubo_alloc(state_bytes);
  ub = kubo_alloc(state_bytes);
  mean = kubo_calloc(acc_bytes);
  m2 = kubo_calloc(acc_bytes);
  if (ua == NULL || ub == NULL || mean == NULL || m2 == NULL) {
    status = KUBO_ENOMEM;
    goto done;
  }
  /* the caller's integrator is left as it was */
  if ((status = kubo_sim_clone(&control, sim)) != KUBO_OK) goto done;

  for (int64_t b = 0; b < p->resets; b++) {
    if ((status = kubo_interrupt_check("perturbation")) != KUBO_OK) break;
    status = run_block(control, p, b, ua, ub, mean, m2);
    if (status != KUBO_OK) {
      kubo_error_prefix(status, "perturbation: block %lld",
                        (long long)b + 1);
      break;
    }
  }
  if (status != KUBO_OK) goto done;

  shape[0] = p->lags;
  out->kind = KUBO_RESPONSE_PERTURBATION;
  out->grid = kubo_model_grid(m) != NULL;
  out->members = members * p->resets;
  status = kubo_tensor_init(&out->values, KUBO_FLOAT64, ndim + 1, shape);
  if (status == KUBO_OK && out->members >= 2)
    status = kubo_tensor_init(&out->std_error, KUBO_FLOAT64, ndim + 1,
                              shape);
  if (status != KUBO_OK) goto done;

  n = (double)out->members;
  memcpy(out->values.data, mean, acc_bytes);
  if (out->members >= 2)
    for (int64_t i = 0; i < p->lags * dim; i++)
      ((double *)out->std_error.data)[i] = sqrt(m2[i] / (n - 1.0) / n);

done:
  kubo_sim_free(control);
  kubo_free(ua, state_bytes);
  kubo_free(ub, state_bytes);
  kubo_free(mean, acc_bytes);
  kubo_free(m2, acc_bytes);
  if (status != KUBO_OK) kubo_response_release(out);
  return status;
}
