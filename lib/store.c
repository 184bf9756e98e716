/*
 * store.c - see store.h.
 */
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>


#include <sqlite3.h>

#include "db.h"
#include "sku.h"
#include "store_sql.h"

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

int
kc_sql_db_error(struct kc_store *st, struct kc_error *err, const char *what)
{
	if (kc_db_disk_full(st->db))
		kc_error_set(err, "state database %s: %s: the disk is full",
		    st->path, what);
	else
		kc_error_set(err, "state database %s: %s: %s", st->path, what,
		    kc_db_errmsg(st->db));
	return -1;
}

int
kc_sql_exec(struct kc_store *st, const char *sql, struct kc_error *err)
{
	if (kc_db_exec(st->db, sql) != 0) {
		kc_error_set(err, "state database %s: %s", st->path,
		    kc_db_errmsg(st->db));
		return -1;
	}
	return 0;
}

static int
user_version(struct kc_store *st)
{
	struct kc_db_stmt *s;
	int v = -1;

	if (kc_db_prepare(st->db, "PRAGMA user_version", &s) != 0)
		return -1;
	if (kc_db_step(s) == KC_DB_ROW)
		v = (int)kc_db_column_int64(s, 0);
	kc_db_finalize(s);
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

	if (kc_sql_exec(st, "BEGIN IMMEDIATE", err) != 0)
		return -1;
	/* Read inside the write lock: two processes may race to migrate. */
	v = user_version(st);
	if (v < 0 || v > SCHEMA_VERSION) {
		kc_error_set(err, "state database %s has schema version %d; this program knows up to %d (downgrade?)",
		    st->path, v, SCHEMA_VERSION);
		kc_sql_exec(st, "ROLLBACK", NULL);
		return -1;
	}
	for (; v < SCHEMA_VERSION; v++) {
		if (kc_sql_exec(st, migrations[v], err) != 0) {
			kc_sql_exec(st, "ROLLBACK", NULL);
			return -1;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (kc_sql_exec(st, sql, err) != 0 || kc_sql_exec(st, "COMMIT", err) != 0) {
		kc_sql_exec(st, "ROLLBACK", NULL);
		return -1;
	}
	return 0;
}

/*
 * Waiting for another connection's write lock, about 10 s in all.
 * SQLite's own busy timeout sleeps 1, 2, 5, 10 ... 100 ms between tries;
 * a commit holds the lock for well under a millisecond, so under load
 * that left webhooks asleep long after the lock was free.  Short sleeps
 * first, longer ones only once the wait is a long one.
 */
static int
busy_wait(void *unused, int tries)
{
	struct timespec ts = { 0, 0 };

	(void)unused;
	if (tries >= 1135)		/* 50 x 0.1 ms + 100 x 1 ms + 985 x 10 ms */
		return 0;
	ts.tv_nsec = tries < 50 ? 100000L : tries < 150 ? 1000000L : 10000000L;
	nanosleep(&ts, NULL);
	return 1;
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
	if (kc_db_open_sqlite(&st->db, st->path, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	    err) != 0) {
		if (access(state_dir, W_OK | X_OK) != 0)
			kc_error_set(err, "state_dir %s is not writable by this user (%s): it must belong to the web server's user (chown -R www-data: %s)",
			    state_dir, strerror(errno), state_dir);
		else
			kc_error_prefix(err, "state database");
		kc_store_close(st);
		return -1;
	}
	sqlite3_busy_handler(kc_db_handle(st->db), busy_wait, NULL);
	if (sqlite3_create_function_v2(kc_db_handle(st->db), "kc_sku_key", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_sku_key, NULL, NULL,
	    NULL) != 0) {
		kc_sql_db_error(st, err, "register kc_sku_key");
		kc_store_close(st);
		return -1;
	}
	if (stat(st->path, &sb) == 0) {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
	}
	if (kc_sql_exec(st, "PRAGMA journal_mode = WAL", err) != 0 ||
	    kc_sql_exec(st, "PRAGMA synchronous = FULL", err) != 0 ||
	    kc_sql_exec(st, "PRAGMA foreign_keys = ON", err) != 0 ||
	    (user_version(st) != SCHEMA_VERSION && migrate(st, err) != 0)) {
		kc_store_close(st);
		return -1;
	}
	return 0;
}

int
kc_store_replaced(const struct kc_store *st)
{
	struct stat sb;

	if (st->db == NULL || kc_db_engine(st->db) != KC_DB_SQLITE)
		return 0;
	if (stat(st->path, &sb) != 0)
		return errno == ENOENT;
	return sb.st_dev != st->dev || sb.st_ino != st->ino;
}

void
kc_store_close(struct kc_store *st)
{
	for (size_t i = 0; i < st->ncached; i++)
		kc_db_finalize(st->cached[i].stmt);
	kc_db_close(st->db);
	free(st->path);
	memset(st, 0, sizeof(*st));
}

/*
 * Statements are prepared once per connection and kept: a FastCGI worker
 * keeps its connection open, and preparing costs more than running most
 * of them.  The cache is keyed by the SQL text's address, so every call
 * site passes a string literal.  A statement comes back reset, its
 * bindings cleared; kc_sql_release() resets it again, so that no statement holds
 * a read snapshot between uses.
 */
struct kc_db_stmt *
kc_sql_prepare(struct kc_store *st, const char *sql, struct kc_error *err)
{
	struct kc_db_stmt *s = NULL;
	size_t i;

	for (i = 0; i < st->ncached; i++)
		if (st->cached[i].sql == sql) {
			kc_db_reset(st->cached[i].stmt);
			kc_db_clear_bindings(st->cached[i].stmt);
			return st->cached[i].stmt;
		}
	if (kc_db_prepare(st->db, sql, &s) != 0) {
		kc_sql_db_error(st, err, "prepare");
		return NULL;
	}
	if (st->ncached < KC_STORE_CACHED_MAX) {
		st->cached[st->ncached].sql = sql;
		st->cached[st->ncached++].stmt = s;
	}
	return s;
}

/* Done with a statement: reset when cached, finalized when not. */
void
kc_sql_release(struct kc_store *st, struct kc_db_stmt *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < st->ncached; i++)
		if (st->cached[i].stmt == s) {
			kc_db_reset(s);
			return;
		}
	kc_db_finalize(s);
}

/* Steps a statement that returns no rows, then finalizes it. */
int
kc_sql_run(struct kc_store *st, struct kc_db_stmt *s, const char *what,
    struct kc_error *err)
{
	int rc = kc_db_step(s);

	kc_sql_release(st, s);
	if (rc != KC_DB_DONE)
		return kc_sql_db_error(st, err, what);
	return 0;
}

int64_t
kc_sql_next_counter(struct kc_store *st, const char *name, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int64_t v = -1;

	/* MariaDB has no UPDATE ... RETURNING: LAST_INSERT_ID(x) hands x back. */
	s = kc_sql_prepare(st, KC_SQL_FOR(st,
	    "UPDATE counters SET value = value + 1 WHERE name = ?1 RETURNING value",
	    "UPDATE counters SET value = LAST_INSERT_ID(value + 1) WHERE name = ?1"),
	    err);
	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, name);
	switch (kc_db_step(s)) {
	case KC_DB_ROW:
		v = kc_db_column_int64(s, 0);
		break;
	case KC_DB_DONE:
		if (kc_db_engine(st->db) == KC_DB_MYSQL && kc_db_changes(st->db) == 1)
			v = kc_db_last_insert_id(st->db);
		else
			kc_error_set(err, "state database %s: counter %s is missing",
			    st->path, name);
		break;
	default:
		kc_sql_db_error(st, err, "counter");
	}
	kc_sql_release(st, s);
	return v;
}

