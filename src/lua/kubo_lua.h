/*
** kubo_lua.h: the entry point of the Lua bindings, for the program.
*/
#ifndef KUBO_LUA_H
#define KUBO_LUA_H

#include <lua.h>

/* Opens the C half of the kubo module ("kubo.core"). */
int luaopen_kubo_core(lua_State *L);

#endif
