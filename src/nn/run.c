/*
** run.c: shape planning, forward and backward of a kubo_nn.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"
#include "kubo/alloc.h"
#include "nn_internal.h"

/* Values start on 64-byte boundaries inside the activation array. */
#define ALIGN_FLOATS 16


static const char *shape_text(const nn_value *v, char *buf, size_t size) {
  size_t len = 0;
  len += (size_t)snprintf(buf, size, "(");
  for (int d = 0; d < v->ndim && len < size; d++)
    len += (size_t)snprintf(buf + len, size - len, d ? ", %lld" : "%lld",
                            (long long)v->shape[d]);
  if (len < size) snprintf(buf + len, size - len, ")");
  return buf;
}


static int64_t numel(const nn_value *v) {
  int64_t n = 1;
  for (int d = 0; d < v->ndim; d++) n *= v->shape[d];
  return n;
}


/* Points per channel: the product of the sizes after dimension 1. */
static int64_t spatial(const nn_value *v) {
  int64_t n = 1;
  for (int d = 2; d < v->ndim; d++) n *= v->shape[d];
  return n;
}


static void set_shape(nn_value *v, int ndim, const int64_t *shape) {
  v->ndim = ndim;
  for (int d = 0; d < ndim; d++) v->shape[d] = shape[d];
}


static kubo_status bad_input(const nn_op *op, const nn_value *x,
                             const char *expected) {
  char buf[96];
  return kubo_error_set(KUBO_EINVAL, "%s: input has shape %s, expected %s",
                        op->label, shape_text(x, buf, sizeof buf),
                        expected);
}


