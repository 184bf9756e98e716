/*
 * store_mysql.c - the store on MariaDB/MySQL: the schema, kept at the same
 * version as the SQLite one, and opening a connection to it.
 *
 * Every web server of a shop opens the same tables (named with
 * mysql_table_prefix).  MariaDB commits each DDL statement on its own, so
 * a migration cannot hide inside a transaction as it does on SQLite: it
 * runs under the "schema" lease (store_lease.c) instead, one server at a
 * time, and every step may run twice (IF NOT EXISTS), so a server that
 * dies half-way leaves the next one able to finish.
 *
 * Keys are compared byte for byte (VARBINARY: kc_sku_key() already folded
 * them), text is utf8mb4 in its binary collation, so no collation of the
 * server's ever merges two SKUs the store keeps apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_dialect.h"
#include "store_lease.h"
#include "store_mysql.h"
#include "store_sql.h"

/* Every table the store has: the dialect puts the prefix before these. */
static const char *const tables[] = {
	"schema_version", "leases", "settings",
	"counters", "inbox", "ledger", "sku_map", "problems", "history", "kv",
	"keycrm_requests", "shop_parents", "order_lines", "order_events",
	"shop_changes", "compare_shop", "compare_keycrm", "compare_parents",
	NULL
};

#define TABLE_OPTIONS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

