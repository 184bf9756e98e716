/*
 * store_inbox.c - the webhook inbox: what KeyCRM reported and the shop has not taken yet.
 * See store.h; SQL lives in the store_*.c files only.
 */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#include "store_sql.h"

/* Inbox and ledger rows for reports, inside the caller's transaction. */
static int
enqueue_rows(struct kc_store *st, const struct kc_stock_report *r, size_t n,
    double now, struct kc_error *err)
{
	struct kc_db_stmt *ins, *led;
	int64_t seq;

	if ((seq = kc_sql_next_counter(st, "change_seq", err)) < 0)
		return -1;
	ins = kc_sql_prepare(st,
	    "INSERT INTO inbox(sku_key, sku, offer_id, in_stock, in_reserve,"
	    " received_at, seq) VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4, ?5, ?6)"
	    " ON CONFLICT(sku_key) DO UPDATE SET sku = excluded.sku,"
	    " offer_id = excluded.offer_id,"
	    " in_stock = excluded.in_stock, in_reserve = excluded.in_reserve,"
	    " received_at = excluded.received_at, seq = excluded.seq,"
	    " attempts = 0, tried_run = NULL, last_error = NULL", err);
	led = kc_sql_prepare(st,
	    "INSERT INTO ledger(sku_key, sku, offer_id, keycrm_in_stock,"
	    " keycrm_in_reserve, keycrm_at, seq)"
	    " VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4, ?5, ?6)"
	    " ON CONFLICT(sku_key) DO UPDATE SET sku = excluded.sku,"
	    " offer_id = excluded.offer_id,"
	    " keycrm_in_stock = excluded.keycrm_in_stock,"
	    " keycrm_in_reserve = excluded.keycrm_in_reserve,"
	    " keycrm_at = excluded.keycrm_at, seq = excluded.seq", err);
	if (ins == NULL || led == NULL) {
		kc_sql_release(st, ins);
		kc_sql_release(st, led);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct kc_db_stmt *ss[2] = { ins, led };
		for (int k = 0; k < 2; k++) {
			struct kc_db_stmt *s = ss[k];
			kc_db_reset(s);
			kc_db_bind_text(s, 1, r[i].sku);
			if (r[i].offer_id > 0)
				kc_db_bind_int64(s, 2, r[i].offer_id);
			else
				kc_db_bind_null(s, 2);
			kc_db_bind_double(s, 3, r[i].in_stock);
			kc_db_bind_double(s, 4, r[i].in_reserve);
			kc_db_bind_double(s, 5, now);
			kc_db_bind_int64(s, 6, seq);
			if (kc_db_step(s) != KC_DB_DONE) {
				kc_sql_db_error(st, err, "enqueue");
				kc_sql_release(st, ins);
				kc_sql_release(st, led);
				return -1;
			}
		}
	}
	kc_sql_release(st, ins);
	kc_sql_release(st, led);
	return 0;
}

int
kc_store_enqueue(struct kc_store *st, const struct kc_stock_report *r,
    size_t n, double now, struct kc_error *err)
{
	return kc_store_accept(st, r, n, now, NULL, err);
}

int
kc_store_accept(struct kc_store *st, const struct kc_stock_report *r,
    size_t n, double now, const struct kc_history *h, struct kc_error *err)
{
	if (kc_store_begin(st, err) != 0)
		return -1;
	if ((n > 0 && enqueue_rows(st, r, n, now, err) != 0) ||
	    (h != NULL && kc_store_history_add(st, h, err) != 0)) {
		kc_store_rollback(st);
		return -1;
	}
	kc_crash_point("before-inbox-commit");
	if (kc_store_commit(st, err) != 0)
		return -1;
	kc_crash_point("after-inbox-commit");
	return 0;
}

