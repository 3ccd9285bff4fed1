/*
** kubo.c: luaopen_kubo_core, which builds the table of C functions and
** classes that lua/kubo/init.lua extends into the `kubo` module.
*/
#include <omp.h>
#include <time.h>

#include "kb.h"
#include "kubo/alloc.h"
#include "kubo/version.h"
#include "kubo_lua.h"


static int l_doc(lua_State *L) {
  luaL_checkany(L, 1);
  kb_getdoc(L, 1);
  return 1;
}


static int l_setdoc(lua_State *L) {
  luaL_checkany(L, 1);
  kb_setdoc(L, 1, luaL_checkstring(L, 2));
  lua_settop(L, 1);
  return 1;
}


static int l_threads(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) {
    int64_t n = kb_check_int(L, 1, "number of threads");
    if (n < 1 || n > 4096)
      return luaL_argerror(L, 1, lua_pushfstring(L, "number of threads must "
                           "be between 1 and 4096 (got %I)", (lua_Integer)n));
    omp_set_num_threads((int)n);
  }
  lua_pushinteger(L, omp_get_max_threads());
  return 1;
}


static int l_memory(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)kubo_alloc_live_bytes());
  return 1;
}


static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
  return 1;
}


static const kb_reg base_functions[] = {
  {"clock", l_clock, "kubo.clock() -> wall-clock seconds from a monotonic "
                     "clock (for timing: subtract two readings)"},
  {"doc", l_doc, "kubo.doc(x) -> the docstring of a kubo function, class "
                 "or module, or nil"},
  {"setdoc", l_setdoc, "kubo.setdoc(x, text) records text as the "
                       "documentation of x (used by help) and returns x"},
  {"threads", l_threads, "kubo.threads([n]) sets the number of OpenMP "
                         "threads if n is given; returns the number in "
                         "use"},
  {"memory", l_memory, "kubo.memory() -> bytes currently held by kubo's "
                       "engine (tensors, plans, networks)"},
  {NULL, NULL, NULL}
};


void kb_open_base(lua_State *L) {
  kb_setfuncs(L, -1, base_functions);
  lua_pushliteral(L, KUBO_VERSION);
  lua_setfield(L, -2, "version");
}


int luaopen_kubo_core(lua_State *L) {
  lua_newtable(L);
  kb_open_base(L);
  kb_open_tensor(L);
  kb_open_log(L);
  kb_open_rng(L);
  kb_open_h5(L);
  kb_open_grid(L);
  kb_open_models(L);
  kb_open_integrator(L);
  kb_open_response(L);
  kb_open_nn(L);
  kb_open_optim(L);
  kb_open_score(L);
  kb_open_mpi(L);
  /* Each module adds its opener call here, in dependency order. */
  return 1;
}
