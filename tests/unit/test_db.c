/*
 * test_db.c - db.h behaves the same on SQLite and on MariaDB.
 *
 * Every case runs on a SQLite file of its own; the MariaDB half runs when
 * KC_TEST_MYSQL_SOCKET names a server (tests/integration/test_db.py
 * starts a private one and runs this binary with it) and is skipped
 * otherwise.
 */
#include "unit.h"

#include <unistd.h>

#include "db.h"
#include "db_dialect.h"

struct engine {
	const char *name;
	int mysql;
	char dir[64];
	struct kc_db *db;
};

static int
mysql_wanted(void)
{
	return getenv("KC_TEST_MYSQL_SOCKET") != NULL;
}

static struct kc_db_mysql_params
mysql_params(void)
{
	struct kc_db_mysql_params p = {
		.host = "localhost",
		.socket = getenv("KC_TEST_MYSQL_SOCKET"),
		.user = getenv("KC_TEST_MYSQL_USER"),
		.password = getenv("KC_TEST_MYSQL_PASSWORD"),
		.database = getenv("KC_TEST_MYSQL_DATABASE"),
		.timeout_s = 5,
	};
	return p;
}

static const char *
id_column(const struct engine *e)
{
	return e->mysql ? "id BIGINT PRIMARY KEY AUTO_INCREMENT"
	    : "id INTEGER PRIMARY KEY";
}

static int
setup(void **state, int mysql)
{
	static struct engine engines[2];
	struct engine *e = &engines[mysql];
	struct kc_error err = { "" };
	char path[128], sql[256];

	memset(e, 0, sizeof(*e));
	e->mysql = mysql;
	if (mysql) {
		struct kc_db_mysql_params p = mysql_params();

		if (!mysql_wanted())
			return -1;
		if (kc_db_open_mysql(&e->db, &p, &err) < 0) {
			fprintf(stderr, "MariaDB: %s\n", err.msg);
			return -1;
		}
		kc_db_exec(e->db, "DROP TABLE IF EXISTS t");
	} else {
		if (unit_make_dir(e->dir, sizeof(e->dir), "db") < 0)
			return -1;
		snprintf(path, sizeof(path), "%s/t.db", e->dir);
		if (kc_db_open_sqlite(&e->db, path, 0, &err) < 0)
			return -1;
	}
	snprintf(sql, sizeof(sql), "CREATE TABLE t (%s, k TEXT, n BIGINT, "
	    "x DOUBLE)%s", id_column(e), mysql ? " ENGINE=InnoDB" : "");
	if (kc_db_exec(e->db, sql) < 0) {
		fprintf(stderr, "create: %s\n", kc_db_errmsg(e->db));
		return -1;
	}
	*state = e;
	return 0;
}

static int
setup_sqlite(void **state)
{
	return setup(state, 0);
}

static int
setup_mysql(void **state)
{
	return setup(state, 1);
}

static int
teardown(void **state)
{
	struct engine *e = *state;

	kc_db_close(e->db);
	if (!e->mysql)
		unit_remove_dir(e->dir);
	return 0;
}

static struct engine *
engine(void **state)
{
	struct engine *e = *state;

	if (!e)
		skip();
	return e;
}

static void
insert(struct kc_db *db, const char *k, int64_t n, double x)
{
	struct kc_db_stmt *st;

	assert_int_equal(kc_db_prepare(db, "INSERT INTO t (k, n, x) "
	    "VALUES (?1, ?2, ?3)", &st), 0);
	assert_int_equal(kc_db_bind_text(st, 1, k), 0);
	assert_int_equal(kc_db_bind_int64(st, 2, n), 0);
	assert_int_equal(kc_db_bind_double(st, 3, x), 0);
	assert_int_equal(kc_db_step(st), KC_DB_DONE);
	kc_db_finalize(st);
}

static int64_t
count_rows(struct kc_db *db)
{
	struct kc_db_stmt *st;
	int64_t n;

	assert_int_equal(kc_db_prepare(db, "SELECT COUNT(*) FROM t", &st), 0);
	assert_int_equal(kc_db_step(st), KC_DB_ROW);
	n = kc_db_column_int64(st, 0);
	kc_db_finalize(st);
	return n;
}

