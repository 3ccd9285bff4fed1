/*
** main.c: the kubo program (minimal script runner; the full program with
** the REPL replaces it).
*/
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubo_lua.h"


static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)",
                                         luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}


/* Prepends the folder of the kubo Lua modules to package.path. */
static void set_lua_path(lua_State *L) {
  char exe[4096], dir[4200];
  const char *luadir = KUBO_SOURCE_LUA_DIR;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    char *slash;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(dir, sizeof dir, "%s/../%s/kubo/init.lua", exe,
             KUBO_INSTALL_LUA_SUBDIR);
    if (access(dir, R_OK) == 0) {
      snprintf(dir, sizeof dir, "%s/../%s", exe, KUBO_INSTALL_LUA_SUBDIR);
      luadir = dir;
    }
  }
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", luadir, luadir);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_kubo_core);
  lua_setfield(L, -2, "kubo.core");
  lua_pop(L, 2);
}


int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int status;
  if (L == NULL) {
    fprintf(stderr, "kubo: cannot create the Lua state\n");
    return 1;
  }
  luaL_openlibs(L);
  set_lua_path(L);
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, traceback);
  if (argc >= 3 && strcmp(argv[1], "-e") == 0)
    status = luaL_loadstring(L, argv[2]);
  else if (argc >= 2)
    status = luaL_loadfile(L, argv[1]);
  else {
    fprintf(stderr, "usage: kubo script.lua | kubo -e code\n");
    lua_close(L);
    return 1;
  }
  if (status == LUA_OK) status = lua_pcall(L, 0, 0, 1);
  if (status != LUA_OK) {
    fprintf(stderr, "kubo: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_close(L);
  return 0;
}
