/*
** mpi.c: the kubo.mpi module (rank, size, barrier, allreduce, bcast,
** share) and MPI's start and end in the kubo program.
**
** MPI starts when kubo.core is opened in a process that an MPI launcher
** started (kubo_mpi_init), and ends when the process exits. A
** successful exit calls MPI_Finalize. An exit with a failure status calls
** MPI_Abort, which ends every rank, so a rank that raised an error never
** leaves the others waiting in a collective. With
** more than one rank, mpi_split.c makes ensembles, perturbation runs
** and score training split their work across the ranks.
*/
#define _DEFAULT_SOURCE     /* on_exit */
#include <stdlib.h>
#include <string.h>

#include "kubo/mpi.h"
#include "mpi_lua.h"


void kb_mpi_check(lua_State *L, kubo_status status) {
  if (status != KUBO_OK) kb_raise(L);
}


void kb_mpi_call(lua_State *L, int nargs, int nresults) {
  kubo_status st = KUBO_OK;
  if (lua_pcall(L, nargs, nresults, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    st = kubo_error_set(KUBO_EINVAL, "%s", msg != NULL ? msg
                        : "(error object is not a string)");
    lua_pop(L, 1);
  }
  if (kubo_mpi_agree(st) != KUBO_OK) kb_raise(L);
}


/* ---------------------------------------------------------------------
** End of the process
** ------------------------------------------------------------------- */

/* Runs at exit(): a failure on one rank ends them all, so that no rank
** waits forever for it in a collective. */
static void end_mpi(int status, void *unused) {
  (void)unused;
  if (status != 0 && kubo_mpi_size() > 1)
    kubo_mpi_abort(status);
  else
    kubo_mpi_finalize();
}


/* ---------------------------------------------------------------------
** Ranks
** ------------------------------------------------------------------- */

static int l_rank(lua_State *L) {
  lua_pushinteger(L, kubo_mpi_rank());
  return 1;
}


static int l_size(lua_State *L) {
  lua_pushinteger(L, kubo_mpi_size());
  return 1;
}


static int l_barrier(lua_State *L) {
  kb_mpi_check(L, kubo_mpi_barrier());
  return 0;
}


static int l_share(lua_State *L) {
  int64_t n = kb_check_int(L, 1, "n");
  int64_t first, count;
  if (n < 0) return luaL_argerror(L, 1, "n must be >= 0");
  kubo_mpi_share(n, kubo_mpi_rank(), kubo_mpi_size(), &first, &count);
  lua_pushinteger(L, (lua_Integer)first + 1);
  lua_pushinteger(L, (lua_Integer)count);
  return 2;
}


/* ---------------------------------------------------------------------
** allreduce
** ------------------------------------------------------------------- */

/* What a rank passes to a collective: kind (-1: unusable, 0: integer,
** 1: float, 2: tensor), then dtype, ndim and the shape of a tensor. */
enum { SIG_LEN = 3 + KUBO_MAX_DIM };


/* Fills sig for the value at idx. */
static void signature(lua_State *L, int idx, int64_t *sig) {
  memset(sig, 0, SIG_LEN * sizeof *sig);
  kubo_tensor *t = kb_tensor_test(L, idx);
  if (t != NULL && !kubo_tensor_is_empty(t)) {
    sig[0] = 2;
    sig[1] = t->dtype;
    sig[2] = t->ndim;
    for (int d = 0; d < t->ndim; d++) sig[3 + d] = t->shape[d];
  } else if (lua_isinteger(L, idx)) {
    sig[0] = 0;
  } else if (lua_type(L, idx) == LUA_TNUMBER) {
    sig[0] = 1;
  } else {
    sig[0] = -1;
  }
}


/* Compares sig across ranks: returns 1 if every rank has the same
** signature, and sets *all_integers if every rank passed an integer. */
static int signatures_agree(lua_State *L, const int64_t *sig,
                            int *all_integers) {
  int64_t both[2 * SIG_LEN];
  for (int i = 0; i < SIG_LEN; i++) {
    both[i] = sig[i];
    both[SIG_LEN + i] = -sig[i];
  }
  kb_mpi_check(L, kubo_mpi_allreduce_i64(both, 2 * SIG_LEN, KUBO_MPI_MAX));
  /* max of -x is -(min of x) */
  int same = 1;
  for (int i = 1; i < SIG_LEN; i++)
    if (both[i] != -both[SIG_LEN + i]) same = 0;
  int any_unusable = -both[SIG_LEN] < 0;
  int kinds_numbers = both[0] <= 1 && -both[SIG_LEN] >= 0;
  *all_integers = both[0] == 0 && -both[SIG_LEN] == 0;
  if (any_unusable) return 0;
  if (kinds_numbers) return same;
  return same && both[0] == -both[SIG_LEN];
}


/* Reads the operation: nil (sum), a name, or a table {op = name}. */
static kubo_mpi_op check_op(lua_State *L, int idx) {
  const char *name = "sum";
  if (lua_istable(L, idx)) {
    lua_getfield(L, idx, "op");
    if (!lua_isnil(L, -1)) name = luaL_checkstring(L, -1);
    lua_pop(L, 1);
  } else if (!lua_isnoneornil(L, idx)) {
    name = luaL_checkstring(L, idx);
  }
  int op = kubo_mpi_op_parse(name);
  if (op < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "op must be \"sum\", "
                  "\"prod\", \"max\" or \"min\" (got \"%s\")", name));
  return (kubo_mpi_op)op;
}