/*
 * SQLite lets one writer at a time in (BEGIN IMMEDIATE), and the store's
 * read-then-write transactions rely on it: the KeyCRM window counts, then
 * adds.  On MariaDB the same comes from one row every write transaction
 * locks first; the servers' writers then take turns as SQLite's do.
 */
static int
mysql_writer_lock(struct kc_store *st, struct kc_error *err)
{
	struct kc_db_stmt *s = kc_sql_prepare(st, "SELECT value FROM counters "
	    "WHERE name = 'writer' FOR UPDATE", err);
	int rc;

	if (s == NULL)
		return -1;
	rc = kc_db_step(s);
	kc_sql_release(st, s);
	if (rc != KC_DB_ROW) {
		kc_sql_db_error(st, err, "writer lock");
		return -1;
	}
	return 0;
}

int
kc_store_begin(struct kc_store *st, struct kc_error *err)
{
	if (kc_db_begin(st->db) != 0)
		return kc_sql_db_error(st, err, "begin");
	if (kc_db_engine(st->db) == KC_DB_MYSQL && mysql_writer_lock(st, err) != 0) {
		kc_db_rollback(st->db);
		return -1;
	}
	return 0;
}

int
kc_store_commit(struct kc_store *st, struct kc_error *err)
{
	if (kc_db_commit(st->db) != 0) {
		kc_sql_db_error(st, err, "commit");
		kc_store_rollback(st);
		return -1;
	}
	return 0;
}

void
kc_store_rollback(struct kc_store *st)
{
	kc_db_rollback(st->db);
}

int
kc_store_retryable(const struct kc_store *st)
{
	return kc_db_retryable(st->db);
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
	struct kc_db_stmt *s;
	int rc;

	if ((s = kc_sql_prepare(st, "SELECT value FROM kv WHERE key = ?1", NULL)) == NULL)
		return -1;
	kc_db_bind_text(s, 1, key);
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW)
		kc_strlcpy(out, kc_db_column_text(s, 0), outsz);
	kc_sql_release(st, s);
	return rc == KC_DB_ROW ? 0 : rc == KC_DB_DONE ? KC_STORE_ABSENT : -1;
}

int
kc_store_kv_set(struct kc_store *st, const char *key, const char *value,
    struct kc_error *err)
{
	struct kc_db_stmt *s;

	if (value == NULL) {
		s = kc_sql_prepare(st, "DELETE FROM kv WHERE key = ?1", err);
		if (s == NULL)
			return -1;
		kc_db_bind_text(s, 1, key);
		return kc_sql_run(st, s, "kv", err);
	}
	s = kc_sql_prepare(st, "INSERT OR REPLACE INTO kv(key, value) VALUES (?1, ?2)", err);
	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, key);
	kc_db_bind_text(s, 2, value);
	return kc_sql_run(st, s, "kv", err);
}

