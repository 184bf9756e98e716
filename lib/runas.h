/*
 * runas.h - a program run from a shell as root works as the owner of the
 * state directory, as runuser(1) would make it: every file it creates
 * there then belongs to the web server's user, never to root (a root-owned
 * state.db-wal or lock stops the web server's next run).
 */
#ifndef KC_RUNAS_H
#define KC_RUNAS_H

#include <stdio.h>

#include "util.h"

/*
 * Not root: does nothing and returns 0.  Root: switches to the owner of
 * state_dir (supplementary groups, group, then user) and says so on note;
 * returns -1 without switching when that is not possible or not safe
 * (err says why and which command to use instead).
 */
int kc_runas_state_owner(const char *state_dir, const char *command,
    FILE *note, struct kc_error *err);

#endif
