/*
 * store.c - see store.h.
 */
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sku.h"

#define HISTORY_KEEP 2000

/*
 * Each entry moves the schema from version i to i + 1.  Never edit a
 * shipped entry: add a new one.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"INSERT INTO counters VALUES ('change_seq', 0), ('run_id', 0);"
	"CREATE TABLE inbox("
	"  sku TEXT PRIMARY KEY,"
	"  offer_id INTEGER,"
	"  in_stock REAL NOT NULL,"
	"  in_reserve REAL NOT NULL,"
	"  received_at REAL NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  tried_run INTEGER,"
	"  last_error TEXT);"
	"CREATE INDEX inbox_by_seq ON inbox(seq);"
	"CREATE TABLE ledger("
	"  sku TEXT PRIMARY KEY,"
	"  offer_id INTEGER,"
	"  keycrm_in_stock REAL,"
	"  keycrm_in_reserve REAL,"
	"  keycrm_at REAL,"
	"  agreed_qty INTEGER,"
	"  agreed_at REAL,"
	"  seq INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE sku_map("
	"  sku TEXT NOT NULL,"
	"  product_id INTEGER NOT NULL,"
	"  parent_id INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  manage_stock TEXT NOT NULL,"
	"  stock_quantity INTEGER,"
	"  refreshed_at REAL NOT NULL,"
	"  PRIMARY KEY (sku, product_id));"
	"CREATE TABLE problems("
	"  sku TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  first_seen REAL NOT NULL,"
	"  last_seen REAL NOT NULL,"
	"  PRIMARY KEY (sku, kind));"
	"CREATE TABLE history("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  started_at REAL NOT NULL,"
	"  finished_at REAL,"
	"  received INTEGER, queued INTEGER, rejected INTEGER,"
	"  applied INTEGER, unchanged INTEGER, unmatched INTEGER,"
	"  skipped INTEGER, failed INTEGER, pending INTEGER,"
	"  shop_requests INTEGER, keycrm_requests INTEGER,"
	"  error TEXT);",
	/* 1 -> 2: sync cursors, and the KeyCRM request window shared by all processes */
	"CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE keycrm_requests(t REAL NOT NULL);"
	"CREATE INDEX keycrm_requests_by_t ON keycrm_requests(t);"
	"CREATE TABLE shop_parents(id INTEGER PRIMARY KEY, sku TEXT NOT NULL,"
	"  seen_at REAL NOT NULL);"
	/* shop_orders_in_keycrm: how much stock each order line took so far */
	"CREATE TABLE order_lines(line_id INTEGER PRIMARY KEY, sku TEXT NOT NULL,"
	"  counted REAL NOT NULL);"
	/* ... and when each change of it happened in the shop */
	"CREATE TABLE order_events(id INTEGER PRIMARY KEY, sku TEXT NOT NULL,"
	"  delta REAL NOT NULL, at REAL NOT NULL);"
	"CREATE INDEX order_events_by_sku ON order_events(sku, at);",
	/*
	 * 2 -> 3: a SKU is identified by its key (sku.h: Unicode case folding,
	 * trailing blanks cut), so that KeyCRM's "футболка-s" and the shop's
	 * "Футболка-S" share one inbox row, one ledger row and one problem.
	 * Rows that now collide are merged: the newest of each part wins.
	 */
	"CREATE TABLE inbox_v3("
	"  sku_key TEXT PRIMARY KEY,"
	"  sku TEXT NOT NULL,"
	"  offer_id INTEGER,"
	"  in_stock REAL NOT NULL,"
	"  in_reserve REAL NOT NULL,"
	"  received_at REAL NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  tried_run INTEGER,"
	"  last_error TEXT);"
	"INSERT INTO inbox_v3 SELECT kc_sku_key(sku), sku, offer_id, in_stock,"
	"  in_reserve, received_at, seq, attempts, tried_run, last_error"
	"  FROM inbox WHERE true ORDER BY seq"
	"  ON CONFLICT(sku_key) DO UPDATE SET sku = excluded.sku,"
	"  offer_id = excluded.offer_id, in_stock = excluded.in_stock,"
	"  in_reserve = excluded.in_reserve, received_at = excluded.received_at,"
	"  seq = excluded.seq, attempts = 0, tried_run = NULL, last_error = NULL;"
	"DROP TABLE inbox;"
	"ALTER TABLE inbox_v3 RENAME TO inbox;"
	"CREATE INDEX inbox_by_seq ON inbox(seq);"
	"CREATE TABLE ledger_v3("
	"  sku_key TEXT PRIMARY KEY,"
	"  sku TEXT NOT NULL,"
	"  offer_id INTEGER,"
	"  keycrm_in_stock REAL,"
	"  keycrm_in_reserve REAL,"
	"  keycrm_at REAL,"
	"  agreed_qty INTEGER,"
	"  agreed_at REAL,"
	"  seq INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO ledger_v3 SELECT kc_sku_key(sku), sku, offer_id,"
	"  keycrm_in_stock, keycrm_in_reserve, keycrm_at, agreed_qty, agreed_at, seq"
	"  FROM ledger WHERE true ORDER BY seq"
	"  ON CONFLICT(sku_key) DO UPDATE SET"
	"  sku = CASE WHEN excluded.keycrm_at IS NOT NULL THEN excluded.sku ELSE sku END,"
	"  offer_id = CASE WHEN excluded.keycrm_at IS NOT NULL THEN excluded.offer_id ELSE offer_id END,"
	"  keycrm_in_stock = CASE WHEN excluded.keycrm_at IS NOT NULL"
	"    THEN excluded.keycrm_in_stock ELSE keycrm_in_stock END,"
	"  keycrm_in_reserve = CASE WHEN excluded.keycrm_at IS NOT NULL"
	"    THEN excluded.keycrm_in_reserve ELSE keycrm_in_reserve END,"
	"  keycrm_at = coalesce(excluded.keycrm_at, keycrm_at),"
	"  agreed_qty = CASE WHEN excluded.agreed_qty IS NOT NULL"
	"    THEN excluded.agreed_qty ELSE agreed_qty END,"
	"  agreed_at = CASE WHEN excluded.agreed_qty IS NOT NULL"
	"    THEN excluded.agreed_at ELSE agreed_at END,"
	"  seq = excluded.seq;"
	"DROP TABLE ledger;"
	"ALTER TABLE ledger_v3 RENAME TO ledger;"
	"CREATE TABLE problems_v3("
	"  sku_key TEXT NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  first_seen REAL NOT NULL,"
	"  last_seen REAL NOT NULL,"
	"  PRIMARY KEY (sku_key, kind));"
	"INSERT INTO problems_v3 SELECT kc_sku_key(sku), sku, kind, detail, count,"
	"  first_seen, last_seen FROM problems WHERE true ORDER BY last_seen"
	"  ON CONFLICT(sku_key, kind) DO UPDATE SET sku = excluded.sku,"
	"  detail = excluded.detail, count = count + excluded.count,"
	"  last_seen = excluded.last_seen;"
	"DROP TABLE problems;"
	"ALTER TABLE problems_v3 RENAME TO problems;",
	/* 3 -> 4: the SKU -> product map by the same identity key */
	"ALTER TABLE sku_map ADD COLUMN sku_key TEXT;"
	"UPDATE sku_map SET sku_key = kc_sku_key(sku);"
	"CREATE INDEX sku_map_by_key ON sku_map(sku_key);",
	/* 4 -> 5: what WooCommerce's product webhooks reported (store_shop.c) */
	"CREATE TABLE shop_changes("
	"  product_id INTEGER PRIMARY KEY,"
	"  parent_id INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  manage TEXT NOT NULL,"
	"  qty INTEGER,"
	"  modified TEXT NOT NULL,"
	"  received_at REAL NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  pending INTEGER NOT NULL);"
	"CREATE INDEX shop_changes_pending ON shop_changes(pending);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

