/*
** signals.c: the SIGINT handlers of the kubo program (see signals.h).
*/
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "kubo/error.h"
#include "signals.h"

static lua_State *running_state = NULL;
static volatile sig_atomic_t run_presses = 0;
static volatile sig_atomic_t idle_pressed = 0;
static struct sigaction saved_action;


/* Raises "interrupted" in the running Lua code; set by the handler.
** An engine loop may already have stopped for this Ctrl-C and raised its
** "interrupted (...)" error. Then the hook only consumes the request,
** because a second error would hit the code that handles the first (a
** pcall that saves a checkpoint, say). */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (strstr(kubo_error_message(), "interrupted (") != NULL) {
    kubo_error_clear();
    kubo_interrupt_clear();
    return;
  }
  /* The Lua error delivers this Ctrl-C, so engine calls made after a
  ** pcall that catches it must not see the request again. */
  kubo_interrupt_clear();
  luaL_error(L, "interrupted");
}


static void on_sigint_running(int sig) {
  static const char hint[] =
    "\nkubo: stopping at the next safe point; press Ctrl-C again to "
    "quit\n";
  int mask = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  (void)sig;
  run_presses++;
  kubo_interrupt_request();
  /* lua_sethook may be called from a signal handler (it only stores the
  ** hook and its mask in the state). NOTE: hooks are per Lua thread, so
  ** a pure Lua loop inside a coroutine does not see this one. Such a
  ** loop stops only at an engine safe point or on the third Ctrl-C. */
  lua_sethook(running_state, stop_hook, mask, 1);
  if (run_presses == 2) {
    ssize_t written = write(STDERR_FILENO, hint, sizeof hint - 1);
    (void)written;
  } else if (run_presses >= 3) {
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
  }
}


static void on_sigint_idle(int sig) {
  (void)sig;
  idle_pressed = 1;
}


static void install(void (*handler)(int), struct sigaction *old) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, old);
}


void signals_run_begin(lua_State *L) {
  running_state = L;
  run_presses = 0;
  kubo_error_clear();
  install(on_sigint_running, &saved_action);
}


void signals_run_end(lua_State *L) {
  sigaction(SIGINT, &saved_action, NULL);
  if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);
}


int signals_run_interrupted(void) {
  return run_presses > 0;
}


void signals_idle_begin(void) {
  idle_pressed = 0;
  install(on_sigint_idle, NULL);
}


int signals_idle_take(void) {
  int pressed = idle_pressed != 0;
  idle_pressed = 0;
  return pressed;
}
