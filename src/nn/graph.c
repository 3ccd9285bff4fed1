/*
** graph.c: building a network's operation list, its blocks of
** parameters and their initialisation; properties and freeing.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "kubo/alloc.h"
#include "kubo/rng.h"


/* ---------------------------------------------------------------------
** Growing arrays
** ------------------------------------------------------------------- */

/* Makes room for one more element of size elem in *data; records
** KUBO_ENOMEM in the net and returns false on failure. */
static bool grow(kubo_nn *net, void **data, int *cap, int count,
                 size_t elem) {
  void *bigger;
  int ncap;
  if (count < *cap) return true;
  ncap = *cap ? 2 * *cap : 16;
  bigger = realloc(*data, (size_t)ncap * elem);
  if (bigger == NULL) {
    net->build_status = kubo_error_set(KUBO_ENOMEM, "nn: out of memory "
                                       "building a network");
    return false;
  }
  memset((char *)bigger + (size_t)*cap * elem, 0,
         (size_t)(ncap - *cap) * elem);
  *data = bigger;
  *cap = ncap;
  return true;
}


static int new_value(kubo_nn *net) {
  nn_value *v;
  if (net->build_status != KUBO_OK) return -1;
  if (!grow(net, (void **)&net->values, &net->values_cap, net->nvalues,
            sizeof *net->values))
    return -1;
  v = &net->values[net->nvalues];
  memset(v, 0, sizeof *v);
  v->alias = -1;
  v->goffset = -1;
  return net->nvalues++;
}


kubo_status nn_new(kubo_nn **out, const char *kind) {
  kubo_nn *net = calloc(1, sizeof *net);
  *out = NULL;
  if (net == NULL)
    return kubo_error_set(KUBO_ENOMEM, "nn: out of memory creating a %s",
                          kind);
  snprintf(net->kind, sizeof net->kind, "%s", kind);
  net->sigma = -1;
  net->output = -1;
  *out = net;
  return KUBO_OK;
}


int nn_input(kubo_nn *net) {
  int v = new_value(net);
  if (v < 0) return -1;
  if (net->ninputs == NN_MAX_INPUTS) {
    net->build_status = kubo_error_set(KUBO_EINVAL, "%s: at most %d inputs "
                                       "are supported", net->kind,
                                       NN_MAX_INPUTS);
    return -1;
  }
  net->values[v].needs_grad = true;
  net->inputs[net->ninputs++] = v;
  return v;
}


int nn_sigma(kubo_nn *net) {
  int v;
  if (net->sigma >= 0) return net->sigma;
  v = new_value(net);
  if (v < 0) return -1;
  net->values[v].is_sigma = true;
  net->sigma = v;
  return v;
}


/* Registers an array of the given shape; returns its offset in the
** parameter (or buffer) block, or -1. */
static int64_t add_array(kubo_nn *net, const char *layer, const char *what,
                         int ndim, const int64_t *shape, bool buffer,
                         nn_init init, double arg) {
  nn_array *a;
  int64_t size = 1;
  if (net->build_status != KUBO_OK) return -1;
  if (!grow(net, (void **)&net->arrays, &net->arrays_cap, net->narrays,
            sizeof *net->arrays))
    return -1;
  a = &net->arrays[net->narrays++];
  if (layer[0] != '\0')
    snprintf(a->name, sizeof a->name, "%s.%s", layer, what);
  else
    snprintf(a->name, sizeof a->name, "%s", what);
  a->ndim = ndim;
  for (int d = 0; d < ndim; d++) {
    a->shape[d] = shape[d];
    size *= shape[d];
  }
  a->size = size;
  a->buffer = buffer;
  a->init = init;
  a->arg = arg;
  if (buffer) {
    a->offset = net->nbuffer;
    net->nbuffer += size;
  } else {
    a->offset = net->nparam;
    net->nparam += size;
  }
  return a->offset;
}


/* Appends an operation reading nin values; returns it, or NULL. */
static nn_op *new_op(kubo_nn *net, nn_op_kind kind, const char *name,
                     int nin, const int *in) {
  nn_op *op;
  if (net->build_status != KUBO_OK) return NULL;
  for (int i = 0; i < nin; i++)
    if (in[i] < 0 || in[i] >= net->nvalues) {
      net->build_status = kubo_error_set(KUBO_EINVAL, "%s: internal error: "
                                         "operation %s reads an unknown "
                                         "value", net->kind, name);
      return NULL;
    }
  if (!grow(net, (void **)&net->ops, &net->ops_cap, net->nops,
            sizeof *net->ops))
    return NULL;
  op = &net->ops[net->nops];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->nin = nin;
  for (int i = 0; i < nin; i++) op->in[i] = in[i];
  op->param = net->nparam;
  op->buffer = net->nbuffer;
  if (name[0] != '\0')
    snprintf(op->label, sizeof op->label, "%s %s", net->kind, name);
  else
    snprintf(op->label, sizeof op->label, "%s", net->kind);
  op->out = new_value(net);
  if (op->out < 0) return NULL;
  net->nops++;
  return op;
}


