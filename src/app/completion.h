/*
** completion.h: Tab completion at the REPL prompt.
**
** The word before the cursor, a dotted name with at most one final ':'
** (`kubo.ze`, `g:lap`), is completed by the Lua function complete of the
** module kubo.repl, which follows tables and their metatables.
*/
#ifndef KUBO_APP_COMPLETION_H
#define KUBO_APP_COMPLETION_H

#include <lua.h>

/* Makes readline complete names in L, using the function at the top of
** the stack (popped), called as f(word) -> sorted list of completions. */
void completion_install(lua_State *L);

#endif
