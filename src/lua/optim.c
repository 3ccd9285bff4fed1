/*
** optim.c: the kubo.optim module: adam, sgd and ema, with the classes
** kubo.optim.Optimizer and kubo.optim.Ema.
*/
#include <math.h>
#include <string.h>

#include "kb.h"
#include "kubo/optim.h"

/* Userdata holding the engine object. User value 1 is the network's
** Module, which it keeps alive. User value 2 of an optimizer is the
** learning-rate schedule function, or nil. */
typedef struct kb_optim {
  kubo_optim *opt;
} kb_optim;

typedef struct kb_ema {
  kubo_ema *ema;
} kb_ema;


/* Raises an error when the network kept as user value 1 of the userdata
** at idx was freed. The kind is "optimizer" or "ema". */
static void check_net(lua_State *L, int idx, const char *kind) {
  lua_getiuservalue(L, idx, 1);
  int alive = kb_module_test(L, -1) != NULL;
  lua_pop(L, 1);
  if (!alive)
    luaL_error(L, "optim: the network of this %s was freed (net:free() "
               "was called); make a new %s for a live network", kind,
               kind);
}


kubo_optim *kb_optim_check(lua_State *L, int idx) {
  kb_optim *o = luaL_checkudata(L, idx, KB_OPTIM);
  if (o->opt == NULL)
    luaL_argerror(L, idx, "attempt to use a freed optimizer");
  check_net(L, idx, "optimizer");
  return o->opt;
}


kubo_ema *kb_ema_check(lua_State *L, int idx) {
  kb_ema *e = luaL_checkudata(L, idx, KB_EMA);
  if (e->ema == NULL) luaL_argerror(L, idx, "attempt to use a freed ema");
  check_net(L, idx, "ema");
  return e->ema;
}


/* Reads the required net option; leaves the Module on the stack top. */
static kubo_nn *opt_net(lua_State *L, const char *fname) {
  kubo_nn *net;
  if (lua_getfield(L, 1, "net") == LUA_TNIL)
    luaL_error(L, "%s: the net option is required, e.g. %s{net = net}",
               fname, fname);
  if (luaL_testudata(L, -1, KB_MODULE) == NULL)
    luaL_error(L, "%s: net must be a kubo.nn.Module (got %s)", fname,
               luaL_typename(L, -1));
  net = kb_module_check(L, -1);
  return net;
}


