/*
** response.c: kubo.response (Gaussian, score, conjugate-observable and
** perturbation response estimators, error metrics) and the
** kubo.Response class of their results.
**
** A Response is a Lua table with the fields values, stderr, kind, grid,
** site, members, dt and (score) stein. Its metatable kubo.Response
** contains the methods at, lags and save. Sites and indices are 1-based
** here and 0-based in the engine.
*/
#include <math.h>
#include <string.h>

#include "kb.h"
#include "kubo/grid.h"
#include "kubo/h5.h"
#include "kubo/integrator.h"
#include "kubo/model.h"
#include "kubo/response.h"

#define KB_RESPONSE "kubo.Response"
#define KB_RESPONSE_GUARD "kubo.response.guard"

/* Largest dense estimate, lags * d * d values (256 MiB of doubles). The
** estimator keeps six arrays of that size, so fields on a periodic grid
** should pass grid = g instead. */
#define DENSE_MAX_VALUES ((int64_t)1 << 25)


/* ---------------------------------------------------------------------
** A guard userdata frees the engine objects of a call when it is
** collected, so that a Lua error anywhere in the call leaks nothing.
** ------------------------------------------------------------------- */

typedef struct guard {
  kubo_traj *traj;
  kubo_response response;
} guard;


static int guard_gc(lua_State *L) {
  guard *g = luaL_checkudata(L, 1, KB_RESPONSE_GUARD);
  kubo_traj_free(g->traj);
  g->traj = NULL;
  kubo_response_release(&g->response);
  return 0;
}


static guard *push_guard(lua_State *L) {
  guard *g = lua_newuserdatauv(L, sizeof *g, 0);
  memset(g, 0, sizeof *g);
  luaL_setmetatable(L, KB_RESPONSE_GUARD);
  return g;
}


/* ---------------------------------------------------------------------
** Options
** ------------------------------------------------------------------- */

/* Raises if the table at idx has a key not in allowed (NULL-ended). */
static void check_keys(lua_State *L, int idx, const char *fname,
                       const char *const *allowed) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int known = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -2);
      for (const char *const *p = allowed; *p != NULL; p++)
        if (strcmp(*p, key) == 0) known = 1;
      if (!known) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const char *const *p = allowed; *p != NULL; p++) {
          if (p != allowed) luaL_addstring(&b, ", ");
          luaL_addstring(&b, *p);
        }
        luaL_pushresult(&b);
        luaL_error(L, "%s: unknown option '%s' (expected one of %s)", fname,
                   key, lua_tostring(L, -1));
      }
    } else {
      luaL_error(L, "%s: options must be given by name (got a %s key)",
                 fname, luaL_typename(L, -2));
    }
    lua_pop(L, 1);
  }
}


/* Reads option `key` of the table at idx as a whole number >= min;
** def < min makes it required. */
static int64_t opt_int(lua_State *L, int idx, const char *fname,
                       const char *key, int64_t def, int64_t min) {
  int isint = 0;
  lua_Integer v;
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    if (def < min)
      luaL_error(L, "%s: option '%s' is missing", fname, key);
    return def;
  }
  v = lua_tointegerx(L, -1, &isint);
  if (!isint || v < min)
    luaL_error(L, "%s: option '%s' must be a whole number >= %I (got %s)",
               fname, key, (lua_Integer)min, luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
  return (int64_t)v;
}


static double opt_number(lua_State *L, int idx, const char *fname,
                         const char *key, double def, int required) {
  double v;
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    if (required) luaL_error(L, "%s: option '%s' is missing", fname, key);
    return def;
  }
  if (lua_type(L, -1) != LUA_TNUMBER)
    luaL_error(L, "%s: option '%s' must be a number (got %s)", fname, key,
               luaL_typename(L, -1));
  v = lua_tonumber(L, -1);
  if (!isfinite(v))
    luaL_error(L, "%s: option '%s' must be finite (got %f)", fname, key, v);
  lua_pop(L, 1);
  return v;
}


/* Reads option 'dt' of the table at idx (default 1), which must be a
** finite number > 0. */
static double opt_dt(lua_State *L, int idx, const char *fname) {
  double dt = opt_number(L, idx, fname, "dt", 1.0, 0);
  if (!(dt > 0))
    luaL_error(L, "%s: option 'dt' must be > 0, the time between frames "
               "(got %f)", fname, dt);
  return dt;
}


static int opt_bool(lua_State *L, int idx, const char *fname,
                    const char *key, int def) {
  int v;
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return def;
  }
  if (!lua_isboolean(L, -1))
    luaL_error(L, "%s: option '%s' must be true or false (got %s)", fname,
               key, luaL_typename(L, -1));
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}


/* Reads a site {i, j, ...} (1-based, ndim entries) at stack index idx
** into 0-based indices; `what` names it in errors. */
static void check_site(lua_State *L, int idx, const char *fname,
                       const char *what, int ndim, const int64_t *shape,
                       int64_t *site) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) {
    luaL_Buffer example;
    luaL_buffinit(L, &example);
    luaL_addstring(&example, "{1");
    for (int a = 1; a < ndim; a++) luaL_addstring(&example, ", 1");
    luaL_addstring(&example, "}");
    luaL_pushresult(&example);
    luaL_error(L, "%s: %s must be a table of %d 1-based indices such as "
               "%s (got %s)", fname, what, ndim, lua_tostring(L, -1),
               luaL_typename(L, idx));
  }
  if (luaL_len(L, idx) != ndim)
    luaL_error(L, "%s: %s has %I indices, expected %d", fname, what,
               (lua_Integer)luaL_len(L, idx), ndim);
  for (int a = 0; a < ndim; a++) {
    int isint = 0;
    lua_Integer v;
    lua_geti(L, idx, a + 1);
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1 || v > shape[a])
      luaL_error(L, "%s: %s index %d must be a whole number from 1 to "
                 "%I (got %s)", fname, what, a + 1, (lua_Integer)shape[a],
                 luaL_tolstring(L, -1, NULL));
    site[a] = (int64_t)v - 1;
    lua_pop(L, 1);
  }
}


