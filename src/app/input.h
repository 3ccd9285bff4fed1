/*
** input.h: reading lines at the REPL prompt, with readline when stdin
** is a terminal and with plain stdio otherwise.
**
** readline runs through its callback interface in a poll loop, so that
** Ctrl-C at the prompt (noticed through signals_idle_take) can abandon
** the line without leaving readline in a half-done state.
*/
#ifndef KUBO_APP_INPUT_H
#define KUBO_APP_INPUT_H

typedef enum input_status {
  INPUT_LINE,       /* *line is a new malloc'd line, without its newline */
  INPUT_EOF,        /* end of input (Ctrl-D) */
  INPUT_INTERRUPT   /* Ctrl-C; *line is NULL */
} input_status;

/* Chooses readline (if stdin is a terminal) or stdio. */
void input_start(void);

/* Returns 1 if input_start chose readline. */
int input_uses_readline(void);

/* Shows prompt and reads one line. On INPUT_INTERRUPT, *was_empty is 1
** if the abandoned line was empty (always, without readline). */
input_status input_read(const char *prompt, char **line, int *was_empty);

/* Restores the terminal. */
void input_finish(void);

#endif
