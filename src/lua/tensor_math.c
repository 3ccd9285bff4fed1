/*
** tensor_math.c: arithmetic, reductions and linear algebra on kubo.Tensor
** (operators, methods and kubo.matmul/dot/solve/inv).
**
** Operators and methods without a trailing underscore return a new
** tensor; those with one (x:add_(y)) change x and return it. Tensor
** operands must share a dtype. Tensors compare equal only to themselves:
** no __eq is defined, and x:equal(y) compares values.
*/
#include "kb.h"
#include "kubo/linalg.h"
#include "kubo/tensor_ops.h"


/* ---------------------------------------------------------------------
** Arithmetic
** ------------------------------------------------------------------- */

/* Raises a type error for an operand that is neither number nor tensor. */
static int bad_operand(lua_State *L, int idx, const char *op) {
  return luaL_error(L, "%s: operand %d is a %s, expected a number or a "
                    "kubo.Tensor", op, idx, luaL_typename(L, idx));
}


/* a op b where either side may be a number: the result is new, or a
** itself when in_place. */
static int arith(lua_State *L, kubo_binary_op op, bool in_place) {
  const char *name = kubo_binary_op_name(op);
  kubo_tensor *a = kb_tensor_test(L, 1), *b = kb_tensor_test(L, 2);
  kubo_tensor fresh = {0}, *out = &fresh;
  kubo_status st;

  if (a == NULL && lua_type(L, 1) != LUA_TNUMBER) return bad_operand(L, 1,
                                                                     name);
  if (b == NULL && lua_type(L, 2) != LUA_TNUMBER) return bad_operand(L, 2,
                                                                     name);
  if (a != NULL) a = kb_tensor_check(L, 1);
  if (b != NULL) b = kb_tensor_check(L, 2);
  if (in_place) out = a;

  if (a != NULL && b != NULL)
    st = kubo_tensor_binary(out, a, op, b);
  else if (a != NULL)
    st = kubo_tensor_binary_scalar(out, a, op, lua_tonumber(L, 2));
  else
    st = kubo_tensor_scalar_binary(out, lua_tonumber(L, 1), op, b);
  if (st != KUBO_OK) return kb_raise(L);
  if (in_place) {
    lua_settop(L, 1);
    return 1;
  }
  kb_tensor_push(L, &fresh);
  return 1;
}


static int m_add(lua_State *L) { return arith(L, KUBO_OP_ADD, false); }
static int m_sub(lua_State *L) { return arith(L, KUBO_OP_SUB, false); }
static int m_mul(lua_State *L) { return arith(L, KUBO_OP_MUL, false); }
static int m_div(lua_State *L) { return arith(L, KUBO_OP_DIV, false); }
static int m_pow(lua_State *L) { return arith(L, KUBO_OP_POW, false); }


/* In-place methods: self must be a tensor, the operand either. */
static int arith_(lua_State *L, kubo_binary_op op) {
  kb_tensor_check(L, 1);
  luaL_checkany(L, 2);
  return arith(L, op, true);
}


static int t_add_(lua_State *L) { return arith_(L, KUBO_OP_ADD); }
static int t_sub_(lua_State *L) { return arith_(L, KUBO_OP_SUB); }
static int t_mul_(lua_State *L) { return arith_(L, KUBO_OP_MUL); }
static int t_div_(lua_State *L) { return arith_(L, KUBO_OP_DIV); }
static int t_pow_(lua_State *L) { return arith_(L, KUBO_OP_POW); }


static int t_pow(lua_State *L) {
  kb_tensor_check(L, 1);
  luaL_checkany(L, 2);
  return arith(L, KUBO_OP_POW, false);
}


static int t_axpy_(lua_State *L) {
  kubo_tensor *y = kb_tensor_check(L, 1);
  double alpha = luaL_checknumber(L, 2);
  kubo_tensor *x = kb_tensor_check(L, 3);
  KB_TRY(L, kubo_tensor_axpy(y, alpha, x));
  lua_settop(L, 1);
  return 1;
}


static int unary(lua_State *L, kubo_unary_op op) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  kubo_tensor out = {0};
  KB_TRY(L, kubo_tensor_unary(&out, t, op));
  kb_tensor_push(L, &out);
  return 1;
}


/* __unm receives the operand twice; only the first matters. */
static int m_unm(lua_State *L) { return unary(L, KUBO_OP_NEG); }
static int t_abs(lua_State *L) { return unary(L, KUBO_OP_ABS); }
static int t_exp(lua_State *L) { return unary(L, KUBO_OP_EXP); }
static int t_log(lua_State *L) { return unary(L, KUBO_OP_LOG); }
static int t_sqrt(lua_State *L) { return unary(L, KUBO_OP_SQRT); }
static int t_sin(lua_State *L) { return unary(L, KUBO_OP_SIN); }
static int t_cos(lua_State *L) { return unary(L, KUBO_OP_COS); }
static int t_tanh(lua_State *L) { return unary(L, KUBO_OP_TANH); }
static int t_square(lua_State *L) { return unary(L, KUBO_OP_SQUARE); }