int
kc_store_schema_version(void)
{
	return SCHEMA_VERSION;
}

static int
db_error(struct kc_store *st, struct kc_error *err, const char *what)
{
	int code = sqlite3_extended_errcode(st->db);

	if ((code & 0xff) == SQLITE_FULL)
		kc_error_set(err, "state database %s: %s: the disk is full",
		    st->path, what);
	else
		kc_error_set(err, "state database %s: %s: %s", st->path, what,
		    sqlite3_errmsg(st->db));
	return -1;
}

static int
exec(struct kc_store *st, const char *sql, struct kc_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kc_error_set(err, "state database %s: %s", st->path,
		    msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
user_version(struct kc_store *st)
{
	sqlite3_stmt *s;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* kc_sku_key(sku): the SKU's identity key (sku.h), for the statements below. */
static void
sql_sku_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *sku;
	char *key;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	sku = sqlite3_value_text(argv[0]);
	if (sku == NULL || (key = kc_sku_key((const char *)sku)) == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_text(ctx, key, -1, free);
}

static int
migrate(struct kc_store *st, struct kc_error *err)
{
	int v;
	char sql[64];

	if (exec(st, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	/* Read inside the write lock: two processes may race to migrate. */
	v = user_version(st);
	if (v < 0 || v > SCHEMA_VERSION) {
		kc_error_set(err, "state database %s has schema version %d; this program knows up to %d (downgrade?)",
		    st->path, v, SCHEMA_VERSION);
		exec(st, "ROLLBACK", NULL);
		return -1;
	}
	for (; v < SCHEMA_VERSION; v++) {
		if (exec(st, migrations[v], err) != 0) {
			exec(st, "ROLLBACK", NULL);
			return -1;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (exec(st, sql, err) != 0 || exec(st, "COMMIT", err) != 0) {
		exec(st, "ROLLBACK", NULL);
		return -1;
	}
	return 0;
}

int
kc_store_open(struct kc_store *st, const char *state_dir, struct kc_error *err)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	if (stat(state_dir, &sb) != 0) {
		if (errno != ENOENT || mkdir(state_dir, 0750) != 0) {
			kc_error_set(err, "state_dir %s: %s", state_dir, strerror(errno));
			return -1;
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		kc_error_set(err, "state_dir %s is not a directory", state_dir);
		return -1;
	}
	if (asprintf(&st->path, "%s/state.db", state_dir) < 0) {
		st->path = NULL;
		kc_error_set(err, "out of memory");
		return -1;
	}
	/* A symbolic link planted in the state directory is not followed. */
	if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	    NULL) != SQLITE_OK) {
		if (access(state_dir, W_OK | X_OK) != 0)
			kc_error_set(err, "state_dir %s is not writable by this user (%s): it must belong to the web server's user (chown -R www-data: %s)",
			    state_dir, strerror(errno), state_dir);
		else
			kc_error_set(err, "state database %s: %s", st->path,
			    st->db ? sqlite3_errmsg(st->db) : "cannot open");
		kc_store_close(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, 10000);
	if (sqlite3_create_function_v2(st->db, "kc_sku_key", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_sku_key, NULL, NULL,
	    NULL) != SQLITE_OK) {
		db_error(st, err, "register kc_sku_key");
		kc_store_close(st);
		return -1;
	}
	if (exec(st, "PRAGMA journal_mode = WAL", err) != 0 ||
	    exec(st, "PRAGMA synchronous = FULL", err) != 0 ||
	    exec(st, "PRAGMA foreign_keys = ON", err) != 0 ||
	    (user_version(st) != SCHEMA_VERSION && migrate(st, err) != 0)) {
		kc_store_close(st);
		return -1;
	}
	return 0;
}

void
kc_store_close(struct kc_store *st)
{
	for (size_t i = 0; i < st->ncached; i++)
		sqlite3_finalize(st->cached[i].stmt);
	if (st->db != NULL)
		sqlite3_close_v2(st->db);
	free(st->path);
	memset(st, 0, sizeof(*st));
}

/*
 * Statements are prepared once per connection and kept: a FastCGI worker
 * keeps its connection open, and preparing costs more than running most
 * of them.  The cache is keyed by the SQL text's address, so every call
 * site passes a string literal.  A statement comes back reset, its
 * bindings cleared; release() resets it again, so that no statement holds
 * a read snapshot between uses.
 */
static sqlite3_stmt *
prepare(struct kc_store *st, const char *sql, struct kc_error *err)
{
	sqlite3_stmt *s = NULL;
	size_t i;

	for (i = 0; i < st->ncached; i++)
		if (st->cached[i].sql == sql) {
			sqlite3_reset(st->cached[i].stmt);
			sqlite3_clear_bindings(st->cached[i].stmt);
			return st->cached[i].stmt;
		}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
	    NULL) != SQLITE_OK) {
		db_error(st, err, "prepare");
		return NULL;
	}
	if (st->ncached < KC_STORE_CACHED_MAX) {
		st->cached[st->ncached].sql = sql;
		st->cached[st->ncached++].stmt = s;
	}
	return s;
}

/* Done with a statement: reset when cached, finalized when not. */
static void
release(struct kc_store *st, sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < st->ncached; i++)
		if (st->cached[i].stmt == s) {
			sqlite3_reset(s);
			return;
		}
	sqlite3_finalize(s);
}

/* Steps a statement that returns no rows, then finalizes it. */
static int
run(struct kc_store *st, sqlite3_stmt *s, const char *what,
    struct kc_error *err)
{
	int rc = sqlite3_step(s);

	release(st, s);
	if (rc != SQLITE_DONE)
		return db_error(st, err, what);
	return 0;
}

static int64_t
next_counter(struct kc_store *st, const char *name, struct kc_error *err)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	s = prepare(st, "UPDATE counters SET value = value + 1 WHERE name = ?1 "
	    "RETURNING value", err);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		db_error(st, err, "counter");
	release(st, s);
	return v;
}

int
kc_store_begin(struct kc_store *st, struct kc_error *err)
{
	return exec(st, "BEGIN IMMEDIATE", err);
}

int
kc_store_commit(struct kc_store *st, struct kc_error *err)
{
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_error(st, err, "commit");
		kc_store_rollback(st);
		return -1;
	}
	return 0;
}

void
kc_store_rollback(struct kc_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Inbox and ledger rows for reports, inside the caller's transaction. */
static int
enqueue_rows(struct kc_store *st, const struct kc_stock_report *r, size_t n,
    double now, struct kc_error *err)
{
	sqlite3_stmt *ins, *led;
	int64_t seq;

	if ((seq = next_counter(st, "change_seq", err)) < 0)
		return -1;
	ins = prepare(st,
	    "INSERT INTO inbox(sku_key, sku, offer_id, in_stock, in_reserve,"
	    " received_at, seq) VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4, ?5, ?6)"
	    " ON CONFLICT(sku_key) DO UPDATE SET sku = excluded.sku,"
	    " offer_id = excluded.offer_id,"
	    " in_stock = excluded.in_stock, in_reserve = excluded.in_reserve,"
	    " received_at = excluded.received_at, seq = excluded.seq,"
	    " attempts = 0, tried_run = NULL, last_error = NULL", err);
	led = prepare(st,
	    "INSERT INTO ledger(sku_key, sku, offer_id, keycrm_in_stock,"
	    " keycrm_in_reserve, keycrm_at, seq)"
	    " VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4, ?5, ?6)"
	    " ON CONFLICT(sku_key) DO UPDATE SET sku = excluded.sku,"
	    " offer_id = excluded.offer_id,"
	    " keycrm_in_stock = excluded.keycrm_in_stock,"
	    " keycrm_in_reserve = excluded.keycrm_in_reserve,"
	    " keycrm_at = excluded.keycrm_at, seq = excluded.seq", err);
	if (ins == NULL || led == NULL) {
		release(st, ins);
		release(st, led);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *ss[2] = { ins, led };
		for (int k = 0; k < 2; k++) {
			sqlite3_stmt *s = ss[k];
			sqlite3_reset(s);
			sqlite3_bind_text(s, 1, r[i].sku, -1, SQLITE_STATIC);
			if (r[i].offer_id > 0)
				sqlite3_bind_int64(s, 2, r[i].offer_id);
			else
				sqlite3_bind_null(s, 2);
			sqlite3_bind_double(s, 3, r[i].in_stock);
			sqlite3_bind_double(s, 4, r[i].in_reserve);
			sqlite3_bind_double(s, 5, now);
			sqlite3_bind_int64(s, 6, seq);
			if (sqlite3_step(s) != SQLITE_DONE) {
				db_error(st, err, "enqueue");
				release(st, ins);
				release(st, led);
				return -1;
			}
		}
	}
	release(st, ins);
	release(st, led);
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
	if (kc_store_commit(st, err) != 0)
		return -1;
	kc_crash_point("after-inbox-commit");
	return 0;
}

int
kc_store_inbox_take(struct kc_store *st, int64_t run_id, size_t max,
    struct kc_inbox_row **rows, size_t *n, struct kc_error *err)
{
	sqlite3_stmt *s;
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
	s = prepare(st, "SELECT sku, offer_id, in_stock, in_reserve, seq, attempts"
	    " FROM inbox WHERE tried_run IS NULL OR tried_run <> ?1"
	    " ORDER BY seq, sku_key LIMIT ?2", err);
	if (s == NULL) {
		free(out);
		return -1;
	}
	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && count < max) {
		struct kc_inbox_row *row = &out[count];
		row->report.sku = kc_strdup((const char *)sqlite3_column_text(s, 0));
		row->report.offer_id = sqlite3_column_int64(s, 1);
		row->report.in_stock = sqlite3_column_double(s, 2);
		row->report.in_reserve = sqlite3_column_double(s, 3);
		row->seq = sqlite3_column_int64(s, 4);
		row->attempts = (long)sqlite3_column_int64(s, 5);
		if (row->report.sku == NULL)
			break;
		count++;
	}
	release(st, s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		kc_store_inbox_rows_free(out, count);
		return db_error(st, err, "read inbox");
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
	sqlite3_stmt *s;
	long n = -1;

	if ((s = prepare(st, "SELECT count(*) FROM inbox", NULL)) == NULL)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(s, 0);
	release(st, s);
	return n;
}

long
kc_store_inbox_untried(struct kc_store *st, int64_t run_id)
{
	sqlite3_stmt *s;
	long n = -1;

	if ((s = prepare(st, "SELECT count(*) FROM inbox WHERE"
	    " tried_run IS NULL OR tried_run <> ?1", NULL)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, run_id);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(s, 0);
	release(st, s);
	return n;
}

int
kc_store_inbox_done(struct kc_store *st, const char *sku, int64_t seq,
    struct kc_error *err)
{
	sqlite3_stmt *s = prepare(st,
	    "DELETE FROM inbox WHERE sku_key = kc_sku_key(?1) AND seq = ?2", err);

	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	return run(st, s, "inbox done", err);
}

int
kc_store_inbox_retry(struct kc_store *st, const char *sku, int64_t seq,
    int64_t run_id, const char *reason, struct kc_error *err)
{
	sqlite3_stmt *s = prepare(st,
	    "UPDATE inbox SET attempts = attempts + 1, tried_run = ?3,"
	    " last_error = ?4 WHERE sku_key = kc_sku_key(?1) AND seq = ?2", err);

	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	sqlite3_bind_int64(s, 3, run_id);
	sqlite3_bind_text(s, 4, reason, -1, SQLITE_STATIC);
	return run(st, s, "inbox retry", err);
}

int
kc_store_ledger_agree(struct kc_store *st, const char *sku, long long qty,
    double now, struct kc_error *err)
{
	sqlite3_stmt *s;
	int64_t seq = next_counter(st, "change_seq", err);

	if (seq < 0)
		return -1;
	s = prepare(st, "INSERT INTO ledger(sku_key, sku, agreed_qty, agreed_at, seq)"
	    " VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4) ON CONFLICT(sku_key) DO UPDATE SET"
	    " agreed_qty = excluded.agreed_qty, agreed_at = excluded.agreed_at,"
	    " seq = excluded.seq", err);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, qty);
	sqlite3_bind_double(s, 3, now);
	sqlite3_bind_int64(s, 4, seq);
	return run(st, s, "ledger", err);
}

int
kc_store_ledger_get(struct kc_store *st, const char *sku,
    long long *agreed_qty, double *in_stock, double *in_reserve)
{
	sqlite3_stmt *s;
	int rc = -1;

	if ((s = prepare(st, "SELECT agreed_qty, keycrm_in_stock,"
	    " keycrm_in_reserve FROM ledger WHERE sku_key = kc_sku_key(?1)", NULL)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*agreed_qty = sqlite3_column_type(s, 0) == SQLITE_NULL ? -1 :
		    sqlite3_column_int64(s, 0);
		*in_stock = sqlite3_column_double(s, 1);
		*in_reserve = sqlite3_column_double(s, 2);
		rc = 0;
	}
	release(st, s);
	return rc;
}

int
kc_store_map_clear(struct kc_store *st, const char *sku, struct kc_error *err)
{
	sqlite3_stmt *s = prepare(st, "DELETE FROM sku_map WHERE sku_key = kc_sku_key(?1)", err);

	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	return run(st, s, "sku map", err);
}

int
kc_store_map_add(struct kc_store *st, const char *sku, long long id,
    long long parent_id, const char *type, const char *manage_stock,
    long long qty, int has_qty, double now, struct kc_error *err)
{
	sqlite3_stmt *s = prepare(st, "INSERT OR REPLACE INTO sku_map(sku,"
	    " product_id, parent_id, type, manage_stock, stock_quantity,"
	    " refreshed_at, sku_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, kc_sku_key(?1))", err);

	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_int64(s, 3, parent_id);
	sqlite3_bind_text(s, 4, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, manage_stock, -1, SQLITE_STATIC);
	if (has_qty)
		sqlite3_bind_int64(s, 6, qty);
	else
		sqlite3_bind_null(s, 6);
	sqlite3_bind_double(s, 7, now);
	return run(st, s, "sku map", err);
}

static const char *
problem_name(enum kc_problem kind)
{
	switch (kind) {
	case KC_PROBLEM_UNMATCHED: return "unmatched";
	case KC_PROBLEM_DUPLICATE: return "duplicate";
	case KC_PROBLEM_SKIPPED: return "skipped";
	case KC_PROBLEM_FAILED: return "failed";
	case KC_PROBLEM_NOT_IN_KEYCRM: return "not_in_keycrm";
	}
	return "?";
}

int
kc_store_problem(struct kc_store *st, const char *sku, enum kc_problem kind,
    const char *detail, double now, struct kc_error *err)
{
	sqlite3_stmt *s;

	if (detail == NULL) {
		s = prepare(st, "DELETE FROM problems WHERE sku_key = kc_sku_key(?1) AND kind = ?2", err);
		if (s == NULL)
			return -1;
		sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, problem_name(kind), -1, SQLITE_STATIC);
		return run(st, s, "problems", err);
	}
	s = prepare(st, "INSERT INTO problems(sku_key, sku, kind, detail, count,"
	    " first_seen, last_seen) VALUES (kc_sku_key(?1), ?1, ?2, ?3, 1, ?4, ?4)"
	    " ON CONFLICT(sku_key, kind) DO UPDATE SET sku = excluded.sku,"
	    " detail = excluded.detail, count = count + 1,"
	    " last_seen = excluded.last_seen", err);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, problem_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, detail, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 4, now);
	return run(st, s, "problems", err);
}

int
kc_store_history_add(struct kc_store *st, const struct kc_history *h,
    struct kc_error *err)
{
	sqlite3_stmt *s = prepare(st, "INSERT INTO history(kind, started_at,"
	    " finished_at, received, queued, rejected, applied, unchanged,"
	    " unmatched, skipped, failed, pending, shop_requests,"
	    " keycrm_requests, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
	    " ?9, ?10, ?11, ?12, ?13, ?14, ?15)", err);
	long v[] = { h->received, h->queued, h->rejected, h->applied,
	    h->unchanged, h->unmatched, h->skipped, h->failed, h->pending,
	    h->shop_requests, h->keycrm_requests };

	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, h->kind, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 2, h->started_at);
	sqlite3_bind_double(s, 3, h->finished_at);
	for (int i = 0; i < (int)(sizeof(v) / sizeof(v[0])); i++)
		sqlite3_bind_int64(s, 4 + i, v[i]);
	if (h->error != NULL)
		sqlite3_bind_text(s, 15, h->error, -1, SQLITE_STATIC);
	if (run(st, s, "history", err) != 0)
		return -1;
	/* Keep the table small: the page shows recent entries only. */
	s = prepare(st, "DELETE FROM history WHERE id <= last_insert_rowid() - 2000", err);
	if (s == NULL)
		return -1;
	return run(st, s, "history", err);
}