/* Opens the option `data` of the table at 1 as a trajectory source into
** g->traj: a tensor, or a table (or object) with fields file and name
** of an HDF5 dataset. */
static void open_data(lua_State *L, const char *fname, guard *g) {
  kubo_tensor *t;
  lua_getfield(L, 1, "data");
  if ((t = kb_tensor_test(L, -1)) != NULL) {
    if (t->storage == NULL)
      luaL_error(L, "%s: option 'data' is a freed tensor", fname);
    if (kubo_traj_from_tensor(&g->traj, t) != KUBO_OK) kb_raise(L);
  } else if (lua_istable(L, -1) || lua_isuserdata(L, -1)) {
    const char *path, *name;
    lua_getfield(L, -1, "file");
    path = lua_tostring(L, -1);
    /* sim:run{file = ...} returns {file =, dataset =, frames =} */
    if (lua_getfield(L, -2, "name") == LUA_TNIL) {
      lua_pop(L, 1);
      lua_getfield(L, -2, "dataset");
    }
    name = lua_tostring(L, -1);
    if (path == NULL || name == NULL)
      luaL_error(L, "%s: option 'data' must be a tensor (frames, members, "
                 "...) or {file = ..., name = ...} naming an HDF5 dataset",
                 fname);
    if (kubo_traj_from_h5(&g->traj, path, name) != KUBO_OK) kb_raise(L);
    lua_pop(L, 2);
  } else {
    luaL_error(L, "%s: option 'data' must be a tensor (frames, members, "
               "...) or {file = ..., name = ...} (got %s)", fname,
               luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}


/* Fills the parts of spec that the estimators share: frames, lags,
** state shape, grid, site and mode. */
static int read_common(lua_State *L, const char *fname, guard *g,
                       kubo_response_spec *spec, int64_t *site) {
  int has_site;
  int64_t frames = kubo_traj_frames(g->traj);
  memset(spec, 0, sizeof *spec);
  spec->frames = frames;
  spec->ndim = kubo_traj_state_shape(g->traj, spec->shape);
  spec->lags = opt_int(L, 1, fname, "lags", 0, 1);
  if (spec->lags > frames)
    luaL_error(L, "%s: lags (%I) exceeds the number of frames (%I)", fname,
               (lua_Integer)spec->lags, (lua_Integer)frames);
  spec->mode = opt_bool(L, 1, fname, "circular", 1) ? KUBO_CORR_CIRCULAR
                                                    : KUBO_CORR_PADDED;

  lua_getfield(L, 1, "grid");
  spec->grid = lua_toboolean(L, -1);
  if (spec->grid) {
    kubo_grid *grid = kb_grid_check(L, lua_gettop(L));
    int64_t gshape[KUBO_MAX_DIM];
    int gndim = kubo_grid_real_shape(grid, gshape);
    int same = gndim == spec->ndim;
    for (int a = 0; same && a < gndim; a++)
      same = gshape[a] == spec->shape[a];
    if (!same)
      luaL_error(L, "%s: the data's state shape does not match the grid "
                 "(data (frames, members, ...) must end in the grid's "
                 "field shape)", fname);
  }
  lua_pop(L, 1);

  /* site: the impulse of a grid estimate, or the column kept of a dense
  ** one (all columns without it) */
  for (int a = 0; a < KUBO_MAX_DIM; a++) site[a] = 0;
  lua_getfield(L, 1, "site");
  has_site = !lua_isnil(L, -1);
  if (has_site)
    check_site(L, -1, fname, "site", spec->ndim, spec->shape, site);
  lua_pop(L, 1);
  if (spec->grid)
    for (int a = 0; a < spec->ndim; a++) spec->site[a] = site[a];

  if (!spec->grid) {
    int64_t d = kubo_traj_state_size(g->traj);
    if (spec->lags * d * d > DENSE_MAX_VALUES)
      luaL_error(L, "%s: a dense estimate of %I values per state needs "
                 "%I x %I x %I numbers, above the limit of 2^25; pass "
                 "grid = g for fields on a periodic grid, or fewer lags",
                 fname, (lua_Integer)d, (lua_Integer)spec->lags,
                 (lua_Integer)d, (lua_Integer)d);
  }
  return has_site;
}


/* ---------------------------------------------------------------------
** Response objects
** ------------------------------------------------------------------- */

static const char *kind_name(kubo_response_kind kind) {
  switch (kind) {
  case KUBO_RESPONSE_GAUSSIAN: return "gaussian";
  case KUBO_RESPONSE_SCORE: return "score";
  case KUBO_RESPONSE_CONJUGATE: return "conjugate";
  case KUBO_RESPONSE_PERTURBATION: return "perturbation";
  }
  return "unknown";
}


/* Pushes a Response table made from r (whose tensors it takes over).
** site: 0-based grid site (ndim entries) or NULL. */
static void push_response(lua_State *L, kubo_response *r, double dt,
                          int ndim, const int64_t *site, int circular,
                          int normalized) {
  lua_createtable(L, 0, 12);
  lua_pushstring(L, kind_name(r->kind));
  lua_setfield(L, -2, "kind");
  lua_pushboolean(L, r->grid);
  lua_setfield(L, -2, "grid");
  lua_pushinteger(L, (lua_Integer)r->members);
  lua_setfield(L, -2, "members");
  lua_pushnumber(L, dt);
  lua_setfield(L, -2, "dt");
  if (circular >= 0) {
    lua_pushboolean(L, circular);
    lua_setfield(L, -2, "circular");
  }
  if (r->kind == KUBO_RESPONSE_SCORE) {
    lua_pushboolean(L, normalized);
    lua_setfield(L, -2, "normalized");
  }
  if (site != NULL) {
    lua_createtable(L, ndim, 0);
    for (int a = 0; a < ndim; a++) {
      lua_pushinteger(L, (lua_Integer)site[a] + 1);
      lua_seti(L, -2, a + 1);
    }
    lua_setfield(L, -2, "site");
  }
  kb_tensor_push(L, &r->values);
  lua_setfield(L, -2, "values");
  if (!kubo_tensor_is_empty(&r->std_error)) {
    kb_tensor_push(L, &r->std_error);
    lua_setfield(L, -2, "stderr");
  }
  if (r->kind == KUBO_RESPONSE_SCORE) {
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, r->stein_diagonal);
    lua_setfield(L, -2, "diagonal");
    lua_pushnumber(L, r->stein_deviation);
    lua_setfield(L, -2, "deviation");
    kb_tensor_push(L, &r->stein);
    lua_setfield(L, -2, "values");
    lua_setfield(L, -2, "stein");
  }
  kubo_response_release(r);
  luaL_setmetatable(L, KB_RESPONSE);
}


/* Returns the values tensor of the Response at idx. */
static kubo_tensor *response_values(lua_State *L, int idx,
                                    const char *fname) {
  kubo_tensor *t;
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: expected a Response (got %s)", fname,
               luaL_typename(L, idx));
  lua_getfield(L, idx, "values");
  t = kb_tensor_test(L, -1);
  if (t == NULL || t->storage == NULL || t->ndim < 2)
    luaL_error(L, "%s: the Response has no values tensor of shape "
               "(lags, ...)", fname);
  lua_pop(L, 1);      /* the table keeps the tensor alive */
  return t;
}


