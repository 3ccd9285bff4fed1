/*
** mpi_lua.h: helpers shared by the files of the kubo.mpi binding: mpi.c
** (the kubo.mpi module and MPI's start and end) and mpi_split.c (the
** ensembles, perturbation runs and training that split across ranks).
*/
#ifndef KUBO_MPI_LUA_H
#define KUBO_MPI_LUA_H

#include "kb.h"
#include "kubo/error.h"

/* Calls the function below the nargs arguments on top of the stack in
** protected mode, on every rank, and makes every rank raise the same
** error (kubo_mpi_agree) if it failed on any. Leaves nresults results
** on success. */
void kb_mpi_call(lua_State *L, int nargs, int nresults);

/* Raises kubo_error_message() unless status is KUBO_OK. */
void kb_mpi_check(lua_State *L, kubo_status status);

/* Replaces kubo.integrator, the methods of kubo.Integrator,
** kubo.response.perturbation and kubo._score.train in the kubo.core
** table at core by versions that split their work across the ranks.
** Called once, and only when there is more than one rank. */
void kb_mpi_install_split(lua_State *L, int core);

#endif