/* Values come back as they went in, typed; numbered parameters reused. */
static void
test_round_trip(void **state)
{
	struct engine *e = engine(state);
	struct kc_db_stmt *st;
	const char *sku = "ТОВАР-Ї-001";

	insert(e->db, sku, -42, 1733333333.123456);
	assert_int_equal(kc_db_prepare(e->db, "SELECT k, n, x, NULL, "
	    "k || '/' || ?1, n + ?2 FROM t WHERE k = ?1 AND n = ?2",
	    &st), 0);
	kc_db_bind_text(st, 1, sku);
	kc_db_bind_int64(st, 2, -42);
	assert_int_equal(kc_db_step(st), KC_DB_ROW);
	assert_str(kc_db_column_text(st, 0), sku);
	assert_int_equal(kc_db_column_type(st, 1), KC_DB_INTEGER);
	assert_int_equal(kc_db_column_int64(st, 1), -42);
	assert_int_equal(kc_db_column_type(st, 2), KC_DB_FLOAT);
	assert_true(kc_db_column_double(st, 2) == 1733333333.123456);
	assert_int_equal(kc_db_column_type(st, 3), KC_DB_NULL);
	assert_null(kc_db_column_text(st, 3));
	assert_str(kc_db_column_text(st, 4), "ТОВАР-Ї-001/ТОВАР-Ї-001");
	assert_int_equal(kc_db_column_int64(st, 5), -84);
	assert_str(kc_db_column_text(st, 1), "-42");
	assert_int_equal(kc_db_step(st), KC_DB_DONE);
	kc_db_finalize(st);
}

/* Text longer than any first buffer, row after row of growing length. */
static void
test_long_text(void **state)
{
	struct engine *e = engine(state);
	static char big[3][20001];
	struct kc_db_stmt *st;
	int i = 0;

	for (int r = 0; r < 3; r++) {
		size_t len = r == 0 ? 10 : r == 1 ? 5000 : 20000;

		memset(big[r], 'a' + r, len);
		big[r][len] = '\0';
		insert(e->db, big[r], r, 0);
	}
	assert_int_equal(kc_db_prepare(e->db, "SELECT k FROM t ORDER BY n",
	    &st), 0);
	while (kc_db_step(st) == KC_DB_ROW) {
		assert_true(i < 3);
		assert_str(kc_db_column_text(st, 0), big[i]);
		i++;
	}
	assert_int_equal(i, 3);
	kc_db_finalize(st);
}

static void
test_transactions(void **state)
{
	struct engine *e = engine(state);

	assert_int_equal(kc_db_begin(e->db), 0);
	assert_true(kc_db_in_transaction(e->db));
	insert(e->db, "gone", 1, 0);
	kc_db_rollback(e->db);
	assert_false(kc_db_in_transaction(e->db));
	assert_int_equal(count_rows(e->db), 0);
	assert_int_equal(kc_db_begin(e->db), 0);
	insert(e->db, "kept", 1, 0);
	assert_int_equal(kc_db_commit(e->db), 0);
	assert_int_equal(count_rows(e->db), 1);
}

/* An UPDATE counts the rows it matched, as SQLite does, changed or not. */
static void
test_changes_and_ids(void **state)
{
	struct engine *e = engine(state);
	struct kc_db_stmt *st;

	insert(e->db, "a", 1, 0);
	insert(e->db, "b", 1, 0);
	assert_int_equal(kc_db_last_insert_id(e->db), 2);
	assert_int_equal(kc_db_prepare(e->db, "UPDATE t SET n = ? WHERE n = 1",
	    &st), 0);
	kc_db_bind_int64(st, 1, 1);
	assert_int_equal(kc_db_step(st), KC_DB_DONE);
	assert_int_equal(kc_db_changes(e->db), 2);
	/* Run again with new bindings after a reset. */
	kc_db_reset(st);
	kc_db_bind_int64(st, 1, 7);
	assert_int_equal(kc_db_step(st), KC_DB_DONE);
	assert_int_equal(kc_db_changes(e->db), 2);
	kc_db_reset(st);
	assert_int_equal(kc_db_step(st), KC_DB_DONE);
	assert_int_equal(kc_db_changes(e->db), 0);
	kc_db_finalize(st);
}

