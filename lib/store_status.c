/*
 * store_status.c - see store_status.h.
 */
#include "db.h"
#include "store_sql.h"
#include "store_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "store_runstate.h"

static const char *const kind_names[KC_RUN__MAX] = {
	[KC_RUN_WEBHOOK] = "webhook",
	[KC_RUN_APPLY] = "apply",
	[KC_RUN_SYNC] = "sync",
	[KC_RUN_PULL] = "pull",
	[KC_RUN_PUSH] = "push",
};

/* store.c's names of enum kc_problem, in its order. */
static const char *const problem_names[KC_STATUS_PROBLEM_KINDS] = {
	[KC_PROBLEM_UNMATCHED] = "unmatched",
	[KC_PROBLEM_DUPLICATE] = "duplicate",
	[KC_PROBLEM_SKIPPED] = "skipped",
	[KC_PROBLEM_FAILED] = "failed",
	[KC_PROBLEM_NOT_IN_KEYCRM] = "not_in_keycrm",
};

#define HISTORY_COLUMNS "kind, started_at, finished_at, received, queued," \
	" rejected, applied, unchanged, unmatched, skipped, failed, pending," \
	" shop_requests, keycrm_requests, error"

const char *
kc_status_kind_name(enum kc_status_kind kind)
{
	return kind < KC_RUN__MAX ? kind_names[kind] : "?";
}

static int
fail(struct kc_store *st, struct kc_error *err)
{
	kc_error_set(err, "state database %s: %s", st->path, kc_db_errmsg(st->db));
	return -1;
}

/* A copy of a text column; NULL for SQL NULL (and when out of memory). */
static char *
column_text(struct kc_db_stmt *s, int col)
{
	const char *t = kc_db_column_text(s, col);

	return t ? kc_strdup(t) : NULL;
}

static int
kind_of(const char *name, enum kc_status_kind *kind)
{
	for (int k = 0; k < KC_RUN__MAX; k++)
		if (name != NULL && strcmp(name, kind_names[k]) == 0) {
			*kind = (enum kc_status_kind)k;
			return 0;
		}
	return -1;
}

/* Fills run from a row of HISTORY_COLUMNS; -1 for a kind not known here. */
static int
read_run(struct kc_db_stmt *s, struct kc_status_run *run)
{
	long *counts[] = { &run->received, &run->queued, &run->rejected,
	    &run->applied, &run->unchanged, &run->unmatched, &run->skipped,
	    &run->failed, &run->pending, &run->shop_requests,
	    &run->keycrm_requests };

	memset(run, 0, sizeof(*run));
	if (kind_of(kc_db_column_text(s, 0), &run->kind) != 0)
		return -1;
	run->started_at = kc_db_column_double(s, 1);
	run->finished_at = kc_db_column_double(s, 2);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		*counts[i] = (long)kc_db_column_int64(s, 3 + (int)i);
	run->error = column_text(s, 14);
	return 0;
}

