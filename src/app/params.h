/*
** params.h: the kubo.params table built from --set name=value options.
*/
#ifndef KUBO_APP_PARAMS_H
#define KUBO_APP_PARAMS_H

#include <lua.h>

/* Builds the table of parameter overrides from the name=value strings
** in sets (checked by args_parse) and stores it as
** package.loaded["kubo.params"], which is what kubo.params returns.
** Dotted names make nested tables. The values "true" and "false" become
** booleans and numerals become numbers (integers stay integers). A
** value in matching single or double quotes becomes the string inside
** them, and anything else stays a string. A later setting of the same
** name wins.
** Raises a Lua error if a name goes through a value that is not a table
** (--set a=1 --set a.b=2). */
void params_build(lua_State *L, const char *const *sets, int nsets);

#endif