int
kc_store_accept_group(struct kc_store *st, struct kc_accept *const *items,
    size_t n, struct kc_error *err)
{
	if (kc_store_begin(st, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct kc_accept *a = items[i];

		/* Each webhook all or nothing: one savepoint each. */
		a->rc = kc_sql_exec(st, "SAVEPOINT one_webhook", &a->err);
		if (a->rc == 0 &&
		    ((a->n > 0 && enqueue_rows(st, a->reports, a->n, a->now, &a->err) != 0) ||
		    (a->history != NULL && kc_store_history_add(st, a->history, &a->err) != 0))) {
			a->rc = -1;
			if (kc_sql_exec(st, "ROLLBACK TO SAVEPOINT one_webhook", err) != 0) {
				kc_store_rollback(st);
				return -1;
			}
		}
		if (kc_sql_exec(st, "RELEASE SAVEPOINT one_webhook", err) != 0) {
			kc_store_rollback(st);
			return -1;
		}
	}
	kc_crash_point("before-group-commit");
	if (kc_store_commit(st, err) != 0)
		return -1;
	kc_crash_point("after-inbox-commit");
	return 0;
}

int
kc_store_inbox_take(struct kc_store *st, int64_t run_id, size_t max,
    struct kc_inbox_row **rows, size_t *n, struct kc_error *err)
{
	struct kc_db_stmt *s;
	struct kc_inbox_row *out;
	size_t count = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	out = calloc(max ? max : 1, sizeof(*out));
	if (out == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	s = kc_sql_prepare(st, "SELECT sku, offer_id, in_stock, in_reserve, seq, attempts"
	    " FROM inbox WHERE tried_run IS NULL OR tried_run <> ?1"
	    " ORDER BY seq, sku_key LIMIT ?2", err);
	if (s == NULL) {
		free(out);
		return -1;
	}
	kc_db_bind_int64(s, 1, run_id);
	kc_db_bind_int64(s, 2, (int64_t)max);
	while ((rc = kc_db_step(s)) == KC_DB_ROW && count < max) {
		struct kc_inbox_row *row = &out[count];
		row->report.sku = kc_strdup(kc_db_column_text(s, 0));
		row->report.offer_id = kc_db_column_int64(s, 1);
		row->report.in_stock = kc_db_column_double(s, 2);
		row->report.in_reserve = kc_db_column_double(s, 3);
		row->seq = kc_db_column_int64(s, 4);
		row->attempts = (long)kc_db_column_int64(s, 5);
		if (row->report.sku == NULL)
			break;
		count++;
	}
	kc_sql_release(st, s);
	if (rc != KC_DB_DONE && rc != KC_DB_ROW) {
		kc_store_inbox_rows_free(out, count);
		return kc_sql_db_error(st, err, "read inbox");
	}
	*rows = out;
	*n = count;
	return 0;
}

void
kc_store_inbox_rows_free(struct kc_inbox_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i].report.sku);
	free(rows);
}

long
kc_store_inbox_count(struct kc_store *st)
{
	struct kc_db_stmt *s;
	long n = -1;

	if ((s = kc_sql_prepare(st, "SELECT count(*) FROM inbox", NULL)) == NULL)
		return -1;
	if (kc_db_step(s) == KC_DB_ROW)
		n = (long)kc_db_column_int64(s, 0);
	kc_sql_release(st, s);
	return n;
}

long
kc_store_inbox_untried(struct kc_store *st, int64_t run_id)
{
	struct kc_db_stmt *s;
	long n = -1;

	if ((s = kc_sql_prepare(st, "SELECT count(*) FROM inbox WHERE"
	    " tried_run IS NULL OR tried_run <> ?1", NULL)) == NULL)
		return -1;
	kc_db_bind_int64(s, 1, run_id);
	if (kc_db_step(s) == KC_DB_ROW)
		n = (long)kc_db_column_int64(s, 0);
	kc_sql_release(st, s);
	return n;
}

int
kc_store_inbox_done(struct kc_store *st, const char *sku, int64_t seq,
    struct kc_error *err)
{
	struct kc_db_stmt *s = kc_sql_prepare(st,
	    "DELETE FROM inbox WHERE sku_key = kc_sku_key(?1) AND seq = ?2", err);

	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	kc_db_bind_int64(s, 2, seq);
	return kc_sql_run(st, s, "inbox done", err);
}

int
kc_store_inbox_retry(struct kc_store *st, const char *sku, int64_t seq,
    int64_t run_id, const char *reason, struct kc_error *err)
{
	struct kc_db_stmt *s = kc_sql_prepare(st,
	    "UPDATE inbox SET attempts = attempts + 1, tried_run = ?3,"
	    " last_error = ?4 WHERE sku_key = kc_sku_key(?1) AND seq = ?2", err);

	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	kc_db_bind_int64(s, 2, seq);
	kc_db_bind_int64(s, 3, run_id);
	kc_db_bind_text(s, 4, reason);
	return kc_sql_run(st, s, "inbox retry", err);
}
