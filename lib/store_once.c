/*
 * store_once.c - see store_once.h.
 */
#include "store_once.h"

#include <stdio.h>

#include <sqlite3.h>

/* In the kv table, under their own prefix; the value is when it was used. */
#define PREFIX "once:"

static int
fail(struct kc_store *st, struct kc_error *err)
{
	kc_error_set(err, "state database %s: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

static int
step_done(struct kc_store *st, sqlite3_stmt *s, struct kc_error *err)
{
	int rc = sqlite3_step(s);

	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : fail(st, err);
}

int
kc_store_use_once(struct kc_store *st, const char *key, double now,
    double keep_s, struct kc_error *err)
{
	sqlite3_stmt *s;
	char value[64];
	int first;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return fail(st, err);
	if (sqlite3_prepare_v2(st->db, "DELETE FROM kv WHERE key LIKE '" PREFIX "%'"
	    " AND CAST(value AS REAL) < ?1", -1, &s, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_double(s, 1, now - keep_s);
	if (step_done(st, s, err) != 0)
		goto rollback;
	if (sqlite3_prepare_v2(st->db, "INSERT INTO kv(key, value) VALUES ('" PREFIX "' || ?1, ?2)"
	    " ON CONFLICT(key) DO NOTHING", -1, &s, NULL) != SQLITE_OK)
		goto fail;
	snprintf(value, sizeof(value), "%.3f", now);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	if (step_done(st, s, err) != 0)
		goto rollback;
	first = sqlite3_changes(st->db) == 1;
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return first;
fail:
	fail(st, err);
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
