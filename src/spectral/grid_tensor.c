/*
** grid_tensor.c: tensor-level transforms and operators for the bindings.
*/
#include <string.h>

#include "kubo/alloc.h"
#include "grid_impl.h"

/* Returns 1 if the last count dimensions of t equal shape. */
static int ends_in(const kubo_tensor *t, int count, const int64_t *shape) {
  if (t->ndim < count) return 0;
  for (int d = 0; d < count; d++)
    if (t->shape[t->ndim - count + d] != shape[d]) return 0;
  return 1;
}


static int ends_in_real(const kubo_grid *g, const kubo_tensor *t) {
  int64_t shape[KUBO_GRID_MAX_DIM + 1];
  int count = kubo_grid_real_shape(g, shape);
  return ends_in(t, count, shape);
}


static int ends_in_spectral(const kubo_grid *g, const kubo_tensor *t) {
  int64_t shape[KUBO_GRID_MAX_DIM + 1];
  int count = kubo_grid_spectral_shape(g, shape);
  return ends_in(t, count, shape);
}


int kubo_grid_classify(const kubo_grid *g, const kubo_tensor *t) {
  if (ends_in_spectral(g, t)) return 1;
  if (ends_in_real(g, t)) return 0;
  return -1;
}


/* Writes "(a, b, c)" for a shape into buf. */
static const char *shape_text(const int64_t *shape, int count, char *buf,
                              size_t size) {
  kubo_tensor t;
  memset(&t, 0, sizeof t);
  t.ndim = count;
  memcpy(t.shape, shape, (size_t)count * sizeof(int64_t));
  return kubo_tensor_shape_string(&t, buf, size);
}


/* Fails with a message naming the shapes a field of g may end in. */
static kubo_status shape_error(const kubo_grid *g, const kubo_tensor *t,
                               const char *what, int want_real,
                               int want_spectral) {
  int64_t rshape[KUBO_GRID_MAX_DIM + 1], sshape[KUBO_GRID_MAX_DIM + 1];
  int rn = kubo_grid_real_shape(g, rshape);
  int sn = kubo_grid_spectral_shape(g, sshape);
  char got[128], r[128], s[128];
  kubo_tensor_shape_string(t, got, sizeof got);
  shape_text(rshape, rn, r, sizeof r);
  shape_text(sshape, sn, s, sizeof s);
  if (want_real && want_spectral)
    return kubo_error_set(KUBO_EINVAL,
                          "%s: expected a real field ending in %s or a "
                          "spectrum ending in %s (got %s)", what, r, s, got);
  return kubo_error_set(KUBO_EINVAL, "%s: expected a %s ending in %s "
                        "(got %s)", what,
                        want_real ? "real field" : "spectrum",
                        want_real ? r : s, got);
}


/* Makes *c a contiguous float64 version of t (a view when t already is
** one, else a copy). */
static kubo_status as_float64(const kubo_tensor *t, kubo_tensor *c) {
  memset(c, 0, sizeof *c);
  if (t->dtype == KUBO_FLOAT64) return kubo_tensor_contiguous(c, t);
  return kubo_tensor_clone(c, t, KUBO_FLOAT64);
}


/* Creates *out as a float64 tensor with the leading dimensions of t
** (all but its last `drop`) followed by tail. */
static kubo_status init_result(kubo_tensor *out, const kubo_tensor *t,
                               int drop, const int64_t *tail, int ntail) {
  int64_t shape[KUBO_MAX_DIM];
  int lead = t->ndim - drop;
  if (lead + ntail > KUBO_MAX_DIM)
    return kubo_error_set(KUBO_EINVAL,
                          "grid: result would have %d dimensions (at most "
                          "%d)", lead + ntail, (int)KUBO_MAX_DIM);
  memcpy(shape, t->shape, (size_t)lead * sizeof(int64_t));
  if (ntail > 0)
    memcpy(shape + lead, tail, (size_t)ntail * sizeof(int64_t));
  return kubo_tensor_init(out, KUBO_FLOAT64, lead + ntail, shape);
}


