/*
** model.c: kubo.models (ou, allen_cahn, navier_stokes, double_well,
** linear, sde) and the kubo.Model class.
**
** A kubo.Model userdata contains the engine model and keeps the grid it
** lives on as its first user value, so the grid outlives it. A model from
** kubo.models.sde also keeps registry references to its Lua drift
** function and to the two tensors through which the engine passes states
** to it.
*/
#include <math.h>
#include <string.h>

#include "kb.h"
#include "kubo/grid.h"
#include "kubo/model.h"

typedef struct model_box {
  kubo_model *m;
  lua_State *L;          /* thread that runs the Lua drift */
  int drift_ref;         /* registry references, LUA_NOREF if none */
  int x_ref, dxdt_ref;
} model_box;

/* User values of a kubo.Model: the grid (nil for vector models). */
enum { UV_GRID = 1, UV_COUNT = 1 };


/* Raises the engine's error message unless status is KUBO_OK (for
** functions that do not return a Lua result count). */
static void check_status(lua_State *L, kubo_status status) {
  if (status != KUBO_OK) kb_raise(L);
}


static model_box *box_check(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, KB_MODEL);
}


struct kubo_model *kb_model_check(lua_State *L, int idx) {
  model_box *b = box_check(L, idx);
  if (b->m == NULL) luaL_argerror(L, idx, "attempt to use a freed model");
  b->L = L;
  return b->m;
}


static int m_gc(lua_State *L) {
  model_box *b = box_check(L, 1);
  kubo_model_release(b->m);
  b->m = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, b->drift_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, b->x_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, b->dxdt_ref);
  b->drift_ref = b->x_ref = b->dxdt_ref = LUA_NOREF;
  return 0;
}


/* ---------------------------------------------------------------------
** The Lua drift of kubo.models.sde
** ------------------------------------------------------------------- */

/* Pushes the registry value ref and returns its tensor, checked to be a
** live contiguous float64 vector of dim values. */
static kubo_tensor *push_work_tensor(lua_State *L, int ref, int64_t dim) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  kubo_tensor *t = kb_tensor_test(L, -1);
  if (t == NULL || kubo_tensor_is_empty(t) || t->dtype != KUBO_FLOAT64 ||
      !kubo_tensor_is_contiguous(t) || kubo_tensor_numel(t) != dim)
    return NULL;
  return t;
}


/* Calls drift(x, dxdt) for one member. The function fills dxdt (zeroed
** before the call), or returns a tensor or (for dim 1) a number. */
static kubo_status lua_drift(int64_t dim, const double *x, double *dxdt,
                             void *userdata) {
  model_box *b = userdata;
  lua_State *L = b->L;
  if (L == NULL || !lua_checkstack(L, 6))
    return kubo_error_set(KUBO_ESTATE, "sde: no Lua state to run the "
                          "drift on");
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, b->drift_ref);
  kubo_tensor *tx = push_work_tensor(L, b->x_ref, dim);
  kubo_tensor *td = push_work_tensor(L, b->dxdt_ref, dim);
  if (tx == NULL || td == NULL) {
    lua_settop(L, top);
    return kubo_error_set(KUBO_ESTATE, "sde: the drift freed or reshaped "
                          "the tensors it was given (copy them instead)");
  }
  memcpy(tx->data, x, (size_t)dim * sizeof(double));
  memset(td->data, 0, (size_t)dim * sizeof(double));

  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    kubo_status status = kubo_error_set(KUBO_EINVAL, "sde: the drift "
                                        "function failed: %s",
                                        msg != NULL ? msg : "(no message)");
    lua_settop(L, top);
    return status;
  }

  kubo_status status = KUBO_OK;
  kubo_tensor *ret = kb_tensor_test(L, -1);
  if (ret != NULL) {
    kubo_tensor flat = {0};
    int64_t n = kubo_tensor_numel(ret);
    if (kubo_tensor_is_empty(ret) || n != dim) {
      status = kubo_error_set(KUBO_EINVAL, "sde: the drift returned a "
                              "tensor of %lld values, expected %lld",
                              (long long)n, (long long)dim);
    } else if ((status = kubo_tensor_clone(&flat, ret, KUBO_FLOAT64)) ==
               KUBO_OK) {
      memcpy(dxdt, flat.data, (size_t)dim * sizeof(double));
      kubo_tensor_release(&flat);
    }
  } else if (lua_type(L, -1) == LUA_TNUMBER && dim == 1) {
    dxdt[0] = lua_tonumber(L, -1);
  } else if (!lua_isnil(L, -1)) {
    status = kubo_error_set(KUBO_EINVAL, "sde: the drift must fill dxdt "
                            "and return nothing, or return a tensor (got "
                            "%s)", luaL_typename(L, -1));
  } else {
    memcpy(dxdt, td->data, (size_t)dim * sizeof(double));
  }
  lua_settop(L, top);
  return status;
}


