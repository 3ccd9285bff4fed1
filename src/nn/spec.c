/*
** spec.c: rebuilding a network from its spec text, and cloning.
**
** Grammar (whitespace allowed between tokens):
**   layer := word '{' [item {',' item}] '}'
**   item  := word '=' value          options of a layer
**          | layer                   children of a sequential
**   value := number | word | '{' number {',' number} '}'
** Words are [A-Za-z_][A-Za-z0-9_]*; true and false are words.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "kubo/rng.h"

enum { MAX_OPTIONS = 32, MAX_LIST = 16, WORD_MAX = 32, MAX_DEPTH = 16,
       MAX_CHILDREN = 4096 };

typedef struct spec_option {
  char key[WORD_MAX];
  bool is_word, is_list, used;
  char word[WORD_MAX];
  double num;
  int nlist;
  double list[MAX_LIST];
} spec_option;

typedef struct spec_parser {
  const char *text;
  const char *p;
} spec_parser;

typedef struct spec_layer {
  char kind[WORD_MAX];
  int noptions;
  spec_option options[MAX_OPTIONS];
} spec_layer;


static kubo_status syntax(const spec_parser *ps, const char *what) {
  return kubo_error_set(KUBO_EINVAL, "nn spec: %s at character %d of "
                        "\"%.60s%s\"", what, (int)(ps->p - ps->text) + 1,
                        ps->text, strlen(ps->text) > 60 ? "..." : "");
}


static void skip_space(spec_parser *ps) {
  while (isspace((unsigned char)*ps->p)) ps->p++;
}


static bool accept(spec_parser *ps, char c) {
  skip_space(ps);
  if (*ps->p != c) return false;
  ps->p++;
  return true;
}


static kubo_status read_word(spec_parser *ps, char *word) {
  int n = 0;
  skip_space(ps);
  if (!isalpha((unsigned char)*ps->p) && *ps->p != '_')
    return syntax(ps, "expected a name");
  while (isalnum((unsigned char)*ps->p) || *ps->p == '_') {
    if (n + 1 >= WORD_MAX) return syntax(ps, "name too long");
    word[n++] = *ps->p++;
  }
  word[n] = '\0';
  return KUBO_OK;
}


static kubo_status read_number(spec_parser *ps, double *x) {
  char *end;
  skip_space(ps);
  *x = strtod(ps->p, &end);
  if (end == ps->p) return syntax(ps, "expected a number");
  ps->p = end;
  return KUBO_OK;
}


static kubo_status read_value(spec_parser *ps, spec_option *opt) {
  skip_space(ps);
  if (accept(ps, '{')) {
    opt->is_list = true;
    if (accept(ps, '}')) return KUBO_OK;
    do {
      kubo_status st;
      if (opt->nlist == MAX_LIST) return syntax(ps, "list too long");
      st = read_number(ps, &opt->list[opt->nlist++]);
      if (st != KUBO_OK) return st;
    } while (accept(ps, ','));
    return accept(ps, '}') ? KUBO_OK : syntax(ps, "expected '}'");
  }
  if (isalpha((unsigned char)*ps->p) || *ps->p == '_') {
    opt->is_word = true;
    return read_word(ps, opt->word);
  }
  return read_number(ps, &opt->num);
}


/* Looks up an option, marking it used; NULL if absent. */
static spec_option *find(spec_layer *l, const char *key) {
  for (int i = 0; i < l->noptions; i++)
    if (strcmp(l->options[i].key, key) == 0) {
      l->options[i].used = true;
      return &l->options[i];
    }
  return NULL;
}


static kubo_status get_int(spec_layer *l, const char *key, int *v) {
  spec_option *o = find(l, key);
  if (o == NULL) return KUBO_OK;
  if (o->is_word || o->is_list || o->num != (int)o->num)
    return kubo_error_set(KUBO_EINVAL, "nn spec: %s option '%s' must be a "
                          "whole number", l->kind, key);
  *v = (int)o->num;
  return KUBO_OK;
}


static kubo_status get_num(spec_layer *l, const char *key, double *v) {
  spec_option *o = find(l, key);
  if (o == NULL) return KUBO_OK;
  if (o->is_word || o->is_list)
    return kubo_error_set(KUBO_EINVAL, "nn spec: %s option '%s' must be a "
                          "number", l->kind, key);
  *v = o->num;
  return KUBO_OK;
}


