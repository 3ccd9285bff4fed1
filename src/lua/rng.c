/*
** rng.c: the kubo.Rng class (Philox streams) and kubo.rng(seed).
*/
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "kb.h"
#include "kubo/rng.h"


kubo_rng *kb_rng_check(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, KB_RNG);
}


static kubo_rng *push_rng(lua_State *L, uint64_t seed, uint64_t stream) {
  kubo_rng *r = lua_newuserdatauv(L, sizeof *r, 0);
  kubo_rng_init(r, seed, stream);
  luaL_setmetatable(L, KB_RNG);
  return r;
}


/* Reads a whole number in 0 .. 2^63 - 1 (an integer, or a float with an
** integral value), naming `label` in the error. */
static uint64_t check_count(lua_State *L, int idx, const char *label) {
  lua_Integer v;
  if (lua_isinteger(L, idx)) {
    v = lua_tointeger(L, idx);
    if (v < 0)
      luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a whole number "
                    "from 0 to 2^63-1 (got %I)", label, v));
    return (uint64_t)v;
  }
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Number x = lua_tonumber(L, idx);
    /* 2^63 itself does not fit; lua_numbertointeger rejects it */
    if (x >= 0 && x == floor(x) && lua_numbertointeger(x, &v))
      return (uint64_t)v;
    luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a whole number "
                  "from 0 to 2^63-1 (got %s)", label,
                  isnan(x) ? "nan" : lua_tostring(L, idx)));
  }
  luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a whole number "
                "from 0 to 2^63-1 (got %s)", label, luaL_typename(L, idx)));
  return 0;
}


static int l_rng(lua_State *L) {
  uint64_t seed = check_count(L, 1, "seed");
  push_rng(L, seed, 0);
  return 1;
}


/* Index of the first argument after the sizes that start at first. */
static int after_sizes(lua_State *L, int first) {
  if (lua_istable(L, first)) return first + 1;
  while (lua_type(L, first) == LUA_TNUMBER) first++;
  return first;
}


/* rng:normal(...) and rng:uniform(...): a number without sizes, else a
** new tensor of the given shape and dtype. */
static int draw_new(lua_State *L, int normal) {
  kubo_rng *r = kb_rng_check(L, 1);
  int64_t shape[KUBO_MAX_DIM];
  int ndim;
  kubo_dtype dtype;
  kubo_tensor t;
  kubo_status status;
  if (lua_isnoneornil(L, 2)) {
    lua_pushnumber(L, normal ? kubo_rng_normal1(r) : kubo_rng_uniform1(r));
    return 1;
  }
  if (lua_type(L, 2) != LUA_TNUMBER && !lua_istable(L, 2))
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected sizes n1, n2, "
                         "... or a table of sizes (got %s)",
                         luaL_typename(L, 2)));
  ndim = kb_check_shape(L, 2, shape);
  dtype = kb_check_dtype(L, after_sizes(L, 2), KUBO_FLOAT64);
  KB_TRY(L, kubo_tensor_init(&t, dtype, ndim, shape));
  status = normal ? kubo_rng_fill_normal(r, &t, 0, 1)
                  : kubo_rng_fill_uniform(r, &t, 0, 1);
  if (status != KUBO_OK) {
    kubo_tensor_release(&t);
    return kb_raise(L);
  }
  kb_tensor_push(L, &t);
  return 1;
}


static int r_normal(lua_State *L) { return draw_new(L, 1); }
static int r_uniform(lua_State *L) { return draw_new(L, 0); }


static int r_normal_inplace(lua_State *L) {
  kubo_rng *r = kb_rng_check(L, 1);
  kubo_tensor *t = kb_tensor_check(L, 2);
  double mean = luaL_optnumber(L, 3, 0);
  double std = luaL_optnumber(L, 4, 1);
  KB_TRY(L, kubo_rng_fill_normal(r, t, mean, std));
  lua_settop(L, 2);
  return 1;
}


