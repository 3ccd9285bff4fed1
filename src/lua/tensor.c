/*
** tensor.c: the kubo.Tensor class and the tensor constructors.
*/
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kb.h"
#include "kubo/tensor_ops.h"


/* ---------------------------------------------------------------------
** Userdata life cycle: created empty with its metatable, then filled, so
** that __gc always finds a valid (possibly empty) tensor.
** ------------------------------------------------------------------- */

kubo_tensor *kb_tensor_push(lua_State *L, kubo_tensor *t) {
  kubo_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, KB_TENSOR);
  *u = *t;
  memset(t, 0, sizeof *t);
  if (u->storage != NULL) kb_account(L, u->storage->nbytes);
  return u;
}


kubo_tensor *kb_tensor_test(lua_State *L, int idx) {
  return luaL_testudata(L, idx, KB_TENSOR);
}


kubo_tensor *kb_tensor_check(lua_State *L, int idx) {
  kubo_tensor *t = luaL_checkudata(L, idx, KB_TENSOR);
  if (t->storage == NULL)
    luaL_argerror(L, idx, "attempt to use a freed tensor");
  return t;
}


int64_t kb_check_int(lua_State *L, int idx, const char *what) {
  int isint = 0;
  lua_Integer v = lua_tointegerx(L, idx, &isint);
  if (!isint) {
    if (lua_type(L, idx) == LUA_TNUMBER) {
      lua_Number x = lua_tonumber(L, idx);
      if (isnan(x))
        return luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a "
                             "whole number (got nan)", what));
      if (x == floor(x))
        return luaL_argerror(L, idx, lua_pushfstring(L, "%s is too large "
                             "(got %f)", what, x));
      return luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a whole "
                           "number (got %f)", what, x));
    }
    return luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a whole "
                         "number (got %s)", what, luaL_typename(L, idx)));
  }
  return (int64_t)v;
}


kubo_dtype kb_check_dtype(lua_State *L, int idx, kubo_dtype def) {
  const char *name;
  int dtype;
  if (lua_isnoneornil(L, idx)) return def;
  name = luaL_checkstring(L, idx);
  dtype = kubo_dtype_parse(name);
  if (dtype < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "unknown dtype '%s' (expected "
                  "\"float64\" or \"float32\")", name));
  return (kubo_dtype)dtype;
}


/* Reads one size: a whole number >= 0, or >= -1 when infer allows -1
** (a size to infer). arg is the Lua argument blamed in the message, and
** entry the position inside a table of sizes (0 for a plain argument). */
static int64_t check_size(lua_State *L, int value_idx, int arg, int entry,
                          bool infer) {
  int isint = 0;
  lua_Integer v;
  const char *where;
  value_idx = lua_absindex(L, value_idx);
  v = lua_tointegerx(L, value_idx, &isint);
  where = entry ? lua_pushfstring(L, " in entry %d", entry) : "";
  if (isint && v >= (infer ? -1 : 0)) {
    if (entry) lua_pop(L, 1);
    return (int64_t)v;
  }
  if (isint)
    luaL_argerror(L, arg, lua_pushfstring(L, "size must be non-negative%s "
                  "(got %I%s)", infer ? ", or -1 to infer it" : "", v,
                  where));
  if (lua_type(L, value_idx) == LUA_TNUMBER) {
    lua_Number x = lua_tonumber(L, value_idx);
    if (!isnan(x) && x == floor(x))
      luaL_argerror(L, arg, lua_pushfstring(L, "size is too large (got "
                    "%s%s)", lua_tostring(L, value_idx), where));
    luaL_argerror(L, arg, lua_pushfstring(L, "size must be a whole number "
                  "(got %s%s)", isnan(x) ? "nan" : lua_tostring(L,
                  value_idx), where));
  }
  luaL_argerror(L, arg, lua_pushfstring(L, "size must be a whole number "
                "(got %s%s)", luaL_typename(L, value_idx), where));
  return 0;
}


