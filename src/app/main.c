/*
** main.c: the kubo program. It runs scripts with the options, arg table
** and exit codes of the standalone lua 5.4 program, with kubo's modules
** on the search path, and starts the REPL when no script is given.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "args.h"
#include "params.h"
#include "repl.h"
#include "runner.h"


/* Runs the -e, -l and -W options in order. Returns 1 if all succeeded. */
static int run_actions(lua_State *L, const app_args *a) {
  for (int i = 0; i < a->nactions; i++) {
    const app_action *act = &a->actions[i];
    int status = LUA_OK;
    if (act->kind == 'e')
      status = runner_run_string(L, act->value);
    else if (act->kind == 'l')
      status = runner_run_library(L, act->value);
    else
      lua_warning(L, "@on", 0);
    if (status != LUA_OK) return 0;
  }
  return 1;
}


/* Does the program's work inside a protected call. Returns true if
** everything succeeded. */
static int protected_main(lua_State *L) {
  app_args *a = lua_touserdata(L, 1);
  const char *script = NULL;

  luaL_checkversion(L);
  if (a->show_version) args_print_version(stdout);
  if (a->ignore_env) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  if (a->script > 0 && strcmp(a->argv[a->script], "-") != 0)
    script = a->argv[a->script];
  runner_set_paths(L, script);
  params_build(L, a->sets, a->nsets);
  runner_create_arg(L, a->argv, a->argc, a->script);
  lua_gc(L, LUA_GCGEN, 0, 0);

  if (!a->ignore_env && runner_run_init(L) != LUA_OK) return 0;
  if (!run_actions(L, a)) return 0;
  if (a->script > 0 &&
      runner_run_script(L, a->argv + a->script) != LUA_OK)
    return 0;
  if (a->interactive) {
    repl_run(L);
  } else if (a->script == 0 && !a->has_execute && !a->show_version) {
    if (isatty(STDIN_FILENO))
      repl_run(L);
    else
      runner_run_file(L, NULL);  /* as lua: its status is not the exit's */
  }
  lua_pushboolean(L, 1);
  return 1;
}


int main(int argc, char **argv) {
  app_args args;
  lua_State *L;
  int status, ok;

  if (args_parse(&args, argc, argv) != 0) {
    fprintf(stderr, "kubo: %s\n", args.error);
    if (args.error_is_option)
      args_print_usage(stderr);
    else
      fprintf(stderr, "(kubo --help lists the options)\n");
    args_free(&args);
    return EXIT_FAILURE;
  }
  if (args.help || args.version_only) {
    if (args.help)
      args_print_usage(stdout);
    else
      args_print_version(stdout);
    args_free(&args);
    return EXIT_SUCCESS;
  }

  L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "kubo: cannot create the Lua state: not enough "
            "memory\n");
    args_free(&args);
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, protected_main);
  lua_pushlightuserdata(L, &args);
  status = lua_pcall(L, 1, 1, 0);
  ok = lua_toboolean(L, -1);
  runner_report(L, status, 1);
  lua_close(L);
  args_free(&args);
  return (status == LUA_OK && ok) ? EXIT_SUCCESS : EXIT_FAILURE;
}