static kubo_clip_mode opt_clip_mode(lua_State *L, const char *fname,
                                    kubo_clip_mode def) {
  const char *mode;
  kubo_clip_mode result = def;
  if (lua_getfield(L, 1, "clip_mode") != LUA_TNIL) {
    mode = lua_tostring(L, -1);
    if (mode != NULL && strcmp(mode, "global") == 0)
      result = KUBO_CLIP_GLOBAL;
    else if (mode != NULL && strcmp(mode, "array") == 0)
      result = KUBO_CLIP_ARRAY;
    else
      luaL_error(L, "%s: clip_mode must be \"global\" or \"array\" (got "
                 "%s)", fname, luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 1);
  return result;
}


/* Creates the optimizer userdata from cfg; the Module is at stack index
** net_idx and an optional schedule function at fn_idx (0: none). */
static int push_optim(lua_State *L, kubo_nn *net,
                      const kubo_optim_config *cfg, int net_idx,
                      int fn_idx) {
  kb_optim *o = lua_newuserdatauv(L, sizeof *o, 2);
  o->opt = NULL;
  luaL_setmetatable(L, KB_OPTIM);
  lua_pushvalue(L, net_idx);
  lua_setiuservalue(L, -2, 1);
  if (fn_idx != 0) {
    lua_pushvalue(L, fn_idx);
    lua_setiuservalue(L, -2, 2);
  }
  KB_TRY(L, kubo_optim_new(&o->opt, net, cfg));
  kb_account(L, (size_t)(2 * kubo_nn_num_parameters(net)) * sizeof(float));
  return 1;
}


/* Reads lr: a number, or a function of the step number; returns the
** stack index of the function or 0. */
static int opt_lr(lua_State *L, const char *fname, kubo_optim_config *cfg) {
  int type = lua_getfield(L, 1, "lr");
  if (type == LUA_TFUNCTION) return lua_gettop(L);
  if (type != LUA_TNIL) {
    int isnum = 0;
    cfg->lr = lua_tonumberx(L, -1, &isnum);
    if (!isnum)
      luaL_error(L, "%s: lr must be a number or a function of the step "
                 "(got %s)", fname, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return 0;
}


static int l_adam(lua_State *L) {
  static const char *const valid[] = {"net", "lr", "betas", "eps", "clip",
                                      "clip_mode", "warmup", "order", NULL};
  const char *f = "optim.adam";
  kubo_optim_config cfg;
  kubo_nn *net;
  int net_idx, fn_idx;
  const char *order;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  kubo_optim_config_default(&cfg, KUBO_OPTIM_ADAM);
  net = opt_net(L, f);
  net_idx = lua_gettop(L);
  fn_idx = opt_lr(L, f, &cfg);

  if (lua_getfield(L, 1, "betas") != LUA_TNIL) {
    if (!lua_istable(L, -1) || luaL_len(L, -1) != 2)
      return luaL_error(L, "optim.adam: betas must be a pair {beta1, "
                        "beta2}");
    lua_geti(L, -1, 1);
    lua_geti(L, -2, 2);
    cfg.beta1 = luaL_checknumber(L, -2);
    cfg.beta2 = luaL_checknumber(L, -1);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  cfg.eps = kb_nn_opt_number(L, 1, f, "eps", cfg.eps);
  cfg.clip = kb_nn_opt_number(L, 1, f, "clip", 0);
  cfg.warmup = kb_nn_opt_int(L, 1, f, "warmup", 0, 0, 1 << 30);

  if (lua_getfield(L, 1, "order") != LUA_TNIL) {
    order = lua_tostring(L, -1);
    if (order != NULL && strcmp(order, "reference") == 0)
      cfg.order = KUBO_ORDER_REFERENCE;
    else if (order == NULL || strcmp(order, "standard") != 0)
      return luaL_error(L, "optim.adam: order must be \"standard\" or "
                        "\"reference\" (got %s)",
                        luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 1);
  /* CliMAgen.jl's chain clips per array (Flux's ClipNorm) */
  cfg.clip_mode = opt_clip_mode(L, f, cfg.order == KUBO_ORDER_REFERENCE ?
                                KUBO_CLIP_ARRAY : KUBO_CLIP_GLOBAL);
  return push_optim(L, net, &cfg, net_idx, fn_idx);
}


static int l_sgd(lua_State *L) {
  static const char *const valid[] = {"net", "lr", "momentum", "nesterov",
                                      "clip", "clip_mode", "warmup", NULL};
  const char *f = "optim.sgd";
  kubo_optim_config cfg;
  kubo_nn *net;
  int net_idx, fn_idx;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  kubo_optim_config_default(&cfg, KUBO_OPTIM_SGD);
  net = opt_net(L, f);
  net_idx = lua_gettop(L);
  fn_idx = opt_lr(L, f, &cfg);
  cfg.momentum = kb_nn_opt_number(L, 1, f, "momentum", 0);
  cfg.nesterov = kb_nn_opt_bool(L, 1, f, "nesterov", 0);
  cfg.clip = kb_nn_opt_number(L, 1, f, "clip", 0);
  cfg.clip_mode = opt_clip_mode(L, f, KUBO_CLIP_GLOBAL);
  cfg.warmup = kb_nn_opt_int(L, 1, f, "warmup", 0, 0, 1 << 30);
  return push_optim(L, net, &cfg, net_idx, fn_idx);
}


static int o_step(lua_State *L) {
  kubo_optim *opt = kb_optim_check(L, 1);
  if (lua_getiuservalue(L, 1, 2) == LUA_TFUNCTION) {
    int isnum = 0;
    double lr;
    lua_pushinteger(L, (lua_Integer)kubo_optim_step_count(opt) + 1);
    lua_call(L, 1, 1);
    opt = kb_optim_check(L, 1);   /* the schedule may have freed either */
    lr = lua_tonumberx(L, -1, &isnum);
    if (!isnum)
      return luaL_error(L, "optimizer: the lr schedule returned %s, "
                        "expected a number", luaL_typename(L, -1));
    KB_TRY(L, kubo_optim_set_lr(opt, lr));
  }
  KB_TRY(L, kubo_optim_step(opt));
  lua_pushinteger(L, (lua_Integer)kubo_optim_step_count(opt));
  return 1;
}


static int o_lr(lua_State *L) {
  lua_pushnumber(L, kubo_optim_get_config(kb_optim_check(L, 1))->lr);
  return 1;
}


static int o_set_lr(lua_State *L) {
  kubo_optim *opt = kb_optim_check(L, 1);
  KB_TRY(L, kubo_optim_set_lr(opt, luaL_checknumber(L, 2)));
  lua_pushnil(L);
  lua_setiuservalue(L, 1, 2);   /* a fixed rate replaces a schedule */
  return 0;
}


static int o_step_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_optim_step_count(
                    kb_optim_check(L, 1)));
  return 1;
}


static int o_grad_norm(lua_State *L) {
  lua_pushnumber(L, kubo_optim_last_grad_norm(kb_optim_check(L, 1)));
  return 1;
}


static int o_load(lua_State *L) {
  kubo_optim *opt = kb_optim_check(L, 1);
  KB_TRY(L, kubo_optim_read_h5(opt, luaL_checkstring(L, 2)));
  return 0;
}


static int o_config(lua_State *L) {
  kubo_optim *opt = kb_optim_check(L, 1);
  const kubo_optim_config *c = kubo_optim_get_config(opt);
  lua_createtable(L, 0, 10);
  lua_pushstring(L, c->kind == KUBO_OPTIM_ADAM ? "adam" : "sgd");
  lua_setfield(L, -2, "kind");
  lua_pushnumber(L, c->lr);
  lua_setfield(L, -2, "lr");

  if (c->kind == KUBO_OPTIM_ADAM) {
    lua_createtable(L, 2, 0);
    lua_pushnumber(L, c->beta1);
    lua_rawseti(L, -2, 1);
    lua_pushnumber(L, c->beta2);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "betas");
    lua_pushnumber(L, c->eps);
    lua_setfield(L, -2, "eps");
    lua_pushstring(L, c->order == KUBO_ORDER_REFERENCE ? "reference"
                                                        : "standard");
    lua_setfield(L, -2, "order");
  } else {
    lua_pushnumber(L, c->momentum);
    lua_setfield(L, -2, "momentum");
    lua_pushboolean(L, c->nesterov);
    lua_setfield(L, -2, "nesterov");
  }

  lua_pushnumber(L, c->clip);
  lua_setfield(L, -2, "clip");
  lua_pushstring(L, c->clip_mode == KUBO_CLIP_ARRAY ? "array" : "global");
  lua_setfield(L, -2, "clip_mode");
  lua_pushinteger(L, (lua_Integer)c->warmup);
  lua_setfield(L, -2, "warmup");
  return 1;
}


static int o_free(lua_State *L) {
  kb_optim *o = luaL_checkudata(L, 1, KB_OPTIM);
  kubo_optim_free(o->opt);
  o->opt = NULL;
  return 0;
}


static int o_tostring(lua_State *L) {
  kb_optim *o = luaL_checkudata(L, 1, KB_OPTIM);
  if (o->opt == NULL) {
    lua_pushliteral(L, "kubo.optim.Optimizer (freed)");
    return 1;
  }
  lua_pushfstring(L, "kubo.optim.Optimizer %s (lr %f, step %I)",
                  kubo_optim_get_config(o->opt)->kind == KUBO_OPTIM_ADAM ?
                  "adam" : "sgd", kubo_optim_get_config(o->opt)->lr,
                  (lua_Integer)kubo_optim_step_count(o->opt));
  return 1;
}


/* ---------------------------------------------------------------------
** EMA
** ------------------------------------------------------------------- */

static int l_ema(lua_State *L) {
  static const char *const valid[] = {"net", "rate", "warmup", NULL};
  const char *f = "optim.ema";
  kubo_nn *net;
  double rate;
  int warmup, net_idx;
  kb_ema *e;
  luaL_checktype(L, 1, LUA_TTABLE);
  kb_nn_check_options(L, 1, f, valid);
  net = opt_net(L, f);
  net_idx = lua_gettop(L);
  rate = kb_nn_opt_number(L, 1, f, "rate", 0.999);
  warmup = kb_nn_opt_bool(L, 1, f, "warmup", 1);
  e = lua_newuserdatauv(L, sizeof *e, 1);
  e->ema = NULL;
  luaL_setmetatable(L, KB_EMA);
  lua_pushvalue(L, net_idx);
  lua_setiuservalue(L, -2, 1);
  KB_TRY(L, kubo_ema_new(&e->ema, net, rate, warmup));
  kb_account(L, (size_t)kubo_nn_num_parameters(net) * sizeof(float));
  return 1;
}


static int e_update(lua_State *L) {
  kubo_ema_update(kb_ema_check(L, 1));
  return 0;
}


static int e_swap(lua_State *L) {
  kubo_ema_swap(kb_ema_check(L, 1));
  return 0;
}


static int e_copy_to(lua_State *L) {
  kubo_ema *ema = kb_ema_check(L, 1);
  KB_TRY(L, kubo_ema_copy_to(ema, kb_module_check(L, 2)));
  return 0;
}


static int e_network(lua_State *L) {
  kubo_ema *ema = kb_ema_check(L, 1);
  kubo_nn *copy;
  /* clone the Module through its own method, then overwrite */
  lua_getiuservalue(L, 1, 1);
  lua_getfield(L, -1, "clone");
  lua_insert(L, -2);
  lua_call(L, 1, 1);
  copy = kb_module_check(L, -1);
  KB_TRY(L, kubo_ema_copy_to(ema, copy));
  return 1;
}


static int e_weights(lua_State *L) {
  kubo_tensor view = {0};
  kubo_ema_view(kb_ema_check(L, 1), &view);
  kb_tensor_push(L, &view);
  return 1;
}


static int e_updates(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_ema_updates(kb_ema_check(L, 1)));
  return 1;
}


static int e_load(lua_State *L) {
  kubo_ema *ema = kb_ema_check(L, 1);
  KB_TRY(L, kubo_ema_read_h5(ema, luaL_checkstring(L, 2)));
  return 0;
}


static int e_free(lua_State *L) {
  kb_ema *e = luaL_checkudata(L, 1, KB_EMA);
  kubo_ema_free(e->ema);
  e->ema = NULL;
  return 0;
}


static int e_tostring(lua_State *L) {
  kb_ema *e = luaL_checkudata(L, 1, KB_EMA);
  if (e->ema == NULL) {
    lua_pushliteral(L, "kubo.optim.Ema (freed)");
    return 1;
  }
  lua_pushfstring(L, "kubo.optim.Ema (rate %f%s, %I updates)",
                  kubo_ema_rate(e->ema),
                  kubo_ema_warmup(e->ema) ? " with warm-up" : "",
                  (lua_Integer)kubo_ema_updates(e->ema));
  return 1;
}


static const kb_reg optim_methods[] = {
  {"step", o_step,
   "opt:step() updates the network's parameters from its gradients (call "
   "net:backward first) and returns the step count; a schedule given as "
   "lr = function(step) is called with the number of this step (1 "
   "first). Raises if a gradient is NaN or infinite, leaving the "
   "parameters unchanged."},
  {"lr", o_lr, "opt:lr() -> the base learning rate of the last step"},
  {"set_lr", o_set_lr,
   "opt:set_lr(lr) fixes the base learning rate (replacing a schedule)"},
  {"step_count", o_step_count, "opt:step_count() -> steps taken"},
  {"grad_norm", o_grad_norm,
   "opt:grad_norm() -> the global gradient norm of the last step, before "
   "clipping"},
  {"config", o_config, "opt:config() -> table of the settings"},
  {"load", o_load,
   "opt:load(path) restores the state and settings saved by "
   "net:save(path, {optimizer = opt}); the schedule function stays"},
  {"free", o_free, "opt:free() frees the state now"},
  {"__gc", o_free, NULL},
  {"__close", o_free, NULL},
  {"__tostring", o_tostring, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg ema_methods[] = {
  {"update", e_update,
   "ema:update() folds the current weights into the average: shadow = d "
   "shadow + (1 - d) weights with d = min(rate, (1 + n)/(10 + n)) after n "
   "updates (warm-up on), else rate"},
  {"swap", e_swap,
   "ema:swap() exchanges the averaged and the network's weights; call it "
   "again to restore"},
  {"copy_to", e_copy_to,
   "ema:copy_to(net) writes the averaged weights into net (same spec)"},
  {"network", e_network,
   "ema:network() -> a clone of the network holding the averaged weights"},
  {"weights", e_weights,
   "ema:weights() -> 1-D float32 view of the averaged weights"},
  {"updates", e_updates, "ema:updates() -> number of updates so far"},
  {"load", e_load,
   "ema:load(path) restores the average saved by net:save(path, {ema = "
   "ema})"},
  {"free", e_free, "ema:free() frees the average now"},
  {"__gc", e_free, NULL},
  {"__close", e_free, NULL},
  {"__tostring", e_tostring, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg optim_functions[] = {
  {"adam", l_adam,
   "optim.adam{net = net, lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, "
   "clip = 0, clip_mode = \"global\", warmup = 0, order = \"standard\"} "
   "-> Optimizer: bias-corrected Adam. lr may be a function(step) -> lr. "
   "clip > 0 scales the gradient to norm clip over all arrays "
   "(\"global\") or per parameter array (\"array\"). warmup = n "
   "multiplies the rate by min(step / n, 1). order = \"reference\" "
   "instead multiplies the gradient by that factor before clipping "
   "(per array by default) and Adam, in the order of CliMAgen.jl's Flux "
   "chain (WarmupSchedule, ClipNorm, Adam)."},
  {"sgd", l_sgd,
   "optim.sgd{net = net, lr = 1e-3, momentum = 0, nesterov = false, clip "
   "= 0, clip_mode = \"global\", warmup = 0} -> Optimizer: SGD with "
   "momentum (b = momentum b + g; step lr b, or lr (g + momentum b) with "
   "nesterov)"},
  {"ema", l_ema,
   "optim.ema{net = net, rate = 0.999, warmup = true} -> Ema: an "
   "exponential moving average of the network's weights, starting from "
   "them; the warm-up rate min(rate, (1 + n)/(10 + n)) lets it follow "
   "short runs"},
  {NULL, NULL, NULL}
};


void kb_open_optim(lua_State *L) {
  kb_newclass(L, KB_OPTIM, optim_methods,
              "kubo.optim.Optimizer: Adam or SGD over one network's "
              "parameter block (step, lr, set_lr, step_count, grad_norm, "
              "config, load, free)");
  lua_pop(L, 1);
  kb_newclass(L, KB_EMA, ema_methods,
              "kubo.optim.Ema: moving average of a network's weights "
              "(update, swap, copy_to, network, weights, updates, load, "
              "free)");
  lua_pop(L, 1);
  lua_newtable(L);
  kb_setfuncs(L, -1, optim_functions);
  kb_setdoc(L, -1, "kubo.optim: optimizers (adam, sgd) and the moving "
            "average of weights (ema)");
  lua_setfield(L, -2, "optim");
}