/* Checks the inputs of op and sets the shape of its output. */
static kubo_status infer(kubo_nn *net, nn_op *op) {
  nn_value *x = &net->values[op->in[0]];
  nn_value *y = op->nin > 1 ? &net->values[op->in[1]] : NULL;
  nn_value *out = &net->values[op->out];
  char expected[96], b1[96], b2[96];
  int64_t shape[4];

  switch (op->kind) {
    case NN_OP_LINEAR:
      if (x->ndim != 2 || x->shape[1] != op->u.linear.in) {
        snprintf(expected, sizeof expected, "(batch, %d)", op->u.linear.in);
        return bad_input(op, x, expected);
      }
      shape[0] = x->shape[0];
      shape[1] = op->u.linear.out;
      set_shape(out, 2, shape);
      return KUBO_OK;

    case NN_OP_CONV2D: {
      kubo_conv2d_geometry g;
      int ho, wo;
      kubo_status st;
      if (x->ndim != 4 || x->shape[1] != op->u.conv.cin) {
        snprintf(expected, sizeof expected, "(batch, %d, height, width)",
                 op->u.conv.cin);
        return bad_input(op, x, expected);
      }
      g.batch = x->shape[0];
      g.in_channels = op->u.conv.cin;
      g.out_channels = op->u.conv.cout;
      g.height = (int)x->shape[2];
      g.width = (int)x->shape[3];
      g.kernel = op->u.conv.kernel;
      g.stride = op->u.conv.stride;
      g.periodic = op->u.conv.periodic;
      g.upsample = op->u.conv.upsample;
      if (x->shape[2] > (1 << 14) || x->shape[3] > (1 << 14))
        return bad_input(op, x, "height and width of at most 16384");
      st = kubo_conv2d_output_size(&g, &ho, &wo);
      if (st != KUBO_OK)
        return kubo_error_prefix(st, "%s", op->label);
      shape[0] = x->shape[0];
      shape[1] = op->u.conv.cout;
      shape[2] = ho;
      shape[3] = wo;
      set_shape(out, 4, shape);
      return KUBO_OK;
    }

    case NN_OP_GROUP_NORM:
      if (x->ndim < 2 || x->shape[1] != op->u.norm.channels) {
        snprintf(expected, sizeof expected, "(batch, %d, ...)",
                 op->u.norm.channels);
        return bad_input(op, x, expected);
      }
      set_shape(out, x->ndim, x->shape);
      op->saved = 2 * x->shape[0] * op->u.norm.groups;  /* floats */
      return KUBO_OK;

    case NN_OP_ACTIVATION:
    case NN_OP_UPSAMPLE:
    case NN_OP_CENTER:
      if (op->kind == NN_OP_UPSAMPLE && x->ndim != 4)
        return bad_input(op, x, "(batch, channels, height, width)");
      if (op->kind == NN_OP_CENTER && x->ndim < 2)
        return bad_input(op, x, "(batch, channels, ...)");
      set_shape(out, x->ndim, x->shape);
      if (op->kind == NN_OP_UPSAMPLE) {
        out->shape[2] *= 2;
        out->shape[3] *= 2;
      }
      return KUBO_OK;

    case NN_OP_FOURIER:
      if (!(x->ndim == 1 || (x->ndim == 2 && x->shape[1] == 1)))
        return bad_input(op, x, "(batch) or (batch, 1)");
      shape[0] = x->shape[0];
      shape[1] = 2 * op->u.fourier.nfreq;
      set_shape(out, 2, shape);
      return KUBO_OK;

    case NN_OP_NOISE_LEVEL:
      set_shape(out, x->ndim, x->shape);
      return KUBO_OK;

    case NN_OP_CHANNEL_ADD:
    case NN_OP_FILM: {
      int64_t want = op->kind == NN_OP_FILM ? 2 * x->shape[1] : x->shape[1];
      if (x->ndim < 2)
        return bad_input(op, x, "(batch, channels, ...)");
      if (y->shape[0] != x->shape[0] || numel(y) != x->shape[0] * want)
        return kubo_error_set(KUBO_EINVAL, "%s: embedding has shape %s, "
                              "expected (%lld, %lld) for an input of shape "
                              "%s", op->label, shape_text(y, b1, sizeof b1),
                              (long long)x->shape[0], (long long)want,
                              shape_text(x, b2, sizeof b2));
      set_shape(out, x->ndim, x->shape);
      return KUBO_OK;
    }

    case NN_OP_NOISE_SCALE:
      set_shape(out, x->ndim, x->shape);
      op->saved = x->shape[0];   /* the per-sample factors */
      return KUBO_OK;

    case NN_OP_CONCAT: {
      bool fits = x->ndim >= 2 && y->ndim == x->ndim &&
                  y->shape[0] == x->shape[0];
      for (int d = 2; fits && d < x->ndim; d++)
        fits = x->shape[d] == y->shape[d];
      if (!fits)
        return kubo_error_set(KUBO_EINVAL, "%s: inputs have shapes %s and "
                              "%s, expected equal sizes in every dimension "
                              "but 2 (channels)", op->label,
                              shape_text(x, b1, sizeof b1),
                              shape_text(y, b2, sizeof b2));
      set_shape(out, x->ndim, x->shape);
      out->shape[1] = x->shape[1] + y->shape[1];
      return KUBO_OK;
    }

    case NN_OP_ADD: {
      bool fits = x->ndim == y->ndim;
      for (int d = 0; fits && d < x->ndim; d++)
        fits = x->shape[d] == y->shape[d];
      if (!fits)
        return kubo_error_set(KUBO_EINVAL, "%s: inputs have shapes %s and "
                              "%s, expected equal shapes", op->label,
                              shape_text(x, b1, sizeof b1),
                              shape_text(y, b2, sizeof b2));
      set_shape(out, x->ndim, x->shape);
      return KUBO_OK;
    }

    case NN_OP_SPATIAL_MEAN:
      if (x->ndim != 4)
        return bad_input(op, x, "(batch, channels, height, width)");
      shape[0] = x->shape[0];
      shape[1] = x->shape[1];
      shape[2] = shape[3] = 1;
      set_shape(out, 4, shape);
      return KUBO_OK;
  }
  return kubo_error_set(KUBO_EINVAL, "%s: unknown operation", op->label);
}


static int64_t round_up(int64_t n) {
  return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}


/* Makes *buf hold at least n floats (contents are lost on growth). */
static kubo_status reserve(float **buf, int64_t *cap, int64_t n) {
  if (*cap >= n && *buf != NULL) return KUBO_OK;
  if (*buf != NULL) kubo_free(*buf, (size_t)*cap * sizeof(float));
  *buf = NULL;
  *cap = 0;
  *buf = kubo_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (*buf == NULL) return KUBO_ENOMEM;
  *cap = n > 0 ? n : 1;
  return KUBO_OK;
}


