/*
** score_io.c: checkpoints of score training (the layout is described at
** kubo_score_trainer_save in kubo/score.h).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubo/h5.h"
#include "kubo/version.h"
#include "score_internal.h"

#define FORMAT "kubo.score"


static const char *range_name(double t_low, double t_high) {
  if (t_low == KUBO_SCORE_T_FLOOR && t_high == KUBO_SCORE_T_RESPONSE)
    return "response";
  if (t_low == KUBO_SCORE_T_FLOOR && t_high == 1.0) return "full";
  return "custom";
}


/* ---------------------------------------------------------------------
** Saving
** ------------------------------------------------------------------- */

static kubo_status add_score_attrs(const kubo_score_trainer *tr,
                                   kubo_h5_attrs *a) {
  const kubo_score_config *c = &tr->cfg;
  int64_t frame[KUBO_SCORE_MAX_FRAME_DIM], nframe[1] = {tr->frame_ndim};
  kubo_status st;
  for (int i = 0; i < tr->frame_ndim; i++) frame[i] = tr->frame_shape[i];
#define ADD(call)                                                       \
  do {                                                                  \
    if ((st = (call)) != KUBO_OK) return st;                            \
  } while (0)
  ADD(kubo_h5_attrs_add_string(a, "format", FORMAT));
  ADD(kubo_h5_attrs_add_string(a, "kubo_version", KUBO_VERSION));
  ADD(kubo_h5_attrs_add_float(a, "score.sigma_min", c->sigma_min));
  ADD(kubo_h5_attrs_add_float(a, "score.sigma_max", c->sigma_max));
  ADD(kubo_h5_attrs_add_int(a, "score.sigma_max_auto", tr->sigma_max_auto));
  ADD(kubo_h5_attrs_add_float(a, "score.t_low", c->t_low));
  ADD(kubo_h5_attrs_add_float(a, "score.t_high", c->t_high));
  ADD(kubo_h5_attrs_add_string(a, "score.noise_range",
                               range_name(c->t_low, c->t_high)));
  ADD(kubo_h5_attrs_add_float(a, "score.scale", c->scale));
  ADD(kubo_h5_attrs_add_string(a, "score.output",
                               kubo_score_output_name(c->output)));
  ADD(kubo_h5_attrs_add_float(a, "score.data_std", c->data_std));
  ADD(kubo_h5_attrs_add_int(a, "score.seed", (int64_t)c->seed));
  ADD(kubo_h5_attrs_add_float(a, "score.split", c->split));
  ADD(kubo_h5_attrs_add_int(a, "score.batch", c->batch));
  ADD(kubo_h5_attrs_add_int(a, "score.epochs", c->epochs));
  ADD(kubo_h5_attrs_add_int(a, "score.steps", c->steps));
  ADD(kubo_h5_attrs_add_int(a, "score.eval_batch", c->eval_batch));
  ADD(kubo_h5_attrs_add_int(a, "score.checkpoint_every",
                            c->checkpoint_every));
  ADD(kubo_h5_attrs_add_int(a, "score.data_count", tr->count));
  ADD(kubo_h5_attrs_add_ints(a, "score.frame_shape", 1, nframe, frame));
  ADD(kubo_h5_attrs_add_int(a, "score.step", tr->step));
  ADD(kubo_h5_attrs_add_int(a, "score.epoch", tr->epoch));
  ADD(kubo_h5_attrs_add_int(a, "score.batch_pos", tr->batch_pos));
  ADD(kubo_h5_attrs_add_float(a, "score.loss_sum", tr->loss_sum));
  ADD(kubo_h5_attrs_add_int(a, "score.loss_count", tr->loss_count));
#undef ADD
  return KUBO_OK;
}