/*
 * A run id only has to differ from the ids of earlier runs, so it is drawn
 * at random (62 bits) rather than counted: counting took a commit, and
 * with it an fsync, for every applier run.
 */
int64_t
kc_store_next_run_id(struct kc_store *st)
{
	uint64_t v = 0;

	(void)st;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		return -1;
	v &= (UINT64_C(1) << 62) - 1;
	return (int64_t)(v | 1);
}

int
kc_store_kv_get(struct kc_store *st, const char *key, char *out, size_t outsz)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = prepare(st, "SELECT value FROM kv WHERE key = ?1", NULL)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		kc_strlcpy(out, (const char *)sqlite3_column_text(s, 0), outsz);
	release(st, s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? KC_STORE_ABSENT : -1;
}

int
kc_store_kv_set(struct kc_store *st, const char *key, const char *value,
    struct kc_error *err)
{
	sqlite3_stmt *s;

	if (value == NULL) {
		s = prepare(st, "DELETE FROM kv WHERE key = ?1", err);
		if (s == NULL)
			return -1;
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
		return run(st, s, "kv", err);
	}
	s = prepare(st, "INSERT OR REPLACE INTO kv(key, value) VALUES (?1, ?2)", err);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	return run(st, s, "kv", err);
}

/*
 * The window is kept in the database so that every process - sync runs,
 * backfills, the settings page - counts against the same limit.
 */
