/*
 * group_commit.h - several webhooks in flight share one commit (one fsync).
 *
 * A FastCGI worker with KEYCRM_SYNC_THREADS > 1 serves several requests at
 * once.  A webhook thread hands its reports to the group and waits; the
 * first waiting thread that finds no commit under way becomes the leader:
 * it takes every report waiting for the same state directory, commits them
 * in one transaction (each webhook all or nothing, store.h) on the group's
 * own connection and wakes the others.  Reports that arrive meanwhile go
 * into the next commit.  Each webhook is answered only after the commit
 * that holds it; synchronous stays FULL.
 *
 * While it waits, a thread lets go of the worker's serial lock (everything
 * but this wait runs under it), so the others can read and parse theirs.
 */
#ifndef KC_GROUP_COMMIT_H
#define KC_GROUP_COMMIT_H

#include <limits.h>
#include <pthread.h>

#include "store.h"

struct kc_group_entry;

struct kc_group {
	pthread_mutex_t mu;
	pthread_cond_t committed;
	struct kc_group_entry *head;
	int leading;			/* a thread is committing */
	pthread_mutex_t *serial;	/* the worker's lock, let go while waiting */
	struct kc_store st;		/* the group's own connection */
	int open;
	char dir[PATH_MAX];
	unsigned long commits, accepted;	/* for the log and the figures */
};

int kc_group_init(struct kc_group *g, pthread_mutex_t *serial);
void kc_group_free(struct kc_group *g);

/*
 * Commits one webhook's reports and history row (h may be NULL) in the
 * next group commit for state_dir; returns once that commit is done: 0
 * stored, -1 not (err says why; nothing of this webhook was stored).
 * Called with *g->serial held; holds it again on return.
 */
int kc_group_accept(struct kc_group *g, const char *state_dir,
    const struct kc_stock_report *r, size_t n, double now,
    const struct kc_history *h, struct kc_error *err);

#endif