/* The tables a lease needs before it can be taken. */
static const char bootstrap_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_version("
	"  one TINYINT PRIMARY KEY, version INT NOT NULL)" TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS leases("
	"  name VARCHAR(64) PRIMARY KEY, owner VARCHAR(128) NOT NULL,"
	"  expires_at DOUBLE NOT NULL, taken_at DOUBLE NOT NULL)" TABLE_OPTIONS;

/*
 * The SQLite schema at version 5 (store.c), said once in MariaDB's terms.
 * Shipped entries are never edited; later versions add entries.
 */
static const char *const migrations[] = {
	/* 0 -> 5 */
	"CREATE TABLE IF NOT EXISTS counters("
	"  name VARCHAR(64) PRIMARY KEY, value BIGINT NOT NULL)" TABLE_OPTIONS ";"
	"INSERT IGNORE INTO counters VALUES ('change_seq', 0), ('run_id', 0),"
	" ('writer', 0);"
	"CREATE TABLE IF NOT EXISTS inbox("
	"  sku_key VARBINARY(768) PRIMARY KEY, sku TEXT NOT NULL,"
	"  offer_id BIGINT, in_stock DOUBLE NOT NULL, in_reserve DOUBLE NOT NULL,"
	"  received_at DOUBLE NOT NULL, seq BIGINT NOT NULL,"
	"  attempts BIGINT NOT NULL DEFAULT 0, tried_run BIGINT, last_error TEXT,"
	"  INDEX inbox_by_seq (seq))" TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS ledger("
	"  sku_key VARBINARY(768) PRIMARY KEY, sku TEXT NOT NULL, offer_id BIGINT,"
	"  keycrm_in_stock DOUBLE, keycrm_in_reserve DOUBLE, keycrm_at DOUBLE,"
	"  agreed_qty BIGINT, agreed_at DOUBLE, seq BIGINT NOT NULL DEFAULT 0)"
	TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS sku_map("
	"  sku VARBINARY(1024) NOT NULL, product_id BIGINT NOT NULL,"
	"  parent_id BIGINT NOT NULL, type VARCHAR(32) NOT NULL,"
	"  manage_stock VARCHAR(16) NOT NULL, stock_quantity BIGINT,"
	"  refreshed_at DOUBLE NOT NULL, sku_key VARBINARY(768),"
	"  PRIMARY KEY (sku, product_id), INDEX sku_map_by_key (sku_key))"
	TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS problems("
	"  sku_key VARBINARY(768) NOT NULL, sku TEXT NOT NULL,"
	"  kind VARCHAR(32) NOT NULL, detail TEXT NOT NULL, count BIGINT NOT NULL,"
	"  first_seen DOUBLE NOT NULL, last_seen DOUBLE NOT NULL,"
	"  PRIMARY KEY (sku_key, kind))" TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS history("
	"  id BIGINT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(32) NOT NULL,"
	"  started_at DOUBLE NOT NULL, finished_at DOUBLE,"
	"  received BIGINT, queued BIGINT, rejected BIGINT, applied BIGINT,"
	"  unchanged BIGINT, unmatched BIGINT, skipped BIGINT, failed BIGINT,"
	"  pending BIGINT, shop_requests BIGINT, keycrm_requests BIGINT,"
	"  error TEXT, INDEX history_by_start (started_at))" TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS kv("
	"  key VARBINARY(255) PRIMARY KEY, value MEDIUMTEXT NOT NULL)"
	TABLE_OPTIONS ";"
	/* Galera replicates only tables with a primary key. */
	"CREATE TABLE IF NOT EXISTS keycrm_requests("
	"  id BIGINT AUTO_INCREMENT PRIMARY KEY, t DOUBLE NOT NULL,"
	"  INDEX keycrm_requests_by_t (t))" TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS shop_parents("
	"  id BIGINT PRIMARY KEY, sku TEXT NOT NULL, seen_at DOUBLE NOT NULL)"
	TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS order_lines("
	"  line_id BIGINT PRIMARY KEY, sku TEXT NOT NULL, counted DOUBLE NOT NULL)"
	TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS order_events("
	"  id BIGINT AUTO_INCREMENT PRIMARY KEY, sku VARBINARY(1024) NOT NULL,"
	"  delta DOUBLE NOT NULL, at DOUBLE NOT NULL,"
	"  INDEX order_events_by_sku (sku, at))" TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS shop_changes("
	"  product_id BIGINT PRIMARY KEY, parent_id BIGINT NOT NULL,"
	"  type VARCHAR(32) NOT NULL, sku TEXT NOT NULL, manage VARCHAR(16) NOT NULL,"
	"  qty BIGINT, modified VARCHAR(64) NOT NULL, received_at DOUBLE NOT NULL,"
	"  version BIGINT NOT NULL, pending INT NOT NULL,"
	"  INDEX shop_changes_pending (pending))" TABLE_OPTIONS ";"
	/* compare's scratch tables; on SQLite compare makes its own */
	"CREATE TABLE IF NOT EXISTS compare_shop("
	"  key VARBINARY(768) NOT NULL, sku TEXT NOT NULL, qty BIGINT NOT NULL,"
	"  product_id BIGINT NOT NULL, parent_id BIGINT NOT NULL, name TEXT,"
	"  PRIMARY KEY (key, product_id))" TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS compare_keycrm("
	"  key VARBINARY(768) PRIMARY KEY, sku TEXT NOT NULL,"
	"  available DOUBLE NOT NULL)" TABLE_OPTIONS ";"
	"CREATE TABLE IF NOT EXISTS compare_parents("
	"  id BIGINT PRIMARY KEY, sku TEXT NOT NULL)" TABLE_OPTIONS ";"
	/* settings saved on the page, seen by every web server */
	"CREATE TABLE IF NOT EXISTS settings("
	"  name VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL,"
	"  saved_at DOUBLE NOT NULL)" TABLE_OPTIONS,
};

/* Each entry of migrations[] moves the schema to this version. */
static const int migration_to[] = { 5 };

#define MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int
fail(struct kc_store *st, struct kc_error *err, const char *what)
{
	kc_error_set(err, "state database %s: %s: %s", st->path, what,
	    kc_db_errmsg(st->db));
	return -1;
}

/* The version the database is at: 0 for a new one, -1 on failure. */
static int
read_version(struct kc_store *st)
{
	struct kc_db_stmt *s;
	int v = -1, rc;

	if (kc_db_prepare(st->db, "SELECT version FROM schema_version "
	    "WHERE one = 1", &s) != 0)
		return -1;
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW)
		v = (int)kc_db_column_int64(s, 0);
	else if (rc == KC_DB_DONE)
		v = 0;
	kc_db_finalize(s);
	return v;
}

static int
write_version(struct kc_store *st, int v)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, "INSERT INTO schema_version VALUES (1, ?1) "
	    "ON CONFLICT(one) DO UPDATE SET version = excluded.version", &s) != 0)
		return -1;
	kc_db_bind_int64(s, 1, v);
	rc = kc_db_step(s);
	kc_db_finalize(s);
	return rc == KC_DB_DONE ? 0 : -1;
}

static int
migrate_locked(struct kc_store *st, struct kc_error *err)
{
	int v = read_version(st);

	if (v < 0)
		return fail(st, err, "schema version");
	if (v > KC_STORE_MYSQL_VERSION) {
		kc_error_set(err, "state database %s has schema version %d; this "
		    "program knows up to %d (downgrade?)", st->path, v,
		    KC_STORE_MYSQL_VERSION);
		return -1;
	}
	for (int i = 0; i < MIGRATIONS; i++) {
		if (migration_to[i] <= v)
			continue;
		if (kc_db_exec(st->db, migrations[i]) != 0 ||
		    write_version(st, migration_to[i]) != 0)
			return fail(st, err, "migration");
		v = migration_to[i];
	}
	return 0;
}

/* One server migrates; the others wait for its lease, then find it done. */
static int
migrate(struct kc_store *st, struct kc_error *err)
{
	struct kc_lease lease;
	int rc;

	if (kc_db_exec(st->db, bootstrap_sql) != 0)
		return fail(st, err, "schema");
	if (read_version(st) == KC_STORE_MYSQL_VERSION)
		return 0;
	if (kc_lease_wait(st, &lease, "schema", 120, 60000, err) != 0)
		return -1;
	rc = migrate_locked(st, err);
	kc_lease_release(st, &lease);
	return rc;
}

static int
split_host(const struct kc_store_mysql *p, struct kc_db_mysql_params *dp,
    char *host, size_t hostsz, struct kc_error *err)
{
	const char *colon;

	if (p->host[0] == '/') {
		dp->host = "localhost";
		dp->socket = p->host;
		return 0;
	}
	colon = strrchr(p->host, ':');
	if (!colon) {
		dp->host = p->host;
		return 0;
	}
	if ((size_t)(colon - p->host) >= hostsz) {
		kc_error_set(err, "mysql_host is too long");
		return -1;
	}
	memcpy(host, p->host, (size_t)(colon - p->host));
	host[colon - p->host] = '\0';
	dp->host = host;
	dp->port = (unsigned)strtoul(colon + 1, NULL, 10);
	return 0;
}

int
kc_store_open_mysql(struct kc_store *st, const struct kc_store_mysql *p,
    struct kc_error *err)
{
	struct kc_db_mysql_params dp = { 0 };
	char host[256];

	memset(st, 0, sizeof(*st));
	st->dialect.prefix = p->table_prefix ? p->table_prefix : "";
	st->dialect.tables = tables;
	dp.user = p->user;
	dp.password = p->password;
	dp.database = p->database;
	dp.ca_file = p->ca_file;
	dp.require_tls = p->require_tls;
	dp.dialect = &st->dialect;
	if (split_host(p, &dp, host, sizeof(host), err) != 0)
		return -1;
	if (asprintf(&st->path, "%s@%s/%s", p->user ? p->user : "",
	    p->host, p->database ? p->database : "") < 0) {
		st->path = NULL;
		kc_error_set(err, "out of memory");
		return -1;
	}
	if (kc_db_open_mysql(&st->db, &dp, err) != 0) {
		kc_error_prefix(err, "state database %s", st->path);
		kc_store_close(st);
		return -1;
	}
	if (migrate(st, err) != 0) {
		kc_store_close(st);
		return -1;
	}
	return 0;
}