int
kc_store_rate_take(struct kc_store *st, long per_minute, double now,
    int64_t *wait_ms, struct kc_error *err)
{
	sqlite3_stmt *s;
	long used = 0;
	double oldest = now;

	*wait_ms = 0;
	if (kc_store_begin(st, err) != 0)
		return -1;
	s = prepare(st, "DELETE FROM keycrm_requests WHERE t <= ?1", err);
	if (s == NULL)
		goto fail;
	sqlite3_bind_double(s, 1, now - 60.0);
	if (run(st, s, "rate window", err) != 0)
		goto fail;
	s = prepare(st, "SELECT count(*), min(t) FROM keycrm_requests", err);
	if (s == NULL)
		goto fail;
	if (sqlite3_step(s) == SQLITE_ROW) {
		used = (long)sqlite3_column_int64(s, 0);
		if (sqlite3_column_type(s, 1) != SQLITE_NULL)
			oldest = sqlite3_column_double(s, 1);
	}
	release(st, s);
	if (used >= per_minute) {
		/* The oldest request leaves the window at oldest + 60 s. */
		*wait_ms = (int64_t)((oldest + 60.0 - now) * 1000.0) + 20;
		if (*wait_ms < 20)
			*wait_ms = 20;
		kc_store_rollback(st);
		return 0;
	}
	s = prepare(st, "INSERT INTO keycrm_requests(t) VALUES (?1)", err);
	if (s == NULL)
		goto fail;
	sqlite3_bind_double(s, 1, now);
	if (run(st, s, "rate window", err) != 0)
		goto fail;
	return kc_store_commit(st, err);
fail:
	kc_store_rollback(st);
	return -1;
}

