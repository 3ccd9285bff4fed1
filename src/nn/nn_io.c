/*
** nn_io.c: saving and loading networks (with optimizer and EMA state) in
** HDF5 files through kubo/h5.h.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph.h"
#include "kubo/h5.h"
#include "kubo/optim.h"
#include "kubo/version.h"

#define FORMAT "kubo.nn"


/* Makes *out a view of array a of the network's blocks with its shape. */
static kubo_status array_view(const kubo_nn *net, const nn_array *a,
                              kubo_tensor *out) {
  int64_t pshift, bshift, first;
  nn_arena *root = nn_arena_root(net, &pshift, &bshift);
  const kubo_tensor *block = a->buffer ? &root->buffers : &root->params;
  kubo_tensor flat = {0};
  kubo_status st;
  first = a->offset + (a->buffer ? bshift : pshift);
  st = kubo_tensor_narrow(&flat, block, 0, first, first + a->size);
  if (st != KUBO_OK) return st;
  st = kubo_tensor_reshape(out, &flat, a->ndim, a->shape);
  kubo_tensor_release(&flat);
  return st;
}


static void dataset_name(char *buf, size_t size, const nn_array *a) {
  snprintf(buf, size, "/network/%s/%s",
           a->buffer ? "buffers" : "parameters", a->name);
}


kubo_status kubo_nn_write_h5(const kubo_nn *net, kubo_h5_writer *w,
                             kubo_h5_attrs *root_attrs) {
  kubo_status st;
  if ((st = kubo_h5_attrs_add_string(root_attrs, "spec", net->spec)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_string(root_attrs, "kind", net->kind)) !=
        KUBO_OK ||
      (st = kubo_h5_attrs_add_int(root_attrs, "num_parameters",
                                  net->nparam)) != KUBO_OK ||
      (st = kubo_h5_attrs_add_int(root_attrs, "num_buffers",
                                  net->nbuffer)) != KUBO_OK)
    return st;
  for (int i = 0; i < net->narrays; i++) {
    char name[2 * NN_NAME_MAX];
    kubo_tensor view = {0};
    st = array_view(net, &net->arrays[i], &view);
    if (st != KUBO_OK) return st;
    dataset_name(name, sizeof name, &net->arrays[i]);
    st = kubo_h5_writer_write(w, name, &view, NULL, 0);
    kubo_tensor_release(&view);
    if (st != KUBO_OK) return st;
  }
  return KUBO_OK;
}


/* Writes everything into a fresh file at tmp through one writer. */
static kubo_status write_file(const kubo_nn *net, const char *tmp,
                              const struct kubo_optim *opt,
                              const struct kubo_ema *ema) {
  kubo_h5_writer *w = NULL;
  kubo_h5_attrs attrs;
  kubo_status st;
  kubo_h5_attrs_init(&attrs);
  st = kubo_h5_writer_open(&w, tmp);
  if (st != KUBO_OK) return st;
  if ((st = kubo_h5_attrs_add_string(&attrs, "format", FORMAT)) == KUBO_OK &&
      (st = kubo_h5_attrs_add_string(&attrs, "kubo_version",
                                     KUBO_VERSION)) == KUBO_OK)
    st = kubo_nn_write_h5(net, w, &attrs);
  if (st == KUBO_OK && opt != NULL) st = kubo_optim_write_h5(opt, w, &attrs);
  if (st == KUBO_OK && ema != NULL) st = kubo_ema_write_h5(ema, w, &attrs);
  if (st == KUBO_OK) st = kubo_h5_writer_write_attrs(w, "/", &attrs);
  kubo_h5_attrs_free(&attrs);
  if (st != KUBO_OK) {
    kubo_h5_writer_discard(w);
    return st;
  }
  return kubo_h5_writer_close(w);
}


