/*
 * runlock.h - "one at a time" for the applier, a sync run, the pusher and
 * compare, across every process of every web server that shares a state.
 *
 * With the state in SQLite it is a file lock in state_dir (lock.h): the
 * kernel drops it when its holder dies.  With the state in MariaDB the
 * servers share no disk, so it is a lease in the database (store_lease.h),
 * held by its own connection and renewed by a thread every few seconds
 * while the holder works; a holder that dies stops renewing and its lease
 * is taken over once it expires.
 */
#ifndef KC_RUNLOCK_H
#define KC_RUNLOCK_H

#include "config.h"
#include "util.h"

struct kc_runlock;

/* How long a lease lasts without renewal (a dead server's is free by then). */
#define KC_RUNLOCK_LEASE_S 30.0

/*
 * Takes the lock called name ("apply", "sync", ...).  wait_ms 0: try
 * once.  0 with *out set, 1 when another holder has it, -1 on error.
 */
int kc_runlock_take(const struct kc_config *cfg, const char *name,
    long wait_ms, struct kc_runlock **out, struct kc_error *err);
/* Whether the lease was lost (the database unreachable for too long). */
int kc_runlock_lost(const struct kc_runlock *l);
void kc_runlock_release(struct kc_runlock *l);

#endif