/* Infers every shape from the input shapes and lays out the activation
** and gradient arrays. */
static kubo_status plan(kubo_nn *net, int ninputs, const kubo_tensor *inputs,
                        int64_t batch) {
  int64_t total = 0, gtotal = 0;
  kubo_status st;
  net->planned = false;
  net->forward_done = false;
  for (int i = 0; i < ninputs; i++)
    set_shape(&net->values[net->inputs[i]], inputs[i].ndim,
              inputs[i].shape);
  if (net->sigma >= 0) {
    net->values[net->sigma].ndim = 1;
    net->values[net->sigma].shape[0] = batch;
  }
  for (int i = 0; i < net->nops; i++) {
    net->ops[i].saved = 0;
    st = infer(net, &net->ops[i]);
    if (st != KUBO_OK) return st;
  }

  for (int v = 0; v < net->nvalues; v++) {
    nn_value *val = &net->values[v];
    if (val->alias >= 0) {
      val->offset = net->values[val->alias].offset;
      continue;
    }
    val->offset = total;
    total += round_up(numel(val));
  }
  for (int i = 0; i < net->nops; i++) {
    int64_t n = net->ops[i].saved;
    net->ops[i].saved = total;
    total += round_up(n);
  }
  for (int v = 0; v < net->nvalues; v++) {
    nn_value *val = &net->values[v];
    val->goffset = -1;
    if (!val->needs_grad) continue;
    if (val->alias >= 0) {
      val->goffset = net->values[val->alias].goffset;
      continue;
    }
    val->goffset = gtotal;
    gtotal += round_up(numel(val));
  }
  st = reserve(&net->act, &net->act_cap, total);
  if (st == KUBO_OK) st = reserve(&net->grad, &net->grad_cap, gtotal);
  if (st != KUBO_OK) return st;

  for (int i = 0; i < ninputs; i++) {
    net->planned_ndim[i] = inputs[i].ndim;
    for (int d = 0; d < inputs[i].ndim; d++)
      net->planned_shape[i][d] = inputs[i].shape[d];
  }
  net->planned = true;
  return KUBO_OK;
}


static bool same_plan(const kubo_nn *net, int ninputs,
                      const kubo_tensor *inputs) {
  if (!net->planned) return false;
  for (int i = 0; i < ninputs; i++) {
    if (net->planned_ndim[i] != inputs[i].ndim) return false;
    for (int d = 0; d < inputs[i].ndim; d++)
      if (net->planned_shape[i][d] != inputs[i].shape[d]) return false;
  }
  return true;
}


static void conv_geometry(const kubo_nn *net, const nn_op *op,
                          kubo_conv2d_geometry *g) {
  const nn_value *x = &net->values[op->in[0]];
  g->batch = x->shape[0];
  g->in_channels = op->u.conv.cin;
  g->out_channels = op->u.conv.cout;
  g->height = (int)x->shape[2];
  g->width = (int)x->shape[3];
  g->kernel = op->u.conv.kernel;
  g->stride = op->u.conv.stride;
  g->periodic = op->u.conv.periodic;
  g->upsample = op->u.conv.upsample;
}


/* ---------------------------------------------------------------------
** Forward
** ------------------------------------------------------------------- */