int nn_linear(kubo_nn *net, const char *name, int x, int in, int out,
              bool bias) {
  nn_op *op = new_op(net, NN_OP_LINEAR, name, 1, &x);
  int64_t wshape[2] = {out, in}, bshape[1] = {out};
  double bound = 1.0 / sqrt((double)in);
  if (op == NULL) return -1;
  op->u.linear.in = in;
  op->u.linear.out = out;
  op->u.linear.bias = bias;
  add_array(net, name, "weight", 2, wshape, false, NN_INIT_UNIFORM, bound);
  if (bias)
    add_array(net, name, "bias", 1, bshape, false, NN_INIT_UNIFORM, bound);
  return op->out;
}


int nn_conv2d(kubo_nn *net, const char *name, int x, int cin, int cout,
              int kernel, int stride, bool periodic, bool upsample,
              bool bias) {
  nn_op *op = new_op(net, NN_OP_CONV2D, name, 1, &x);
  int64_t wshape[4] = {cout, cin, kernel, kernel}, bshape[1] = {cout};
  double bound = 1.0 / sqrt((double)cin * kernel * kernel);
  if (op == NULL) return -1;
  op->u.conv.cin = cin;
  op->u.conv.cout = cout;
  op->u.conv.kernel = kernel;
  op->u.conv.stride = stride;
  op->u.conv.periodic = periodic;
  op->u.conv.upsample = upsample;
  op->u.conv.bias = bias;
  add_array(net, name, "weight", 4, wshape, false, NN_INIT_UNIFORM, bound);
  if (bias)
    add_array(net, name, "bias", 1, bshape, false, NN_INIT_UNIFORM, bound);
  return op->out;
}


int nn_group_norm(kubo_nn *net, const char *name, int x, int groups,
                  int channels, float eps) {
  nn_op *op = new_op(net, NN_OP_GROUP_NORM, name, 1, &x);
  int64_t shape[1] = {channels};
  if (op == NULL) return -1;
  op->u.norm.groups = groups;
  op->u.norm.channels = channels;
  op->u.norm.eps = eps;
  add_array(net, name, "weight", 1, shape, false, NN_INIT_ONES, 0);
  add_array(net, name, "bias", 1, shape, false, NN_INIT_ZEROS, 0);
  return op->out;
}


int nn_activation(kubo_nn *net, const char *name, int x,
                  kubo_activation act) {
  nn_op *op = new_op(net, NN_OP_ACTIVATION, name, 1, &x);
  if (op == NULL) return -1;
  op->u.activation.act = act;
  return op->out;
}


int nn_fourier(kubo_nn *net, const char *name, int t, int size,
               double scale) {
  nn_op *op = new_op(net, NN_OP_FOURIER, name, 1, &t);
  int64_t shape[1] = {size / 2};
  if (op == NULL) return -1;
  op->u.fourier.nfreq = size / 2;
  add_array(net, name, "freq", 1, shape, true, NN_INIT_NORMAL, scale);
  return op->out;
}


int nn_noise_level(kubo_nn *net, const char *name, int sigma, double a,
                   double b) {
  nn_op *op = new_op(net, NN_OP_NOISE_LEVEL, name, 1, &sigma);
  if (op == NULL) return -1;
  op->u.noise.a = a;
  op->u.noise.b = b;
  return op->out;
}


int nn_channel_add(kubo_nn *net, const char *name, int x, int e,
                   bool per_sqrt_spatial) {
  int in[2] = {x, e};
  nn_op *op = new_op(net, NN_OP_CHANNEL_ADD, name, 2, in);
  if (op == NULL) return -1;
  op->u.cadd.per_sqrt_spatial = per_sqrt_spatial;
  net->values[op->out].alias = x;
  return op->out;
}


int nn_film(kubo_nn *net, const char *name, int x, int e) {
  int in[2] = {x, e};
  nn_op *op = new_op(net, NN_OP_FILM, name, 2, in);
  return op == NULL ? -1 : op->out;
}