/* Reads sizes as numbers from first on or as one table at first. */
static int read_shape(lua_State *L, int first, int64_t *shape, bool infer) {
  int ndim = 0;
  if (lua_istable(L, first)) {
    lua_Integer n = luaL_len(L, first);
    if (n > KUBO_MAX_DIM)
      luaL_argerror(L, first, lua_pushfstring(L, "shape has %I dimensions, "
                    "at most %d are supported", n, (int)KUBO_MAX_DIM));
    for (int d = 0; d < (int)n; d++) {
      lua_geti(L, first, d + 1);
      shape[d] = check_size(L, -1, first, d + 1, infer);
      lua_pop(L, 1);
    }
    return (int)n;
  }
  for (int i = first; lua_type(L, i) == LUA_TNUMBER; i++) {
    if (ndim == KUBO_MAX_DIM)
      luaL_argerror(L, i, lua_pushfstring(L, "at most %d dimensions are "
                    "supported", (int)KUBO_MAX_DIM));
    shape[ndim] = check_size(L, i, i, 0, infer);
    ndim++;
  }
  return ndim;
}


int kb_check_shape(lua_State *L, int first, int64_t *shape) {
  return read_shape(L, first, shape, false);
}


/* Returns the index of the first argument after the sizes that start at
** first, where a trailing dtype string may stand. */
static int after_shape(lua_State *L, int first) {
  if (lua_istable(L, first)) return first + 1;
  while (lua_type(L, first) == LUA_TNUMBER) first++;
  return first;
}


/* Raises an error if any argument from idx on is not nil. */
static void check_no_more(lua_State *L, int idx, const char *usage) {
  for (int i = idx; i <= lua_gettop(L); i++)
    if (!lua_isnil(L, i))
      luaL_argerror(L, i, lua_pushfstring(L, "unexpected %s (usage: %s)",
                    luaL_typename(L, i), usage));
}


/* ---------------------------------------------------------------------
** Constructors
** ------------------------------------------------------------------- */

static int filled(lua_State *L, double value, const char *usage) {
  int64_t shape[KUBO_MAX_DIM];
  int ndim, next;
  kubo_dtype dtype;
  kubo_tensor t;
  if (lua_type(L, 1) != LUA_TNUMBER && !lua_istable(L, 1))
    return luaL_argerror(L, 1, lua_pushfstring(L, "expected sizes or a "
                         "table of sizes, got %s (usage: %s)",
                         luaL_typename(L, 1), usage));
  ndim = kb_check_shape(L, 1, shape);
  next = after_shape(L, 1);
  dtype = kb_check_dtype(L, next, KUBO_FLOAT64);
  check_no_more(L, next + 1, usage);
  KB_TRY(L, kubo_tensor_init(&t, dtype, ndim, shape));
  if (value != 0) kubo_tensor_fill(&t, value);
  kb_tensor_push(L, &t);
  return 1;
}


static int l_zeros(lua_State *L) {
  return filled(L, 0, "kubo.zeros(n1, n2, ..., [dtype])");
}


static int l_ones(lua_State *L) {
  return filled(L, 1, "kubo.ones(n1, n2, ..., [dtype])");
}


static int l_full(lua_State *L) {
  static const char usage[] = "kubo.full({n1, n2, ...}, value, [dtype])";
  int64_t shape[KUBO_MAX_DIM];
  int ndim;
  double v;
  kubo_dtype dtype;
  kubo_tensor t;
  if (!lua_istable(L, 1))
    return luaL_argerror(L, 1, lua_pushfstring(L, "expected a table of "
                         "sizes, got %s (usage: %s)", luaL_typename(L, 1),
                         usage));
  ndim = kb_check_shape(L, 1, shape);
  v = luaL_checknumber(L, 2);
  dtype = kb_check_dtype(L, 3, KUBO_FLOAT64);
  check_no_more(L, 4, usage);
  KB_TRY(L, kubo_tensor_init(&t, dtype, ndim, shape));
  kubo_tensor_fill(&t, v);
  kb_tensor_push(L, &t);
  return 1;
}


/* Reads a finite number argument. */
static double check_finite_number(lua_State *L, int idx, const char *what) {
  double v = luaL_checknumber(L, idx);
  if (!isfinite(v))
    luaL_argerror(L, idx, lua_pushfstring(L, "%s must be finite (got %s)",
                  what, lua_tostring(L, idx)));
  return v;
}


