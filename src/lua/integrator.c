/*
** integrator.c: kubo.integrator and the kubo.Integrator class: ensembles
** of a model advanced in time. sim:run is in integrator_run.c, sim:save
** and kubo.integrator.load in integrator_file.c.
*/
#include <math.h>
#include <string.h>

#include "integrator_lua.h"
#include "kubo/model.h"
#include "kubo/rng.h"

typedef struct sim_box {
  kubo_sim *s;
  int busy;  /* set while an engine call may call back into Lua */
} sim_box;

enum { UV_COUNT = 1 };


/* Raises the engine's error unless status is KUBO_OK. */
void kb_sim_check_status(lua_State *L, kubo_status status) {
  if (status != KUBO_OK) kb_raise(L);
}


static sim_box *box_check(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, KB_INTEGRATOR);
}


struct kubo_sim *kb_integrator_check(lua_State *L, int idx) {
  sim_box *b = box_check(L, idx);
  if (b->s == NULL)
    luaL_argerror(L, idx, "attempt to use a freed integrator");
  lua_getiuservalue(L, idx, KB_SIM_UV_MODEL);
  kb_model_check(L, -1);
  lua_pop(L, 1);
  return b->s;
}


void kb_sim_set_busy(lua_State *L, int idx, int busy) {
  box_check(L, idx)->busy = busy;
}


void kb_sim_check_idle(lua_State *L, int idx, const char *action) {
  if (box_check(L, idx)->busy)
    luaL_error(L, "integrator: cannot %s while it is running (the call "
               "came from a function the integrator is calling)", action);
}


static int s_free(lua_State *L) {
  sim_box *b = box_check(L, 1);
  kb_sim_check_idle(L, 1, "free");
  kubo_sim_free(b->s);
  b->s = NULL;
  return 0;
}


/* Frees the engine object of an idle integrator. The stack refers to a
** busy integrator, so the collector cannot reach it while it runs. */
static int s_gc(lua_State *L) {
  sim_box *b = box_check(L, 1);
  if (!b->busy) kubo_sim_free(b->s);
  b->s = NULL;
  return 0;
}


/* Pushes a new kubo.Integrator that takes over s, keeping the model at
** model_idx alive. */
static void push_sim(lua_State *L, kubo_sim *s, int model_idx) {
  model_idx = lua_absindex(L, model_idx);
  sim_box *b = lua_newuserdatauv(L, sizeof *b, UV_COUNT);
  b->s = s;
  b->busy = 0;
  luaL_setmetatable(L, KB_INTEGRATOR);
  lua_pushvalue(L, model_idx);
  lua_setiuservalue(L, -2, KB_SIM_UV_MODEL);
}


/* Raises the message of a failed advance. A non-finite state is reported
** with 1-based member numbers. */
int kb_sim_raise_advance(lua_State *L, kubo_sim *s, kubo_status status) {
  int64_t step, member;
  double time;
  if (status == KUBO_ENUMERIC && kubo_sim_failure(s, &step, &member, &time))
    return luaL_error(L, "integrator: member %I became NaN or Inf at step "
                      "%I (time %f); the integrator keeps the last finite "
                      "state, step %I (sim:state(), sim:save). Reduce dt "
                      "(now %f) or check the model parameters",
                      (lua_Integer)member + 1, (lua_Integer)step, time,
                      (lua_Integer)step - 1,
                      kubo_sim_get_options(s)->dt);
  return kb_raise(L);
}


/* ---------------------------------------------------------------------
** Options
** ------------------------------------------------------------------- */

void kb_sim_check_keys(lua_State *L, int idx, const char *fname,
                       const char *const *keys) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      for (int i = 0; keys[i] != NULL; i++)
        if (strcmp(lua_tostring(L, -1), keys[i]) == 0) known = 1;
    }
    if (!known) {
      luaL_Buffer buf;
      luaL_buffinit(L, &buf);
      for (int i = 0; keys[i] != NULL; i++) {
        if (i > 0) luaL_addstring(&buf, ", ");
        luaL_addstring(&buf, keys[i]);
      }
      luaL_pushresult(&buf);
      const char *list = lua_tostring(L, -1);
      const char *name = luaL_tolstring(L, -2, NULL);
      luaL_error(L, "%s: unknown option '%s' (options: %s)", fname, name,
                 list);
    }
  }
}


