/*
 * store_lease.h - leases: locks that live in the shared database.
 *
 * Several web servers sharing one MariaDB cannot use file locks, and
 * GET_LOCK() is not replicated by Galera.  A lease is a row (name, owner,
 * expiry): taken when free or expired, renewed while its owner works,
 * released when done.  A server that dies leaves a lease that expires,
 * and the next server takes it over.  Times are this machine's clock;
 * keep the servers' clocks in step (NTP) and the durations well above
 * any skew between them.
 */
#ifndef KC_STORE_LEASE_H
#define KC_STORE_LEASE_H

#include "store.h"

/* kc_lease_take's answer when another owner holds the lease. */
#define KC_LEASE_BUSY 1

struct kc_lease {
	char name[64];
	char owner[128];	/* host:pid:random, unique to this holder */
	double seconds;		/* how long each take or renewal lasts */
	int held;
};

/* 0 taken, KC_LEASE_BUSY, or -1 (err says why). */
int kc_lease_take(struct kc_store *st, struct kc_lease *l, const char *name,
    double seconds, struct kc_error *err);
/* Tries until taken or wait_ms have passed (then -1, "busy"). */
int kc_lease_wait(struct kc_store *st, struct kc_lease *l, const char *name,
    double seconds, long wait_ms, struct kc_error *err);
/* 0 still ours (for another l->seconds), KC_LEASE_BUSY lost, -1 failed. */
int kc_lease_renew(struct kc_store *st, struct kc_lease *l,
    struct kc_error *err);
void kc_lease_release(struct kc_store *st, struct kc_lease *l);
/*
 * 1 when someone holds the lease name and it has not expired, 0 when it is
 * free, -1 when the database cannot say: one read on a connection the
 * caller already has, where taking the lease costs a connection of its own.
 */
int kc_lease_busy(struct kc_store *st, const char *name);

#endif