kubo_status kubo_nn_save(const kubo_nn *net, const char *path,
                         const struct kubo_optim *opt,
                         const struct kubo_ema *ema) {
  char *tmp;
  size_t size;
  kubo_status st;
  if (opt != NULL &&
      kubo_nn_num_parameters(kubo_optim_net(opt)) != net->nparam)
    return kubo_error_set(KUBO_EINVAL, "%s: save: the optimizer belongs to "
                          "a network of %lld parameters, this one has %lld",
                          net->kind, (long long)kubo_nn_num_parameters(
                            kubo_optim_net(opt)), (long long)net->nparam);
  if (ema != NULL && kubo_nn_num_parameters(kubo_ema_net(ema)) != net->nparam)
    return kubo_error_set(KUBO_EINVAL, "%s: save: the EMA belongs to a "
                          "network of %lld parameters, this one has %lld",
                          net->kind, (long long)kubo_nn_num_parameters(
                            kubo_ema_net(ema)), (long long)net->nparam);

  /* a fresh file under a private name, then one rename over path, so
  ** that no dataset of an older file survives */
  size = strlen(path) + 48;
  tmp = malloc(size);
  if (tmp == NULL) return kubo_error_set(KUBO_ENOMEM, "nn: out of memory");
  snprintf(tmp, size, "%s.nn-save-%ld", path, (long)getpid());
  unlink(tmp);
  st = write_file(net, tmp, opt, ema);
  if (st == KUBO_OK && rename(tmp, path) != 0)
    st = kubo_error_set(KUBO_EIO, "%s: cannot rename '%s' to '%s'; the "
                        "file is unchanged", net->kind, tmp, path);
  if (st != KUBO_OK) {
    unlink(tmp);
    kubo_error_prefix(st, "saving '%s'", path);
  }
  free(tmp);
  return st;
}


/* Reads dataset name of path into dst, an array of the given shape. */
static kubo_status read_array(const char *path, const char *name, float *dst,
                              int ndim, const int64_t *shape) {
  kubo_tensor t = {0};
  kubo_status st = kubo_h5_read(path, name, &t, NULL);
  bool fits;
  if (st != KUBO_OK) return st;
  fits = t.ndim == ndim && t.dtype == KUBO_FLOAT32;
  for (int d = 0; fits && d < ndim; d++) fits = t.shape[d] == shape[d];
  if (!fits) {
    char got[96];
    const char *dtype = kubo_dtype_name(t.dtype);
    kubo_tensor_shape_string(&t, got, sizeof got);
    kubo_tensor_release(&t);
    return kubo_error_set(KUBO_EINVAL, "'%s' in '%s' has shape %s (%s), "
                          "which does not fit the network", name, path, got,
                          dtype);
  }
  memcpy(dst, t.data, (size_t)kubo_tensor_numel(&t) * sizeof(float));
  kubo_tensor_release(&t);
  return KUBO_OK;
}


kubo_status kubo_nn_load(kubo_nn **out, const char *path) {
  kubo_h5_attrs attrs;
  const kubo_h5_attr *format, *spec;
  kubo_nn *net = NULL;
  kubo_status st;
  *out = NULL;
  kubo_h5_attrs_init(&attrs);
  st = kubo_h5_read_attrs(path, "/", &attrs);
  if (st != KUBO_OK) return st;
  format = kubo_h5_attrs_find(&attrs, "format");
  spec = kubo_h5_attrs_find(&attrs, "spec");
  if (format == NULL || format->kind != KUBO_H5_STRING ||
      strcmp(format->strings[0], FORMAT) != 0 || spec == NULL ||
      spec->kind != KUBO_H5_STRING) {
    kubo_h5_attrs_free(&attrs);
    return kubo_error_set(KUBO_EINVAL, "nn.load: '%s' is not a kubo network "
                          "file (its format attribute is not \"%s\")", path,
                          FORMAT);
  }
  st = kubo_nn_from_spec(&net, spec->strings[0], 0);
  kubo_h5_attrs_free(&attrs);
  if (st != KUBO_OK) return kubo_error_prefix(st, "nn.load: '%s'", path);

  for (int i = 0; i < net->narrays && st == KUBO_OK; i++) {
    const nn_array *a = &net->arrays[i];
    char name[2 * NN_NAME_MAX];
    float *block = a->buffer ? nn_buffers(net) : nn_params(net);
    dataset_name(name, sizeof name, a);
    st = read_array(path, name, block + a->offset, a->ndim, a->shape);
  }
  if (st != KUBO_OK) {
    kubo_nn_free(net);
    return kubo_error_prefix(st, "nn.load");
  }
  *out = net;
  return KUBO_OK;
}