/* Returns the number of fields in t when each field spans its last
** `tail` dimensions. */
static int64_t batch_count(const kubo_tensor *t, int tail) {
  int64_t count = 1;
  for (int d = 0; d < t->ndim - tail; d++) count *= t->shape[d];
  return count;
}


kubo_status kubo_grid_fft_tensor(const kubo_grid *g, const kubo_tensor *u,
                                 kubo_tensor *out) {
  if (!ends_in_real(g, u)) return shape_error(g, u, "grid.fft", 1, 0);
  int64_t sshape[KUBO_GRID_MAX_DIM + 1];
  int sn = kubo_grid_spectral_shape(g, sshape);
  kubo_tensor c;
  kubo_status status = as_float64(u, &c);
  if (status != KUBO_OK) return status;

  status = init_result(out, u, g->ndim, sshape, sn);
  if (status == KUBO_OK)
    status = kubo_grid_fft(g, batch_count(u, g->ndim), c.data, out->data);
  if (status != KUBO_OK) kubo_tensor_release(out);
  kubo_tensor_release(&c);
  return status;
}


kubo_status kubo_grid_ifft_tensor(const kubo_grid *g,
                                  const kubo_tensor *spec,
                                  kubo_tensor *out) {
  if (!ends_in_spectral(g, spec))
    return shape_error(g, spec, "grid.ifft", 0, 1);
  int64_t rshape[KUBO_GRID_MAX_DIM];
  int rn = kubo_grid_real_shape(g, rshape);
  kubo_tensor c;
  kubo_status status = as_float64(spec, &c);
  if (status != KUBO_OK) return status;

  status = init_result(out, spec, g->ndim + 1, rshape, rn);
  if (status == KUBO_OK)
    status = kubo_grid_ifft(g, batch_count(spec, g->ndim + 1), c.data,
                            out->data);
  if (status != KUBO_OK) kubo_tensor_release(out);
  kubo_tensor_release(&c);
  return status;
}


/* One multiplication on spectra: an operator, a laplacian power or a
** table. */
typedef struct spec_action {
  enum { ACT_OP, ACT_POWER, ACT_TABLE } kind;
  kubo_grid_op op;
  int power;
  const double *table;
  int is_complex;
} spec_action;


static kubo_status act(const kubo_grid *g, const spec_action *a,
                       int64_t count, double *spec) {
  switch (a->kind) {
  case ACT_OP:
    return kubo_grid_spec_apply(g, a->op, count, spec);
  case ACT_POWER:
    return kubo_grid_spec_laplacian_power(g, a->power, count, spec);
  case ACT_TABLE:
    return a->is_complex ? kubo_grid_spec_multiply(g, a->table, count, spec)
                         : kubo_grid_spec_scale(g, a->table, count, spec);
  }
  return kubo_error_set(KUBO_EINVAL, "grid: unknown spectral action");
}


/* Applies a to x: on a spectrum directly (into a copy), on a real field
** through a forward transform, the action and an inverse transform. */
static kubo_status apply_action(const kubo_grid *g, const spec_action *a,
                                const char *what, const kubo_tensor *x,
                                kubo_tensor *out) {
  int kind = kubo_grid_classify(g, x);
  if (kind < 0) return shape_error(g, x, what, 1, 1);
  kubo_tensor c;
  kubo_status status = as_float64(x, &c);
  if (status != KUBO_OK) return status;

  if (kind == 1) {
    status = kubo_tensor_clone(out, &c, KUBO_FLOAT64);
    if (status == KUBO_OK)
      status = act(g, a, batch_count(x, g->ndim + 1), out->data);
    if (status != KUBO_OK) kubo_tensor_release(out);
    kubo_tensor_release(&c);
    return status;
  }

  int64_t count = batch_count(x, g->ndim);
  size_t bytes = (size_t)(count * 2 * g->spectral_size) * sizeof(double);
  double *spec = kubo_alloc(bytes);
  status = spec != NULL ? KUBO_OK : KUBO_ENOMEM;
  if (status == KUBO_OK) status = kubo_tensor_init_like(out, x, KUBO_FLOAT64);
  if (status == KUBO_OK) status = kubo_grid_fft(g, count, c.data, spec);
  if (status == KUBO_OK) status = act(g, a, count, spec);
  if (status == KUBO_OK)
    status = kubo_grid_ifft_overwrite(g, count, spec, out->data);
  if (status != KUBO_OK) kubo_tensor_release(out);
  kubo_free(spec, bytes);
  kubo_tensor_release(&c);
  return status;
}