static int clamp(lua_State *L, bool in_place) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  double lo = luaL_checknumber(L, 2), hi = luaL_checknumber(L, 3);
  kubo_tensor fresh = {0};
  KB_TRY(L, kubo_tensor_clamp(in_place ? t : &fresh, t, lo, hi));
  if (in_place) {
    lua_settop(L, 1);
    return 1;
  }
  kb_tensor_push(L, &fresh);
  return 1;
}


static int t_clamp(lua_State *L) { return clamp(L, false); }
static int t_clamp_(lua_State *L) { return clamp(L, true); }


/* ---------------------------------------------------------------------
** Reductions
** ------------------------------------------------------------------- */

/* x:op() -> number, or x:op(dim) -> tensor over the other dimensions (a
** number when x is 1-D). Argmin and argmax give 1-based indices. */
static int reduce(lua_State *L, kubo_reduce_op op) {
  kubo_tensor *t = kb_tensor_check(L, 1);
  bool is_arg = op == KUBO_REDUCE_ARGMIN || op == KUBO_REDUCE_ARGMAX;
  kubo_tensor out = {0};
  int64_t d;
  double v;
  if (lua_isnoneornil(L, 2)) {
    KB_TRY(L, kubo_tensor_reduce(t, op, &v));
    if (is_arg)
      lua_pushinteger(L, (lua_Integer)v + 1);
    else
      lua_pushnumber(L, v);
    return 1;
  }
  d = kb_check_int(L, 2, "dimension");
  if (d < 1 || d > t->ndim)
    return luaL_argerror(L, 2, lua_pushfstring(L, "dimension %I out of "
                         "range 1..%d", (lua_Integer)d, t->ndim));
  KB_TRY(L, kubo_tensor_reduce_dim(&out, t, op, (int)d - 1));
  if (is_arg) {
    kubo_status st = kubo_tensor_binary_scalar(&out, &out, KUBO_OP_ADD, 1);
    if (st != KUBO_OK) {
      kubo_tensor_release(&out);
      return kb_raise(L);
    }
  }
  if (out.ndim == 0) {
    v = kubo_tensor_at(&out, 0);
    kubo_tensor_release(&out);
    if (is_arg)
      lua_pushinteger(L, (lua_Integer)v);
    else
      lua_pushnumber(L, v);
    return 1;
  }
  kb_tensor_push(L, &out);
  return 1;
}


static int t_sum(lua_State *L) { return reduce(L, KUBO_REDUCE_SUM); }
static int t_mean(lua_State *L) { return reduce(L, KUBO_REDUCE_MEAN); }
static int t_var(lua_State *L) { return reduce(L, KUBO_REDUCE_VAR); }
static int t_std(lua_State *L) { return reduce(L, KUBO_REDUCE_STD); }
static int t_min(lua_State *L) { return reduce(L, KUBO_REDUCE_MIN); }
static int t_max(lua_State *L) { return reduce(L, KUBO_REDUCE_MAX); }
static int t_norm(lua_State *L) { return reduce(L, KUBO_REDUCE_NORM); }
static int t_argmin(lua_State *L) { return reduce(L, KUBO_REDUCE_ARGMIN); }
static int t_argmax(lua_State *L) { return reduce(L, KUBO_REDUCE_ARGMAX); }


/* ---------------------------------------------------------------------
** Linear algebra
** ------------------------------------------------------------------- */

static int l_matmul(lua_State *L) {
  kubo_tensor *a = kb_tensor_check(L, 1), *b = kb_tensor_check(L, 2);
  kubo_tensor out = {0};
  KB_TRY(L, kubo_linalg_matmul(&out, a, b));
  kb_tensor_push(L, &out);
  return 1;
}


static int l_dot(lua_State *L) {
  kubo_tensor *a = kb_tensor_check(L, 1), *b = kb_tensor_check(L, 2);
  double v;
  KB_TRY(L, kubo_linalg_dot(a, b, &v));
  lua_pushnumber(L, v);
  return 1;
}


static int l_solve(lua_State *L) {
  kubo_tensor *a = kb_tensor_check(L, 1), *b = kb_tensor_check(L, 2);
  kubo_tensor x = {0};
  KB_TRY(L, kubo_linalg_solve(&x, a, b));
  kb_tensor_push(L, &x);
  return 1;
}