int
kc_store_ledger_state(struct kc_store *st, const char *sku,
    struct kc_ledger_state *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	out->agreed_qty = -1;
	/* The inbox may hold a report for a SKU the ledger has no row for. */
	if ((s = prepare(st, "SELECT l.agreed_qty, l.keycrm_in_stock,"
	    " l.keycrm_in_reserve, l.seq, l.keycrm_at IS NOT NULL, l.agreed_at,"
	    " l.sku, EXISTS (SELECT 1 FROM inbox i WHERE i.sku_key = k.key)"
	    " FROM (SELECT kc_sku_key(?1) AS key) k"
	    " LEFT JOIN ledger l ON l.sku_key = k.key", NULL)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->pending = sqlite3_column_int(s, 7);
		if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
			out->known = 1;
			if (sqlite3_column_type(s, 0) != SQLITE_NULL)
				out->agreed_qty = sqlite3_column_int64(s, 0);
			out->in_stock = sqlite3_column_double(s, 1);
			out->in_reserve = sqlite3_column_double(s, 2);
			out->seq = sqlite3_column_int64(s, 3);
			out->keycrm_known = sqlite3_column_int(s, 4);
			out->agreed_at = sqlite3_column_double(s, 5);
			kc_strlcpy(out->sku, (const char *)sqlite3_column_text(s, 6),
			    sizeof(out->sku));
		}
	}
	release(st, s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int64_t
kc_store_change_seq(struct kc_store *st)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	if ((s = prepare(st, "SELECT value FROM counters WHERE name = 'change_seq'", NULL)) == NULL)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	release(st, s);
	return v;
}

int
kc_store_ledger_sent(struct kc_store *st, const char *sku, int64_t if_seq,
    long long shop_qty, double keycrm_in_stock, double keycrm_in_reserve,
    double now, struct kc_error *err)
{
	sqlite3_stmt *s;
	int64_t seq = next_counter(st, "change_seq", err);

	if (seq < 0)
		return -1;
	/* Only when nothing changed since the decision (if_seq 0: new SKU). */
	s = prepare(st, "INSERT INTO ledger(sku_key, sku, agreed_qty, agreed_at,"
	    " keycrm_in_stock, keycrm_in_reserve, keycrm_at, seq)"
	    " VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4, ?7, ?3, ?5)"
	    " ON CONFLICT(sku_key) DO UPDATE SET agreed_qty = excluded.agreed_qty,"
	    " agreed_at = excluded.agreed_at, keycrm_in_stock = excluded.keycrm_in_stock,"
	    " keycrm_in_reserve = excluded.keycrm_in_reserve,"
	    " keycrm_at = excluded.keycrm_at, seq = excluded.seq"
	    " WHERE ledger.seq = ?6", err);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, shop_qty);
	sqlite3_bind_double(s, 3, now);
	sqlite3_bind_double(s, 4, keycrm_in_stock);
	sqlite3_bind_int64(s, 5, seq);
	sqlite3_bind_int64(s, 6, if_seq);
	sqlite3_bind_double(s, 7, keycrm_in_reserve);
	return run(st, s, "ledger", err);
}