static kubo_status forward_op(kubo_nn *net, nn_op *op, const float *params,
                              const float *buffers) {
  const nn_value *xv = &net->values[op->in[0]];
  const nn_value *ov = &net->values[op->out];
  const float *x = net->act + xv->offset;
  const float *e = op->nin > 1 ? net->act + net->values[op->in[1]].offset
                               : NULL;
  float *out = net->act + ov->offset;
  const float *p = params + op->param;
  int64_t batch = xv->ndim > 0 ? xv->shape[0] : 1;

  switch (op->kind) {
    case NN_OP_LINEAR:
      kubo_linear_forward(out, x, p, op->u.linear.bias ?
                          p + (int64_t)op->u.linear.in * op->u.linear.out :
                          NULL, batch, op->u.linear.in, op->u.linear.out);
      return KUBO_OK;

    case NN_OP_CONV2D: {
      kubo_conv2d_geometry g;
      int64_t nw = (int64_t)op->u.conv.cout * op->u.conv.cin *
                   op->u.conv.kernel * op->u.conv.kernel;
      kubo_status st;
      conv_geometry(net, op, &g);
      st = kubo_conv2d_forward(out, x, p, op->u.conv.bias ? p + nw : NULL, &g,
                               &net->ws);
      return st == KUBO_OK ? st : kubo_error_prefix(st, "%s", op->label);
    }

    case NN_OP_GROUP_NORM: {
      float *saved = net->act + op->saved;
      int groups = op->u.norm.groups;
      kubo_group_norm_forward(out, saved, saved + batch * groups, x, p,
                              p + op->u.norm.channels, batch,
                              op->u.norm.channels, spatial(xv), groups,
                              op->u.norm.eps);
      return KUBO_OK;
    }

    case NN_OP_ACTIVATION:
      kubo_activation_forward(out, x, numel(xv), op->u.activation.act);
      return KUBO_OK;

    case NN_OP_FOURIER:
      kubo_fourier_forward(out, x, buffers + op->buffer, batch,
                           op->u.fourier.nfreq);
      return KUBO_OK;

    case NN_OP_NOISE_LEVEL:
      for (int64_t b = 0; b < batch; b++)
        out[b] = (float)(op->u.noise.a * log((double)x[b]) +
                         op->u.noise.b);
      return KUBO_OK;

    case NN_OP_CHANNEL_ADD: {
      float scale = op->u.cadd.per_sqrt_spatial ?
                    (float)(1.0 / sqrt((double)spatial(xv))) : 1.0f;
      /* out is x's storage */
      kubo_channel_add_forward(out, e, scale, batch, (int)xv->shape[1],
                               spatial(xv));
      return KUBO_OK;
    }

    case NN_OP_FILM:
      kubo_film_forward(out, x, e, batch, (int)xv->shape[1], spatial(xv));
      return KUBO_OK;

    case NN_OP_NOISE_SCALE: {
      float *factor = net->act + op->saved;
      for (int64_t b = 0; b < batch; b++)
        factor[b] = (float)(1.0 / sqrt((double)e[b] * e[b] +
                                       op->u.nscale.s2));
      kubo_sample_scale_forward(out, x, factor, batch, numel(xv) / batch);
      return KUBO_OK;
    }

    case NN_OP_UPSAMPLE:
      kubo_upsample_forward(out, x, batch, (int)xv->shape[1],
                            (int)xv->shape[2], (int)xv->shape[3]);
      return KUBO_OK;

    case NN_OP_CONCAT: {
      const nn_value *cv = &net->values[op->in[1]];
      kubo_concat_forward(out, x, e, batch, (int)xv->shape[1],
                          (int)cv->shape[1], spatial(xv));
      return KUBO_OK;
    }

    case NN_OP_ADD:
      kubo_add_forward(out, e, numel(xv));
      return KUBO_OK;

    case NN_OP_CENTER:
      kubo_center_forward(out, x, batch * xv->shape[1], spatial(xv));
      return KUBO_OK;

    case NN_OP_SPATIAL_MEAN:
      kubo_spatial_mean_forward(out, x, batch * xv->shape[1], spatial(xv));
      return KUBO_OK;
  }
  return KUBO_OK;
}


/* Copies t (any dtype and strides) into dst as float32. */
static kubo_status copy_in(float *dst, const kubo_tensor *t) {
  kubo_tensor tmp = {0};
  int64_t n = kubo_tensor_numel(t);
  kubo_status st;
  if (t->dtype == KUBO_FLOAT32 && kubo_tensor_is_contiguous(t)) {
    memcpy(dst, t->data, (size_t)n * sizeof(float));
    return KUBO_OK;
  }
  st = kubo_tensor_clone(&tmp, t, KUBO_FLOAT32);
  if (st != KUBO_OK) return st;
  memcpy(dst, tmp.data, (size_t)n * sizeof(float));
  kubo_tensor_release(&tmp);
  return KUBO_OK;
}