static int l_allreduce(lua_State *L) {
  kubo_mpi_op op = check_op(L, 2);
  int64_t sig[SIG_LEN];
  int all_integers = 0;
  luaL_checkany(L, 1);
  signature(L, 1, sig);
  if (!signatures_agree(L, sig, &all_integers)) {
    if (sig[0] < 0)
      return luaL_argerror(L, 1, lua_pushfstring(L, "number or "
                           "kubo.Tensor expected, got %s",
                           luaL_typename(L, 1)));
    return luaL_error(L, "mpi.allreduce: the ranks passed values of "
                      "different kinds, dtypes or shapes; pass the same "
                      "on every rank");
  }

  if (sig[0] == 2) {
    kubo_tensor out = {0};
    KB_TRY(L, kubo_tensor_clone(&out, kb_tensor_check(L, 1), -1));
    kubo_tensor *t = kb_tensor_push(L, &out);
    int64_t n = kubo_tensor_numel(t);
    if (t->dtype == KUBO_FLOAT64)
      kb_mpi_check(L, kubo_mpi_allreduce_f64(t->data, n, op));
    else
      kb_mpi_check(L, kubo_mpi_allreduce_f32(t->data, n, op));
    return 1;
  }
  if (all_integers) {
    int64_t v = (int64_t)lua_tointeger(L, 1);
    kb_mpi_check(L, kubo_mpi_allreduce_i64(&v, 1, op));
    lua_pushinteger(L, (lua_Integer)v);
    return 1;
  }
  double v = lua_tonumber(L, 1);
  kb_mpi_check(L, kubo_mpi_allreduce_f64(&v, 1, op));
  lua_pushnumber(L, v);
  return 1;
}


/* ---------------------------------------------------------------------
** bcast: values are sent as bytes
**
** Format: 'n' nil, 'f' false, 't' true, 'i' int64, 'd' double, 's'
** int64 length and bytes, 'T' tensor (dtype byte, ndim byte, int64 shape,
** values), '{' a table's pairs (key, value) up to '}'.
** ------------------------------------------------------------------- */

enum { MAX_DEPTH = 64 };

typedef struct bytes {
  char *data;
  size_t len, cap;
  const char *error;     /* why the value cannot be sent */
} bytes;


static void put(bytes *b, const void *p, size_t n) {
  if (b->error != NULL) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL) {
      b->error = "out of memory";
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}


static void put_tag(bytes *b, char tag) { put(b, &tag, 1); }


/* Appends the value at idx; sets b->error instead of raising, so that
** every rank learns of the failure. */
static void encode(lua_State *L, int idx, bytes *b, int depth) {
  idx = lua_absindex(L, idx);
  kubo_tensor *t;
  switch (lua_type(L, idx)) {
  case LUA_TNIL: put_tag(b, 'n'); return;
  case LUA_TBOOLEAN: put_tag(b, lua_toboolean(L, idx) ? 't' : 'f'); return;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      int64_t i = (int64_t)lua_tointeger(L, idx);
      put_tag(b, 'i');
      put(b, &i, sizeof i);
    } else {
      double d = lua_tonumber(L, idx);
      put_tag(b, 'd');
      put(b, &d, sizeof d);
    }
    return;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    int64_t len = (int64_t)n;
    put_tag(b, 's');
    put(b, &len, sizeof len);
    put(b, s, n);
    return;
  }
  case LUA_TTABLE:
    if (depth >= MAX_DEPTH || !lua_checkstack(L, 4)) {
      b->error = "tables nested too deeply (does a table contain itself?)";
      return;
    }
    put_tag(b, '{');
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      encode(L, -2, b, depth + 1);
      encode(L, -1, b, depth + 1);
      lua_pop(L, 1);
      if (b->error != NULL) {
        lua_pop(L, 1);
        break;
      }
    }
    put_tag(b, '}');
    return;
  default:
    t = kb_tensor_test(L, idx);
    if (t != NULL && !kubo_tensor_is_empty(t)) {
      kubo_tensor c = {0};
      char dtype = (char)t->dtype, ndim = (char)t->ndim;
      if (kubo_tensor_clone(&c, t, -1) != KUBO_OK) {
        b->error = "out of memory";
        return;
      }
      put_tag(b, 'T');
      put(b, &dtype, 1);
      put(b, &ndim, 1);
      put(b, c.shape, (size_t)c.ndim * sizeof c.shape[0]);
      put(b, c.data, (size_t)kubo_tensor_numel(&c) *
                       kubo_dtype_size(c.dtype));
      kubo_tensor_release(&c);
      return;
    }
    b->error = "only nil, booleans, numbers, strings, tensors and tables "
               "of these can be sent";
  }
}


