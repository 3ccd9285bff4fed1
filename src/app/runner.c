/*
** runner.c: running Lua code in the kubo program (see runner.h).
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "kubo/error.h"
#include "kubo_lua.h"
#include "runner.h"
#include "signals.h"


/* The message handler of runner_docall: turns the error object into a
** string and appends a traceback. */
static int message_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    /* an object with __tostring is its own message, without traceback */
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}


int runner_docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  int status;
  lua_pushcfunction(L, message_handler);
  lua_insert(L, base);
  signals_run_begin(L);
  status = lua_pcall(L, narg, nres, base);
  signals_run_end(L);
  lua_remove(L, base);
  return status;
}


int runner_report(lua_State *L, int status, int prefixed) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(error object is not a string)";
    fprintf(stderr, "%s%s\n", prefixed ? "kubo: " : "", msg);
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}


/* ---------------------------------------------------------------------
** Module search path
** ------------------------------------------------------------------- */

/* Writes to out the folder of kubo's Lua modules: the install tree
** (<prefix>/bin/kubo next to <prefix>/<datadir>/kubo/lua) when it has
** kubo/init.lua, else the source tree the program was built from. */
static void find_lua_dir(char *out, size_t size) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  snprintf(out, size, "%s", KUBO_SOURCE_LUA_DIR);
  if (n > 0) {
    char candidate[PATH_MAX + 64];
    char *slash;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash != NULL) *slash = '\0';
    snprintf(candidate, sizeof candidate, "%s/../%s/kubo/init.lua", exe,
             KUBO_INSTALL_LUA_SUBDIR);
    if (access(candidate, R_OK) == 0)
      snprintf(out, size, "%s/../%s", exe, KUBO_INSTALL_LUA_SUBDIR);
  }
}


/* Pushes "dir/?.lua;dir/?/init.lua;" for a folder. A folder whose name
** contains ';' or '?' cannot appear in a Lua path and gives "". */
static void push_path_entries(lua_State *L, const char *dir) {
  if (strpbrk(dir, ";?") != NULL)
    lua_pushliteral(L, "");
  else
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
}


void runner_set_paths(lua_State *L, const char *script) {
  char luadir[PATH_MAX + 64];
  int parts = 1;
  find_lua_dir(luadir, sizeof luadir);

  lua_getglobal(L, "package");
  push_path_entries(L, luadir);
  if (script != NULL) {
    char dir[PATH_MAX], resolved[PATH_MAX];
    const char *slash = strrchr(script, '/');
    if (slash == NULL)
      snprintf(dir, sizeof dir, ".");
    else if (slash == script)
      snprintf(dir, sizeof dir, "/");
    else
      snprintf(dir, sizeof dir, "%.*s", (int)(slash - script), script);
    /* An absolute folder keeps working if the script changes folder. */
    push_path_entries(L, realpath(dir, resolved) ? resolved : dir);
    parts++;
  }
  lua_getfield(L, -1 - parts, "path");
  lua_concat(L, parts + 1);
  lua_setfield(L, -2, "path");

  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_kubo_core);
  lua_setfield(L, -2, "kubo.core");
  lua_pop(L, 2);
}


/* ---------------------------------------------------------------------
** arg, LUA_INIT, -e, -l and the script
** ------------------------------------------------------------------- */

void runner_create_arg(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0,
                  script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}


static int run_chunk(lua_State *L, int status) {
  if (status == LUA_OK) status = runner_docall(L, 0, 0);
  return runner_report(L, status, 1);
}


int runner_run_string(lua_State *L, const char *code) {
  return run_chunk(L, luaL_loadbuffer(L, code, strlen(code),
                                      "=(command line)"));
}


int runner_run_file(lua_State *L, const char *name) {
  return run_chunk(L, luaL_loadfile(L, name));
}


int runner_run_init(lua_State *L) {
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv("LUA_INIT_5_4");
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv("LUA_INIT");
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return runner_run_file(L, init + 1);
  return run_chunk(L, luaL_loadbuffer(L, init, strlen(init), name));
}


int runner_run_library(lua_State *L, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *module = eq ? eq + 1 : spec;
  size_t global_len = eq ? (size_t)(eq - spec) : strlen(spec);
  int status;

  lua_pushlstring(L, spec, global_len);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  status = runner_docall(L, 1, 1);
  if (status == LUA_OK) {
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
    return LUA_OK;
  }
  lua_remove(L, -2);
  return runner_report(L, status, 1);
}


/* Pushes arg[1], ..., arg[n] and returns n. */
static int push_script_args(lua_State *L) {
  int n;
  if (lua_getglobal(L, "arg") != LUA_TTABLE)
    luaL_error(L, "'arg' is not a table");
  n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to the script");
  for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -n - 1);
  return n;
}


int runner_run_script(lua_State *L, char **argv) {
  const char *name = argv[0];
  int status;
  if (strcmp(name, "-") == 0 && strcmp(argv[-1], "--") != 0) name = NULL;
  status = luaL_loadfile(L, name);
  if (status == LUA_OK) {
    int n = push_script_args(L);
    status = runner_docall(L, n, 0);
  }
  return runner_report(L, status, 1);
}