static int r_at(lua_State *L) {
  kubo_tensor *v = response_values(L, 1, "Response:at");
  kubo_tensor out = {0};
  int64_t idx[KUBO_MAX_DIM], lags = v->shape[0];
  lua_settop(L, 2);   /* a missing site reads as nil, not as the tensor */
  KB_TRY(L, kubo_tensor_init(&out, KUBO_FLOAT64, 1, &lags));
  /* fill the tensor before any error can be raised: push it first */
  kubo_tensor *o = kb_tensor_push(L, &out);
  check_site(L, 2, "Response:at", "site", v->ndim - 1, v->shape + 1,
             idx + 1);
  for (int64_t tau = 0; tau < lags; tau++) {
    double value;
    idx[0] = tau;
    KB_TRY(L, kubo_tensor_get(v, idx, &value));
    ((double *)o->data)[tau] = value;
  }
  return 1;
}


static int r_lags(lua_State *L) {
  kubo_tensor *v = response_values(L, 1, "Response:lags");
  kubo_tensor out = {0};
  int64_t lags = v->shape[0];
  double dt;
  lua_getfield(L, 1, "dt");
  dt = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 1.0;
  KB_TRY(L, kubo_tensor_init(&out, KUBO_FLOAT64, 1, &lags));
  for (int64_t tau = 0; tau < lags; tau++)
    ((double *)out.data)[tau] = (double)tau * dt;
  kb_tensor_push(L, &out);
  return 1;
}


