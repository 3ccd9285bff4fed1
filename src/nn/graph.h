/*
** graph.h: the inside of a kubo_nn (src/nn only).
**
** A network is a fixed list of operations over numbered values
** (activation arrays). Construction appends operations with the builder
** functions below, then nn_finish allocates the parameter block and
** initialises it. Forward runs the operations in order; backward runs
** them in reverse, each adding into the gradients of its inputs.
**
** Values have a shape only once forward has seen the input shape. This
** "plan" lets each operation check its inputs and set its output shape.
** Every value then gets an offset in one activation array and, if it
** needs a gradient, in one gradient array.
**
** In-place operations (channel_add, add) write into their first input:
** the output value is an alias that shares the input's storage and
** gradient storage. This is valid because the builders only apply them
** to a value that nothing else reads and whose producer's backward does
** not read its own output.
*/
#ifndef KUBO_NN_GRAPH_H
#define KUBO_NN_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubo/nn.h"
#include "kubo/tensor.h"

enum { NN_MAX_INPUTS = 2, NN_NAME_MAX = 96 };

typedef enum nn_op_kind {
  NN_OP_LINEAR,        /* in: x (B, I) */
  NN_OP_CONV2D,        /* in: x (B, Ci, H, W) */
  NN_OP_GROUP_NORM,    /* in: x (B, C, ...) */
  NN_OP_ACTIVATION,    /* in: x, any shape */
  NN_OP_FOURIER,       /* in: t (B) or (B, 1) */
  NN_OP_NOISE_LEVEL,   /* in: sigma (B); out: a ln(sigma) + b */
  NN_OP_CHANNEL_ADD,   /* in: x (B, C, ...), e (B, C); in place on x */
  NN_OP_FILM,          /* in: x (B, C, ...), e (B, 2C) */
  NN_OP_NOISE_SCALE,   /* in: x (B, ...), sigma (B) */
  NN_OP_UPSAMPLE,      /* in: x (B, C, H, W) */
  NN_OP_CONCAT,        /* in: a (B, Ca, ...), c (B, Cc, ...) */
  NN_OP_ADD,           /* in: x, y of one shape; in place on x */
  NN_OP_CENTER,        /* in: x (B, C, ...) */
  NN_OP_SPATIAL_MEAN   /* in: x (B, C, H, W); out (B, C, 1, 1) */
} nn_op_kind;

typedef struct nn_value {
  int alias;             /* value whose storage this one shares, or -1 */
  bool needs_grad;
  bool is_sigma;         /* the noise-level input */
  /* set by the plan */
  int ndim;
  int64_t shape[4];
  int64_t offset;        /* floats into act */
  int64_t goffset;       /* floats into grad, or -1 */
} nn_value;

typedef struct nn_op {
  nn_op_kind kind;
  int nin;
  int in[NN_MAX_INPUTS];
  int out;
  int64_t param;         /* first parameter, relative to the net's block */
  int64_t buffer;        /* first fixed buffer */
  int64_t saved;         /* floats into act for saved statistics (plan) */
  union {
    struct { int in, out; bool bias; } linear;
    struct {
      int cin, cout, kernel, stride;
      bool periodic, upsample, bias;
    } conv;
    struct { int groups, channels; float eps; } norm;
    struct { kubo_activation act; } activation;
    struct { int nfreq; } fourier;
    struct { double a, b; } noise;        /* c = a ln(sigma) + b */
    struct { bool per_sqrt_spatial; } cadd;   /* e scaled by 1/sqrt(S) */
    struct { double s2; } nscale;         /* factor 1/sqrt(sigma^2+s2) */
  } u;
  char label[NN_NAME_MAX];   /* for messages: "unet enc1.conv" */
} nn_op;

/* Initialisation of one array. */
typedef enum nn_init {
  NN_INIT_UNIFORM,     /* U(-arg, arg) */
  NN_INIT_ONES,
  NN_INIT_ZEROS,
  NN_INIT_NORMAL       /* N(0, arg^2) */
} nn_init;

typedef struct nn_array {
  char name[NN_NAME_MAX];
  int ndim;
  int64_t shape[4];
  int64_t offset, size;
  bool buffer;
  nn_init init;
  double arg;
} nn_array;