/* ---------------------------------------------------------------------
** Options
** ------------------------------------------------------------------- */

/* Raises an error naming fname for a key of the table at idx that is not
** in keys. */
static void check_keys(lua_State *L, int idx, const char *fname,
                       const char *const *keys) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -1);
      for (int i = 0; keys[i] != NULL; i++)
        if (strcmp(key, keys[i]) == 0) known = 1;
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


/* Sets parameter `param` from field key of the table at idx if present. */
static void set_number(lua_State *L, model_box *b, int idx, const char *fname,
                       const char *key, const char *param) {
  int type = lua_getfield(L, idx, key);
  if (type != LUA_TNIL) {
    if (type != LUA_TNUMBER)
      luaL_error(L, "%s: %s must be a number (got %s)", fname, key,
                 luaL_typename(L, -1));
    check_status(L, kubo_model_set(b->m, param, lua_tonumber(L, -1)));
  }
  lua_pop(L, 1);
}


/* Converts the value at idx (a tensor, a table of numbers or a table of
** rows) into a new float64 tensor in *out. */
static void check_array(lua_State *L, int idx, const char *fname,
                        const char *key, kubo_tensor *out) {
  idx = lua_absindex(L, idx);
  kubo_tensor *t = kb_tensor_test(L, idx);
  if (t != NULL) {
    if (kubo_tensor_is_empty(t))
      luaL_error(L, "%s: %s is a freed tensor", fname, key);
    check_status(L, kubo_tensor_clone(out, t, KUBO_FLOAT64));
    return;
  }
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: %s must be a tensor or a table of numbers (got %s)",
               fname, key, luaL_typename(L, idx));
  int64_t rows = (int64_t)luaL_len(L, idx), cols = -1;
  lua_rawgeti(L, idx, 1);
  int nested = lua_istable(L, -1);
  if (nested) cols = (int64_t)luaL_len(L, -1);
  lua_pop(L, 1);
  if (rows < 1 || cols == 0)
    luaL_error(L, "%s: %s is empty", fname, key);
  int64_t shape[2] = {rows, cols};
  check_status(L, kubo_tensor_init(out, KUBO_FLOAT64, nested ? 2 : 1, shape));
  double *data = out->data;
  for (int64_t i = 0; i < rows; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i + 1);
    if (nested) {
      if (!lua_istable(L, -1) || (int64_t)luaL_len(L, -1) != cols) {
        kubo_tensor_release(out);
        luaL_error(L, "%s: %s must have rows of %I numbers (row %I "
                   "differs)", fname, key, (lua_Integer)cols,
                   (lua_Integer)i + 1);
      }
      for (int64_t j = 0; j < cols; j++) {
        lua_rawgeti(L, -1, (lua_Integer)j + 1);
        int ok = lua_type(L, -1) == LUA_TNUMBER;
        data[i * cols + j] = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (!ok) {
          kubo_tensor_release(out);
          luaL_error(L, "%s: %s[%I][%I] must be a number", fname, key,
                     (lua_Integer)i + 1, (lua_Integer)j + 1);
        }
      }
    } else {
      int ok = lua_type(L, -1) == LUA_TNUMBER;
      data[i] = lua_tonumber(L, -1);
      if (!ok) {
        kubo_tensor_release(out);
        luaL_error(L, "%s: %s[%I] must be a number", fname, key,
                   (lua_Integer)i + 1);
      }
    }
    lua_pop(L, 1);
  }
}