static int l_inv(lua_State *L) {
  kubo_tensor *a = kb_tensor_check(L, 1);
  kubo_tensor out = {0};
  KB_TRY(L, kubo_linalg_inv(&out, a));
  kb_tensor_push(L, &out);
  return 1;
}


/* ---------------------------------------------------------------------
** Registration
** ------------------------------------------------------------------- */

static const kb_reg math_methods[] = {
  {"__add", m_add, NULL},
  {"__sub", m_sub, NULL},
  {"__mul", m_mul, NULL},
  {"__div", m_div, NULL},
  {"__pow", m_pow, NULL},
  {"__unm", m_unm, NULL},
  {"add_", t_add_, "x:add_(y) adds y (a number, or a tensor of x's shape "
                   "or a trailing part of it) to x in place; returns x"},
  {"sub_", t_sub_, "x:sub_(y) subtracts y from x in place; returns x"},
  {"mul_", t_mul_, "x:mul_(y) multiplies x by y in place; returns x"},
  {"div_", t_div_, "x:div_(y) divides x by y in place; returns x"},
  {"pow_", t_pow_, "x:pow_(p) raises x to the power p in place; returns x"},
  {"axpy_", t_axpy_, "x:axpy_(a, y) adds a * y to x in place (y of x's "
                     "shape or a trailing part of it); returns x"},
  {"pow", t_pow, "x:pow(p) -> x ^ p elementwise (p a number or tensor)"},
  {"neg", m_unm, "x:neg() -> -x"},
  {"abs", t_abs, "x:abs() -> |x| elementwise"},
  {"exp", t_exp, "x:exp() -> exp(x) elementwise"},
  {"log", t_log, "x:log() -> natural logarithm elementwise"},
  {"sqrt", t_sqrt, "x:sqrt() -> square root elementwise"},
  {"sin", t_sin, "x:sin() -> sin(x) elementwise"},
  {"cos", t_cos, "x:cos() -> cos(x) elementwise"},
  {"tanh", t_tanh, "x:tanh() -> tanh(x) elementwise"},
  {"square", t_square, "x:square() -> x * x elementwise"},
  {"clamp", t_clamp, "x:clamp(lo, hi) -> x limited to [lo, hi] "
                     "elementwise"},
  {"clamp_", t_clamp_, "x:clamp_(lo, hi) limits x to [lo, hi] in place; "
                       "returns x"},
  {"sum", t_sum, "x:sum() -> sum of all elements; x:sum(dim) -> tensor of "
                 "sums along dimension dim (a number for 1-D x)"},
  {"mean", t_mean, "x:mean() -> mean of all elements; x:mean(dim) along "
                   "dimension dim"},
  {"var", t_var, "x:var() -> sample variance (divisor n - 1) of all "
                 "elements; x:var(dim) along dimension dim"},
  {"std", t_std, "x:std() -> sample standard deviation (divisor n - 1); "
                 "x:std(dim) along dimension dim"},
  {"min", t_min, "x:min() -> smallest element (NaN if any is NaN); "
                 "x:min(dim) along dimension dim"},
  {"max", t_max, "x:max() -> largest element (NaN if any is NaN); "
                 "x:max(dim) along dimension dim"},
  {"norm", t_norm, "x:norm() -> Euclidean norm of all elements; "
                   "x:norm(dim) along dimension dim"},
  {"argmin", t_argmin, "x:argmin() -> 1-based row-major position of the "
                       "first smallest element; x:argmin(dim) -> tensor of "
                       "1-based indices along dimension dim"},
  {"argmax", t_argmax, "x:argmax() -> 1-based row-major position of the "
                       "first largest element; x:argmax(dim) -> tensor of "
                       "1-based indices along dimension dim"},
  {NULL, NULL, NULL}
};


static const kb_reg math_functions[] = {
  {"matmul", l_matmul, "kubo.matmul(a, b) -> matrix product: (m, k) x "
                       "(k, n), (m, k) x (k), (k) x (k, n), and batches "
                       "(b, m, k) x (b, k, n) or x (k, n)"},
  {"dot", l_dot, "kubo.dot(x, y) -> sum of x[i] * y[i] over two tensors "
                 "of the same shape"},
  {"solve", l_solve, "kubo.solve(a, b) -> x with a x = b, for a square "
                     "matrix a and b of shape (n) or (n, nrhs); raises an "
                     "error if a is singular"},
  {"inv", l_inv, "kubo.inv(a) -> inverse of the square matrix a; raises "
                 "an error if a is singular"},
  {NULL, NULL, NULL}
};


void kb_open_tensor_math(lua_State *L) {
  luaL_getmetatable(L, KB_TENSOR);
  kb_setfuncs(L, -1, math_methods);
  lua_pop(L, 1);
  kb_setfuncs(L, -1, math_functions);
}