/* Reads a whole number field (def if absent) at least lo. */
int64_t kb_sim_opt_int(lua_State *L, int idx, const char *fname,
                       const char *key, int64_t def, int64_t lo) {
  int64_t v = def;
  if (lua_getfield(L, idx, key) != LUA_TNIL) {
    lua_Integer i = 0;
    int ok = lua_isinteger(L, -1);
    if (ok) {
      i = lua_tointeger(L, -1);
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
      lua_Number x = lua_tonumber(L, -1);
      ok = x == floor(x) && lua_numbertointeger(x, &i);
    }
    if (!ok)
      luaL_error(L, "%s: %s must be a whole number (got %s)", fname, key,
                 luaL_tolstring(L, -1, NULL));
    v = (int64_t)i;
    if (v < lo)
      luaL_error(L, "%s: %s must be >= %I (got %I)", fname, key,
                 (lua_Integer)lo, (lua_Integer)v);
  }
  lua_pop(L, 1);
  return v;
}


double kb_sim_opt_number(lua_State *L, int idx, const char *fname,
                         const char *key, double def) {
  double v = def;
  int type = lua_getfield(L, idx, key);
  if (type != LUA_TNIL) {
    if (type != LUA_TNUMBER)
      luaL_error(L, "%s: %s must be a number (got %s)", fname, key,
                 luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}


/* Returns the string field key (def if absent); the string stays valid
** while the options table contains it. */
const char *kb_sim_opt_string(lua_State *L, int idx, const char *fname,
                              const char *key, const char *def) {
  const char *v = def;
  int type = lua_getfield(L, idx, key);
  if (type != LUA_TNIL) {
    if (type != LUA_TSTRING)
      luaL_error(L, "%s: %s must be a string (got %s)", fname, key,
                 luaL_typename(L, -1));
    v = lua_tostring(L, -1);
  }
  lua_pop(L, 1);
  return v;
}


kubo_dtype kb_sim_opt_dtype(lua_State *L, int idx, const char *fname) {
  const char *name = kb_sim_opt_string(L, idx, fname, "dtype", "float64");
  int d = kubo_dtype_parse(name);
  if (d < 0)
    luaL_error(L, "%s: dtype must be \"float64\" or \"float32\" (got "
               "\"%s\")", fname, name);
  return (kubo_dtype)d;
}


/* ---------------------------------------------------------------------
** Construction
** ------------------------------------------------------------------- */

/* kubo.integrator{model = m, ...}: index 1 is the kubo.integrator table
** when called through __call, so the options are the last argument. */
int kb_sim_new(lua_State *L) {
  static const char *const keys[] = {"model", "method", "dt", "members",
                                     "seed", "first_member", "noise", NULL};
  const char *fname = "integrator";
  int opts = lua_gettop(L);
  /* kubo.integrator() passes only the kubo.integrator table, which has a
  ** __call metamethod that an options table lacks. */
  int missing = opts == 0 ||
                (lua_istable(L, opts) &&
                 luaL_getmetafield(L, opts, "__call") != LUA_TNIL);
  if (missing || !lua_istable(L, opts))
    return luaL_error(L, "integrator: expected a table of options such as "
                      "{model = m, dt = 0.01, members = 16} (got %s)",
                      missing ? "no options" : luaL_typename(L, opts));
  kb_sim_check_keys(L, opts, fname, keys);

  if (lua_getfield(L, opts, "model") == LUA_TNIL)
    return luaL_error(L, "integrator: option model is missing (for "
                      "example kubo.integrator{model = "
                      "kubo.models.allen_cahn{}})");
  if (luaL_testudata(L, -1, KB_MODEL) == NULL)
    return luaL_error(L, "integrator: model must be a kubo.Model (got %s)",
                      luaL_typename(L, -1));
  int model_idx = lua_gettop(L);
  kubo_model *m = kb_model_check(L, model_idx);

  kubo_sim_options opt;
  kubo_sim_options_default(&opt);
  const char *method = kb_sim_opt_string(L, opts, fname, "method", "rk4");
  int mi = kubo_sim_method_parse(method);
  if (mi < 0)
    return luaL_error(L, "integrator: method must be \"euler_maruyama\", "
                      "\"heun\" or \"rk4\" (got \"%s\")", method);
  opt.method = (kubo_sim_method)mi;
  const char *draw = kb_sim_opt_string(L, opts, fname, "noise", "half");
  int di = kubo_noise_draw_parse(draw);
  if (di < 0)
    return luaL_error(L, "integrator: noise must be \"half\" or \"full\" "
                      "(got \"%s\")", draw);
  opt.noise_draw = (kubo_noise_draw)di;
  if (lua_getfield(L, opts, "dt") != LUA_TNIL &&
      !(lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0 &&
        isfinite(lua_tonumber(L, -1))))
    return luaL_error(L, "integrator: dt must be a finite number > 0 (got "
                      "%s)", luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
  opt.dt = kb_sim_opt_number(L, opts, fname, "dt", 0);
  opt.members = kb_sim_opt_int(L, opts, fname, "members", 1, 1);
  opt.seed = (uint64_t)kb_sim_opt_int(L, opts, fname, "seed", 1234, 0);
  opt.first_member = kb_sim_opt_int(L, opts, fname, "first_member", 1, 1) - 1;

  kubo_sim *s = NULL;
  kb_sim_check_status(L, kubo_sim_new(&s, m, &opt));
  push_sim(L, s, model_idx);
  kb_account(L, (size_t)(opt.members * kubo_sim_raw_size(s)) * 4 *
                sizeof(double));
  return 1;
}


/* ---------------------------------------------------------------------
** State
** ------------------------------------------------------------------- */

/* Pushes a new tensor (members, ...state shape...) and returns it. */
static kubo_tensor *push_state_tensor(lua_State *L, kubo_sim *s) {
  int64_t shape[KUBO_MAX_DIM];
  shape[0] = kubo_sim_members(s);
  int nd = kubo_model_state_shape(kubo_sim_model(s), shape + 1);
  kubo_tensor t = {0};
  kb_sim_check_status(L, kubo_tensor_init(&t, KUBO_FLOAT64, nd + 1, shape));
  return kb_tensor_push(L, &t);
}


static int s_state(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  kubo_tensor *t = push_state_tensor(L, s);
  KB_TRY(L, kubo_sim_state(s, t->data));
  return 1;
}


/* Copies the tensor at idx into t (members, ...state shape...): either
** that shape, or one state for every member. */
static void fill_states(lua_State *L, kubo_sim *s, int idx, kubo_tensor *t,
                        const char *fname) {
  kubo_tensor *u = kb_tensor_check(L, idx);
  int64_t members = kubo_sim_members(s);
  int64_t dim = kubo_model_dim(kubo_sim_model(s));
  int64_t n = kubo_tensor_numel(u);
  if (kubo_tensor_is_empty(u))
    luaL_argerror(L, idx, "attempt to use a freed tensor");
  if (n != dim && n != members * dim) {
    char got[96];
    kubo_tensor_shape_string(u, got, sizeof got);
    luaL_argerror(L, idx, lua_pushfstring(L, "%s: expected one state of "
                  "%I values or one per member (%I x %I), got shape %s",
                  fname, (lua_Integer)dim, (lua_Integer)members,
                  (lua_Integer)dim, got));
  }
  kubo_tensor flat = {0};
  kb_sim_check_status(L, kubo_tensor_clone(&flat, u, KUBO_FLOAT64));
  double *dst = t->data;
  for (int64_t j = 0; j < members; j++)
    memcpy(dst + j * dim, (double *)flat.data + (n == dim ? 0 : j * dim),
           (size_t)dim * sizeof(double));
  kubo_tensor_release(&flat);
}


static int s_set_state(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  kubo_tensor *t = push_state_tensor(L, s);
  fill_states(L, s, 2, t, "sim:set_state");
  KB_TRY(L, kubo_sim_set_state(s, t->data));
  lua_settop(L, 1);
  return 1;
}


/* Pushes a kubo.Rng at (seed, stream), position 0. */
static void push_rng(lua_State *L, uint64_t seed, uint64_t stream) {
  kubo_rng *r = lua_newuserdatauv(L, sizeof *r, 0);
  kubo_rng_init(r, seed, stream);
  luaL_setmetatable(L, KB_RNG);
}


/* Fills t from f(rng, member) for every member of the integrator at
** index 1, which stays busy (it cannot be freed) while f runs. */
static void states_from_function(lua_State *L, kubo_sim *s, int fidx,
                                 kubo_tensor *t) {
  const kubo_sim_options *opt = kubo_sim_get_options(s);
  int64_t dim = kubo_model_dim(kubo_sim_model(s));
  double *dst = t->data;
  for (int64_t j = 0; j < kubo_sim_members(s); j++) {
    uint64_t g = (uint64_t)(opt->first_member + j);
    lua_pushvalue(L, fidx);
    push_rng(L, opt->seed, kubo_rng_substream(g, KUBO_SIM_KEY_INIT));
    lua_pushinteger(L, (lua_Integer)g + 1);
    kb_sim_set_busy(L, 1, 1);
    int called = lua_pcall(L, 2, 1, 0);
    kb_sim_set_busy(L, 1, 0);
    if (called != LUA_OK) lua_error(L);
    kubo_tensor *u = kb_tensor_test(L, -1);
    if (u != NULL && !kubo_tensor_is_empty(u) &&
        kubo_tensor_numel(u) == dim) {
      kubo_tensor flat = {0};
      kb_sim_check_status(L, kubo_tensor_clone(&flat, u, KUBO_FLOAT64));
      memcpy(dst + j * dim, flat.data, (size_t)dim * sizeof(double));
      kubo_tensor_release(&flat);
    } else if (lua_type(L, -1) == LUA_TNUMBER && dim == 1) {
      dst[j] = lua_tonumber(L, -1);
    } else {
      luaL_error(L, "sim:initialize: the function must return a tensor of "
                 "%I values (one state) for member %I (got %s)",
                 (lua_Integer)dim, (lua_Integer)g + 1,
                 luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
}


static int s_initialize(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  kb_sim_check_idle(L, 1, "initialize");
  if (lua_isnoneornil(L, 2)) {
    KB_TRY(L, kubo_sim_initialize(s, NULL));
    lua_settop(L, 1);
    return 1;
  }
  kubo_tensor *t = push_state_tensor(L, s);
  int tidx = lua_gettop(L);
  if (lua_isfunction(L, 2))
    states_from_function(L, s, 2, t);
  else if (kb_tensor_test(L, 2) != NULL)
    fill_states(L, s, 2, t, "sim:initialize");
  else
    return luaL_argerror(L, 2, "expected a tensor, a function(rng, member) "
                         "or nothing");
  lua_settop(L, tidx);
  KB_TRY(L, kubo_sim_initialize(s, t->data));
  lua_settop(L, 1);
  return 1;
}


static int s_hidden_state(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  int64_t n = kubo_model_hidden_size(kubo_sim_model(s));
  if (n == 0) {
    lua_pushnil(L);
    return 1;
  }
  int64_t shape[2] = {kubo_sim_members(s), n};
  kubo_tensor t = {0};
  KB_TRY(L, kubo_tensor_init(&t, KUBO_FLOAT64, 2, shape));
  kubo_sim_hidden(s, t.data);
  kb_tensor_push(L, &t);
  return 1;
}


static int s_set_hidden_state(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  kubo_tensor *h = kb_tensor_check(L, 2);
  int64_t n = kubo_model_hidden_size(kubo_sim_model(s));
  int64_t want = kubo_sim_members(s) * n;
  if (n == 0)
    return luaL_error(L, "sim:set_hidden_state: the %s model has no hidden "
                      "state", kubo_model_kind(kubo_sim_model(s)));
  if (kubo_tensor_is_empty(h) || kubo_tensor_numel(h) != want)
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected (%I, %I) "
                         "hidden values", (lua_Integer)kubo_sim_members(s),
                         (lua_Integer)n));
  kubo_tensor flat = {0};
  KB_TRY(L, kubo_tensor_clone(&flat, h, KUBO_FLOAT64));
  kubo_status status = kubo_sim_set_hidden(s, flat.data);
  kubo_tensor_release(&flat);
  KB_TRY(L, status);
  lua_settop(L, 1);
  return 1;
}


/* Converts a 1-based site ({i1, i2, ...} in the state's index order, or
** one number for a flat index) into a 0-based flat index. */
static int64_t check_site(lua_State *L, kubo_sim *s, int idx) {
  int64_t shape[KUBO_MAX_DIM];
  int nd = kubo_model_state_shape(kubo_sim_model(s), shape);
  int64_t dim = kubo_model_dim(kubo_sim_model(s));
  if (lua_type(L, idx) == LUA_TNUMBER) {
    int64_t k = kb_check_int(L, idx, "site");
    if (k < 1 || k > dim)
      luaL_argerror(L, idx, lua_pushfstring(L, "site %I is out of range "
                    "(1 to %I)", (lua_Integer)k, (lua_Integer)dim));
    return k - 1;
  }
  luaL_checktype(L, idx, LUA_TTABLE);
  if ((int)luaL_len(L, idx) != nd)
    luaL_argerror(L, idx, lua_pushfstring(L, "site must have %d indices "
                  "(one per dimension of the state)", nd));
  int64_t flat = 0;
  for (int d = 0; d < nd; d++) {
    lua_rawgeti(L, idx, d + 1);
    int64_t k = kb_check_int(L, -1, "site index");
    lua_pop(L, 1);
    if (k < 1 || k > shape[d])
      luaL_argerror(L, idx, lua_pushfstring(L, "site index %d is %I, "
                    "outside 1 to %I", d + 1, (lua_Integer)k,
                    (lua_Integer)shape[d]));
    flat = flat * shape[d] + (k - 1);
  }
  return flat;
}


static int s_add_impulse(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  int64_t site = check_site(L, s, 2);
  double delta = luaL_checknumber(L, 3);
  KB_TRY(L, kubo_sim_add_impulse(s, site, delta));
  lua_settop(L, 1);
  return 1;
}


static int s_max_abs(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  double v = kubo_sim_max_abs(s);
  if (v < 0) return kb_raise(L);
  lua_pushnumber(L, v);
  return 1;
}


static int s_clone(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  kubo_sim *c = NULL;
  KB_TRY(L, kubo_sim_clone(&c, s));
  lua_getiuservalue(L, 1, KB_SIM_UV_MODEL);
  push_sim(L, c, -1);
  return 1;
}


/* ---------------------------------------------------------------------
** Stepping
** ------------------------------------------------------------------- */

static int s_advance(lua_State *L) {
  kubo_sim *s = kb_integrator_check(L, 1);
  kb_sim_check_idle(L, 1, "advance");
  int64_t steps = kb_check_int(L, 2, "steps");
  if (steps < 0)
    return luaL_argerror(L, 2, "steps must be >= 0");
  kb_sim_set_busy(L, 1, 1);
  kubo_status status = kubo_sim_advance(s, steps);
  kb_sim_set_busy(L, 1, 0);
  if (status != KUBO_OK) return kb_sim_raise_advance(L, s, status);
  lua_settop(L, 1);
  return 1;
}


static int s_advance_pair(lua_State *L) {
  kubo_sim *a = kb_integrator_check(L, 1);
  kubo_sim *b = kb_integrator_check(L, 2);
  kb_sim_check_idle(L, 1, "advance");
  kb_sim_check_idle(L, 2, "advance");
  int64_t steps = kb_check_int(L, 3, "steps");
  if (steps < 0)
    return luaL_argerror(L, 3, "steps must be >= 0");
  kb_sim_set_busy(L, 1, 1);
  kb_sim_set_busy(L, 2, 1);
  kubo_status status = kubo_sim_advance_pair(a, b, steps);
  kb_sim_set_busy(L, 1, 0);
  kb_sim_set_busy(L, 2, 0);
  if (status != KUBO_OK) {
    kubo_sim *failed = kubo_sim_failure(b, NULL, NULL, NULL) ? b : a;
    return kb_sim_raise_advance(L, failed, status);
  }
  lua_settop(L, 1);
  return 1;
}


/* ---------------------------------------------------------------------
** Queries
** ------------------------------------------------------------------- */

static int s_time(lua_State *L) {
  lua_pushnumber(L, kubo_sim_time(kb_integrator_check(L, 1)));
  return 1;
}


static int s_step_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_sim_step_count(
                    kb_integrator_check(L, 1)));
  return 1;
}


static int s_members(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_sim_members(
                    kb_integrator_check(L, 1)));
  return 1;
}


static int s_dt(lua_State *L) {
  lua_pushnumber(L, kubo_sim_get_options(kb_integrator_check(L, 1))->dt);
  return 1;
}


static int s_seed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_sim_get_options(
                    kb_integrator_check(L, 1))->seed);
  return 1;
}


