/*
 * lock.h - named locks in state_dir (flock), so that only one applier or
 * one sync run works at a time across all processes of all servers.  The
 * kernel drops a lock when its holder dies, so a crash never leaves one
 * behind.
 */
#ifndef KC_LOCK_H
#define KC_LOCK_H

#include "util.h"

/*
 * Takes state_dir/name.  wait_ms 0: try once.  Returns 0 with *fd set,
 * 1 when another process holds it, -1 on error.
 */
int kc_lock_take(const char *state_dir, const char *name, long wait_ms,
    int *fd, struct kc_error *err);
void kc_lock_release(int fd);

#endif