static kubo_status get_bool(spec_layer *l, const char *key, bool *v) {
  spec_option *o = find(l, key);
  if (o == NULL) return KUBO_OK;
  if (!o->is_word || (strcmp(o->word, "true") != 0 &&
                      strcmp(o->word, "false") != 0))
    return kubo_error_set(KUBO_EINVAL, "nn spec: %s option '%s' must be "
                          "true or false", l->kind, key);
  *v = strcmp(o->word, "true") == 0;
  return KUBO_OK;
}


static kubo_status get_list(spec_layer *l, const char *key, int *n,
                            int *values, int max) {
  spec_option *o = find(l, key);
  if (o == NULL) return KUBO_OK;
  if (!o->is_list || o->nlist > max)
    return kubo_error_set(KUBO_EINVAL, "nn spec: %s option '%s' must be a "
                          "list of at most %d whole numbers", l->kind, key,
                          max);
  for (int i = 0; i < o->nlist; i++) values[i] = (int)o->list[i];
  *n = o->nlist;
  return KUBO_OK;
}


static kubo_status check_all_used(const spec_layer *l) {
  for (int i = 0; i < l->noptions; i++)
    if (!l->options[i].used)
      return kubo_error_set(KUBO_EINVAL, "nn spec: unknown option '%s' for "
                            "%s", l->options[i].key, l->kind);
  return KUBO_OK;
}


