/*
 * store_retention.c - see store_retention.h.
 */
#include "db.h"
#include "store_retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#define DAY_S 86400.0
#define STR_(x) #x
#define STR(x) STR_(x)
#define KV_LAST_RUN "retention_at"

static int
fail(struct kc_store *st, struct kc_error *err, const char *what)
{
	kc_error_set(err, "state database %s: retention: %s: %s", st->path, what,
	    kc_db_errmsg(st->db));
	return -1;
}

/* Runs one statement with up to two numeric parameters; rows changed or -1. */
static long
change(struct kc_store *st, const char *sql, double a, double b,
    struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, sql, &s) != 0)
		return fail(st, err, "prepare");
	if (kc_db_bind_parameter_count(s) >= 1)
		kc_db_bind_double(s, 1, a);
	if (kc_db_bind_parameter_count(s) >= 2)
		kc_db_bind_double(s, 2, b);
	while ((rc = kc_db_step(s)) == KC_DB_ROW)
		;
	kc_db_finalize(s);
	if (rc != KC_DB_DONE)
		return fail(st, err, "delete");
	return (long)kc_db_changes(st->db);
}

static double
number(struct kc_store *st, const char *sql)
{
	struct kc_db_stmt *s;
	double v = -1;

	if (kc_db_prepare(st->db, sql, &s) != 0)
		return -1;
	if (kc_db_step(s) == KC_DB_ROW && kc_db_column_type(s, 0) != KC_DB_NULL)
		v = kc_db_column_double(s, 0);
	kc_db_finalize(s);
	return v;
}

static int
drop_old_rows(struct kc_store *st, double now, struct kc_retention_result *res,
    struct kc_error *err)
{
	double ledger_cut = now - KC_RETAIN_LEDGER_DAYS * DAY_S;

	/* The inner SELECT in a FROM of its own: MariaDB reads no table it deletes from. */
	res->history = change(st, "DELETE FROM history WHERE started_at < ?1 OR id <="
	    " (SELECT id FROM (SELECT id FROM history ORDER BY id DESC LIMIT 1 OFFSET "
	    STR(KC_RETAIN_HISTORY_ROWS) ") AS newest)", now - KC_RETAIN_HISTORY_DAYS * DAY_S, 0, err);
	if (res->history < 0)
		return -1;
	res->problems = change(st, "DELETE FROM problems WHERE last_seen < ?1",
	    now - KC_RETAIN_PROBLEM_DAYS * DAY_S, 0, err);
	if (res->problems < 0)
		return -1;
	res->ledger = change(st, "DELETE FROM ledger WHERE agreed_qty IS NULL"
	    " AND (keycrm_at IS NULL OR keycrm_at < ?1)"
	    " AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.sku_key = ledger.sku_key)"
	    " AND NOT EXISTS (SELECT 1 FROM sku_map m WHERE m.sku_key = ledger.sku_key"
	    "   AND m.refreshed_at >= ?1)", ledger_cut, 0, err);
	if (res->ledger < 0)
		return -1;
	return change(st, "INSERT INTO kv(key, value) VALUES ('" KV_LAST_RUN "', ?1)"
	    " ON CONFLICT(key) DO UPDATE SET value = excluded.value", now, 0, err) < 0 ? -1 : 0;
}

/*
 * VACUUM once a quarter of the file (and at least 1 MiB) is free pages.
 * MariaDB's InnoDB reuses its free pages itself.
 */
static int
give_space_back(struct kc_store *st, struct kc_retention_result *res,
    struct kc_error *err)
{
	double pages, free_pages, page_size;

	if (kc_db_engine(st->db) != KC_DB_SQLITE)
		return 0;
	pages = number(st, "PRAGMA page_count");
	free_pages = number(st, "PRAGMA freelist_count");
	page_size = number(st, "PRAGMA page_size");
	if (pages <= 0 || free_pages * 4 < pages || free_pages * page_size < 1048576)
		return 0;
	if (kc_db_exec(st->db, "VACUUM") != 0)
		return fail(st, err, "vacuum");
	/* In WAL mode the file shrinks once the log is written back. */
	kc_db_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	res->vacuumed = 1;
	return 0;
}

int
kc_store_retention(struct kc_store *st, double now, int force,
    struct kc_retention_result *res, struct kc_error *err)
{
	double last;

	memset(res, 0, sizeof(*res));
	last = number(st, "SELECT CAST(value AS REAL) FROM kv WHERE key = '" KV_LAST_RUN "'");
	if (!force && last > 0 && now - last < KC_RETENTION_EVERY_S && now >= last)
		return 0;
	if (kc_store_begin(st, NULL) != 0)
		return fail(st, err, "begin");
	if (drop_old_rows(st, now, res, err) != 0) {
		kc_db_rollback(st->db);
		memset(res, 0, sizeof(*res));
		return -1;
	}
	if (kc_db_commit(st->db) != 0) {
		fail(st, err, "commit");
		kc_db_rollback(st->db);
		memset(res, 0, sizeof(*res));
		return -1;
	}
	return give_space_back(st, res, err) == 0 ? 1 : -1;
}

long long
kc_store_disk_bytes(const char *state_dir)
{
	static const char *const files[] = { "state.db", "state.db-wal" };
	long long total = -1;
	char path[4096];
	struct stat sb;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, files[i]);
		if (stat(path, &sb) == 0)
			total = (total < 0 ? 0 : total) + (long long)sb.st_size;
	}
	return total;
}

void
kc_store_retention_log(int rc, const struct kc_retention_result *res,
    const struct kc_error *err)
{
	if (rc < 0)
		kc_log(KC_LOG_WARN, "%s", err->msg);
	else if (rc > 0)
		kc_log(KC_LOG_INFO, "retention: dropped %ld history, %ld problem and %ld ledger rows%s",
		    res->history, res->problems, res->ledger,
		    res->vacuumed ? "; the database was compacted" : "");
}

void
kc_store_retention_after_run(const struct kc_config *cfg)
{
	struct kc_store st;
	struct kc_retention_result res;
	struct kc_error err = { { 0 } };
	int rc;

	if (kc_store_open_config(&st, cfg, &err) != 0) {
		kc_log(KC_LOG_WARN, "retention: %s", err.msg);
		return;
	}
	rc = kc_store_retention(&st, kc_now(), 0, &res, &err);
	kc_store_close(&st);
	kc_store_retention_log(rc, &res, &err);
}