/* The blocks of parameters, gradients and buffers. A container that
** adopts a layer copies the layer's blocks into its own and sets parent:
** the layer then resolves its blocks through the chain of parents. */
typedef struct nn_arena {
  long refcount;
  kubo_tensor params, grads, buffers;   /* 1-D float32 */
  struct nn_arena *parent;
  int64_t pshift, bshift;               /* position inside parent */
} nn_arena;

struct kubo_nn {
  char kind[24];
  char *spec;
  nn_arena *arena;
  int64_t nparam, nbuffer;
  nn_array *arrays;
  int narrays, arrays_cap;
  nn_op *ops;
  int nops, ops_cap;
  nn_value *values;
  int nvalues, values_cap;
  int inputs[NN_MAX_INPUTS];
  int ninputs;
  int sigma;               /* value of the noise level, or -1 */
  int output;
  int spatial_multiple;    /* H and W must be multiples of this (0: any) */
  kubo_status build_status;

  /* run-time state */
  bool planned;
  int planned_ndim[NN_MAX_INPUTS];
  int64_t planned_shape[NN_MAX_INPUTS][4];
  float *act;
  int64_t act_cap;
  float *grad;
  int64_t grad_cap;
  kubo_nn_workspace ws;
  bool forward_done;
};


/* ---------------------------------------------------------------------
** Builders. They record the first failure in net->build_status and then
** do nothing (returning -1), so that a constructor checks once, in
** nn_finish.
** ------------------------------------------------------------------- */

kubo_status nn_new(kubo_nn **out, const char *kind);
int nn_input(kubo_nn *net);
int nn_sigma(kubo_nn *net);

/* Each returns the output value. name ("enc1.conv", or "" in a single
** layer) prefixes the array names and appears in error messages. */
int nn_linear(kubo_nn *net, const char *name, int x, int in, int out,
              bool bias);
int nn_conv2d(kubo_nn *net, const char *name, int x, int cin, int cout,
              int kernel, int stride, bool periodic, bool upsample,
              bool bias);
int nn_group_norm(kubo_nn *net, const char *name, int x, int groups,
                  int channels, float eps);
int nn_activation(kubo_nn *net, const char *name, int x,
                  kubo_activation act);
int nn_fourier(kubo_nn *net, const char *name, int t, int size,
               double scale);
int nn_noise_level(kubo_nn *net, const char *name, int sigma, double a,
                   double b);
int nn_channel_add(kubo_nn *net, const char *name, int x, int e,
                   bool per_sqrt_spatial);
int nn_film(kubo_nn *net, const char *name, int x, int e);
int nn_noise_scale(kubo_nn *net, const char *name, int x, int sigma,
                   double s2);
int nn_upsample(kubo_nn *net, const char *name, int x);
int nn_concat(kubo_nn *net, const char *name, int a, int c);
int nn_add(kubo_nn *net, const char *name, int x, int y);
int nn_center(kubo_nn *net, const char *name, int x);
int nn_spatial_mean(kubo_nn *net, const char *name, int x);

/* Sets the output, allocates the blocks and, if init, draws the
** parameters from seed; records spec. Returns net->build_status. */
kubo_status nn_finish(kubo_nn *net, int output, const char *spec,
                      bool init, uint64_t seed);

/* Appends child's operations to net, with the child's first (and only)
** input mapped to value x. param_shift and buffer_shift place the
** child's arrays. Returns the value of the child's output. */
int nn_append(kubo_nn *net, const kubo_nn *child, int x, const char *prefix,
              const char *array_prefix, int64_t param_shift,
              int64_t buffer_shift);

/* Resolves the network's blocks through adoption. */
float *nn_params(const kubo_nn *net);
float *nn_grads(const kubo_nn *net);
float *nn_buffers(const kubo_nn *net);
nn_arena *nn_arena_root(const kubo_nn *net, int64_t *pshift,
                        int64_t *bshift);

/* Groups for a group norm over channels: the largest divisor of channels
** that is at most want. */
int nn_groups_for(int channels, int want);


/* snprintf that truncates names silently (labels and array names are
** for messages and files; truncation only shortens them). */
void nn_format(char *dst, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;


/* ---------------------------------------------------------------------
** A growing string, for specs
** ------------------------------------------------------------------- */

typedef struct nn_str {
  char *data;
  size_t len, cap;
  bool failed;
} nn_str;

void nn_str_add(nn_str *s, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;
/* Returns the string (the caller frees it with free()) or NULL and sets
** KUBO_ENOMEM. */
char *nn_str_take(nn_str *s);

#endif