int nn_noise_scale(kubo_nn *net, const char *name, int x, int sigma,
                   double s2) {
  int in[2] = {x, sigma};
  nn_op *op = new_op(net, NN_OP_NOISE_SCALE, name, 2, in);
  if (op == NULL) return -1;
  op->u.nscale.s2 = s2;
  return op->out;
}


int nn_upsample(kubo_nn *net, const char *name, int x) {
  nn_op *op = new_op(net, NN_OP_UPSAMPLE, name, 1, &x);
  return op == NULL ? -1 : op->out;
}


int nn_concat(kubo_nn *net, const char *name, int a, int c) {
  int in[2] = {a, c};
  nn_op *op = new_op(net, NN_OP_CONCAT, name, 2, in);
  return op == NULL ? -1 : op->out;
}


int nn_add(kubo_nn *net, const char *name, int x, int y) {
  int in[2] = {x, y};
  nn_op *op = new_op(net, NN_OP_ADD, name, 2, in);
  if (op == NULL) return -1;
  net->values[op->out].alias = x;
  return op->out;
}


int nn_center(kubo_nn *net, const char *name, int x) {
  nn_op *op = new_op(net, NN_OP_CENTER, name, 1, &x);
  return op == NULL ? -1 : op->out;
}


int nn_spatial_mean(kubo_nn *net, const char *name, int x) {
  nn_op *op = new_op(net, NN_OP_SPATIAL_MEAN, name, 1, &x);
  return op == NULL ? -1 : op->out;
}


int nn_groups_for(int channels, int want) {
  int g = want < channels ? want : channels;
  if (g < 1) g = 1;
  while (channels % g != 0) g--;
  return g;
}


/* ---------------------------------------------------------------------
** Finishing: checks, gradient flags, blocks and initialisation
** ------------------------------------------------------------------- */

static bool op_has_params(const kubo_nn *net, int i) {
  int64_t end = i + 1 < net->nops ? net->ops[i + 1].param : net->nparam;
  return end > net->ops[i].param;
}


/* Sets needs_grad: an input (not sigma) needs a gradient, and so does
** the output of an operation with parameters or with an input that
** needs one. A value that an in-place output aliases gets gradient
** storage whenever the alias needs it. */
static void mark_gradients(kubo_nn *net) {
  for (int i = 0; i < net->nops; i++) {
    nn_op *op = &net->ops[i];
    bool need = op_has_params(net, i);
    for (int k = 0; k < op->nin; k++)
      if (net->values[op->in[k]].needs_grad) need = true;
    net->values[op->out].needs_grad = need;
    if (need && net->values[op->out].alias >= 0)
      net->values[net->values[op->out].alias].needs_grad = true;
  }
}


/* Checks the in-place rule: the value an in-place operation overwrites
** is read by no other operation. */
static kubo_status check_in_place(kubo_nn *net) {
  for (int i = 0; i < net->nops; i++) {
    int target = net->values[net->ops[i].out].alias, readers = 0;
    if (target < 0) continue;
    for (int j = 0; j < net->nops; j++)
      for (int k = 0; k < net->ops[j].nin; k++)
        if (net->ops[j].in[k] == target) readers++;
    if (readers != 1 || target == net->output)
      return kubo_error_set(KUBO_EINVAL, "%s: internal error: in-place "
                            "operation %s overwrites a value that is also "
                            "read elsewhere", net->kind,
                            net->ops[i].label);
  }
  return KUBO_OK;
}


static nn_arena *arena_new(int64_t nparam, int64_t nbuffer) {
  nn_arena *a = calloc(1, sizeof *a);
  int64_t pshape[1] = {nparam}, bshape[1] = {nbuffer};
  if (a == NULL) {
    kubo_error_set(KUBO_ENOMEM, "nn: out of memory");
    return NULL;
  }
  a->refcount = 1;
  if (kubo_tensor_init(&a->params, KUBO_FLOAT32, 1, pshape) != KUBO_OK ||
      kubo_tensor_init(&a->grads, KUBO_FLOAT32, 1, pshape) != KUBO_OK ||
      kubo_tensor_init(&a->buffers, KUBO_FLOAT32, 1, bshape) != KUBO_OK) {
    kubo_tensor_release(&a->params);
    kubo_tensor_release(&a->grads);
    kubo_tensor_release(&a->buffers);
    free(a);
    return NULL;
  }
  return a;
}