/* Adds the scalar fields of the Response at 1 to attrs. */
static kubo_status response_attrs(lua_State *L, kubo_h5_attrs *attrs) {
  kubo_status status = KUBO_OK;
  lua_getfield(L, 1, "kind");
  if (lua_isstring(L, -1))
    status = kubo_h5_attrs_add_string(attrs, "kind", lua_tostring(L, -1));
  lua_getfield(L, 1, "dt");
  if (status == KUBO_OK && lua_isnumber(L, -1))
    status = kubo_h5_attrs_add_float(attrs, "dt", lua_tonumber(L, -1));
  lua_getfield(L, 1, "members");
  if (status == KUBO_OK && lua_isinteger(L, -1))
    status = kubo_h5_attrs_add_int(attrs, "members", lua_tointeger(L, -1));
  lua_getfield(L, 1, "site");
  if (status == KUBO_OK && lua_istable(L, -1)) {
    int64_t site[KUBO_MAX_DIM], n = (int64_t)luaL_len(L, -1);
    if (n > KUBO_MAX_DIM) n = KUBO_MAX_DIM;
    for (int64_t a = 0; a < n; a++) {
      lua_geti(L, -1, a + 1);
      site[a] = (int64_t)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    if (n > 0)
      status = kubo_h5_attrs_add_ints(attrs, "site", 1, &n, site);
  }
  lua_pop(L, 4);

  /* flags as 0/1 integers, and the Stein summary of a score estimate */
  for (int i = 0; i < 2 && status == KUBO_OK; i++) {
    const char *flag = i == 0 ? "circular" : "normalized";
    if (lua_getfield(L, 1, flag) == LUA_TBOOLEAN)
      status = kubo_h5_attrs_add_int(attrs, flag, lua_toboolean(L, -1));
    lua_pop(L, 1);
  }
  if (status == KUBO_OK && lua_getfield(L, 1, "stein") == LUA_TTABLE) {
    lua_getfield(L, -1, "diagonal");
    lua_getfield(L, -2, "deviation");
    status = kubo_h5_attrs_add_float(attrs, "stein_diagonal",
                                     lua_tonumber(L, -2));
    if (status == KUBO_OK)
      status = kubo_h5_attrs_add_float(attrs, "stein_deviation",
                                       lua_tonumber(L, -1));
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  return status;
}


static int r_save(lua_State *L) {
  kubo_tensor *v = response_values(L, 1, "Response:save");
  const char *path = luaL_checkstring(L, 2);
  const char *name = luaL_optstring(L, 3, "response");
  kubo_h5_attrs attrs;
  kubo_tensor *se;
  kubo_status status;

  kubo_h5_attrs_init(&attrs);
  status = response_attrs(L, &attrs);
  if (status == KUBO_OK) status = kubo_h5_write(path, name, v, &attrs, 0);
  lua_getfield(L, 1, "stderr");
  se = kb_tensor_test(L, -1);
  if (status == KUBO_OK && se != NULL && se->storage != NULL) {
    lua_pushfstring(L, "%s_stderr", name);
    status = kubo_h5_write(path, lua_tostring(L, -1), se, NULL, 0);
  }
  kubo_h5_attrs_free(&attrs);
  if (status == KUBO_EIO) {
    luaL_pushfail(L);
    lua_pushstring(L, kubo_error_message());
    return 2;
  }
  if (status != KUBO_OK) return kb_raise(L);
  lua_pushboolean(L, 1);
  return 1;
}


static int r_tostring(lua_State *L) {
  kubo_tensor *v = response_values(L, 1, "Response");
  char shape[128];
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "members");
  lua_pushfstring(L, "kubo.Response(%s, values %s, %I members)",
                  luaL_optstring(L, -2, "?"),
                  kubo_tensor_shape_string(v, shape, sizeof shape),
                  luaL_optinteger(L, -1, 0));
  return 1;
}


/* ---------------------------------------------------------------------
** Calling Lua for the second series of each member
** ------------------------------------------------------------------- */

typedef struct series_ctx {
  lua_State *L;
  const char *fname;
  int score;            /* stack index of the score callable, or 0 */
  int observable;       /* of the observable B, or 0 */
  int field;            /* of the perturbation u, or 0 */
  int divergence;       /* of div u (function or number), or 0 */
  int64_t batch;        /* frames per call */
  int ndim;
  int64_t shape[KUBO_MAX_DIM];
  int64_t d;
} series_ctx;


/* Calls the callable at stack index fn on frames x (nb, d), shaped
** (nb, ...state...); copies the result (expected numel nb * per_frame)
** into out. Returns a status with the message set on failure. */
static kubo_status call_series(series_ctx *c, int fn, const char *what,
                               int64_t nb, const double *x,
                               int64_t per_frame, double *out) {
  lua_State *L = c->L;
  kubo_tensor in = {0}, conv = {0};
  int64_t shape[KUBO_MAX_DIM];
  kubo_tensor *res;
  kubo_status status;

  shape[0] = nb;
  for (int a = 0; a < c->ndim; a++) shape[a + 1] = c->shape[a];
  status = kubo_tensor_init(&in, KUBO_FLOAT64, c->ndim + 1, shape);
  if (status != KUBO_OK) return status;
  memcpy(in.data, x, (size_t)(nb * c->d) * sizeof(double));
  lua_pushvalue(L, fn);
  kb_tensor_push(L, &in);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    status = kubo_error_set(KUBO_EINVAL, "%s: the %s function failed: %s",
                            c->fname, what, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 2);
    return status;
  }
  res = kb_tensor_test(L, -1);
  if (res == NULL || res->storage == NULL ||
      kubo_tensor_numel(res) != nb * per_frame || res->ndim < 1 ||
      res->shape[0] != nb) {
    char buf[128] = "";
    if (res != NULL && res->storage != NULL)
      kubo_tensor_shape_string(res, buf, sizeof buf);
    status = kubo_error_set(KUBO_EINVAL, "%s: the %s function returned %s "
                            "%s for %lld frames, expected a tensor of %lld "
                            "values per frame", c->fname, what,
                            res != NULL ? "a tensor of shape" : "a",
                            res != NULL ? buf : luaL_typename(L, -1),
                            (long long)nb, (long long)per_frame);
    lua_pop(L, 1);
    return status;
  }
  if (res->dtype == KUBO_FLOAT64 && kubo_tensor_is_contiguous(res)) {
    memcpy(out, res->data, (size_t)(nb * per_frame) * sizeof(double));
  } else {
    status = kubo_tensor_clone(&conv, res, KUBO_FLOAT64);
    if (status == KUBO_OK)
      memcpy(out, conv.data, (size_t)(nb * per_frame) * sizeof(double));
    kubo_tensor_release(&conv);
  }
  lua_pop(L, 1);
  return status;
}