static int s_method(lua_State *L) {
  lua_pushstring(L, kubo_sim_method_name(
                   kubo_sim_get_options(kb_integrator_check(L, 1))->method));
  return 1;
}


static int s_model(lua_State *L) {
  kb_integrator_check(L, 1);
  lua_getiuservalue(L, 1, KB_SIM_UV_MODEL);
  return 1;
}


static int s_first_member(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_sim_get_options(
                    kb_integrator_check(L, 1))->first_member + 1);
  return 1;
}


static int s_tostring(lua_State *L) {
  sim_box *b = box_check(L, 1);
  if (b->s == NULL) {
    lua_pushliteral(L, "kubo.Integrator (freed)");
    return 1;
  }
  const kubo_sim_options *opt = kubo_sim_get_options(b->s);
  lua_pushfstring(L, "kubo.Integrator(%s, %s, dt %f, %I members, seed %I, "
                  "step %I)", kubo_model_kind(kubo_sim_model(b->s)),
                  kubo_sim_method_name(opt->method), opt->dt,
                  (lua_Integer)opt->members, (lua_Integer)opt->seed,
                  (lua_Integer)kubo_sim_step_count(b->s));
  return 1;
}


/* ---------------------------------------------------------------------
** Registration
** ------------------------------------------------------------------- */