static void arena_release(nn_arena *a) {
  while (a != NULL && --a->refcount == 0) {
    nn_arena *parent = a->parent;
    kubo_tensor_release(&a->params);
    kubo_tensor_release(&a->grads);
    kubo_tensor_release(&a->buffers);
    free(a);
    a = parent;
  }
}


/* Fills one array from the Philox stream (seed, index). */
static kubo_status init_array(kubo_nn *net, int index, uint64_t seed) {
  const nn_array *a = &net->arrays[index];
  nn_arena *arena = net->arena;
  kubo_tensor *block = a->buffer ? &arena->buffers : &arena->params;
  kubo_tensor view = {0};
  kubo_rng rng;
  kubo_status st;
  float *data = (float *)block->data + a->offset;
  switch (a->init) {
    case NN_INIT_ONES:
      for (int64_t i = 0; i < a->size; i++) data[i] = 1.0f;
      return KUBO_OK;
    case NN_INIT_ZEROS:
      memset(data, 0, (size_t)a->size * sizeof(float));
      return KUBO_OK;
    case NN_INIT_UNIFORM:
    case NN_INIT_NORMAL:
      break;
  }
  st = kubo_tensor_narrow(&view, block, 0, a->offset, a->offset + a->size);
  if (st != KUBO_OK) return st;
  kubo_rng_init(&rng, seed, (uint64_t)index);
  if (a->init == NN_INIT_UNIFORM)
    st = kubo_rng_fill_uniform(&rng, &view, -a->arg, a->arg);
  else
    st = kubo_rng_fill_normal(&rng, &view, 0.0, a->arg);
  kubo_tensor_release(&view);
  return st;
}


