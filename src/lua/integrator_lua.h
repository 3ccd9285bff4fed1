/*
** integrator_lua.h: helpers shared by the files of the kubo.Integrator
** binding: integrator.c (the class), integrator_run.c (sim:run) and
** integrator_file.c (checkpoints).
*/
#ifndef KUBO_INTEGRATOR_LUA_H
#define KUBO_INTEGRATOR_LUA_H

#include "kb.h"
#include "kubo/h5.h"
#include "kubo/integrator.h"

/* The user value of a kubo.Integrator that keeps its kubo.Model alive. */
enum { KB_SIM_UV_MODEL = 1 };

/* Marks the kubo.Integrator at idx busy (1) or idle (0). Set busy around
** engine calls that may call back into Lua: sim:free, <close>, sim:advance,
** sim:run and sim:initialize of a busy integrator raise an error. */
void kb_sim_set_busy(lua_State *L, int idx, int busy);

/* Raises "integrator: cannot <action> while it is running" when the
** kubo.Integrator at idx is busy. */
void kb_sim_check_idle(lua_State *L, int idx, const char *action);

/* Raises the engine's error message unless status is KUBO_OK. */
void kb_sim_check_status(lua_State *L, kubo_status status);

/* Raises the message of a failed advance of s; a non-finite state is
** reported with a 1-based member number and the step and time. */
int kb_sim_raise_advance(lua_State *L, kubo_sim *s, kubo_status status);

/* Raises "fname: unknown option 'k' (options: ...)" for a key of the
** table at idx that is not in the NULL-terminated keys. */
void kb_sim_check_keys(lua_State *L, int idx, const char *fname,
                       const char *const *keys);

/* Option readers for the table at idx: def when the key is absent,
** "fname: key must be ..." errors otherwise. kb_sim_opt_int takes whole
** numbers >= lo. kb_sim_opt_string's result is valid while the table
** contains it. kb_sim_opt_dtype reads "dtype" ("float64" by default). */
int64_t kb_sim_opt_int(lua_State *L, int idx, const char *fname,
                       const char *key, int64_t def, int64_t lo);
double kb_sim_opt_number(lua_State *L, int idx, const char *fname,
                         const char *key, double def);
const char *kb_sim_opt_string(lua_State *L, int idx, const char *fname,
                              const char *key, const char *def);
kubo_dtype kb_sim_opt_dtype(lua_State *L, int idx, const char *fname);

/* Adds the metadata of s to a: kubo_version, model and its parameters
** ("model.<name>"), grid.n, grid.length, grid.nyquist, method, dt,
** seed, members, first_member (1-based) and noise. */
kubo_status kb_sim_model_attrs(kubo_h5_attrs *a, const kubo_sim *s);

/* The Lua functions: kubo.integrator{...} (the options table is the last
** argument), sim:run{...}, sim:save(file) and kubo.integrator.load(file)
** (upvalues: kubo.models and kubo.grid). */
int kb_sim_new(lua_State *L);
int kb_sim_run(lua_State *L);
int kb_sim_save(lua_State *L);
int kb_sim_load(lua_State *L);

#endif