static int l_arange(lua_State *L) {
  static const char usage[] = "kubo.arange(start, stop, [step], [dtype])";
  double start, stop, step = 1;
  int next = 3;
  kubo_dtype dtype;
  kubo_tensor t;
  start = check_finite_number(L, 1, "start");
  stop = check_finite_number(L, 2, "stop");
  if (lua_type(L, 3) == LUA_TNUMBER) {
    step = check_finite_number(L, 3, "step");
    next = 4;
  }
  dtype = kb_check_dtype(L, next, KUBO_FLOAT64);
  check_no_more(L, next + 1, usage);
  KB_TRY(L, kubo_tensor_arange(&t, dtype, start, stop, step));
  kb_tensor_push(L, &t);
  return 1;
}


static int l_linspace(lua_State *L) {
  static const char usage[] = "kubo.linspace(start, stop, n, [dtype])";
  double start = check_finite_number(L, 1, "start");
  double stop = check_finite_number(L, 2, "stop");
  int64_t n = kb_check_int(L, 3, "number of points");
  kubo_dtype dtype = kb_check_dtype(L, 4, KUBO_FLOAT64);
  kubo_tensor t;
  check_no_more(L, 5, usage);
  if (n < 0)
    return luaL_argerror(L, 3, lua_pushfstring(L, "number of points must be "
                         "non-negative (got %I)", (lua_Integer)n));
  KB_TRY(L, kubo_tensor_linspace(&t, dtype, start, stop, n));
  kb_tensor_push(L, &t);
  return 1;
}


/* Finds the shape of nested tables at idx; depth-first along the first
** elements, then every element is checked against it while copying. */
static int nested_shape(lua_State *L, int idx, int64_t *shape) {
  int ndim = 0;
  lua_pushvalue(L, idx);
  while (lua_istable(L, -1)) {
    if (ndim == KUBO_MAX_DIM)
      luaL_error(L, "tensor: nested tables deeper than %d levels",
                 (int)KUBO_MAX_DIM);
    shape[ndim++] = (int64_t)luaL_len(L, -1);
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  return ndim;
}


static void copy_nested(lua_State *L, int idx, kubo_tensor *t, int dim,
                        int64_t *pos, int64_t *next) {
  for (int64_t i = 0; i < t->shape[dim]; i++) {
    lua_geti(L, idx, i + 1);
    pos[dim] = i;
    if (dim + 1 < t->ndim) {
      if (!lua_istable(L, -1) || luaL_len(L, -1) != t->shape[dim + 1]) {
        kubo_tensor_release(t);
        luaL_error(L, "tensor: ragged nested table (element %d at depth "
                   "%d should be a table of length %d)", (int)i + 1,
                   dim + 1, (int)t->shape[dim + 1]);
      }
      copy_nested(L, lua_gettop(L), t, dim + 1, pos, next);
    } else {
      int ok = 0;
      double v = lua_tonumberx(L, -1, &ok);
      if (!ok) {
        kubo_tensor_release(t);
        luaL_error(L, "tensor: element %d at depth %d is a %s, expected "
                   "a number", (int)i + 1, dim + 1, luaL_typename(L, -1));
      }
      kubo_tensor_set(t, pos, v);
      (*next)++;
    }
    lua_pop(L, 1);
  }
}


static int l_tensor(lua_State *L) {
  int64_t shape[KUBO_MAX_DIM], pos[KUBO_MAX_DIM] = {0}, count = 0;
  int ndim;
  kubo_dtype dtype;
  kubo_tensor t;
  luaL_checktype(L, 1, LUA_TTABLE);
  dtype = kb_check_dtype(L, 2, KUBO_FLOAT64);
  ndim = nested_shape(L, 1, shape);
  KB_TRY(L, kubo_tensor_init(&t, dtype, ndim, shape));
  if (ndim > 0) copy_nested(L, 1, &t, 0, pos, &count);
  kb_tensor_push(L, &t);
  return 1;
}


/* ---------------------------------------------------------------------
** Methods
** ------------------------------------------------------------------- */

static int t_shape(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  lua_createtable(L, t->ndim, 0);
  for (int d = 0; d < t->ndim; d++) {
    lua_pushinteger(L, (lua_Integer)t->shape[d]);
    lua_rawseti(L, -2, d + 1);
  }
  return 1;
}


static int t_size(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  int64_t d;
  if (lua_isnoneornil(L, 2)) return t_shape(L);
  d = kb_check_int(L, 2, "dimension");
  if (d < 1 || d > t->ndim)
    return luaL_argerror(L, 2, lua_pushfstring(L, "dimension %I out of "
                         "range 1..%d", (lua_Integer)d, t->ndim));
  lua_pushinteger(L, (lua_Integer)t->shape[d - 1]);
  return 1;
}


static int t_numel(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_tensor_numel(kb_tensor_check(L, 1)));
  return 1;
}


