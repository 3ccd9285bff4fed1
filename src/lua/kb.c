/*
** kb.c: documentation registry, error raising and memory accounting for
** the Lua bindings.
*/
#include <string.h>

#include "kb.h"
#include "kubo/alloc.h"

/* Registry key of the weak-keyed table value -> docstring. */
static const char docs_key = 'd';


static void push_docs(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &docs_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &docs_key);
  }
}


void kb_setdoc(lua_State *L, int idx, const char *doc) {
  idx = lua_absindex(L, idx);
  if (doc == NULL) return;
  push_docs(L);
  lua_pushvalue(L, idx);
  lua_pushstring(L, doc);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}


void kb_getdoc(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  push_docs(L);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  lua_remove(L, -2);
}


void kb_setfuncs(lua_State *L, int idx, const kb_reg *regs) {
  idx = lua_absindex(L, idx);
  for (; regs->name != NULL; regs++) {
    lua_pushcfunction(L, regs->func);
    kb_setdoc(L, -1, regs->doc);
    lua_setfield(L, idx, regs->name);
  }
}


int kb_raise(lua_State *L) {
  const char *msg = kubo_error_message();
  return luaL_error(L, "%s", msg[0] ? msg : "unknown engine error");
}


void kb_newclass(lua_State *L, const char *tname, const kb_reg *methods,
                 const char *classdoc) {
  luaL_newmetatable(L, tname);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  kb_setfuncs(L, -1, methods);
  kb_setdoc(L, -1, classdoc);
}


/* Engine bytes live right after the last full collection that kb_account
** ran (a process-wide figure: one Lua state per program). */
static int64_t live_after_collect = 0;


void kb_account(lua_State *L, size_t nbytes) {
  /* Lua's collector sees only the small userdata, not the storage, so a
  ** loop of large temporaries would grow without bound. Collect once the
  ** engine holds twice what it held after the last collection plus a
  ** 64 MiB allowance. */
  const int64_t allowance = (int64_t)64 << 20;
  int64_t live = kubo_alloc_live_bytes();
  (void)nbytes;
  if (live > 2 * live_after_collect + allowance) {
    lua_gc(L, LUA_GCCOLLECT);
    live_after_collect = kubo_alloc_live_bytes();
  }
}