static kubo_status write_file(const kubo_score_trainer *tr,
                              const char *tmp) {
  kubo_h5_writer *w = NULL;
  kubo_h5_attrs attrs;
  kubo_status st;
  kubo_h5_attrs_init(&attrs);
  st = kubo_h5_writer_open(&w, tmp);
  if (st != KUBO_OK) return st;
  st = add_score_attrs(tr, &attrs);
  if (st == KUBO_OK) st = kubo_nn_write_h5(tr->net, w, &attrs);
  if (st == KUBO_OK && tr->opt != NULL)
    st = kubo_optim_write_h5(tr->opt, w, &attrs);
  if (st == KUBO_OK && tr->ema != NULL)
    st = kubo_ema_write_h5(tr->ema, w, &attrs);
  if (st == KUBO_OK && tr->hist_rows > 0) {
    kubo_tensor h = {0};
    int64_t shape[2] = {tr->hist_rows, HIST_COLUMNS};
    st = kubo_tensor_init(&h, KUBO_FLOAT64, 2, shape);
    if (st == KUBO_OK) {
      memcpy(h.data, tr->history,
             (size_t)(tr->hist_rows * HIST_COLUMNS) * sizeof(double));
      st = kubo_h5_writer_write(w, "/score/history", &h, NULL, 0);
    }
    kubo_tensor_release(&h);
  }
  if (st == KUBO_OK) st = kubo_h5_writer_write_attrs(w, "/", &attrs);
  kubo_h5_attrs_free(&attrs);
  if (st != KUBO_OK) {
    kubo_h5_writer_discard(w);
    return st;
  }
  return kubo_h5_writer_close(w);
}


kubo_status kubo_score_trainer_save(const kubo_score_trainer *tr,
                                    const char *path) {
  size_t size;
  char *tmp;
  kubo_status st;
  if (path == NULL || path[0] == '\0')
    return kubo_error_set(KUBO_EINVAL, "score.save: the file name is "
                          "empty");
  /* a fresh file under a private name, then one rename over path, so
  ** that nothing of an older file survives */
  size = strlen(path) + 48;
  tmp = malloc(size);
  if (tmp == NULL) return kubo_error_set(KUBO_ENOMEM, "score: out of "
                                         "memory");
  snprintf(tmp, size, "%s.score-save-%ld", path, (long)getpid());
  unlink(tmp);
  st = write_file(tr, tmp);
  if (st == KUBO_OK && rename(tmp, path) != 0)
    st = kubo_error_set(KUBO_EIO, "score.save: cannot rename '%s' to '%s'; "
                        "the file is unchanged", tmp, path);
  if (st != KUBO_OK) {
    unlink(tmp);
    kubo_error_prefix(st, "score.save: '%s'", path);
  }
  free(tmp);
  return st;
}


/* ---------------------------------------------------------------------
** Loading
** ------------------------------------------------------------------- */

static kubo_status get_number(const kubo_h5_attrs *attrs, const char *name,
                              const char *path, double *value) {
  const kubo_h5_attr *a = kubo_h5_attrs_find(attrs, name);
  if (a == NULL || a->kind == KUBO_H5_STRING || a->count != 1)
    return kubo_error_set(KUBO_EIO, "score.load: '%s' has no numeric "
                          "attribute '%s'", path, name);
  *value = a->kind == KUBO_H5_INT ? (double)a->ints[0] : a->floats[0];
  return KUBO_OK;
}


static kubo_status get_int(const kubo_h5_attrs *attrs, const char *name,
                           const char *path, int64_t *value) {
  const kubo_h5_attr *a = kubo_h5_attrs_find(attrs, name);
  if (a == NULL || a->kind != KUBO_H5_INT || a->count != 1)
    return kubo_error_set(KUBO_EIO, "score.load: '%s' has no integer "
                          "attribute '%s'", path, name);
  *value = a->ints[0];
  return KUBO_OK;
}


/* Reads the network arrays of the file into net's blocks. */
static kubo_status read_network(kubo_nn *net, const char *path) {
  kubo_status st = KUBO_OK;
  for (int i = 0; i < kubo_nn_num_arrays(net) && st == KUBO_OK; i++) {
    kubo_nn_array info;
    kubo_tensor t = {0};
    char name[256];
    float *block;
    kubo_nn_array_info(net, i, &info);
    snprintf(name, sizeof name, "/network/%s/%s",
             info.buffer ? "buffers" : "parameters", info.name);
    block = info.buffer ? kubo_nn_buffers(net) : kubo_nn_params(net);
    st = kubo_h5_read(path, name, &t, NULL);
    if (st != KUBO_OK) break;
    if (t.dtype != KUBO_FLOAT32 || kubo_tensor_numel(&t) != info.size)
      st = kubo_error_set(KUBO_EINVAL, "score.load: '%s' in '%s' does not "
                          "fit the network", name, path);
    else
      memcpy(block + info.offset, t.data, (size_t)info.size * sizeof(float));
    kubo_tensor_release(&t);
  }
  return st;
}