static int t_dim(lua_State *L) {
  lua_pushinteger(L, kb_tensor_check(L, 1)->ndim);
  return 1;
}


static int t_len(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  lua_pushinteger(L, t->ndim > 0 ? (lua_Integer)t->shape[0] : 0);
  return 1;
}


static int t_dtype(lua_State *L) {
  lua_pushstring(L, kubo_dtype_name(kb_tensor_check(L, 1)->dtype));
  return 1;
}


static int t_free(lua_State *L) {
  kubo_tensor *t = luaL_checkudata(L, 1, KB_TENSOR);
  kubo_tensor_release(t);
  return 0;
}


static int t_clone(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  kubo_tensor out;
  KB_TRY(L, kubo_tensor_clone(&out, t, -1));
  kb_tensor_push(L, &out);
  return 1;
}


static int t_to(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  kubo_dtype dtype;
  kubo_tensor out;
  luaL_checkstring(L, 2);
  dtype = kb_check_dtype(L, 2, t->dtype);
  if (dtype == t->dtype) {
    lua_settop(L, 1);
    return 1;
  }
  KB_TRY(L, kubo_tensor_clone(&out, t, (int)dtype));
  kb_tensor_push(L, &out);
  return 1;
}


/* Reads a full 1-based index from the table at idx into pos (0-based). */
static void check_full_index(lua_State *L, int idx, const kubo_tensor *t,
                             int64_t *pos) {
  lua_Integer n = luaL_len(L, idx);
  if (n != t->ndim)
    luaL_argerror(L, idx, lua_pushfstring(L, "index has %d entries, tensor "
                  "has %d dimensions", (int)n, t->ndim));
  for (int d = 0; d < t->ndim; d++) {
    int isint = 0;
    lua_Integer v;
    lua_geti(L, idx, d + 1);
    v = lua_tointegerx(L, -1, &isint);
    lua_pop(L, 1);
    if (!isint)
      luaL_argerror(L, idx, lua_pushfstring(L, "index entry %d is not a "
                    "whole number", d + 1));
    pos[d] = (int64_t)v - 1;
  }
}


