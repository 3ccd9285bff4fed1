/*
** nn.c: the kubo.nn module (layers, networks, the MSE loss) and the
** kubo.nn.Module class.
*/
#include <math.h>
#include <string.h>

#include "kb.h"
#include "kubo/nn.h"
#include "kubo/rng.h"

/* Layers built without a seed take stream `next_layer` of `base_seed`
** (one Lua state per program, so these are process-wide). */
static uint64_t base_seed = 0;
static uint64_t next_layer = 0;


/* ---------------------------------------------------------------------
** The userdata: created empty with its metatable, then filled, so that
** __gc always finds a valid (possibly NULL) pointer.
** ------------------------------------------------------------------- */

typedef struct kb_module {
  kubo_nn *net;
} kb_module;


static kb_module *new_module(lua_State *L) {
  kb_module *m = lua_newuserdatauv(L, sizeof *m, 0);
  m->net = NULL;
  luaL_setmetatable(L, KB_MODULE);
  return m;
}


/* Pushes a new Module holding net (which it then owns). */
static void push_module(lua_State *L, kb_module *m, kubo_nn *net) {
  m->net = net;
  kb_account(L, (size_t)(2 * kubo_nn_num_parameters(net) +
                         kubo_nn_num_buffers(net)) * sizeof(float));
}


kubo_nn *kb_module_test(lua_State *L, int idx) {
  kb_module *m = luaL_testudata(L, idx, KB_MODULE);
  return m != NULL ? m->net : NULL;
}


kubo_nn *kb_module_check(lua_State *L, int idx) {
  kb_module *m = luaL_checkudata(L, idx, KB_MODULE);
  if (m->net == NULL) luaL_argerror(L, idx, "attempt to use a freed module");
  return m->net;
}


/* ---------------------------------------------------------------------
** Options tables
** ------------------------------------------------------------------- */

void kb_nn_check_options(lua_State *L, int idx, const char *fname,
                         const char *const *valid) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    bool known = false;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -1);
      for (int i = 0; valid[i] != NULL && !known; i++)
        known = strcmp(key, valid[i]) == 0;
    }
    if (!known) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int i = 0; valid[i] != NULL; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, valid[i]);
      }
      luaL_pushresult(&b);
      luaL_error(L, "%s: unknown option '%s' (valid: %s)", fname,
                 luaL_tolstring(L, -2, NULL), lua_tostring(L, -1));
    }
  }
}


