/*
** optim_io.c: optimizer and EMA state in checkpoint files.
*/
#include <stdio.h>
#include <string.h>

#include "kubo/h5.h"
#include "optim_internal.h"


static const char *kind_name(kubo_optim_kind kind) {
  return kind == KUBO_OPTIM_ADAM ? "adam" : "sgd";
}


kubo_status kubo_optim_write_h5(const kubo_optim *opt, kubo_h5_writer *w,
                                kubo_h5_attrs *a) {
  const kubo_optim_config *c = &opt->config;
  kubo_status st;
  if ((st = kubo_h5_attrs_add_string(a, "optimizer.kind",
                                     kind_name(c->kind))) != KUBO_OK ||
      (st = kubo_h5_attrs_add_int(a, "optimizer.step", opt->step)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_float(a, "optimizer.lr", c->lr)) != KUBO_OK ||
      (st = kubo_h5_attrs_add_float(a, "optimizer.beta1", c->beta1)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_float(a, "optimizer.beta2", c->beta2)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_float(a, "optimizer.eps", c->eps)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_float(a, "optimizer.momentum",
                                    c->momentum)) != KUBO_OK ||
      (st = kubo_h5_attrs_add_int(a, "optimizer.nesterov", c->nesterov)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_float(a, "optimizer.clip", c->clip)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_string(a, "optimizer.clip_mode",
                                     c->clip_mode == KUBO_CLIP_ARRAY ?
                                     "array" : "global")) != KUBO_OK ||
      (st = kubo_h5_attrs_add_int(a, "optimizer.warmup", c->warmup)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_string(a, "optimizer.order",
                                     c->order == KUBO_ORDER_REFERENCE ?
                                     "reference" : "standard")) != KUBO_OK)
    return st;
  if (c->kind == KUBO_OPTIM_ADAM) {
    if ((st = kubo_h5_writer_write(w, "/optimizer/m", &opt->m, NULL, 0)) !=
        KUBO_OK)
      return st;
    return kubo_h5_writer_write(w, "/optimizer/v", &opt->v, NULL, 0);
  }
  return kubo_h5_writer_write(w, "/optimizer/momentum", &opt->m, NULL, 0);
}


/* Looks up a numeric attribute, failing with KUBO_EIO if absent. */
static kubo_status attr_number(const kubo_h5_attrs *attrs, const char *name,
                               const char *path, double *value) {
  const kubo_h5_attr *a = kubo_h5_attrs_find(attrs, name);
  if (a == NULL || a->kind == KUBO_H5_STRING || a->count != 1)
    return kubo_error_set(KUBO_EIO, "'%s' has no numeric attribute '%s'",
                          path, name);
  *value = a->kind == KUBO_H5_INT ? (double)a->ints[0] : a->floats[0];
  return KUBO_OK;
}


static kubo_status attr_string(const kubo_h5_attrs *attrs, const char *name,
                               const char *path, const char **value) {
  const kubo_h5_attr *a = kubo_h5_attrs_find(attrs, name);
  if (a == NULL || a->kind != KUBO_H5_STRING || a->count != 1)
    return kubo_error_set(KUBO_EIO, "'%s' has no string attribute '%s'",
                          path, name);
  *value = a->strings[0];
  return KUBO_OK;
}


/* Reads a flat float32 dataset of n values into dst. */
static kubo_status read_flat(const char *path, const char *name, float *dst,
                             int64_t n) {
  kubo_tensor t = {0};
  kubo_status st = kubo_h5_read(path, name, &t, NULL);
  if (st != KUBO_OK) return st;
  if (t.ndim != 1 || t.shape[0] != n || t.dtype != KUBO_FLOAT32) {
    kubo_tensor_release(&t);
    return kubo_error_set(KUBO_EINVAL, "'%s' in '%s' is not a float32 array "
                          "of %lld values", name, path, (long long)n);
  }
  memcpy(dst, t.data, (size_t)n * sizeof(float));
  kubo_tensor_release(&t);
  return KUBO_OK;
}