static int
read_history(struct kc_store *st, size_t max, struct kc_status *out,
    struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	out->history = calloc(max ? max : 1, sizeof(*out->history));
	if (out->history == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	if (kc_db_prepare(st->db, "SELECT " HISTORY_COLUMNS " FROM history"
	    " ORDER BY id DESC LIMIT ?1", &s) != 0)
		return fail(st, err);
	kc_db_bind_int64(s, 1, (int64_t)max);
	while ((rc = kc_db_step(s)) == KC_DB_ROW && out->nhistory < max)
		if (read_run(s, &out->history[out->nhistory]) == 0)
			out->nhistory++;
	kc_db_finalize(s);
	if (rc != KC_DB_DONE && rc != KC_DB_ROW)
		return fail(st, err);
	return 0;
}

/* The latest record of each kind, however far back it is. */
static int
read_last(struct kc_store *st, struct kc_status *out, struct kc_error *err)
{
	struct kc_db_stmt *s;

	if (kc_db_prepare(st->db, "SELECT " HISTORY_COLUMNS " FROM history"
	    " WHERE id = (SELECT max(id) FROM history WHERE kind = ?1)", &s) != 0)
		return fail(st, err);
	for (int k = 0; k < KC_RUN__MAX; k++) {
		kc_db_reset(s);
		kc_db_bind_text(s, 1, kind_names[k]);
		if (kc_db_step(s) == KC_DB_ROW)
			read_run(s, &out->last[k]);
	}
	kc_db_finalize(s);
	return 0;
}

static int
read_inbox(struct kc_store *st, struct kc_status *out, struct kc_error *err)
{
	struct kc_db_stmt *s;

	if (kc_db_prepare(st->db, "SELECT count(*), sum(attempts > 0),"
	    " min(received_at), (SELECT last_error FROM inbox WHERE last_error"
	    " IS NOT NULL ORDER BY attempts DESC, received_at DESC LIMIT 1)"
	    " FROM inbox", &s) != 0)
		return fail(st, err);
	if (kc_db_step(s) == KC_DB_ROW) {
		out->inbox = (long)kc_db_column_int64(s, 0);
		out->inbox_retried = (long)kc_db_column_int64(s, 1);
		out->inbox_oldest = kc_db_column_double(s, 2);
		out->inbox_error = column_text(s, 3);
	}
	kc_db_finalize(s);
	if ((out->first_install = kc_store_first_scan_pending(st)) < 0)
		return fail(st, err);
	return 0;
}

static int
read_problems(struct kc_store *st, enum kc_problem kind, size_t max,
    struct kc_status_problems *p, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, "SELECT count(*) FROM problems WHERE kind = ?1", &s) != 0)
		return fail(st, err);
	kc_db_bind_text(s, 1, problem_names[kind]);
	if (kc_db_step(s) == KC_DB_ROW)
		p->total = (long)kc_db_column_int64(s, 0);
	kc_db_finalize(s);
	p->items = calloc(max ? max : 1, sizeof(*p->items));
	if (p->items == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	if (kc_db_prepare(st->db, "SELECT sku, detail, count, first_seen,"
	    " last_seen FROM problems WHERE kind = ?1 ORDER BY last_seen DESC, sku"
	    " LIMIT ?2", &s) != 0)
		return fail(st, err);
	kc_db_bind_text(s, 1, problem_names[kind]);
	kc_db_bind_int64(s, 2, (int64_t)max);
	while ((rc = kc_db_step(s)) == KC_DB_ROW && p->n < max) {
		struct kc_status_problem *item = &p->items[p->n++];
		item->sku = column_text(s, 0);
		item->detail = column_text(s, 1);
		item->count = (long)kc_db_column_int64(s, 2);
		item->first_seen = kc_db_column_double(s, 3);
		item->last_seen = kc_db_column_double(s, 4);
	}
	kc_db_finalize(s);
	if (rc != KC_DB_DONE && rc != KC_DB_ROW)
		return fail(st, err);
	return 0;
}

int
kc_status_read(struct kc_store *st, size_t history_max, size_t problems_max,
    struct kc_status *out, struct kc_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	/* One read transaction: the figures agree with each other. */
	if (kc_db_exec(st->db, "BEGIN") != 0)
		return fail(st, err);
	rc = read_inbox(st, out, err);
	if (rc == 0)
		rc = read_last(st, out, err);
	if (rc == 0)
		rc = read_history(st, history_max, out, err);
	for (int k = 0; rc == 0 && k < KC_STATUS_PROBLEM_KINDS; k++)
		rc = read_problems(st, (enum kc_problem)k, problems_max,
		    &out->problems[k], err);
	kc_db_commit(st->db);
	if (rc != 0)
		kc_status_free(out);
	return rc;
}

static void
run_free(struct kc_status_run *run)
{
	free(run->error);
	run->error = NULL;
}

void
kc_status_free(struct kc_status *s)
{
	free(s->inbox_error);
	for (int k = 0; k < KC_RUN__MAX; k++)
		run_free(&s->last[k]);
	for (size_t i = 0; i < s->nhistory; i++)
		run_free(&s->history[i]);
	free(s->history);
	for (int k = 0; k < KC_STATUS_PROBLEM_KINDS; k++) {
		for (size_t i = 0; i < s->problems[k].n; i++) {
			free(s->problems[k].items[i].sku);
			free(s->problems[k].items[i].detail);
		}
		free(s->problems[k].items);
	}
	memset(s, 0, sizeof(*s));
}

/*
 * The history's filters (enum kc_history_filter: all, sync runs, webhooks,
 * errors), the filter bound as ?1 in the count and ?3 in the page.
 */
#define FILTER_WHERE_1 " WHERE (?1 = 0 OR (?1 = 1 AND kind IN ('sync', 'pull'))" \
	" OR (?1 = 2 AND kind IN ('webhook', 'apply', 'push')) OR (?1 = 3 AND error IS NOT NULL))"
