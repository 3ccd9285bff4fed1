/*
** params.c: the kubo.params table from --set options (see params.h).
*/
#include <string.h>

#include <lauxlib.h>

#include "params.h"


/* Pushes the value of a --set option converted as params.h describes. */
static void push_value(lua_State *L, const char *text) {
  size_t len = strlen(text);
  if (strcmp(text, "true") == 0) {
    lua_pushboolean(L, 1);
  } else if (strcmp(text, "false") == 0) {
    lua_pushboolean(L, 0);
  } else if (len >= 2 && (text[0] == '"' || text[0] == '\'') &&
             text[len - 1] == text[0]) {
    lua_pushlstring(L, text + 1, len - 2);
  } else if (len == 0 || lua_stringtonumber(L, text) == 0) {
    lua_pushstring(L, text);
  }
}


/* Pushes one part of a dotted name as a table key: a decimal integer
** becomes an integer key (so --set points.1=3 sets points[1]). */
static void push_key(lua_State *L, const char *part, size_t len) {
  size_t i = 0;
  lua_pushlstring(L, part, len);
  while (i < len && part[i] >= '0' && part[i] <= '9') i++;
  if (i == len && len < 16 && part[0] != '0') {
    lua_Integer k = (lua_Integer)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushinteger(L, k);
  }
}


/* Sets one name=value pair in the table on top of the stack. */
static void set_one(lua_State *L, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *part = spec;
  int top = lua_gettop(L);

  lua_pushvalue(L, -1);
  for (;;) {
    const char *dot = memchr(part, '.', (size_t)(eq - part));
    size_t len = dot ? (size_t)(dot - part) : (size_t)(eq - part);
    push_key(L, part, len);
    if (dot == NULL) {
      push_value(L, eq + 1);
      lua_rawset(L, -3);
      break;
    }
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -2);
      lua_pushvalue(L, -2);
      lua_rawset(L, -5);
    } else if (!lua_istable(L, -1)) {
      const char *old = luaL_tolstring(L, -1, NULL);
      const char *name = lua_pushlstring(L, spec, (size_t)(dot - spec));
      luaL_error(L, "invalid --set '%s': '%s' is already set to %s, "
                 "which is not a table", spec, name, old);
    }
    lua_remove(L, -2);
    lua_remove(L, -2);
    part = dot + 1;
  }
  lua_settop(L, top);
}


void params_build(lua_State *L, const char *const *sets, int nsets) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_newtable(L);
  for (int i = 0; i < nsets; i++) set_one(L, sets[i]);
  lua_setfield(L, -2, "kubo.params");
  lua_pop(L, 1);
}
