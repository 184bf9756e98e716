/*
 * test_db_dialect.c - the store's SQLite spellings as MariaDB runs them,
 * and the ones refused rather than guessed.
 */
#include "unit.h"

#include "db_dialect.h"

static const char *const tables[] = { "inbox", "ledger", "kv", "history",
	"problems", "keycrm_requests", NULL };
static const struct kc_db_dialect dialect = { "wp_kc_", tables };

struct row {
	const char *sqlite;
	const char *mysql;	/* NULL: refused */
};

static const struct row rows[] = {
	/* Table names take the prefix; columns and strings do not. */
	{ "SELECT sku FROM inbox WHERE sku = 'inbox'",
	  "SELECT sku FROM wp_kc_inbox WHERE sku = 'inbox'" },
	{ "SELECT l.seq FROM ledger l JOIN inbox i ON i.sku_key = l.sku_key",
	  "SELECT l.seq FROM wp_kc_ledger l JOIN wp_kc_inbox i ON i.sku_key = l.sku_key" },
	{ "UPDATE ledger SET seq = 1 WHERE ledger.seq = 2",
	  "UPDATE wp_kc_ledger SET seq = 1 WHERE wp_kc_ledger.seq = 2" },
	{ "SELECT x.inbox FROM t x", "SELECT x.inbox FROM t x" },
	/* A column named like a table keeps its name. */
	{ "INSERT INTO history(kind, keycrm_requests) VALUES (?1, ?2)",
	  "INSERT INTO wp_kc_history(kind, keycrm_requests) VALUES (?1, ?2)" },
	{ "SELECT keycrm_requests, (SELECT COUNT(*) FROM keycrm_requests) "
	  "FROM history WHERE keycrm_requests > 0",
	  "SELECT keycrm_requests, (SELECT COUNT(*) FROM wp_kc_keycrm_requests) "
	  "FROM wp_kc_history WHERE keycrm_requests > 0" },
	{ "SELECT 1 FROM inbox i, ledger AS l WHERE inbox = 1",
	  "SELECT 1 FROM wp_kc_inbox i, wp_kc_ledger AS l WHERE inbox = 1" },
	{ "CREATE INDEX inbox_by_seq ON inbox(seq)",
	  "CREATE INDEX inbox_by_seq ON wp_kc_inbox(seq)" },
	{ "CREATE TABLE IF NOT EXISTS kv(a INT)",
	  "CREATE TABLE IF NOT EXISTS wp_kc_kv(a INT)" },
	{ "DELETE FROM keycrm_requests WHERE t < ?1",
	  "DELETE FROM wp_kc_keycrm_requests WHERE t < ?1" },
	{ "SELECT EXISTS (SELECT 1 FROM inbox WHERE x IN (SELECT a FROM ledger, kv))",
	  "SELECT EXISTS (SELECT 1 FROM wp_kc_inbox WHERE x IN (SELECT a FROM wp_kc_ledger, wp_kc_kv))" },
	{ "SELECT a, inbox FROM t, kv", "SELECT a, inbox FROM t, wp_kc_kv" },
	{ "SELECT 'it''s inbox', \"inbox\" FROM kv",
	  "SELECT 'it''s inbox', \"inbox\" FROM wp_kc_kv" },
	/* key is reserved in MariaDB; PRIMARY KEY stays a keyword. */
	{ "SELECT value FROM kv WHERE key = ?1",
	  "SELECT value FROM wp_kc_kv WHERE \"key\" = ?1" },
	{ "CREATE TABLE IF NOT EXISTS c(key TEXT, PRIMARY KEY (key, id))",
	  "CREATE TABLE IF NOT EXISTS c(\"key\" TEXT, PRIMARY KEY (\"key\", id))" },
	/* INSERT OR ... */
	{ "INSERT OR REPLACE INTO kv(key, value) VALUES (?1, ?2)",
	  "REPLACE INTO wp_kc_kv(\"key\", value) VALUES (?1, ?2)" },
	{ "INSERT OR IGNORE INTO problems(sku) SELECT key FROM c",
	  "INSERT IGNORE INTO wp_kc_problems(sku) SELECT \"key\" FROM c" },
	/* Upserts. */
	{ "INSERT INTO kv VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
	  "value = value || excluded.value",
	  "INSERT INTO wp_kc_kv VALUES (?, ?) ON DUPLICATE KEY UPDATE "
	  "value = value || VALUES(value)" },
	{ "INSERT INTO c VALUES (?) ON CONFLICT(key) DO UPDATE SET "
	  "key = excluded.key, n = n + 1",
	  "INSERT INTO c VALUES (?) ON DUPLICATE KEY UPDATE "
	  "\"key\" = VALUES(\"key\"), n = n + 1" },
	{ "INSERT INTO kv VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
	  "INSERT IGNORE INTO wp_kc_kv VALUES (?1, ?2) " },
	{ "INSERT INTO inbox SELECT a FROM b WHERE true "
	  "ON CONFLICT(sku_key) DO UPDATE SET a = CASE WHEN excluded.x IS NOT "
	  "NULL THEN excluded.a ELSE a END",
	  "INSERT INTO wp_kc_inbox SELECT a FROM b WHERE true "
	  "ON DUPLICATE KEY UPDATE a = CASE WHEN VALUES(x) IS NOT "
	  "NULL THEN VALUES(a) ELSE a END" },
	/* Functions. */
	{ "SELECT total(delta), MIN(sku), MAX(a, b), min(x, (1, 2)) FROM inbox",
	  "SELECT COALESCE(SUM(delta), 0), MIN(sku), GREATEST(a, b), "
	  "LEAST(x, (1, 2)) FROM wp_kc_inbox" },
	{ "SELECT CAST(value AS REAL), CAST((a + b) AS INTEGER), CAST(n AS TEXT)",
	  "SELECT CAST(value AS DOUBLE), CAST((a + b) AS SIGNED), CAST(n AS CHAR)" },
	{ "SELECT (SELECT kc_sku_key(?1) AS key) k",
	  "SELECT (SELECT ?2 AS \"key\") k" },
	{ "DELETE FROM inbox WHERE sku_key = kc_sku_key(?2) AND seq <= ?3 "
	  "AND x = kc_sku_key(?1)",
	  "DELETE FROM wp_kc_inbox WHERE sku_key = ?4 AND seq <= ?3 AND x = ?5" },
	/* Comments and concatenation pass through. */
	{ "SELECT a || b -- inbox\nFROM inbox",
	  "SELECT a || b -- inbox\nFROM wp_kc_inbox" },
	/* Refused: no faithful spelling. */
	{ "INSERT INTO ledger VALUES (?1) ON CONFLICT(sku_key) DO UPDATE SET "
	  "seq = excluded.seq WHERE ledger.seq = ?6", NULL },
	{ "UPDATE counters SET value = value + 1 WHERE name = ?1 RETURNING value",
	  NULL },
	{ "SELECT key FROM kv WHERE key GLOB 'flash:*'", NULL },
	{ "DELETE FROM history WHERE id <= last_insert_rowid() - 2000",
	  "DELETE FROM wp_kc_history WHERE id <= CAST(LAST_INSERT_ID() AS SIGNED) - 2000" },
	{ "SELECT * FROM inbox ORDER BY random()", NULL },
	{ "PRAGMA user_version", NULL },
	{ "SELECT * FROM inbox LIMIT -1", NULL },
	{ "SELECT kc_sku_key(sku) FROM inbox", NULL },
	{ "SELECT kc_sku_key(?0)", NULL },
	/* A two-character operator cut short by the end of the text. */
	{ "SELECT a FROM inbox WHERE b <", "SELECT a FROM wp_kc_inbox WHERE b <" },
	{ "SELECT 'unterminated", NULL },
	{ "SELECT (1", NULL },
	{ "SELECT 1)", NULL },
	{ "INSERT OR ROLLBACK INTO kv VALUES (1)", NULL },
	{ "SELECT CAST(x AS BLOB)", NULL },
};