static const kb_reg sim_methods[] = {
  {"initialize", s_initialize,
   "sim:initialize([u0 or function(rng, member) ... end]) starts over at "
   "step 0: resets the hidden state (navier_stokes phases) and sets every "
   "member to u0 (one state, or one per member: (members, ...state "
   "shape)), to f(rng, member) (a tensor of one state; rng is the "
   "member's own kubo.Rng, member counts from 1), or with no argument "
   "to the model's default state. Returns sim."},
  {"advance", s_advance,
   "sim:advance(steps) advances every member by steps steps without "
   "recording (spin-up). Ctrl-C stops at a step boundary; a NaN or Inf "
   "stops with an error naming the member, step and time, keeping the "
   "last finite state. Returns sim."},
  {"run", kb_sim_run,
   "sim:run{steps = n, every = 1, progress = false, file = nil, dataset "
   "= \"timeseries\", dtype = \"float64\", snapshots = {every = k, file "
   "= ..., dataset = \"snapshots\", dtype = ...}} -> traj[, snaps]: "
   "advances n steps, recording the state after every `every` steps "
   "(floor(n / every) frames) into a tensor (frames, members, ...state "
   "shape...), or, with file, appending each frame to an HDF5 dataset "
   "(attributes: model, its parameters, grid, method, dt, seed, stride, "
   "start_step, kubo_version) and returning {file =, dataset =, frames "
   "=}. snapshots records a second series at its own stride (into the "
   "same file unless it names another). A dataset that already exists "
   "is an error unless append = true, which adds the frames to it. "
   "progress prints steps/s, ETA and max |u| on stderr. On Ctrl-C or a "
   "NaN the file keeps every frame written before the error is "
   "raised."},
  {"state", s_state,
   "sim:state() -> tensor (members, ...state shape...): a copy of the "
   "current state"},
  {"set_state", s_set_state,
   "sim:set_state(u) sets the state (one state, or one per member), "
   "keeping the step count and the hidden state. Returns sim."},
  {"hidden_state", s_hidden_state,
   "sim:hidden_state() -> tensor (members, hidden size) of the hidden "
   "state (navier_stokes forcing phases), or nil"},
  {"set_hidden_state", s_set_hidden_state,
   "sim:set_hidden_state(h) replaces the hidden state. Returns sim."},
  {"add_impulse", s_add_impulse,
   "sim:add_impulse(site, delta) adds delta at site in every member: site "
   "= {iy, ix} on a 2-D grid (1-based, in tensor index order, so {1, 1} "
   "is x = 0, y = 0), or a 1-based component index. Returns sim."},
  {"clone", s_clone,
   "sim:clone() -> a copy with the same state, step and seed, which "
   "therefore draws the same noise as sim from here on (the perturbed "
   "ensemble of a perturbation run)"},
  {"advance_pair", s_advance_pair,
   "sim:advance_pair(other, steps) advances sim and other (a clone of "
   "it, at the same step) together, drawing each member's noise once "
   "for both; the same bits as advancing each alone. Returns sim."},
  {"max_abs", s_max_abs, "sim:max_abs() -> max |u| over all members"},
  {"time", s_time, "sim:time() -> step count * dt"},
  {"step_count", s_step_count, "sim:step_count() -> steps since "
                               "initialize"},
  {"members", s_members, "sim:members() -> number of members"},
  {"first_member", s_first_member,
   "sim:first_member() -> the global number of member 1 (its noise key)"},
  {"dt", s_dt, "sim:dt() -> the time step"},
  {"seed", s_seed, "sim:seed() -> the seed of every random draw"},
  {"method", s_method, "sim:method() -> \"euler_maruyama\", \"heun\" or "
                       "\"rk4\""},
  {"model", s_model, "sim:model() -> the kubo.Model"},
  {"save", kb_sim_save,
   "sim:save(file) writes a checkpoint (HDF5: raw_state, state, hidden, "
   "model arrays; attributes: model, parameters, grid, method, dt, seed, "
   "members, step, time, kubo_version) from which "
   "kubo.integrator.load restarts to the same bits. Returns sim."},
  {"free", s_free, "sim:free() releases the ensemble's memory now"},
  {"__tostring", s_tostring, NULL},
  {"__gc", s_gc, NULL},
  {"__close", s_free, NULL},
  {NULL, NULL, NULL}
};