/* A statement may be stepped while another one reads its rows. */
static void
test_interleaved(void **state)
{
	struct engine *e = engine(state);
	struct kc_db_stmt *rd, *wr;
	int rows = 0;

	insert(e->db, "a", 1, 0);
	insert(e->db, "b", 2, 0);
	assert_int_equal(kc_db_prepare(e->db, "SELECT id FROM t ORDER BY id",
	    &rd), 0);
	assert_int_equal(kc_db_prepare(e->db, "UPDATE t SET n = n + 10 "
	    "WHERE id = ?1", &wr), 0);
	while (kc_db_step(rd) == KC_DB_ROW) {
		kc_db_reset(wr);
		kc_db_bind_int64(wr, 1, kc_db_column_int64(rd, 0));
		assert_int_equal(kc_db_step(wr), KC_DB_DONE);
		rows++;
	}
	assert_int_equal(rows, 2);
	kc_db_finalize(rd);
	kc_db_finalize(wr);
}

static void
test_errors(void **state)
{
	struct engine *e = engine(state);
	struct kc_db_stmt *st = (void *)1;

	assert_int_equal(kc_db_prepare(e->db, "SELEKT nothing", &st),
	    -1);
	assert_null(st);
	assert_true(kc_db_errmsg(e->db)[0] != '\0');
	assert_false(kc_db_retryable(e->db));
	assert_int_equal(kc_db_exec(e->db, "INSERT INTO nowhere VALUES (1)"), -1);
	/* Bound out of range: refused, nothing run. */
	assert_int_equal(kc_db_prepare(e->db, "SELECT ?1", &st), 0);
	assert_int_equal(kc_db_bind_int64(st, 2, 5), -1);
	kc_db_finalize(st);
}

/* MariaDB: a connection killed under us is reopened by the next statement. */
static void
test_mysql_reconnect(void **state)
{
	struct engine *e = engine(state);
	struct kc_db_mysql_params p = mysql_params();
	struct kc_db *other;
	struct kc_db_stmt *st, *kill;
	struct kc_error err;
	int64_t id;

	assert_int_equal(kc_db_prepare(e->db, "SELECT CONNECTION_ID()", &st), 0);
	assert_int_equal(kc_db_step(st), KC_DB_ROW);
	id = kc_db_column_int64(st, 0);
	kc_db_reset(st);
	assert_int_equal(kc_db_open_mysql(&other, &p, &err), 0);
	assert_int_equal(kc_db_prepare(other, "KILL CONNECTION ?", &kill), 0);
	kc_db_bind_int64(kill, 1, id);
	assert_int_equal(kc_db_step(kill), KC_DB_DONE);
	kc_db_finalize(kill);
	kc_db_close(other);
	usleep(100000);
	/* The statement that finds the connection dead may be retried... */
	assert_int_equal(kc_db_step(st), -1);
	assert_true(kc_db_retryable(e->db));
	/* ...and the retry runs on a new connection, prepared again. */
	kc_db_reset(st);
	assert_int_equal(kc_db_step(st), KC_DB_ROW);
	assert_true(kc_db_column_int64(st, 0) != id);
	kc_db_finalize(st);
	insert(e->db, "after", 1, 0);
	assert_int_equal(count_rows(e->db), 1);
}

/* A row another transaction holds: the wait times out, retryable. */
static void
test_mysql_lock_wait(void **state)
{
	struct engine *e = engine(state);
	struct kc_db_mysql_params p = mysql_params();
	struct kc_db *other;
	struct kc_error err;

	insert(e->db, "held", 1, 0);
	assert_int_equal(kc_db_open_mysql(&other, &p, &err), 0);
	assert_int_equal(kc_db_exec(other, "SET SESSION "
	    "innodb_lock_wait_timeout = 1"), 0);
	assert_int_equal(kc_db_begin(e->db), 0);
	assert_int_equal(kc_db_exec(e->db, "UPDATE t SET n = 2"), 0);
	assert_int_equal(kc_db_begin(other), 0);
	assert_int_equal(kc_db_exec(other, "UPDATE t SET n = 3"), -1);
	assert_true(kc_db_retryable(other));
	kc_db_rollback(other);
	assert_int_equal(kc_db_commit(e->db), 0);
	kc_db_close(other);
}