static int t_index(lua_State *L) {
  kubo_tensor *t;
  if (lua_type(L, 2) == LUA_TSTRING) {
    /* methods first: self[name] */
    luaL_getmetatable(L, KB_TENSOR);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
  }
  t = kb_tensor_check(L, 1);
  if (lua_istable(L, 2)) {
    int64_t pos[KUBO_MAX_DIM];
    double v;
    check_full_index(L, 2, t, pos);
    KB_TRY(L, kubo_tensor_get(t, pos, &v));
    lua_pushnumber(L, v);
    return 1;
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {
    int64_t i = kb_check_int(L, 2, "index");
    if (t->ndim == 0)
      return luaL_error(L, "cannot index a 0-dimensional tensor");
    if (t->ndim == 1) {
      int64_t pos[1] = {i - 1};
      double v;
      KB_TRY(L, kubo_tensor_get(t, pos, &v));
      lua_pushnumber(L, v);
      return 1;
    } else {
      kubo_tensor out;
      KB_TRY(L, kubo_tensor_select(&out, t, 0, i - 1));
      kb_tensor_push(L, &out);
      return 1;
    }
  }
  return luaL_argerror(L, 2, lua_pushfstring(L, "tensor index must be a "
                       "number, a table of numbers or a method name (got "
                       "%s)", luaL_typename(L, 2)));
}


/* Fills or copies into a whole view: x[i] = v or x[i] = y. The caller
** has checked argument 3, so that no Lua error escapes while view owns
** a reference. */
static int assign_view(lua_State *L, kubo_tensor *view) {
  kubo_tensor *src = kb_tensor_test(L, 3);
  kubo_status st;
  if (src != NULL) {
    if (!kubo_tensor_same_shape(view, src)) {
      char from[160], to[160];
      kubo_tensor_shape_string(src, from, sizeof from);
      kubo_tensor_shape_string(view, to, sizeof to);
      kubo_tensor_release(view);
      return luaL_error(L, "cannot assign a tensor of shape %s to a row of "
                        "shape %s", from, to);
    }
    st = kubo_tensor_copy(view, src);
  } else {
    kubo_tensor_fill(view, lua_tonumber(L, 3));
    st = KUBO_OK;
  }
  kubo_tensor_release(view);
  if (st != KUBO_OK) return kb_raise(L);
  return 0;
}


static int t_newindex(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  int64_t pos[KUBO_MAX_DIM];
  if (lua_istable(L, 2)) {
    double v = luaL_checknumber(L, 3);
    check_full_index(L, 2, t, pos);
    KB_TRY(L, kubo_tensor_set(t, pos, v));
    return 0;
  }
  if (lua_type(L, 2) == LUA_TNUMBER && t->ndim == 1) {
    double v = luaL_checknumber(L, 3);
    pos[0] = kb_check_int(L, 2, "index") - 1;
    KB_TRY(L, kubo_tensor_set(t, pos, v));
    return 0;
  }
  if (lua_type(L, 2) == LUA_TNUMBER && t->ndim > 1) {
    kubo_tensor row;
    int64_t i = kb_check_int(L, 2, "index");
    if (kb_tensor_test(L, 3) != NULL)
      kb_tensor_check(L, 3);
    else
      luaL_checknumber(L, 3);
    KB_TRY(L, kubo_tensor_select(&row, t, 0, i - 1));
    return assign_view(L, &row);
  }
  return luaL_argerror(L, 2, lua_pushfstring(L, "cannot assign to index of "
                       "type %s (use x[{i, j}] = v, or x[i] = v or a "
                       "tensor for a row)", luaL_typename(L, 2)));
}


static void push_value_list(lua_State *L, luaL_Buffer *b,
                            const kubo_tensor *t, int64_t n, int64_t show) {
  char num[64];
  for (int64_t i = 0; i < n && i < show; i++) {
    int64_t pos[KUBO_MAX_DIM], rem = i;
    double v;
    for (int d = t->ndim - 1; d >= 0; d--) {
      pos[d] = t->shape[d] ? rem % t->shape[d] : 0;
      rem = t->shape[d] ? rem / t->shape[d] : 0;
    }
    kubo_tensor_get(t, pos, &v);
    snprintf(num, sizeof num, i ? ", %.6g" : "%.6g", v);
    luaL_addstring(b, num);
  }
  if (n > show) luaL_addstring(b, ", ...");
}


static int t_tostring(lua_State *L) {
  kubo_tensor *t = luaL_checkudata(L, 1, KB_TENSOR);
  char shape[160];
  luaL_Buffer b;
  int64_t n;
  if (t->storage == NULL) {
    lua_pushliteral(L, "kubo.Tensor (freed)");
    return 1;
  }
  n = kubo_tensor_numel(t);
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "kubo.Tensor %s %s",
                  kubo_tensor_shape_string(t, shape, sizeof shape),
                  kubo_dtype_name(t->dtype));
  luaL_addvalue(&b);
  if (t->ndim == 2 && t->shape[0] <= 6 && t->shape[1] <= 8) {
    /* small matrices print in full, one row per line */
    for (int64_t i = 0; i < t->shape[0]; i++) {
      luaL_addstring(&b, "\n  ");
      for (int64_t j = 0; j < t->shape[1]; j++) {
        char num[64];
        int64_t pos[2] = {i, j};
        double v;
        kubo_tensor_get(t, pos, &v);
        snprintf(num, sizeof num, "%12.6g", v);
        luaL_addstring(&b, num);
      }
    }
  } else if (n > 0) {
    luaL_addstring(&b, " [");
    push_value_list(L, &b, t, n, 6);
    luaL_addstring(&b, "]");
  }
  luaL_pushresult(&b);
  return 1;
}