static int l_call(lua_State *L) { return kb_sim_new(L); }


void kb_open_integrator(lua_State *L) {
  int core = lua_gettop(L);
  kb_newclass(L, KB_INTEGRATOR, sim_methods,
              "kubo.Integrator: an ensemble of a model's members advanced "
              "with euler_maruyama, heun or rk4. Methods: initialize, "
              "advance, run, state, set_state, hidden_state, "
              "set_hidden_state, add_impulse, clone, advance_pair, "
              "max_abs, time, step_count, members, first_member, dt, "
              "seed, method, model, save, free.");
  lua_pop(L, 1);

  lua_newtable(L);
  lua_getfield(L, core, "models");
  lua_getfield(L, core, "grid");
  lua_pushcclosure(L, kb_sim_load, 2);
  kb_setdoc(L, -1, "kubo.integrator.load(file, [{model = m}]) -> "
            "Integrator: restores a checkpoint of sim:save (state, "
            "hidden state, step, options; the model is rebuilt from the "
            "file unless given, and must be given for an sde model)");
  lua_setfield(L, -2, "load");
  lua_newtable(L);
  lua_pushcfunction(L, l_call);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);
  kb_setdoc(L, -1, "kubo.integrator{model = m, method = \"rk4\", dt = "
            "m:default_dt(), members = 1, seed = 1234, first_member = 1, "
            "noise = \"half\"} -> Integrator. Methods: \"euler_maruyama\", "
            "\"heun\" (stochastic Heun for additive noise), \"rk4\" (RK4 "
            "on the drift, then sqrt(dt) times the noise, as in the "
            "reference experiments). Every draw is keyed by (seed, "
            "member, step): results do not depend on the thread count, "
            "and integrators with the same seed share noise member by "
            "member (first_member sets the global number of member 1). "
            "noise: \"half\" draws one complex normal per conjugate pair "
            "of modes, \"full\" two normals per mode of the full spectrum "
            "as the reference code does; both give the same law. "
            "Members start from the model's default state.");
  lua_setfield(L, core, "integrator");
}
