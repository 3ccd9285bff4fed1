/*
** history.c: the REPL history file (see history.h).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>

#include "history.h"

static char *history_file = NULL;
static int write_failed = 0;


/* Sets history_file from the environment, or leaves it NULL. */
static void choose_file(void) {
  const char *env = getenv("KUBO_HISTORY");
  const char *home = getenv("HOME");
  size_t size;
  if (env != NULL) {
    if (env[0] != '\0') history_file = strdup(env);
    return;
  }
  if (home == NULL || home[0] == '\0') return;
  size = strlen(home) + sizeof "/.kubo_history";
  history_file = malloc(size);
  if (history_file != NULL) snprintf(history_file, size, "%s/.kubo_history",
                                     home);
}


static void warn_once(const char *action, int err) {
  if (write_failed) return;
  write_failed = 1;
  fprintf(stderr, "kubo: cannot %s the history file '%s' (%s); the "
          "history of this session is not saved\n", action, history_file,
          strerror(err));
}


void history_start(void) {
  int fd;
  using_history();
  stifle_history(HISTORY_MAX_LINES);
  choose_file();
  if (history_file == NULL) return;

  /* append_history needs an existing file; create it private to the
  ** user, since the history may contain anything typed. */
  fd = open(history_file, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) {
    warn_once("open", errno);
    return;
  }
  close(fd);
  read_history(history_file);
}


void history_add(const char *line) {
  HIST_ENTRY *last;
  int err;
  if (line[strspn(line, " \t\r\n")] == '\0') return;
  last = history_get(history_base + history_length - 1);
  if (last != NULL && strcmp(last->line, line) == 0) return;
  add_history(line);
  if (history_file == NULL || write_failed) return;
  err = append_history(1, history_file);
  if (err != 0) warn_once("write to", err);
}


void history_finish(void) {
  if (history_file != NULL && !write_failed)
    history_truncate_file(history_file, HISTORY_MAX_LINES);
  free(history_file);
  history_file = NULL;
}
