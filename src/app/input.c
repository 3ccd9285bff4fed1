/*
** input.c: prompt input with readline or stdio (see input.h).
*/
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/readline.h>

#include "input.h"
#include "signals.h"

static int use_readline = 0;

/* Set by on_line, the readline callback, when a line is complete. */
static int line_done;
static char *line_read;


void input_start(void) {
  use_readline = isatty(STDIN_FILENO);
  if (use_readline) {
    /* kubo handles SIGINT itself (signals.c); readline still tracks
    ** window size changes. */
    rl_catch_signals = 0;
    rl_readline_name = "kubo";
  }
}


int input_uses_readline(void) {
  return use_readline;
}


static void on_line(char *line) {
  line_read = line;
  line_done = 1;
  /* Removing the handler here keeps readline from preparing the terminal
  ** for the next line while the code of this one runs. */
  rl_callback_handler_remove();
}


/* Abandons the line being edited after Ctrl-C and leaves readline ready
** for a new prompt. */
static void abandon_line(int *was_empty) {
  *was_empty = rl_end == 0;
  rl_echo_signal_char(SIGINT);
  rl_free_line_state();
  rl_callback_sigcleanup();
  rl_cleanup_after_signal();
  rl_callback_handler_remove();
  fputc('\n', rl_outstream ? rl_outstream : stdout);
  fflush(rl_outstream ? rl_outstream : stdout);
}


static input_status read_with_readline(const char *prompt, char **line,
                                       int *was_empty) {
  line_done = 0;
  line_read = NULL;
  rl_callback_handler_install(prompt, on_line);
  while (!line_done) {
    struct pollfd fd = {STDIN_FILENO, POLLIN, 0};
    int ready = poll(&fd, 1, -1);
    if (signals_idle_take()) {
      abandon_line(was_empty);
      return INPUT_INTERRUPT;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      rl_callback_handler_remove();
      return INPUT_EOF;
    }
    rl_callback_read_char();
  }
  if (line_read == NULL) return INPUT_EOF;
  *line = line_read;
  return INPUT_LINE;
}


static input_status read_with_stdio(const char *prompt, char **line,
                                    int *was_empty) {
  size_t size = 0;
  ssize_t len;
  *line = NULL;
  fputs(prompt, stdout);
  fflush(stdout);
  len = getline(line, &size, stdin);
  if (len < 0) {
    int interrupted = signals_idle_take();
    free(*line);
    *line = NULL;
    if (interrupted) {
      clearerr(stdin);
      *was_empty = 1;
      fputc('\n', stdout);
      return INPUT_INTERRUPT;
    }
    return INPUT_EOF;
  }
  if (len > 0 && (*line)[len - 1] == '\n') (*line)[len - 1] = '\0';
  return INPUT_LINE;
}


input_status input_read(const char *prompt, char **line, int *was_empty) {
  *line = NULL;
  *was_empty = 1;
  signals_idle_begin();
  if (use_readline) return read_with_readline(prompt, line, was_empty);
  return read_with_stdio(prompt, line, was_empty);
}


void input_finish(void) {
  if (use_readline) rl_callback_handler_remove();
}