kubo_status kubo_grid_apply_tensor(const kubo_grid *g, kubo_grid_op op,
                                   const kubo_tensor *x, kubo_tensor *out) {
  static const char *names[] = {"grid.dx", "grid.dy", "grid.dz",
                                "grid.laplacian", "grid.inverse_laplacian",
                                "grid.dealias", "grid.filter"};
  spec_action a = {ACT_OP, op, 0, NULL, 0};
  const char *what = (unsigned)op < 7 ? names[op] : "grid";
  return apply_action(g, &a, what, x, out);
}


kubo_status kubo_grid_laplacian_power_tensor(const kubo_grid *g, int power,
                                             const kubo_tensor *x,
                                             kubo_tensor *out) {
  spec_action a = {ACT_POWER, KUBO_GRID_IDENTITY, power, NULL, 0};
  return apply_action(g, &a, "grid.laplacian_power", x, out);
}


kubo_status kubo_grid_multiply_tensor(const kubo_grid *g,
                                      const double *table, int is_complex,
                                      const kubo_tensor *x,
                                      kubo_tensor *out) {
  spec_action a = {ACT_TABLE, KUBO_GRID_IDENTITY, 0, table, is_complex};
  return apply_action(g, &a, "grid.apply", x, out);
}


kubo_status kubo_grid_diagnostic_tensor(const kubo_grid *g,
                                        kubo_grid_diagnostic which,
                                        kubo_grid_field kind,
                                        const kubo_tensor *x,
                                        kubo_tensor *out) {
  static const char *names[] = {"grid.mean", "grid.energy",
                                "grid.enstrophy", "grid.spectrum"};
  const char *what = (unsigned)which < 4 ? names[which] : "grid";
  if (!ends_in_real(g, x)) return shape_error(g, x, what, 1, 0);
  int64_t bins = kubo_grid_spectrum_bins(g);
  kubo_tensor c;
  kubo_status status = as_float64(x, &c);
  if (status != KUBO_OK) return status;

  int64_t count = batch_count(x, g->ndim);
  if (which == KUBO_DIAG_SPECTRUM)
    status = init_result(out, x, g->ndim, &bins, 1);
  else
    status = init_result(out, x, g->ndim, NULL, 0);
  if (status == KUBO_OK) {
    switch (which) {
    case KUBO_DIAG_MEAN:
      status = kubo_grid_mean(g, count, c.data, out->data);
      break;
    case KUBO_DIAG_ENERGY:
      status = kubo_grid_energy(g, kind, count, c.data, out->data);
      break;
    case KUBO_DIAG_ENSTROPHY:
      status = kubo_grid_enstrophy(g, kind, count, c.data, out->data);
      break;
    case KUBO_DIAG_SPECTRUM:
      status = kubo_grid_spectrum(g, kind, count, c.data, out->data);
      break;
    default:
      status = kubo_error_set(KUBO_EINVAL, "grid: unknown diagnostic %d",
                              (int)which);
    }
  }
  if (status != KUBO_OK) kubo_tensor_release(out);
  kubo_tensor_release(&c);
  return status;
}