/* kubo_response_series_fn: the score (score kind) or B = -div u - u . s
** or the observable (conjugate kind) of one member, batch by batch. */
static kubo_status member_series(void *userdata, int64_t member,
                                 int64_t frames, const double *x,
                                 double *y) {
  series_ctx *c = userdata;
  lua_State *L = c->L;
  kubo_status status = KUBO_OK;

  for (int64_t f0 = 0; f0 < frames && status == KUBO_OK; f0 += c->batch) {
    int64_t nb = frames - f0 < c->batch ? frames - f0 : c->batch;
    const double *xb = x + f0 * c->d;

    if (c->observable == 0 && c->field == 0) {
      status = call_series(c, c->score, "score", nb, xb, c->d,
                           y + f0 * c->d);
    } else if (c->observable != 0) {
      status = call_series(c, c->observable, "observable", nb, xb, 1,
                           y + f0);
    } else {
      /* B = -div u - u . s */
      size_t bytes = (size_t)(nb * c->d) * sizeof(double);
      double *u = lua_newuserdatauv(L, bytes, 0);
      double *s = lua_newuserdatauv(L, bytes, 0);
      status = call_series(c, c->field, "perturbation", nb, xb, c->d, u);
      if (status == KUBO_OK)
        status = call_series(c, c->score, "score", nb, xb, c->d, s);
      for (int64_t t = 0; status == KUBO_OK && t < nb; t++) {
        double dot = 0.0;
        for (int64_t i = 0; i < c->d; i++)
          dot += u[t * c->d + i] * s[t * c->d + i];
        y[f0 + t] = -dot;
      }
      if (status == KUBO_OK && c->divergence != 0) {
        if (lua_type(L, c->divergence) == LUA_TNUMBER) {
          double div = lua_tonumber(L, c->divergence);
          for (int64_t t = 0; t < nb; t++) y[f0 + t] -= div;
        } else {
          status = call_series(c, c->divergence, "divergence", nb, xb, 1,
                               u);
          for (int64_t t = 0; status == KUBO_OK && t < nb; t++)
            y[f0 + t] -= u[t];
        }
      }
      lua_pop(L, 2);
    }
  }
  (void)member;
  return status;
}


static int is_callable(lua_State *L, int idx) {
  int callable;
  if (lua_isfunction(L, idx)) return 1;
  if (!luaL_getmetafield(L, idx, "__call")) return 0;
  callable = !lua_isnil(L, -1);
  lua_pop(L, 1);
  return callable;
}


/* Pushes option key of the table at 1 and returns its stack index if
** it is callable (or, with allow_number, a number); 0 and nothing
** pushed if it is absent. Raises otherwise. */
static int opt_callable(lua_State *L, const char *fname, const char *key,
                        int required, int allow_number) {
  lua_getfield(L, 1, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    if (required) luaL_error(L, "%s: option '%s' is missing", fname, key);
    return 0;
  }
  if (!is_callable(L, -1) &&
      !(allow_number && lua_type(L, -1) == LUA_TNUMBER))
    luaL_error(L, "%s: option '%s' must be a function or callable object "
               "(got %s)", fname, key, luaL_typename(L, -1));
  return lua_gettop(L);
}


/* ---------------------------------------------------------------------
** Estimators
** ------------------------------------------------------------------- */

/* Replaces t (lags, d, d) by its column j, (lags, ...state shape...):
** the response of every component to an impulse in component j. */
static kubo_status dense_column(kubo_tensor *t, int64_t j,
                                const kubo_response_spec *spec) {
  kubo_tensor column = {0}, copy = {0}, shaped = {0};
  int64_t shape[KUBO_MAX_DIM];
  kubo_status status;

  if (kubo_tensor_is_empty(t)) return KUBO_OK;
  status = kubo_tensor_select(&column, t, 2, j);
  if (status == KUBO_OK) status = kubo_tensor_clone(&copy, &column, -1);
  shape[0] = t->shape[0];
  shape[1] = 1;
  for (int a = 0; a < spec->ndim; a++) shape[a + 1] = spec->shape[a];
  if (status == KUBO_OK)
    status = kubo_tensor_reshape(&shaped, &copy,
                                 spec->ndim > 0 ? spec->ndim + 1 : 2,
                                 shape);
  kubo_tensor_release(&column);
  kubo_tensor_release(&copy);
  if (status != KUBO_OK) return status;
  kubo_tensor_release(t);
  *t = shaped;
  return KUBO_OK;
}


/* Runs the estimator and pushes the Response. A dense estimate with a
** site keeps only the column of that impulse. */
static int finish_run(lua_State *L, guard *g, kubo_response_spec *spec,
                      series_ctx *ctx, double dt, int has_site,
                      const int64_t *site) {
  kubo_status status = kubo_response_run(g->traj, spec,
                                         ctx ? member_series : NULL, ctx,
                                         &g->response);
  int dense = !spec->grid && spec->kind != KUBO_RESPONSE_CONJUGATE;
  if (status != KUBO_OK) return kb_raise(L);
  if (dense && has_site) {
    int64_t j = 0;
    for (int a = 0; a < spec->ndim; a++)
      j = j * spec->shape[a] + site[a];
    status = dense_column(&g->response.values, j, spec);
    if (status == KUBO_OK)
      status = dense_column(&g->response.std_error, j, spec);
    if (status != KUBO_OK) return kb_raise(L);
  }
  push_response(L, &g->response, dt, spec->ndim,
                spec->grid || has_site ? site : NULL,
                spec->mode == KUBO_CORR_CIRCULAR, spec->normalize);
  return 1;
}