typedef struct reader {
  const char *p, *end;
} reader;


static int take(reader *r, void *out, size_t n) {
  if ((size_t)(r->end - r->p) < n) return 0;
  memcpy(out, r->p, n);
  r->p += n;
  return 1;
}


/* Pushes the value encoded at r; raises on malformed bytes, which only a
** bug can produce. */
static void decode(lua_State *L, reader *r) {
  char tag = 0;
  luaL_checkstack(L, 4, "mpi.bcast: value nested too deeply");
  if (!take(r, &tag, 1)) luaL_error(L, "mpi.bcast: truncated value");
  switch (tag) {
  case 'n': lua_pushnil(L); return;
  case 't': lua_pushboolean(L, 1); return;
  case 'f': lua_pushboolean(L, 0); return;
  case 'i': {
    int64_t i;
    if (!take(r, &i, sizeof i)) break;
    lua_pushinteger(L, (lua_Integer)i);
    return;
  }
  case 'd': {
    double d;
    if (!take(r, &d, sizeof d)) break;
    lua_pushnumber(L, d);
    return;
  }
  case 's': {
    int64_t n;
    if (!take(r, &n, sizeof n) || n < 0 || n > r->end - r->p) break;
    lua_pushlstring(L, r->p, (size_t)n);
    r->p += n;
    return;
  }
  case '{':
    lua_newtable(L);
    while (r->p < r->end && *r->p != '}') {
      decode(L, r);
      decode(L, r);
      lua_rawset(L, -3);
    }
    if (r->p < r->end) {
      r->p++;
      return;
    }
    break;
  case 'T': {
    char dtype, ndim;
    int64_t shape[KUBO_MAX_DIM];
    kubo_tensor t = {0};
    if (!take(r, &dtype, 1) || !take(r, &ndim, 1) || ndim < 0 ||
        ndim > KUBO_MAX_DIM ||
        !take(r, shape, (size_t)ndim * sizeof shape[0]))
      break;
    kb_mpi_check(L, kubo_tensor_init(&t, (kubo_dtype)dtype, ndim,
                                     shape));
    kubo_tensor *pushed = kb_tensor_push(L, &t);
    if (!take(r, pushed->data, (size_t)kubo_tensor_numel(pushed) *
                                 kubo_dtype_size(pushed->dtype)))
      break;
    return;
  }
  default:
    break;
  }
  luaL_error(L, "mpi.bcast: malformed value (tag '%c')", tag);
}


/* Frees a bytes buffer when the userdata holding it is collected. */
static int bytes_gc(lua_State *L) {
  bytes *b = lua_touserdata(L, 1);
  free(b->data);
  b->data = NULL;
  return 0;
}