static void
test_translations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kc_db_derived derived[KC_DB_MAX_DERIVED];
		struct kc_error err = { "" };
		int n = -1;
		char *got = kc_db_to_mysql(rows[i].sqlite, &dialect, derived,
		    &n, &err);

		if (!rows[i].mysql) {
			if (got)
				fail_msg("row %zu: translated, should be refused: %s",
				    i, got);
			assert_non_null(strstr(err.msg, "no MariaDB spelling") ?
			    err.msg : strstr(err.msg, "quote"));
			continue;
		}
		if (!got)
			fail_msg("row %zu: refused: %s", i, err.msg);
		if (strcmp(got, rows[i].mysql) != 0)
			fail_msg("row %zu:\n got  %s\n want %s", i, got,
			    rows[i].mysql);
		free(got);
	}
}

/* kc_sku_key(?N) becomes a new parameter the driver fills from ?N. */
static void
test_derived_parameters(void **state)
{
	struct kc_db_derived d[KC_DB_MAX_DERIVED];
	struct kc_error err;
	int n;
	char *got;

	(void)state;
	got = kc_db_to_mysql("DELETE FROM inbox WHERE sku_key = kc_sku_key(?2) "
	    "AND seq <= ?3 AND x = kc_sku_key(?1)", &dialect, d, &n, &err);
	assert_non_null(got);
	assert_int_equal(n, 2);
	assert_int_equal(d[0].param, 4);
	assert_int_equal(d[0].from, 2);
	assert_int_equal(d[1].param, 5);
	assert_int_equal(d[1].from, 1);
	free(got);
	got = kc_db_to_mysql("SELECT 1", &dialect, d, &n, &err);
	assert_int_equal(n, 0);
	free(got);
}

/* No prefix configured: names unchanged. */
static void
test_no_prefix(void **state)
{
	const struct kc_db_dialect bare = { "", tables };
	struct kc_db_derived d[KC_DB_MAX_DERIVED];
	struct kc_error err;
	int n;
	char *got;

	(void)state;
	got = kc_db_to_mysql("SELECT * FROM inbox", &bare, d, &n, &err);
	assert_str(got, "SELECT * FROM inbox");
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translations),
		cmocka_unit_test(test_derived_parameters),
		cmocka_unit_test(test_no_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