kubo_status nn_finish(kubo_nn *net, int output, const char *spec,
                      bool init, uint64_t seed) {
  if (net->build_status != KUBO_OK) return net->build_status;
  if (output < 0 || output >= net->nvalues)
    return net->build_status = kubo_error_set(KUBO_EINVAL, "%s: internal "
                                              "error: no output", net->kind);
  net->output = output;
  if (check_in_place(net) != KUBO_OK)
    return net->build_status = KUBO_EINVAL;
  mark_gradients(net);
  net->spec = malloc(strlen(spec) + 1);
  if (net->spec == NULL)
    return net->build_status = kubo_error_set(KUBO_ENOMEM, "nn: out of "
                                              "memory");
  strcpy(net->spec, spec);
  net->arena = arena_new(net->nparam, net->nbuffer);
  if (net->arena == NULL) return net->build_status = KUBO_ENOMEM;
  if (init) {
    for (int i = 0; i < net->narrays; i++) {
      kubo_status st = init_array(net, i, seed);
      if (st != KUBO_OK) return net->build_status = st;
    }
  }
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Appending a child's operations (for containers)
** ------------------------------------------------------------------- */

int nn_append(kubo_nn *net, const kubo_nn *child, int x, const char *prefix,
              const char *array_prefix, int64_t param_shift,
              int64_t buffer_shift) {
  int *map;
  int result;
  if (net->build_status != KUBO_OK) return -1;
  map = malloc((size_t)(child->nvalues > 0 ? child->nvalues : 1) *
               sizeof *map);
  if (map == NULL) {
    net->build_status = kubo_error_set(KUBO_ENOMEM, "nn: out of memory");
    return -1;
  }
  for (int v = 0; v < child->nvalues; v++) map[v] = -1;
  map[child->inputs[0]] = x;

  for (int i = 0; i < child->nops; i++) {
    const nn_op *cop = &child->ops[i];
    nn_op *op;
    int out;
    if (!grow(net, (void **)&net->ops, &net->ops_cap, net->nops,
              sizeof *net->ops)) {
      free(map);
      return -1;
    }
    out = new_value(net);
    if (out < 0) {
      free(map);
      return -1;
    }
    op = &net->ops[net->nops++];
    *op = *cop;
    for (int k = 0; k < cop->nin; k++) op->in[k] = map[cop->in[k]];
    op->out = out;
    op->param = cop->param + param_shift;
    op->buffer = cop->buffer + buffer_shift;
    nn_format(op->label, sizeof op->label, "%s %s", prefix, cop->label);
    if (child->values[cop->out].alias >= 0)
      net->values[out].alias = map[child->values[cop->out].alias];
    map[cop->out] = out;
  }
  for (int i = 0; i < child->narrays; i++) {
    nn_array *a;
    if (!grow(net, (void **)&net->arrays, &net->arrays_cap, net->narrays,
              sizeof *net->arrays)) {
      free(map);
      return -1;
    }
    a = &net->arrays[net->narrays++];
    *a = child->arrays[i];
    nn_format(a->name, sizeof a->name, "%s.%s", array_prefix,
              child->arrays[i].name);
    a->offset += a->buffer ? buffer_shift : param_shift;
  }
  net->nparam += child->nparam;
  net->nbuffer += child->nbuffer;
  result = map[child->output];
  free(map);
  return result;
}


/* ---------------------------------------------------------------------
** Blocks, properties and freeing
** ------------------------------------------------------------------- */

nn_arena *nn_arena_root(const kubo_nn *net, int64_t *pshift,
                        int64_t *bshift) {
  nn_arena *a = net->arena;
  int64_t p = 0, b = 0;
  while (a->parent != NULL) {
    p += a->pshift;
    b += a->bshift;
    a = a->parent;
  }
  if (pshift != NULL) *pshift = p;
  if (bshift != NULL) *bshift = b;
  return a;
}


float *nn_params(const kubo_nn *net) {
  int64_t p;
  nn_arena *a = nn_arena_root(net, &p, NULL);
  return (float *)a->params.data + p;
}


float *nn_grads(const kubo_nn *net) {
  int64_t p;
  nn_arena *a = nn_arena_root(net, &p, NULL);
  return (float *)a->grads.data + p;
}


float *nn_buffers(const kubo_nn *net) {
  int64_t b;
  nn_arena *a = nn_arena_root(net, NULL, &b);
  return (float *)a->buffers.data + b;
}


float *kubo_nn_params(const kubo_nn *net) { return nn_params(net); }
float *kubo_nn_grads(const kubo_nn *net) { return nn_grads(net); }
float *kubo_nn_buffers(const kubo_nn *net) { return nn_buffers(net); }
const char *kubo_nn_spec(const kubo_nn *net) { return net->spec; }
const char *kubo_nn_kind(const kubo_nn *net) { return net->kind; }
int kubo_nn_num_inputs(const kubo_nn *net) { return net->ninputs; }
bool kubo_nn_is_conditioned(const kubo_nn *net) { return net->sigma >= 0; }
int64_t kubo_nn_num_parameters(const kubo_nn *net) { return net->nparam; }
int64_t kubo_nn_num_buffers(const kubo_nn *net) { return net->nbuffer; }
int kubo_nn_num_arrays(const kubo_nn *net) { return net->narrays; }


void kubo_nn_param_views(const kubo_nn *net, kubo_tensor *params,
                         kubo_tensor *grads) {
  int64_t p;
  nn_arena *a = nn_arena_root(net, &p, NULL);
  kubo_tensor_narrow(params, &a->params, 0, p, p + net->nparam);
  kubo_tensor_narrow(grads, &a->grads, 0, p, p + net->nparam);
}


void kubo_nn_array_info(const kubo_nn *net, int i, kubo_nn_array *info) {
  /* parameters first, then buffers, each in registration order, which
  ** is block order */
  int k = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int j = 0; j < net->narrays; j++) {
      const nn_array *a = &net->arrays[j];
      if (a->buffer != (pass == 1)) continue;
      if (k++ != i) continue;
      info->name = a->name;
      info->ndim = a->ndim;
      for (int d = 0; d < 4; d++) info->shape[d] = d < a->ndim ?
                                                   a->shape[d] : 1;
      info->offset = a->offset;
      info->size = a->size;
      info->buffer = a->buffer;
      return;
    }
  }
}


void kubo_nn_zero_grad(kubo_nn *net) {
  memset(nn_grads(net), 0, (size_t)net->nparam * sizeof(float));
}


void kubo_nn_release_activations(kubo_nn *net) {
  if (net->act != NULL) kubo_free(net->act, (size_t)net->act_cap *
                                  sizeof(float));
  if (net->grad != NULL) kubo_free(net->grad, (size_t)net->grad_cap *
                                   sizeof(float));
  net->act = net->grad = NULL;
  net->act_cap = net->grad_cap = 0;
  kubo_nn_workspace_free(&net->ws);
  net->planned = false;
  net->forward_done = false;
}


void kubo_nn_free(kubo_nn *net) {
  if (net == NULL) return;
  kubo_nn_release_activations(net);
  if (net->arena != NULL) arena_release(net->arena);
  free(net->spec);
  free(net->arrays);
  free(net->ops);
  free(net->values);
  free(net);
}