/* Makes *out a new float32 tensor of v's shape holding src. */
static kubo_status copy_out(kubo_tensor *out, const nn_value *v,
                            const float *src) {
  kubo_status st = kubo_tensor_init(out, KUBO_FLOAT32, v->ndim, v->shape);
  if (st != KUBO_OK) return st;
  memcpy(out->data, src, (size_t)numel(v) * sizeof(float));
  return KUBO_OK;
}


/* Checks and stores the noise levels in the sigma value. */
static kubo_status load_sigma(kubo_nn *net, const kubo_tensor *sigma,
                              int64_t batch) {
  float *dst = net->act + net->values[net->sigma].offset;
  int64_t n = kubo_tensor_numel(sigma);
  kubo_tensor flat = {0};
  kubo_status st;
  if (n != 1 && n != batch)
    return kubo_error_set(KUBO_EINVAL, "%s: sigma has %lld values, "
                          "expected 1 or the batch size %lld", net->kind,
                          (long long)n, (long long)batch);
  st = kubo_tensor_clone(&flat, sigma, KUBO_FLOAT64);
  if (st != KUBO_OK) return st;
  for (int64_t b = 0; b < batch; b++) {
    double s = ((const double *)flat.data)[n == 1 ? 0 : b];
    if (!(s > 0) || isinf(s)) {
      kubo_tensor_release(&flat);
      return kubo_error_set(KUBO_EINVAL, "%s: sigma must be positive and "
                            "finite (got %g at batch index %lld)",
                            net->kind, s, (long long)(n == 1 ? 0 : b));
    }
    dst[b] = (float)s;
  }
  kubo_tensor_release(&flat);
  return KUBO_OK;
}


static kubo_status check_inputs(const kubo_nn *net, int ninputs,
                                const kubo_tensor *inputs,
                                const kubo_tensor *sigma) {
  if (ninputs != net->ninputs)
    return kubo_error_set(KUBO_EINVAL, "%s: expected %d input%s, got %d",
                          net->kind, net->ninputs,
                          net->ninputs == 1 ? "" : "s", ninputs);
  for (int i = 0; i < ninputs; i++) {
    if (kubo_tensor_is_empty(&inputs[i]))
      return kubo_error_set(KUBO_EINVAL, "%s: input %d is an empty "
                            "(freed) tensor", net->kind, i + 1);
    if (inputs[i].ndim < 1 || inputs[i].ndim > 4)
      return kubo_error_set(KUBO_EINVAL, "%s: input %d has %d dimensions, "
                            "expected 1 to 4 with the batch first",
                            net->kind, i + 1, inputs[i].ndim);
  }
  if (net->sigma >= 0 && sigma == NULL)
    return kubo_error_set(KUBO_EINVAL, "%s: this network needs a noise "
                          "level: call forward(x, sigma)", net->kind);
  if (net->sigma < 0 && sigma != NULL)
    return kubo_error_set(KUBO_EINVAL, "%s: this layer takes no noise "
                          "level, but sigma was given", net->kind);
  if (net->spatial_multiple > 0) {
    const kubo_tensor *x = &inputs[0];
    if (x->ndim == 4 && (x->shape[2] % net->spatial_multiple != 0 ||
                         x->shape[3] % net->spatial_multiple != 0))
      return kubo_error_set(KUBO_EINVAL, "%s: input size %lldx%lld must be "
                            "a multiple of %d in both directions (each "
                            "level halves it)", net->kind,
                            (long long)x->shape[2], (long long)x->shape[3],
                            net->spatial_multiple);
  }
  return KUBO_OK;
}


