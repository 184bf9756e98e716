/*
 * store_lease.c - see store_lease.h.
 *
 * Each step is one statement, atomic on both engines: an UPDATE that
 * only matches a free, expired or own lease, else an INSERT that only
 * succeeds when there is no row at all.
 */
#include "store_lease.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_sql.h"

static int
fail(struct kc_store *st, struct kc_error *err, const char *what)
{
	kc_error_set(err, "state database %s: lease %s: %s", st->path, what,
	    kc_db_errmsg(st->db));
	return -1;
}

static void
make_owner(struct kc_lease *l)
{
	char host[64] = "";
	uint32_t r[2] = { 0, 0 };

	gethostname(host, sizeof(host) - 1);
	kc_random_bytes(r, sizeof(r));
	snprintf(l->owner, sizeof(l->owner), "%.60s:%ld:%08x%08x", host,
	    (long)getpid(), r[0], r[1]);
}

/* Runs a statement binding name, owner, expiry, now; rows matched or -1. */
static int64_t
run(struct kc_store *st, const char *sql, const struct kc_lease *l,
    double now)
{
	struct kc_db_stmt *s = kc_sql_prepare(st, sql, NULL);
	int rc;

	if (!s)
		return -1;
	kc_db_bind_text(s, 1, l->name);
	kc_db_bind_text(s, 2, l->owner);
	if (kc_db_bind_parameter_count(s) >= 3)
		kc_db_bind_double(s, 3, now + l->seconds);
	if (kc_db_bind_parameter_count(s) >= 4)
		kc_db_bind_double(s, 4, now);
	rc = kc_db_step(s);
	kc_sql_release(st, s);
	return rc == KC_DB_DONE ? kc_db_changes(st->db) : -1;
}

int
kc_lease_take(struct kc_store *st, struct kc_lease *l, const char *name,
    double seconds, struct kc_error *err)
{
	double now = kc_now();
	int64_t n;

	memset(l, 0, sizeof(*l));
	if (strlen(name) >= sizeof(l->name)) {
		kc_error_set(err, "lease name %s is too long", name);
		return -1;
	}
	strcpy(l->name, name);
	l->seconds = seconds;
	make_owner(l);
	n = run(st, "UPDATE leases SET owner = ?2, expires_at = ?3, "
	    "taken_at = ?4 WHERE name = ?1 AND (expires_at < ?4 OR owner = ?2)",
	    l, now);
	if (n == 0)
		n = run(st, "INSERT OR IGNORE INTO leases(name, owner, expires_at,"
		    " taken_at) VALUES (?1, ?2, ?3, ?4)", l, now);
	if (n < 0)
		return fail(st, err, name);
	l->held = n == 1;
	return l->held ? 0 : KC_LEASE_BUSY;
}

int
kc_lease_wait(struct kc_store *st, struct kc_lease *l, const char *name,
    double seconds, long wait_ms, struct kc_error *err)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	long waited = 0;

	for (;;) {
		int rc = kc_lease_take(st, l, name, seconds, err);

		if (rc != KC_LEASE_BUSY)
			return rc;
		if (waited >= wait_ms) {
			kc_error_set(err, "%s is busy on another server "
			    "(waited %ld ms)", name, waited);
			return -1;
		}
		nanosleep(&pause, NULL);
		waited += 100;
	}
}

int
kc_lease_renew(struct kc_store *st, struct kc_lease *l, struct kc_error *err)
{
	int64_t n;

	if (!l->held)
		return KC_LEASE_BUSY;
	n = run(st, "UPDATE leases SET expires_at = ?3 "
	    "WHERE name = ?1 AND owner = ?2", l, kc_now());
	if (n < 0)
		return fail(st, err, l->name);
	l->held = n == 1;
	return l->held ? 0 : KC_LEASE_BUSY;
}

/*
 * A run that failed because the database went away still lets go of its
 * lease once the database is back (a statement after a dropped connection
 * reconnects), rather than keep every server waiting for the expiry.
 */
int
kc_lease_busy(struct kc_store *st, const char *name)
{
	struct kc_db_stmt *s = kc_sql_prepare(st,
	    "SELECT 1 FROM leases WHERE name = ?1 AND expires_at >= ?2", NULL);
	int rc;

	if (!s)
		return -1;
	kc_db_bind_text(s, 1, name);
	kc_db_bind_double(s, 2, kc_now());
	rc = kc_db_step(s);
	kc_sql_release(st, s);
	return rc == KC_DB_ROW ? 1 : rc == KC_DB_DONE ? 0 : -1;
}

void
kc_lease_release(struct kc_store *st, struct kc_lease *l)
{
	const struct timespec pause = { 0, 500 * 1000000L };

	for (int tries = 0; l->held; tries++) {
		if (run(st, "DELETE FROM leases WHERE name = ?1 AND owner = ?2", l,
		    kc_now()) >= 0)
			break;
		if (!kc_db_retryable(st->db) || tries == 9) {
			kc_log(KC_LOG_WARN, "state database %s: releasing lease %s: %s; "
			    "it expires by itself", st->path, l->name, kc_db_errmsg(st->db));
			break;
		}
		nanosleep(&pause, NULL);
	}
	l->held = 0;
}