/* Sets array parameter `param` from field key of the table at idx. */
static void set_array(lua_State *L, model_box *b, int idx, const char *fname,
                      const char *key, const char *param) {
  if (lua_getfield(L, idx, key) != LUA_TNIL) {
    kubo_tensor t = {0};
    check_array(L, -1, fname, key, &t);
    kubo_status status = kubo_model_set_array(b->m, param, &t);
    kubo_tensor_release(&t);
    check_status(L, status);
  }
  lua_pop(L, 1);
}


/* Pushes a new kubo.Model with an engine model of the given kind. opts is
** the options table. A grid kind takes its grid option, or else a new
** 32 x 32 zero_k grid made by the kubo.grid constructor (upvalue 1). */
static model_box *new_model(lua_State *L, int opts, const char *kind,
                            int grid_kind) {
  kubo_grid *grid = NULL;
  if (grid_kind) {
    if (lua_getfield(L, opts, "grid") == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushvalue(L, lua_upvalueindex(1));
      lua_createtable(L, 0, 2);
      lua_createtable(L, 2, 0);
      lua_pushinteger(L, 32);
      lua_rawseti(L, -2, 1);
      lua_pushinteger(L, 32);
      lua_rawseti(L, -2, 2);
      lua_setfield(L, -2, "n");
      lua_pushliteral(L, "zero_k");
      lua_setfield(L, -2, "nyquist");
      lua_call(L, 1, 1);
    }
    grid = kb_grid_check(L, -1);
  } else {
    lua_pushnil(L);
  }
  int grid_idx = lua_gettop(L);

  model_box *b = lua_newuserdatauv(L, sizeof *b, UV_COUNT);
  b->m = NULL;
  b->L = L;
  b->drift_ref = b->x_ref = b->dxdt_ref = LUA_NOREF;
  luaL_setmetatable(L, KB_MODEL);
  lua_pushvalue(L, grid_idx);
  lua_setiuservalue(L, -2, UV_GRID);
  lua_remove(L, grid_idx);
  check_status(L, kubo_model_new(&b->m, kind, grid));
  return b;
}


/* Reads the options table (absent means all defaults) into index 1. */
static void options_arg(lua_State *L, const char *fname,
                        const char *const *keys) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  check_keys(L, 1, fname, keys);
}


static int finish(lua_State *L, model_box *b) {
  KB_TRY(L, kubo_model_ready(b->m));
  return 1;
}


/* ---------------------------------------------------------------------
** Constructors
** ------------------------------------------------------------------- */

static int spde_new(lua_State *L, const char *kind, const char *coef) {
  const char *keys[] = {"grid", coef, "kappa", "advection", "eps2", NULL};
  char fname[64];
  snprintf(fname, sizeof fname, "models.%s", kind);
  options_arg(L, fname, keys);
  model_box *b = new_model(L, 1, kind, 1);
  for (int i = 1; i < 5; i++) set_number(L, b, 1, fname, keys[i], keys[i]);
  return finish(L, b);
}


static int l_ou(lua_State *L) { return spde_new(L, "ou", "lambda"); }

static int l_allen_cahn(lua_State *L) {
  return spde_new(L, "allen_cahn", "alpha");
}


