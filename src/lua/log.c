/*
** log.c: kubo.log_level and kubo.log, the Lua side of the engine's log.
** Log lines go to stderr as "kubo: <level>: <message>".
*/
#include <string.h>

#include "kb.h"

/* Level names, indexed by kubo_log_level. */
static const char *const level_names[] = {"debug", "info", "warn",
                                          "error", "off"};


/* Reads a level name at idx; "warning" is accepted for "warn". */
static kubo_log_level check_level(lua_State *L, int idx) {
  const char *name = luaL_checkstring(L, idx);
  if (strcmp(name, "warning") == 0) return KUBO_LOG_WARN;
  for (int i = KUBO_LOG_DEBUG; i <= KUBO_LOG_OFF; i++)
    if (strcmp(name, level_names[i]) == 0) return (kubo_log_level)i;
  return luaL_argerror(L, idx, lua_pushfstring(L, "unknown log level '%s' "
                       "(expected \"debug\", \"info\", \"warn\", \"error\" "
                       "or \"off\")", name));
}


static int l_log_level(lua_State *L) {
  kubo_log_level previous = kubo_log_get_level();
  if (!lua_isnoneornil(L, 1)) kubo_log_set_level(check_level(L, 1));
  lua_pushstring(L, level_names[previous]);
  return 1;
}


static int l_log(lua_State *L) {
  kubo_log_level level = check_level(L, 1);
  const char *message = luaL_checkstring(L, 2);
  if (level == KUBO_LOG_OFF)
    return luaL_argerror(L, 1, "\"off\" is a threshold, not a level to "
                         "log at");
  kubo_log(level, "%s", message);
  return 0;
}


static const kb_reg log_functions[] = {
  {"log_level", l_log_level, "kubo.log_level([level]) sets the lowest "
                             "level of engine log lines that reach stderr "
                             "(\"debug\", \"info\", \"warn\", \"error\" or "
                             "\"off\"; \"info\" at start) and returns the "
                             "level in force before the call"},
  {"log", l_log, "kubo.log(level, message) writes message to the engine "
                 "log (stderr) at level \"debug\", \"info\", \"warn\" or "
                 "\"error\", if the level is at or above kubo.log_level()"},
  {NULL, NULL, NULL}
};


void kb_open_log(lua_State *L) {
  kb_setfuncs(L, -1, log_functions);
}