/* TLS demanded from a server without it: refused, and no password told. */
static void
test_mysql_require_tls(void **state)
{
	struct kc_db_mysql_params p = mysql_params();
	struct kc_db *db;
	struct kc_error err = { "" };

	(void)engine(state);
	p.require_tls = 1;
	assert_int_equal(kc_db_open_mysql(&db, &p, &err), -1);
	assert_null(db);
	assert_non_null(strstr(err.msg, "TLS"));
	assert_null(strstr(err.msg, p.password));
	p.require_tls = 0;
	p.password = "wrong-password-xyz";
	assert_int_equal(kc_db_open_mysql(&db, &p, &err), -1);
	assert_null(strstr(err.msg, "wrong-password-xyz"));
}

/* MariaDB with the store's dialect: prefixed tables, upserts, SKU keys. */
static void
test_mysql_dialect(void **state)
{
	static const char *const tables[] = { "kv", NULL };
	static const struct kc_db_dialect dialect = { "kc_test_", tables };
	struct kc_db_mysql_params p = mysql_params();
	struct kc_db *db;
	struct kc_db_stmt *put, *get;
	struct kc_error err;

	(void)engine(state);
	p.dialect = &dialect;
	assert_int_equal(kc_db_open_mysql(&db, &p, &err), 0);
	assert_int_equal(kc_db_exec(db, "DROP TABLE IF EXISTS kv; CREATE TABLE "
	    "kv(key VARCHAR(191) PRIMARY KEY, value TEXT NOT NULL) "
	    "ENGINE=InnoDB"), 0);
	assert_int_equal(kc_db_prepare(db, "INSERT INTO kv(key, value) "
	    "VALUES (kc_sku_key(?1), ?2) ON CONFLICT(key) DO UPDATE SET "
	    "value = value || '+' || excluded.value", &put), 0);
	for (int i = 0; i < 2; i++) {
		kc_db_reset(put);
		kc_db_bind_text(put, 1, i ? "Футболка-S  " : "ФУТБОЛКА-s");
		kc_db_bind_text(put, 2, i ? "b" : "a");
		assert_int_equal(kc_db_step(put), KC_DB_DONE);
	}
	kc_db_finalize(put);
	/* The real table carries the prefix; both spellings share one key. */
	assert_int_equal(kc_db_prepare(db, "SELECT \"key\", value FROM "
	    "kc_test_kv", &get), 0);
	assert_int_equal(kc_db_step(get), KC_DB_ROW);
	assert_str(kc_db_column_text(get, 0), "футболка-s");
	assert_str(kc_db_column_text(get, 1), "a+b");
	assert_int_equal(kc_db_step(get), KC_DB_DONE);
	kc_db_finalize(get);
	/* What has no faithful spelling is refused before the server sees it. */
	assert_int_equal(kc_db_prepare(db, "SELECT value FROM kv WHERE key "
	    "GLOB 'x*'", &get), -1);
	assert_non_null(strstr(kc_db_errmsg(db), "GLOB"));
	kc_db_exec(db, "DROP TABLE kv");
	kc_db_close(db);
}

#define BOTH(f) cmocka_unit_test_setup_teardown(f, setup_sqlite, teardown), \
	cmocka_unit_test_setup_teardown(f, setup_mysql, teardown)
#define MYSQL(f) cmocka_unit_test_setup_teardown(f, setup_mysql, teardown)

int
main(void)
{
	const struct CMUnitTest sqlite_and_mysql[] = {
		BOTH(test_round_trip),
		BOTH(test_long_text),
		BOTH(test_transactions),
		BOTH(test_changes_and_ids),
		BOTH(test_interleaved),
		BOTH(test_errors),
		MYSQL(test_mysql_reconnect),
		MYSQL(test_mysql_lock_wait),
		MYSQL(test_mysql_require_tls),
		MYSQL(test_mysql_dialect),
	};
	const struct CMUnitTest sqlite_only[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_long_text, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_changes_and_ids, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_interleaved, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup_sqlite, teardown),
	};

	if (mysql_wanted())
		return cmocka_run_group_tests(sqlite_and_mysql, NULL, NULL);
	return cmocka_run_group_tests(sqlite_only, NULL, NULL);
}
