/*
 * store_history.c - the history of webhooks and runs, and the KeyCRM request window all processes share.
 * See store.h; SQL lives in the store_*.c files only.
 */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#include "store_sql.h"

int
kc_store_history_add(struct kc_store *st, const struct kc_history *h,
    struct kc_error *err)
{
	struct kc_db_stmt *s = kc_sql_prepare(st, "INSERT INTO history(kind, started_at,"
	    " finished_at, received, queued, rejected, applied, unchanged,"
	    " unmatched, skipped, failed, pending, shop_requests,"
	    " keycrm_requests, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
	    " ?9, ?10, ?11, ?12, ?13, ?14, ?15)", err);
	long v[] = { h->received, h->queued, h->rejected, h->applied,
	    h->unchanged, h->unmatched, h->skipped, h->failed, h->pending,
	    h->shop_requests, h->keycrm_requests };

	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, h->kind);
	kc_db_bind_double(s, 2, h->started_at);
	kc_db_bind_double(s, 3, h->finished_at);
	for (int i = 0; i < (int)(sizeof(v) / sizeof(v[0])); i++)
		kc_db_bind_int64(s, 4 + i, v[i]);
	if (h->error != NULL)
		kc_db_bind_text(s, 15, h->error);
	if (kc_sql_run(st, s, "history", err) != 0)
		return -1;
	/* Keep the table small: the page shows recent entries only. */
	s = kc_sql_prepare(st, "DELETE FROM history WHERE id <= last_insert_rowid() - 2000", err);
	if (s == NULL)
		return -1;
	return kc_sql_run(st, s, "history", err);
}

/*
 * The window is kept in the database so that every process - sync runs,
 * backfills, the settings page - counts against the same limit.  It is a
 * second longer than KeyCRM's 60 s (see WINDOW_MS in keycrm.c): KeyCRM
 * counts a request when it arrives, a slot is taken before it leaves.
 */
#define RATE_WINDOW_S 61.0
int
kc_store_rate_take(struct kc_store *st, long per_minute, double now,
    int64_t *wait_ms, struct kc_error *err)
{
	struct kc_db_stmt *s;
	long used = 0;
	double oldest = now;

	*wait_ms = 0;
	if (kc_store_begin(st, err) != 0)
		return -1;
	s = kc_sql_prepare(st, "DELETE FROM keycrm_requests WHERE t <= ?1", err);
	if (s == NULL)
		goto fail;
	kc_db_bind_double(s, 1, now - RATE_WINDOW_S);
	if (kc_sql_run(st, s, "rate window", err) != 0)
		goto fail;
	s = kc_sql_prepare(st, "SELECT count(*), min(t) FROM keycrm_requests", err);
	if (s == NULL)
		goto fail;
	if (kc_db_step(s) == KC_DB_ROW) {
		used = (long)kc_db_column_int64(s, 0);
		if (kc_db_column_type(s, 1) != KC_DB_NULL)
			oldest = kc_db_column_double(s, 1);
	}
	kc_sql_release(st, s);
	if (used >= per_minute) {
		/* The oldest request leaves the window at oldest + RATE_WINDOW_S. */
		*wait_ms = (int64_t)((oldest + RATE_WINDOW_S - now) * 1000.0) + 20;
		if (*wait_ms < 20)
			*wait_ms = 20;
		kc_store_rollback(st);
		return 0;
	}
	s = kc_sql_prepare(st, "INSERT INTO keycrm_requests(t) VALUES (?1)", err);
	if (s == NULL)
		goto fail;
	kc_db_bind_double(s, 1, now);
	if (kc_sql_run(st, s, "rate window", err) != 0)
		goto fail;
	return kc_store_commit(st, err);
fail:
	kc_store_rollback(st);
	return -1;
}