static int l_gaussian(lua_State *L) {
  static const char *const allowed[] = {"data", "lags", "grid", "circular",
                                        "site", "dt", NULL};
  const char *fname = "response.gaussian";
  kubo_response_spec spec;
  int64_t site[KUBO_MAX_DIM];
  int with_site;
  guard *g;
  double dt;

  luaL_checktype(L, 1, LUA_TTABLE);
  check_keys(L, 1, fname, allowed);
  g = push_guard(L);
  open_data(L, fname, g);
  with_site = read_common(L, fname, g, &spec, site);
  spec.kind = KUBO_RESPONSE_GAUSSIAN;
  dt = opt_dt(L, 1, fname);
  return finish_run(L, g, &spec, NULL, dt, with_site, site);
}


static void init_ctx(lua_State *L, const char *fname, guard *g,
                     series_ctx *ctx) {
  memset(ctx, 0, sizeof *ctx);
  ctx->L = L;
  ctx->fname = fname;
  ctx->ndim = kubo_traj_state_shape(g->traj, ctx->shape);
  ctx->d = kubo_traj_state_size(g->traj);
  ctx->batch = opt_int(L, 1, fname, "batch", kubo_traj_frames(g->traj), 1);
}


static int l_score(lua_State *L) {
  static const char *const allowed[] = {"data", "score", "lags", "grid",
                                        "circular", "site", "dt",
                                        "normalize", "batch", NULL};
  const char *fname = "response.score";
  kubo_response_spec spec;
  int64_t site[KUBO_MAX_DIM];
  int with_site;
  series_ctx ctx;
  guard *g;
  double dt;

  luaL_checktype(L, 1, LUA_TTABLE);
  check_keys(L, 1, fname, allowed);
  g = push_guard(L);
  open_data(L, fname, g);
  with_site = read_common(L, fname, g, &spec, site);
  spec.kind = KUBO_RESPONSE_SCORE;
  spec.normalize = opt_bool(L, 1, fname, "normalize", 0);
  dt = opt_dt(L, 1, fname);
  init_ctx(L, fname, g, &ctx);
  ctx.score = opt_callable(L, fname, "score", 1, 0);
  return finish_run(L, g, &spec, &ctx, dt, with_site, site);
}


static int l_conjugate(lua_State *L) {
  static const char *const allowed[] = {"data", "lags", "circular", "dt",
                                        "observable", "perturbation",
                                        "divergence", "score", "batch",
                                        NULL};
  const char *fname = "response.conjugate";
  kubo_response_spec spec;
  int64_t site[KUBO_MAX_DIM];
  int with_site;
  series_ctx ctx;
  guard *g;
  double dt;

  luaL_checktype(L, 1, LUA_TTABLE);
  check_keys(L, 1, fname, allowed);
  g = push_guard(L);
  open_data(L, fname, g);
  with_site = read_common(L, fname, g, &spec, site);
  spec.kind = KUBO_RESPONSE_CONJUGATE;
  dt = opt_dt(L, 1, fname);
  init_ctx(L, fname, g, &ctx);
  ctx.observable = opt_callable(L, fname, "observable", 0, 0);
  if (ctx.observable == 0) {
    ctx.field = opt_callable(L, fname, "perturbation", 0, 0);
    if (ctx.field == 0)
      return luaL_error(L, "%s: give either 'observable' (x -> B per "
                        "frame) or 'perturbation' (x -> u) with 'score'",
                        fname);
    ctx.score = opt_callable(L, fname, "score", 1, 0);
    ctx.divergence = opt_callable(L, fname, "divergence", 0, 1);
  }
  return finish_run(L, g, &spec, &ctx, dt, with_site, site);
}


static int l_perturbation(lua_State *L) {
  static const char *const allowed[] = {"integrator", "site", "delta",
                                        "lags", "every", "resets", NULL};
  const char *fname = "response.perturbation";
  kubo_perturbation_spec p;
  kubo_sim *sim;
  int64_t shape[KUBO_MAX_DIM], site[KUBO_MAX_DIM];
  int ndim;
  guard *g;

  luaL_checktype(L, 1, LUA_TTABLE);
  check_keys(L, 1, fname, allowed);
  lua_getfield(L, 1, "integrator");
  if (luaL_testudata(L, -1, KB_INTEGRATOR) == NULL)
    return luaL_error(L, "%s: option 'integrator' must be a "
                      "kubo.Integrator (got %s)", fname,
                      luaL_typename(L, -1));
  sim = kb_integrator_check(L, lua_gettop(L));
  ndim = kubo_model_state_shape(kubo_sim_model(sim), shape);

  memset(&p, 0, sizeof p);
  for (int a = 0; a < KUBO_MAX_DIM; a++) site[a] = 0;
  lua_getfield(L, 1, "site");
  if (!lua_isnil(L, -1))
    check_site(L, -1, fname, "site", ndim, shape, site);
  lua_pop(L, 1);
  for (int a = 0; a < ndim; a++) p.index = p.index * shape[a] + site[a];
  p.delta = opt_number(L, 1, fname, "delta", 0.0, 1);
  p.lags = opt_int(L, 1, fname, "lags", 0, 1);
  p.every = opt_int(L, 1, fname, "every", 1, 1);
  p.resets = opt_int(L, 1, fname, "resets", 1, 1);

  g = push_guard(L);
  if (kubo_response_perturbation(sim, &p, &g->response) != KUBO_OK)
    return kb_raise(L);
  push_response(L, &g->response,
                (double)p.every * kubo_sim_get_options(sim)->dt, ndim,
                site, -1, 0);
  return 1;
}


/* ---------------------------------------------------------------------
** Error metrics
** ------------------------------------------------------------------- */

