/*
** kb.h: helpers shared by the Lua bindings (src/lua/ only).
**
** The bindings are the only C files that include Lua headers. They check
** arguments at their Lua positions, convert 1-based indices to the
** engine's 0-based ones, call the engine and turn a failed status into a
** Lua error carrying kubo_error_message() and the caller's file:line.
*/
#ifndef KUBO_KB_H
#define KUBO_KB_H

#include <lauxlib.h>
#include <lua.h>

#include "kubo/error.h"
#include "kubo/tensor.h"

/* A function with its docstring, for kb_setfuncs and help(). */
typedef struct kb_reg {
  const char *name;
  lua_CFunction func;
  const char *doc;
} kb_reg;

/* Sets each function of regs as a field of the table at idx and records
** its docstring (doc may be NULL only for metamethods). */
void kb_setfuncs(lua_State *L, int idx, const kb_reg *regs);

/* Records doc as the documentation of the value at idx (a function or a
** table); help(x) prints it. */
void kb_setdoc(lua_State *L, int idx, const char *doc);

/* Pushes the documentation of the value at idx, or nil. */
void kb_getdoc(lua_State *L, int idx);

/* Raises kubo_error_message() as a Lua error at the caller's line. */
int kb_raise(lua_State *L);

#define KB_TRY(L, call)                                         \
  do {                                                          \
    if ((call) != KUBO_OK) return kb_raise(L);                  \
  } while (0)

/* Creates a metatable named tname (dotted, e.g. "kubo.Tensor") with
** __name, __index pointing to itself and the given methods; leaves it on
** the stack. */
void kb_newclass(lua_State *L, const char *tname, const kb_reg *methods,
                 const char *classdoc);

/* Tells Lua's collector about nbytes of memory just allocated outside its
** heap, running a full collection when engine memory has grown well past
** what it was after the last one. */
void kb_account(lua_State *L, size_t nbytes);


/* ---------------------------------------------------------------------
** Tensors
** ------------------------------------------------------------------- */

#define KB_TENSOR "kubo.Tensor"

/* Pushes a new tensor userdata that takes over *t (t is left empty). */
kubo_tensor *kb_tensor_push(lua_State *L, kubo_tensor *t);

/* Returns the tensor at idx; raises a type error if it is not a tensor
** and "attempt to use a freed tensor" if it was freed. */
kubo_tensor *kb_tensor_check(lua_State *L, int idx);

/* Returns the tensor at idx, or NULL if the value is not a tensor. */
kubo_tensor *kb_tensor_test(lua_State *L, int idx);

/* Reads an optional dtype string at idx (default if absent). */
kubo_dtype kb_check_dtype(lua_State *L, int idx, kubo_dtype def);

/* Reads a shape given either as integers from index first on (stopping
** at the first non-number) or as one table of integers at first. Returns
** ndim; raises on bad sizes. */
int kb_check_shape(lua_State *L, int first, int64_t *shape);

/* Reads a whole number argument, rejecting NaN, Inf and fractions. */
int64_t kb_check_int(lua_State *L, int idx, const char *what);

/* ---------------------------------------------------------------------
** Random streams (src/lua/rng.c)
** ------------------------------------------------------------------- */

#define KB_RNG "kubo.Rng"

struct kubo_rng;

/* Returns the kubo.Rng at idx; raises a type error otherwise. */
struct kubo_rng *kb_rng_check(lua_State *L, int idx);


/* ---------------------------------------------------------------------
** Grids (src/lua/grid.c)
** ------------------------------------------------------------------- */

struct kubo_grid;

/* Returns the grid of the kubo.Grid at idx; raises a type error if it is
** not one and "attempt to use a closed grid" after g:close(). The grid
** lives while the userdata does; kubo_grid_retain() it to keep it longer. */
struct kubo_grid *kb_grid_check(lua_State *L, int idx);


/* ---------------------------------------------------------------------
** Networks and optimizers (src/lua/nn.c, src/lua/optim.c)
** ------------------------------------------------------------------- */

#define KB_MODULE "kubo.nn.Module"
#define KB_OPTIM "kubo.optim.Optimizer"
#define KB_EMA "kubo.optim.Ema"

struct kubo_nn;
struct kubo_optim;
struct kubo_ema;

/* Return the object of the userdata at idx; raise a type error if it is
** not one and "attempt to use a freed ..." after free(). */
struct kubo_nn *kb_module_check(lua_State *L, int idx);
struct kubo_optim *kb_optim_check(lua_State *L, int idx);
struct kubo_ema *kb_ema_check(lua_State *L, int idx);

/* The network of the kubo.nn.Module at idx, or NULL when the value is not
** a Module or the Module was freed. Never raises. */
struct kubo_nn *kb_module_test(lua_State *L, int idx);

/* Options tables of the nn and optim constructors. check_options raises
** "fname: unknown option 'key' (valid: ...)" for a key not in valid (a
** NULL-terminated list). The readers return def for an absent key and
** raise "fname: key must be ..." for a value of the wrong type or out of
** [lo, hi]. */
void kb_nn_check_options(lua_State *L, int idx, const char *fname,
                         const char *const *valid);
int kb_nn_opt_int(lua_State *L, int idx, const char *fname,
                  const char *key, int def, int lo, int hi);
double kb_nn_opt_number(lua_State *L, int idx, const char *fname,
                        const char *key, double def);
int kb_nn_opt_bool(lua_State *L, int idx, const char *fname,
                   const char *key, int def);


/* ---------------------------------------------------------------------
** Models and integrators (src/lua/model.c, src/lua/integrator.c)
** ------------------------------------------------------------------- */

#define KB_MODEL "kubo.Model"
#define KB_INTEGRATOR "kubo.Integrator"

struct kubo_model;
struct kubo_sim;

/* Returns the model of the kubo.Model at idx (raises a type error
** otherwise) and makes L the thread on which its Lua drift, if it has
** one, runs from now on. Call it before every engine call that may
** evaluate the drift. */
struct kubo_model *kb_model_check(lua_State *L, int idx);

/* Returns the integrator of the kubo.Integrator at idx; raises a type
** error otherwise and "attempt to use a freed integrator" after
** sim:free(). Also prepares its model's drift for L (kb_model_check). */
struct kubo_sim *kb_integrator_check(lua_State *L, int idx);


/* The module openers, called by luaopen_kubo_core; each adds its
** functions and classes to the table on top of the stack. */
void kb_open_base(lua_State *L);
void kb_open_tensor(lua_State *L);
void kb_open_log(lua_State *L);
void kb_open_tensor_math(lua_State *L);  /* called by kb_open_tensor */
void kb_open_rng(lua_State *L);
void kb_open_grid(lua_State *L);
void kb_open_models(lua_State *L);      /* after kb_open_grid */
void kb_open_integrator(lua_State *L);  /* after kb_open_models, h5 */
void kb_open_h5(lua_State *L);
void kb_open_response(lua_State *L);
void kb_open_nn(lua_State *L);
void kb_open_optim(lua_State *L);
void kb_open_score(lua_State *L);       /* after kb_open_nn, models */
void kb_open_mpi(lua_State *L);         /* last: wraps integrator,
                                        ** response and score functions */

#endif