static kubo_status read_config(kubo_score_trainer *tr,
                               const kubo_h5_attrs *attrs,
                               const char *path) {
  kubo_score_config *c = &tr->cfg;
  const kubo_h5_attr *frame;
  int64_t seed = 0, is_auto = 0;
  kubo_status st;
#define NUM(name, dst)                                                  \
  do {                                                                  \
    if ((st = get_number(attrs, name, path, dst)) != KUBO_OK) return st; \
  } while (0)
#define INT(name, dst)                                                  \
  do {                                                                  \
    if ((st = get_int(attrs, name, path, dst)) != KUBO_OK) return st;   \
  } while (0)
  NUM("score.sigma_min", &c->sigma_min);
  NUM("score.sigma_max", &c->sigma_max);
  INT("score.sigma_max_auto", &is_auto);
  NUM("score.t_low", &c->t_low);
  NUM("score.t_high", &c->t_high);
  NUM("score.scale", &c->scale);
  NUM("score.data_std", &c->data_std);
  INT("score.seed", &seed);
  NUM("score.split", &c->split);
  INT("score.batch", &c->batch);
  INT("score.epochs", &c->epochs);
  INT("score.steps", &c->steps);
  INT("score.eval_batch", &c->eval_batch);
  INT("score.checkpoint_every", &c->checkpoint_every);
  INT("score.data_count", &tr->count);
  INT("score.step", &tr->step);
  INT("score.epoch", &tr->epoch);
  INT("score.batch_pos", &tr->batch_pos);
  NUM("score.loss_sum", &tr->loss_sum);
  INT("score.loss_count", &tr->loss_count);
#undef NUM
#undef INT
  c->seed = (uint64_t)seed;
  {
    const kubo_h5_attr *o = kubo_h5_attrs_find(attrs, "score.output");
    int kind = o != NULL && o->kind == KUBO_H5_STRING
                 ? kubo_score_output_parse(o->strings[0]) : -1;
    if (kind < 0)
      return kubo_error_set(KUBO_EIO, "score.load: '%s' has no valid "
                            "attribute 'score.output'", path);
    c->output = (kubo_score_output)kind;
  }
  tr->sigma_max_auto = is_auto != 0;
  frame = kubo_h5_attrs_find(attrs, "score.frame_shape");
  if (frame == NULL || frame->kind != KUBO_H5_INT || frame->count < 1 ||
      frame->count > KUBO_SCORE_MAX_FRAME_DIM)
    return kubo_error_set(KUBO_EIO, "score.load: '%s' has no valid "
                          "attribute 'score.frame_shape'", path);
  tr->frame_ndim = (int)frame->count;
  tr->dim = 1;
  for (int i = 0; i < tr->frame_ndim; i++) {
    tr->frame_shape[i] = frame->ints[i];
    tr->dim *= frame->ints[i];
  }
  if (tr->count < 2 || tr->dim < 1 || c->batch < 1 || c->eval_batch < 1 ||
      !(c->split > 0 && c->split <= 1) || !(c->sigma_min > 0) ||
      !(c->sigma_max > c->sigma_min) || !(c->scale > 0))
    return kubo_error_set(KUBO_EINVAL, "score.load: '%s' has invalid "
                          "score.* attributes", path);
  return KUBO_OK;
}


static kubo_status read_history(kubo_score_trainer *tr, const char *path) {
  kubo_h5_list list = {0};
  kubo_tensor h = {0};
  bool present = false;
  kubo_status st = kubo_h5_list_file(path, &list);
  if (st != KUBO_OK) return st;
  for (int i = 0; i < list.count; i++)
    if (strcmp(list.items[i].name, "/score/history") == 0) present = true;
  kubo_h5_list_free(&list);
  if (!present) return KUBO_OK;
  st = kubo_h5_read(path, "/score/history", &h, NULL);
  if (st != KUBO_OK) return st;
  if (h.ndim != 2 || h.shape[1] != HIST_COLUMNS || h.dtype != KUBO_FLOAT64)
    st = kubo_error_set(KUBO_EINVAL, "score.load: '/score/history' in '%s' "
                        "is not a (rows, %d) float64 table", path,
                        HIST_COLUMNS);
  for (int64_t r = 0; r < (st == KUBO_OK ? h.shape[0] : 0) &&
                      st == KUBO_OK; r++)
    st = score_history_push(tr, (const double *)h.data + r * HIST_COLUMNS);
  kubo_tensor_release(&h);
  return st;
}