/* Makes a contiguous float64 copy of t's first lags lags into out. */
static void lags_copy(lua_State *L, const kubo_tensor *t, int64_t lags,
                      kubo_tensor *out) {
  kubo_tensor view = {0};
  if (kubo_tensor_narrow(&view, t, 0, 0, lags) != KUBO_OK) kb_raise(L);
  if (kubo_tensor_clone(out, &view, KUBO_FLOAT64) != KUBO_OK) {
    kubo_tensor_release(&view);
    kb_raise(L);
  }
  kubo_tensor_release(&view);
}


static int l_error(lua_State *L) {
  const char *fname = "response.error";
  kubo_tensor *a = response_values(L, 1, fname);
  kubo_tensor *b = response_values(L, 2, fname);
  kubo_tensor ca = {0}, cb = {0}, rms = {0}, mx = {0};
  kubo_tensor *pa, *pb;
  int64_t lags, per_lag = 1;
  int have_sites;

  if (a->ndim != b->ndim)
    return luaL_error(L, "%s: the responses have %d and %d dimensions",
                      fname, a->ndim, b->ndim);
  for (int i = 1; i < a->ndim; i++) {
    if (a->shape[i] != b->shape[i])
      return luaL_error(L, "%s: the responses differ in size along "
                        "dimension %d (%I and %I)", fname, i + 1,
                        (lua_Integer)a->shape[i], (lua_Integer)b->shape[i]);
    per_lag *= a->shape[i];
  }
  lags = a->shape[0] < b->shape[0] ? a->shape[0] : b->shape[0];
  if (!lua_isnoneornil(L, 3)) {
    static const char *const allowed[] = {"lags", "sites", NULL};
    luaL_checktype(L, 3, LUA_TTABLE);
    check_keys(L, 3, fname, allowed);
    lags = opt_int(L, 3, fname, "lags", lags, 1);
    if (lags > a->shape[0] || lags > b->shape[0])
      return luaL_error(L, "%s: lags (%I) exceeds the lags of a response "
                        "(%I and %I)", fname, (lua_Integer)lags,
                        (lua_Integer)a->shape[0], (lua_Integer)b->shape[0]);
  }
  have_sites = lua_istable(L, 3) &&
               lua_getfield(L, 3, "sites") != LUA_TNIL;
  if (lua_istable(L, 3)) lua_pop(L, 1);

  /* keep the copies on the stack, so that errors free them */
  lags_copy(L, a, lags, &ca);
  pa = kb_tensor_push(L, &ca);
  lags_copy(L, b, lags, &cb);
  pb = kb_tensor_push(L, &cb);

  lua_createtable(L, 0, 3);
  KB_TRY(L, kubo_tensor_init(&rms, KUBO_FLOAT64, 1, &lags));
  KB_TRY(L, kubo_tensor_init(&mx, KUBO_FLOAT64, 1, &lags));
  for (int64_t tau = 0; tau < lags; tau++) {
    double sq = 0.0, worst = 0.0;
    const double *x = (const double *)pa->data + tau * per_lag;
    const double *y = (const double *)pb->data + tau * per_lag;
    for (int64_t p = 0; p < per_lag; p++) {
      double d = fabs(x[p] - y[p]);
      sq += d * d;
      if (d > worst || isnan(d)) worst = d;
    }
    ((double *)rms.data)[tau] = sqrt(sq / (double)per_lag);
    ((double *)mx.data)[tau] = worst;
  }
  kb_tensor_push(L, &rms);
  lua_setfield(L, -2, "rms");
  kb_tensor_push(L, &mx);
  lua_setfield(L, -2, "max");

  if (have_sites) {
    int n, result = lua_gettop(L);
    lua_getfield(L, 3, "sites");
    if (!lua_istable(L, -1))
      return luaL_error(L, "%s: option 'sites' must be a list of sites",
                        fname);
    n = (int)luaL_len(L, -1);
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
      int64_t site[KUBO_MAX_DIM], at = 0;
      double sq = 0.0;
      lua_geti(L, -2, i);
      check_site(L, -1, fname, "sites entry", a->ndim - 1, a->shape + 1,
                 site);
      lua_pop(L, 1);
      for (int k = 0; k < a->ndim - 1; k++)
        at = at * a->shape[k + 1] + site[k];
      for (int64_t tau = 0; tau < lags; tau++) {
        double d = ((double *)pa->data)[tau * per_lag + at] -
                   ((double *)pb->data)[tau * per_lag + at];
        sq += d * d;
      }
      lua_pushnumber(L, sqrt(sq));
      lua_seti(L, -2, i);
    }
    lua_setfield(L, result, "l2");
    lua_settop(L, result);
  } else {
    /* the Table I metric at every site: a tensor of the state shape */
    kubo_tensor l2 = {0};
    KB_TRY(L, kubo_tensor_init(&l2, KUBO_FLOAT64, a->ndim - 1,
                               a->shape + 1));
    for (int64_t p = 0; p < per_lag; p++) {
      double sq = 0.0;
      for (int64_t tau = 0; tau < lags; tau++) {
        double d = ((double *)pa->data)[tau * per_lag + p] -
                   ((double *)pb->data)[tau * per_lag + p];
        sq += d * d;
      }
      ((double *)l2.data)[p] = sqrt(sq);
    }
    kb_tensor_push(L, &l2);
    lua_setfield(L, -2, "l2");
  }
  return 1;
}


/* ---------------------------------------------------------------------
** Registration
** ------------------------------------------------------------------- */