static void push_nested(lua_State *L, const kubo_tensor *t, int dim,
                        int64_t *pos) {
  lua_createtable(L, (int)t->shape[dim], 0);
  for (int64_t i = 0; i < t->shape[dim]; i++) {
    pos[dim] = i;
    if (dim + 1 < t->ndim) {
      push_nested(L, t, dim + 1, pos);
    } else {
      double v;
      kubo_tensor_get(t, pos, &v);
      lua_pushnumber(L, v);
    }
    lua_rawseti(L, -2, i + 1);
  }
}


static int t_totable(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  int64_t pos[KUBO_MAX_DIM];
  if (t->ndim == 0) {
    double v;
    kubo_tensor_get(t, pos, &v);
    lua_pushnumber(L, v);
    return 1;
  }
  luaL_checkstack(L, t->ndim + 4, "tensor too deep");
  push_nested(L, t, 0, pos);
  return 1;
}


/* Reads ndim 1-based indices from arguments first.. into pos. */
static void check_index_args(lua_State *L, int first, const kubo_tensor *t,
                             int64_t *pos) {
  for (int d = 0; d < t->ndim; d++)
    pos[d] = kb_check_int(L, first + d, "index") - 1;
}


static int t_get(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  int64_t pos[KUBO_MAX_DIM];
  double v;
  if (lua_gettop(L) - 1 != t->ndim)
    return luaL_error(L, "get: %d indices given, the tensor has %d "
                      "dimensions", lua_gettop(L) - 1, t->ndim);
  check_index_args(L, 2, t, pos);
  KB_TRY(L, kubo_tensor_get(t, pos, &v));
  lua_pushnumber(L, v);
  return 1;
}


static int t_set(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  int64_t pos[KUBO_MAX_DIM];
  double v;
  if (lua_gettop(L) - 2 != t->ndim)
    return luaL_error(L, "set: expected %d indices and a value, got %d "
                      "arguments", t->ndim, lua_gettop(L) - 1);
  check_index_args(L, 2, t, pos);
  v = luaL_checknumber(L, t->ndim + 2);
  KB_TRY(L, kubo_tensor_set(t, pos, v));
  lua_settop(L, 1);
  return 1;
}


static int t_view(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  int64_t shape[KUBO_MAX_DIM];
  int ndim;
  kubo_tensor out;
  if (lua_type(L, 2) != LUA_TNUMBER && !lua_istable(L, 2))
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected sizes or a "
                         "table of sizes, got %s", luaL_typename(L, 2)));
  ndim = read_shape(L, 2, shape, true);
  check_no_more(L, after_shape(L, 2), "x:view(n1, n2, ...)");
  KB_TRY(L, kubo_tensor_reshape(&out, t, ndim, shape));
  kb_tensor_push(L, &out);
  return 1;
}


/* Reads a 1-based dimension of t at idx and returns it 0-based. */
static int check_dim_arg(lua_State *L, int idx, const kubo_tensor *t) {
  int64_t d = kb_check_int(L, idx, "dimension");
  if (d < 1 || d > t->ndim)
    luaL_argerror(L, idx, lua_pushfstring(L, "dimension %I out of range "
                  "1..%d", (lua_Integer)d, t->ndim));
  return (int)d - 1;
}


static int t_slice(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  int dim = check_dim_arg(L, 2, t);
  int64_t first = kb_check_int(L, 3, "first index");
  int64_t last = lua_isnoneornil(L, 4) ? t->shape[dim]
                                      : kb_check_int(L, 4, "last index");
  kubo_tensor out;
  if (first < 1 || last > t->shape[dim] || first > last + 1)
    return luaL_error(L, "slice: range %I..%I invalid for dimension %d of "
                      "size %I (need 1 <= first <= last + 1 and last <= "
                      "size)", (lua_Integer)first, (lua_Integer)last,
                      dim + 1, (lua_Integer)t->shape[dim]);
  KB_TRY(L, kubo_tensor_narrow(&out, t, dim, first - 1, last));
  kb_tensor_push(L, &out);
  return 1;
}


