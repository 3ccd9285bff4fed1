/*
** runner.h: loading and running Lua code in the kubo program: the error
** handler with its traceback, the arg table, the module search path,
** LUA_INIT, -e, -l and the script.
*/
#ifndef KUBO_APP_RUNNER_H
#define KUBO_APP_RUNNER_H

#include <lua.h>

/* Calls the function below narg arguments on the stack through
** lua_pcall, with a traceback handler and the Ctrl-C handler of
** signals.h. Returns the status. On error the message with its
** traceback is on the top. */
int runner_docall(lua_State *L, int narg, int nres);

/* If status is not LUA_OK, writes the message on the top of the stack
** to stderr (prefixed by "kubo: " when prefixed is 1) and pops it.
** Returns status. */
int runner_report(lua_State *L, int status, int prefixed);

/* Makes require find kubo's Lua modules and preloads the C module
** "kubo.core". The modules come from the install tree next to the
** program, else from the source tree it was built from. Modules in the
** folder of script (a file name, or NULL) are found too. */
void runner_set_paths(lua_State *L, const char *script);

/* Creates the global arg table as lua does: arg[0] is the script,
** arg[1..] its arguments, negative indices the program and options. */
void runner_create_arg(lua_State *L, char **argv, int argc, int script);

/* Runs LUA_INIT_5_4, or else LUA_INIT: "@file" runs the file, anything
** else runs as code. Returns the status, already reported. */
int runner_run_init(lua_State *L);

/* Runs code named "=(command line)" (the -e option). Returns the status,
** already reported. */
int runner_run_string(lua_State *L, const char *code);

/* Runs `global = require(module)` for -l: "g=mod" sets global g, "mod"
** sets global mod, as lua 5.4.4 does. Returns the status, already
** reported. */
int runner_run_library(lua_State *L, const char *spec);

/* Runs a file (stdin if name is NULL). Returns the status, reported. */
int runner_run_file(lua_State *L, const char *name);

/* Runs the script at argv[0] ("-" is stdin unless preceded by "--")
** with the positive entries of the global arg table as its arguments.
** Returns the status, already reported. */
int runner_run_script(lua_State *L, char **argv);

#endif