static int l_navier_stokes(lua_State *L) {
  static const char *const keys[] = {"grid", "nu", "nu_h", "advection",
                                     "mean_damping", "forcing", NULL};
  static const char *const forcing_keys[] = {"amplitude", "kmax2",
    "phase_diffusivity", "mean_removal", "steady", NULL};
  const char *fname = "models.navier_stokes";
  options_arg(L, fname, keys);
  model_box *b = new_model(L, 1, "navier_stokes", 1);
  for (int i = 1; i < 5; i++) set_number(L, b, 1, fname, keys[i], keys[i]);

  int type = lua_getfield(L, 1, "forcing");
  if (type == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    KB_TRY(L, kubo_model_set(b->m, "forcing.amplitude", 0));
  } else if (type == LUA_TTABLE) {
    int f = lua_gettop(L);
    const char *sub = "models.navier_stokes: forcing";
    check_keys(L, f, sub, forcing_keys);
    set_number(L, b, f, sub, "amplitude", "forcing.amplitude");
    set_number(L, b, f, sub, "kmax2", "forcing.kmax2");
    set_number(L, b, f, sub, "phase_diffusivity",
               "forcing.phase_diffusivity");
    set_number(L, b, f, sub, "mean_removal", "forcing.mean_removal");
    set_array(L, b, f, sub, "steady", "forcing.steady");
  } else if (type != LUA_TNIL) {
    return luaL_error(L, "%s: forcing must be a table or false (got %s)",
                      fname, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return finish(L, b);
}


static int l_double_well(lua_State *L) {
  static const char *const keys[] = {"eps", "dim", NULL};
  const char *fname = "models.double_well";
  options_arg(L, fname, keys);
  model_box *b = new_model(L, 1, "double_well", 0);
  set_number(L, b, 1, fname, "eps", "eps");
  set_number(L, b, 1, fname, "dim", "dim");
  return finish(L, b);
}


static int l_linear(lua_State *L) {
  static const char *const keys[] = {"A", "Q", NULL};
  const char *fname = "models.linear";
  options_arg(L, fname, keys);
  model_box *b = new_model(L, 1, "linear", 0);
  set_array(L, b, 1, fname, "A", "A");
  set_array(L, b, 1, fname, "Q", "Q");
  return finish(L, b);
}


static int l_sde(lua_State *L) {
  static const char *const keys[] = {"dim", "drift", "noise", "Q", NULL};
  const char *fname = "models.sde";
  options_arg(L, fname, keys);
  model_box *b = new_model(L, 1, "sde", 0);
  set_number(L, b, 1, fname, "dim", "dim");

  int type = lua_getfield(L, 1, "noise");
  if (type == LUA_TNUMBER) {
    KB_TRY(L, kubo_model_set(b->m, "noise", lua_tonumber(L, -1)));
  } else if (type != LUA_TNIL) {
    kubo_tensor t = {0};
    check_array(L, -1, fname, "noise", &t);
    kubo_status status = kubo_model_set_array(b->m, "noise", &t);
    kubo_tensor_release(&t);
    KB_TRY(L, status);
  }
  lua_pop(L, 1);
  set_array(L, b, 1, fname, "Q", "Q");

  if (lua_getfield(L, 1, "drift") != LUA_TFUNCTION)
    return luaL_error(L, "%s: drift must be a function(x, dxdt) (got %s)",
                      fname, luaL_typename(L, -1));
  b->drift_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  double dim = 0;
  kubo_model_get(b->m, "dim", &dim);
  if (dim >= 1 && dim == floor(dim) && dim <= 1e9) {
    int64_t shape[1] = {(int64_t)dim};
    kubo_tensor x = {0}, dxdt = {0};
    KB_TRY(L, kubo_tensor_init(&x, KUBO_FLOAT64, 1, shape));
    kb_tensor_push(L, &x);
    b->x_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    KB_TRY(L, kubo_tensor_init(&dxdt, KUBO_FLOAT64, 1, shape));
    kb_tensor_push(L, &dxdt);
    b->dxdt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  KB_TRY(L, kubo_model_set_drift(b->m, lua_drift, b));
  return finish(L, b);
}


/* ---------------------------------------------------------------------
** Methods
** ------------------------------------------------------------------- */

/* Returns the number of states in t, which must end in the model's state
** shape (a model of dimension 1 takes every value as a state). */
static int64_t state_count(lua_State *L, const kubo_model *m,
                           const kubo_tensor *t, int arg) {
  int64_t shape[KUBO_MAX_DIM];
  int nd = kubo_model_state_shape(m, shape);
  int64_t dim = kubo_model_dim(m), n = kubo_tensor_numel(t);
  if (kubo_tensor_is_empty(t))
    luaL_argerror(L, arg, "attempt to use a freed tensor");
  int ok = t->ndim >= nd;
  for (int i = 0; ok && i < nd; i++)
    ok = t->shape[t->ndim - nd + i] == shape[i];
  if (!ok && dim == 1) return n;
  if (!ok) {
    char got[96], want[96] = "(..., ";
    kubo_tensor_shape_string(t, got, sizeof got);
    for (int i = 0; i < nd; i++) {
      size_t len = strlen(want);
      snprintf(want + len, sizeof want - len, "%lld%s", (long long)shape[i],
               i + 1 < nd ? ", " : ")");
    }
    luaL_argerror(L, arg, lua_pushfstring(L, "expected states of shape "
                  "%s for the %s model (got %s)", want, kubo_model_kind(m),
                  got));
  }
  return dim > 0 ? n / dim : 0;
}


/* Applies the drift (score = 0) or the score (score = 1) to argument 2. */
static int evaluate(lua_State *L, int score) {
  kubo_model *m = kb_model_check(L, 1);
  kubo_tensor *u = kb_tensor_check(L, 2);
  int64_t count = state_count(L, m, u, 2);
  int64_t hsize = kubo_model_hidden_size(m);
  kubo_tensor in = {0}, hidden = {0}, out = {0};

  if (!score && !lua_isnoneornil(L, 3)) {
    kubo_tensor *h = kb_tensor_check(L, 3);
    if (hsize == 0 || kubo_tensor_numel(h) != count * hsize)
      return luaL_argerror(L, 3, lua_pushfstring(L, "expected %I hidden "
                           "values per state (got %I in all for %I states)",
                           (lua_Integer)hsize,
                           (lua_Integer)kubo_tensor_numel(h),
                           (lua_Integer)count));
    KB_TRY(L, kubo_tensor_clone(&hidden, h, KUBO_FLOAT64));
  }
  kubo_status status = kubo_tensor_clone(&in, u, KUBO_FLOAT64);
  if (status == KUBO_OK) status = kubo_tensor_init_like(&out, &in, -1);
  if (status == KUBO_OK) {
    if (score)
      status = kubo_model_score(m, count, in.data, out.data);
    else
      status = kubo_model_drift(m, count, in.data,
                                kubo_tensor_is_empty(&hidden) ? NULL
                                                              : hidden.data,
                                out.data);
  }
  kubo_tensor_release(&in);
  kubo_tensor_release(&hidden);
  if (status != KUBO_OK) {
    kubo_tensor_release(&out);
    return kb_raise(L);
  }
  kb_tensor_push(L, &out);
  return 1;
}


static int m_drift(lua_State *L) { return evaluate(L, 0); }

static int m_score(lua_State *L) { return evaluate(L, 1); }


static int m_dim(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_model_dim(kb_model_check(L, 1)));
  return 1;
}


static int m_shape(lua_State *L) {
  int64_t shape[KUBO_MAX_DIM];
  int nd = kubo_model_state_shape(kb_model_check(L, 1), shape);
  lua_createtable(L, nd, 0);
  for (int i = 0; i < nd; i++) {
    lua_pushinteger(L, (lua_Integer)shape[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}


static int m_hidden_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_model_hidden_size(
                    kb_model_check(L, 1)));
  return 1;
}


static int m_default_dt(lua_State *L) {
  double dt = kubo_model_default_dt(kb_model_check(L, 1));
  if (dt > 0)
    lua_pushnumber(L, dt);
  else
    lua_pushnil(L);
  return 1;
}


static int m_has_score(lua_State *L) {
  lua_pushboolean(L, kubo_model_has_score(kb_model_check(L, 1)));
  return 1;
}


static int m_forced_modes(lua_State *L) {
  kubo_model *m = kb_model_check(L, 1);
  int64_t n = kubo_model_hidden_size(m);
  if (strcmp(kubo_model_kind(m), "navier_stokes") != 0)
    return luaL_error(L, "%s: only navier_stokes has forced modes",
                      kubo_model_kind(m));
  int64_t shape[2] = {n, 2};
  kubo_tensor t = {0};
  KB_TRY(L, kubo_tensor_init(&t, KUBO_FLOAT64, 2, shape));
  int64_t *modes = lua_newuserdatauv(L, (size_t)(2 * n + 1) *
                                     sizeof(int64_t), 0);
  kubo_status status = kubo_model_forced_modes(m, modes);
  if (status != KUBO_OK) {
    kubo_tensor_release(&t);
    return kb_raise(L);
  }
  for (int64_t i = 0; i < 2 * n; i++)
    ((double *)t.data)[i] = (double)modes[i];
  lua_pop(L, 1);
  kb_tensor_push(L, &t);
  return 1;
}


/* Stores value (on top) at the dotted path name in the table at idx,
** making sub-tables for the parts before the last dot. */
static void set_path(lua_State *L, int idx, const char *name) {
  const char *dot = strchr(name, '.');
  if (dot == NULL) {
    lua_setfield(L, idx, name);
    return;
  }
  lua_pushlstring(L, name, (size_t)(dot - name));
  if (lua_rawget(L, idx) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlstring(L, name, (size_t)(dot - name));
    lua_pushvalue(L, -2);
    lua_rawset(L, idx);
  }
  lua_insert(L, -2);
  set_path(L, lua_gettop(L) - 1, dot + 1);
  lua_pop(L, 1);
}


/* m.params: the parameters as a new table, shaped like the constructor's
** options (nested for navier_stokes' forcing). */
static void push_params(lua_State *L, model_box *b) {
  static const char *const arrays[] = {"A", "Q", "noise", "forcing.steady",
                                       NULL};
  const kubo_model *m = b->m;
  lua_newtable(L);
  int t = lua_gettop(L);
  for (int i = 0; i < kubo_model_param_count(m); i++) {
    lua_pushnumber(L, kubo_model_param_value(m, i));
    set_path(L, t, kubo_model_param_name(m, i));
  }
  for (int i = 0; arrays[i] != NULL; i++) {
    const kubo_tensor *a = kubo_model_array(m, arrays[i]);
    if (a == NULL) continue;
    kubo_tensor copy = {0};
    check_status(L, kubo_tensor_clone(&copy, a, -1));
    kb_tensor_push(L, &copy);
    set_path(L, t, arrays[i]);
  }
  if (b->drift_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->drift_ref);
    lua_setfield(L, t, "drift");
  }
}


static int m_index(lua_State *L) {
  model_box *b = box_check(L, 1);
  const char *key = lua_tostring(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  if (key == NULL || b->m == NULL) return 1;
  if (strcmp(key, "params") == 0) {
    push_params(L, b);
  } else if (strcmp(key, "kind") == 0) {
    lua_pushstring(L, kubo_model_kind(b->m));
  } else if (strcmp(key, "grid") == 0) {
    lua_getiuservalue(L, 1, UV_GRID);
  }
  return 1;
}


static int m_tostring(lua_State *L) {
  model_box *b = box_check(L, 1);
  if (b->m == NULL) {
    lua_pushliteral(L, "kubo.Model (freed)");
    return 1;
  }
  luaL_Buffer buf;
  luaL_buffinit(L, &buf);
  lua_pushfstring(L, "kubo.Model(%s", kubo_model_kind(b->m));
  luaL_addvalue(&buf);
  for (int i = 0; i < kubo_model_param_count(b->m); i++) {
    lua_pushfstring(L, "%s %s = %f", i ? "," : ":",
                    kubo_model_param_name(b->m, i),
                    kubo_model_param_value(b->m, i));
    luaL_addvalue(&buf);
  }
  lua_pushfstring(L, "; dim %I)", (lua_Integer)kubo_model_dim(b->m));
  luaL_addvalue(&buf);
  luaL_pushresult(&buf);
  return 1;
}


static const kb_reg model_methods[] = {
  {"drift", m_drift,
   "m:drift(u, [hidden]) -> F(u): the drift of states u (shape (..., "
   "state shape)), a new float64 tensor of the same shape. hidden: the "
   "navier_stokes forcing phases, (count, m:hidden_size()); without it "
   "every phase is 0."},
  {"score", m_score,
   "m:score(u) -> grad log p(u), the analytic score of the stationary "
   "density. ou and allen_cahn: the score of the discrete system, whose "
   "noise covariance is N^2 eps2 (1 - laplacian)^-1 on N^2 points, "
   "s(u) = (2/N^2) {f(u) + IDFT[((1 + |k|^2)/eps2)(-kappa |k|^2) "
   "DFT(u)]}, which is the continuum score divided by N^2; double_well: "
   "-(x^3 - x)/eps^2; linear: -Sigma^-1 x with A Sigma + Sigma A^T + Q = "
   "0. Raises for models without one (navier_stokes, sde, unstable A)."},
  {"dim", m_dim, "m:dim() -> number of values in one member's state"},
  {"shape", m_shape, "m:shape() -> the shape of one state as a table, "
                     "{ny, nx} on a 2-D grid or {dim}"},
  {"hidden_size", m_hidden_size,
   "m:hidden_size() -> hidden values per member (navier_stokes: the "
   "forcing phases, one per forced mode), 0 for other models"},
  {"default_dt", m_default_dt,
   "m:default_dt() -> the reference time step (1/32 for ou and "
   "allen_cahn, 1/(4 nx) for navier_stokes on 32 x 32 and smaller where "
   "the hyperviscosity needs it, 0.01 for double_well), or nil"},
  {"has_score", m_has_score,
   "m:has_score() -> true if m:score works for this model"},
  {"forced_modes", m_forced_modes,
   "m:forced_modes() -> tensor (n, 2) of the forced integer wavenumbers "
   "(kx, ky) of a navier_stokes model, in the order of its phases"},
  {"__tostring", m_tostring, NULL},
  {"__gc", m_gc, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg model_functions[] = {
  {"ou", l_ou,
   "kubo.models.ou{grid = g, lambda = 0.04, kappa = 2.5e-4, "
   "advection = 0.02, eps2 = 0.004} -> Model: the Ornstein-Uhlenbeck "
   "SPDE du = [-lambda Sigma u + kappa lap u - U du/dx] dt + eps "
   "Sigma^(1/2) dW, Sigma = (1 - lap)^-1, integrated as the Allen-Cahn "
   "model with the reaction -lambda_c u, lambda_c = lambda / eps2 (10). "
   "grid defaults to 32 x 32 with nyquist = \"zero_k\"; dt defaults to "
   "1/32."},
  {"allen_cahn", l_allen_cahn,
   "kubo.models.allen_cahn{grid = g, alpha = 16, kappa = 2.5e-4, "
   "advection = 0.02, eps2 = 0.004} -> Model: du = [kappa lap u - U "
   "du/dx + alpha Sigma u (1 - u^2)] dt + eps Sigma^(1/2) dW, in code "
   "F(u) = IDFT[S_k DFT(lambda_c u (1 - u^2)) + (-kappa |k|^2 - i U kx) "
   "DFT(u)], S_k = eps2/(1 + |k|^2), lambda_c = alpha / eps2 (4000). "
   "Noise per unit time: Re IDFT[N^2 sqrt(S_k) (a_k + i b_k)]. The "
   "default initial state is white noise filtered by S_k and divided by "
   "its maximum over the whole ensemble, twice. dt defaults to 1/32."},
  {"navier_stokes", l_navier_stokes,
   "kubo.models.navier_stokes{grid = g, nu = 1e-5, nu_h = 1e-2, "
   "advection = pi, mean_damping = 1, forcing = {amplitude = 18.75, "
   "kmax2 = 112.5, phase_diffusivity = 1, mean_removal = 0.9, steady = "
   "field}} -> Model: 2-D vorticity with hyper- and hypo-viscosity "
   "D_k = -nu_h/|k|^4 - nu |k|^4, mean flow U in x, skew-symmetric "
   "advection without dealiasing, and the random-phase forcing Re IDFT["
   "F0 exp(i phi_k)] on the modes with kx^2 + ky^2 <= kmax2 (no Nyquist "
   "index; 349 modes on 32 x 32), of which mean_removal of the spatial "
   "mean is removed; -mean_damping * mean(zeta) damps the mean. Each "
   "phase is a Brownian motion with <dphi^2> = 2 phase_diffusivity t, "
   "advanced inside the RK4 stages. amplitude and kmax2 default to "
   "300 (nx/128)^2 and 2 ((nx/2 - 1)/2)^2; forcing = false turns the "
   "random forcing off; steady adds a fixed (ny, nx) field. dt defaults "
   "to 1/(4 nx), halved until the hyperviscosity is stable for RK4 "
   "(1/128 on 32 x 32, 1/8192 on 256 x 256); the default state is "
   "sin(3x) sin(3y)."},
  {"double_well", l_double_well,
   "kubo.models.double_well{eps = 0.4, dim = 1} -> Model: dx = (x - x^3) "
   "dt + eps sqrt(2) dW per component; score -(x^3 - x)/eps^2; dt "
   "defaults to 0.01"},
  {"linear", l_linear,
   "kubo.models.linear{A = a, Q = q} -> Model: dx = A x dt + B dW with "
   "B B^T = Q (n x n tensors or tables of rows; Q symmetric positive "
   "semi-definite). The score -Sigma^-1 x, with A Sigma + Sigma A^T + Q "
   "= 0, exists when A is stable and Sigma nonsingular. Give dt to the "
   "integrator."},
  {"sde", l_sde,
   "kubo.models.sde{dim = n, drift = function(x, dxdt) ... end, noise = "
   "sigma or {sigma_1, ...}, Q = q} -> Model: dx = f(x) dt + B dW with "
   "f written in Lua: drift receives one member's state x and fills "
   "dxdt (both tensors of n values, valid only during the call), or "
   "returns a tensor. noise gives B = diag(sigma) (default 0); Q gives "
   "a covariance instead. The slow path: the drift runs on the calling "
   "thread, one member at a time. Give dt to the integrator."},
  {NULL, NULL, NULL}
};


void kb_open_models(lua_State *L) {
  int core = lua_gettop(L);
  luaL_newmetatable(L, KB_MODEL);
  lua_pushliteral(L, KB_MODEL);
  lua_setfield(L, -2, "__name");
  lua_newtable(L);
  kb_setfuncs(L, -1, model_methods);
  lua_pushcclosure(L, m_index, 1);
  lua_setfield(L, -2, "__index");
  for (const kb_reg *r = model_methods; r->name != NULL; r++) {
    if (r->name[0] == '_') {
      lua_pushcfunction(L, r->func);
      lua_setfield(L, -2, r->name);
    }
  }
  kb_setdoc(L, -1, "kubo.Model: a stochastic model. Methods: drift, score, "
            "dim, shape, hidden_size, default_dt, has_score, "
            "forced_modes; fields: params, kind, grid.");
  lua_pop(L, 1);

  lua_newtable(L);
  for (const kb_reg *r = model_functions; r->name != NULL; r++) {
    lua_getfield(L, core, "grid");
    lua_pushcclosure(L, r->func, 1);
    kb_setdoc(L, -1, r->doc);
    lua_setfield(L, -2, r->name);
  }
  kb_setdoc(L, -1, "kubo.models: built-in stochastic models (ou, "
            "allen_cahn, navier_stokes, double_well, linear) and sde for "
            "a drift written in Lua. Each takes one table of parameters "
            "whose defaults are the reference values.");
  lua_setfield(L, core, "models");
}