int kb_nn_opt_int(lua_State *L, int idx, const char *fname,
                  const char *key, int def, int lo, int hi) {
  int isint = 0;
  lua_Integer v;
  if (lua_getfield(L, idx, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  v = lua_tointegerx(L, -1, &isint);
  if (!isint || v < lo || v > hi)
    luaL_error(L, "%s: %s must be a whole number from %d to %d (got %s)",
               fname, key, lo, hi, luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
  return (int)v;
}


double kb_nn_opt_number(lua_State *L, int idx, const char *fname,
                        const char *key, double def) {
  int isnum = 0;
  double v;
  if (lua_getfield(L, idx, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  v = lua_tonumberx(L, -1, &isnum);
  if (!isnum)
    luaL_error(L, "%s: %s must be a number (got %s)", fname, key,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}


int kb_nn_opt_bool(lua_State *L, int idx, const char *fname,
                   const char *key, int def) {
  int v;
  if (lua_getfield(L, idx, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  if (!lua_isboolean(L, -1))
    luaL_error(L, "%s: %s must be true or false (got %s)", fname, key,
               luaL_typename(L, -1));
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}


/* Reads a list of whole numbers from field key into values; returns the
** count (0 if absent). */
static int opt_int_list(lua_State *L, int idx, const char *fname,
                        const char *key, int *values, int max) {
  lua_Integer n;
  if (lua_getfield(L, idx, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "%s: %s must be a list of whole numbers (got %s)", fname,
               key, luaL_typename(L, -1));
  n = luaL_len(L, -1);
  if (n < 1 || n > max)
    luaL_error(L, "%s: %s must have 1 to %d entries (got %I)", fname, key,
               max, n);
  for (int i = 0; i < (int)n; i++) {
    int isint = 0;
    lua_Integer v;
    lua_geti(L, -1, i + 1);
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1 || v > (1 << 20))
      luaL_error(L, "%s: %s[%d] must be a positive whole number (got %s)",
                 fname, key, i + 1, luaL_tolstring(L, -1, NULL));
    values[i] = (int)v;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return (int)n;
}


/* The seed option, or the next stream of the module's base seed. */
static uint64_t opt_seed(lua_State *L, int idx, const char *fname) {
  int isint = 0;
  lua_Integer v;
  if (idx == 0 || lua_getfield(L, idx, "seed") == LUA_TNIL) {
    if (idx != 0) lua_pop(L, 1);
    return kubo_rng_substream(base_seed, next_layer++);
  }
  v = lua_tointegerx(L, -1, &isint);
  if (!isint || v < 0)
    luaL_error(L, "%s: seed must be a non-negative whole number", fname);
  lua_pop(L, 1);
  return (uint64_t)v;
}


static kubo_activation opt_activation(lua_State *L, int idx,
                                      const char *fname) {
  int act;
  const char *name;
  if (lua_getfield(L, idx, "activation") == LUA_TNIL) {
    lua_pop(L, 1);
    return KUBO_ACT_SWISH;
  }
  name = lua_tostring(L, -1);
  act = name != NULL ? kubo_activation_parse(name) : -1;
  if (act < 0)
    luaL_error(L, "%s: activation must be \"swish\", \"relu\" or \"tanh\" "
               "(got %s)", fname, luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
  return (kubo_activation)act;
}


/* ---------------------------------------------------------------------
** Constructors
** ------------------------------------------------------------------- */

/* Reads the layer size at idx: a whole number from 1 to 2^20, the bound
** of the table options. */
static int check_size(lua_State *L, int idx, const char *fname,
                      const char *name) {
  int64_t v = kb_check_int(L, idx, name);
  if (v < 1 || v > (1 << 20))
    luaL_argerror(L, idx, lua_pushfstring(L, "%s: %s must be between 1 "
                  "and %d (got %I)", fname, name, 1 << 20,
                  (lua_Integer)v));
  return (int)v;
}


static int l_linear(lua_State *L) {
  static const char *const valid[] = {"in", "out", "bias", "seed", NULL};
  int in, out, opts = 0;
  bool bias = true;
  kubo_nn *net;
  kb_module *m;
  if (lua_istable(L, 1)) {
    opts = 1;
    kb_nn_check_options(L, 1, "nn.linear", valid);
    in = kb_nn_opt_int(L, 1, "nn.linear", "in", 0, 1, 1 << 20);
    out = kb_nn_opt_int(L, 1, "nn.linear", "out", 0, 1, 1 << 20);
    if (in == 0 || out == 0)
      return luaL_error(L, "nn.linear: in and out are required, e.g. "
                        "nn.linear{in = 2, out = 8}");
  } else {
    in = check_size(L, 1, "nn.linear", "in");
    out = check_size(L, 2, "nn.linear", "out");
    if (lua_istable(L, 3)) {
      opts = 3;
      kb_nn_check_options(L, 3, "nn.linear", valid + 2);
    }
  }
  if (opts) bias = kb_nn_opt_bool(L, opts, "nn.linear", "bias", true);
  m = new_module(L);
  KB_TRY(L, kubo_nn_linear(&net, in, out, bias,
                           opt_seed(L, opts, "nn.linear")));
  push_module(L, m, net);
  return 1;
}


static int l_conv2d(lua_State *L) {
  static const char *const valid[] = {"in_channels", "out_channels",
                                      "kernel", "stride", "periodic", "bias",
                                      "seed", NULL};
  const char *f = "nn.conv2d";
  kubo_nn_conv2d_config cfg;
  kubo_nn *net;
  kb_module *m;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  kubo_nn_conv2d_config_default(&cfg);
  cfg.in_channels = kb_nn_opt_int(L, 1, f, "in_channels", 0, 1, 1 << 20);
  cfg.out_channels = kb_nn_opt_int(L, 1, f, "out_channels", 0, 1, 1 << 20);
  if (cfg.in_channels == 0 || cfg.out_channels == 0)
    return luaL_error(L, "nn.conv2d: in_channels and out_channels are "
                      "required");
  cfg.kernel = kb_nn_opt_int(L, 1, f, "kernel", 3, 1, 31);
  cfg.stride = kb_nn_opt_int(L, 1, f, "stride", 1, 1, 16);
  cfg.periodic = kb_nn_opt_bool(L, 1, f, "periodic", true);
  cfg.bias = kb_nn_opt_bool(L, 1, f, "bias", true);
  m = new_module(L);
  KB_TRY(L, kubo_nn_conv2d(&net, &cfg, opt_seed(L, 1, f)));
  push_module(L, m, net);
  return 1;
}


static int l_group_norm(lua_State *L) {
  static const char *const valid[] = {"groups", "channels", "eps", NULL};
  const char *f = "nn.group_norm";
  int groups, channels;
  double eps;
  kubo_nn *net;
  kb_module *m;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  groups = kb_nn_opt_int(L, 1, f, "groups", 0, 1, 1 << 20);
  channels = kb_nn_opt_int(L, 1, f, "channels", 0, 1, 1 << 20);
  if (groups == 0 || channels == 0)
    return luaL_error(L, "nn.group_norm: groups and channels are required");
  eps = kb_nn_opt_number(L, 1, f, "eps", 1e-5);
  if (!(eps > 0))
    return luaL_error(L, "nn.group_norm: eps must be positive (got %f)",
                      eps);
  m = new_module(L);
  KB_TRY(L, kubo_nn_group_norm(&net, groups, channels, eps));
  push_module(L, m, net);
  return 1;
}


static int activation(lua_State *L, kubo_activation act) {
  kubo_nn *net;
  kb_module *m = new_module(L);
  KB_TRY(L, kubo_nn_activation(&net, act));
  push_module(L, m, net);
  return 1;
}


static int l_swish(lua_State *L) { return activation(L, KUBO_ACT_SWISH); }
static int l_relu(lua_State *L) { return activation(L, KUBO_ACT_RELU); }
static int l_tanh(lua_State *L) { return activation(L, KUBO_ACT_TANH); }


static int l_fourier_embedding(lua_State *L) {
  static const char *const valid[] = {"size", "scale", "dense", "seed",
                                      NULL};
  const char *f = "nn.fourier_embedding";
  int size;
  double scale;
  bool dense;
  kubo_nn *net;
  kb_module *m;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  size = kb_nn_opt_int(L, 1, f, "size", 0, 2, 1 << 20);
  if (size == 0) return luaL_error(L, "nn.fourier_embedding: size is "
                                   "required");
  scale = kb_nn_opt_number(L, 1, f, "scale", 30);
  dense = kb_nn_opt_bool(L, 1, f, "dense", true);
  m = new_module(L);
  KB_TRY(L, kubo_nn_fourier_embedding(&net, size, scale, dense,
                                      opt_seed(L, 1, f)));
  push_module(L, m, net);
  return 1;
}


static int l_embed_bias(lua_State *L) {
  static const char *const valid[] = {"embed", "channels", "seed", NULL};
  const char *f = "nn.embed_bias";
  int embed, channels;
  kubo_nn *net;
  kb_module *m;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  embed = kb_nn_opt_int(L, 1, f, "embed", 0, 1, 1 << 20);
  channels = kb_nn_opt_int(L, 1, f, "channels", 0, 1, 1 << 20);
  if (embed == 0 || channels == 0)
    return luaL_error(L, "nn.embed_bias: embed and channels are required");
  m = new_module(L);
  KB_TRY(L, kubo_nn_embed_bias(&net, embed, channels, opt_seed(L, 1, f)));
  push_module(L, m, net);
  return 1;
}


static int l_upsample(lua_State *L) {
  kubo_nn *net;
  kb_module *m = new_module(L);
  KB_TRY(L, kubo_nn_upsample(&net));
  push_module(L, m, net);
  return 1;
}


static int l_concat(lua_State *L) {
  kubo_nn *net;
  kb_module *m = new_module(L);
  KB_TRY(L, kubo_nn_concat(&net));
  push_module(L, m, net);
  return 1;
}


static int l_sequential(lua_State *L) {
  kubo_nn **children;
  int n;
  kubo_nn *net;
  kb_module *m;
  kubo_status st;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer len = luaL_len(L, 1);
  if (len < 1)
    return luaL_error(L, "nn.sequential: needs a list of at least one "
                      "layer, e.g. nn.sequential{nn.linear(1, 8), "
                      "nn.swish()}");
  if (len > (1 << 20))
    return luaL_error(L, "nn.sequential: at most %d layers (got %I)",
                      1 << 20, len);
  n = (int)len;
  children = lua_newuserdatauv(L, (size_t)n * sizeof *children, 0);
  for (int i = 0; i < n; i++) {
    kb_module *c;
    lua_geti(L, 1, i + 1);
    c = luaL_testudata(L, -1, KB_MODULE);
    if (c == NULL || c->net == NULL)
      return luaL_error(L, "nn.sequential: entry %d is a %s, expected a "
                        "layer (kubo.nn.Module)", i + 1,
                        c == NULL ? luaL_typename(L, -1) : "freed module");
    children[i] = c->net;
    lua_pop(L, 1);
  }
  m = new_module(L);
  st = kubo_nn_sequential(&net, n, children);
  if (st != KUBO_OK) return kb_raise(L);
  push_module(L, m, net);
  return 1;
}


static int l_mlp(lua_State *L) {
  static const char *const valid[] = {"sizes", "activation", "embed",
                                      "embed_scale", "sigma_min",
                                      "sigma_max", "seed", NULL};
  const char *f = "nn.mlp";
  kubo_nn_mlp_config cfg;
  kubo_nn *net;
  kb_module *m;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  kubo_nn_mlp_config_default(&cfg);
  cfg.nsizes = opt_int_list(L, 1, f, "sizes", cfg.sizes, KUBO_NN_MAX_SIZES);
  if (cfg.nsizes < 2)
    return luaL_error(L, "nn.mlp: sizes must list at least the input and "
                      "output sizes, e.g. sizes = {1, 64, 64, 1}");
  cfg.activation = opt_activation(L, 1, f);
  cfg.embed = kb_nn_opt_int(L, 1, f, "embed", 0, 0, 1 << 16);
  cfg.embed_scale = kb_nn_opt_number(L, 1, f, "embed_scale", 30);
  cfg.sigma_min = kb_nn_opt_number(L, 1, f, "sigma_min", 0);
  cfg.sigma_max = kb_nn_opt_number(L, 1, f, "sigma_max", 0);
  m = new_module(L);
  KB_TRY(L, kubo_nn_mlp(&net, &cfg, opt_seed(L, 1, f)));
  push_module(L, m, net);
  return 1;
}


static int l_unet(lua_State *L) {
  static const char *const valid[] = {
    "channels", "blocks", "embed", "embed_scale", "periodic",
    "in_channels", "kernel", "mean_bypass", "scale_mean_bypass",
    "shift_input", "shift_output", "gnorm", "groups_first", "groups",
    "sigma_min", "sigma_max", "seed", NULL};
  const char *f = "nn.unet";
  kubo_nn_unet_config cfg;
  kubo_nn *net;
  kb_module *m;
  int n;
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);

  kubo_nn_unet_config_default(&cfg);
  n = opt_int_list(L, 1, f, "channels", cfg.channels, KUBO_NN_MAX_LEVELS);
  if (n > 0) cfg.nlevels = n;
  cfg.blocks = kb_nn_opt_int(L, 1, f, "blocks", cfg.blocks, 0, 1000);
  cfg.embed = kb_nn_opt_int(L, 1, f, "embed", cfg.embed, 2, 1 << 16);
  cfg.embed_scale = kb_nn_opt_number(L, 1, f, "embed_scale", cfg.embed_scale);
  cfg.periodic = kb_nn_opt_bool(L, 1, f, "periodic", cfg.periodic);
  cfg.in_channels = kb_nn_opt_int(L, 1, f, "in_channels", cfg.in_channels, 1,
                               1 << 16);
  cfg.kernel = kb_nn_opt_int(L, 1, f, "kernel", cfg.kernel, 1, 31);
  cfg.mean_bypass = kb_nn_opt_bool(L, 1, f, "mean_bypass", false);
  cfg.scale_mean_bypass = kb_nn_opt_bool(L, 1, f, "scale_mean_bypass", false);
  cfg.shift_input = kb_nn_opt_bool(L, 1, f, "shift_input", false);
  cfg.shift_output = kb_nn_opt_bool(L, 1, f, "shift_output", false);
  cfg.gnorm = kb_nn_opt_bool(L, 1, f, "gnorm", false);
  cfg.groups_first = kb_nn_opt_int(L, 1, f, "groups_first", cfg.groups_first,
                                1, 1 << 16);
  cfg.groups = kb_nn_opt_int(L, 1, f, "groups", cfg.groups, 1, 1 << 16);
  cfg.sigma_min = kb_nn_opt_number(L, 1, f, "sigma_min", 0);
  cfg.sigma_max = kb_nn_opt_number(L, 1, f, "sigma_max", 0);

  m = new_module(L);
  KB_TRY(L, kubo_nn_unet(&net, &cfg, opt_seed(L, 1, f)));
  push_module(L, m, net);
  return 1;
}


static int l_local_score(lua_State *L) {
  static const char *const valid[] = {
    "channels", "depth", "embed", "embed_scale", "periodic", "in_channels",
    "data_std", "sigma_min", "sigma_max", "seed", NULL};
  const char *f = "nn.local_score";
  kubo_nn_local_config cfg;
  kubo_nn *net;
  kb_module *m;
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  kubo_nn_local_config_default(&cfg);
  cfg.channels = kb_nn_opt_int(L, 1, f, "channels", cfg.channels, 1, 1 << 16);
  cfg.depth = kb_nn_opt_int(L, 1, f, "depth", cfg.depth, 1, 1000);
  cfg.embed = kb_nn_opt_int(L, 1, f, "embed", cfg.embed, 2, 1 << 16);
  cfg.embed_scale = kb_nn_opt_number(L, 1, f, "embed_scale", cfg.embed_scale);
  cfg.periodic = kb_nn_opt_bool(L, 1, f, "periodic", cfg.periodic);
  cfg.in_channels = kb_nn_opt_int(L, 1, f, "in_channels", cfg.in_channels, 1,
                               1 << 16);
  cfg.data_std = kb_nn_opt_number(L, 1, f, "data_std", cfg.data_std);
  cfg.sigma_min = kb_nn_opt_number(L, 1, f, "sigma_min", 0);
  cfg.sigma_max = kb_nn_opt_number(L, 1, f, "sigma_max", 0);
  m = new_module(L);
  KB_TRY(L, kubo_nn_local_score(&net, &cfg, opt_seed(L, 1, f)));
  push_module(L, m, net);
  return 1;
}


static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  kubo_nn *net;
  kb_module *m = new_module(L);
  KB_TRY(L, kubo_nn_load(&net, path));
  push_module(L, m, net);
  return 1;
}


static int l_seed(lua_State *L) {
  int64_t s = kb_check_int(L, 1, "seed");
  if (s < 0) return luaL_argerror(L, 1, "seed must be non-negative");
  base_seed = (uint64_t)s;
  next_layer = 0;
  return 0;
}


/* Makes *out a contiguous float32 copy (or view) of t. */
static void to_float32(lua_State *L, const kubo_tensor *t, kubo_tensor *out) {
  if (t->dtype == KUBO_FLOAT32 && kubo_tensor_is_contiguous(t)) {
    kubo_tensor_share(out, t);
    return;
  }
  if (kubo_tensor_clone(out, t, KUBO_FLOAT32) != KUBO_OK) kb_raise(L);
}


static int l_mse(lua_State *L) {
  kubo_tensor *y = kb_tensor_check(L, 1), *target = kb_tensor_check(L, 2);
  kubo_tensor yf = {0}, tf = {0}, dy = {0};
  double loss;
  char b1[96], b2[96];
  if (!kubo_tensor_same_shape(y, target))
    return luaL_error(L, "nn.mse: y has shape %s and target %s, expected "
                      "equal shapes",
                      kubo_tensor_shape_string(y, b1, sizeof b1),
                      kubo_tensor_shape_string(target, b2, sizeof b2));
  to_float32(L, y, &yf);
  to_float32(L, target, &tf);
  if (kubo_tensor_init(&dy, KUBO_FLOAT32, y->ndim, y->shape) != KUBO_OK) {
    kubo_tensor_release(&yf);
    kubo_tensor_release(&tf);
    return kb_raise(L);
  }
  loss = kubo_mse_loss(dy.data, yf.data, tf.data, kubo_tensor_numel(y));
  kubo_tensor_release(&yf);
  kubo_tensor_release(&tf);
  lua_pushnumber(L, loss);
  kb_tensor_push(L, &dy);
  return 2;
}


static int l_profile(lua_State *L) {
  if (lua_isboolean(L, 1)) {
    kubo_nn_profile_enable(lua_toboolean(L, 1));
    kubo_nn_profile_reset();
  }
  lua_pushnumber(L, kubo_nn_profile_gemm_seconds());
  return 1;
}


/* ---------------------------------------------------------------------
** Methods
** ------------------------------------------------------------------- */

/* Reads the noise level at idx (a number or a tensor) into *out. */
static void check_sigma(lua_State *L, int idx, kubo_tensor *out) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    int64_t shape[1] = {1};
    if (kubo_tensor_init(out, KUBO_FLOAT64, 1, shape) != KUBO_OK) kb_raise(L);
    ((double *)out->data)[0] = lua_tonumber(L, idx);
    return;
  }
  if (kb_tensor_test(L, idx) == NULL)
    luaL_argerror(L, idx, lua_pushfstring(L, "sigma must be a number or a "
                  "tensor of one value per sample (got %s)",
                  luaL_typename(L, idx)));
  kubo_tensor_share(out, kb_tensor_check(L, idx));
}


static int m_forward(lua_State *L) {
  kubo_nn *net = kb_module_check(L, 1);
  int nin = kubo_nn_num_inputs(net);
  kubo_tensor inputs[2], sigma = {0}, out;
  kubo_status st;
  for (int i = 0; i < nin; i++) inputs[i] = *kb_tensor_check(L, 2 + i);
  if (kubo_nn_is_conditioned(net) && lua_isnoneornil(L, 2 + nin))
    return luaL_error(L, "%s: this network needs a noise level: call "
                      "net:forward(x, sigma) with sigma a number or a "
                      "tensor of one value per sample", kubo_nn_kind(net));
  if (!lua_isnoneornil(L, 2 + nin)) check_sigma(L, 2 + nin, &sigma);
  st = kubo_nn_forward(net, nin, inputs,
                       kubo_tensor_is_empty(&sigma) ? NULL : &sigma, &out);
  kubo_tensor_release(&sigma);
  if (st != KUBO_OK) return kb_raise(L);
  kb_tensor_push(L, &out);
  return 1;
}


static int m_backward(lua_State *L) {
  kubo_nn *net = kb_module_check(L, 1);
  kubo_tensor *dout = kb_tensor_check(L, 2);
  kubo_tensor dinputs[2];
  int nin = kubo_nn_num_inputs(net);
  KB_TRY(L, kubo_nn_backward(net, dout, nin, dinputs));
  for (int i = 0; i < nin; i++) kb_tensor_push(L, &dinputs[i]);
  return nin;
}


static int m_zero_grad(lua_State *L) {
  kubo_nn_zero_grad(kb_module_check(L, 1));
  lua_settop(L, 1);
  return 1;
}


static int m_parameters(lua_State *L) {
  kubo_nn *net = kb_module_check(L, 1);
  kubo_tensor params = {0}, grads = {0};
  kubo_nn_param_views(net, &params, &grads);
  kb_tensor_push(L, &params);
  kb_tensor_push(L, &grads);
  return 2;
}


static int m_named_parameters(lua_State *L) {
  kubo_nn *net = kb_module_check(L, 1);
  kubo_tensor params = {0}, grads = {0};
  int k = 0;
  kubo_nn_param_views(net, &params, &grads);
  lua_newtable(L);
  for (int i = 0; i < kubo_nn_num_arrays(net); i++) {
    kubo_nn_array a;
    kubo_tensor flat = {0}, view = {0};
    kubo_nn_array_info(net, i, &a);
    if (a.buffer) continue;
    lua_createtable(L, 0, 3);
    lua_pushstring(L, a.name);
    lua_setfield(L, -2, "name");
    for (int which = 0; which < 2; which++) {
      kubo_tensor *block = which == 0 ? &params : &grads;
      if (kubo_tensor_narrow(&flat, block, 0, a.offset, a.offset + a.size) !=
            KUBO_OK ||
          kubo_tensor_reshape(&view, &flat, a.ndim, a.shape) != KUBO_OK) {
        kubo_tensor_release(&flat);
        kubo_tensor_release(&params);
        kubo_tensor_release(&grads);
        return kb_raise(L);
      }
      kubo_tensor_release(&flat);
      kb_tensor_push(L, &view);
      lua_setfield(L, -2, which == 0 ? "value" : "grad");
    }
    lua_rawseti(L, -2, ++k);
  }
  kubo_tensor_release(&params);
  kubo_tensor_release(&grads);
  return 1;
}


static int m_num_parameters(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_nn_num_parameters(
                    kb_module_check(L, 1)));
  return 1;
}


static int m_save(lua_State *L) {
  kubo_nn *net = kb_module_check(L, 1);
  const char *path = luaL_checkstring(L, 2);
  const struct kubo_optim *opt = NULL;
  const struct kubo_ema *ema = NULL;
  if (!lua_isnoneornil(L, 3)) {
    static const char *const valid[] = {"optimizer", "ema", NULL};
    luaL_checktype(L, 3, LUA_TTABLE);
    kb_nn_check_options(L, 3, "save", valid);
    if (lua_getfield(L, 3, "optimizer") != LUA_TNIL)
      opt = kb_optim_check(L, -1);
    if (lua_getfield(L, 3, "ema") != LUA_TNIL) ema = kb_ema_check(L, -1);
    lua_pop(L, 2);
  }
  KB_TRY(L, kubo_nn_save(net, path, opt, ema));
  return 0;
}


static int m_clone(lua_State *L) {
  kubo_nn *net = kb_module_check(L, 1), *copy;
  kb_module *m = new_module(L);
  KB_TRY(L, kubo_nn_clone(&copy, net));
  push_module(L, m, copy);
  return 1;
}


static int m_spec(lua_State *L) {
  lua_pushstring(L, kubo_nn_spec(kb_module_check(L, 1)));
  return 1;
}


static int m_kind(lua_State *L) {
  lua_pushstring(L, kubo_nn_kind(kb_module_check(L, 1)));
  return 1;
}


static int m_release_activations(lua_State *L) {
  kubo_nn_release_activations(kb_module_check(L, 1));
  return 0;
}


static int m_free(lua_State *L) {
  kb_module *m = luaL_checkudata(L, 1, KB_MODULE);
  kubo_nn_free(m->net);
  m->net = NULL;
  return 0;
}


static int m_tostring(lua_State *L) {
  kb_module *m = luaL_checkudata(L, 1, KB_MODULE);
  if (m->net == NULL) {
    lua_pushliteral(L, "kubo.nn.Module (freed)");
    return 1;
  }
  lua_pushfstring(L, "kubo.nn.Module %s (%I parameters)",
                  kubo_nn_kind(m->net),
                  (lua_Integer)kubo_nn_num_parameters(m->net));
  return 1;
}


static const kb_reg module_methods[] = {
  {"forward", m_forward,
   "y = net:forward(x) runs the layer on x (float32 or float64, batch "
   "first) and returns a new float32 tensor. Networks with a noise "
   "embedding take net:forward(x, sigma), sigma a number or a tensor of "
   "one positive value per sample; two-input layers (concat, embed_bias) "
   "take net:forward(a, b). Forward keeps what backward needs."},
  {"backward", m_backward,
   "dx = net:backward(dy) back-propagates dy (the output's shape) through "
   "the last forward: returns the input gradient (two for two-input "
   "layers) and adds the parameter gradients into the gradient block. "
   "No gradient flows to sigma."},
  {"zero_grad", m_zero_grad,
   "net:zero_grad() sets every parameter gradient to zero; returns net"},
  {"parameters", m_parameters,
   "params, grads = net:parameters() -> 1-D float32 views of the "
   "contiguous parameter and gradient blocks (writes go to the network). "
   "Views taken before the layer joins nn.sequential keep the old block: "
   "take them again afterwards."},
  {"named_parameters", m_named_parameters,
   "net:named_parameters() -> list of {name = ..., value = view, grad = "
   "view}, one per parameter array, in block order"},
  {"num_parameters", m_num_parameters,
   "net:num_parameters() -> number of trained parameters (the Fourier "
   "embedding's fixed frequencies are not counted)"},
  {"save", m_save,
   "net:save(path, {optimizer = opt, ema = ema}) writes the network (and "
   "the optional optimizer and EMA state) to an HDF5 file, replacing it "
   "atomically; nn.load(path) reads it back"},
  {"clone", m_clone,
   "net:clone() -> an independent copy with equal parameters and zero "
   "gradients"},
  {"spec", m_spec,
   "net:spec() -> the architecture as text, e.g. "
   "\"linear{in=1,out=8,bias=true}\""},
  {"kind", m_kind, "net:kind() -> \"linear\", \"unet\", ..."},
  {"release_activations", m_release_activations,
   "net:release_activations() frees the activations kept for backward "
   "(the next forward allocates them again)"},
  {"free", m_free,
   "net:free() frees the module now; later use is an error"},
  {"__gc", m_free, NULL},
  {"__close", m_free, NULL},
  {"__tostring", m_tostring, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg nn_functions[] = {
  {"linear", l_linear,
   "nn.linear(in, out, [{bias = true, seed = s}]) or nn.linear{in = , out "
   "= , bias = true, seed = s} -> Module: (batch, in) -> (batch, out). "
   "Weights and bias uniform in +-1/sqrt(in) (PyTorch's defaults)."},
  {"conv2d", l_conv2d,
   "nn.conv2d{in_channels, out_channels, kernel = 3, stride = 1, periodic "
   "= true, bias = true, seed} -> Module: (batch, in, H, W) -> (batch, "
   "out, Ho, Wo) with padding kernel // 2 (circular if periodic, else "
   "zeros); kernel odd. Initialised uniform in +-1/sqrt(in k k)."},
  {"group_norm", l_group_norm,
   "nn.group_norm{groups, channels, eps = 1e-5} -> Module: normalises each "
   "group of channels / groups channels per sample, then scales and "
   "shifts each channel (weight 1, bias 0 at first)"},
  {"swish", l_swish, "nn.swish() -> Module: x * sigmoid(x), elementwise"},
  {"relu", l_relu, "nn.relu() -> Module: max(x, 0), elementwise"},
  {"tanh", l_tanh, "nn.tanh() -> Module: tanh(x), elementwise"},
  {"fourier_embedding", l_fourier_embedding,
   "nn.fourier_embedding{size, scale = 30, dense = true, seed} -> Module: "
   "(batch) -> (batch, size), [sin(2 pi f t), cos(2 pi f t)] with size/2 "
   "fixed frequencies f ~ N(0, scale^2), then (if dense) linear(size, "
   "size) and swish"},
  {"embed_bias", l_embed_bias,
   "nn.embed_bias{embed, channels, seed} -> Module with two inputs: "
   "forward(x, e) adds linear(embed, channels)(e) to every point of each "
   "channel of x (batch, channels, ...)"},
  {"upsample", l_upsample,
   "nn.upsample() -> Module: (batch, C, H, W) -> (batch, C, 2H, 2W), "
   "nearest neighbour"},
  {"concat", l_concat,
   "nn.concat() -> Module with two inputs: forward(a, b) joins a and b "
   "along dimension 2 (channels); backward returns da, db"},
  {"sequential", l_sequential,
   "nn.sequential{layer1, layer2, ...} -> Module chaining one-input "
   "layers. The container copies the layers' parameters into its own "
   "block and the layers then share it: training the container trains "
   "them. A layer can belong to one container only."},
  {"mlp", l_mlp,
   "nn.mlp{sizes = {1, 64, 64, 1}, activation = \"swish\", embed = 0, "
   "embed_scale = 30, sigma_min, sigma_max, seed} -> Module: linear "
   "layers with the activation between them. embed > 0 adds a noise "
   "embedding: forward(x, sigma), each hidden layer adding "
   "linear(embed, width)(emb). The embedding receives ln(sigma)/4, or "
   "t = ln(sigma/sigma_min)/ln(sigma_max/sigma_min) when both are given."},
  {"unet", l_unet,
   "nn.unet{channels = {32, 64, 128, 256}, blocks = 8, embed = 256, "
   "embed_scale = 30, periodic = true, in_channels = 1, kernel = 3, "
   "mean_bypass = false, scale_mean_bypass = false, shift_input = false, "
   "shift_output = false, gnorm = false, groups_first = 4, groups = 32, "
   "sigma_min, sigma_max, seed} -> Module: the noise-conditional U-Net "
   "of CliMAgen.jl's score model (defaults: its configuration, with "
   "circular padding). "
   "forward(x, sigma) with x (batch, in_channels, H, W), H and W "
   "multiples of 2^(levels - 1); the output has x's shape and is "
   "epsilon-like (score = output / sigma). The embedding receives "
   "ln(sigma)/4, or the VE schedule time t = ln(sigma/sigma_min) / "
   "ln(sigma_max/sigma_min) when sigma_min and sigma_max are given."},
  {"local_score", l_local_score,
   "nn.local_score{channels = 32, depth = 4, embed = 64, embed_scale = 30, "
   "periodic = true, in_channels = 1, data_std = 1, sigma_min, sigma_max, "
   "seed} -> Module: the small local score network: x / sqrt(sigma^2 + "
   "data_std^2), depth 3x3 convolutions and one 1x1, each with a "
   "per-channel scale and shift from the noise embedding and swish, then "
   "a 1x1 convolution back to in_channels. forward(x, sigma)."},
  {"load", l_load,
   "nn.load(path) -> Module saved by net:save(path)"},
  {"seed", l_seed,
   "nn.seed(s) sets the base seed of layers built without a seed option: "
   "the k-th such layer after the call uses stream k of s"},
  {"mse", l_mse,
   "loss, dy = nn.mse(y, target) -> mean((y - target)^2) and its gradient "
   "2 (y - target) / n (float32, y's shape)"},
  {"profile", l_profile,
   "nn.profile(on) turns SGEMM timing on or off and resets it; "
   "nn.profile() -> seconds of core time spent in SGEMM since then"},
  {NULL, NULL, NULL}
};


void kb_open_nn(lua_State *L) {
  kb_newclass(L, KB_MODULE, module_methods,
              "kubo.nn.Module: a layer or network (float32, batch first) "
              "with forward, backward, zero_grad, parameters, "
              "named_parameters, num_parameters, save, clone, spec, kind, "
              "release_activations and free.");
  lua_pop(L, 1);
  lua_newtable(L);
  kb_setfuncs(L, -1, nn_functions);
  kb_setdoc(L, -1, "kubo.nn: layers and networks with hand-written "
            "backward passes (linear, conv2d, group_norm, swish, relu, "
            "tanh, fourier_embedding, embed_bias, upsample, concat, "
            "sequential, mlp, unet, local_score), nn.load, nn.mse, "
            "nn.seed and nn.profile.");
  lua_setfield(L, -2, "nn");
}
