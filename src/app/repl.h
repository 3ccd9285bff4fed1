/*
** repl.h: the interactive read-eval-print loop of the kubo program.
*/
#ifndef KUBO_APP_REPL_H
#define KUBO_APP_REPL_H

#include <lua.h>

/* Runs the REPL on L until end of input (Ctrl-D) or a second Ctrl-C at
** an empty prompt. Sets the globals kubo and help when they are unset.
** An expression's values are printed as short summaries unless the
** input ends with ';'; "=expr" is "return expr" and "?x" is help(x).
** Input that ends inside a statement continues on the next line. */
void repl_run(lua_State *L);

#endif