kubo_status kubo_optim_read_h5(kubo_optim *opt, const char *path) {
  kubo_h5_attrs attrs;
  kubo_optim_config c = opt->config;
  const char *kind = NULL, *mode = NULL, *order = NULL;
  double step = 0, nparam = 0, nesterov = 0, warmup = 0;
  kubo_status st;
  kubo_h5_attrs_init(&attrs);
  st = kubo_h5_read_attrs(path, "/", &attrs);
  if (st != KUBO_OK) return st;
  if ((st = attr_string(&attrs, "optimizer.kind", path, &kind)) == KUBO_OK &&
      strcmp(kind, kind_name(c.kind)) != 0)
    st = kubo_error_set(KUBO_EINVAL, "'%s' holds %s state, not %s", path,
                        kind, kind_name(c.kind));
  if (st == KUBO_OK &&
      (st = attr_number(&attrs, "num_parameters", path, &nparam)) ==
        KUBO_OK && nparam != (double)opt->n)
    st = kubo_error_set(KUBO_EINVAL, "'%s' holds the state of %.0f "
                        "parameters, the network has %lld", path, nparam,
                        (long long)opt->n);
  if (st == KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.step", path, &step)) == KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.lr", path, &c.lr)) == KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.beta1", path, &c.beta1)) ==
        KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.beta2", path, &c.beta2)) ==
        KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.eps", path, &c.eps)) == KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.momentum", path, &c.momentum)) ==
        KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.nesterov", path, &nesterov)) ==
        KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.clip", path, &c.clip)) ==
        KUBO_OK &&
      (st = attr_string(&attrs, "optimizer.clip_mode", path, &mode)) ==
        KUBO_OK &&
      (st = attr_number(&attrs, "optimizer.warmup", path, &warmup)) ==
        KUBO_OK)
    st = attr_string(&attrs, "optimizer.order", path, &order);
  if (st == KUBO_OK) {
    c.nesterov = nesterov != 0;
    c.warmup = (int64_t)warmup;
    c.clip_mode = strcmp(mode, "array") == 0 ? KUBO_CLIP_ARRAY
                                              : KUBO_CLIP_GLOBAL;
    c.order = strcmp(order, "reference") == 0 ? KUBO_ORDER_REFERENCE
                                               : KUBO_ORDER_STANDARD;
  }
  kubo_h5_attrs_free(&attrs);
  if (st != KUBO_OK) return kubo_error_prefix(st, "%s.load", kind_name(
                                                opt->config.kind));

  /* read into the state only once everything is known to fit */
  if (c.kind == KUBO_OPTIM_ADAM) {
    kubo_tensor m = {0}, v = {0};
    int64_t shape[1] = {opt->n};
    st = kubo_tensor_init(&m, KUBO_FLOAT32, 1, shape);
    if (st == KUBO_OK) st = kubo_tensor_init(&v, KUBO_FLOAT32, 1, shape);
    if (st == KUBO_OK) st = read_flat(path, "/optimizer/m", m.data, opt->n);
    if (st == KUBO_OK) st = read_flat(path, "/optimizer/v", v.data, opt->n);
    if (st == KUBO_OK) {
      memcpy(opt->m.data, m.data, (size_t)opt->n * sizeof(float));
      memcpy(opt->v.data, v.data, (size_t)opt->n * sizeof(float));
    }
    kubo_tensor_release(&m);
    kubo_tensor_release(&v);
  } else {
    st = read_flat(path, "/optimizer/momentum", opt->m.data, opt->n);
  }
  if (st != KUBO_OK) return kubo_error_prefix(st, "%s.load",
                                              kind_name(c.kind));
  opt->config = c;
  opt->step = (int64_t)step;
  return KUBO_OK;
}


kubo_status kubo_ema_write_h5(const kubo_ema *ema, kubo_h5_writer *w,
                              kubo_h5_attrs *a) {
  kubo_nn *net = ema->net;
  kubo_status st;
  if ((st = kubo_h5_attrs_add_float(a, "ema.rate", ema->rate)) != KUBO_OK ||
      (st = kubo_h5_attrs_add_int(a, "ema.warmup", ema->warmup)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_int(a, "ema.updates", ema->updates)) !=
        KUBO_OK)
    return st;
  for (int i = 0; i < kubo_nn_num_arrays(net); i++) {
    kubo_nn_array info;
    kubo_tensor flat = {0}, view = {0};
    char name[256];
    kubo_nn_array_info(net, i, &info);
    if (info.buffer) continue;
    st = kubo_tensor_narrow(&flat, &ema->shadow, 0, info.offset,
                            info.offset + info.size);
    if (st == KUBO_OK)
      st = kubo_tensor_reshape(&view, &flat, info.ndim, info.shape);
    snprintf(name, sizeof name, "/ema/parameters/%s", info.name);
    if (st == KUBO_OK) st = kubo_h5_writer_write(w, name, &view, NULL, 0);
    kubo_tensor_release(&view);
    kubo_tensor_release(&flat);
    if (st != KUBO_OK) return st;
  }
  return KUBO_OK;
}


kubo_status kubo_ema_read_h5(kubo_ema *ema, const char *path) {
  kubo_h5_attrs attrs;
  double rate = 0, warmup = 0, updates = 0;
  kubo_tensor shadow = {0};
  kubo_nn *net = ema->net;
  kubo_status st;
  kubo_h5_attrs_init(&attrs);
  st = kubo_h5_read_attrs(path, "/", &attrs);
  if (st != KUBO_OK) return st;
  if ((st = attr_number(&attrs, "ema.rate", path, &rate)) == KUBO_OK &&
      (st = attr_number(&attrs, "ema.warmup", path, &warmup)) == KUBO_OK)
    st = attr_number(&attrs, "ema.updates", path, &updates);
  kubo_h5_attrs_free(&attrs);

  /* read into a copy, so that a failure leaves the EMA unchanged */
  if (st == KUBO_OK) st = kubo_tensor_clone(&shadow, &ema->shadow, -1);
  for (int i = 0; st == KUBO_OK && i < kubo_nn_num_arrays(net); i++) {
    kubo_nn_array info;
    kubo_tensor t = {0};
    char name[256];
    bool fits;
    kubo_nn_array_info(net, i, &info);
    if (info.buffer) continue;
    snprintf(name, sizeof name, "/ema/parameters/%s", info.name);
    st = kubo_h5_read(path, name, &t, NULL);
    if (st != KUBO_OK) break;
    fits = t.dtype == KUBO_FLOAT32 && kubo_tensor_numel(&t) == info.size &&
           t.ndim == info.ndim;
    for (int d = 0; fits && d < info.ndim; d++)
      fits = t.shape[d] == info.shape[d];
    if (fits)
      memcpy((float *)shadow.data + info.offset, t.data,
             (size_t)info.size * sizeof(float));
    else
      st = kubo_error_set(KUBO_EINVAL, "'%s' in '%s' does not fit the "
                          "network", name, path);
    kubo_tensor_release(&t);
  }
  if (st != KUBO_OK) {
    kubo_tensor_release(&shadow);
    return kubo_error_prefix(st, "ema.load");
  }

  kubo_tensor_release(&ema->shadow);
  ema->shadow = shadow;
  ema->rate = rate;
  ema->warmup = warmup != 0;
  ema->updates = (int64_t)updates;
  return KUBO_OK;
}
