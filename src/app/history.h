/*
** history.h: the REPL's readline history, kept in a file between
** sessions: $KUBO_HISTORY if set (an empty value keeps no file), else
** ~/.kubo_history. Each entered line is appended to the file at once, so
** a session that ends abruptly loses nothing. When the REPL ends, the
** file is cut to its last HISTORY_MAX_LINES lines.
*/
#ifndef KUBO_APP_HISTORY_H
#define KUBO_APP_HISTORY_H

enum { HISTORY_MAX_LINES = 2000 };

/* Loads the history file into readline's history (if there is one). */
void history_start(void);

/* Adds a line read at the prompt, skipping blank lines and repeats of
** the previous line. */
void history_add(const char *line);

/* Trims the history file. */
void history_finish(void);

#endif