static const kb_reg response_methods[] = {
  {"at", r_at,
   "R:at(site) -> tensor over lags of the response at site, a table of "
   "1-based indices: {j, i} for a point of a (ny, nx) grid (the impulse "
   "is at R.site), {i, j} in the dense case for the response of "
   "component i to an impulse in component j"},
  {"lags", r_lags,
   "R:lags() -> tensor of the lag times 0, dt, 2 dt, ... (dt = R.dt, the "
   "time between frames or samples)"},
  {"save", r_save,
   "R:save(file, [name]) writes R.values as HDF5 dataset name (default "
   "\"response\") with attributes kind, dt, members, site, circular, "
   "normalized and (score) stein_diagonal and stein_deviation, and "
   "R.stderr as name_stderr; returns true, or nil and a message if the "
   "file cannot be written"},
  {"__tostring", r_tostring, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg response_functions[] = {
  {"gaussian", l_gaussian,
   "response.gaussian{data = traj, lags = L, [grid = g], [circular = "
   "true], [site = {1, 1}], [dt = 1]} -> Response: R(tau) = C(tau) "
   "C(0)^-1 of the data minus its mean. data is a tensor (frames, "
   "members, ...state shape...) or {file = f, name = n} of an HDF5 "
   "dataset ({file =, dataset =} as sim:run returns it also works), "
   "read member by member. With grid = g the state is a "
   "periodic field of g's shape: correlations are translation averaged "
   "through FFTs, the global mean is subtracted, the ratio is taken per "
   "wavenumber, and R.values[lag, ...] is the response to an impulse at "
   "site. Without grid, R.values[lag, i, j] is the dense response of "
   "component i to an impulse in j (the per-component mean subtracted, "
   "a LAPACK solve); with site = {j}, only that impulse's column, "
   "R.values[lag, ...state shape...], as from response.perturbation. "
   "circular = false uses zero-padded (non-circular) "
   "correlations. R.stderr: spread of per-member estimates over sqrt("
   "members)."},
  {"score", l_score,
   "response.score{data = traj, score = s, lags = L, [normalize = false], "
   "[grid = g], [circular = true], [site], [dt = 1], [batch]} -> "
   "Response: S(tau) = -<x(tau) s(x(0))^T> without demeaning, where "
   "s(x) is called on each member's frames (a tensor (frames, ...state "
   "shape...), in batches of `batch` frames) and returns the score of "
   "the same shape; s may be a function or any callable object (a "
   "trained or analytic score). normalize = true divides by the lag-0 "
   "value: S^(k, tau) / S^(k, 0) per wavenumber on grids, S(tau) S(0)^-1 "
   "dense. R.stein = {diagonal, deviation, values} reports the raw S(0), "
   "which Stein's identity makes the identity for an exact score: its "
   "diagonal, max |S(0) - I| and the values. Other options as in "
   "response.gaussian."},
  {"conjugate", l_conjugate,
   "response.conjugate{data = traj, lags = L, observable = B} or "
   "{data, lags, perturbation = u, score = s, [divergence = div]} -> "
   "Response: R(tau) = <x(tau) B(x(0))>, the response of every state "
   "value to the perturbation u(x) f(t) with the conjugate observable "
   "B = -div u - u . s. observable(x) returns B per frame (frames); u(x) "
   "returns a tensor shaped like x; divergence is a function of x "
   "returning (frames) values or a constant number (default 0). "
   "R.values has the shape (lags, ...state shape...)."},
  {"perturbation", l_perturbation,
   "response.perturbation{integrator = sim, site = {j, i}, delta = d, "
   "lags = L, [every = 1], [resets = 1]} -> Response: the dynamical "
   "response to an impulse of size delta at site (1-based, in the "
   "model's state shape). A control and a perturbed copy of sim's "
   "ensemble share their noise. The run has `resets` blocks of lags * "
   "every steps, and each block restarts the perturbed copy from the "
   "control plus the impulse. (perturbed - control) / delta is recorded "
   "every `every` steps. R.values[lag, ...state shape...] is the mean "
   "over the members * resets realisations and R.stderr their standard "
   "deviation over sqrt(n); R.dt = every * sim's dt. sim itself is not "
   "advanced."},
  {"error", l_error,
   "response.error(R, Rref, [{lags = L, sites = {{1, 1}, ...}}]) -> "
   "{l2 = ..., rms = tensor, max = tensor}: l2 is the plain 2-norm over "
   "lags 0..L-1 of R - Rref at each site (a list in the order of sites, "
   "or a tensor of the state shape without sites), rms and max are the "
   "root-mean-square and the largest |R - Rref| over the whole field at "
   "each lag. L defaults to the shorter response."},
  {NULL, NULL, NULL}
};


void kb_open_response(lua_State *L) {
  luaL_newmetatable(L, KB_RESPONSE_GUARD);
  lua_pushcfunction(L, guard_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  kb_newclass(L, KB_RESPONSE, response_methods,
              "kubo.Response: a response estimate. Fields: values (lags, "
              "...), stderr (same shape, when the estimator has one), "
              "kind, grid, site, members, dt, circular, normalized, stein "
              "(score). Methods: at, lags, save.");
  lua_pop(L, 1);

  lua_createtable(L, 0, 5);
  kb_setfuncs(L, -1, response_functions);
  kb_setdoc(L, -1, "kubo.response: response estimators (gaussian, score, "
            "conjugate, perturbation) and the error metrics of the "
            "reference experiments (error)");
  lua_setfield(L, -2, "response");
}