kubo_status kubo_nn_forward(kubo_nn *net, int ninputs,
                            const kubo_tensor *inputs,
                            const kubo_tensor *sigma, kubo_tensor *out) {
  const float *params, *buffers;
  int64_t batch;
  kubo_status st = check_inputs(net, ninputs, inputs, sigma);
  memset(out, 0, sizeof *out);
  if (st != KUBO_OK) return st;
  batch = inputs[0].shape[0];

  if (!same_plan(net, ninputs, inputs)) {
    st = plan(net, ninputs, inputs, batch);
    if (st != KUBO_OK) return st;
  }
  net->forward_done = false;
  for (int i = 0; i < ninputs; i++) {
    st = copy_in(net->act + net->values[net->inputs[i]].offset, &inputs[i]);
    if (st != KUBO_OK) return st;
  }
  if (net->sigma >= 0) {
    st = load_sigma(net, sigma, batch);
    if (st != KUBO_OK) return st;
  }

  params = nn_params(net);
  buffers = nn_buffers(net);
  for (int i = 0; i < net->nops; i++) {
    st = forward_op(net, &net->ops[i], params, buffers);
    if (st != KUBO_OK) return st;
  }
  st = copy_out(out, &net->values[net->output],
                net->act + net->values[net->output].offset);
  if (st != KUBO_OK) return st;
  net->forward_done = true;
  return KUBO_OK;
}


/* ---------------------------------------------------------------------
** Backward
** ------------------------------------------------------------------- */

/* The gradient array of value v, or NULL if it needs none. */
static float *grad_of(kubo_nn *net, int v) {
  return net->values[v].needs_grad ? net->grad + net->values[v].goffset
                                   : NULL;
}


static kubo_status backward_op(kubo_nn *net, nn_op *op, const float *params,
                               float *grads, const float *buffers) {
  const nn_value *xv = &net->values[op->in[0]];
  const float *x = net->act + xv->offset;
  const float *e = op->nin > 1 ? net->act + net->values[op->in[1]].offset
                               : NULL;
  const float *dout = grad_of(net, op->out);
  float *dx = grad_of(net, op->in[0]);
  float *de = op->nin > 1 ? grad_of(net, op->in[1]) : NULL;
  const float *p = params + op->param;
  float *dp = grads + op->param;
  int64_t batch = xv->ndim > 0 ? xv->shape[0] : 1;

  if (dout == NULL) return KUBO_OK;   /* nothing depends on a parameter */
  switch (op->kind) {
    case NN_OP_LINEAR: {
      int64_t nw = (int64_t)op->u.linear.in * op->u.linear.out;
      kubo_linear_backward(dx, dp, op->u.linear.bias ? dp + nw : NULL, dout,
                           x, p, batch, op->u.linear.in, op->u.linear.out);
      return KUBO_OK;
    }

    case NN_OP_CONV2D: {
      kubo_conv2d_geometry g;
      int64_t nw = (int64_t)op->u.conv.cout * op->u.conv.cin *
                   op->u.conv.kernel * op->u.conv.kernel;
      conv_geometry(net, op, &g);
      return kubo_conv2d_backward(dx, dp, op->u.conv.bias ? dp + nw : NULL,
                                  dout, x, p, &g, &net->ws);
    }

    case NN_OP_GROUP_NORM: {
      const float *saved = net->act + op->saved;
      int groups = op->u.norm.groups;
      return kubo_group_norm_backward(dx, dp, dp + op->u.norm.channels,
                                      dout, x, saved,
                                      saved + batch * groups, p, batch,
                                      op->u.norm.channels, spatial(xv),
                                      groups);
    }

    case NN_OP_ACTIVATION:
      if (dx != NULL)
        kubo_activation_backward(dx, dout, x, numel(xv),
                                 op->u.activation.act);
      return KUBO_OK;

    case NN_OP_FOURIER:
      if (dx != NULL)
        kubo_fourier_backward(dx, dout, x, buffers + op->buffer, batch,
                              op->u.fourier.nfreq);
      return KUBO_OK;

    case NN_OP_NOISE_LEVEL:
      return KUBO_OK;   /* sigma takes no gradient */

    case NN_OP_CHANNEL_ADD:
      /* the gradient of x is dout itself (shared storage) */
      if (de != NULL) {
        float scale = op->u.cadd.per_sqrt_spatial ?
                      (float)(1.0 / sqrt((double)spatial(xv))) : 1.0f;
        kubo_channel_add_backward(de, dout, scale, batch,
                                  (int)xv->shape[1], spatial(xv));
      }
      return KUBO_OK;

    case NN_OP_FILM:
      kubo_film_backward(dx, de, dout, x, e, batch, (int)xv->shape[1],
                         spatial(xv));
      return KUBO_OK;

    case NN_OP_NOISE_SCALE:
      if (dx != NULL)
        kubo_sample_scale_backward(dx, dout, net->act + op->saved, batch,
                                   numel(xv) / batch);
      return KUBO_OK;

    case NN_OP_UPSAMPLE:
      if (dx != NULL)
        kubo_upsample_backward(dx, dout, batch, (int)xv->shape[1],
                               (int)xv->shape[2], (int)xv->shape[3]);
      return KUBO_OK;

    case NN_OP_CONCAT: {
      const nn_value *cv = &net->values[op->in[1]];
      kubo_concat_backward(dx, de, dout, batch, (int)xv->shape[1],
                           (int)cv->shape[1], spatial(xv));
      return KUBO_OK;
    }

    case NN_OP_ADD:
      /* x's gradient is dout itself; y gets a copy added */
      if (de != NULL) kubo_add_forward(de, dout, numel(xv));
      return KUBO_OK;

    case NN_OP_CENTER:
      if (dx != NULL)
        kubo_center_backward(dx, dout, batch * xv->shape[1], spatial(xv));
      return KUBO_OK;

    case NN_OP_SPATIAL_MEAN:
      if (dx != NULL)
        kubo_spatial_mean_backward(dx, dout, batch * xv->shape[1],
                                   spatial(xv));
      return KUBO_OK;
  }
  return KUBO_OK;
}