static int t_transpose(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  int d1, d2;
  kubo_tensor out;
  if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3)) {
    if (t->ndim != 2)
      return luaL_error(L, "transpose: a %d-dimensional tensor needs two "
                        "dimensions, as in x:transpose(1, 2)", t->ndim);
    d1 = 0;
    d2 = 1;
  } else {
    d1 = check_dim_arg(L, 2, t);
    d2 = check_dim_arg(L, 3, t);
  }
  KB_TRY(L, kubo_tensor_transpose(&out, t, d1, d2));
  kb_tensor_push(L, &out);
  return 1;
}


static int t_contiguous(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  kubo_tensor out;
  if (kubo_tensor_is_contiguous(t)) {
    lua_settop(L, 1);
    return 1;
  }
  KB_TRY(L, kubo_tensor_clone(&out, t, -1));
  kb_tensor_push(L, &out);
  return 1;
}


static int t_is_contiguous(lua_State *L) {
  lua_pushboolean(L, kubo_tensor_is_contiguous(kb_tensor_check(L, 1)));
  return 1;
}


static int t_copy_(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  kubo_tensor *src = kb_tensor_check(L, 2);
  KB_TRY(L, kubo_tensor_copy(t, src));
  lua_settop(L, 1);
  return 1;
}


static int t_fill_(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  kubo_tensor_fill(t, luaL_checknumber(L, 2));
  lua_settop(L, 1);
  return 1;
}


static int t_equal(lua_State *L) {
  kubo_tensor *a = kb_tensor_check(L, 1), *b = kb_tensor_check(L, 2);
  bool eq;
  KB_TRY(L, kubo_tensor_equal(a, b, &eq));
  lua_pushboolean(L, eq);
  return 1;
}


static int t_allclose(lua_State *L) {
  kubo_tensor *a = kb_tensor_check(L, 1), *b = kb_tensor_check(L, 2);
  double rtol = luaL_optnumber(L, 3, 1e-5), atol = luaL_optnumber(L, 4, 1e-8);
  bool close;
  KB_TRY(L, kubo_tensor_allclose(a, b, rtol, atol, &close));
  lua_pushboolean(L, close);
  return 1;
}


/* x:map(f): calls f on every element in row-major order. The result is
** pushed before the first call, so an error raised by f leaves nothing
** to free by hand. */
static int t_map(lua_State *L) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  kubo_tensor out, *res;
  int64_t n;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  KB_TRY(L, kubo_tensor_clone(&out, t, -1));
  res = kb_tensor_push(L, &out);
  n = kubo_tensor_numel(res);
  for (int64_t i = 0; i < n; i++) {
    int ok = 0;
    double v;
    lua_pushvalue(L, 2);
    lua_pushnumber(L, kubo_tensor_at(res, i));
    lua_call(L, 1, 1);
    v = lua_tonumberx(L, -1, &ok);
    if (!ok)
      return luaL_error(L, "map: the function returned a %s for element "
                        "%I, expected a number", luaL_typename(L, -1),
                        (lua_Integer)i + 1);
    lua_pop(L, 1);
    if (res->dtype == KUBO_FLOAT64)
      ((double *)res->data)[i] = v;
    else
      ((float *)res->data)[i] = (float)v;
  }
  return 1;
}