int
kc_store_ledger_first_agreed(struct kc_store *st, double *at)
{
	sqlite3_stmt *s;
	int rc;

	*at = 0;
	if ((s = prepare(st, "SELECT min(agreed_at) FROM ledger WHERE"
	    " agreed_qty IS NOT NULL", NULL)) == NULL)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*at = sqlite3_column_double(s, 0);
	else if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	release(st, s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? KC_STORE_ABSENT : -1;
}

int
kc_store_parent_set(struct kc_store *st, long long id, const char *sku,
    double now, struct kc_error *err)
{
	sqlite3_stmt *s = prepare(st, "INSERT OR REPLACE INTO shop_parents(id, sku,"
	    " seen_at) VALUES (?1, ?2, ?3)", err);

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, sku, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 3, now);
	return run(st, s, "shop parents", err);
}

long long
kc_store_parent_next(struct kc_store *st, long long after, double seen_since)
{
	sqlite3_stmt *s;
	long long id = -1;

	if ((s = prepare(st, "SELECT min(id) FROM shop_parents WHERE"
	    " id > ?1 AND seen_at >= ?2", NULL)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_double(s, 2, seen_since);
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_type(s, 0) == SQLITE_NULL ? 0 :
		    sqlite3_column_int64(s, 0);
	release(st, s);
	return id;
}

int
kc_store_parent_sku(struct kc_store *st, long long id, char *out, size_t outsz)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = prepare(st, "SELECT sku FROM shop_parents WHERE id = ?1", NULL)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		kc_strlcpy(out, (const char *)sqlite3_column_text(s, 0), outsz);
	release(st, s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? KC_STORE_ABSENT : -1;
}

int
kc_store_order_line(struct kc_store *st, long long line_id, const char *sku,
    double reduced, double at, struct kc_error *err)
{
	sqlite3_stmt *s;
	double counted;

	if (kc_store_order_counted(st, line_id, &counted) != 0)
		return db_error(st, err, "order lines");
	if (reduced == counted)
		return 0;
	s = prepare(st, "INSERT OR REPLACE INTO order_lines(line_id, sku, counted)"
	    " VALUES (?1, ?2, ?3)", err);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, line_id);
	sqlite3_bind_text(s, 2, sku, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 3, reduced);
	if (run(st, s, "order lines", err) != 0)
		return -1;
	s = prepare(st, "INSERT INTO order_events(sku, delta, at) VALUES (?1, ?2, ?3)", err);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 2, reduced - counted);
	sqlite3_bind_double(s, 3, at);
	if (run(st, s, "order events", err) != 0)
		return -1;
	/* A month back is far more than any scan overlaps. */
	s = prepare(st, "DELETE FROM order_events WHERE at < ?1", err);
	if (s == NULL)
		return -1;
	sqlite3_bind_double(s, 1, at - 31 * 86400.0);
	return run(st, s, "order events", err);
}

int
kc_store_explained(struct kc_store *st, const char *sku, double agreed_at,
    struct kc_explained *out)
{
	sqlite3_stmt *s;
	double second = floor(agreed_at);
	int rc;

	memset(out, 0, sizeof(*out));
	/* Order times are whole seconds: the agreement's own second is unsure. */
	if ((s = prepare(st, "SELECT total(delta) FILTER (WHERE at >= ?3),"
	    " total(delta) FILTER (WHERE at >= ?2 AND at < ?3) FROM order_events"
	    " WHERE sku = ?1 AND at >= ?2", NULL)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 2, second);
	sqlite3_bind_double(s, 3, second + 1);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->after = sqlite3_column_double(s, 0);
		out->same_second = sqlite3_column_double(s, 1);
	}
	release(st, s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
kc_store_order_counted(struct kc_store *st, long long line_id, double *counted)
{
	sqlite3_stmt *s;
	int rc;

	*counted = 0;
	if ((s = prepare(st, "SELECT counted FROM order_lines WHERE line_id = ?1", NULL)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, line_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*counted = sqlite3_column_double(s, 0);
	release(st, s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}