kubo_status kubo_nn_backward(kubo_nn *net, const kubo_tensor *dout,
                             int ninputs, kubo_tensor *dinputs) {
  const nn_value *ov = &net->values[net->output];
  const float *params, *buffers;
  float *grads;
  kubo_status st;
  bool fits;
  char b1[96], b2[96];

  for (int i = 0; dinputs != NULL && i < ninputs; i++)
    memset(&dinputs[i], 0, sizeof dinputs[i]);
  if (!net->forward_done)
    return kubo_error_set(KUBO_ESTATE, "%s: backward needs a forward call "
                          "first (the last forward failed or none ran)",
                          net->kind);
  if (dinputs != NULL && ninputs != net->ninputs)
    return kubo_error_set(KUBO_EINVAL, "%s: backward returns %d input "
                          "gradients, %d requested", net->kind,
                          net->ninputs, ninputs);
  if (kubo_tensor_is_empty(dout))
    return kubo_error_set(KUBO_EINVAL, "%s: output gradient is an empty "
                          "(freed) tensor", net->kind);
  fits = dout->ndim == ov->ndim;
  for (int d = 0; fits && d < ov->ndim; d++)
    fits = dout->shape[d] == ov->shape[d];
  if (!fits) {
    kubo_tensor_shape_string(dout, b1, sizeof b1);
    return kubo_error_set(KUBO_EINVAL, "%s: output gradient has shape %s, "
                          "expected the output's shape %s", net->kind, b1,
                          shape_text(ov, b2, sizeof b2));
  }

  /* every operation adds into its input gradients: start from zero */
  {
    int64_t n = net->grad_cap;
    float *g = net->grad;
    #pragma omp parallel for schedule(static) if (n >= 16 * NN_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i += 4096) {
      int64_t len = n - i < 4096 ? n - i : 4096;
      memset(g + i, 0, (size_t)len * sizeof(float));
    }
  }
  st = copy_in(net->grad + ov->goffset, dout);
  if (st != KUBO_OK) return st;

  params = nn_params(net);
  grads = nn_grads(net);
  buffers = nn_buffers(net);
  for (int i = net->nops - 1; i >= 0; i--) {
    st = backward_op(net, &net->ops[i], params, grads, buffers);
    if (st != KUBO_OK) return st;
  }

  for (int i = 0; dinputs != NULL && i < ninputs; i++) {
    const nn_value *iv = &net->values[net->inputs[i]];
    st = copy_out(&dinputs[i], iv, net->grad + iv->goffset);
    if (st != KUBO_OK) {
      for (int j = 0; j < i; j++) kubo_tensor_release(&dinputs[j]);
      return st;
    }
  }
  return KUBO_OK;
}