static const kb_reg tensor_methods[] = {
  {"shape", t_shape, "x:shape() -> table of sizes, e.g. {3, 4}"},
  {"size", t_size, "x:size(dim) -> size of dimension dim (1-based); "
                   "x:size() -> the shape table"},
  {"numel", t_numel, "x:numel() -> number of elements"},
  {"dim", t_dim, "x:dim() -> number of dimensions"},
  {"dtype", t_dtype, "x:dtype() -> \"float64\" or \"float32\""},
  {"to", t_to, "x:to(dtype) -> copy converted to dtype (x itself if it "
               "already has it)"},
  {"clone", t_clone, "x:clone() -> contiguous copy"},
  {"get", t_get, "x:get(i, j, ...) -> the element at 1-based indices "
                 "(one per dimension)"},
  {"set", t_set, "x:set(i, j, ..., v) sets the element at 1-based indices "
                 "to v; returns x"},
  {"view", t_view, "x:view(n1, n2, ...) or x:view({n1, n2, ...}) -> view "
                   "of a contiguous x with a new shape of the same size; "
                   "one size may be -1 (inferred)"},
  {"reshape", t_view, "x:reshape(n1, n2, ...): the same as x:view"},
  {"slice", t_slice, "x:slice(dim, first, [last]) -> view of indices "
                     "first..last (1-based, inclusive; last defaults to "
                     "the size) along dimension dim"},
  {"transpose", t_transpose, "x:transpose(d1, d2) -> view with dimensions "
                             "d1 and d2 swapped (x:transpose() for a "
                             "matrix)"},
  {"contiguous", t_contiguous, "x:contiguous() -> x if it is contiguous, "
                               "else a contiguous copy"},
  {"is_contiguous", t_is_contiguous, "x:is_contiguous() -> true if x's "
                                     "elements are adjacent in row-major "
                                     "order"},
  {"copy_", t_copy_, "x:copy_(y) copies y's elements into x in row-major "
                     "order (same number of elements, dtype converted); "
                     "returns x"},
  {"fill_", t_fill_, "x:fill_(v) sets every element of x to v; returns x"},
  {"equal", t_equal, "x:equal(y) -> true if x and y have the same shape, "
                     "dtype and elements"},
  {"allclose", t_allclose, "x:allclose(y, [rtol], [atol]) -> true if "
                           "|x - y| <= atol + rtol |y| everywhere (rtol "
                           "1e-5, atol 1e-8 by default; shapes must "
                           "match)"},
  {"map", t_map, "x:map(f) -> new tensor with f(v) for every element v "
                 "(calls Lua once per element: a slow path)"},
  {"totable", t_totable, "x:totable() -> nested Lua tables of numbers"},
  {"free", t_free, "x:free() releases the storage now; later use of x is "
                   "an error"},
  {"__gc", t_free, NULL},
  {"__close", t_free, NULL},
  {"__tostring", t_tostring, NULL},
  {"__len", t_len, NULL},
  {"__index", t_index, NULL},
  {"__newindex", t_newindex, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg tensor_functions[] = {
  {"zeros", l_zeros, "kubo.zeros(n1, n2, ..., [dtype]) or "
                     "kubo.zeros({n1, n2, ...}, [dtype]) -> tensor of "
                     "zeros (dtype \"float64\" by default)"},
  {"ones", l_ones, "kubo.ones(n1, n2, ..., [dtype]) -> tensor of ones"},
  {"full", l_full, "kubo.full({n1, n2, ...}, value, [dtype]) -> tensor "
                   "filled with value"},
  {"tensor", l_tensor, "kubo.tensor(nested_table, [dtype]) -> tensor with "
                       "the table's shape and values, e.g. "
                       "kubo.tensor{{1, 2}, {3, 4}}"},
  {"arange", l_arange, "kubo.arange(start, stop, [step], [dtype]) -> 1-D "
                       "tensor start, start + step, ... up to but not "
                       "including stop (step 1 by default)"},
  {"linspace", l_linspace, "kubo.linspace(start, stop, n, [dtype]) -> n "
                           "evenly spaced values from start to stop, both "
                           "included"},
  {NULL, NULL, NULL}
};


void kb_open_tensor(lua_State *L) {
  kb_newclass(L, KB_TENSOR, tensor_methods,
              "kubo.Tensor: an n-dimensional array of float64 or float32 "
              "numbers, row-major, with views that share storage. Index "
              "with x[i] (a row view, or a number for 1-D x) and "
              "x[{i, j}] (a number); all indices are 1-based.");
  /* __index is the function above, not the metatable itself */
  lua_pushcfunction(L, t_index);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  kb_setfuncs(L, -1, tensor_functions);
  kb_open_tensor_math(L);
}
