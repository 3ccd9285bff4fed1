/*
** signals.h: Ctrl-C (SIGINT) handling of the kubo program.
**
** While Lua code runs, Ctrl-C requests a stop. The handler calls
** kubo_interrupt_request(), so that engine loops stop at their next safe
** point with KUBO_EINTERRUPTED. It also sets a Lua hook that raises the
** error "interrupted" at the next Lua instruction, so that pure Lua
** loops stop too, unless an engine loop has already raised its
** "interrupted (...)" error. A third Ctrl-C during the same run ends the
** program, for code that never reaches a safe point. While the REPL
** waits for input, Ctrl-C only sets a flag that the input loop reads.
*/
#ifndef KUBO_APP_SIGNALS_H
#define KUBO_APP_SIGNALS_H

#include <lua.h>

/* Installs the running-code handler for L and clears the engine's error
** message (which the stop hook reads); call before running Lua. */
void signals_run_begin(lua_State *L);

/* Restores the handler that was in place before signals_run_begin and
** removes the stop hook if it is still set. */
void signals_run_end(lua_State *L);

/* Returns 1 if Ctrl-C was pressed during the last run. */
int signals_run_interrupted(void);

/* Installs the handler used while the REPL waits for input. It does not
** restart interrupted system calls, so a blocked read or poll returns
** EINTR. */
void signals_idle_begin(void);

/* Returns 1 if Ctrl-C was pressed since the last call, and clears it. */
int signals_idle_take(void);

#endif