kubo_status kubo_nn_sequential(kubo_nn **out, int n,
                               kubo_nn *const *children) {
  kubo_nn *net;
  nn_str spec = {0};
  char *text;
  int x;
  int64_t pshift = 0, bshift = 0;
  kubo_status st;
  *out = NULL;
  if (n < 1)
    return kubo_error_set(KUBO_EINVAL, "sequential: needs at least one "
                          "layer (got %d)", n);
  for (int i = 0; i < n; i++) {
    if (children[i]->ninputs != 1 || children[i]->sigma >= 0)
      return kubo_error_set(KUBO_EINVAL, "sequential: layer %d (%s) takes "
                            "%s; only layers with one input and no noise "
                            "level can be chained", i + 1,
                            children[i]->kind, children[i]->sigma >= 0 ?
                            "a noise level" : "two inputs");
    if (children[i]->arena->parent != NULL)
      return kubo_error_set(KUBO_EINVAL, "sequential: layer %d (%s) already "
                            "belongs to a container; create a new layer or "
                            "use a clone", i + 1, children[i]->kind);
    for (int j = 0; j < i; j++)
      if (children[j] == children[i])
        return kubo_error_set(KUBO_EINVAL, "sequential: layer %d is the "
                              "same object as layer %d; create a new layer "
                              "or use a clone", i + 1, j + 1);
  }

  st = nn_new(&net, "sequential");
  if (st != KUBO_OK) return st;
  nn_str_add(&spec, "sequential{");
  x = nn_input(net);
  for (int i = 0; i < n; i++) {
    char prefix[32], aprefix[16];
    snprintf(prefix, sizeof prefix, "sequential[%d]", i + 1);
    snprintf(aprefix, sizeof aprefix, "%d", i + 1);
    x = nn_append(net, children[i], x, prefix, aprefix, pshift, bshift);
    pshift += children[i]->nparam;
    bshift += children[i]->nbuffer;
    nn_str_add(&spec, "%s%s", i ? "," : "", children[i]->spec);
  }
  nn_str_add(&spec, "}");
  text = nn_str_take(&spec);
  if (text == NULL) {
    kubo_nn_free(net);
    return KUBO_ENOMEM;
  }
  /* the container's labels already carry the child's kind */
  st = nn_finish(net, x, text, false, 0);
  free(text);
  if (st != KUBO_OK) {
    kubo_nn_free(net);
    return st;
  }

  /* adopt: copy each child's blocks in, then point the child here */
  pshift = bshift = 0;
  for (int i = 0; i < n; i++) {
    kubo_nn *c = children[i];
    memcpy((float *)net->arena->params.data + pshift, nn_params(c),
           (size_t)c->nparam * sizeof(float));
    memcpy((float *)net->arena->grads.data + pshift, nn_grads(c),
           (size_t)c->nparam * sizeof(float));
    memcpy((float *)net->arena->buffers.data + bshift, nn_buffers(c),
           (size_t)c->nbuffer * sizeof(float));
    c->arena->parent = net->arena;
    c->arena->pshift = pshift;
    c->arena->bshift = bshift;
    net->arena->refcount++;
    pshift += c->nparam;
    bshift += c->nbuffer;
  }
  *out = net;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Strings
** ------------------------------------------------------------------- */

void nn_str_add(nn_str *s, const char *fmt, ...) {
  va_list ap;
  int n;
  if (s->failed) return;
  for (;;) {
    size_t room = s->cap - s->len;
    va_start(ap, fmt);
    n = vsnprintf(s->data ? s->data + s->len : NULL, s->data ? room : 0,
                  fmt, ap);
    va_end(ap);
    if (n < 0) {
      s->failed = true;
      return;
    }
    if (s->data != NULL && (size_t)n < room) {
      s->len += (size_t)n;
      return;
    }
    size_t ncap = s->cap ? 2 * s->cap : 256;
    while (ncap < s->len + (size_t)n + 1) ncap *= 2;
    char *bigger = realloc(s->data, ncap);
    if (bigger == NULL) {
      s->failed = true;
      return;
    }
    s->data = bigger;
    s->cap = ncap;
  }
}


void nn_format(char *dst, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, size, fmt, ap);
  va_end(ap);
}


char *nn_str_take(nn_str *s) {
  char *text = s->data;
  if (s->failed || text == NULL) {
    free(s->data);
    memset(s, 0, sizeof *s);
    kubo_error_set(KUBO_ENOMEM, "nn: out of memory formatting a spec");
    return NULL;
  }
  memset(s, 0, sizeof *s);
  return text;
}