kubo_status kubo_score_trainer_load(kubo_score_trainer **out,
                                    const char *path) {
  kubo_h5_attrs attrs;
  const kubo_h5_attr *format, *spec, *okind;
  kubo_score_trainer *tr;
  kubo_status st;
  *out = NULL;
  kubo_h5_attrs_init(&attrs);
  st = kubo_h5_read_attrs(path, "/", &attrs);
  if (st != KUBO_OK) return kubo_error_prefix(st, "score.load");
  format = kubo_h5_attrs_find(&attrs, "format");
  spec = kubo_h5_attrs_find(&attrs, "spec");
  if (format == NULL || format->kind != KUBO_H5_STRING ||
      strcmp(format->strings[0], FORMAT) != 0 || spec == NULL ||
      spec->kind != KUBO_H5_STRING) {
    kubo_h5_attrs_free(&attrs);
    return kubo_error_set(KUBO_EINVAL, "score.load: '%s' is not a kubo "
                          "score file (its format attribute is not \"%s\")",
                          path, FORMAT);
  }
  tr = calloc(1, sizeof *tr);
  if (tr == NULL) {
    kubo_h5_attrs_free(&attrs);
    return kubo_error_set(KUBO_ENOMEM, "score: out of memory");
  }
  kubo_score_config_default(&tr->cfg);
  tr->perm_epoch = -1;
  st = read_config(tr, &attrs, path);
  if (st == KUBO_OK) st = kubo_nn_from_spec(&tr->net, spec->strings[0], 0);
  if (st == KUBO_OK) st = read_network(tr->net, path);
  if (st == KUBO_OK) {
    tr->flatten = strcmp(kubo_nn_kind(tr->net), "mlp") == 0;
    st = kubo_nn_clone(&tr->eval, tr->net);
  }
  okind = kubo_h5_attrs_find(&attrs, "optimizer.kind");
  if (st == KUBO_OK && okind != NULL && okind->kind == KUBO_H5_STRING) {
    kubo_optim_config oc;
    kubo_optim_config_default(&oc, strcmp(okind->strings[0], "sgd") == 0
                                     ? KUBO_OPTIM_SGD : KUBO_OPTIM_ADAM);
    st = kubo_optim_new(&tr->opt, tr->net, &oc);
    if (st == KUBO_OK) st = kubo_optim_read_h5(tr->opt, path);
    if (st == KUBO_OK) tr->cfg.optim = *kubo_optim_get_config(tr->opt);
  }
  tr->cfg.ema_rate = 0;
  if (st == KUBO_OK && kubo_h5_attrs_find(&attrs, "ema.rate") != NULL) {
    st = kubo_ema_new(&tr->ema, tr->net, 0.5, true);
    if (st == KUBO_OK) st = kubo_ema_read_h5(tr->ema, path);
    if (st == KUBO_OK) {
      tr->cfg.ema_rate = kubo_ema_rate(tr->ema);
      tr->cfg.ema_warmup = kubo_ema_warmup(tr->ema);
    }
  }
  kubo_h5_attrs_free(&attrs);
  if (st == KUBO_OK) st = score_trainer_layout(tr);
  if (st == KUBO_OK) st = read_history(tr, path);
  if (st != KUBO_OK) {
    kubo_score_trainer_free(tr);
    return kubo_error_prefix(st, "score.load: '%s'", path);
  }
  *out = tr;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Resuming
** ------------------------------------------------------------------- */

/* Fails naming the first setting in which the checkpoint old differs
** from the trainer tr. */
static kubo_status check_same_run(const kubo_score_trainer *tr,
                                  const kubo_score_trainer *old,
                                  const char *path) {
  const kubo_score_config *a = &tr->cfg, *b = &old->cfg;
  const char *what = NULL;
  char detail[160] = "";
  if (strcmp(kubo_nn_spec(tr->net), kubo_nn_spec(old->net)) != 0) {
    what = "network";
    snprintf(detail, sizeof detail, "%s (%lld parameters), not %s (%lld)",
             kubo_nn_kind(old->net),
             (long long)kubo_nn_num_parameters(old->net),
             kubo_nn_kind(tr->net),
             (long long)kubo_nn_num_parameters(tr->net));
  } else if (old->count != tr->count || old->dim != tr->dim) {
    what = "data";
    snprintf(detail, sizeof detail, "%lld samples of %lld values, not "
             "%lld of %lld", (long long)old->count, (long long)old->dim,
             (long long)tr->count, (long long)tr->dim);
  } else if (b->seed != a->seed) {
    what = "seed";
    snprintf(detail, sizeof detail, "%llu, not %llu",
             (unsigned long long)b->seed, (unsigned long long)a->seed);
  } else if (b->split != a->split) {
    what = "split";
    snprintf(detail, sizeof detail, "%g, not %g", b->split, a->split);
  } else if (b->batch != a->batch) {
    what = "batch";
    snprintf(detail, sizeof detail, "%lld, not %lld", (long long)b->batch,
             (long long)a->batch);
  } else if (b->sigma_min != a->sigma_min) {
    what = "sigma_min";
    snprintf(detail, sizeof detail, "%g, not %g", b->sigma_min,
             a->sigma_min);
  } else if (!tr->sigma_max_auto && b->sigma_max != a->sigma_max) {
    what = "sigma_max";
    snprintf(detail, sizeof detail, "%g, not %g", b->sigma_max,
             a->sigma_max);
  } else if (b->t_low != a->t_low || b->t_high != a->t_high) {
    what = "noise_range";
    snprintf(detail, sizeof detail, "{%g, %g}, not {%g, %g}", b->t_low,
             b->t_high, a->t_low, a->t_high);
  } else if (b->scale != a->scale) {
    what = "scale";
    snprintf(detail, sizeof detail, "%g, not %g", b->scale, a->scale);
  } else if (b->output != a->output || b->data_std != a->data_std) {
    what = "output";
    snprintf(detail, sizeof detail, "%s with data_std %g, not %s with %g",
             kubo_score_output_name(b->output), b->data_std,
             kubo_score_output_name(a->output), a->data_std);
  } else if ((old->ema == NULL) != (tr->ema == NULL)) {
    what = "ema";
    snprintf(detail, sizeof detail, "%s, not %s", old->ema ? "on" : "off",
             tr->ema ? "on" : "off");
  }
  if (what == NULL) return KUBO_OK;
  return kubo_error_set(KUBO_EINVAL, "score.train: cannot resume from '%s': "
                        "it was made with another %s: %s", path, what,
                        detail);
}


kubo_status kubo_score_trainer_resume(kubo_score_trainer *tr,
                                      const char *path) {
  kubo_score_trainer *old = NULL;
  kubo_score_trainer swap;
  kubo_status st = kubo_score_trainer_load(&old, path);
  if (st != KUBO_OK) return kubo_error_prefix(st, "score.train: resume");
  st = check_same_run(tr, old, path);
  if (st == KUBO_OK && old->opt == NULL)
    st = kubo_error_set(KUBO_EINVAL, "score.train: cannot resume from '%s': "
                        "it holds no optimizer state", path);
  if (st != KUBO_OK) {
    kubo_score_trainer_free(old);
    return st;
  }

  /* take over the checkpoint's objects and state; old gets tr's objects
  ** and frees them */
  swap = *tr;
  tr->net = old->net;
  tr->opt = old->opt;
  tr->ema = old->ema;
  tr->eval = old->eval;
  tr->history = old->history;
  tr->hist_rows = old->hist_rows;
  tr->hist_cap = old->hist_cap;
  tr->step = old->step;
  tr->epoch = old->epoch;
  tr->batch_pos = old->batch_pos;
  tr->loss_sum = old->loss_sum;
  tr->loss_count = old->loss_count;
  tr->cfg.sigma_max = old->cfg.sigma_max;
  tr->cfg.optim = old->cfg.optim;
  tr->cfg.ema_rate = old->cfg.ema_rate;
  tr->cfg.ema_warmup = old->cfg.ema_warmup;
  tr->perm_epoch = -1;
  old->net = swap.net;
  old->opt = swap.opt;
  old->ema = swap.ema;
  old->eval = swap.eval;
  old->history = swap.history;
  kubo_score_trainer_free(old);
  return KUBO_OK;
}