static bytes *push_bytes(lua_State *L) {
  bytes *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  if (luaL_newmetatable(L, "kubo.mpi.bytes")) {
    lua_pushcfunction(L, bytes_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}


static int l_bcast(lua_State *L) {
  int64_t root = luaL_opt(L, lua_tointeger, 2, 0);
  int size = kubo_mpi_size(), rank = kubo_mpi_rank();
  int64_t roots[2] = {root, -root};
  lua_settop(L, 2);
  if (!lua_isnoneornil(L, 2) && !lua_isinteger(L, 2)) roots[0] = -1;
  kb_mpi_check(L, kubo_mpi_allreduce_i64(roots, 2, KUBO_MPI_MAX));
  if (roots[0] != -roots[1] || root < 0 || root >= size)
    return luaL_error(L, "mpi.bcast: root must be the same rank from 0 to "
                      "%d on every rank (got %s here)", size - 1,
                      luaL_tolstring(L, 2, NULL));

  bytes *b = push_bytes(L);
  /* header: length of the value, or of the reason it cannot be sent */
  int64_t header[2] = {0, 0};
  if (rank == root) {
    encode(L, 1, b, 0);
    if (b->error != NULL) {
      header[1] = 1;
      header[0] = (int64_t)strlen(b->error);
    } else {
      header[0] = (int64_t)b->len;
    }
  }
  kb_mpi_check(L, kubo_mpi_bcast(header, sizeof header, (int)root));
  if (header[1]) {
    char reason[256];
    if (rank == root) snprintf(reason, sizeof reason, "%s", b->error);
    kb_mpi_check(L, kubo_mpi_bcast(reason, sizeof reason, (int)root));
    reason[sizeof reason - 1] = '\0';
    return luaL_error(L, "mpi.bcast: cannot send the value of rank %d: %s",
                      (int)root, reason);
  }
  if (rank != root) {
    b->data = malloc(header[0] > 0 ? (size_t)header[0] : 1);
    if (b->data == NULL) kubo_error_set(KUBO_ENOMEM, "mpi.bcast: out of "
                                        "memory");
    kb_mpi_check(L, kubo_mpi_agree(b->data == NULL ? KUBO_ENOMEM
                                                   : KUBO_OK));
  } else {
    kb_mpi_check(L, kubo_mpi_agree(KUBO_OK));
  }
  kb_mpi_check(L, kubo_mpi_bcast(b->data, header[0], (int)root));
  if (rank == root) {
    lua_pushvalue(L, 1);
    return 1;
  }
  reader r = {b->data, b->data + header[0]};
  decode(L, &r);
  return 1;
}


/* ---------------------------------------------------------------------
** Registration
** ------------------------------------------------------------------- */

static const kb_reg mpi_functions[] = {
  {"rank", l_rank, "kubo.mpi.rank() -> the rank of this process, from 0 "
                   "(0 without MPI)"},
  {"size", l_size, "kubo.mpi.size() -> the number of ranks (1 without "
                   "MPI)"},
  {"barrier", l_barrier, "kubo.mpi.barrier() waits until every rank has "
                         "called it"},
  {"allreduce", l_allreduce,
   "kubo.mpi.allreduce(x, [op]) -> the sum (or op: \"sum\", \"prod\", "
   "\"max\", \"min\", also as {op = ...}) over the ranks of x, a number or "
   "a tensor of the same shape and dtype on every rank, returned on every "
   "rank; a tensor result is a new tensor. Values are combined in rank "
   "order, so the result is the same on every rank and in every run. "
   "Integers on every rank give an integer. Every rank must call it."},
  {"bcast", l_bcast,
   "kubo.mpi.bcast(x, [root = 0]) -> root's x on every rank: nil, a "
   "boolean, number, string, tensor (copied) or a table of these. The "
   "other ranks' x is ignored. Every rank must call it."},
  {"share", l_share,
   "kubo.mpi.share(n) -> first, count: the contiguous share of n items "
   "that this rank takes (first counts from 1), as ensembles split their "
   "members; shares differ by at most one item"},
  {NULL, NULL, NULL}
};


void kb_open_mpi(lua_State *L) {
  static int exit_handler_set = 0;
  int core = lua_gettop(L);
  kb_mpi_check(L, kubo_mpi_init());
  if (kubo_mpi_active() && !exit_handler_set) {
    on_exit(end_mpi, NULL);
    exit_handler_set = 1;
  }

  lua_newtable(L);
  kb_setfuncs(L, -1, mpi_functions);
  lua_pushboolean(L, kubo_mpi_built());
  lua_setfield(L, -2, "built");
  kb_setdoc(L, -1, "kubo.mpi: the ranks of an MPI job (mpirun -np P kubo "
            "script.lua). Functions: rank, size, barrier, allreduce, "
            "bcast, share; built is true when kubo was built with MPI. "
            "With more than one rank, kubo.integrator splits its members "
            "across the ranks (each takes a contiguous share, with the "
            "noise of a one-rank run), and results are the same bits as "
            "on one rank: sim:state() and in-memory sim:run gather every "
            "member, sim:run{file = \"run.h5\"} writes one file per rank "
            "(run.rank0.h5, ...) joined by an HDF5 virtual dataset in "
            "run.h5, "
            "response.perturbation adds members in one fixed order, and "
            "score.train splits each batch and adds the gradients over "
            "the ranks. Only rank 0 prints progress. Without MPI: rank 0 "
            "of 1.");
  lua_setfield(L, core, "mpi");

  if (kubo_mpi_size() > 1) kb_mpi_install_split(L, core);
}