#define FILTER_WHERE_3 " WHERE (?3 = 0 OR (?3 = 1 AND kind IN ('sync', 'pull'))" \
	" OR (?3 = 2 AND kind IN ('webhook', 'apply', 'push')) OR (?3 = 3 AND error IS NOT NULL))"

int
kc_status_history(struct kc_store *st, enum kc_history_filter filter,
    long offset, long limit, struct kc_status_run **runs, size_t *n,
    long *total, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	*runs = NULL;
	*n = 0;
	*total = 0;
	if (filter < KC_HISTORY_ALL || filter > KC_HISTORY_ERRORS || limit < 1) {
		kc_error_set(err, "bad history query");
		return -1;
	}
	if (kc_db_prepare(st->db, "SELECT count(*) FROM history"
	    FILTER_WHERE_1, &s) != 0)
		return fail(st, err);
	kc_db_bind_int64(s, 1, (int64_t)filter);
	if (kc_db_step(s) == KC_DB_ROW)
		*total = (long)kc_db_column_int64(s, 0);
	kc_db_finalize(s);
	*runs = calloc((size_t)limit, sizeof(**runs));
	if (*runs == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	if (kc_db_prepare(st->db, "SELECT " HISTORY_COLUMNS " FROM history"
	    FILTER_WHERE_3 " ORDER BY id DESC LIMIT ?1 OFFSET ?2", &s) != 0) {
		free(*runs);
		*runs = NULL;
		return fail(st, err);
	}
	kc_db_bind_int64(s, 1, limit);
	kc_db_bind_int64(s, 2, offset < 0 ? 0 : offset);
	kc_db_bind_int64(s, 3, (int64_t)filter);
	while ((rc = kc_db_step(s)) == KC_DB_ROW && *n < (size_t)limit)
		if (read_run(s, &(*runs)[*n]) == 0)
			(*n)++;
	kc_db_finalize(s);
	if (rc != KC_DB_DONE && rc != KC_DB_ROW) {
		kc_status_runs_free(*runs, *n);
		*runs = NULL;
		*n = 0;
		return fail(st, err);
	}
	return 0;
}

void
kc_status_runs_free(struct kc_status_run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_free(&runs[i]);
	free(runs);
}

int
kc_status_hours(struct kc_store *st, double since,
    struct kc_status_hour **hours, size_t *n, struct kc_error *err)
{
	struct kc_db_stmt *s;
	size_t cap = 0;
	int rc;

	*hours = NULL;
	*n = 0;
	/* What a row moved: a webhook's reports, the applier's writes, a sync's sends. */
	/* MariaDB's CAST rounds where SQLite's truncates: FLOOR there. */
	if (kc_db_prepare(st->db, KC_SQL_FOR(st,
	    "SELECT CAST(started_at / 3600 AS INTEGER) AS h,"
	    " sum(kind IN ('sync', 'pull', 'apply', 'push')), sum(kind = 'webhook'),"
	    " sum(CASE kind WHEN 'webhook' THEN received WHEN 'pull' THEN received"
	    " ELSE applied END), sum(error IS NOT NULL)"
	    " FROM history WHERE started_at >= ?1 GROUP BY h ORDER BY h",
	    "SELECT FLOOR(started_at / 3600) AS h,"
	    " sum(kind IN ('sync', 'pull', 'apply', 'push')), sum(kind = 'webhook'),"
	    " sum(CASE kind WHEN 'webhook' THEN received WHEN 'pull' THEN received"
	    " ELSE applied END), sum(error IS NOT NULL)"
	    " FROM history WHERE started_at >= ?1 GROUP BY h ORDER BY h"), &s) != 0)
		return fail(st, err);
	kc_db_bind_double(s, 1, since);
	while ((rc = kc_db_step(s)) == KC_DB_ROW) {
		struct kc_status_hour *h;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct kc_status_hour *more = realloc(*hours, ncap * sizeof(*more));
			if (more == NULL) {
				rc = -1;
				break;
			}
			*hours = more;
			cap = ncap;
		}
		h = &(*hours)[(*n)++];
		h->hour = kc_db_column_int64(s, 0);
		h->runs = (long)kc_db_column_int64(s, 1);
		h->webhooks = (long)kc_db_column_int64(s, 2);
		h->items = (long)kc_db_column_int64(s, 3);
		h->errors = (long)kc_db_column_int64(s, 4);
	}
	kc_db_finalize(s);
	if (rc != KC_DB_DONE) {
		free(*hours);
		*hours = NULL;
		*n = 0;
		return fail(st, err);
	}
	return 0;
}