static int r_uniform_inplace(lua_State *L) {
  kubo_rng *r = kb_rng_check(L, 1);
  kubo_tensor *t = kb_tensor_check(L, 2);
  double low = luaL_optnumber(L, 3, 0);
  double high = luaL_optnumber(L, 4, 1);
  KB_TRY(L, kubo_rng_fill_uniform(r, t, low, high));
  lua_settop(L, 2);
  return 1;
}


static int r_stream(lua_State *L) {
  kubo_rng *r = kb_rng_check(L, 1);
  uint64_t k = check_count(L, 2, "stream number");
  push_rng(L, r->seed, kubo_rng_substream(r->stream, k));
  return 1;
}


static int r_clone(lua_State *L) {
  kubo_rng *r = kb_rng_check(L, 1);
  kubo_rng *c = push_rng(L, r->seed, r->stream);
  c->position = r->position;
  return 1;
}


static int r_seed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kb_rng_check(L, 1)->seed);
  return 1;
}


static int r_position(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kb_rng_check(L, 1)->position);
  return 1;
}


static int r_set_position(lua_State *L) {
  kubo_rng *r = kb_rng_check(L, 1);
  r->position = check_count(L, 2, "position");
  lua_settop(L, 1);
  return 1;
}


static int r_tostring(lua_State *L) {
  kubo_rng *r = kb_rng_check(L, 1);
  char buf[128];
  snprintf(buf, sizeof buf, "kubo.Rng(seed %" PRIu64 ", stream 0x%016"
           PRIx64 ", position %" PRIu64 ")", r->seed, r->stream,
           r->position);
  lua_pushstring(L, buf);
  return 1;
}


static const kb_reg rng_methods[] = {
  {"normal", r_normal,
   "rng:normal(n1, n2, ..., [dtype]) or rng:normal({n1, ...}, [dtype]) "
   "-> new tensor of standard normals (dtype \"float64\" by default); "
   "rng:normal() -> one number"},
  {"uniform", r_uniform,
   "rng:uniform(n1, n2, ..., [dtype]) -> new tensor of uniforms in "
   "[0, 1); rng:uniform() -> one number"},
  {"normal_", r_normal_inplace,
   "rng:normal_(t, [mean], [std]) fills tensor t in place with mean + "
   "std * N(0, 1) (defaults 0 and 1) and returns t"},
  {"uniform_", r_uniform_inplace,
   "rng:uniform_(t, [low], [high]) fills tensor t in place with uniforms "
   "in [low, high) (defaults 0 and 1) and returns t"},
  {"stream", r_stream,
   "rng:stream(k) -> a new Rng for substream k (a whole number >= 0) of "
   "this stream, at position 0; streams with different k are "
   "independent"},
  {"clone", r_clone, "rng:clone() -> a copy at the same position"},
  {"seed", r_seed, "rng:seed() -> the seed this Rng was made with"},
  {"position", r_position,
   "rng:position() -> the next Philox block (each block gives two "
   "values); save it to resume the stream later"},
  {"set_position", r_set_position,
   "rng:set_position(p) moves the stream to block p (from "
   "rng:position()) and returns rng"},
  {"__tostring", r_tostring, NULL},
  {NULL, NULL, NULL}
};


static const kb_reg rng_functions[] = {
  {"rng", l_rng,
   "kubo.rng(seed) -> Rng: a Philox4x32-10 random stream for a seed (a "
   "whole number from 0 to 2^63-1). Draws depend only on the seed, the "
   "stream and the position, never on the number of threads."},
  {NULL, NULL, NULL}
};


void kb_open_rng(lua_State *L) {
  kb_newclass(L, KB_RNG, rng_methods,
              "kubo.Rng: a counter-based random stream keyed by (seed, "
              "stream). Methods: normal, uniform, normal_, uniform_, "
              "stream, clone, seed, position, set_position.");
  lua_pop(L, 1);
  kb_setfuncs(L, -1, rng_functions);
}