/* Builds a layer other than sequential from its options. */
static kubo_status build_layer(spec_layer *l, uint64_t seed, kubo_nn **out) {
  kubo_status st = KUBO_OK;
  int act = kubo_activation_parse(l->kind);
  if (strcmp(l->kind, "linear") == 0) {
    int in = 0, outf = 0;
    bool bias = true;
    if ((st = get_int(l, "in", &in)) == KUBO_OK &&
        (st = get_int(l, "out", &outf)) == KUBO_OK &&
        (st = get_bool(l, "bias", &bias)) == KUBO_OK &&
        (st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_linear(out, in, outf, bias, seed);
  } else if (strcmp(l->kind, "conv2d") == 0) {
    kubo_nn_conv2d_config c;
    kubo_nn_conv2d_config_default(&c);
    if ((st = get_int(l, "in", &c.in_channels)) == KUBO_OK &&
        (st = get_int(l, "out", &c.out_channels)) == KUBO_OK &&
        (st = get_int(l, "kernel", &c.kernel)) == KUBO_OK &&
        (st = get_int(l, "stride", &c.stride)) == KUBO_OK &&
        (st = get_bool(l, "periodic", &c.periodic)) == KUBO_OK &&
        (st = get_bool(l, "bias", &c.bias)) == KUBO_OK &&
        (st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_conv2d(out, &c, seed);
  } else if (strcmp(l->kind, "group_norm") == 0) {
    int groups = 0, channels = 0;
    double eps = 1e-5;
    if ((st = get_int(l, "groups", &groups)) == KUBO_OK &&
        (st = get_int(l, "channels", &channels)) == KUBO_OK &&
        (st = get_num(l, "eps", &eps)) == KUBO_OK &&
        (st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_group_norm(out, groups, channels, eps);
  } else if (act >= 0) {
    if ((st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_activation(out, (kubo_activation)act);
  } else if (strcmp(l->kind, "fourier_embedding") == 0) {
    int size = 0;
    double scale = 30;
    bool dense = true;
    if ((st = get_int(l, "size", &size)) == KUBO_OK &&
        (st = get_num(l, "scale", &scale)) == KUBO_OK &&
        (st = get_bool(l, "dense", &dense)) == KUBO_OK &&
        (st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_fourier_embedding(out, size, scale, dense, seed);
  } else if (strcmp(l->kind, "embed_bias") == 0) {
    int embed = 0, channels = 0;
    if ((st = get_int(l, "embed", &embed)) == KUBO_OK &&
        (st = get_int(l, "channels", &channels)) == KUBO_OK &&
        (st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_embed_bias(out, embed, channels, seed);
  } else if (strcmp(l->kind, "upsample") == 0) {
    if ((st = check_all_used(l)) == KUBO_OK) st = kubo_nn_upsample(out);
  } else if (strcmp(l->kind, "concat") == 0) {
    if ((st = check_all_used(l)) == KUBO_OK) st = kubo_nn_concat(out);
  } else if (strcmp(l->kind, "mlp") == 0) {
    kubo_nn_mlp_config c;
    char act_name[WORD_MAX] = "swish";
    spec_option *o;
    kubo_nn_mlp_config_default(&c);
    if ((o = find(l, "activation")) != NULL) {
      if (!o->is_word || kubo_activation_parse(o->word) < 0)
        return kubo_error_set(KUBO_EINVAL, "nn spec: mlp option "
                              "'activation' must be swish, relu or tanh");
      snprintf(act_name, sizeof act_name, "%s", o->word);
    }
    c.activation = (kubo_activation)kubo_activation_parse(act_name);
    if ((st = get_list(l, "sizes", &c.nsizes, c.sizes,
                       KUBO_NN_MAX_SIZES)) == KUBO_OK &&
        (st = get_int(l, "embed", &c.embed)) == KUBO_OK &&
        (st = get_num(l, "embed_scale", &c.embed_scale)) == KUBO_OK &&
        (st = get_num(l, "sigma_min", &c.sigma_min)) == KUBO_OK &&
        (st = get_num(l, "sigma_max", &c.sigma_max)) == KUBO_OK &&
        (st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_mlp(out, &c, seed);
  } else if (strcmp(l->kind, "unet") == 0) {
    kubo_nn_unet_config c;
    kubo_nn_unet_config_default(&c);
    if ((st = get_list(l, "channels", &c.nlevels, c.channels,
                       KUBO_NN_MAX_LEVELS)) == KUBO_OK &&
        (st = get_int(l, "blocks", &c.blocks)) == KUBO_OK &&
        (st = get_int(l, "embed", &c.embed)) == KUBO_OK &&
        (st = get_num(l, "embed_scale", &c.embed_scale)) == KUBO_OK &&
        (st = get_bool(l, "periodic", &c.periodic)) == KUBO_OK &&
        (st = get_int(l, "in_channels", &c.in_channels)) == KUBO_OK &&
        (st = get_int(l, "kernel", &c.kernel)) == KUBO_OK &&
        (st = get_bool(l, "mean_bypass", &c.mean_bypass)) == KUBO_OK &&
        (st = get_bool(l, "scale_mean_bypass", &c.scale_mean_bypass)) ==
          KUBO_OK &&
        (st = get_bool(l, "shift_input", &c.shift_input)) == KUBO_OK &&
        (st = get_bool(l, "shift_output", &c.shift_output)) == KUBO_OK &&
        (st = get_bool(l, "gnorm", &c.gnorm)) == KUBO_OK &&
        (st = get_int(l, "groups_first", &c.groups_first)) == KUBO_OK &&
        (st = get_int(l, "groups", &c.groups)) == KUBO_OK &&
        (st = get_num(l, "sigma_min", &c.sigma_min)) == KUBO_OK &&
        (st = get_num(l, "sigma_max", &c.sigma_max)) == KUBO_OK &&
        (st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_unet(out, &c, seed);
  } else if (strcmp(l->kind, "local_score") == 0) {
    kubo_nn_local_config c;
    kubo_nn_local_config_default(&c);
    if ((st = get_int(l, "channels", &c.channels)) == KUBO_OK &&
        (st = get_int(l, "depth", &c.depth)) == KUBO_OK &&
        (st = get_int(l, "embed", &c.embed)) == KUBO_OK &&
        (st = get_num(l, "embed_scale", &c.embed_scale)) == KUBO_OK &&
        (st = get_bool(l, "periodic", &c.periodic)) == KUBO_OK &&
        (st = get_int(l, "in_channels", &c.in_channels)) == KUBO_OK &&
        (st = get_num(l, "data_std", &c.data_std)) == KUBO_OK &&
        (st = get_num(l, "sigma_min", &c.sigma_min)) == KUBO_OK &&
        (st = get_num(l, "sigma_max", &c.sigma_max)) == KUBO_OK &&
        (st = check_all_used(l)) == KUBO_OK)
      st = kubo_nn_local_score(out, &c, seed);
  } else {
    return kubo_error_set(KUBO_EINVAL, "nn spec: unknown layer '%s'",
                          l->kind);
  }
  return st;
}


static kubo_status parse_net(spec_parser *ps, uint64_t seed, int depth,
                             kubo_nn **out);


/* Parses the children of a sequential up to its closing brace. */
static kubo_status parse_sequential(spec_parser *ps, uint64_t seed,
                                    int depth, kubo_nn **out) {
  kubo_nn **children = NULL;
  int n = 0, cap = 0;
  kubo_status st = KUBO_OK;
  if (!accept(ps, '}')) {
    do {
      if (n == cap) {
        kubo_nn **bigger;
        cap = cap ? 2 * cap : 8;
        if (cap > MAX_CHILDREN) {
          st = syntax(ps, "too many layers in a sequential");
          break;
        }
        bigger = realloc(children, (size_t)cap * sizeof *children);
        if (bigger == NULL) {
          st = kubo_error_set(KUBO_ENOMEM, "nn spec: out of memory");
          break;
        }
        children = bigger;
      }
      st = parse_net(ps, kubo_rng_substream(seed, (uint64_t)n), depth + 1,
                     &children[n]);
      if (st != KUBO_OK) break;
      n++;
    } while (accept(ps, ','));
    if (st == KUBO_OK && !accept(ps, '}')) st = syntax(ps, "expected '}'");
  }
  if (st == KUBO_OK) st = kubo_nn_sequential(out, n, children);
  /* the container keeps what it needs of each child */
  for (int i = 0; i < n; i++) kubo_nn_free(children[i]);
  free(children);
  return st;
}


static kubo_status parse_net(spec_parser *ps, uint64_t seed, int depth,
                             kubo_nn **out) {
  spec_layer *l;
  kubo_status st;
  *out = NULL;
  if (depth > MAX_DEPTH) return syntax(ps, "layers nested too deeply");
  l = calloc(1, sizeof *l);
  if (l == NULL) return kubo_error_set(KUBO_ENOMEM, "nn spec: out of memory");
  st = read_word(ps, l->kind);
  if (st == KUBO_OK && !accept(ps, '{')) st = syntax(ps, "expected '{'");
  if (st == KUBO_OK && strcmp(l->kind, "sequential") == 0) {
    free(l);
    return parse_sequential(ps, seed, depth, out);
  }
  if (st == KUBO_OK && !accept(ps, '}')) {
    do {
      spec_option *opt;
      if (l->noptions == MAX_OPTIONS) {
        st = syntax(ps, "too many options");
        break;
      }
      opt = &l->options[l->noptions++];
      st = read_word(ps, opt->key);
      if (st == KUBO_OK && !accept(ps, '=')) st = syntax(ps, "expected '='");
      if (st == KUBO_OK) st = read_value(ps, opt);
      if (st != KUBO_OK) break;
    } while (accept(ps, ','));
    if (st == KUBO_OK && !accept(ps, '}')) st = syntax(ps, "expected '}'");
  }
  if (st == KUBO_OK) st = build_layer(l, seed, out);
  free(l);
  return st;
}


kubo_status kubo_nn_from_spec(kubo_nn **out, const char *spec,
                              uint64_t seed) {
  spec_parser ps = {spec, spec};
  kubo_status st = parse_net(&ps, seed, 0, out);
  if (st != KUBO_OK) return st;
  skip_space(&ps);
  if (*ps.p != '\0') {
    kubo_nn_free(*out);
    *out = NULL;
    return syntax(&ps, "unexpected text after the layer");
  }
  return KUBO_OK;
}


kubo_status kubo_nn_clone(kubo_nn **out, const kubo_nn *net) {
  kubo_status st = kubo_nn_from_spec(out, net->spec, 0);
  if (st != KUBO_OK) return st;
  if ((*out)->nparam != net->nparam || (*out)->nbuffer != net->nbuffer) {
    kubo_nn_free(*out);
    *out = NULL;
    return kubo_error_set(KUBO_EINVAL, "%s: internal error: the spec "
                          "rebuilds a network of another size", net->kind);
  }
  memcpy(nn_params(*out), nn_params(net),
         (size_t)net->nparam * sizeof(float));
  memcpy(nn_buffers(*out), nn_buffers(net),
         (size_t)net->nbuffer * sizeof(float));
  return KUBO_OK;
}
