/*
 * store_once.c - see store_once.h.
 */
#include "db.h"
#include "store_once.h"

#include <stdio.h>


/* In the kv table, under their own prefix; the value is when it was used. */
#define PREFIX "once:"

static int
fail(struct kc_store *st, struct kc_error *err)
{
	kc_error_set(err, "state database %s: %s", st->path, kc_db_errmsg(st->db));
	return -1;
}

static int
step_done(struct kc_store *st, struct kc_db_stmt *s, struct kc_error *err)
{
	int rc = kc_db_step(s);

	kc_db_finalize(s);
	return rc == KC_DB_DONE ? 0 : fail(st, err);
}

int
kc_store_use_once(struct kc_store *st, const char *key, double now,
    double keep_s, struct kc_error *err)
{
	struct kc_db_stmt *s;
	char value[64];
	int first;

	if (kc_store_begin(st, NULL) != 0)
		return fail(st, err);
	if (kc_db_prepare(st->db, "DELETE FROM kv WHERE key LIKE '" PREFIX "%'"
	    " AND CAST(value AS REAL) < ?1", &s) != 0)
		goto fail;
	kc_db_bind_double(s, 1, now - keep_s);
	if (step_done(st, s, err) != 0)
		goto rollback;
	if (kc_db_prepare(st->db, "INSERT INTO kv(key, value) VALUES ('" PREFIX "' || ?1, ?2)"
	    " ON CONFLICT(key) DO NOTHING", &s) != 0)
		goto fail;
	snprintf(value, sizeof(value), "%.3f", now);
	kc_db_bind_text(s, 1, key);
	kc_db_bind_text(s, 2, value);
	if (step_done(st, s, err) != 0)
		goto rollback;
	first = kc_db_changes(st->db) == 1;
	if (kc_db_commit(st->db) != 0)
		goto fail;
	return first;
fail:
	fail(st, err);
rollback:
	kc_db_rollback(st->db);
	return -1;
}
